//! Simple-font encodings: code → glyph name → Unicode.
//!
//! A simple font's /Encoding is a base encoding (WinAnsi, MacRoman, Standard, PDFDoc, or the
//! font's built-in one) patched by /Differences, which name glyphs. Glyph names become Unicode
//! through the Adobe Glyph List plus its naming rules (`uniXXXX`, `uXXXX[XX]`, ligature parts
//! joined by `_`, suffixes after `.` dropped) and two conventions of TeX/Type3 fonts (`gXX`
//! hex, `cDD` decimal) that pdf.js and MuPDF also honour.

use super::glyph_tables::{
    GLYPH_LIST, MAC_EXPERT_ENCODING, MAC_ROMAN_ENCODING, PDF_DOC_ENCODING, STANDARD_ENCODING,
    SYMBOL_ENCODING, WIN_ANSI_ENCODING,
};

/// A named base encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseEncoding {
    /// /StandardEncoding (the Type 1 default).
    Standard,
    /// /WinAnsiEncoding.
    WinAnsi,
    /// /MacRomanEncoding.
    MacRoman,
    /// /MacExpertEncoding.
    MacExpert,
    /// PDFDocEncoding (text strings; some producers name it).
    PdfDoc,
    /// The Symbol font's built-in encoding.
    Symbol,
}

impl BaseEncoding {
    /// The encoding a /BaseEncoding or /Encoding name denotes.
    pub(crate) fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"StandardEncoding" => BaseEncoding::Standard,
            b"WinAnsiEncoding" => BaseEncoding::WinAnsi,
            b"MacRomanEncoding" => BaseEncoding::MacRoman,
            b"MacExpertEncoding" => BaseEncoding::MacExpert,
            b"PDFDocEncoding" => BaseEncoding::PdfDoc,
            _ => return None,
        })
    }

    /// Code → UTF-16 unit (0: none).
    pub(crate) fn table(self) -> &'static [u16; 256] {
        match self {
            BaseEncoding::Standard => &STANDARD_ENCODING,
            BaseEncoding::WinAnsi => &WIN_ANSI_ENCODING,
            BaseEncoding::MacRoman => &MAC_ROMAN_ENCODING,
            BaseEncoding::MacExpert => &MAC_EXPERT_ENCODING,
            BaseEncoding::PdfDoc => &PDF_DOC_ENCODING,
            BaseEncoding::Symbol => &SYMBOL_ENCODING,
        }
    }
}

fn agl(name: &str) -> Option<char> {
    GLYPH_LIST
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .and_then(|i| char::from_u32(u32::from(GLYPH_LIST[i].1)))
}

fn hex_chars(s: &str, group: usize) -> Option<String> {
    if s.is_empty() || !s.len().is_multiple_of(group) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::new();
    for i in (0..s.len()).step_by(group) {
        let v = u32::from_str_radix(&s[i..i + group], 16).ok()?;
        // `uniXXXX` excludes surrogates.
        out.push(char::from_u32(v)?);
    }
    Some(out)
}

fn component(name: &str) -> Option<String> {
    if let Some(c) = agl(name) {
        return Some(c.to_string());
    }
    if let Some(rest) = name.strip_prefix("uni") {
        return hex_chars(rest, 4);
    }
    if let Some(rest) = name.strip_prefix('u')
        && (4..=6).contains(&rest.len())
    {
        return hex_chars(rest, rest.len());
    }
    let b = name.as_bytes();
    if b.len() == 3 && matches!(b[0], b'g' | b'G') {
        let v = u32::from_str_radix(&name[1..], 16).ok()?;
        return char::from_u32(v)
            .filter(|c| !c.is_control())
            .map(String::from);
    }
    if (3..=4).contains(&b.len())
        && matches!(b[0], b'c' | b'C')
        && b[1..].iter().all(u8::is_ascii_digit)
    {
        let v: u32 = name[1..].parse().ok()?;
        return char::from_u32(v)
            .filter(|c| !c.is_control())
            .map(String::from);
    }
    None
}

/// Unicode for a glyph name, following the Adobe Glyph List specification.
pub(crate) fn glyph_name_to_unicode(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if !base.contains('_') {
        return component(base);
    }
    let mut out = String::new();
    for part in base.split('_') {
        out.push_str(&component(part)?);
    }
    Some(out)
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn glyph_names_follow_the_agl_rules() {
        let g = |n: &str| glyph_name_to_unicode(n.as_bytes());
        assert_eq!(g("A").as_deref(), Some("A"));
        assert_eq!(g("eacute").as_deref(), Some("é"));
        assert_eq!(g("uni4E2D").as_deref(), Some("中"));
        assert_eq!(g("uni00410042").as_deref(), Some("AB"));
        assert_eq!(g("u1D400").as_deref(), Some("𝐀"));
        assert_eq!(g("f_i").as_deref(), Some("fi"));
        assert_eq!(g("a.sc").as_deref(), Some("a"));
        assert_eq!(g("g41").as_deref(), Some("A"));
        assert_eq!(g("c65").as_deref(), Some("A"));
        assert_eq!(g("uniD800"), None);
        assert_eq!(g("notaglyph"), None);
    }

    #[test]
    fn base_tables_differ_where_the_spec_says() {
        assert_eq!(BaseEncoding::WinAnsi.table()[0x80], 0x20ac); // Euro
        assert_eq!(BaseEncoding::MacRoman.table()[0x80], 0x00c4); // Adieresis
        assert_eq!(BaseEncoding::Standard.table()[0x27], 0x2019); // quoteright
        assert_eq!(
            BaseEncoding::from_name(b"WinAnsiEncoding"),
            Some(BaseEncoding::WinAnsi)
        );
    }
}
