//! Which real fonts render which script, and how they are found and loaded.
//!
//! The catalogue names Debian's Noto files (`fonts-noto-core`, `fonts-noto-cjk`) rather than
//! asking fontconfig: the set of faces is part of what makes a seed reproducible, so it is
//! fixed here, and a missing file is reported with the package that provides it. CJK comes as
//! TrueType collections (`.ttc`); faces are picked by family name (`Noto Sans CJK SC` for
//! Chinese, `… JP` for Japanese) so each language gets its regional glyph forms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustybuzz::ttf_parser as ttf_parser_face;

use super::{Script, SynthError};

/// How a face inside a file is chosen.
#[derive(Debug, Clone, Copy)]
enum FaceSel {
    /// A plain `.ttf`/`.otf`: face 0.
    Single,
    /// A face of a collection whose family name contains this (and is not a Mono face).
    Family(&'static str),
}

struct FontSpec {
    file: &'static str,
    face: FaceSel,
    script: Script,
    /// Restrict to one language of the script (CJK regional faces); `None`: all.
    lang: Option<&'static str>,
}

/// Debian package providing each script's fonts (for error messages; see scripts/setup.sh).
pub(crate) fn package_for(script: Script) -> &'static str {
    match script {
        Script::Cjk => "fonts-noto-cjk",
        _ => "fonts-noto-core",
    }
}

/// Latin and Cyrillic share these (fonts-noto-core): sans and serif, four styles each.
const LATIN_CYRILLIC_FILES: [&str; 8] = [
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
    "NotoSans-Italic.ttf",
    "NotoSans-BoldItalic.ttf",
    "NotoSerif-Regular.ttf",
    "NotoSerif-Bold.ttf",
    "NotoSerif-Italic.ttf",
    "NotoSerif-BoldItalic.ttf",
];

/// Naskh (book), Sans (UI) and Kufi (display) styles (fonts-noto-core).
const ARABIC_FILES: [&str; 6] = [
    "NotoNaskhArabic-Regular.ttf",
    "NotoNaskhArabic-Bold.ttf",
    "NotoSansArabic-Regular.ttf",
    "NotoSansArabic-Bold.ttf",
    "NotoKufiArabic-Regular.ttf",
    "NotoKufiArabic-Bold.ttf",
];

/// Collections from fonts-noto-cjk; each holds JP/KR/SC/TC/HK faces.
const CJK_FILES: [&str; 4] = [
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJK-Bold.ttc",
    "NotoSerifCJK-Regular.ttc",
    "NotoSerifCJK-Bold.ttc",
];

fn catalogue() -> Vec<FontSpec> {
    let mut specs = Vec::new();
    for script in [Script::Latin, Script::Cyrillic] {
        for file in LATIN_CYRILLIC_FILES {
            specs.push(FontSpec {
                file,
                face: FaceSel::Single,
                script,
                lang: None,
            });
        }
    }
    for file in ARABIC_FILES {
        specs.push(FontSpec {
            file,
            face: FaceSel::Single,
            script: Script::Arabic,
            lang: None,
        });
    }
    for (lang, region) in [("zh", "CJK SC"), ("ja", "CJK JP")] {
        for file in CJK_FILES {
            specs.push(FontSpec {
                file,
                face: FaceSel::Family(region),
                script: Script::Cjk,
                lang: Some(lang),
            });
        }
    }
    specs
}

type ShapingFace<'a> = rustybuzz::Face<'a>;

self_cell::self_cell!(
    /// A parsed shaping face stored with the bytes it borrows. rustybuzz builds its GSUB/GPOS
    /// lookup tables on parse, which is noticeable for the CJK collections, so it is done once.
    struct OwnedFace {
        owner: Arc<Vec<u8>>,
        #[covariant]
        dependent: ShapingFace,
    }
);

/// One loaded face: the file bytes (shared between faces of a collection) and its index.
pub(crate) struct LoadedFont {
    /// `file#index family` — recorded in each sample's metadata.
    pub(crate) name: String,
    pub(crate) script: Script,
    pub(crate) lang: Option<&'static str>,
    face: OwnedFace,
    index: u32,
}

