//! Layout analysis: glyphs → spans → lines → blocks → reading order.
//!
//! Lines follow the content stream (producers draw a line's glyphs together), then lines that
//! share a baseline but were drawn apart are merged. Work happens in a "frame" rotated so each
//! glyph's writing direction runs along +x, so rotated and vertical text group the same way.
//! Blocks gather lines that are vertically close, horizontally overlapping, of similar size and
//! not newly indented. Reading order is a recursive XY-cut in which horizontal strips that
//! share a column gutter are kept together, so a full-width title stays on top and two columns
//! below it read column by column even when their paragraph gaps line up.

use super::interpreter::{Extracted, RawGlyph};
use super::types::{Block, Line, PageText, Rect, Span};

/// Gap between glyphs, in ems, above which a space is inserted if the PDF drew none.
const WORD_GAP: f32 = 0.2;
/// Gap, in ems, above which two runs on one baseline are separate lines (columns, cells).
const LINE_SPLIT_GAP: f32 = 2.5;
/// Vertical gap between line boxes, in ems, above which lines belong to different blocks.
const BLOCK_GAP: f32 = 0.6;

fn to_frame(dir: u8, x: f32, y: f32) -> (f32, f32) {
    match dir {
        1 => (y, -x),
        2 => (-x, -y),
        3 => (-y, x),
        _ => (x, y),
    }
}

/// A glyph in its writing frame.
#[derive(Clone, Copy)]
struct FGlyph {
    idx: usize,
    x0: f32,
    x1: f32,
    y0: f32,
    y1: f32,
    base: f32,
    size: f32,
}

fn frame_glyph(idx: usize, g: &RawGlyph) -> FGlyph {
    let (ax, ay) = to_frame(g.dir, g.bbox.x0, g.bbox.y0);
    let (bx, by) = to_frame(g.dir, g.bbox.x1, g.bbox.y1);
    let (ox, base) = to_frame(g.dir, g.origin.0, g.origin.1);
    let (ex, _) = to_frame(g.dir, g.end.0, g.end.1);
    // Horizontal extent from the advance (the clipped box can be narrower off the page edge).
    let (x0, x1) = if (ex - ox).abs() > 0.0 {
        (ox.min(ex), ox.max(ex))
    } else {
        (ax.min(bx), ax.max(bx))
    };
    FGlyph {
        idx,
        x0,
        x1,
        y0: ay.min(by),
        y1: ay.max(by),
        base,
        size: g.size.max(0.1),
    }
}

struct LineBuild {
    dir: u8,
    glyphs: Vec<FGlyph>,
    x0: f32,
    x1: f32,
    y0: f32,
    y1: f32,
    base: f32,
    size: f32,
}

impl LineBuild {
    fn new(dir: u8, g: FGlyph) -> Self {
        LineBuild {
            dir,
            x0: g.x0,
            x1: g.x1,
            y0: g.y0,
            y1: g.y1,
            base: g.base,
            size: g.size,
            glyphs: vec![g],
        }
    }
    fn push(&mut self, g: FGlyph) {
        self.x0 = self.x0.min(g.x0);
        self.x1 = self.x1.max(g.x1);
        self.y0 = self.y0.min(g.y0);
        self.y1 = self.y1.max(g.y1);
        self.size = self.size.max(g.size);
        self.glyphs.push(g);
    }
    fn continues(&self, dir: u8, g: &FGlyph) -> bool {
        let size = self.size.max(g.size);
        let last = self.glyphs.last().map_or(self.x1, |l| l.x1);
        dir == self.dir
            && (g.base - self.base).abs() < 0.5 * size
            && g.x0 >= last - 0.6 * size
            && g.x0 - last <= LINE_SPLIT_GAP * size
    }
}

/// One laid-out line with its frame geometry, for block building.
struct LineInfo {
    line: Line,
    dir: u8,
    x0: f32,
    x1: f32,
    y0: f32,
    y1: f32,
    size: f32,
}

