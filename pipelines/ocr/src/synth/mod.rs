//! # Synthetic multilingual OCR lines (`ocr_synth`)
//!
//! Real PDFs give weft plenty of Latin print but little Arabic, Cyrillic or CJK, and almost
//! no degraded scans. This module fills that gap: it renders single text lines in several
//! scripts with real fonts onto varied, degraded backgrounds, and the training target is the
//! exact (logical-order) text that was rendered.
//!
//! Pipeline per line, all driven by one `u64` derived from `(seed, script, index)`:
//!
//! 1. **Text** ([`corpus`]): 2–8 real words from a bundled MIT-licensed word list of one of
//!    the script's languages (en/de/fr, ru/uk, zh/ja, ar/fa), with punctuation, numbers and
//!    casing variants. The text stream is seeded separately from the rendering stream, so a
//!    line's text does not depend on which fonts are installed.
//! 2. **Font** ([`fonts`]): one of the script's Debian Noto faces (sans/serif/…, regular/bold;
//!    CJK faces picked per language from the `.ttc` collections). Fonts are chosen per script,
//!    and the word lists are filtered at start-up to what every face of the script covers, so
//!    no line ever renders a `.notdef` box.
//! 3. **Shaping + raster** ([`layout`]): rustybuzz (HarfBuzz's algorithm in Rust) shapes the
//!    line — Arabic joining and ligatures, right-to-left order, CJK `locl` forms — and ab_glyph
//!    rasterises the shaped glyph ids into an anti-aliased coverage mask.
//! 4. **Degradations** ([`degrade`]): rotation within ±5°, padding, a solid / gradient /
//!    paper-like background, contrasting ink colour, Gaussian blur and additive noise.
//!
//! The same seed, script and index always give the same image bytes (on a given platform:
//! the maths is plain `f32`/`f64`, but `sin`/`exp` come from the platform's libm). Every
//! choice made is returned in [`SynthLine::params`] for the sample's metadata.

mod corpus;
mod degrade;
mod fonts;
mod layout;
mod rng;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use corpus::Lang;
use degrade::{Look, round2};
use fonts::LoadedFont;
use rng::{Rng, mix};

/// A writing system the generator can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Script {
    /// English, German, French.
    Latin,
    /// Russian, Ukrainian.
    Cyrillic,
    /// Chinese (Simplified) and Japanese.
    Cjk,
    /// Arabic and Persian, shaped and laid out right to left.
    Arabic,
}

impl Script {
    /// Every script, in a fixed order.
    pub const ALL: [Script; 4] = [Script::Latin, Script::Cyrillic, Script::Cjk, Script::Arabic];

    /// The lowercase name used in configs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Script::Latin => "latin",
            Script::Cyrillic => "cyrillic",
            Script::Cjk => "cjk",
            Script::Arabic => "arabic",
        }
    }

    /// The Debian package that provides this script's fonts.
    pub fn font_package(self) -> &'static str {
        fonts::package_for(self)
    }

    fn seed_tag(self) -> u64 {
        match self {
            Script::Latin => 1,
            Script::Cyrillic => 2,
            Script::Cjk => 3,
            Script::Arabic => 4,
        }
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Script {
    type Err = SynthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Script::ALL
            .into_iter()
            .find(|script| script.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SynthError::UnknownScript(s.to_owned()))
    }
}

