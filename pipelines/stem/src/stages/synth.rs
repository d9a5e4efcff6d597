//! `chart_synth` and `geometry_synth`: synthetic sources. Item `i` (0 ≤ i < `count`) is drawn
//! from a stream seeded by (pipeline seed, stage kind, i) — never by split — so the output
//! does not depend on `per_split`, ranks or resumption. Each chart or diagram is one consumed
//! record and becomes `questions` samples (one question each, so each is one RL query).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rand::RngExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_engine::inputs::file_key;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use crate::chart::qa::{self, Qa};
use crate::chart::real::RealCsv;
use crate::chart::{self, ChartKind};
use crate::diagram;
use crate::labels::{self, VOCABULARIES};
use crate::query::VerifierKind;
use weft_engine::rng::seeded;

fn d_count() -> u64 {
    60
}
fn d_per_split() -> u64 {
    20
}
fn d_questions() -> usize {
    3
}
fn d_kinds() -> Vec<String> {
    ChartKind::ALL
        .iter()
        .map(|k| k.name().to_string())
        .collect()
}
fn d_scripts() -> Vec<String> {
    VOCABULARIES.iter().map(|v| v.script.to_string()).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartConfig {
    /// Charts to draw.
    #[serde(default = "d_count")]
    count: u64,
    /// Charts per split.
    #[serde(default = "d_per_split")]
    per_split: u64,
    /// Questions (samples) per chart.
    #[serde(default = "d_questions")]
    questions: usize,
    /// Chart kinds, used in turn.
    #[serde(default = "d_kinds")]
    kinds: Vec<String>,
    /// Label scripts, chosen per chart.
    #[serde(default = "d_scripts")]
    scripts: Vec<String>,
    #[serde(default = "d_chart_source")]
    source: String,
    /// A CSV of real numbers to chart instead of random tables (first column labels, other
    /// columns series; see `chart::real`), relative to the pipeline file. Kinds: bar, line.
    #[serde(default)]
    csv: Option<String>,
    /// Reverse the CSV's rows (files listed newest first).
    #[serde(default)]
    reverse_rows: bool,
}

fn d_chart_source() -> String {
    "stem-charts".into()
}
fn d_geometry_source() -> String {
    "stem-geometry".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeometryConfig {
    /// Diagrams to draw.
    #[serde(default = "d_count")]
    count: u64,
    /// Diagrams per split.
    #[serde(default = "d_per_split")]
    per_split: u64,
    /// Questions (samples) per diagram.
    #[serde(default = "d_questions")]
    questions: usize,
    #[serde(default = "d_geometry_source")]
    source: String,
}

struct Charts {
    cfg: ChartConfig,
    real: std::sync::OnceLock<Result<RealCsv, String>>,
    kinds: Vec<ChartKind>,
    vocabs: Vec<&'static labels::Vocabulary>,
}

struct Geometry {
    cfg: GeometryConfig,
}

/// Builds `chart_synth`.
pub fn build_charts(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: ChartConfig = parse_config(table)?;
    check_counts(cfg.per_split, cfg.questions)?;
    let kinds = cfg
        .kinds
        .iter()
        .map(|k| {
            ChartKind::parse(k)
                .ok_or_else(|| format!("unknown chart kind {k:?}: use {}", d_kinds().join(", ")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vocabs = cfg
        .scripts
        .iter()
        .map(|s| {
            labels::by_script(s)
                .ok_or_else(|| format!("unknown script {s:?}: use {}", d_scripts().join(", ")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() || vocabs.is_empty() {
        return Err("`kinds` and `scripts` must not be empty".into());
    }
    if cfg.csv.is_some()
        && kinds
            .iter()
            .any(|k| !matches!(k, ChartKind::Bar | ChartKind::Line))
    {
        return Err(
            "a `csv` table is drawn as `bar` or `line` charts: set `kinds` to those".into(),
        );
    }
    Ok(Arc::new(Charts {
        cfg,
        real: std::sync::OnceLock::new(),
        kinds,
        vocabs,
    }))
}

/// Builds `geometry_synth`.
pub fn build_geometry(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: GeometryConfig = parse_config(table)?;
    check_counts(cfg.per_split, cfg.questions)?;
    Ok(Arc::new(Geometry { cfg }))
}

fn check_counts(per_split: u64, questions: usize) -> Result<(), String> {
    if per_split == 0 || questions == 0 {
        return Err("`per_split` and `questions` must be at least 1".into());
    }
    Ok(())
}

/// The splits of a synthetic source. Each key names the range, the font's identity (the
/// drawn bytes depend on it; a missing font is keyed `missing`, and every item is then
/// quarantined by `render_failed`) and, for a CSV source, the file's identity.
fn splits(name: &str, count: u64, per_split: u64, input: Option<&str>) -> Vec<Split> {
    let font = crate::fonts::identity().unwrap_or_else(|_| "missing".into());
    (0..count.div_ceil(per_split))
        .map(|s| {
            let (a, b) = (s * per_split, ((s + 1) * per_split).min(count));
            Split {
                index: s,
                files: Vec::new(),
                items: vec![PathBuf::from(format!("{a}..{b}"))],
                key: match input {
                    Some(k) => format!("{name}:{a}..{b}:font={font}:{k}"),
                    None => format!("{name}:{a}..{b}:font={font}"),
                },
            }
        })
        .collect()
}

fn range(split: &Split) -> StageResult<std::ops::Range<u64>> {
    let item = split
        .items
        .first()
        .and_then(|p| p.to_str())
        .ok_or("split without a range")?;
    let (a, b) = item.split_once("..").ok_or("bad split range")?;
    Ok(a.parse().map_err(|_| "bad split range")?..b.parse().map_err(|_| "bad split range")?)
}

fn sample(
    task: &str,
    source: &str,
    png: &[u8],
    path: String,
    q: &Qa,
    mut meta: Map<String, Value>,
) -> StageResult<Sample> {
    let image = Image::from_encoded(png.to_vec(), Some(path)).map_err(|e| e.to_string())?;
    meta.insert("question_type".into(), json!(q.kind));
    meta.insert("synthetic".into(), json!(true));
    if q.query.verifier == VerifierKind::Grounding {
        meta.insert("coordinates".into(), json!("qwen3 relative 0-1000"));
    }
    q.query.write(&mut meta);
    Ok(Sample::new(
        task,
        source,
        vec![
            Message::new(
                "user",
                vec![Content::Image { index: 0 }, Content::text(&q.question)],
            ),
            Message::new("assistant", vec![Content::text(&q.answer)]),
        ],
        vec![image],
        Vec::new(),
        meta,
    ))
}

fn flush(io: &mut StageIo, samples: &mut Vec<Sample>, records: &mut u64) -> StageResult<()> {
    if *records > 0 || !samples.is_empty() {
        let batch = samples_to_batch(samples).map_err(|e| e.to_string())?;
        io.emit_from(&batch, *records)?;
    }
    samples.clear();
    *records = 0;
    Ok(())
}

/// Items emitted per batch (bounds memory to a few images).
const ITEMS_PER_BATCH: u64 = 8;

impl Charts {
    /// The CSV, read once per process.
    fn real(&self, base: &std::path::Path) -> StageResult<&RealCsv> {
        let spec = self.cfg.csv.as_deref().expect("csv configured");
        self.real
            .get_or_init(|| {
                let path = base.join(spec);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                RealCsv::parse(&name, &text, self.cfg.reverse_rows)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Stage for Charts {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(sample_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        // A CSV's identity (path, size, mtime) is part of every split key, so an edited file
        // reruns the stage.
        let key = self
            .cfg
            .csv
            .as_ref()
            .map(|c| file_key(&ctx.base_dir, &ctx.base_dir.join(c)));
        Ok(splits(
            "charts",
            self.cfg.count,
            self.cfg.per_split,
            key.as_deref(),
        ))
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let seed = io.pipeline_seed();
        let (mut samples, mut records) = (Vec::new(), 0u64);
        for i in range(split)? {
            io.add_input(1);
            let kind = self.kinds[(i % self.kinds.len() as u64) as usize];
            let mut rng = seeded(seed, "chart_synth", &i.to_string());
            let vocab = self.vocabs[rng.random_range(0..self.vocabs.len())];
            let (w, h) = [(800, 600), (960, 720), (720, 540), (640, 480), (900, 600)]
                [rng.random_range(0..5)];
            let table = match &self.cfg.csv {
                None => chart::generate(kind, vocab, &mut rng),
                Some(_) => match self.real(io.base_dir())?.table(kind, &mut rng) {
                    Some(t) => t,
                    None => {
                        io.drop_records("no_distinct_window", 1);
                        continue;
                    }
                },
            };
            let rendered = match chart::render::render(&table, w, h) {
                Ok(r) => r,
                Err(e) => {
                    io.quarantine(format!("chart {i}"), "render_failed", e);
                    continue;
                }
            };
            let mut meta = Map::new();
            meta.insert(
                "chart".into(),
                serde_json::to_value(&table).map_err(|e| e.to_string())?,
            );
            meta.insert("chart_index".into(), json!(i));
            if self.cfg.csv.is_none() {
                meta.insert("lang".into(), json!(vocab.lang));
            }
            meta.insert("image_size".into(), json!([w, h]));
            for q in qa::questions(&table, &rendered, self.cfg.questions, &mut rng) {
                let task = if q.query.verifier == VerifierKind::Grounding {
                    "chart_grounding"
                } else {
                    "chart_qa"
                };
                samples.push(sample(
                    task,
                    &self.cfg.source,
                    &rendered.png,
                    format!("chart-{i}.png"),
                    &q,
                    meta.clone(),
                )?);
            }
            records += 1;
            if records >= ITEMS_PER_BATCH {
                flush(io, &mut samples, &mut records)?;
            }
        }
        flush(io, &mut samples, &mut records)
    }
}

impl Stage for Geometry {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(sample_schema())
    }

    fn splits(&self, _ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(splits("geometry", self.cfg.count, self.cfg.per_split, None))
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let seed = io.pipeline_seed();
        let (mut samples, mut records) = (Vec::new(), 0u64);
        for i in range(split)? {
            io.add_input(1);
            let mut rng = seeded(seed, "geometry_synth", &i.to_string());
            let t = diagram::generate(&mut rng);
            let png = match diagram::render(&t) {
                Ok(p) => p,
                Err(e) => {
                    io.quarantine(format!("diagram {i}"), "render_failed", e);
                    continue;
                }
            };
            let mut qs = diagram::questions(&t, &mut rng);
            rand::seq::SliceRandom::shuffle(qs.as_mut_slice(), &mut rng);
            qs.truncate(self.cfg.questions);
            let mut meta = Map::new();
            meta.insert(
                "diagram".into(),
                serde_json::to_value(&t).map_err(|e| e.to_string())?,
            );
            meta.insert("diagram_index".into(), json!(i));
            for q in &qs {
                let task = if q.query.verifier == VerifierKind::Grounding {
                    "geometry_grounding"
                } else {
                    "geometry_qa"
                };
                samples.push(sample(
                    task,
                    &self.cfg.source,
                    &png,
                    format!("triangle-{i}.png"),
                    q,
                    meta.clone(),
                )?);
            }
            records += 1;
            if records >= ITEMS_PER_BATCH {
                flush(io, &mut samples, &mut records)?;
            }
        }
        flush(io, &mut samples, &mut records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keys_name_the_font() {
        let font = crate::fonts::identity().expect("chart font installed");
        let parts: Vec<&str> = font.split(':').collect();
        assert_eq!(parts.len(), 3, "{font}");
        assert!(parts[1].parse::<u64>().unwrap() > 0, "{font}");
        assert_eq!(parts[2].len(), 16, "{font}");
        for s in splits("charts", 5, 2, None) {
            assert!(s.key.contains(&format!("font={font}")), "{}", s.key);
        }
        let keys: Vec<String> = splits("charts", 5, 2, Some("t.csv:1:2"))
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(keys[2], format!("charts:4..5:font={font}:t.csv:1:2"));
    }
}
