//! Fonts as the text extractor needs them: how to split a string into character codes, the
//! Unicode text of each code, its advance width, and the font's vertical extent and style.
//!
//! Covered: simple fonts (Type1, MMType1, TrueType, Type3) with named or /Differences
//! encodings, the built-in encoding of embedded Type 1 programs, /Widths + /FirstChar,
//! /FontMatrix for Type3; Type0 (CID) fonts with Identity-H/V, embedded encoding CMaps and the
//! predefined `Uni…-UCS2`/`UTF16` CMaps, /W + /DW (and /DW2 for vertical writing); ToUnicode
//! CMaps first whenever they map the code. Codes nothing maps are reported as unmapped.

use lopdf::{Dictionary, Document, Object};

use super::cmap::CMap;
use super::encoding::{BaseEncoding, glyph_name_to_unicode};
use super::error::{Limits, PdfError};
use super::objects::{
    as_dict, get, get_array, get_dict, get_name, get_num, num, num_array, resolve, stream_bytes,
};

/// How a Type0 font turns codes into CIDs and (possibly) Unicode.
#[derive(Debug)]
enum CidEncoding {
    /// Identity-H/V: two-byte codes, CID = code.
    Identity,
    /// Predefined Unicode CMaps (`Uni…-UCS2-H`, `Uni…-UTF16-H`): the code is UTF-16.
    Utf16,
    /// An embedded CMap stream (codespace + CID ranges).
    Embedded(CMap),
    /// Another predefined CMap we carry no data for: split codes like the common CJK
    /// multi-byte encodings (one byte below 0x80, two above).
    OtherPredefined,
}

#[derive(Debug)]
enum Kind {
    Simple {
        /// Advance per code, in text-space units (ems for non-Type3 fonts).
        widths: Box<[f32; 256]>,
        /// Unicode per code from the encoding; empty = unknown.
        unicode: Box<[String; 256]>,
    },
    Cid {
        encoding: Box<CidEncoding>,
        /// `/W` entries `(first_cid, last_cid, width)` in ems, latest last.
        widths: Vec<(u32, u32, f32)>,
        default_width: f32,
        vertical: bool,
        /// Vertical advance (ems, negative = down) for vertical writing.
        vertical_advance: f32,
    },
}

/// A loaded font.
#[derive(Debug)]
pub(crate) struct Font {
    /// Base font name without a subset prefix.
    pub(crate) name: String,
    pub(crate) bold: bool,
    pub(crate) italic: bool,
    /// Top and bottom of the glyph box relative to the baseline, in text-space units.
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    to_unicode: Option<CMap>,
    kind: Kind,
}

/// Glyph-space to text-space scale of non-Type3 fonts.
const EM: f32 = 0.001;

fn strip_subset(name: &str) -> &str {
    match name.split_once('+') {
        Some((tag, rest)) if tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()) => rest,
        _ => name,
    }
}

/// Standard-14 fonts used without /Widths need some advance; these are the AFM averages of
/// their Latin letters, which keeps word gaps roughly right.
fn standard_width(name: &str) -> f32 {
    let n = name.to_ascii_lowercase();
    if n.contains("courier") || n.contains("mono") {
        0.6
    } else if n.contains("times") {
        0.45
    } else {
        0.52
    }
}

impl Font {
    /// Loads the font dictionary `dict`.
    pub(crate) fn load(
        doc: &Document,
        dict: &Dictionary,
        limits: &Limits,
    ) -> Result<Font, PdfError> {
        let subtype = get_name(doc, dict, b"Subtype").unwrap_or(b"Type1");
        let raw_name = get_name(doc, dict, b"BaseFont")
            .or_else(|| get_name(doc, dict, b"Name"))
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| String::from_utf8_lossy(subtype).into_owned());
        let name = strip_subset(&raw_name).to_string();

        let to_unicode = match get(doc, dict, b"ToUnicode") {
            Some(Object::Stream(s)) => {
                lenient(stream_bytes(s, limits.max_stream_bytes, "ToUnicode CMap"))?
                    .map(|b| CMap::parse(&b))
                    .filter(CMap::has_unicode)
            }
            _ => None,
        };

        let (kind, descriptor, font_matrix) = if subtype == b"Type0" {
            let descendant = get_array(doc, dict, b"DescendantFonts")
                .and_then(|a| a.first())
                .and_then(|d| resolve(doc, d))
                .and_then(as_dict);
            (
                Self::load_cid(doc, dict, descendant, limits)?,
                descendant.and_then(|d| get_dict(doc, d, b"FontDescriptor")),
                None,
            )
        } else {
            let fm = if subtype == b"Type3" {
                dict.get(b"FontMatrix")
                    .ok()
                    .and_then(|m| num_array::<6>(doc, m))
            } else {
                None
            };
            let descriptor = get_dict(doc, dict, b"FontDescriptor");
            (
                Self::load_simple(doc, dict, descriptor, &name, fm, limits)?,
                descriptor,
                fm,
            )
        };

