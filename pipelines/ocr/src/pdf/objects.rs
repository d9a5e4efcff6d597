//! Small, panic-free accessors over lopdf's object model.
//!
//! lopdf's typed getters return `Result` with an error per wrong type, and do not follow
//! references inside arrays; PDFs in the wild put references anywhere (array elements,
//! numbers, names). These helpers follow references (bounded, so cycles end) and turn every
//! surprise into `None`, which callers treat as "absent".

use lopdf::{Dictionary, Document, Object, Stream};

use super::error::PdfError;

/// Follows up to 16 references; `None` for a dangling reference or a cycle.
pub(crate) fn resolve<'a>(doc: &'a Document, mut obj: &'a Object) -> Option<&'a Object> {
    for _ in 0..16 {
        match obj {
            Object::Reference(id) => obj = doc.objects.get(id)?,
            other => return Some(other),
        }
    }
    None
}

/// `dict[key]`, references followed.
pub(crate) fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    resolve(doc, dict.get(key).ok()?)
}

/// `dict[key]` as a dictionary (a stream's dictionary counts).
pub(crate) fn get_dict<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    as_dict(get(doc, dict, key)?)
}

/// The dictionary of a dictionary or stream object.
pub(crate) fn as_dict(obj: &Object) -> Option<&Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// `dict[key]` as an array.
pub(crate) fn get_array<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Vec<Object>> {
    match get(doc, dict, key)? {
        Object::Array(a) => Some(a),
        _ => None,
    }
}

/// `dict[key]` as a name.
pub(crate) fn get_name<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a [u8]> {
    match get(doc, dict, key)? {
        Object::Name(n) => Some(n),
        _ => None,
    }
}

/// A number (integer or real), references followed; non-finite values are refused.
pub(crate) fn num(doc: &Document, obj: &Object) -> Option<f32> {
    let v = match resolve(doc, obj)? {
        Object::Integer(i) => *i as f32,
        Object::Real(r) => *r,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

/// `dict[key]` as a number.
pub(crate) fn get_num(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<f32> {
    num(doc, dict.get(key).ok()?)
}

/// An array of numbers of exactly `N` elements.
pub(crate) fn num_array<const N: usize>(doc: &Document, obj: &Object) -> Option<[f32; N]> {
    let Object::Array(a) = resolve(doc, obj)? else {
        return None;
    };
    if a.len() != N {
        return None;
    }
    let mut out = [0.0; N];
    for (o, v) in out.iter_mut().zip(a) {
        *o = num(doc, v)?;
    }
    Some(out)
}

/// The decoded bytes of a stream, refusing to inflate past `limit`.
///
/// lopdf's `decompressed_content` has no cap; `decompressed_content_with_limit` stops at
/// `limit + 1` bytes without allocating the rest. An unfiltered stream is bounded the same way.
pub(crate) fn stream_bytes(stream: &Stream, limit: u64, what: &str) -> Result<Vec<u8>, PdfError> {
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let too_large = || PdfError::StreamTooLarge {
        what: what.to_string(),
        limit,
    };
    let declared = stream
        .dict
        .get(b"Length")
        .ok()
        .and_then(|l| l.as_i64().ok())
        .unwrap_or(0);
    if u64::try_from(declared).unwrap_or(0) > limit || stream.content.len() > cap {
        return Err(too_large());
    }
    let filtered = stream.dict.has(b"Filter");
    if !filtered {
        return Ok(stream.content.clone());
    }
    match stream.decompressed_content_with_limit(cap) {
        Ok(bytes) => Ok(bytes),
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
            Err(too_large())
        }
        Err(e) => Err(PdfError::Corrupt(format!("{what}: {e}"))),
    }
}

/// Converts a PDF text string (PDFDocEncoding or UTF-16 with BOM) to a `String`.
pub(crate) fn text_string(obj: &Object) -> Option<String> {
    let Object::String(bytes, _) = obj else {
        return None;
    };
    let s = match bytes.as_slice() {
        [0xfe, 0xff, rest @ ..] => super::cmap::utf16be_to_string(rest),
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        other => {
            let table = super::encoding::BaseEncoding::PdfDoc.table();
            other
                .iter()
                .map(|&b| match table[usize::from(b)] {
                    0 => char::from(b),
                    u => char::from_u32(u32::from(u)).unwrap_or('\u{fffd}'),
                })
                .collect()
        }
    };
    let s = s.trim_matches(char::from(0)).trim().to_string();
    (!s.is_empty()).then_some(s)
}
