//! Document structure from a page's layout: headings, paragraphs, list items, tables, figures
//! and captions, derived from text positions, font sizes and image placements — and its
//! rendering as the HTML markup Qwen's document parsing uses: one element per region with a
//! `data-bbox="x1 y1 x2 y2"` attribute in relative 0–1000 page coordinates.
//!
//! Rules (all relative to the page's body font size = the most common size by characters):
//! - heading: ≤ 3 lines, not ending in a period, font ≥ 1.15 × body (h1 ≥ 1.6×, h2 ≥ 1.3×,
//!   else h3) or a short all-bold line;
//! - list item: starts with a bullet (• ◦ ▪ ‣ – - *) or an enumerator (`1.`, `a)`, `(iv)`);
//! - caption: starts with `Figure N`, `Fig. N`, `Table N` (any case);
//! - table: a block of ≥ 2 lines where every line splits into ≥ 2 cells at gaps wider than
//!   1.5 em, with the same cell count on each line;
//! - figure: an embedded image (its caption is the caption block nearest below or above it);
//! - everything else: paragraph.

use std::fmt::Write as _;

use serde::Serialize;

use crate::pdf::{Block, Line, Rect};

/// The kind of a page region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Heading of level 1–3.
    Heading(u8),
    /// Running text.
    Paragraph,
    /// One list item.
    ListItem,
    /// A table (cells in `Region::cells`).
    Table,
    /// An embedded image.
    Figure,
    /// A figure or table caption.
    Caption,
}

/// A classified region of a page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    /// What it is.
    pub kind: Kind,
    /// Where, in displayed-page points.
    pub bbox: Rect,
    /// Its text (empty for figures).
    pub text: String,
    /// Table cells, row by row (tables only).
    pub cells: Vec<Vec<String>>,
    /// Index into the page's figures (figures only).
    pub figure: Option<usize>,
}

/// The body font size of a page: the most common size, weighted by characters.
pub fn body_font_size(blocks: &[Block]) -> f32 {
    let mut sizes: Vec<(f32, usize)> = Vec::new();
    for s in blocks.iter().flat_map(|b| &b.lines).flat_map(|l| &l.spans) {
        let n = s.text.chars().filter(|c| !c.is_whitespace()).count();
        match sizes
            .iter_mut()
            .find(|(sz, _)| (sz - s.font_size).abs() < 0.3)
        {
            Some(e) => e.1 += n,
            None => sizes.push((s.font_size, n)),
        }
    }
    sizes
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0)))
        .map_or(10.0, |e| e.0)
}

fn is_list_item(text: &str) -> bool {
    let t = text.trim_start();
    if t.starts_with(['•', '◦', '▪', '‣', '–', '*', '·']) || t.starts_with("- ") {
        return true;
    }
    let head: String = t.chars().take(8).collect();
    let enumerated = |s: &str| {
        let s = s.trim_start_matches('(');
        let end = s.find(['.', ')']).unwrap_or(0);
        end > 0
            && end <= 4
            && s[..end]
                .chars()
                .all(|c| c.is_ascii_digit() || "ivxlcIVXLC".contains(c) || c.is_ascii_lowercase())
            && s[end + 1..].starts_with(' ')
    };
    enumerated(&head)
}

fn is_caption(text: &str) -> bool {
    let lower: String = text
        .trim_start()
        .chars()
        .take(12)
        .collect::<String>()
        .to_lowercase();
    ["figure ", "fig. ", "fig ", "table ", "tab. "]
        .iter()
        .any(|p| {
            lower.strip_prefix(p).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            })
        })
}

/// Splits a line into cells at gaps wider than `gap` points.
fn cells(line: &Line, gap: f32) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_x1 = f32::NEG_INFINITY;
    for s in &line.spans {
        let t = s.text.trim();
        if t.is_empty() {
            continue;
        }
        if s.bbox.x0 - last_x1 > gap || out.is_empty() {
            out.push(t.to_string());
        } else {
            let cell = out.last_mut().expect("non-empty");
            cell.push(' ');
            cell.push_str(t);
        }
        last_x1 = s.bbox.x1;
    }
    out
}