/// Errors from building or running the synthesiser.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// No font for a requested script was found.
    #[error(
        "no {script} font found under {searched}: install the Debian package `{package}` \
         (scripts/setup.sh installs it) or point font_dirs at the Noto fonts"
    )]
    MissingFonts {
        /// The script without fonts.
        script: Script,
        /// The Debian package that provides them.
        package: &'static str,
        /// The directories searched, comma-separated.
        searched: String,
    },
    /// A font file could not be read.
    #[error("cannot read font {path}: {source}")]
    FontIo {
        /// The font file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A font file is not a usable OpenType font.
    #[error("font {path} (face {index}) is not a valid OpenType font")]
    BadFont {
        /// The font file.
        path: PathBuf,
        /// The face index inside the file.
        index: u32,
    },
    /// A script name that is not one of latin, cyrillic, cjk, arabic.
    #[error("unknown script {0:?}: expected one of latin, cyrillic, cjk, arabic")]
    UnknownScript(String),
    /// [`Synthesizer::line`] was asked for a script not listed in [`SynthOptions::scripts`].
    #[error("script {0} is not enabled in this synthesiser's options")]
    ScriptNotEnabled(Script),
    /// Options out of range.
    #[error("invalid synth options: {0}")]
    InvalidOptions(String),
    /// The line rendered no visible ink (a broken or placeholder font).
    #[error("font {font} drew no ink for {text:?}")]
    NoInk {
        /// The line's text.
        text: String,
        /// The face used.
        font: String,
    },
    /// After filtering by font coverage, a script had no words left to sample.
    #[error("no {script} words are covered by every {script} font")]
    EmptyCorpus {
        /// The script.
        script: Script,
    },
}

/// How to build a [`Synthesizer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthOptions {
    /// Master seed; each line's randomness derives from `(seed, script, index)`.
    pub seed: u64,
    /// Scripts to load fonts and corpora for.
    pub scripts: Vec<Script>,
    /// Directories searched (recursively) for the Noto font files.
    pub font_dirs: Vec<PathBuf>,
    /// Smallest output height in pixels (short lines are padded up to it).
    pub min_height: u32,
    /// Largest output height in pixels (font size, then rotation, are reduced to fit).
    pub max_height: u32,
    /// Largest width in pixels the unrotated text may take (the font size is reduced to fit).
    pub max_width: u32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 0,
            scripts: Script::ALL.to_vec(),
            font_dirs: vec![PathBuf::from("/usr/share/fonts")],
            min_height: 32,
            max_height: 96,
            max_width: 1024,
        }
    }
}

/// One rendered line and everything needed to describe it.
#[derive(Debug, Clone)]
pub struct SynthLine {
    /// The exact text drawn, in logical order (the OCR target).
    pub text: String,
    /// Its script.
    pub script: Script,
    /// Its language code (`en`, `de`, `fr`, `ru`, `uk`, `zh`, `ja`, `ar`, `fa`).
    pub lang: String,
    /// The face used: `file#face-index family`.
    pub font: String,
    /// The degraded line image.
    pub image: image::RgbImage,
    /// Every rendering choice (font size, rotation, blur, noise, colours…), for metadata.
    pub params: Value,
}

/// Smallest em size the fitter will shrink text to, in pixels.
const MIN_EM_PX: f64 = 12.0;
/// Largest rotation magnitude, degrees.
pub const MAX_ROTATION_DEG: f64 = 5.0;

/// Renders synthetic OCR lines. Loads fonts and corpora once; [`Synthesizer::line`] is
/// `&self` and the type is `Send + Sync`, so lines can be rendered in parallel.
#[derive(Debug)]
pub struct Synthesizer {
    opts: SynthOptions,
    fonts: Vec<LoadedFont>,
    langs: Vec<Lang>,
}

/// A rendered line with its intermediate coverage mask (same size as the image), colours
/// and shaping output.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))] // only `line` is used outside the tests
pub(crate) struct Rendered {
    pub(crate) line: SynthLine,
    pub(crate) canvas: layout::Mask,
    pub(crate) look: Look,
    pub(crate) shaped: layout::Shaped,
}

/// Everything decided before pixels are drawn; split out so tests can inspect the shaping.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) text: String,
    pub(crate) lang: &'a Lang,
    pub(crate) font: &'a LoadedFont,
    render_seed: u64,
}

