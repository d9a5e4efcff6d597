//! CMaps: ToUnicode maps (code → text) and embedded encoding CMaps (code → CID).
//!
//! Both share one parser. Codes are split by the CMap's codespace ranges, which is what makes
//! mixed one/two-byte CJK encodings readable; lopdf's own ToUnicode handling is only reachable
//! through `extract_text`, which loses CJK characters, so we parse CMaps ourselves.
//! Ranges are stored unexpanded, so a hostile `<00000000> <FFFFFFFF>` range costs nothing.

use std::collections::HashMap;

use super::lexer::{Lexer, Operand, Step};

/// One codespace range: codes of `len` bytes whose every byte lies within `lo..=hi`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Codespace {
    len: u8,
    lo: [u8; 4],
    hi: [u8; 4],
}

/// Destination of a `bfrange`.
#[derive(Debug, Clone, PartialEq)]
enum RangeDst {
    /// UTF-16 units; the last unit is incremented by `code - lo`.
    Incr(Vec<u16>),
    /// One string per code.
    List(Vec<String>),
}

/// A parsed CMap.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CMap {
    pub(crate) codespace: Vec<Codespace>,
    uni_single: HashMap<u32, String>,
    uni_ranges: Vec<(u32, u32, RangeDst)>,
    cid_single: HashMap<u32, u32>,
    cid_ranges: Vec<(u32, u32, u32)>,
    /// Name given to `usecmap`, if any (predefined parent CMap).
    pub(crate) usecmap: Option<String>,
}

fn code_of(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, &b| acc << 8 | u32::from(b))
}

/// UTF-16BE bytes to a string; a dangling odd byte is taken as Latin-1 (seen in broken CMaps).
pub(crate) fn utf16be_to_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let mut s = String::from_utf16_lossy(&units);
    if bytes.len() % 2 == 1 {
        s.push(char::from(bytes[bytes.len() - 1]));
    }
    s
}

fn units_of(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return vec![u16::from(bytes[0])];
    }
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// Bound on `bfrange` list lengths and entries kept, against CMaps made to exhaust memory.
const MAX_ENTRIES: usize = 1 << 20;

impl CMap {
    /// Parses CMap source; junk is skipped, never fatal.
    pub(crate) fn parse(src: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lx = Lexer::new(src);
        let mut stack: Vec<Operand<'_>> = Vec::new();
        let mut entries = 0usize;
        while let Some(step) = lx.next_op(&mut stack) {
            let Step::Op(op) = step else {
                stack.clear();
                continue;
            };
            match op {
                b"endcodespacerange" => {
                    for pair in stack.chunks_exact(2) {
                        if let (Operand::Str(lo), Operand::Str(hi)) = (&pair[0], &pair[1]) {
                            let len = lo.len().min(4);
                            if len == 0 || hi.len() != lo.len() {
                                continue;
                            }
                            let mut c = Codespace {
                                len: len as u8,
                                lo: [0; 4],
                                hi: [0; 4],
                            };
                            c.lo[..len].copy_from_slice(&lo[..len]);
                            c.hi[..len].copy_from_slice(&hi[..len]);
                            cmap.codespace.push(c);
                        }
                    }
                }
                b"endbfchar" => {
                    for pair in stack.chunks_exact(2) {
                        let dst = match &pair[1] {
                            Operand::Str(s) => utf16be_to_string(s),
                            Operand::Name(n) => {
                                super::encoding::glyph_name_to_unicode(n).unwrap_or_default()
                            }
                            _ => continue,
                        };
                        if let Operand::Str(src) = &pair[0]
                            && entries < MAX_ENTRIES
                        {
                            entries += 1;
                            cmap.uni_single.insert(code_of(src), dst);
                        }
                    }
                }
                b"endbfrange" => {
                    for t in stack.chunks_exact(3) {
                        let (Operand::Str(lo), Operand::Str(hi)) = (&t[0], &t[1]) else {
                            continue;
                        };
                        let (lo, hi) = (code_of(lo), code_of(hi));
                        if hi < lo || entries >= MAX_ENTRIES {
                            continue;
                        }
                        let dst = match &t[2] {
                            Operand::Str(s) => RangeDst::Incr(units_of(s)),
                            Operand::Array(items) => RangeDst::List(
                                items
                                    .iter()
                                    .take(MAX_ENTRIES)
                                    .map(|i| match i {
                                        Operand::Str(s) => utf16be_to_string(s),
                                        _ => String::new(),
                                    })
                                    .collect(),
                            ),
                            _ => continue,
                        };
                        entries += 1;
                        cmap.uni_ranges.push((lo, hi, dst));
                    }
                }
                b"endcidchar" => {
                    for pair in stack.chunks_exact(2) {
                        if let (Operand::Str(src), Some(cid)) = (&pair[0], pair[1].num())
                            && entries < MAX_ENTRIES
                        {
                            entries += 1;
                            cmap.cid_single.insert(code_of(src), cid.max(0.0) as u32);
                        }
                    }
                }
                b"endcidrange" => {
                    for t in stack.chunks_exact(3) {
                        if let (Operand::Str(lo), Operand::Str(hi), Some(cid)) =
                            (&t[0], &t[1], t[2].num())
                            && entries < MAX_ENTRIES
                        {
                            entries += 1;
                            cmap.cid_ranges
                                .push((code_of(lo), code_of(hi), cid.max(0.0) as u32));
                        }
                    }
                }
                b"usecmap" => {
                    if let Some(Operand::Name(n)) = stack.last() {
                        cmap.usecmap = Some(String::from_utf8_lossy(n).into_owned());
                    }
                }
                _ => {}
            }
            stack.clear();
        }
        // Later ranges win over earlier ones in viewers; search newest first.
        cmap.uni_ranges.reverse();
        cmap
    }

