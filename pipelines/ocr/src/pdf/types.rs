//! Geometry and text types shared by the PDF parser, the renderer and the sample builders.
//!
//! All coordinates are in PDF points in the page *as displayed*: after the crop box and the
//! page rotation are applied, origin at the top-left corner, y growing downwards — the frame
//! the page image and the 0–1000 relative boxes of `doc_parse` samples use.

use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle, `x0 <= x1`, `y0 <= y1`, in displayed-page points.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rect {
    /// Left.
    pub x0: f32,
    /// Top.
    pub y0: f32,
    /// Right.
    pub x1: f32,
    /// Bottom.
    pub y1: f32,
}

impl Rect {
    /// The smallest rectangle containing both.
    pub fn union(&self, o: &Rect) -> Rect {
        Rect {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
    /// Width.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    /// Height.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
}

/// Size and orientation of one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageGeometry {
    /// 0-based page index.
    pub index: usize,
    /// Displayed width in points (after crop box and rotation).
    pub width: f32,
    /// Displayed height in points.
    pub height: f32,
    /// Effective /Rotate (inherited), normalised to 0, 90, 180 or 270.
    pub rotation: i32,
    /// Effective /MediaBox `[llx, lly, urx, ury]` in PDF user space.
    pub media_box: [f32; 4],
    /// Effective /CropBox (defaults to the media box), clipped to it.
    pub crop_box: [f32; 4],
}

/// A run of text drawn with one font at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Unicode text.
    pub text: String,
    /// Bounding box.
    pub bbox: Rect,
    /// Effective font size in points (font size × text matrix × CTM scale).
    pub font_size: f32,
    /// Base font name without subset prefix (`ABCDEF+`).
    pub font: String,
    /// From the font name or descriptor flags.
    pub bold: bool,
    /// From the font name, descriptor flags or italic angle.
    pub italic: bool,
}

/// Spans on one baseline, left to right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Spans in reading order.
    pub spans: Vec<Span>,
    /// Union of the spans' boxes.
    pub bbox: Rect,
}

impl Line {
    /// The line's text, spans joined (with a space where the gap between spans is wide).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.spans.iter().enumerate() {
            if i > 0 {
                let gap = s.bbox.x0 - self.spans[i - 1].bbox.x1;
                let prev_space = out.ends_with(' ') || s.text.starts_with(' ');
                if gap > 0.15 * s.font_size && !prev_space {
                    out.push(' ');
                }
            }
            out.push_str(&s.text);
        }
        out
    }
}

/// A group of lines that reads as one unit (paragraph, heading, list item, table cell row…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Lines top to bottom.
    pub lines: Vec<Line>,
    /// Union of the lines' boxes.
    pub bbox: Rect,
}

impl Block {
    /// The block's text, lines joined by `\n`.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(Line::text)
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// The dominant (most frequent by characters) font size of the block.
    pub fn font_size(&self) -> f32 {
        let mut best: Vec<(f32, usize)> = Vec::new();
        for s in self.lines.iter().flat_map(|l| &l.spans) {
            let n = s.text.chars().count();
            match best
                .iter_mut()
                .find(|(sz, _)| (sz - s.font_size).abs() < 0.25)
            {
                Some(e) => e.1 += n,
                None => best.push((s.font_size, n)),
            }
        }
        best.into_iter().max_by_key(|e| e.1).map_or(0.0, |e| e.0)
    }
}

/// The text layer of a page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PageText {
    /// Blocks in reading order (columns left to right, top to bottom within a column).
    pub blocks: Vec<Block>,
    /// Glyphs drawn by text operators (visible or not).
    pub glyphs: usize,
    /// Glyphs with no Unicode mapping (no ToUnicode entry, no usable encoding).
    pub unmapped_glyphs: usize,
    /// Glyphs drawn in render mode 3 (invisible, as OCR layers are).
    pub invisible_glyphs: usize,
}

impl PageText {
    /// The page's text in reading order: lines joined by `\n`, blocks by a blank line.
    pub fn plain_text(&self) -> String {
        self.blocks
            .iter()
            .map(Block::text)
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// An image XObject (or inline image) drawn on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedImage {
    /// Where it is drawn.
    pub bbox: Rect,
    /// The XObject's object id, `None` for inline images.
    pub object: Option<(u32, u16)>,
    /// Pixel width from the image dictionary.
    pub width_px: u32,
    /// Pixel height.
    pub height_px: u32,
}

/// Everything the sample builders need from one page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PageContent {
    /// The text layer.
    pub text: PageText,
    /// Images in drawing order.
    pub images: Vec<PlacedImage>,
}

/// Document information.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocMeta {
    /// /Title.
    pub title: Option<String>,
    /// /Author.
    pub author: Option<String>,
    /// /Subject.
    pub subject: Option<String>,
    /// /Creator.
    pub creator: Option<String>,
    /// /Producer.
    pub producer: Option<String>,
    /// Number of pages.
    pub pages: usize,
}
