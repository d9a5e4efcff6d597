//! Shaping (rustybuzz) and rasterising (ab_glyph) a line into a coverage mask.
//!
//! Shaping is what makes Arabic correct: joining forms, lam-alef ligatures, mark placement
//! and right-to-left glyph order all come from the font's GSUB/GPOS via the HarfBuzz
//! algorithm. The shaper returns glyphs in visual (left-to-right) order with each glyph's
//! cluster pointing back into the logical text, which therefore stays the training target.

use ab_glyph::{Font, GlyphId, PxScale, point};
use rustybuzz::{Direction, Language, UnicodeBuffer};

use super::Script;

/// One shaped glyph, in visual order, positioned in font units relative to the line origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ShapedGlyph {
    pub(crate) glyph_id: u16,
    /// Byte offset into the logical text of the first character this glyph renders.
    pub(crate) cluster: u32,
    /// Pen position plus offset, font units, x to the right.
    pub(crate) x: f32,
    /// Offset from the baseline, font units, y up.
    pub(crate) y: f32,
}

/// A shaped line.
#[derive(Debug, Clone)]
pub(crate) struct Shaped {
    pub(crate) glyphs: Vec<ShapedGlyph>,
    /// Total advance in font units.
    pub(crate) advance: f32,
    pub(crate) ascender: f32,
    pub(crate) descender: f32,
    pub(crate) units_per_em: f32,
}

/// Shapes `text` with the script's direction and the language's OpenType `locl` forms.
pub(crate) fn shape(face: &rustybuzz::Face<'_>, text: &str, script: Script, lang: &str) -> Shaped {
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    let (direction, hb_script) = match script {
        Script::Latin => (Direction::LeftToRight, rustybuzz::script::LATIN),
        Script::Cyrillic => (Direction::LeftToRight, rustybuzz::script::CYRILLIC),
        Script::Cjk => (Direction::LeftToRight, rustybuzz::script::HAN),
        Script::Arabic => (Direction::RightToLeft, rustybuzz::script::ARABIC),
    };
    buffer.set_direction(direction);
    buffer.set_script(hb_script);
    if let Ok(language) = lang.parse::<Language>() {
        buffer.set_language(language);
    }
    let output = rustybuzz::shape(face, &[], buffer);
    let mut pen = 0.0f32;
    let glyphs = output
        .glyph_infos()
        .iter()
        .zip(output.glyph_positions())
        .map(|(info, pos)| {
            let g = ShapedGlyph {
                glyph_id: info.glyph_id as u16,
                cluster: info.cluster,
                x: pen + pos.x_offset as f32,
                y: pos.y_offset as f32,
            };
            pen += pos.x_advance as f32;
            g
        })
        .collect();
    Shaped {
        glyphs,
        advance: pen,
        ascender: f32::from(face.ascender()),
        descender: f32::from(face.descender()),
        units_per_em: f32::from(face.units_per_em() as u16),
    }
}

/// Anti-aliased text coverage in `[0, 1]`, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Mask {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) data: Vec<f32>,
}

impl Mask {
    pub(crate) fn new(width: usize, height: usize) -> Self {
        Mask {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// Number of pixels with coverage above `threshold`.
    pub(crate) fn count_above(&self, threshold: f32) -> usize {
        self.data.iter().filter(|&&a| a > threshold).count()
    }
}

/// Rasterises a shaped line at `em_px` pixels per em into a mask covering the union of the
/// font's line box (ascender..descender, 0..advance) and every glyph's ink.
pub(crate) fn rasterise(font: &ab_glyph::FontRef<'_>, shaped: &Shaped, em_px: f32) -> Mask {
    let upem = shaped.units_per_em;
    let scale = em_px / upem;
    // ab_glyph's PxScale is the pixel height of ascent - descent, not the em size.
    let px_scale = PxScale::from(em_px * font.height_unscaled() / upem);
    let outlined: Vec<_> = shaped
        .glyphs
        .iter()
        .filter_map(|g| {
            let glyph = GlyphId(g.glyph_id)
                .with_scale_and_position(px_scale, point(g.x * scale, -g.y * scale));
            font.outline_glyph(glyph)
        })
        .collect();
    let (mut x0, mut x1) = (
        0.0f32.min(shaped.advance * scale),
        (shaped.advance * scale).max(0.0),
    );
    let (mut y0, mut y1) = (-shaped.ascender * scale, -shaped.descender * scale);
    for o in &outlined {
        let b = o.px_bounds();
        x0 = x0.min(b.min.x);
        y0 = y0.min(b.min.y);
        x1 = x1.max(b.max.x);
        y1 = y1.max(b.max.y);
    }
    let (ox, oy) = (x0.floor(), y0.floor());
    let width = (x1.ceil() - ox).max(1.0) as usize;
    let height = (y1.ceil() - oy).max(1.0) as usize;
    let mut mask = Mask::new(width, height);
    for o in &outlined {
        let b = o.px_bounds();
        // px_bounds are whole pixels, so this offset is integral and coverage is unchanged.
        let (bx, by) = ((b.min.x - ox) as i64, (b.min.y - oy) as i64);
        o.draw(|x, y, c| {
            let (px, py) = (bx + i64::from(x), by + i64::from(y));
            if px >= 0 && py >= 0 && (px as usize) < width && (py as usize) < height {
                let a = &mut mask.data[py as usize * width + px as usize];
                // max, not sum: joined Arabic strokes overlap and must not darken at the seams.
                *a = a.max(c.clamp(0.0, 1.0));
            }
        });
    }
    mask
}
