//! `video_balance`: a global phase over the video table(s) that gives every video a duration
//! bucket and a sampling weight, read by the sample stages as a side input and recorded in
//! each sample's `meta` (`duration_bucket`, `sampling_weight`).
//!
//! Weighting: every source gets the same total mass (or its `source_weights` entry), split
//! equally between the duration buckets it has (or by `bucket_weights`), split equally between
//! the videos in each (source, bucket) cell; weights are then scaled to a mean of 1. Drawing
//! samples proportionally to the weight therefore balances sources and lengths, as the report
//! asks, whatever the raw counts are. Only `id`, `source` and `meta` are read (no frames).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};

use crate::table;

fn d_buckets() -> Vec<f64> {
    vec![10.0, 60.0, 300.0, 1800.0]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Bucket edges in seconds, ascending: `[10, 60]` gives `0-10s`, `10-60s`, `60s+`.
    #[serde(default = "d_buckets")]
    buckets: Vec<f64>,
    /// Relative mass per source (1 for sources not listed).
    #[serde(default)]
    source_weights: BTreeMap<String, f64>,
    /// Relative mass per bucket label (1 for buckets not listed).
    #[serde(default)]
    bucket_weights: BTreeMap<String, f64>,
}

struct Balance {
    cfg: Config,
}

/// Builds `video_balance`.
pub fn build(t: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(t)?;
    if cfg.buckets.windows(2).any(|w| w[1] <= w[0]) || cfg.buckets.iter().any(|b| *b <= 0.0) {
        return Err("`buckets` must be positive and ascending".into());
    }
    for (k, v) in cfg.source_weights.iter().chain(&cfg.bucket_weights) {
        if !(*v >= 0.0 && v.is_finite()) {
            return Err(format!("weight of `{k}` must be >= 0"));
        }
    }
    Ok(Arc::new(Balance { cfg }))
}

/// The output table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("duration", DataType::Float64, false),
        Field::new("duration_bucket", DataType::Utf8, false),
        Field::new("sampling_weight", DataType::Float64, false),
    ]))
}

/// The bucket label of `secs` under ascending `edges`.
pub fn bucket(edges: &[f64], secs: f64) -> String {
    let fmt = |v: f64| format!("{v}s");
    let i = edges.partition_point(|&e| e <= secs);
    match (i.checked_sub(1).map(|j| edges[j]), edges.get(i)) {
        (None, Some(&hi)) => format!("0-{}", fmt(hi)),
        (Some(lo), Some(&hi)) => format!("{lo}-{}", fmt(hi)),
        (Some(lo), None) => format!("{}+", fmt(lo)),
        (None, None) => "all".into(),
    }
}

pub(crate) fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| format!("column `{name}` missing or not a string"))
}

pub(crate) fn f64_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Float64Array, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Float64Type>())
        .ok_or_else(|| format!("column `{name}` missing or not a float"))
}

/// Weights for `(uid, source, bucket)` rows (see the module docs), mean 1.
pub fn weights(
    rows: &[(String, String, String)],
    source_weights: &BTreeMap<String, f64>,
    bucket_weights: &BTreeMap<String, f64>,
) -> Vec<f64> {
    let mut cells: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (_, s, b) in rows {
        *cells.entry((s, b)).or_default() += 1;
    }
    let mut bucket_mass: BTreeMap<&str, f64> = BTreeMap::new();
    for (s, b) in cells.keys() {
        *bucket_mass.entry(s).or_default() += bucket_weights.get(*b).copied().unwrap_or(1.0);
    }
    let raw: Vec<f64> = rows
        .iter()
        .map(|(_, s, b)| {
            let sw = source_weights.get(s).copied().unwrap_or(1.0);
            let bw = bucket_weights.get(b).copied().unwrap_or(1.0);
            let total_b = bucket_mass[s.as_str()];
            let n = cells[&(s.as_str(), b.as_str())] as f64;
            if total_b > 0.0 {
                sw * bw / total_b / n
            } else {
                0.0
            }
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    let scale = if sum > 0.0 {
        rows.len() as f64 / sum
    } else {
        0.0
    };
    raw.iter().map(|w| w * scale).collect()
}

impl Stage for Balance {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        if inputs.is_empty() {
            return Err("needs the video table(s) as inputs".into());
        }
        for s in inputs {
            table::check(s)?;
        }
        Ok(schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(vec![Split::global(ctx)])
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        io.project(&["id", "source", "meta"]);
        let mut rows = Vec::new();
        let mut durations = Vec::new();
        while let Some(b) = io.next_batch()? {
            let (id, src, meta) = (
                str_col(&b, "id")?,
                str_col(&b, "source")?,
                str_col(&b, "meta")?,
            );
            for i in 0..b.num_rows() {
                let d = if meta.is_null(i) {
                    0.0
                } else {
                    serde_json::from_str::<serde_json::Value>(meta.value(i))
                        .ok()
                        .and_then(|m| m.get("duration").and_then(|d| d.as_f64()))
                        .unwrap_or(0.0)
                };
                rows.push((
                    id.value(i).to_string(),
                    src.value(i).to_string(),
                    bucket(&self.cfg.buckets, d),
                ));
                durations.push(d);
            }
        }
        let w = weights(&rows, &self.cfg.source_weights, &self.cfg.bucket_weights);
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
                Arc::new(Float64Array::from(durations)),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.2))),
                Arc::new(Float64Array::from(w)),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_labelled_by_edges() {
        let e = [10.0, 60.0];
        assert_eq!(bucket(&e, 3.0), "0-10s");
        assert_eq!(bucket(&e, 10.0), "10-60s");
        assert_eq!(bucket(&e, 61.0), "60s+");
    }

    #[test]
    fn sources_and_buckets_get_equal_mass() {
        let r = |u: &str, s: &str, b: &str| (u.to_string(), s.to_string(), b.to_string());
        // Source a: 3 short videos, 1 long; source b: 1 short.
        let rows = vec![
            r("1", "a", "short"),
            r("2", "a", "short"),
            r("3", "a", "short"),
            r("4", "a", "long"),
            r("5", "b", "short"),
        ];
        let w = weights(&rows, &BTreeMap::new(), &BTreeMap::new());
        let mass = |f: &dyn Fn(&(String, String, String)) -> bool| -> f64 {
            rows.iter()
                .zip(&w)
                .filter(|(r, _)| f(r))
                .map(|(_, w)| w)
                .sum()
        };
        let (a, b) = (mass(&|r| r.1 == "a"), mass(&|r| r.1 == "b"));
        assert!((a - b).abs() < 1e-9, "{w:?}");
        let (short_a, long_a) = (
            mass(&|r| r.1 == "a" && r.2 == "short"),
            mass(&|r| r.1 == "a" && r.2 == "long"),
        );
        assert!((short_a - long_a).abs() < 1e-9);
        assert!((w.iter().sum::<f64>() / w.len() as f64 - 1.0).abs() < 1e-9);
        // A source weight of 2 doubles its mass.
        let sw = BTreeMap::from([("b".to_string(), 2.0)]);
        let w2 = weights(&rows, &sw, &BTreeMap::new());
        assert!((w2[4] / (w2[0] * 3.0 + w2[3]) - 2.0).abs() < 1e-9);
    }
}