        let flags = descriptor
            .and_then(|d| get_num(doc, d, b"Flags"))
            .unwrap_or(0.0) as u32;
        let weight = descriptor
            .and_then(|d| get_num(doc, d, b"FontWeight"))
            .unwrap_or(400.0);
        let angle = descriptor
            .and_then(|d| get_num(doc, d, b"ItalicAngle"))
            .unwrap_or(0.0);
        let lname = name.to_ascii_lowercase();
        // TeX fonts name their style in a prefix (CMBX12 bold, CMTI10 italic).
        let tex = |prefixes: &[&str]| prefixes.iter().any(|p| lname.starts_with(p));
        let bold = ["bold", "black", "heavy", "semibold", "demi"]
            .iter()
            .any(|k| lname.contains(k))
            || tex(&["cmbx", "cmb10", "sfbx", "ecbx", "cmssbx"])
            || flags & (1 << 18) != 0
            || weight >= 600.0;
        let italic = lname.contains("italic")
            || lname.contains("oblique")
            || tex(&["cmti", "cmsl", "sfti", "sfsl", "ecti", "cmbxti", "cmmi"])
            || flags & (1 << 6) != 0
            || angle.abs() > 0.5;

        let (mut ascent, mut descent) = (
            descriptor
                .and_then(|d| get_num(doc, d, b"Ascent"))
                .map_or(0.8, |a| a * EM),
            descriptor
                .and_then(|d| get_num(doc, d, b"Descent"))
                .map_or(-0.2, |d| d * EM),
        );
        if let Some(fm) = font_matrix {
            // Type3: glyph space is the font's own; take the /FontBBox through /FontMatrix.
            let bbox = dict
                .get(b"FontBBox")
                .ok()
                .and_then(|b| num_array::<4>(doc, b));
            let (lo, hi) = match bbox {
                Some(b) if b[3] > b[1] => (b[1] * fm[3], b[3] * fm[3]),
                _ => (-0.2, 0.8),
            };
            (ascent, descent) = (hi, lo);
        }
        // Descriptors lie (0 ascent, descent as a positive number, 10× values): keep sane ones.
        if !(0.3..=1.5).contains(&ascent) {
            ascent = 0.8;
        }
        if !(-0.6..=0.0).contains(&descent) {
            descent = -0.2;
        }
        Ok(Font {
            name,
            bold,
            italic,
            ascent,
            descent,
            to_unicode,
            kind,
        })
    }

    fn load_simple(
        doc: &Document,
        dict: &Dictionary,
        descriptor: Option<&Dictionary>,
        name: &str,
        font_matrix: Option<[f32; 6]>,
        limits: &Limits,
    ) -> Result<Kind, PdfError> {
        let scale = font_matrix.map_or(EM, |m| m[0]);
        let missing = descriptor
            .and_then(|d| get_num(doc, d, b"MissingWidth"))
            .map(|w| w * scale);
        let first = get_num(doc, dict, b"FirstChar").unwrap_or(0.0).max(0.0) as usize;
        let mut widths = Box::new([missing.unwrap_or(0.0); 256]);
        match get_array(doc, dict, b"Widths") {
            Some(ws) => {
                for (i, w) in ws.iter().enumerate() {
                    if let (Some(slot), Some(w)) = (widths.get_mut(first + i), num(doc, w)) {
                        *slot = w * scale;
                    }
                }
            }
            None => {
                let w = missing
                    .filter(|w| *w > 0.0)
                    .unwrap_or_else(|| standard_width(name));
                widths.iter_mut().for_each(|s| *s = w);
            }
        }

        let flags = descriptor
            .and_then(|d| get_num(doc, d, b"Flags"))
            .unwrap_or(0.0) as u32;
        let symbolic = flags & 4 != 0 && flags & 32 == 0;
        let lname = name.to_ascii_lowercase();
        let enc_obj = get(doc, dict, b"Encoding");
        let (base, differences) = match enc_obj {
            Some(Object::Name(n)) => (BaseEncoding::from_name(n), None),
            Some(Object::Dictionary(d)) => (
                get_name(doc, d, b"BaseEncoding").and_then(BaseEncoding::from_name),
                get_array(doc, d, b"Differences"),
            ),
            _ => (None, None),
        };
        let mut unicode: Box<[String; 256]> = Box::new(std::array::from_fn(|_| String::new()));
        let fill = |unicode: &mut [String; 256], table: &[u16; 256]| {
            for (slot, &u) in unicode.iter_mut().zip(table.iter()) {
                if u != 0
                    && let Some(c) = char::from_u32(u32::from(u))
                {
                    *slot = c.to_string();
                }
            }
        };
        match base {
            Some(b) => fill(&mut unicode, b.table()),
            None if lname.starts_with("symbol") => fill(&mut unicode, BaseEncoding::Symbol.table()),
            None => {
                // The font's built-in encoding: read it from an embedded Type 1 program when
                // there is one; otherwise Standard (non-symbolic) or, for symbolic fonts, the
                // same table as a best guess (their codes are usually Latin-1-like).
                let builtin = match descriptor.and_then(|d| get(doc, d, b"FontFile")) {
                    Some(Object::Stream(s)) => {
                        lenient(stream_bytes(s, limits.max_stream_bytes, "font program"))?
                    }
                    _ => None,
                };
                fill(&mut unicode, BaseEncoding::Standard.table());
                if symbolic && builtin.is_none() {
                    fill(&mut unicode, BaseEncoding::WinAnsi.table());
                }
                if let Some(program) = builtin {
                    type1_builtin_encoding(&program, &mut unicode);
                }
            }
        }
        if let Some(diffs) = differences {
            let mut code = 0usize;
            for item in diffs {
                match resolve(doc, item) {
                    Some(Object::Integer(c)) => code = (*c).clamp(0, 256) as usize,
                    Some(Object::Name(n)) => {
                        if let Some(slot) = unicode.get_mut(code) {
                            *slot = glyph_name_to_unicode(n).unwrap_or_default();
                        }
                        code += 1;
                    }
                    _ => {}
                }
            }
        }
        Ok(Kind::Simple { widths, unicode })
    }

    fn load_cid(
        doc: &Document,
        dict: &Dictionary,
        descendant: Option<&Dictionary>,
        limits: &Limits,
    ) -> Result<Kind, PdfError> {
        let (encoding, vertical) = match get(doc, dict, b"Encoding") {
            Some(Object::Name(n)) => {
                let vertical = n.ends_with(b"-V");
                let e = if n.starts_with(b"Identity") {
                    CidEncoding::Identity
                } else if n.starts_with(b"Uni")
                    && (n.windows(4).any(|w| w == b"UCS2") || n.windows(5).any(|w| w == b"UTF16"))
                {
                    CidEncoding::Utf16
                } else {
                    CidEncoding::OtherPredefined
                };
                (e, vertical)
            }
            Some(Object::Stream(s)) => {
                let cmap = CMap::parse(
                    &lenient(stream_bytes(s, limits.max_stream_bytes, "encoding CMap"))?
                        .unwrap_or_default(),
                );
                let vertical = get_num(doc, &s.dict, b"WMode").unwrap_or(0.0) == 1.0
                    || cmap.usecmap.as_deref().is_some_and(|u| u.ends_with("-V"));
                if cmap.has_codespace() {
                    (CidEncoding::Embedded(cmap), vertical)
                } else {
                    (CidEncoding::Identity, vertical)
                }
            }
            _ => (CidEncoding::Identity, false),
        };
        let mut widths = Vec::new();
        let mut default_width = 1.0;
        let mut vertical_advance = -1.0;
        if let Some(d) = descendant {
            default_width = get_num(doc, d, b"DW").map_or(1.0, |w| w * EM);
            if let Some(dw2) = d.get(b"DW2").ok().and_then(|o| num_array::<2>(doc, o)) {
                vertical_advance = dw2[1] * EM;
            }
            if let Some(w) = get_array(doc, d, b"W") {
                let mut i = 0;
                while i < w.len() && widths.len() < 1 << 20 {
                    let Some(first) = num(doc, &w[i]) else {
                        i += 1;
                        continue;
                    };
                    let first = first.max(0.0) as u32;
                    match w.get(i + 1).and_then(|o| resolve(doc, o)) {
                        Some(Object::Array(list)) => {
                            for (k, v) in list.iter().enumerate() {
                                if let Some(v) = num(doc, v) {
                                    let cid = first.saturating_add(k as u32);
                                    widths.push((cid, cid, v * EM));
                                }
                            }
                            i += 2;
                        }
                        Some(_) => {
                            if let (Some(last), Some(v)) = (
                                w.get(i + 1).and_then(|o| num(doc, o)),
                                w.get(i + 2).and_then(|o| num(doc, o)),
                            ) {
                                widths.push((first, last.max(0.0) as u32, v * EM));
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        widths.sort_by_key(|w| w.0);
        Ok(Kind::Cid {
            encoding: Box::new(encoding),
            widths,
            default_width,
            vertical,
            vertical_advance,
        })
    }

    /// Whether the font writes vertically (advance goes down the page).
    pub(crate) fn vertical(&self) -> Option<f32> {
        match &self.kind {
            Kind::Cid {
                vertical: true,
                vertical_advance,
                ..
            } => Some(*vertical_advance),
            _ => None,
        }
    }

    /// Splits the next code off `bytes`: `(code, length in bytes)`. `bytes` is non-empty.
    pub(crate) fn next_code(&self, bytes: &[u8]) -> (u32, usize) {
        let len = match &self.kind {
            Kind::Simple { .. } => 1,
            Kind::Cid { encoding, .. } => match encoding.as_ref() {
                CidEncoding::Identity => 2,
                CidEncoding::Utf16 => {
                    if bytes.len() >= 4 && (0xd8..0xdc).contains(&bytes[0]) {
                        4
                    } else {
                        2
                    }
                }
                CidEncoding::Embedded(cmap) => cmap.code_len(bytes),
                CidEncoding::OtherPredefined => match &self.to_unicode {
                    Some(tu) if tu.has_codespace() => tu.code_len(bytes),
                    _ if bytes[0] < 0x80 => 1,
                    _ => 2,
                },
            },
        };
        let len = len.clamp(1, bytes.len());
        let code = bytes[..len]
            .iter()
            .fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        (code, len)
    }

    /// Appends the Unicode text of `code` to `out`; `false` if nothing maps it.
    pub(crate) fn unicode(&self, code: u32, out: &mut String) -> bool {
        if let Some(tu) = &self.to_unicode
            && tu.unicode(code, out)
        {
            return true;
        }
        match &self.kind {
            Kind::Simple { unicode, .. } => match unicode.get(code as usize) {
                Some(s) if !s.is_empty() => {
                    out.push_str(s);
                    true
                }
                _ => false,
            },
            Kind::Cid { encoding, .. } if matches!(**encoding, CidEncoding::Utf16) => {
                let units: Vec<u16> = if code > 0xffff {
                    vec![(code >> 16) as u16, code as u16]
                } else {
                    vec![code as u16]
                };
                match String::from_utf16(&units) {
                    Ok(s) => {
                        out.push_str(&s);
                        true
                    }
                    Err(_) => false,
                }
            }
            Kind::Cid { .. } => false,
        }
    }

    /// Horizontal advance of `code` in text-space units (before font size and scaling).
    pub(crate) fn width(&self, code: u32) -> f32 {
        match &self.kind {
            Kind::Simple { widths, .. } => widths.get(code as usize).copied().unwrap_or(0.0),
            Kind::Cid {
                encoding,
                widths,
                default_width,
                ..
            } => {
                let cid = match encoding.as_ref() {
                    CidEncoding::Identity => Some(code),
                    CidEncoding::Embedded(cmap) => cmap.cid(code),
                    _ => None,
                };
                let Some(cid) = cid else {
                    return *default_width;
                };
                // Entries are sorted by first CID; the last one starting at or before `cid`
                // that covers it wins.
                let end = widths.partition_point(|w| w.0 <= cid);
                widths[..end]
                    .iter()
                    .rev()
                    .take(64)
                    .find(|w| w.1 >= cid)
                    .map_or(*default_width, |w| w.2)
            }
        }
    }

    /// Whether a one-byte code 32 gets word spacing (`Tw`): simple fonts and one-byte codes.
    pub(crate) fn word_space_applies(&self, code: u32, len: usize) -> bool {
        code == 32 && len == 1
    }
}

/// A damaged font stream only costs its mapping; a decompression bomb still fails the page.
fn lenient(r: Result<Vec<u8>, PdfError>) -> Result<Option<Vec<u8>>, PdfError> {
    match r {
        Ok(b) => Ok(Some(b)),
        Err(e @ PdfError::StreamTooLarge { .. }) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Reads `dup <code> /<glyph> put` entries from the clear-text part of a Type 1 font program.
fn type1_builtin_encoding(program: &[u8], unicode: &mut [String; 256]) {
    use super::lexer::{Lexer, Operand, Step};
    let clear = program
        .windows(5)
        .position(|w| w == b"eexec")
        .map_or(program, |p| &program[..p]);
    let Some(start) = clear.windows(9).position(|w| w == b"/Encoding") else {
        return;
    };
    let mut lx = Lexer::new(&clear[start + 9..]);
    let mut stack = Vec::new();
    while let Some(step) = lx.next_op(&mut stack) {
        match step {
            Step::Op(b"put") => {
                if let [.., Operand::Number(code), Operand::Name(glyph)] = stack.as_slice()
                    && let Some(slot) = unicode.get_mut(*code as usize)
                    && let Some(u) = glyph_name_to_unicode(glyph)
                {
                    *slot = u;
                }
            }
            // `readonly def` ends the vector; `/Encoding StandardEncoding def` means Standard.
            Step::Op(b"def" | b"readonly" | b"StandardEncoding") => break,
            _ => {}
        }
        stack.clear();
    }
}