impl Synthesizer {
    /// Finds and loads the fonts for `opts.scripts` and prepares the word lists.
    pub fn new(opts: SynthOptions) -> Result<Self, SynthError> {
        if opts.scripts.is_empty() {
            return Err(SynthError::InvalidOptions("scripts is empty".into()));
        }
        if opts.min_height < 16 || opts.max_height < (opts.min_height + 16).max(48) {
            return Err(SynthError::InvalidOptions(format!(
                "need min_height >= 16 and max_height >= max(min_height + 16, 48), got {}..{}",
                opts.min_height, opts.max_height
            )));
        }
        if opts.max_width < 128 {
            return Err(SynthError::InvalidOptions(format!(
                "max_width must be at least 128, got {}",
                opts.max_width
            )));
        }
        let mut scripts = opts.scripts.clone();
        scripts.sort();
        scripts.dedup();
        let fonts = fonts::load(&scripts, &opts.font_dirs)?;
        let mut langs = Vec::new();
        for source in corpus::SOURCES
            .iter()
            .filter(|s| scripts.contains(&s.script))
        {
            let faces: Vec<_> = fonts
                .iter()
                .filter(|f| f.script == source.script && f.lang.is_none_or(|l| l == source.code))
                .map(LoadedFont::shaper)
                .collect();
            if faces.is_empty() {
                continue;
            }
            let covered = |s: &str| faces.iter().all(|f| LoadedFont::covers(f, s));
            let words: Vec<&'static str> = source.words().filter(|w| covered(w)).collect();
            if words.is_empty() {
                continue;
            }
            let (commas, stops, quotes) = corpus::punctuation(source.code);
            langs.push(Lang {
                code: source.code,
                script: source.script,
                words,
                commas: commas.into_iter().filter(|p| covered(p)).collect(),
                stops: stops.into_iter().filter(|p| covered(p)).collect(),
                quotes: quotes
                    .into_iter()
                    .filter(|(o, c)| covered(o) && covered(c))
                    .collect(),
            });
        }
        for &script in &scripts {
            if !langs.iter().any(|l| l.script == script) {
                return Err(SynthError::EmptyCorpus { script });
            }
        }
        Ok(Synthesizer {
            opts: SynthOptions { scripts, ..opts },
            fonts,
            langs,
        })
    }

    /// The options in effect (scripts sorted and de-duplicated).
    pub fn options(&self) -> &SynthOptions {
        &self.opts
    }

    /// Names of the loaded faces for `script`.
    pub fn fonts(&self, script: Script) -> Vec<&str> {
        self.fonts
            .iter()
            .filter(|f| f.script == script)
            .map(|f| f.name.as_str())
            .collect()
    }

    /// The `index`-th line overall, cycling through the enabled scripts
    /// (`index % n` picks the script, `index / n` is its per-script index).
    pub fn nth(&self, index: u64) -> Result<SynthLine, SynthError> {
        let n = self.opts.scripts.len() as u64;
        self.line(self.opts.scripts[(index % n) as usize], index / n)
    }

    /// Renders line `index` of `script`. Deterministic in `(seed, script, index)`.
    pub fn line(&self, script: Script, index: u64) -> Result<SynthLine, SynthError> {
        Ok(self.render(script, index)?.line)
    }