fn classify(block: &Block, body: f32) -> (Kind, Vec<Vec<String>>) {
    let text = block.text();
    let size = block.font_size();
    let lines = block.lines.len();
    if is_caption(&text) {
        return (Kind::Caption, vec![]);
    }
    if lines >= 2 {
        let rows: Vec<Vec<String>> = block.lines.iter().map(|l| cells(l, 1.5 * body)).collect();
        let n = rows[0].len();
        if n >= 2 && rows.iter().all(|r| r.len() == n) {
            return (Kind::Table, rows);
        }
    }
    let short = lines <= 3
        && !text.trim_end().ends_with(['.', ',', ';', ':'])
        && text.chars().count() < 200;
    if short && size >= 1.15 * body {
        let level = if size >= 1.6 * body {
            1
        } else if size >= 1.3 * body {
            2
        } else {
            3
        };
        return (Kind::Heading(level), vec![]);
    }
    let all_bold = block
        .lines
        .iter()
        .flat_map(|l| &l.spans)
        .all(|s| s.bold || s.text.trim().is_empty());
    if short && lines == 1 && all_bold && text.chars().count() < 100 {
        return (Kind::Heading(3), vec![]);
    }
    if is_list_item(&text) {
        return (Kind::ListItem, vec![]);
    }
    (Kind::Paragraph, vec![])
}

/// Classifies a page's blocks and figures into regions, in reading order: figures are placed
/// before the first text region that starts below their top edge.
pub fn regions(blocks: &[Block], figures: &[Rect]) -> Vec<Region> {
    let body = body_font_size(blocks);
    let mut out: Vec<Region> = blocks
        .iter()
        .filter(|b| !b.text().trim().is_empty())
        .map(|b| {
            let (kind, cells) = classify(b, body);
            Region {
                kind,
                bbox: b.bbox,
                text: b.text(),
                cells,
                figure: None,
            }
        })
        .collect();
    for (i, fig) in figures.iter().enumerate() {
        let at = out
            .iter()
            .position(|r| r.bbox.y0 >= fig.y0 && r.kind != Kind::Figure)
            .unwrap_or(out.len());
        out.insert(
            at,
            Region {
                kind: Kind::Figure,
                bbox: *fig,
                text: String::new(),
                cells: vec![],
                figure: Some(i),
            },
        );
    }
    out
}