fn is_space(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// Turns a page's glyphs into blocks in reading order.
pub(crate) fn layout(ex: &Extracted) -> PageText {
    let mut lines = build_lines(ex);
    merge_same_baseline(&mut lines);
    let infos: Vec<LineInfo> = lines.into_iter().filter_map(|l| make_line(ex, l)).collect();
    let blocks = build_blocks(infos);
    // Order blocks in the frame of the page's main writing direction, so a rotated page (or
    // vertical CJK) reads in its own top-to-bottom, left-to-right sense.
    let mut per_dir = [0usize; 4];
    ex.glyphs
        .iter()
        .for_each(|g| per_dir[usize::from(g.dir & 3)] += 1);
    let main_dir = (0..4u8)
        .max_by_key(|&d| (per_dir[usize::from(d)], std::cmp::Reverse(d)))
        .unwrap_or(0);
    let frame_boxes: Vec<Rect> = blocks
        .iter()
        .map(|b| {
            let (ax, ay) = to_frame(main_dir, b.bbox.x0, b.bbox.y0);
            let (bx, by) = to_frame(main_dir, b.bbox.x1, b.bbox.y1);
            Rect {
                x0: ax.min(bx),
                y0: ay.min(by),
                x1: ax.max(bx),
                y1: ay.max(by),
            }
        })
        .collect();
    let lines: Vec<usize> = blocks.iter().map(|b| b.lines.len()).collect();
    let order = reading_order(&frame_boxes, &lines);
    let mut slots: Vec<Option<Block>> = blocks.into_iter().map(Some).collect();
    let blocks = order.into_iter().filter_map(|i| slots[i].take()).collect();
    PageText {
        blocks,
        glyphs: ex.glyph_count,
        unmapped_glyphs: ex.unmapped,
        invisible_glyphs: ex.invisible,
    }
}

fn build_lines(ex: &Extracted) -> Vec<LineBuild> {
    let mut lines: Vec<LineBuild> = Vec::new();
    for (i, g) in ex.glyphs.iter().enumerate() {
        let fg = frame_glyph(i, g);
        match lines.last_mut() {
            Some(l) if l.continues(g.dir, &fg) => l.push(fg),
            _ => lines.push(LineBuild::new(g.dir, fg)),
        }
    }
    lines
}

/// Joins lines on one baseline that the content stream drew apart (e.g. a bold word drawn in
/// a second pass), keeping fragments separated by a column-sized gap apart.
fn merge_same_baseline(lines: &mut Vec<LineBuild>) {
    if lines.len() > 20_000 {
        return; // quadratic below; such pages keep content order
    }
    lines.sort_by(|a, b| a.dir.cmp(&b.dir).then(a.base.total_cmp(&b.base)));
    let mut i = 0;
    while i < lines.len() {
        let mut j = i + 1;
        while j < lines.len()
            && lines[j].dir == lines[i].dir
            && lines[j].base - lines[i].base < 0.3 * lines[i].size
        {
            let (a, b) = (&lines[i], &lines[j]);
            let size = a.size.max(b.size);
            let gap = if b.x0 >= a.x1 {
                b.x0 - a.x1
            } else if a.x0 >= b.x1 {
                a.x0 - b.x1
            } else {
                -1.0
            };
            if gap >= -0.1 * size
                && gap <= LINE_SPLIT_GAP * size
                && (a.size / b.size).max(b.size / a.size) < 1.6
            {
                let b = lines.remove(j);
                for g in b.glyphs {
                    lines[i].push(g);
                }
            } else {
                j += 1;
            }
        }
        lines[i].glyphs.sort_by(|a, b| a.x0.total_cmp(&b.x0));
        i += 1;
    }
}

fn is_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08ff | 0xfb1d..=0xfdff | 0xfe70..=0xfeff)
}

/// Logical order for a right-to-left line: glyphs are drawn left to right on the page, so a
/// line whose letters are mostly Hebrew/Arabic is reversed, keeping runs of left-to-right
/// text (digits, Latin) in their own order. A simplification of the Unicode bidi algorithm
/// that matches what `pdftotext` prints for plain RTL lines.
fn logical_order(ex: &Extracted, glyphs: &[FGlyph]) -> Vec<FGlyph> {
    let first = |g: &FGlyph| {
        ex.glyph_text(&ex.glyphs[g.idx])
            .chars()
            .next()
            .unwrap_or(' ')
    };
    let rtl = glyphs.iter().filter(|g| is_rtl(first(g))).count();
    let ltr = glyphs
        .iter()
        .filter(|g| first(g).is_alphanumeric() && !is_rtl(first(g)))
        .count();
    if rtl <= ltr {
        return glyphs.to_vec();
    }
    let mut v: Vec<FGlyph> = glyphs.iter().rev().copied().collect();
    let mut i = 0;
    while i < v.len() {
        let c = first(&v[i]);
        if is_rtl(c) || c.is_whitespace() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < v.len() && !is_rtl(first(&v[j])) && !first(&v[j]).is_whitespace() {
            j += 1;
        }
        v[i..j].reverse();
        i = j;
    }
    v
}

