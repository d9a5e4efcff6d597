//! The one font charts and diagrams are drawn with: Noto Sans CJK (Debian `fonts-noto-cjk`,
//! installed by `scripts/setup.sh`), which covers Latin, Greek, Cyrillic, Han, kana and Hangul,
//! so one face serves every label script. It is registered once per process with plotters'
//! `ab_glyph` text path (no font-kit, no system font libraries).
//!
//! `WEFT_STEM_FONT` overrides the file (a `.ttf`, `.otf` or `.ttc`, face 0).
//!
//! Chart and diagram bytes depend on the font file, so its [`identity`] (file name, size and a
//! hash of its bytes) goes into the synthesis stages' split keys: another font (version) reruns
//! those stages instead of reusing shards drawn with the old one.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::style::FontStyle;
use sha2::{Digest, Sha256};

/// The family name charts use.
pub const FAMILY: &str = "weft-noto";

const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
];

/// Loads and registers the font (once); the error names what was tried.
pub fn ensure() -> Result<(), String> {
    identity().map(|_| ())
}

/// The registered font's identity, `NAME:SIZE:SHA256-PREFIX` (loads it first, once). The
/// folder is left out: the same file installed elsewhere draws the same bytes.
pub fn identity() -> Result<String, String> {
    static DONE: OnceLock<Result<String, String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let paths: Vec<PathBuf> = match std::env::var_os("WEFT_STEM_FONT") {
            Some(p) => vec![PathBuf::from(p)],
            None => CANDIDATES.iter().map(PathBuf::from).collect(),
        };
        let path = paths.iter().find(|p| p.is_file()).ok_or_else(|| {
            format!(
                "no chart font: none of {} exists (install fonts-noto-cjk: scripts/setup.sh, \
                 or set WEFT_STEM_FONT)",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let id = format!(
            "{}:{}:{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            bytes.len(),
            &hex::encode(Sha256::digest(&bytes))[..16]
        );
        // plotters keeps fonts for the whole process (`&'static`); this runs once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a usable font", path.display()))?;
        Ok(id)
    })
    .clone()
}
