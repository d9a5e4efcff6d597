//! `grounding_samples`: object table → training samples of one `task` (see [`crate::tasks`]),
//! in one coordinate convention (see [`crate::convention`]).
//!
//! One image row in, at most one sample out: the image (as the reader stored it, never
//! re-encoded here) followed by up to `turns` question/answer pairs. Rows with nothing to ask
//! are dropped with the reason (`crowd`, `over_cap`, `not_exhaustive`, `no_points`,
//! `no_expressions`, `no_pairs`, …); a row whose image the convention cannot place boxes on
//! (Qwen2.5's resize refuses aspect ratios over 200) is quarantined (`bad_geometry`).
//!
//! `meta` holds the convention, the image's ids and sizes, and per question the category,
//! source annotation ids, count and whether it is a negative.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use crate::canonical::{self, ImageRecord};
use crate::convention::{Convention, ResizeParams};
use crate::error::GroundingError;
use crate::tasks::{Question, Task, TaskConfig, questions};
use crate::templates::{BUILTIN, Templates};

fn d_convention() -> String {
    "qwen3".into()
}
fn d_max_objects() -> usize {
    50
}
fn d_turns() -> usize {
    1
}
fn d_negative_ratio() -> f64 {
    0.25
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The sample kind, written as the samples' `task`.
    task: String,
    /// Overrides the readers' `source` name.
    #[serde(default)]
    source: Option<String>,
    /// `qwen3` (relative 0–1000 JSON), `qwen2.5` (absolute pixels of the resized image),
    /// `qwen2` (box tokens).
    #[serde(default = "d_convention")]
    convention: String,
    /// `qwen2.5` only: the smart_resize the trainer applies.
    #[serde(default)]
    resize: Option<ResizeParams>,
    /// Largest listing; larger categories are only counted directly.
    #[serde(default = "d_max_objects")]
    max_objects: usize,
    /// Questions per sample.
    #[serde(default = "d_turns")]
    turns: usize,
    /// Share of questions about a verified-absent category, where both kinds exist.
    #[serde(default = "d_negative_ratio")]
    negative_ratio: f64,
    /// `ref_grounding`: also ask for objects unique in their category as "the {category}".
    #[serde(default)]
    category_expressions: bool,
    /// A template file (relative to the pipeline file) replacing the built-in one.
    #[serde(default)]
    templates: Option<String>,
}

struct GroundingSamples {
    cfg: Config,
    task: TaskConfig,
    templates: OnceLock<Result<(Templates, String), String>>,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let task: Task = cfg
        .task
        .parse()
        .map_err(|e: GroundingError| e.to_string())?;
    let mut convention: Convention = cfg
        .convention
        .parse()
        .map_err(|e: GroundingError| format!("`convention`: {e}"))?;
    match (&mut convention, cfg.resize) {
        (Convention::Qwen25(p), Some(r)) => *p = r,
        (_, Some(_)) => return Err("`resize` applies to `convention = \"qwen2.5\"` only".into()),
        _ => {}
    }
    if task.uses_points() && !convention.has_points() {
        return Err(format!(
            "`task = \"{}\"` needs points, which the `{}` convention cannot write; use qwen3 or qwen2.5",
            task.name(),
            convention.name()
        ));
    }
    if cfg.turns == 0 || cfg.max_objects == 0 || !(0.0..=1.0).contains(&cfg.negative_ratio) {
        return Err(
            "`turns` ≥ 1, `max_objects` ≥ 1 and 0 ≤ `negative_ratio` ≤ 1 are required".into(),
        );
    }
    if cfg.category_expressions && task != Task::RefGrounding {
        return Err("`category_expressions` applies to `task = \"ref_grounding\"` only".into());
    }
    let stage = GroundingSamples {
        task: TaskConfig {
            task,
            convention,
            max_objects: cfg.max_objects,
            turns: cfg.turns,
            negative_ratio: cfg.negative_ratio,
            category_expressions: cfg.category_expressions,
        },
        templates: OnceLock::new(),
        cfg,
    };
    if stage.cfg.templates.is_none() {
        // Check the built-in file now; a user file is checked when its path can be resolved.
        Templates::builtin().map_err(|e| e.to_string())?;
    }
    Ok(Arc::new(stage))
}