fn make_line(ex: &Extracted, l: LineBuild) -> Option<LineInfo> {
    let mut spans: Vec<Span> = Vec::new();
    let mut prev: Option<FGlyph> = None;
    let mut prev_text = "";
    for fg in &logical_order(ex, &l.glyphs) {
        let g = &ex.glyphs[fg.idx];
        let text = ex.glyph_text(g);
        let text = if text.chars().any(char::is_control) {
            ""
        } else {
            text
        };
        if text.is_empty() {
            continue;
        }
        // A glyph drawn twice in place (fake bold, shadows) is read once.
        if let Some(p) = prev
            && text == prev_text
            && (fg.x0 - p.x0).abs() < 0.15 * fg.size
            && (fg.base - p.base).abs() < 0.15 * fg.size
        {
            continue;
        }
        let space = is_space(text);
        // Distance between the two cells, whichever side the previous one is on (RTL lines).
        let gap_space =
            prev.is_some_and(|p| (fg.x0 - p.x1).max(p.x0 - fg.x1) > WORD_GAP * fg.size.min(p.size));
        let font = &ex.fonts[g.font as usize];
        let same = spans.last().is_some_and(|s| {
            s.font == font.name
                && (s.font_size - g.size).abs() < 0.5
                && !space
                && !s.text.ends_with(' ')
        });
        if let Some(s) = spans.last_mut()
            && (space || gap_space)
            && !s.text.ends_with(' ')
        {
            s.text.push(' ');
        }
        if !space {
            match spans.last_mut() {
                Some(s) if same || (s.font == font.name && (s.font_size - g.size).abs() < 0.5) => {
                    s.text.push_str(text);
                    s.bbox = s.bbox.union(&g.bbox);
                }
                _ => spans.push(Span {
                    text: text.to_string(),
                    bbox: g.bbox,
                    font_size: g.size,
                    font: font.name.clone(),
                    bold: font.bold,
                    italic: font.italic,
                }),
            }
            prev = Some(*fg);
            prev_text = text;
        }
    }
    if let Some(s) = spans.last_mut() {
        let t = s.text.trim_end().len();
        s.text.truncate(t);
    }
    spans.retain(|s| !s.text.is_empty());
    let first = spans.first()?;
    let bbox = spans
        .iter()
        .skip(1)
        .fold(first.bbox, |r, s| r.union(&s.bbox));
    let size = l.glyphs.iter().map(|g| g.size).fold(0.0f32, f32::max);
    // Frame extent of the visible glyphs only.
    let vis: Vec<&FGlyph> = l
        .glyphs
        .iter()
        .filter(|g| !is_space(ex.glyph_text(&ex.glyphs[g.idx])))
        .collect();
    let (x0, x1) = vis
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), g| (a.min(g.x0), b.max(g.x1)));
    let (y0, y1) = vis
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), g| (a.min(g.y0), b.max(g.y1)));
    Some(LineInfo {
        line: Line { spans, bbox },
        dir: l.dir,
        x0,
        x1,
        y0,
        y1,
        size,
    })
}

struct BlockBuild {
    lines: Vec<LineInfo>,
    x0: f32,
    x1: f32,
}

