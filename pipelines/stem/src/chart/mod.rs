//! Chart synthesis: a seeded random table ([`ChartTable`], the ground truth, stored in `meta`),
//! rendered to a PNG by [`render`] (plotters), and questions with exact answers computed from
//! the table by [`qa`]. Grounding targets come from the same coordinate mapping that drew the
//! elements (see [`render::Element`]).

pub mod qa;
pub mod real;
pub mod render;
#[cfg(test)]
mod render_tests;

use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::labels::Vocabulary;
use weft_engine::rng::Rng;

/// The chart families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// One series of vertical bars.
    Bar,
    /// Two to three series of bars side by side per category.
    GroupedBar,
    /// One to three series of values over years, lines with markers.
    Line,
    /// Shares of a whole.
    Pie,
    /// One to three series of (x, y) points.
    Scatter,
}

impl ChartKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ChartKind; 5] = [
        ChartKind::Bar,
        ChartKind::GroupedBar,
        ChartKind::Line,
        ChartKind::Pie,
        ChartKind::Scatter,
    ];

    /// The name used in configs and `meta`.
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::Bar => "bar",
            ChartKind::GroupedBar => "grouped_bar",
            ChartKind::Line => "line",
            ChartKind::Pie => "pie",
            ChartKind::Scatter => "scatter",
        }
    }

    /// Parses [`ChartKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One data series: a value per category, or (x, y) points for scatter charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// One value per category (bar, grouped bar, line, pie).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<i64>,
    /// Points (scatter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<[i64; 2]>,
}

/// The ground truth of a chart: everything drawn comes from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartTable {
    /// Chart family.
    pub kind: ChartKind,
    /// Script of the labels.
    pub script: String,
    /// Title drawn above the plot.
    pub title: String,
    /// Category (or x) axis name.
    pub x_label: String,
    /// Value (or y) axis name.
    pub y_label: String,
    /// Category names (empty for scatter).
    pub categories: Vec<String>,
    /// The series.
    pub series: Vec<Series>,
    /// Values are integers in units of 10^-decimals (real tables: `29.96` is 2996 with 2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decimals: u32,
    /// Where a real table came from (file, rows, column); `None` for random tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

fn is_zero(d: &u32) -> bool {
    *d == 0
}

impl ChartTable {
    /// A value as drawn (scaled by `decimals`).
    pub fn plotted(&self, v: i64) -> f64 {
        v as f64 / 10f64.powi(self.decimals as i32)
    }

    /// A value as text with exactly `decimals` places (`2996` → `29.96`).
    pub fn text(&self, v: i64) -> String {
        if self.decimals == 0 {
            return v.to_string();
        }
        let s = 10i64.pow(self.decimals);
        let sign = if v < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:0w$}",
            v.abs() / s,
            v.abs() % s,
            w = self.decimals as usize
        )
    }
}

/// Picks `n` distinct integers from `lo..=hi`.
fn distinct(rng: &mut Rng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
    let mut pool: Vec<i64> = (lo..=hi).collect();
    pool.shuffle(rng);
    pool.truncate(n);
    pool
}

fn pick(rng: &mut Rng, words: &[&str], n: usize) -> Vec<String> {
    let mut w = words.to_vec();
    w.shuffle(rng);
    w.into_iter().take(n).map(String::from).collect()
}

