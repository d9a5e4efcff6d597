//! Problem sets: exercises from JSONL or Parquet — `question` (or `problem`), `answer`,
//! optional `choices`, optional images (`image` / `images`: paths relative to the file for
//! JSONL; binary or `{bytes}` columns for Parquet), optional `id`, `solution`, `verifier` —
//! normalised into one sample each, with the answer contract ([`crate::query`]) in `meta`.
//!
//! Bad rows are reported with a reason the stage quarantines them under: `malformed_row`
//! (not JSON, not an object, wrong types), `missing_question`, `missing_answer`, `bad_image`
//! (unreadable or undecodable, fully decoded to catch truncation), `bad_choices`.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use serde_json::{Map, Value, json};
use weft_shards::{Content, Image, Message, Sample};

use crate::query::{Query, VerifierKind, letter};
use crate::verify::{choice_index, numeric};

/// A record from a problem file: its fields and any embedded image bytes.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// Scalar fields (strings, numbers, lists of strings, image paths).
    pub fields: Map<String, Value>,
    /// Images embedded in the file (Parquet).
    pub images: Vec<Vec<u8>>,
}

/// Why a row was refused: reason (quarantine key) and message.
pub type Refusal = (&'static str, String);

fn text_field(fields: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>, Refusal> {
    for k in keys {
        match fields.get(*k) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(other) => {
                return Err((
                    "malformed_row",
                    format!("`{k}` must be a string or number, not {other}"),
                ));
            }
        }
    }
    Ok(None)
}

fn image_paths(fields: &Map<String, Value>) -> Result<Vec<String>, Refusal> {
    let mut out = Vec::new();
    for k in ["image", "images"] {
        match fields.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.push(s.clone()),
            Some(Value::Array(a)) => {
                for v in a {
                    out.push(
                        v.as_str()
                            .ok_or(("malformed_row", format!("`{k}` entries must be paths")))?
                            .to_string(),
                    );
                }
            }
            Some(other) => return Err(("malformed_row", format!("`{k}` is not a path: {other}"))),
        }
    }
    Ok(out)
}

/// Turns one row into a sample. `dir` is the folder image paths are relative to; `key` names
/// the row (`file:line`) for ids and messages.
pub fn to_sample(row: RawRow, dir: &Path, source: &str, key: &str) -> Result<Sample, Refusal> {
    let f = &row.fields;
    let question = text_field(f, &["question", "problem"])?.ok_or((
        "missing_question",
        "no `question` (or `problem`)".to_string(),
    ))?;
    let answer = text_field(f, &["answer", "final_answer"])?
        .ok_or(("missing_answer", "no `answer`".to_string()))?;
    let choices: Vec<String> = match f.get("choices").or_else(|| f.get("options")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(("bad_choices", "choices must be strings".to_string())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(("bad_choices", "`choices` must be a list".into())),
    };
    let mut images = Vec::new();
    for p in image_paths(f)? {
        let path = dir.join(&p);
        let bytes =
            std::fs::read(&path).map_err(|e| ("bad_image", format!("{}: {e}", path.display())))?;
        images.push((bytes, Some(p)));
    }
    for b in row.images {
        images.push((b, None));
    }
    let mut imgs = Vec::new();
    for (bytes, path) in images {
        weft_shards::image_check::check_image(&bytes).map_err(|e| {
            (
                "bad_image",
                format!(
                    "{}: {e}",
                    path.clone().unwrap_or_else(|| "embedded image".into())
                ),
            )
        })?;
        imgs.push(Image::from_encoded(bytes, path).map_err(|e| ("bad_image", e.to_string()))?);
    }
    let query = if !choices.is_empty() {
        if choices.len() < 2 {
            return Err((
                "bad_choices",
                "a choice question needs two or more choices".into(),
            ));
        }
        let i = choice_index(&answer, &choices).ok_or((
            "missing_answer",
            format!(
                "answer {answer:?} names none of the {} choices",
                choices.len()
            ),
        ))?;
        let mut q = Query::new(VerifierKind::Choice, letter(i).to_string());
        q.choices = choices.clone();
        q
    } else {
        let forced = match f.get("verifier").and_then(Value::as_str) {
            Some(v) => Some(
                VerifierKind::parse(v)
                    .ok_or(("malformed_row", format!("unknown verifier {v:?}")))?,
            ),
            None => None,
        };
        let kind = forced.unwrap_or(if numeric::parse(&answer).is_some() {
            VerifierKind::Numeric
        } else {
            VerifierKind::String
        });
        if kind == VerifierKind::Grounding || kind == VerifierKind::Choice {
            return Err((
                "malformed_row",
                format!("verifier {} needs its own fields", kind.name()),
            ));
        }
        Query::new(kind, answer.clone())
    };
    let mut prompt = question.clone();
    for (i, c) in choices.iter().enumerate() {
        prompt.push_str(&format!("\n{}. {c}", letter(i)));
    }
    let mut user: Vec<Content> = (0..imgs.len())
        .map(|i| Content::Image { index: i as u32 })
        .collect();
    user.push(Content::text(prompt));
    let solution = text_field(f, &["solution", "rationale"])?;
    let reply = solution.clone().unwrap_or_else(|| answer.clone());
    let mut meta = Map::new();
    meta.insert("record".into(), json!(key));
    if let Some(id) = text_field(f, &["id"])? {
        meta.insert("problem_id".into(), json!(id));
    }
    if let Some(s) = f.get("source").and_then(Value::as_str) {
        meta.insert("origin".into(), json!(s));
    }
    if solution.is_some() {
        meta.insert("has_solution".into(), json!(true));
    }
    query.write(&mut meta);
    let task = if imgs.is_empty() {
        "stem_problem"
    } else {
        "stem_problem_mm"
    };
    Ok(Sample::new(
        task,
        source,
        vec![
            Message::new("user", user),
            Message::new("assistant", vec![Content::text(reply)]),
        ],
        imgs,
        Vec::new(),
        meta,
    ))
}

/// Rows of a JSONL file: `(line number, row or refusal)`; blank lines are skipped.
pub fn read_jsonl(text: &str) -> Vec<(usize, Result<RawRow, Refusal>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let row = match serde_json::from_str::<Value>(l) {
                Ok(Value::Object(fields)) => Ok(RawRow {
                    fields,
                    images: Vec::new(),
                }),
                Ok(other) => Err(("malformed_row", format!("not a JSON object: {other}"))),
                Err(e) => Err(("malformed_row", format!("bad JSON: {e}"))),
            };
            (i + 1, row)
        })
        .collect()
}

