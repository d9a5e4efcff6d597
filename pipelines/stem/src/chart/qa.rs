//! Questions about a chart with answers computed from its [`ChartTable`] (never read back from
//! the picture): value lookup, maximum / minimum, difference, ratio, share of a pie, trend,
//! count of series, count of points, and point / box grounding of drawn elements in Qwen3-VL's
//! relative 0–1000 convention.

use rand::RngExt;
use rand::seq::SliceRandom;

use super::render::{Element, Rendered};
use super::{ChartKind, ChartTable};
use crate::query::{Query, VerifierKind, letter};
use weft_engine::rng::Rng;

/// One question with its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Qa {
    /// Question kind (`value_lookup`, `max`, `min`, `difference`, `ratio`, `share`, `trend`,
    /// `count_series`, `count_points`, `point`, `box`).
    pub kind: &'static str,
    /// The question shown to the model.
    pub question: String,
    /// The assistant's answer text.
    pub answer: String,
    /// How a response is checked.
    pub query: Query,
}

/// Pixel → relative 0–1000 with Python's rounding (ties to even), clamped.
pub fn relative(px: f64, size: u32) -> i64 {
    ((px / f64::from(size) * 1000.0).round_ties_even() as i64).clamp(0, 1000)
}

fn rel_box(b: [f64; 4], w: u32, h: u32) -> [i64; 4] {
    [
        relative(b[0], w),
        relative(b[1], h),
        relative(b[2], w),
        relative(b[3], h),
    ]
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// `a/b` reduced (or an integer).
pub fn fraction(a: i64, b: i64) -> String {
    let g = gcd(a, b).max(1);
    let (n, d) = (a / g, b / g);
    if d == 1 {
        n.to_string()
    } else {
        format!("{n}/{d}")
    }
}

/// `a/b` rounded to `places` decimals, half away from zero, in exact integer arithmetic.
pub fn decimal(a: i64, b: i64, places: u32) -> String {
    let scale = 10i64.pow(places);
    let q = (2 * a * scale + b) / (2 * b); // round half up, a, b > 0
    if places == 0 {
        return q.to_string();
    }
    format!(
        "{}.{:0width$}",
        q / scale,
        q % scale,
        width = places as usize
    )
}

fn which(table: &ChartTable, series: usize) -> String {
    if table.series.len() > 1 {
        format!(" for {}", table.series[series].name)
    } else {
        String::new()
    }
}

fn numeric(kind: &'static str, question: String, value: String) -> Qa {
    Qa {
        kind,
        question: format!("{question} Answer with a number."),
        answer: value.clone(),
        query: Query::new(VerifierKind::Numeric, value),
    }
}

fn element(els: &[Element], series: usize, index: usize) -> &Element {
    els.iter()
        .find(|e| e.series == series && e.index == index)
        .expect("every table cell is drawn")
}

/// Every question kind this chart supports.
pub fn kinds(table: &ChartTable) -> Vec<&'static str> {
    let mut k = vec![];
    match table.kind {
        ChartKind::Bar | ChartKind::GroupedBar => k.extend([
            "value_lookup",
            "max",
            "min",
            "difference",
            "ratio",
            "point",
            "box",
        ]),
        ChartKind::Line => k.extend(["value_lookup", "max", "min", "difference", "trend", "point"]),
        ChartKind::Pie => k.extend(["share", "max", "min", "ratio"]),
        ChartKind::Scatter => k.extend(["count_points", "point"]),
    }
    if table.series.len() > 1 {
        k.push("count_series");
    }
    k
}

/// Up to `n` questions of distinct kinds, chosen by `rng`.
pub fn questions(table: &ChartTable, chart: &Rendered, n: usize, rng: &mut Rng) -> Vec<Qa> {
    let mut ks = kinds(table);
    ks.shuffle(rng);
    ks.into_iter()
        .take(n)
        .map(|k| question(table, chart, k, rng))
        .collect()
}