/// A box in relative 0–1000 page coordinates, rounded half away from zero and clamped.
pub fn relative_box(b: &Rect, width: f32, height: f32) -> [u32; 4] {
    let scale = |v: f32, full: f32| {
        ((v / full.max(f32::EPSILON)) * 1000.0)
            .round()
            .clamp(0.0, 1000.0) as u32
    };
    [
        scale(b.x0, width),
        scale(b.y0, height),
        scale(b.x1, width),
        scale(b.y1, height),
    ]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page as HTML with `data-bbox` attributes (0–1000). Lines inside a paragraph are joined
/// with spaces (hyphenation kept); consecutive list items share one `<ul>`.
pub fn to_html(regions: &[Region], width: f32, height: f32) -> String {
    let mut html = String::from("<html><body>\n");
    let bbox = |r: &Region| {
        let b = relative_box(&r.bbox, width, height);
        format!("data-bbox=\"{} {} {} {}\"", b[0], b[1], b[2], b[3])
    };
    let flat = |t: &str| escape(&t.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut in_list = false;
    for r in regions {
        if in_list && r.kind != Kind::ListItem {
            html.push_str("</ul>\n");
            in_list = false;
        }
        match r.kind {
            Kind::Heading(l) => {
                let _ = writeln!(html, "<h{l} {}>{}</h{l}>", bbox(r), flat(&r.text));
            }
            Kind::Paragraph => {
                let _ = writeln!(html, "<p {}>{}</p>", bbox(r), flat(&r.text));
            }
            Kind::Caption => {
                let _ = writeln!(
                    html,
                    "<p class=\"caption\" {}>{}</p>",
                    bbox(r),
                    flat(&r.text)
                );
            }
            Kind::ListItem => {
                if !in_list {
                    html.push_str("<ul>\n");
                    in_list = true;
                }
                let _ = writeln!(html, "<li {}>{}</li>", bbox(r), flat(&r.text));
            }
            Kind::Figure => {
                let _ = writeln!(html, "<img {}/>", bbox(r));
            }
            Kind::Table => {
                let _ = write!(html, "<table {}>", bbox(r));
                for row in &r.cells {
                    html.push_str("<tr>");
                    for c in row {
                        let _ = write!(html, "<td>{}</td>", escape(c));
                    }
                    html.push_str("</tr>");
                }
                html.push_str("</table>\n");
            }
        }
    }
    if in_list {
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::Span;

    fn span(text: &str, x0: f32, y0: f32, size: f32, bold: bool) -> Span {
        let w = text.chars().count() as f32 * size * 0.5;
        Span {
            text: text.into(),
            bbox: Rect {
                x0,
                y0,
                x1: x0 + w,
                y1: y0 + size,
            },
            font_size: size,
            font: "F".into(),
            bold,
            italic: false,
        }
    }

    fn block(lines: Vec<Vec<Span>>) -> Block {
        let lines: Vec<Line> = lines
            .into_iter()
            .map(|spans| {
                let bbox = spans
                    .iter()
                    .skip(1)
                    .fold(spans[0].bbox, |a, s| a.union(&s.bbox));
                Line { spans, bbox }
            })
            .collect();
        let bbox = lines
            .iter()
            .skip(1)
            .fold(lines[0].bbox, |a, l| a.union(&l.bbox));
        Block { lines, bbox }
    }

    #[test]
    fn classifies_headings_lists_captions_tables_and_paragraphs() {
        let body = "This is running text of the page body that goes on for a while.";
        let blocks = vec![
            block(vec![vec![span("Results", 50.0, 40.0, 20.0, true)]]),
            block(vec![
                vec![span(body, 50.0, 80.0, 10.0, false)],
                vec![span(body, 50.0, 92.0, 10.0, false)],
            ]),
            block(vec![vec![span("• first point", 50.0, 120.0, 10.0, false)]]),
            block(vec![vec![span(
                "2. second point",
                50.0,
                135.0,
                10.0,
                false,
            )]]),
            block(vec![
                vec![
                    span("Name", 50.0, 160.0, 10.0, false),
                    span("Value", 200.0, 160.0, 10.0, false),
                ],
                vec![
                    span("alpha", 50.0, 172.0, 10.0, false),
                    span("0.5", 200.0, 172.0, 10.0, false),
                ],
            ]),
            block(vec![vec![span(
                "Figure 2: The survey area.",
                50.0,
                400.0,
                9.0,
                false,
            )]]),
        ];
        let figure = Rect {
            x0: 50.0,
            y0: 200.0,
            x1: 300.0,
            y1: 390.0,
        };
        let rs = regions(&blocks, &[figure]);
        let kinds: Vec<Kind> = rs.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Heading(1),
                Kind::Paragraph,
                Kind::ListItem,
                Kind::ListItem,
                Kind::Table,
                Kind::Figure,
                Kind::Caption
            ]
        );
        assert_eq!(
            rs[4].cells,
            vec![vec!["Name", "Value"], vec!["alpha", "0.5"]]
        );
        let html = to_html(&rs, 600.0, 800.0);
        assert!(
            html.contains("<h1 data-bbox=\"83 50 200 75\">Results</h1>"),
            "{html}"
        );
        assert!(html.contains("<ul>\n<li data-bbox="), "{html}");
        assert!(
            html.contains(
                "<table data-bbox=\"83 200 375 228\"><tr><td>Name</td><td>Value</td></tr>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<img data-bbox=\"83 250 500 488\"/>\n<p class=\"caption\""),
            "{html}"
        );
    }

    #[test]
    fn relative_boxes_are_clamped_to_the_page() {
        let b = Rect {
            x0: -5.0,
            y0: 10.0,
            x1: 700.0,
            y1: 400.0,
        };
        assert_eq!(relative_box(&b, 600.0, 800.0), [0, 13, 1000, 500]);
    }
}
