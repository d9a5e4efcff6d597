//! The content-stream interpreter: runs a page's operators and records every glyph (with its
//! Unicode text, box, size and direction in displayed-page space) and every image placement.
//!
//! It tracks only what text and image positions depend on: the CTM (`q`/`Q`/`cm`), the text
//! state (`Tc Tw Tz TL Tf Tr Ts`), the text matrices (`BT Td TD Tm T* Tj TJ ' "`) and XObjects
//! (`Do`, recursing into forms with their /Matrix and /Resources, guarded against cycles and
//! depth). Paths, colours and clipping are skipped. The deadline is checked every few hundred
//! operators so a pathological page ends with `Timeout` instead of hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::error::{Limits, PdfError};
use super::fonts::Font;
use super::lexer::{Lexer, Operand, Step};
use super::matrix::Matrix;
use super::objects::{as_dict, get_dict, get_name, get_num, num_array, resolve, stream_bytes};
use super::types::{PlacedImage, Rect};

/// Fonts already loaded for a document, by object id (fonts are shared across pages).
pub(crate) type FontCache = Mutex<HashMap<ObjectId, Arc<Font>>>;

/// A glyph as drawn, in displayed-page space.
#[derive(Debug, Clone)]
pub(crate) struct RawGlyph {
    /// Box of the glyph cell (advance × ascent..descent), clipped to the page.
    pub(crate) bbox: Rect,
    /// Baseline start and end (origin and origin + advance).
    pub(crate) origin: (f32, f32),
    pub(crate) end: (f32, f32),
    /// Writing direction: 0 left→right, 1 top→bottom, 2 right→left, 3 bottom→top.
    pub(crate) dir: u8,
    /// Effective font size in points.
    pub(crate) size: f32,
    /// Index into [`Extracted::fonts`].
    pub(crate) font: u32,
    /// Byte range of the glyph's text in [`Extracted::text`].
    pub(crate) text: (u32, u32),
}

/// Everything a page's content streams drew.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    pub(crate) glyphs: Vec<RawGlyph>,
    /// Text of all glyphs, back to back.
    pub(crate) text: String,
    pub(crate) fonts: Vec<Arc<Font>>,
    pub(crate) images: Vec<PlacedImage>,
    pub(crate) glyph_count: usize,
    pub(crate) unmapped: usize,
    pub(crate) invisible: usize,
}

impl Extracted {
    /// The text of glyph `g`.
    pub(crate) fn glyph_text(&self, g: &RawGlyph) -> &str {
        &self.text[g.text.0 as usize..g.text.1 as usize]
    }
}

#[derive(Clone)]
struct GState {
    ctm: Matrix,
    font: Option<(u32, Arc<Font>)>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    hscale: f32,
    leading: f32,
    rise: f32,
    mode: i32,
}

/// Form XObjects nest at most this deep.
const MAX_FORM_DEPTH: usize = 12;
/// Graphics-state stack bound (`q` without `Q`).
const MAX_GSTACK: usize = 256;
/// Glyphs kept per page; more are counted but not positioned (bounds memory).
const MAX_GLYPHS: usize = 1 << 20;

/// Runs content streams for one page.
pub(crate) struct Interpreter<'d> {
    doc: &'d Document,
    limits: &'d Limits,
    deadline: Instant,
    cache: &'d FontCache,
    display: Matrix,
    page: Rect,
    out: Extracted,
    font_ids: HashMap<usize, u32>,
    forms: Vec<ObjectId>,
    ops: u32,
}