/// One question of kind `kind`.
pub fn question(table: &ChartTable, chart: &Rendered, kind: &'static str, rng: &mut Rng) -> Qa {
    let s = rng.random_range(0..table.series.len());
    let series = &table.series[s];
    let cats = &table.categories;
    let of = which(table, s);
    let unit = match table.kind {
        ChartKind::Line => "year",
        _ => "category",
    };
    match kind {
        "value_lookup" => {
            let i = rng.random_range(0..cats.len());
            numeric(
                kind,
                format!("What is the value of {}{of}?", cats[i]),
                table.text(series.values[i]),
            )
        }
        "max" | "min" => {
            let pos = if kind == "max" {
                (0..cats.len()).max_by_key(|&i| series.values[i])
            } else {
                (0..cats.len()).min_by_key(|&i| series.values[i])
            }
            .expect("non-empty");
            let word = if kind == "max" { "highest" } else { "lowest" };
            let what = if table.kind == ChartKind::Pie {
                format!(
                    "Which {unit} has the {} share?",
                    if kind == "max" { "largest" } else { "smallest" }
                )
            } else {
                format!("Which {unit} has the {word} value{of}?")
            };
            Qa {
                kind,
                question: format!("{what} Answer with its label as written in the chart."),
                answer: cats[pos].clone(),
                query: Query::new(VerifierKind::String, cats[pos].clone()),
            }
        }
        "difference" => {
            let mut idx: Vec<usize> = (0..cats.len()).collect();
            idx.shuffle(rng);
            let (mut a, mut b) = (idx[0], idx[1]);
            if series.values[a] < series.values[b] {
                std::mem::swap(&mut a, &mut b);
            }
            numeric(
                kind,
                format!(
                    "How much higher is the value of {} than that of {}{of}?",
                    cats[a], cats[b]
                ),
                table.text(series.values[a] - series.values[b]),
            )
        }
        "ratio" => {
            let mut idx: Vec<usize> = (0..cats.len()).collect();
            idx.shuffle(rng);
            let (a, b) = (idx[0], idx[1]);
            let (va, vb) = (series.values[a], series.values[b]);
            let mut query = Query::new(VerifierKind::Numeric, fraction(va, vb));
            // Any answer within rounding to two places is right (the exact fraction too).
            query.tolerance = Some(0.005 + 1e-9);
            Qa {
                kind,
                question: format!(
                    "What is the ratio of the value of {} to that of {}{of}? Give it to two decimal places.",
                    cats[a], cats[b]
                ),
                answer: decimal(va, vb, 2),
                query,
            }
        }
        "share" => {
            let i = rng.random_range(0..cats.len());
            let total: i64 = series.values.iter().sum();
            let mut query = Query::new(
                VerifierKind::Numeric,
                format!("{}%", fraction(100 * series.values[i], total)),
            );
            query.tolerance = Some(0.05 + 1e-9);
            Qa {
                kind,
                question: format!(
                    "What percentage of the whole is {}? Give it to one decimal place.",
                    cats[i]
                ),
                answer: format!("{}%", decimal(100 * series.values[i], total, 1)),
                query,
            }
        }
        "trend" => {
            let (first, last) = (series.values[0], series.values[cats.len() - 1]);
            let choices = vec!["increased".to_string(), "decreased".to_string()];
            let right = usize::from(last < first);
            let mut query = Query::new(VerifierKind::Choice, letter(right).to_string());
            query.choices = choices.clone();
            Qa {
                kind,
                question: format!(
                    "Between {} and {}, did the value{of} increase or decrease?\nA. {}\nB. {}\nAnswer with the option's letter.",
                    cats[0],
                    cats[cats.len() - 1],
                    choices[0],
                    choices[1]
                ),
                answer: letter(right).to_string(),
                query,
            }
        }
        "count_series" => numeric(
            kind,
            "How many data series does the chart show?".into(),
            table.series.len().to_string(),
        ),
        "count_points" => numeric(
            kind,
            format!("How many points does the series {} have?", series.name),
            series.points.len().to_string(),
        ),
        "point" | "box" => {
            let (i, label, what) = match table.kind {
                ChartKind::Scatter => {
                    let i = rng.random_range(0..series.points.len());
                    let p = series.points[i];
                    (
                        i,
                        series.name.clone(),
                        format!("the {} point at x = {}, y = {}", series.name, p[0], p[1]),
                    )
                }
                ChartKind::Line => {
                    let i = rng.random_range(0..cats.len());
                    (
                        i,
                        format!("{} {}", series.name, cats[i]),
                        format!("the marker of {} in {}", series.name, cats[i]),
                    )
                }
                _ => {
                    let i = rng.random_range(0..cats.len());
                    let label = if table.series.len() > 1 {
                        format!("{} {}", cats[i], series.name)
                    } else {
                        cats[i].clone()
                    };
                    let what = if kind == "point" {
                        format!("the top of the bar of {}{of}", cats[i])
                    } else {
                        format!("the bar of {}{of}", cats[i])
                    };
                    (i, label, what)
                }
            };
            let e = element(&chart.elements, s, i);
            let bx = rel_box(e.bbox, chart.width, chart.height);
            let label_json = serde_json::to_string(&label).expect("string");
            let (question, answer) = if kind == "point" {
                let (x, y) = (
                    relative(e.point[0], chart.width),
                    relative(e.point[1], chart.height),
                );
                (
                    format!(
                        "Point to {what}. Answer in JSON with point_2d in relative 0-1000 coordinates."
                    ),
                    format!(
                        "```json\n[\n\t{{\"point_2d\": [{x}, {y}], \"label\": {label_json}}}\n]\n```"
                    ),
                )
            } else {
                (
                    format!(
                        "Locate {what}. Answer in JSON with bbox_2d in relative 0-1000 coordinates."
                    ),
                    format!(
                        "```json\n[\n\t{{\"bbox_2d\": [{}, {}, {}, {}], \"label\": {label_json}}}\n]\n```",
                        bx[0], bx[1], bx[2], bx[3]
                    ),
                )
            };
            let mut query = Query::new(VerifierKind::Grounding, label);
            query.target_box = Some(bx.map(|v| v as f64));
            Qa {
                kind,
                question,
                answer,
                query,
            }
        }
        other => unreachable!("unknown question kind {other}"),
    }
}