fn build_blocks(mut infos: Vec<LineInfo>) -> Vec<Block> {
    infos.sort_by(|a, b| {
        a.dir
            .cmp(&b.dir)
            .then(a.y0.total_cmp(&b.y0))
            .then(a.x0.total_cmp(&b.x0))
    });
    let mut blocks: Vec<BlockBuild> = Vec::new();
    for l in infos {
        let mut best: Option<(usize, f32)> = None;
        let window = blocks.len().saturating_sub(64);
        for (bi, b) in blocks.iter().enumerate().skip(window) {
            let last = b.lines.last().expect("blocks hold at least one line");
            if last.dir != l.dir {
                continue;
            }
            let size = last.size.max(l.size);
            let gap = l.y0 - last.y1;
            let overlap = l.x1.min(b.x1) - l.x0.max(b.x0);
            let ratio = (last.size / l.size).max(l.size / last.size);
            let indented =
                b.lines.len() >= 2 && l.x0 - last.x0 > 1.0 * l.size && l.x0 - b.x0 > 1.0 * l.size;
            let fits = gap > -0.5 * size
                && gap <= BLOCK_GAP * size
                && overlap > 0.0
                && ratio < 1.25
                && !indented;
            if fits && best.is_none_or(|(_, g)| gap < g) {
                best = Some((bi, gap));
            }
        }
        match best {
            Some((bi, _)) => {
                let b = &mut blocks[bi];
                b.x0 = b.x0.min(l.x0);
                b.x1 = b.x1.max(l.x1);
                b.lines.push(l);
            }
            None => blocks.push(BlockBuild {
                x0: l.x0,
                x1: l.x1,
                lines: vec![l],
            }),
        }
    }
    blocks
        .into_iter()
        .map(|b| {
            let lines: Vec<Line> = b.lines.into_iter().map(|l| l.line).collect();
            let bbox = lines
                .iter()
                .skip(1)
                .fold(lines[0].bbox, |r, l| r.union(&l.bbox));
            Block { lines, bbox }
        })
        .collect()
}

/// The widest gap between the x-extents of `boxes` (indices into `all`) that is at least
/// `min` wide: its midpoint.
fn vertical_cut(all: &[Rect], idx: &[usize], min: f32) -> Option<f32> {
    let mut iv: Vec<(f32, f32)> = idx.iter().map(|&i| (all[i].x0, all[i].x1)).collect();
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut reach = iv.first()?.1;
    let mut best: Option<(f32, f32)> = None;
    for &(x0, x1) in &iv[1..] {
        let gap = x0 - reach;
        if gap >= min && best.is_none_or(|(w, _)| gap > w) {
            best = Some((gap, reach + gap / 2.0));
        }
        reach = reach.max(x1);
    }
    best.map(|(_, x)| x)
}

/// Splits `idx` into top-to-bottom strips separated by horizontal gaps.
fn strips(all: &[Rect], idx: &[usize]) -> Vec<Vec<usize>> {
    let mut v = idx.to_vec();
    v.sort_by(|&a, &b| all[a].y0.total_cmp(&all[b].y0));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut reach = f32::MIN;
    for i in v {
        match out.last_mut() {
            Some(s) if all[i].y0 < reach => s.push(i),
            _ => out.push(vec![i]),
        }
        reach = reach.max(all[i].y1);
    }
    out
}

/// Reading order of block boxes (`lines[i]`: lines in block `i`): indices into `boxes`.
pub(crate) fn reading_order(boxes: &[Rect], lines: &[usize]) -> Vec<usize> {
    let idx: Vec<usize> = (0..boxes.len()).collect();
    let mut out = Vec::with_capacity(boxes.len());
    if boxes.len() > 3000 || lines.len() != boxes.len() {
        let mut v = idx;
        v.sort_by(|&a, &b| {
            boxes[a]
                .y0
                .total_cmp(&boxes[b].y0)
                .then(boxes[a].x0.total_cmp(&boxes[b].x0))
        });
        return v;
    }
    let cx = Cut { all: boxes, lines };
    cx.xy_cut(&idx, &mut out, 0);
    out
}

/// Smallest column gutter, in points.
const MIN_GUTTER: f32 = 6.0;

/// The block boxes and line counts the XY-cut works on.
struct Cut<'a> {
    all: &'a [Rect],
    lines: &'a [usize],
}

