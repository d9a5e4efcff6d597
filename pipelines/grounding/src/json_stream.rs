//! Streaming reads of large annotation JSON: one array element at a time, never the whole
//! document as a tree, so memory does not grow with the file (Objects365's train JSON is
//! gigabytes; pycocotools holds all of it as Python objects).
//!
//! Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity` for non-finite floats, which
//! is not JSON, and one such token would make the whole file unreadable. [`NanTolerant`]
//! rewrites them (outside strings) to the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, which
//! [`number`] reads back as non-finite values, so only the annotation that holds one is
//! quarantined.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::GroundingError;

/// A reader that turns bare `NaN` / `Infinity` / `-Infinity` tokens into JSON strings.
pub struct NanTolerant<R> {
    inner: R,
    out: Vec<u8>,
    pos: usize,
    in_string: bool,
    escape: bool,
    in_word: bool,
    pending_minus: bool,
}

impl<R: BufRead> NanTolerant<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        NanTolerant {
            inner,
            out: Vec::new(),
            pos: 0,
            in_string: false,
            escape: false,
            in_word: false,
            pending_minus: false,
        }
    }

    fn push(&mut self, b: u8) {
        if self.pending_minus {
            self.pending_minus = false;
            if b == b'I' {
                self.out.extend_from_slice(b"\"-I");
                self.in_word = true;
                return;
            }
            self.out.push(b'-');
        }
        if self.in_string {
            self.out.push(b);
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return;
        }
        if self.in_word {
            if b.is_ascii_alphabetic() {
                self.out.push(b);
                return;
            }
            self.out.push(b'"');
            self.in_word = false;
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.out.push(b);
            }
            b'N' | b'I' => {
                self.out.push(b'"');
                self.out.push(b);
                self.in_word = true;
            }
            b'-' => self.pending_minus = true,
            _ => self.out.push(b),
        }
    }
}