    /// [`Synthesizer::line`] plus the intermediate mask and colours, for tests.
    pub(crate) fn render(&self, script: Script, index: u64) -> Result<Rendered, SynthError> {
        let plan = self.plan(script, index)?;
        let mut rng = Rng::new(plan.render_seed);
        let face = plan.font.shaper();
        let raster = plan.font.raster();
        let shaped = layout::shape(face, &plan.text, script, plan.lang.code);

        let mut em = rng.range(18.0, 56.0);
        let mut angle = if rng.chance(0.3) {
            0.0
        } else {
            rng.range(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
        };
        let pad_x = [rng.unit(), rng.unit()];
        let pad_y = [rng.unit(), rng.unit()];
        let look = Look::draw(&mut rng);

        let (max_h, min_h) = (self.opts.max_height as f64, self.opts.min_height as f64);
        let margins = |em: f64| -> [usize; 4] {
            let horiz = |u: f64| (2.0 + u * 0.6 * em).round() as usize;
            let vert = |u: f64| (1.0 + u * 0.25 * em).round() as usize;
            [
                horiz(pad_x[0]),
                vert(pad_y[0]),
                horiz(pad_x[1]),
                vert(pad_y[1]),
            ]
        };
        // Fit: shrink the font until the line fits the width and height limits; if rotation
        // still overflows the height at the smallest size, reduce the angle.
        let mut mask = layout::rasterise(&raster, &shaped, em as f32);
        for _ in 0..6 {
            let m = margins(em);
            let (w, h) = (mask.width as f64, mask.height as f64);
            // `rotate` adds up to 3 px (ceil + 1 px border each side) to the rotated box.
            let avail = max_h - (m[1] + m[3]) as f64 - 3.0;
            let rotated_h = w * angle.to_radians().sin().abs() + h * angle.to_radians().cos();
            let factor = if w > self.opts.max_width as f64 {
                self.opts.max_width as f64 / w
            } else if rotated_h > avail {
                avail / rotated_h
            } else {
                break;
            };
            if em <= MIN_EM_PX {
                break;
            }
            em = (em * factor * 0.98).max(MIN_EM_PX);
            mask = layout::rasterise(&raster, &shaped, em as f32);
        }
        let m = margins(em);
        let avail = max_h - (m[1] + m[3]) as f64 - 3.0;
        angle = fit_angle(mask.width as f64, mask.height as f64, angle, avail);
        let rotated = degrade::rotate(&mask, angle);
        let mut margins = m;
        // Pad short lines up to the minimum height, splitting the extra between top and bottom.
        let height = rotated.height + margins[1] + margins[3];
        if (height as f64) < min_h {
            let extra = min_h as usize - height;
            margins[1] += extra / 2;
            margins[3] += extra - extra / 2;
        }
        let canvas = degrade::pad(&rotated, margins);
        // A face that maps the characters but draws nothing would yield a blank image with a
        // non-empty target: refuse it rather than train on it.
        if canvas.count_above(0.5) == 0 {
            return Err(SynthError::NoInk {
                text: plan.text,
                font: plan.font.name.clone(),
            });
        }
        let image = look.render(&canvas, &mut rng);

        let mut params = json!({
            "seed": self.opts.seed,
            "index": index,
            "lang": plan.lang.code,
            "font": plan.font.name,
            "font_px": round2(em),
            "rotation_deg": round2(angle),
            "padding": margins,
            "width": image.width(),
            "height": image.height(),
        });
        if let (Value::Object(p), Value::Object(l)) = (&mut params, look.params()) {
            p.extend(l);
        }
        let line = SynthLine {
            text: plan.text,
            script,
            lang: plan.lang.code.to_owned(),
            font: plan.font.name.clone(),
            image,
            params,
        };
        Ok(Rendered {
            line,
            canvas,
            look,
            shaped,
        })
    }

    /// Chooses the text and font for a line.
    pub(crate) fn plan(&self, script: Script, index: u64) -> Result<Plan<'_>, SynthError> {
        if !self.opts.scripts.contains(&script) {
            return Err(SynthError::ScriptNotEnabled(script));
        }
        let base = mix(mix(mix(self.opts.seed) ^ script.seed_tag()) ^ index);
        let mut text_rng = Rng::new(mix(base ^ 0x7E47));
        let langs: Vec<&Lang> = self.langs.iter().filter(|l| l.script == script).collect();
        let lang = *text_rng.pick(&langs);
        let text = lang.compose(&mut text_rng);
        let mut font_rng = Rng::new(mix(base ^ 0xF047));
        let fonts: Vec<&LoadedFont> = self
            .fonts
            .iter()
            .filter(|f| f.script == script && f.lang.is_none_or(|l| l == lang.code))
            .collect();
        let font = *font_rng.pick(&fonts);
        Ok(Plan {
            text,
            lang,
            font,
            render_seed: mix(base ^ 0x4E4D),
        })
    }
}

/// The largest rotation not above `angle` in magnitude whose rotated `w`×`h` box fits in
/// `avail` pixels of height (bisection; the height grows monotonically for small angles).
fn fit_angle(w: f64, h: f64, angle: f64, avail: f64) -> f64 {
    let height = |a: f64| w * a.to_radians().sin() + h * a.to_radians().cos();
    let target = angle.abs();
    if height(target) <= avail {
        return angle;
    }
    let (mut lo, mut hi) = (0.0, target);
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if height(mid) <= avail {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo * angle.signum()
}
