//! `caption_samples`: rows of (`path`, `image`, `caption`, `sha256`) → caption training samples
//! (user: image + prompt; assistant: caption) in the shard schema.
//!
//! Rows without a caption are dropped (`no_caption`); rows whose image header cannot be read
//! are quarantined (`bad_image`).

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use super::util::{bin_col, opt_str, str_col};
use crate::registry::parse_config;
use crate::stage::{Split, Stage, StageIo, StageResult, require_column};

fn default_task() -> String {
    "caption".into()
}
fn default_prompt() -> String {
    "Describe this image.".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_task")]
    task: String,
    /// Data source name written to every sample.
    source: String,
    #[serde(default = "default_prompt")]
    prompt: String,
    /// Licence recorded in `meta.licence`.
    #[serde(default)]
    licence: Option<String>,
}

struct CaptionSamples {
    cfg: Config,
}

/// Builds the stage from its config.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.source.trim().is_empty() {
        return Err("`source` must not be empty".into());
    }
    Ok(Arc::new(CaptionSamples { cfg }))
}

impl Stage for CaptionSamples {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require_column(s, "path", &DataType::Utf8)?;
            require_column(s, "image", &DataType::Binary)?;
            require_column(s, "caption", &DataType::Utf8)?;
            require_column(s, "sha256", &DataType::Utf8)?;
        }
        Ok(sample_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(batch) = io.next_batch()? {
            let (path, image, caption, sha) = (
                str_col(&batch, "path")?,
                bin_col(&batch, "image")?,
                str_col(&batch, "caption")?,
                str_col(&batch, "sha256")?,
            );
            let mut samples = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let Some(text) = opt_str(caption, i).filter(|c| !c.trim().is_empty()) else {
                    io.drop_records("no_caption", 1);
                    continue;
                };
                let img = match Image::from_encoded(
                    image.value(i).to_vec(),
                    Some(path.value(i).to_string()),
                ) {
                    Ok(img) => img,
                    Err(e) => {
                        io.quarantine(path.value(i), "bad_image", e.to_string());
                        continue;
                    }
                };
                let mut meta = Map::new();
                meta.insert("path".into(), json!(path.value(i)));
                meta.insert("sha256".into(), json!(sha.value(i)));
                meta.insert("width".into(), json!(img.width));
                meta.insert("height".into(), json!(img.height));
                if let Some(l) = &self.cfg.licence {
                    meta.insert("licence".into(), Value::String(l.clone()));
                }
                let messages = vec![
                    Message::new(
                        "user",
                        vec![Content::Image { index: 0 }, Content::text(&self.cfg.prompt)],
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
