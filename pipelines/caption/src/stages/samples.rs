//! `caption_pairs`: image records → caption training samples (user: image + instruction;
//! assistant: caption). The caption is the model's (`extra.caption`) when the record was
//! recaptioned, else the source alt text; records with neither are dropped (`no_caption`).
//!
//! `meta` keeps everything a user filters or audits by: `uid`, `path`, `sha256`, `width`,
//! `height`, `phash`/`dhash` (hex), `alt_text` (the original, always), `caption_source`
//! (`model` or `alt_text`), and when present `caption_model`, `prompt_id`, `caption_style`,
//! `generation`, `cluster`, `cluster_size`, `duplicates`, `source_format`, `reencoded`,
//! `licence`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use crate::record::{bins, extra, i32s, image_schema, opt, require, strs, u64s};

fn d_task() -> String {
    "caption".into()
}
fn d_prompt() -> String {
    "Describe this image.".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "d_task")]
    task: String,
    /// Data source name written to every sample.
    source: String,
    /// User instruction for alt-text captions (recaptioned records use their style's).
    #[serde(default = "d_prompt")]
    prompt: String,
    /// Licence recorded in `meta.licence`.
    #[serde(default)]
    licence: Option<String>,
}

struct Pairs {
    cfg: Config,
}

/// Builds `caption_pairs`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.source.trim().is_empty() {
        return Err("`source` must not be empty".into());
    }
    Ok(Arc::new(Pairs { cfg }))
}

const COPIED: [&str; 10] = [
    "caption_model",
    "prompt_id",
    "caption_style",
    "generation",
    "cluster",
    "cluster_size",
    "duplicates",
    "source_format",
    "reencoded",
    "source",
];

impl Stage for Pairs {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(sample_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(b) = io.next_batch()? {
            let (uid, path, image, fmt, sha, alt, ex) = (
                strs(&b, "uid")?,
                strs(&b, "path")?,
                bins(&b, "image")?,
                strs(&b, "format")?,
                strs(&b, "sha256")?,
                strs(&b, "alt_text")?,
                strs(&b, "extra")?,
            );
            let (w, h, ph, dh) = (
                i32s(&b, "width")?,
                i32s(&b, "height")?,
                u64s(&b, "phash")?,
                u64s(&b, "dhash")?,
            );
            let mut samples = Vec::with_capacity(b.num_rows());
            for i in 0..b.num_rows() {
                let x = extra(ex, i)?;
                let model_caption = x
                    .get("caption")
                    .and_then(Value::as_str)
                    .filter(|c| !c.trim().is_empty());
                let alt_text = opt(alt, i).filter(|c| !c.trim().is_empty());
                let (text, from) = match (model_caption, alt_text) {
                    (Some(c), _) => (c, "model"),
                    (None, Some(a)) => (a, "alt_text"),
                    (None, None) => {
                        io.drop_records("no_caption", 1);
                        continue;
                    }
                };
                let instruction = match from {
                    "model" => x
                        .get("instruction")
                        .and_then(Value::as_str)
                        .unwrap_or(&self.cfg.prompt),
                    _ => &self.cfg.prompt,
                };
                let img = Image {
                    bytes: image.value(i).to_vec(),
                    path: Some(path.value(i).to_string()),
                    width: w.value(i) as u32,
                    height: h.value(i) as u32,
                    format: fmt.value(i).to_string(),
                };
                let mut meta = Map::new();
                meta.insert("uid".into(), json!(uid.value(i)));
                meta.insert("path".into(), json!(path.value(i)));
                meta.insert("sha256".into(), json!(sha.value(i)));
                meta.insert("width".into(), json!(w.value(i)));
                meta.insert("height".into(), json!(h.value(i)));
                meta.insert("phash".into(), json!(format!("{:016x}", ph.value(i))));
                meta.insert("dhash".into(), json!(format!("{:016x}", dh.value(i))));
                meta.insert(
                    "alt_text".into(),
                    alt_text.map_or(Value::Null, |a| json!(a)),
                );
                meta.insert("caption_source".into(), json!(from));
                for k in COPIED {
                    if let Some(v) = x.get(k) {
                        meta.insert(k.into(), v.clone());
                    }
                }
                if let Some(l) = &self.cfg.licence {
                    meta.insert("licence".into(), json!(l));
                }
                let messages = vec![
                    Message::new(
                        "user",
                        vec![Content::Image { index: 0 }, Content::text(instruction)],
                    ),
                    Message::new("assistant", vec![Content::text(text)]),
                ];
                samples.push(Sample::new(
                    &self.cfg.task,
                    &self.cfg.source,
                    messages,
                    vec![img],
                    vec![],
                    meta,
                ));
            }
            let out = samples_to_batch(&samples).map_err(|e| e.to_string())?;
            io.emit(&out)?;
        }
        Ok(())
    }
}