impl std::fmt::Debug for LoadedFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFont")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LoadedFont {
    /// The shaping face.
    pub(crate) fn shaper(&self) -> &rustybuzz::Face<'_> {
        self.face.borrow_dependent()
    }

    /// A rasterising view of the same face (ab_glyph's parse is a cheap table-directory walk).
    pub(crate) fn raster(&self) -> ab_glyph::FontRef<'_> {
        ab_glyph::FontRef::try_from_slice_and_index(self.face.borrow_owner(), self.index)
            .expect("face validated when the font was loaded")
    }

    /// Whether the face maps every character of `text` (whitespace aside) to a real glyph.
    pub(crate) fn covers(face: &rustybuzz::Face<'_>, text: &str) -> bool {
        text.chars()
            .all(|c| c.is_whitespace() || face.glyph_index(c).is_some_and(|g| g.0 != 0))
    }
}

/// Finds font files by name under `dirs` (recursively, sorted, first hit wins).
fn index_files(dirs: &[PathBuf]) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut BTreeMap<String, PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                if depth < 8 {
                    walk(&path, depth + 1, out);
                }
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                out.entry(name.to_owned()).or_insert(path);
            }
        }
    }
    let mut out = BTreeMap::new();
    for dir in dirs {
        walk(dir, 0, &mut out);
    }
    out
}

fn family_name(face: &ttf_parser_face::Face<'_>) -> Option<String> {
    let names = face.names();
    [
        ttf_parser_face::name_id::TYPOGRAPHIC_FAMILY,
        ttf_parser_face::name_id::FAMILY,
    ]
    .into_iter()
    .find_map(|id| {
        names
            .into_iter()
            .filter(|n| n.name_id == id)
            .find_map(|n| n.to_string())
    })
}

/// Loads every catalogue face for `scripts` found under `dirs`.
///
/// Errors name the Debian package to install when a requested script ends up with no face.
pub(crate) fn load(scripts: &[Script], dirs: &[PathBuf]) -> Result<Vec<LoadedFont>, SynthError> {
    let files = index_files(dirs);
    let mut cache: BTreeMap<PathBuf, Arc<Vec<u8>>> = BTreeMap::new();
    let mut fonts = Vec::new();
    for spec in catalogue()
        .into_iter()
        .filter(|s| scripts.contains(&s.script))
    {
        let Some(path) = files.get(spec.file) else {
            continue;
        };
        let data = match cache.get(path) {
            Some(d) => d.clone(),
            None => {
                let bytes = std::fs::read(path).map_err(|source| SynthError::FontIo {
                    path: path.clone(),
                    source,
                })?;
                let d = Arc::new(bytes);
                cache.insert(path.clone(), d.clone());
                d
            }
        };
        let count = ttf_parser_face::fonts_in_collection(&data).unwrap_or(1);
        let mut chosen = None;
        for index in 0..count {
            let face =
                ttf_parser_face::Face::parse(&data, index).map_err(|_| SynthError::BadFont {
                    path: path.clone(),
                    index,
                })?;
            let family = family_name(&face).unwrap_or_default();
            let ok = match spec.face {
                FaceSel::Single => index == 0,
                FaceSel::Family(f) => family.contains(f) && !family.contains("Mono"),
            };
            if ok {
                chosen = Some((index, family));
                break;
            }
        }
        let Some((index, family)) = chosen else {
            continue;
        };
        let bad = || SynthError::BadFont {
            path: path.clone(),
            index,
        };
        // ab_glyph must accept it too, or rendering would fail later.
        ab_glyph::FontRef::try_from_slice_and_index(&data, index).map_err(|_| bad())?;
        let face = OwnedFace::try_new(data, |d| rustybuzz::Face::from_slice(d, index).ok_or(()))
            .map_err(|()| bad())?;
        fonts.push(LoadedFont {
            name: format!("{}#{index} {family}", spec.file),
            script: spec.script,
            lang: spec.lang,
            face,
            index,
        });
    }
    for &script in scripts {
        if !fonts.iter().any(|f| f.script == script) {
            return Err(SynthError::MissingFonts {
                script,
                package: package_for(script),
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(fonts)
}