impl GroundingSamples {
    /// The templates and a digest of their text (part of every split key, so editing the
    /// file reruns the stage).
    fn templates(&self, base: &std::path::Path) -> StageResult<&(Templates, String)> {
        self.templates
            .get_or_init(|| {
                let (text, origin) = match &self.cfg.templates {
                    Some(rel) => {
                        let path: PathBuf = base.join(rel);
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        (text, path.display().to_string())
                    }
                    None => (BUILTIN.to_string(), "built-in templates.toml".to_string()),
                };
                let t = Templates::parse(&text, &origin).map_err(|e| e.to_string())?;
                Ok((t, hex::encode(&Sha256::digest(text.as_bytes())[..8])))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn sample(&self, rec: &ImageRecord, qs: Vec<Question>) -> Sample {
        let mut messages = Vec::with_capacity(2 * qs.len());
        let mut metas = Vec::with_capacity(qs.len());
        for (i, q) in qs.into_iter().enumerate() {
            let mut user = Vec::new();
            if i == 0 {
                user.push(Content::Image { index: 0 });
            }
            user.push(Content::text(q.prompt));
            messages.push(Message::new("user", user));
            messages.push(Message::new("assistant", vec![Content::text(q.answer)]));
            metas.push(q.meta);
        }
        let conv = &self.task.convention;
        let mut meta = Map::new();
        meta.insert("convention".into(), json!(conv.name()));
        meta.insert("coordinates".into(), json!(conv.coordinates()));
        if let Convention::Qwen25(p) = conv {
            meta.insert(
                "resize".into(),
                json!({"factor": p.factor, "min_pixels": p.min_pixels, "max_pixels": p.max_pixels}),
            );
        }
        meta.insert("image_uid".into(), json!(rec.uid));
        meta.insert("image_id".into(), json!(rec.image_id));
        meta.insert("annotation_file".into(), json!(rec.annotation_file));
        meta.insert("path".into(), json!(rec.path));
        meta.insert(
            "image_size".into(),
            json!([rec.image_width, rec.image_height]),
        );
        meta.insert("annotated_size".into(), json!([rec.width, rec.height]));
        meta.insert("reencoded".into(), json!(rec.reencoded));
        meta.insert("questions".into(), Value::Array(metas));
        let image = Image {
            bytes: rec.image.clone(),
            path: Some(rec.path.clone()),
            width: rec.image_width,
            height: rec.image_height,
            format: rec.image_format.clone(),
        };
        let source = self.cfg.source.as_deref().unwrap_or(&rec.source);
        Sample::new(
            self.task.task.name(),
            source,
            messages,
            vec![image],
            vec![],
            meta,
        )
    }
}

impl Stage for GroundingSamples {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        canonical::require(inputs)?;
        Ok(sample_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let (_, digest) = self.templates(&ctx.base_dir)?;
        let mut splits = Split::per_upstream_split(ctx);
        for s in &mut splits {
            s.key = format!("{}\ntemplates:{digest}", s.key);
        }
        Ok(splits)
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let (templates, _) = self.templates(io.base_dir())?;
        // Choices depend on the pipeline seed and the image, never on the split.
        let seed = io.pipeline_seed();
        while let Some(batch) = io.next_batch()? {
            let mut samples = Vec::new();
            for rec in canonical::from_batch(&batch)? {
                match questions(&rec, &self.task, templates, seed) {
                    Ok(Ok(qs)) => samples.push(self.sample(&rec, qs)),
                    Ok(Err(reason)) => io.drop_records(reason, 1),
                    Err(GroundingError::Geometry(msg)) => {
                        io.quarantine(
                            format!("{}#image={}", rec.annotation_file, rec.image_id),
                            "bad_geometry",
                            msg,
                        );
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            io.emit(&samples_to_batch(&samples).map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }
}