    /// Whether the CMap has any codespace ranges.
    pub(crate) fn has_codespace(&self) -> bool {
        !self.codespace.is_empty()
    }

    /// Length in bytes of the code starting at `bytes[0]`, by the codespace ranges. A byte
    /// sequence that matches no range consumes the shortest codespace length (at least one).
    pub(crate) fn code_len(&self, bytes: &[u8]) -> usize {
        let mut min_len = 4usize;
        for n in 1..=4usize {
            if n > bytes.len() {
                break;
            }
            for c in &self.codespace {
                if usize::from(c.len) != n {
                    continue;
                }
                min_len = min_len.min(n);
                if (0..n).all(|i| bytes[i] >= c.lo[i] && bytes[i] <= c.hi[i]) {
                    return n;
                }
            }
        }
        if self.codespace.is_empty() {
            1
        } else {
            min_len.min(bytes.len()).max(1)
        }
    }

    /// Appends the text for `code`; `false` if the CMap has no entry.
    pub(crate) fn unicode(&self, code: u32, out: &mut String) -> bool {
        if let Some(s) = self.uni_single.get(&code) {
            out.push_str(s);
            return true;
        }
        for (lo, hi, dst) in &self.uni_ranges {
            if code < *lo || code > *hi {
                continue;
            }
            let off = code - lo;
            match dst {
                RangeDst::Incr(units) => {
                    let Some((last, head)) = units.split_last() else {
                        return false;
                    };
                    let mut u = head.to_vec();
                    // Overflow past the last unit carries nowhere; viewers wrap the same way.
                    u.push(last.wrapping_add(off as u16));
                    out.push_str(&String::from_utf16_lossy(&u));
                    return true;
                }
                RangeDst::List(items) => {
                    return match items.get(off as usize) {
                        Some(s) => {
                            out.push_str(s);
                            true
                        }
                        None => false,
                    };
                }
            }
        }
        false
    }

    /// Whether the CMap maps any code to text.
    pub(crate) fn has_unicode(&self) -> bool {
        !self.uni_single.is_empty() || !self.uni_ranges.is_empty()
    }

    /// The CID for `code` from `cidchar`/`cidrange`, if any.
    pub(crate) fn cid(&self, code: u32) -> Option<u32> {
        if let Some(c) = self.cid_single.get(&code) {
            return Some(*c);
        }
        self.cid_ranges
            .iter()
            .rev()
            .find(|(lo, hi, _)| code >= *lo && code <= *hi)
            .map(|(lo, _, base)| base + (code - lo))
    }
}

#[cfg(test)]
mod cmap_tests {
    use super::*;

    const SRC: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def /CMapType 2 def
2 begincodespacerange <00> <80> <8140> <FEFE> endcodespacerange
2 beginbfchar <41> <0042> <8140> <4E2D> endbfchar
2 beginbfrange <0061> <0063> <0041> <8150> <8151> [<00660069> <D835DC00>] endbfrange
1 begincidrange <8141> <8143> 100 endcidrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn parses_bfchar_bfrange_and_codespace() {
        let c = CMap::parse(SRC);
        assert_eq!(c.code_len(b"\x41\x81"), 1);
        assert_eq!(c.code_len(b"\x81\x40"), 2);
        let mut s = String::new();
        assert!(c.unicode(0x41, &mut s));
        assert!(c.unicode(0x8140, &mut s));
        assert!(c.unicode(0x62, &mut s));
        assert!(c.unicode(0x8150, &mut s));
        assert!(c.unicode(0x8151, &mut s));
        assert!(!c.unicode(0x8152, &mut s));
        assert_eq!(s, "B中Bfi𝐀");
        assert_eq!(c.cid(0x8142), Some(101));
        assert_eq!(c.cid(0x8144), None);
    }
}
