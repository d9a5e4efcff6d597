//! A small tokenizer for content streams and CMaps.
//!
//! Why not `lopdf::content::Content::decode`: it builds a `Vec<Operation>` of fully owned
//! `lopdf::Object`s for the whole stream before anything is interpreted (an allocation per
//! operand), it gives up on the whole stream at the first syntax error, and inline image data
//! (`BI … ID <binary> EI`) has to be skipped with care. Interpreting straight from a borrowing
//! tokenizer is several times faster and lets us recover from junk byte by byte. The same
//! tokenizer reads ToUnicode CMaps, which are PostScript with the same lexical rules.

use std::borrow::Cow;

/// One operand of a content-stream operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand<'a> {
    /// Integer or real.
    Number(f32),
    /// A name without the leading `/`, `#xx` escapes decoded.
    Name(Cow<'a, [u8]>),
    /// A literal or hex string, decoded to bytes.
    Str(Cow<'a, [u8]>),
    /// An array (TJ, dash patterns, CMap ranges).
    Array(Vec<Operand<'a>>),
    /// A dictionary: key/value pairs (inline image parameters, marked-content properties).
    Dict(Vec<(Cow<'a, [u8]>, Operand<'a>)>),
    /// `true`, `false`, `null` and anything else we keep but never read.
    Other,
}

impl Operand<'_> {
    /// The number, if this is one.
    pub(crate) fn num(&self) -> Option<f32> {
        match self {
            Operand::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// Nesting bound for arrays and dictionaries, so `[[[[…` cannot recurse without end.
const MAX_NESTING: usize = 32;

/// A cursor over a content stream or CMap.
pub(crate) struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[inline]
fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

#[inline]
fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

#[inline]
fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delim(b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What [`Lexer::next_op`] found.
pub(crate) enum Step<'a> {
    /// An operator; its operands are on the stack passed in.
    Op(&'a [u8]),
    /// An inline image: its parameters and the raw data between `ID` and `EI`.
    InlineImage(Vec<(Cow<'a, [u8]>, Operand<'a>)>),
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lexer { buf, pos: 0 }
    }

    fn skip_white(&mut self) {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while self.pos < self.buf.len() && !matches!(self.buf[self.pos], b'\n' | b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads operands onto `stack` up to the next operator and returns it; `None` at the end.
    pub(crate) fn next_op(&mut self, stack: &mut Vec<Operand<'a>>) -> Option<Step<'a>> {
        loop {
            self.skip_white();
            let b = *self.buf.get(self.pos)?;
            if is_regular(b) && !(b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')) {
                let start = self.pos;
                while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                    self.pos += 1;
                }
                let word = &self.buf[start..self.pos];
                match word {
                    b"true" | b"false" | b"null" => stack.push(Operand::Other),
                    b"BI" => {
                        stack.clear();
                        return Some(Step::InlineImage(self.inline_image()));
                    }
                    _ => return Some(Step::Op(word)),
                }
                continue;
            }
            match self.operand(0) {
                Some(op) => stack.push(op),
                None => {
                    // A stray delimiter (`)`, `>`, `]`, `}`): skip it.
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads one operand at the cursor; `None` (cursor unmoved) if the byte does not start one.
    fn operand(&mut self, depth: usize) -> Option<Operand<'a>> {
        self.skip_white();
        let b = *self.buf.get(self.pos)?;
        match b {
            b'/' => {
                self.pos += 1;
                Some(Operand::Name(self.name()))
            }
            b'(' => {
                self.pos += 1;
                Some(Operand::Str(self.literal()))
            }
            b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                Some(self.dict(depth + 1, b">>"))
            }
            b'<' => {
                self.pos += 1;
                Some(Operand::Str(self.hex()))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_white();
                    match self.buf.get(self.pos) {
                        None => break,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {}
                    }
                    if depth >= MAX_NESTING {
                        self.pos += 1;
                        continue;
                    }
                    match self.operand(depth + 1) {
                        Some(o) => items.push(o),
                        None => {
                            // An operator-like word inside an array (`true`, junk): skip it.
                            let start = self.pos;
                            while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                                self.pos += 1;
                            }
                            if self.pos == start {
                                self.pos += 1;
                            }
                        }
                    }
                }
                Some(Operand::Array(items))
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => Some(Operand::Number(self.number())),
            _ => None,
        }
    }

    /// A dictionary body up to `end` (`>>`, or `ID` for inline images).
    fn dict(&mut self, depth: usize, end: &[u8]) -> Operand<'a> {
        let mut pairs = Vec::new();
        loop {
            self.skip_white();
            if self.pos >= self.buf.len() {
                break;
            }
            if self.buf[self.pos..].starts_with(end) {
                self.pos += end.len();
                break;
            }
            if self.buf[self.pos] != b'/' {
                // Not a key: skip one token and carry on.
                if depth >= MAX_NESTING || self.operand(depth).is_none() {
                    self.pos += 1;
                }
                continue;
            }
            self.pos += 1;
            let key = self.name();
            self.skip_white();
            let value = if depth >= MAX_NESTING {
                Operand::Other
            } else if let Some(v) = self.operand(depth) {
                v
            } else {
                // A keyword value (`true`) or junk: take the word.
                let start = self.pos;
                while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                    self.pos += 1;
                }
                if start == self.pos {
                    self.pos += 1;
                }
                Operand::Other
            };
            pairs.push((key, value));
        }
        Operand::Dict(pairs)
    }

    fn name(&mut self) -> Cow<'a, [u8]> {
        let start = self.pos;
        while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
            self.pos += 1;
        }
        let raw = &self.buf[start..self.pos];
        if !raw.contains(&b'#') {
            return Cow::Borrowed(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'#'
                && i + 2 < raw.len()
                && let (Some(h), Some(l)) = (hex_val(raw[i + 1]), hex_val(raw[i + 2]))
            {
                out.push(h << 4 | l);
                i += 3;
            } else {
                out.push(raw[i]);
                i += 1;
            }
        }
        Cow::Owned(out)
    }

    fn number(&mut self) -> f32 {
        let mut neg = false;
        let mut int: f64 = 0.0;
        let mut frac: f64 = 0.0;
        let mut scale: f64 = 1.0;
        let mut seen_dot = false;
        while let Some(&b) = self.buf.get(self.pos) {
            match b {
                b'-' if !seen_dot && int == 0.0 => neg = !neg,
                b'+' => {}
                b'.' if !seen_dot => seen_dot = true,
                b'0'..=b'9' => {
                    if seen_dot {
                        scale *= 0.1;
                        frac += f64::from(b - b'0') * scale;
                    } else {
                        int = int * 10.0 + f64::from(b - b'0');
                    }
                }
                _ if is_regular(b) => {} // junk like `1.2.3` or `5-`: ignore, as viewers do
                _ => break,
            }
            self.pos += 1;
        }
        let v = int + frac;
        let v = if neg { -v } else { v };
        // Clamp absurd values so later arithmetic stays finite.
        v.clamp(-1e9, 1e9) as f32
    }

    fn literal(&mut self) -> Cow<'a, [u8]> {
        let start = self.pos;
        let mut depth = 1usize;
        let mut simple = true;
        while self.pos < self.buf.len() {
            match self.buf[self.pos] {
                b'\\' => {
                    simple = false;
                    self.pos += 1;
                }
                b'\r' => simple = false,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.buf.len());
        let raw = &self.buf[start..end];
        self.pos = (end + 1).min(self.buf.len()); // past ')'
        if simple {
            return Cow::Borrowed(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            i += 1;
            match b {
                b'\\' if i < raw.len() => {
                    let c = raw[i];
                    i += 1;
                    match c {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if raw.get(i) == Some(&b'\n') {
                                i += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(c - b'0');
                            for _ in 0..2 {
                                match raw.get(i) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'\\' => {}
                b'\r' => {
                    // End-of-line in a literal string reads as `\n`.
                    if raw.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(b),
            }
        }
        Cow::Owned(out)
    }

    fn hex(&mut self) -> Cow<'a, [u8]> {
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if let Some(v) = hex_val(b) {
                match hi.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => hi = Some(v),
                }
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        Cow::Owned(out)
    }

    /// After `BI`: the parameters up to `ID`, then skips the data up to `EI`.
    fn inline_image(&mut self) -> Vec<(Cow<'a, [u8]>, Operand<'a>)> {
        let params = match self.dict(1, b"ID") {
            Operand::Dict(p) => p,
            _ => Vec::new(),
        };
        // One white-space byte follows `ID`; the data runs to an `EI` that stands alone.
        if self.pos < self.buf.len() && is_white(self.buf[self.pos]) {
            self.pos += 1;
        }
        let data_start = self.pos;
        let mut i = data_start;
        let n = self.buf.len();
        let mut found = n;
        while i + 1 < n {
            if self.buf[i] == b'E'
                && self.buf[i + 1] == b'I'
                && (i == data_start || is_white(self.buf[i - 1]))
                && (i + 2 >= n || is_white(self.buf[i + 2]) || is_delim(self.buf[i + 2]))
            {
                found = i;
                break;
            }
            i += 1;
        }
        self.pos = (found + 2).min(n);
        params
    }
}

#[cfg(test)]
mod lexer_tests {
    use super::*;

    fn ops(src: &[u8]) -> Vec<(String, Vec<Operand<'_>>)> {
        let mut lx = Lexer::new(src);
        let mut stack = Vec::new();
        let mut out = Vec::new();
        while let Some(step) = lx.next_op(&mut stack) {
            match step {
                Step::Op(op) => out.push((
                    String::from_utf8_lossy(op).into_owned(),
                    std::mem::take(&mut stack),
                )),
                Step::InlineImage(_) => out.push(("BI".into(), Vec::new())),
            }
        }
        out
    }

    #[test]
    fn tokenizes_operators_strings_and_inline_images() {
        let src = b"BT /F1#20x 12 Tf (a\\(b\\)\\101\\\nc) Tj [<0041> -250 (x)] TJ ET BI /W 2 /H 1 ID \x00EI\xff EI Q";
        let got = ops(src);
        let names: Vec<&str> = got.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(names, ["BT", "Tf", "Tj", "TJ", "ET", "BI", "Q"]);
        assert_eq!(got[1].1[0], Operand::Name(Cow::Borrowed(b"F1 x")));
        assert_eq!(got[1].1[1], Operand::Number(12.0));
        assert_eq!(got[2].1[0], Operand::Str(Cow::Borrowed(b"a(b)Ac")));
        match &got[3].1[0] {
            Operand::Array(items) => {
                assert_eq!(items[0], Operand::Str(Cow::Borrowed(b"\x00A")));
                assert_eq!(items[1], Operand::Number(-250.0));
            }
            other => panic!("expected array, got {other:?}"),
        }
    }

    #[test]
    fn numbers_are_lenient() {
        let got = ops(b"-.5 +3 1.25 --2 x");
        let nums: Vec<f32> = got[0].1.iter().filter_map(Operand::num).collect();
        assert_eq!(nums, [-0.5, 3.0, 1.25, 2.0]);
    }

    #[test]
    fn deep_nesting_and_truncation_terminate() {
        let mut deep = vec![b'['; 100_000];
        deep.extend_from_slice(b" Tj (unterminated");
        let got = ops(&deep);
        assert!(got.len() <= 2);
    }
}