fn binaries(col: &dyn Array, row: usize) -> Vec<Vec<u8>> {
    if col.is_null(row) {
        return Vec::new();
    }
    match col.data_type() {
        DataType::Binary => vec![col.as_binary::<i32>().value(row).to_vec()],
        DataType::LargeBinary => vec![col.as_binary::<i64>().value(row).to_vec()],
        DataType::Struct(_) => {
            let s = col.as_struct();
            s.column_by_name("bytes")
                .map(|b| binaries(b.as_ref(), row))
                .unwrap_or_default()
        }
        DataType::List(_) => {
            let l = col.as_list::<i32>().value(row);
            (0..l.len()).flat_map(|i| binaries(l.as_ref(), i)).collect()
        }
        _ => Vec::new(),
    }
}

fn scalar(col: &dyn Array, row: usize) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::List(_) => {
            let l = col.as_list::<i32>().value(row);
            Value::Array((0..l.len()).map(|i| scalar(l.as_ref(), i)).collect())
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => {
            let s = arrow::compute::cast(&col.slice(row, 1), &DataType::Utf8)
                .ok()
                .and_then(|a| a.as_string_opt::<i32>().map(|s| s.value(0).to_string()));
            match s {
                Some(s) => Value::String(s),
                None => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// Rows of a Parquet record batch: text columns become fields, binary image columns
/// (`image`, `images`: binary, `{bytes}` structs or lists of them) become embedded images.
pub fn rows_of_batch(batch: &RecordBatch) -> Vec<RawRow> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|r| {
            let mut row = RawRow::default();
            for (i, field) in schema.fields().iter().enumerate() {
                let col = batch.column(i);
                let name = field.name().as_str();
                if name == "image" || name == "images" {
                    row.images.extend(binaries(col.as_ref(), r));
                } else {
                    row.fields.insert(name.to_string(), scalar(col.as_ref(), r));
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(j: &str) -> Result<Sample, Refusal> {
        let r = read_jsonl(j).pop().unwrap().1?;
        to_sample(r, Path::new("/nonexistent"), "t", "f:1")
    }

    #[test]
    fn rows_normalise_or_are_refused_with_a_reason() {
        let s = row(r#"{"question": "2+2?", "answer": 4}"#).unwrap();
        assert_eq!(s.meta["verifier"], "numeric");
        assert_eq!(s.meta["answer"], "4");
        let s = row(r#"{"problem": "Domain?", "answer": "[2,5)"}"#).unwrap();
        assert_eq!(s.meta["verifier"], "string");
        let s = row(r#"{"question": "Q", "answer": "blue", "choices": ["red", "blue"]}"#).unwrap();
        assert_eq!(s.meta["answer"], "B");
        assert_eq!(s.meta["verifier"], "choice");
        let reason = |j: &str| row(j).unwrap_err().0;
        assert_eq!(reason("{not json"), "malformed_row");
        assert_eq!(reason("[1, 2]"), "malformed_row");
        assert_eq!(reason(r#"{"question": "Q"}"#), "missing_answer");
        assert_eq!(
            reason(r#"{"question": "Q", "answer": "  "}"#),
            "missing_answer"
        );
        assert_eq!(reason(r#"{"answer": "4"}"#), "missing_question");
        assert_eq!(
            reason(r#"{"question": "Q", "answer": "4", "image": "x.png"}"#),
            "bad_image"
        );
        assert_eq!(
            reason(r#"{"question": "Q", "answer": "purple", "choices": ["red", "blue"]}"#),
            "missing_answer"
        );
        assert_eq!(
            reason(r#"{"question": ["Q"], "answer": "4"}"#),
            "malformed_row"
        );
    }
}