impl Cut<'_> {
    fn sort_yx(&self, idx: &[usize], out: &mut Vec<usize>) {
        let all = self.all;
        let mut v = idx.to_vec();
        v.sort_by(|&a, &b| {
            all[a]
                .y0
                .total_cmp(&all[b].y0)
                .then(all[a].x0.total_cmp(&all[b].x0))
        });
        out.extend(v);
    }

    fn split_at(&self, idx: &[usize], x: f32) -> (Vec<usize>, Vec<usize>) {
        idx.iter().partition(|&&i| self.all[i].x1 <= x)
    }

    /// Whether strips sharing a gutter are table rows (short cells on both sides of the gutter
    /// start on the same line) rather than text columns (tall blocks that start and break
    /// independently, even if the columns' first paragraphs happen to line up).
    fn rows_not_columns(&self, strips: &[Vec<usize>], x: f32) -> bool {
        let all = self.all;
        let (mut both, mut aligned) = (0, 0);
        for s in strips {
            let (l, r) = self.split_at(s, x);
            if l.is_empty() || r.is_empty() {
                continue;
            }
            both += 1;
            let top = |v: &[usize]| v.iter().map(|&i| all[i].y0).fold(f32::MAX, f32::min);
            let short = |v: &[usize]| v.iter().all(|&i| self.lines[i] <= 4);
            if (top(&l) - top(&r)).abs() < 4.0 && short(&l) && short(&r) {
                aligned += 1;
            }
        }
        both > 0 && aligned * 3 >= both * 2
    }

    fn xy_cut(&self, idx: &[usize], out: &mut Vec<usize>, depth: usize) {
        let all = self.all;
        if idx.len() <= 1 || depth > 64 {
            return self.sort_yx(idx, out);
        }
        let strips = strips(all, idx);
        if strips.len() == 1 {
            return match vertical_cut(all, idx, MIN_GUTTER) {
                Some(x) => {
                    let (left, right) = self.split_at(idx, x);
                    self.xy_cut(&left, out, depth + 1);
                    self.xy_cut(&right, out, depth + 1);
                }
                None => self.sort_yx(idx, out),
            };
        }
        // Group consecutive strips while together they still have a column gutter; a group
        // reads column by column, unless its strips are table rows, which read row by row.
        let mut groups: Vec<Vec<Vec<usize>>> = Vec::new();
        for s in strips {
            if let Some(g) = groups.last_mut() {
                let cur: Vec<usize> = g.iter().flatten().copied().collect();
                let mut trial = cur.clone();
                trial.extend_from_slice(&s);
                if vertical_cut(all, &cur, MIN_GUTTER).is_some()
                    && vertical_cut(all, &trial, MIN_GUTTER).is_some()
                {
                    g.push(s);
                    continue;
                }
            }
            groups.push(vec![s]);
        }
        for g in groups {
            let members: Vec<usize> = g.iter().flatten().copied().collect();
            let cut = if g.len() > 1 {
                vertical_cut(all, &members, MIN_GUTTER)
            } else {
                None
            };
            match cut {
                Some(x) if !self.rows_not_columns(&g, x) => {
                    let (left, right) = self.split_at(&members, x);
                    self.xy_cut(&left, out, depth + 1);
                    self.xy_cut(&right, out, depth + 1);
                }
                Some(_) => {
                    for s in &g {
                        self.xy_cut(s, out, depth + 1);
                    }
                }
                None => self.xy_cut(&members, out, depth + 1),
            }
        }
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    fn r(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    #[test]
    fn two_columns_under_a_title_read_column_by_column() {
        // Title, then two columns whose paragraph gaps line up, then a full-width footer.
        let boxes = [
            r(50.0, 40.0, 550.0, 60.0),    // 0 title
            r(50.0, 80.0, 290.0, 200.0),   // 1 left, para 1
            r(310.0, 80.0, 550.0, 200.0),  // 2 right, para 1
            r(50.0, 220.0, 290.0, 400.0),  // 3 left, para 2
            r(310.0, 220.0, 550.0, 400.0), // 4 right, para 2
            r(50.0, 420.0, 550.0, 440.0),  // 5 footer
        ];
        assert_eq!(
            reading_order(&boxes, &[1, 8, 8, 12, 12, 1]),
            vec![0, 1, 3, 2, 4, 5]
        );
    }

    #[test]
    fn table_rows_read_row_by_row() {
        let boxes = [
            r(50.0, 100.0, 120.0, 112.0),  // 0 "LRM"
            r(150.0, 100.0, 300.0, 112.0), // 1 "Linear Reference Method"
            r(50.0, 120.0, 120.0, 132.0),  // 2 "LRS"
            r(150.0, 120.0, 300.0, 132.0), // 3 "Linear Reference System"
        ];
        assert_eq!(reading_order(&boxes, &[1, 1, 1, 1]), vec![0, 1, 2, 3]);
    }

    #[test]
    fn single_column_reads_top_to_bottom() {
        let boxes = [
            r(50.0, 300.0, 550.0, 320.0),
            r(50.0, 100.0, 550.0, 200.0),
            r(60.0, 210.0, 540.0, 290.0),
        ];
        assert_eq!(reading_order(&boxes, &[1, 5, 4]), vec![1, 2, 0]);
    }
}