impl<R: BufRead> Read for NanTolerant<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            let chunk = self.inner.fill_buf()?.to_vec();
            if chunk.is_empty() {
                if self.pending_minus {
                    self.pending_minus = false;
                    self.out.push(b'-');
                }
                if self.in_word {
                    self.in_word = false;
                    self.out.push(b'"');
                }
                if self.out.is_empty() {
                    return Ok(0);
                }
                break;
            }
            self.inner.consume(chunk.len());
            for b in chunk {
                self.push(b);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A number from JSON: a number, or one of the strings [`NanTolerant`] writes.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Opens a file for streaming through [`NanTolerant`].
pub fn open(path: &Path) -> Result<NanTolerant<BufReader<File>>, GroundingError> {
    let f = File::open(path).map_err(|e| GroundingError::io(path, e))?;
    Ok(NanTolerant::new(BufReader::with_capacity(1 << 16, f)))
}

fn bad(path: &Path, e: impl fmt::Display) -> GroundingError {
    GroundingError::Annotations {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Streams the elements of the arrays under `keys` of a top-level JSON object, calling
/// `f(key, element)` in file order; other keys are skipped without building them. An error
/// from `f` stops the stream and is returned as the file's error.
pub fn stream_object_arrays(
    path: &Path,
    keys: &[&str],
    mut f: impl FnMut(&str, Value) -> Result<(), String>,
) -> Result<(), GroundingError> {
    let mut de = serde_json::Deserializer::from_reader(open(path)?);
    TopLevel { keys, f: &mut f }
        .deserialize(&mut de)
        .map_err(|e| bad(path, e))?;
    de.end().map_err(|e| bad(path, e))
}

/// Streams a record file: a JSON array, a JSON object holding the records under one of
/// `keys`, or JSON Lines (one value per line); `f` gets each record in order.
pub fn stream_records(
    path: &Path,
    keys: &[&str],
    mut f: impl FnMut(Value) -> Result<(), String>,
) -> Result<(), GroundingError> {
    let mut reader = open(path)?;
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    if jsonl {
        let stream = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
        for v in stream {
            f(v.map_err(|e| bad(path, e))?).map_err(|e| bad(path, e))?;
        }
        return Ok(());
    }
    // Peek at the first non-blank byte to tell an array from an object.
    let mut first = [0u8; 1];
    let mut skipped = Vec::new();
    loop {
        if reader
            .read(&mut first)
            .map_err(|e| GroundingError::io(path, e))?
            == 0
        {
            return Err(bad(path, "empty file"));
        }
        skipped.push(first[0]);
        if !first[0].is_ascii_whitespace() {
            break;
        }
    }
    let chained = std::io::Cursor::new(skipped).chain(reader);
    let mut de = serde_json::Deserializer::from_reader(chained);
    match first[0] {
        b'[' => {
            Elements {
                key: "",
                f: &mut |_: &str, v| f(v),
            }
            .deserialize(&mut de)
            .map_err(|e| bad(path, e))?;
        }
        b'{' => {
            let mut found = false;
            TopLevel {
                keys,
                f: &mut |_: &str, v| {
                    found = true;
                    f(v)
                },
            }
            .deserialize(&mut de)
            .map_err(|e| bad(path, e))?;
            if !found {
                return Err(bad(
                    path,
                    format!(
                        "a JSON object without records under any of {}",
                        keys.join(", ")
                    ),
                ));
            }
        }
        other => {
            return Err(bad(
                path,
                format!("expected a JSON array or object, found `{}`", other as char),
            ));
        }
    }
    de.end().map_err(|e| bad(path, e))
}

type Sink<'a> = &'a mut dyn FnMut(&str, Value) -> Result<(), String>;

struct TopLevel<'a, 'k> {
    keys: &'k [&'k str],
    f: Sink<'a>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object with the arrays {}", self.keys.join(", "))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if let Some(k) = self.keys.iter().find(|k| **k == key) {
                map.next_value_seed(Elements {
                    key: k,
                    f: &mut *self.f,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Elements<'a, 'k> {
    key: &'k str,
    f: Sink<'a>,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "a list")
        } else {
            write!(f, "`{}` to be a list", self.key)
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.f)(self.key, v).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolerant(s: &str) -> String {
        let mut out = String::new();
        NanTolerant::new(s.as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn non_finite_tokens_become_strings_outside_strings_only() {
        assert_eq!(
            tolerant(r#"{"a": [NaN, -Infinity, Infinity, -1.5e3], "b": "NaN -Inf", "c": null}"#),
            r#"{"a": ["NaN", "-Infinity", "Infinity", -1.5e3], "b": "NaN -Inf", "c": null}"#
        );
        assert_eq!(tolerant(r#"["x\"NaN", NaN]"#), r#"["x\"NaN", "NaN"]"#);
        assert_eq!(tolerant("NaN"), "\"NaN\"");
        let v: Value = serde_json::from_str(&tolerant("[NaN, 1, -Infinity]")).unwrap();
        let nums: Vec<f64> = v.as_array().unwrap().iter().filter_map(number).collect();
        assert!(nums[0].is_nan() && nums[1] == 1.0 && nums[2] == f64::NEG_INFINITY);
    }

    #[test]
    fn object_arrays_stream_in_order_and_skip_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(
            &p,
            r#"{"info": {"big": [1,2,3]}, "annotations": [{"id": 1, "bbox": [NaN, 0, 1, 1]}, {"id": 2}], "images": [{"id": 9}]}"#,
        )
        .unwrap();
        let mut seen = Vec::new();
        stream_object_arrays(&p, &["images", "annotations"], |k, v| {
            seen.push(format!("{k}:{}", v["id"]));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["annotations:1", "annotations:2", "images:9"]);
    }

    #[test]
    fn broken_files_name_the_file_and_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.json");
        std::fs::write(&p, "{\"images\": [{\"id\": 1},\n {\"id\": ").unwrap();
        let err = stream_object_arrays(&p, &["images"], |_, _| Ok(())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let p2 = dir.path().join("list.json");
        std::fs::write(&p2, "{\"images\": 5}").unwrap();
        let err = stream_object_arrays(&p2, &["images"], |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("`images` to be a list"), "{err}");
    }

    #[test]
    fn record_files_in_three_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("a.json", "  [{\"n\": 1}, {\"n\": 2}]"),
            (
                "b.json",
                "{\"meta\": 1, \"refs\": [{\"n\": 1}, {\"n\": 2}]}",
            ),
            ("c.jsonl", "{\"n\": 1}\n\n{\"n\": 2}\n"),
        ];
        for (name, text) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let mut ns = Vec::new();
            stream_records(&p, &["refs"], |v| {
                ns.push(v["n"].as_i64().unwrap());
                Ok(())
            })
            .unwrap();
            assert_eq!(ns, [1, 2], "{name}");
        }
        let p = dir.path().join("d.json");
        std::fs::write(&p, "{\"other\": []}").unwrap();
        assert!(stream_records(&p, &["refs"], |_| Ok(())).is_err());
    }
}
