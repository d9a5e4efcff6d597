//! The answer contract: what every STEM sample carries in `meta` so the pass-rate filter can
//! check a model's response without knowing where the sample came from.
//!
//! | key | meaning |
//! |---|---|
//! | `verifier` | `numeric`, `choice`, `string` or `grounding` |
//! | `answer` | the reference: a number (`42`, `-2/3`, `1.5e3`, `12%`), a choice letter, a string, or for grounding the target label |
//! | `choices` | the options of a `choice` query, in order (letters A, B, …) |
//! | `tolerance` | absolute tolerance of a `numeric` query, in the reference's scale (percentage points when the reference is written with `%`); default: exact up to 1e-6 relative |
//! | `target_box` | `[x1, y1, x2, y2]` relative 0–1000: a `grounding` answer is right when its point lies inside, or its box has IoU ≥ 0.5 with it |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How a response is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifierKind {
    /// Numbers: fractions, percents, units, scientific notation, LaTeX `\frac`.
    Numeric,
    /// Multiple choice: a letter or the option's text.
    Choice,
    /// Exact after normalisation (case, spaces, punctuation, LaTeX wrappers).
    String,
    /// A point inside, or a box with IoU ≥ 0.5 against, `target_box`.
    Grounding,
}

impl VerifierKind {
    /// The name stored in `meta`.
    pub fn name(self) -> &'static str {
        match self {
            VerifierKind::Numeric => "numeric",
            VerifierKind::Choice => "choice",
            VerifierKind::String => "string",
            VerifierKind::Grounding => "grounding",
        }
    }

    /// Parses [`VerifierKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            VerifierKind::Numeric,
            VerifierKind::Choice,
            VerifierKind::String,
            VerifierKind::Grounding,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// A query's reference answer and how to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The verifier.
    pub verifier: VerifierKind,
    /// The reference answer.
    pub answer: String,
    /// Options of a choice query.
    pub choices: Vec<String>,
    /// Absolute tolerance of a numeric query, in the reference's scale (percentage points
    /// for a reference written with `%`); `None`: 1e-6 relative.
    pub tolerance: Option<f64>,
    /// Grounding target, relative 0–1000.
    pub target_box: Option<[f64; 4]>,
}

impl Query {
    /// A query with just a verifier and an answer.
    pub fn new(verifier: VerifierKind, answer: impl Into<String>) -> Self {
        Query {
            verifier,
            answer: answer.into(),
            choices: Vec::new(),
            tolerance: None,
            target_box: None,
        }
    }

    /// Writes the keys into `meta`.
    pub fn write(&self, meta: &mut Map<String, Value>) {
        meta.insert("verifier".into(), json!(self.verifier.name()));
        meta.insert("answer".into(), json!(self.answer));
        if !self.choices.is_empty() {
            meta.insert("choices".into(), json!(self.choices));
        }
        if let Some(t) = self.tolerance {
            meta.insert("tolerance".into(), json!(t));
        }
        if let Some(b) = self.target_box {
            meta.insert("target_box".into(), json!(b));
        }
    }

    /// Reads the keys back; the message names the missing or bad key.
    pub fn read(meta: &Map<String, Value>) -> Result<Self, String> {
        let verifier = meta
            .get("verifier")
            .and_then(Value::as_str)
            .ok_or("meta has no `verifier`")?;
        let verifier = VerifierKind::parse(verifier)
            .ok_or_else(|| format!("meta `verifier` {verifier:?} is not a known verifier"))?;
        let answer = match meta.get("answer") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("meta has no `answer`".into()),
        };
        let choices = match meta.get("choices") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(String::from)
                        .ok_or("`choices` must be strings")
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("meta `choices` is not a list".into()),
        };
        let tolerance = meta.get("tolerance").and_then(Value::as_f64);
        let target_box = match meta.get("target_box") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let b: Vec<f64> = serde_json::from_value(v.clone())
                    .map_err(|e| format!("meta `target_box`: {e}"))?;
                Some(<[f64; 4]>::try_from(b).map_err(|_| "meta `target_box` needs 4 numbers")?)
            }
        };
        let q = Query {
            verifier,
            answer,
            choices,
            tolerance,
            target_box,
        };
        match q.verifier {
            VerifierKind::Choice if q.choices.len() < 2 => {
                Err("a `choice` query needs at least two `choices`".into())
            }
            VerifierKind::Grounding if q.target_box.is_none() => {
                Err("a `grounding` query needs `target_box`".into())
            }
            _ => Ok(q),
        }
    }
}

/// Choice letter of option `i` (A, B, …).
pub fn letter(i: usize) -> char {
    (b'A' + (i % 26) as u8) as char
}
