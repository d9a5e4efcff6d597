//! Verifiers: is a model's response to a query right? One per [`VerifierKind`]; all first
//! extract the final answer ([`extract`]) — the last `\boxed{}`, else what follows "answer:" /
//! "the answer is", else the whole response.
//!
//! - numeric ([`numeric`]): fractions, percents, units, scientific notation, LaTeX; within the
//!   query's tolerance, else 1e-6 relative; without an explicit final answer, the response's
//!   last number counts (lm-eval's "flexible extract");
//! - choice: a letter (`B`, `(B)`, `B.`, `Option B`) or the option's text;
//! - string: equal after [`normalise`];
//! - grounding: a `point_2d` (or bare `[x, y]`) inside `target_box`, or a `bbox_2d` (or bare
//!   `[x1, y1, x2, y2]`) with IoU ≥ 0.5 against it, relative 0–1000.

pub mod extract;
pub mod numeric;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::query::{Query, VerifierKind};

/// One response's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer matches the reference.
    Correct,
    /// An answer was found and it does not match.
    Wrong,
    /// No answer of the query's form could be read from the response.
    NoAnswer,
}

impl Verdict {
    /// `correct`, `wrong` or `no_answer`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Wrong => "wrong",
            Verdict::NoAnswer => "no_answer",
        }
    }
}

fn verdict(ok: bool) -> Verdict {
    if ok { Verdict::Correct } else { Verdict::Wrong }
}

/// Lower-case, LaTeX wrappers (`$`, `\text{}`, `\left`, `\right`), markdown emphasis, quotes,
/// a final full stop and all white space removed.
pub fn normalise(s: &str) -> String {
    let mut t = s.trim().to_string();
    for cmd in ["\\text{", "\\mathrm{", "\\textbf{", "\\mbox{"] {
        while let Some(p) = t.find(cmd) {
            let body = &t[p + cmd.len()..];
            let Some(e) = body.find('}') else { break };
            t = format!("{}{}{}", &t[..p], &body[..e], &body[e + 1..]);
        }
    }
    let t = t
        .replace("\\left", "")
        .replace("\\right", "")
        .replace("\\!", "")
        .replace("\\,", "");
    let t = t.trim_matches(|c: char| {
        c == '$' || c == '*' || c == '"' || c == '\'' || c == '`' || c.is_whitespace()
    });
    let t = t.trim_end_matches(['.', '。']);
    t.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks one response against `query`.
pub fn verify(query: &Query, response: &str) -> Verdict {
    let (answer, explicit) = extract::final_answer(response);
    match query.verifier {
        VerifierKind::Numeric => {
            let Some(reference) = numeric::parse(&query.answer) else {
                // A reference that is not a number (should not happen: sources pick `string`
                // for those) falls back to string equality.
                return verdict(normalise(&query.answer) == normalise(&answer));
            };
            let got = numeric::parse(&answer).or_else(|| {
                if explicit {
                    numeric::last_number(&answer)
                } else {
                    numeric::last_number(response)
                }
            });
            match got {
                Some(n) => verdict(numeric::equal(&reference, &n, query.tolerance)),
                None => Verdict::NoAnswer,
            }
        }
        VerifierKind::String => {
            verdict(!answer.is_empty() && normalise(&query.answer) == normalise(&answer))
        }
        VerifierKind::Choice => match choice_index(&answer, &query.choices) {
            Some(i) => verdict(choice_index(&query.answer, &query.choices) == Some(i)),
            None => Verdict::NoAnswer,
        },
        VerifierKind::Grounding => {
            let target = query.target_box.unwrap_or([0.0; 4]);
            match grounding_answer(response) {
                Some(Geom::Point(p)) => verdict(
                    target[0] <= p[0]
                        && p[0] <= target[2]
                        && target[1] <= p[1]
                        && p[1] <= target[3],
                ),
                Some(Geom::Box(b)) => verdict(iou(b, target) >= 0.5),
                None => Verdict::NoAnswer,
            }
        }
    }
}

/// Which option an answer names: a letter in range (`B`, `(B)`, `B.`, `B)`, `Option B`,
/// `**B**`), or an option's text (normalised).
pub fn choice_index(answer: &str, choices: &[String]) -> Option<usize> {
    let n = normalise(answer);
    let n = n.strip_prefix("option").unwrap_or(&n);
    let n = n.trim_start_matches(['(', '[']);
    let mut chars = n.chars();
    if let Some(c) = chars.next() {
        let rest: String = chars.collect();
        let rest = rest.trim_start_matches([')', ']', '.', ':']);
        if c.is_ascii_lowercase() {
            let i = (c as u8 - b'a') as usize;
            if i < choices.len() {
                // "b" alone, "b)", "b. text" where text is option b's.
                if rest.is_empty() || normalise(&choices[i]) == rest {
                    return Some(i);
                }
            }
        }
    }
    choices
        .iter()
        .position(|c| normalise(c) == normalise(answer))
}

/// A grounding answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Geom {
    /// `[x, y]`.
    Point([f64; 2]),
    /// `[x1, y1, x2, y2]`.
    Box([f64; 4]),
}

fn geom_of(v: &Value) -> Option<Geom> {
    let nums =
        |v: &Value| -> Option<Vec<f64>> { v.as_array()?.iter().map(Value::as_f64).collect() };
    match v {
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let n = nums(v)?;
            match n.len() {
                2 => Some(Geom::Point([n[0], n[1]])),
                4 => Some(Geom::Box([n[0], n[1], n[2], n[3]])),
                _ => None,
            }
        }
        Value::Array(items) => items.iter().find_map(geom_of),
        Value::Object(o) => {
            for key in ["point_2d", "point"] {
                if let Some(n) = o.get(key).and_then(nums)
                    && n.len() == 2
                {
                    return Some(Geom::Point([n[0], n[1]]));
                }
            }
            for key in ["bbox_2d", "bbox", "box"] {
                if let Some(n) = o.get(key).and_then(nums)
                    && n.len() == 4
                {
                    return Some(Geom::Box([n[0], n[1], n[2], n[3]]));
                }
            }
            None
        }
        _ => None,
    }
}

/// The first point or box in a response: JSON (fenced or not), else `(x, y)`.
pub fn grounding_answer(response: &str) -> Option<Geom> {
    let (boxed, _) = extract::final_answer(response);
    for text in [boxed.as_str(), response] {
        let body = text
            .split("```json")
            .nth(1)
            .and_then(|r| r.split("```").next())
            .unwrap_or(text);
        if let Ok(v) = serde_json::from_str::<Value>(body.trim())
            && let Some(g) = geom_of(&v)
        {
            return Some(g);
        }
        let start = body.find(['[', '{']);
        let end = body.rfind([']', '}']);
        if let (Some(s), Some(e)) = (start, end)
            && s < e
            && let Ok(v) = serde_json::from_str::<Value>(&body[s..=e])
            && let Some(g) = geom_of(&v)
        {
            return Some(g);
        }
        // "(512, 300)"
        if let (Some(s), Some(e)) = (body.find('('), body.find(')'))
            && s < e
        {
            let n: Option<Vec<f64>> = body[s + 1..e]
                .split(',')
                .map(|t| t.trim().parse().ok())
                .collect();
            if let Some(n) = n {
                match n.len() {
                    2 => return Some(Geom::Point([n[0], n[1]])),
                    4 => return Some(Geom::Box([n[0], n[1], n[2], n[3]])),
                    _ => {}
                }
            }
        }
    }
    None
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 when either is empty).
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let i = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let inter = area(i);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests;