fn last_nums<const N: usize>(stack: &[Operand<'_>]) -> Option<[f32; N]> {
    if stack.len() < N {
        return None;
    }
    let mut out = [0.0; N];
    for (o, v) in out.iter_mut().zip(&stack[stack.len() - N..]) {
        *o = v.num()?;
    }
    Some(out)
}

fn clip(r: Rect, page: &Rect) -> Rect {
    Rect {
        x0: r.x0.max(page.x0),
        y0: r.y0.max(page.y0),
        x1: r.x1.min(page.x1),
        y1: r.y1.min(page.y1),
    }
}

fn bbox_of(points: &[(f32, f32)]) -> Rect {
    let mut r = Rect {
        x0: f32::MAX,
        y0: f32::MAX,
        x1: f32::MIN,
        y1: f32::MIN,
    };
    for &(x, y) in points {
        r.x0 = r.x0.min(x);
        r.y0 = r.y0.min(y);
        r.x1 = r.x1.max(x);
        r.y1 = r.y1.max(y);
    }
    r
}

impl<'d> Interpreter<'d> {
    /// An interpreter for a page of displayed size `width` × `height`.
    pub(crate) fn new(
        doc: &'d Document,
        limits: &'d Limits,
        deadline: Instant,
        cache: &'d FontCache,
        display: Matrix,
        width: f32,
        height: f32,
    ) -> Self {
        Interpreter {
            doc,
            limits,
            deadline,
            cache,
            display,
            page: Rect {
                x0: 0.0,
                y0: 0.0,
                x1: width,
                y1: height,
            },
            out: Extracted::default(),
            font_ids: HashMap::new(),
            forms: Vec::new(),
            ops: 0,
        }
    }

    /// What was drawn.
    pub(crate) fn finish(self) -> Extracted {
        self.out
    }

    /// Runs one content stream (the page's, concatenated) with `resources`.
    pub(crate) fn run(
        &mut self,
        content: &[u8],
        resources: Option<&'d Dictionary>,
    ) -> Result<(), PdfError> {
        let gs = GState {
            ctm: Matrix::IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            hscale: 1.0,
            leading: 0.0,
            rise: 0.0,
            mode: 0,
        };
        self.run_with(content, resources, gs)
    }

    fn run_with(
        &mut self,
        content: &[u8],
        resources: Option<&'d Dictionary>,
        mut gs: GState,
    ) -> Result<(), PdfError> {
        let mut stack: Vec<Operand<'_>> = Vec::with_capacity(16);
        let mut saved: Vec<GState> = Vec::new();
        let mut tm = Matrix::IDENTITY;
        let mut tlm = Matrix::IDENTITY;
        let mut fonts_by_name: HashMap<Vec<u8>, Option<(u32, Arc<Font>)>> = HashMap::new();
        let mut lx = Lexer::new(content);
        while let Some(step) = lx.next_op(&mut stack) {
            self.ops += 1;
            if self.ops & 255 == 0 && Instant::now() > self.deadline {
                return Err(PdfError::Timeout);
            }
            let op = match step {
                Step::Op(op) => op,
                Step::InlineImage(params) => {
                    let find = |keys: [&[u8]; 2]| {
                        params
                            .iter()
                            .find(|(k, _)| keys.contains(&k.as_ref()))
                            .and_then(|(_, v)| v.num())
                    };
                    let (w, h) = (find([b"W", b"Width"]), find([b"H", b"Height"]));
                    self.place_image(
                        &gs.ctm,
                        None,
                        w.unwrap_or(0.0) as u32,
                        h.unwrap_or(0.0) as u32,
                    );
                    continue;
                }
            };
            match op {
                b"q" if saved.len() < MAX_GSTACK => saved.push(gs.clone()),
                b"Q" => {
                    if let Some(g) = saved.pop() {
                        gs = g;
                    }
                }
                b"cm" => {
                    if let Some(m) = last_nums::<6>(&stack) {
                        let n = Matrix(m).mul(&gs.ctm);
                        if n.is_finite() {
                            gs.ctm = n;
                        }
                    }
                }
                b"BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                b"Tc" => gs.char_spacing = last_nums::<1>(&stack).map_or(gs.char_spacing, |v| v[0]),
                b"Tw" => gs.word_spacing = last_nums::<1>(&stack).map_or(gs.word_spacing, |v| v[0]),
                b"Tz" => gs.hscale = last_nums::<1>(&stack).map_or(gs.hscale, |v| v[0] / 100.0),
                b"TL" => gs.leading = last_nums::<1>(&stack).map_or(gs.leading, |v| v[0]),
                b"Ts" => gs.rise = last_nums::<1>(&stack).map_or(gs.rise, |v| v[0]),
                b"Tr" => gs.mode = last_nums::<1>(&stack).map_or(gs.mode, |v| v[0] as i32),
                b"Tf" => {
                    if let [.., Operand::Name(name), Operand::Number(size)] = stack.as_slice() {
                        gs.size = *size;
                        let key = name.to_vec();
                        if !fonts_by_name.contains_key(&key) {
                            let f = self.font(resources, name)?;
                            fonts_by_name.insert(key.clone(), f);
                        }
                        gs.font = fonts_by_name.get(&key).cloned().flatten();
                    }
                }
                b"Td" | b"TD" => {
                    if let Some([tx, ty]) = last_nums::<2>(&stack) {
                        if op == b"TD" {
                            gs.leading = -ty;
                        }
                        tlm = Matrix([1.0, 0.0, 0.0, 1.0, tx, ty]).mul(&tlm);
                        tm = tlm;
                    }
                }
                b"Tm" => {
                    if let Some(m) = last_nums::<6>(&stack) {
                        tlm = Matrix(m);
                        tm = tlm;
                    }
                }
                b"T*" => {
                    tlm = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, -gs.leading]).mul(&tlm);
                    tm = tlm;
                }
                b"Tj" => {
                    if let Some(Operand::Str(s)) = stack.last() {
                        self.show(&gs, &mut tm, std::slice::from_ref(&Operand::Str(s.clone())));
                    }
                }
                b"TJ" => {
                    if let Some(Operand::Array(items)) = stack.last() {
                        self.show(&gs, &mut tm, items);
                    }
                }
                b"'" | b"\"" => {
                    if op == b"\""
                        && let Some([aw, ac]) = stack
                            .len()
                            .checked_sub(1)
                            .and_then(|n| last_nums::<2>(&stack[..n]))
                    {
                        gs.word_spacing = aw;
                        gs.char_spacing = ac;
                    }
                    tlm = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, -gs.leading]).mul(&tlm);
                    tm = tlm;
                    if let Some(Operand::Str(s)) = stack.last() {
                        self.show(&gs, &mut tm, std::slice::from_ref(&Operand::Str(s.clone())));
                    }
                }
                b"Do" => {
                    if let Some(Operand::Name(name)) = stack.last() {
                        self.xobject(resources, name, &gs)?;
                    }
                }
                _ => {}
            }
            stack.clear();
        }
        Ok(())
    }

    /// The font named `name` in `resources`, loaded once per document.
    fn font(
        &mut self,
        resources: Option<&'d Dictionary>,
        name: &[u8],
    ) -> Result<Option<(u32, Arc<Font>)>, PdfError> {
        let Some(fonts) = resources.and_then(|r| get_dict(self.doc, r, b"Font")) else {
            return Ok(None);
        };
        let Ok(entry) = fonts.get(name) else {
            return Ok(None);
        };
        let id = match entry {
            Object::Reference(id) => Some(*id),
            _ => None,
        };
        let cached = id.and_then(|id| self.cache.lock().ok().and_then(|c| c.get(&id).cloned()));
        let font = match cached {
            Some(f) => f,
            None => {
                let Some(dict) = resolve(self.doc, entry).and_then(as_dict) else {
                    return Ok(None);
                };
                let f = Arc::new(Font::load(self.doc, dict, self.limits)?);
                if let (Some(id), Ok(mut c)) = (id, self.cache.lock()) {
                    c.insert(id, f.clone());
                }
                f
            }
        };
        let key = Arc::as_ptr(&font) as usize;
        let idx = match self.font_ids.get(&key) {
            Some(i) => *i,
            None => {
                let i = self.out.fonts.len() as u32;
                self.out.fonts.push(font.clone());
                self.font_ids.insert(key, i);
                i
            }
        };
        Ok(Some((idx, font)))
    }

    /// Shows strings and kerning adjustments (`Tj`, `TJ`), advancing `tm`.
    fn show(&mut self, gs: &GState, tm: &mut Matrix, items: &[Operand<'_>]) {
        let Some((font_idx, font)) = gs.font.as_ref() else {
            return;
        };
        let m = tm.mul(&gs.ctm).mul(&self.display);
        if !m.is_finite() {
            return;
        }
        let tfs = gs.size;
        let th = gs.hscale;
        let vertical = font.vertical();
        let invisible = gs.mode == 3 || gs.mode == 7;
        // Font size: Tfs times the length of the text-space y unit on the page.
        let (yx, yy) = m.apply_vec(0.0, 1.0);
        let size = (tfs * (yx * yx + yy * yy).sqrt()).abs();
        let (dx, dy) = m.apply_vec(
            if vertical.is_some() { 0.0 } else { 1.0 },
            if vertical.is_some() { -1.0 } else { 0.0 },
        );
        let dir = if dx.abs() >= dy.abs() {
            if dx * th >= 0.0 { 0 } else { 2 }
        } else if dy >= 0.0 {
            1
        } else {
            3
        };
        let (mut ax, mut ay) = (0.0f32, 0.0f32);
        for item in items {
            let bytes: &[u8] = match item {
                Operand::Str(s) => s,
                Operand::Number(n) => {
                    match vertical {
                        Some(_) => ay -= n / 1000.0 * tfs,
                        None => ax -= n / 1000.0 * tfs * th,
                    }
                    continue;
                }
                _ => continue,
            };
            let mut i = 0;
            while i < bytes.len() {
                let (code, len) = font.next_code(&bytes[i..]);
                i += len;
                let w0 = font.width(code);
                let tw = if font.word_space_applies(code, len) {
                    gs.word_spacing
                } else {
                    0.0
                };
                self.out.glyph_count += 1;
                if invisible {
                    self.out.invisible += 1;
                }
                let start = self.out.text.len();
                if !font.unicode(code, &mut self.out.text) {
                    self.out.unmapped += 1;
                    self.out.text.push('\u{fffd}');
                }
                let (corners, origin, end) = match vertical {
                    None => {
                        let adv = w0 * tfs * th;
                        let (y0, y1) = (font.descent * tfs + gs.rise, font.ascent * tfs + gs.rise);
                        let c = [
                            m.apply(ax, y0),
                            m.apply(ax + adv, y0),
                            m.apply(ax, y1),
                            m.apply(ax + adv, y1),
                        ];
                        let o = (m.apply(ax, gs.rise), m.apply(ax + adv, gs.rise));
                        ax += (w0 * tfs + gs.char_spacing + tw) * th;
                        (c, o.0, o.1)
                    }
                    Some(vadv) => {
                        let half = 0.5 * tfs;
                        let adv = vadv * tfs;
                        let c = [
                            m.apply(-half, ay),
                            m.apply(half, ay),
                            m.apply(-half, ay + adv),
                            m.apply(half, ay + adv),
                        ];
                        let o = (m.apply(0.0, ay), m.apply(0.0, ay + adv));
                        ay += adv - gs.char_spacing - tw;
                        (c, o.0, o.1)
                    }
                };
                let bbox = bbox_of(&corners);
                let (cx, cy) = ((bbox.x0 + bbox.x1) / 2.0, (bbox.y0 + bbox.y1) / 2.0);
                let on_page = cx >= self.page.x0
                    && cx <= self.page.x1
                    && cy >= self.page.y0
                    && cy <= self.page.y1;
                if !on_page
                    || !bbox.x0.is_finite()
                    || self.out.glyphs.len() >= MAX_GLYPHS
                    || size <= 0.0
                {
                    // Off-page text is not part of what the page shows (pdftotext drops it too).
                    self.out.text.truncate(start);
                    continue;
                }
                self.out.glyphs.push(RawGlyph {
                    bbox: clip(bbox, &self.page),
                    origin,
                    end,
                    dir,
                    size,
                    font: *font_idx,
                    text: (start as u32, self.out.text.len() as u32),
                });
            }
        }
        *tm = match vertical {
            Some(_) => Matrix([1.0, 0.0, 0.0, 1.0, 0.0, ay]).mul(tm),
            None => Matrix([1.0, 0.0, 0.0, 1.0, ax, 0.0]).mul(tm),
        };
    }

    fn place_image(
        &mut self,
        ctm: &Matrix,
        object: Option<ObjectId>,
        width_px: u32,
        height_px: u32,
    ) {
        let m = ctm.mul(&self.display);
        let r = bbox_of(&[
            m.apply(0.0, 0.0),
            m.apply(1.0, 0.0),
            m.apply(0.0, 1.0),
            m.apply(1.0, 1.0),
        ]);
        let r = clip(r, &self.page);
        if r.x1 > r.x0 && r.y1 > r.y0 && r.x0.is_finite() {
            self.out.images.push(PlacedImage {
                bbox: r,
                object,
                width_px,
                height_px,
            });
        }
    }

    /// `Do`: places an image, or runs a form XObject.
    fn xobject(
        &mut self,
        resources: Option<&'d Dictionary>,
        name: &[u8],
        gs: &GState,
    ) -> Result<(), PdfError> {
        let doc = self.doc;
        let Some(xobjects) = resources.and_then(|r| get_dict(doc, r, b"XObject")) else {
            return Ok(());
        };
        let Ok(entry) = xobjects.get(name) else {
            return Ok(());
        };
        let id = match entry {
            Object::Reference(id) => Some(*id),
            _ => None,
        };
        let Some(Object::Stream(stream)) = resolve(doc, entry) else {
            return Ok(());
        };
        match get_name(doc, &stream.dict, b"Subtype") {
            Some(b"Image") => {
                let w = get_num(doc, &stream.dict, b"Width").unwrap_or(0.0).max(0.0) as u32;
                let h = get_num(doc, &stream.dict, b"Height")
                    .unwrap_or(0.0)
                    .max(0.0) as u32;
                self.place_image(&gs.ctm, id, w, h);
            }
            Some(b"Form") => {
                if self.forms.len() >= MAX_FORM_DEPTH
                    || id.is_some_and(|id| self.forms.contains(&id))
                {
                    return Ok(());
                }
                let matrix = stream
                    .dict
                    .get(b"Matrix")
                    .ok()
                    .and_then(|m| num_array::<6>(doc, m))
                    .map_or(Matrix::IDENTITY, Matrix);
                let content =
                    match stream_bytes(stream, self.limits.max_stream_bytes, "form XObject") {
                        Ok(c) => c,
                        Err(e @ PdfError::StreamTooLarge { .. }) => return Err(e),
                        Err(_) => return Ok(()), // a broken form loses its own content only
                    };
                let form_resources = get_dict(doc, &stream.dict, b"Resources").or(resources);
                let mut inner = gs.clone();
                inner.ctm = matrix.mul(&gs.ctm);
                self.forms.push(id.unwrap_or((0, 0)));
                let r = self.run_with(&content, form_resources, inner);
                self.forms.pop();
                r?;
            }
            _ => {}
        }
        Ok(())
    }
}