/// A random table of `kind` labelled from `vocab`. Values are integers, distinct within a
/// series (so maxima, minima and trends are unambiguous); line series keep apart at every year
/// and scatter points keep apart, so no drawn marker hides another.
pub fn generate(kind: ChartKind, vocab: &Vocabulary, rng: &mut Rng) -> ChartTable {
    let title = vocab.titles[rng.random_range(0..vocab.titles.len())].to_string();
    let scale: i64 = [1, 10][rng.random_range(0..2)];
    let mut table = ChartTable {
        kind,
        script: vocab.script.into(),
        title,
        x_label: vocab.category_axis.into(),
        y_label: vocab.value_axis.into(),
        categories: Vec::new(),
        series: Vec::new(),
        decimals: 0,
        origin: None,
    };
    match kind {
        ChartKind::Bar | ChartKind::GroupedBar => {
            let n = rng.random_range(4..=7);
            let k = if kind == ChartKind::Bar {
                1
            } else {
                rng.random_range(2..=3)
            };
            table.categories = pick(rng, vocab.categories, n);
            for name in pick(rng, vocab.series, k) {
                let values = distinct(rng, n, 8, 99)
                    .into_iter()
                    .map(|v| v * scale)
                    .collect();
                table.series.push(Series {
                    name,
                    values,
                    points: Vec::new(),
                });
            }
        }
        ChartKind::Line => {
            let n = rng.random_range(5..=8);
            let start = rng.random_range(2010..=2018);
            table.x_label = vocab.year_axis.into();
            table.categories = (start..start + n as i64).map(|y| y.to_string()).collect();
            let k = rng.random_range(1..=3);
            let names = pick(rng, vocab.series, k);
            let mut rows: Vec<Vec<i64>> = Vec::new();
            for _ in 0..k {
                // Rejection: at least 7 units from every earlier series at every year.
                for _attempt in 0..200 {
                    let cand = distinct(rng, n, 5, 99);
                    if rows
                        .iter()
                        .all(|r| r.iter().zip(&cand).all(|(a, b)| (a - b).abs() >= 7))
                    {
                        rows.push(cand);
                        break;
                    }
                }
            }
            for (name, values) in names.into_iter().zip(rows) {
                table.series.push(Series {
                    name,
                    values: values.into_iter().map(|v| v * scale).collect(),
                    points: Vec::new(),
                });
            }
        }
        ChartKind::Pie => {
            let n = rng.random_range(3..=6);
            table.categories = pick(rng, vocab.categories, n);
            table.series.push(Series {
                name: table.title.clone(),
                values: distinct(rng, n, 5, 40)
                    .into_iter()
                    .map(|v| v * scale)
                    .collect(),
                points: Vec::new(),
            });
        }
        ChartKind::Scatter => {
            table.x_label = "x".into();
            table.y_label = "y".into();
            let k = rng.random_range(1..=3);
            let mut all: Vec<[i64; 2]> = Vec::new();
            for name in pick(rng, vocab.series, k) {
                let want = rng.random_range(5..=10);
                let mut points = Vec::new();
                for _attempt in 0..400 {
                    if points.len() == want {
                        break;
                    }
                    let p = [rng.random_range(0..=100), rng.random_range(0..=100)];
                    // Markers 6 units apart never overlap at the sizes drawn.
                    if all
                        .iter()
                        .all(|q| (q[0] - p[0]).pow(2) + (q[1] - p[1]).pow(2) >= 36)
                    {
                        all.push(p);
                        points.push(p);
                    }
                }
                table.series.push(Series {
                    name,
                    values: Vec::new(),
                    points,
                });
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::VOCABULARIES;
    use weft_engine::rng::seeded;

    #[test]
    fn tables_are_seeded_and_well_formed() {
        for kind in ChartKind::ALL {
            for (i, vocab) in VOCABULARIES.iter().enumerate() {
                let a = generate(kind, vocab, &mut seeded(1, "t", &i.to_string()));
                let b = generate(kind, vocab, &mut seeded(1, "t", &i.to_string()));
                assert_eq!(a, b);
                assert!(!a.series.is_empty());
                for s in &a.series {
                    if kind == ChartKind::Scatter {
                        assert!(!s.points.is_empty());
                    } else {
                        assert_eq!(s.values.len(), a.categories.len());
                        let mut v = s.values.clone();
                        v.sort();
                        v.dedup();
                        assert_eq!(v.len(), s.values.len(), "distinct values");
                        assert!(s.values.iter().all(|&v| v > 0));
                    }
                }
            }
        }
    }
}
