//! `embed_images`: replaces each record's `feature` with the pooled vision-tower features of
//! a native model (see [`crate::embed`]), so `cluster_images` groups by what the model sees.
//! Without a model (`model` unset or `""`) records pass through with their colour feature.
//! A server model cannot return features: the stage refuses it at build time. An image the
//! processor refuses is quarantined (`embed_failed`).

use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use rayon::prelude::*;
use serde::Deserialize;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_inference::{NativeModel, NativeOptions};

use crate::record::{bins, feature_column, image_schema, replace, require, strs};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// A native model folder or Hub id; unset or `""` keeps the colour feature.
    #[serde(default)]
    model: Option<String>,
}

struct Embed {
    model: Option<String>,
    loaded: OnceLock<Result<Arc<NativeModel>, String>>,
}

/// Builds `embed_images`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let model = cfg
        .model
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    if let Some(m) = &model
        && (m.starts_with("http://") || m.starts_with("https://"))
    {
        return Err(format!(
            "model {m:?}: a server cannot return vision features; give a native model folder, \
             or leave `model` empty to cluster by colour"
        ));
    }
    Ok(Arc::new(Embed {
        model,
        loaded: OnceLock::new(),
    }))
}

impl Stage for Embed {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let Some(spec) = &self.model else {
            while let Some(b) = io.next_batch()? {
                io.emit(&b)?;
            }
            return Ok(());
        };
        let model = self
            .loaded
            .get_or_init(|| {
                let dir = weft_inference::hub::resolve_model(spec)
                    .map_err(|e| format!("model {spec}: {e}"))?;
                NativeModel::load(&dir, NativeOptions::default())
                    .map(Arc::new)
                    .map_err(|e| format!("model {spec}: {e}"))
            })
            .clone()?;
        while let Some(batch) = io.next_batch()? {
            let (image, path) = (bins(&batch, "image")?, strs(&batch, "path")?);
            let feats: Vec<Result<Vec<f32>, String>> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| {
                    let img = image::load_from_memory(image.value(i))
                        .map_err(|e| e.to_string())?
                        .to_rgb8();
                    crate::embed::image_embedding(&model, &img)
                })
                .collect();
            let mut mask = Vec::new();
            let mut rows = Vec::new();
            for (i, f) in feats.into_iter().enumerate() {
                match f {
                    Ok(v) => {
                        mask.push(true);
                        rows.push(v);
                    }
                    Err(e) => {
                        io.quarantine(
                            path.value(i),
                            "embed_failed",
                            format!("{}: {e}", path.value(i)),
                        );
                        mask.push(false);
                    }
                }
            }
            let kept = arrow::compute::filter_record_batch(&batch, &mask.into())
                .map_err(|e| e.to_string())?;
            let kept = replace(&kept, "feature", feature_column(&rows))?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
