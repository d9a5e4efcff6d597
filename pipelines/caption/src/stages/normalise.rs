//! `normalise_images`: raw rows → the image table. Each image is sniffed, size-checked from
//! its header under decoder limits, decoded, turned upright, filtered by size and aspect
//! ratio, re-encoded only when needed, and signed (sha256 of the stored bytes, pHash, dHash,
//! colour feature). See [`crate::normalise`] for the rules; rows run in parallel (rayon) and
//! come out in input order.

use std::sync::Arc;

use arrow::array::{BinaryArray, Int32Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::SchemaRef;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};

use crate::hash::Hashers;
use crate::normalise::{Refusal, Rules, normalise};
use crate::record::{bins, extra, feature_column, image_schema, opt, raw_schema, require, strs};

fn d_min_side() -> u32 {
    Rules::default().min_side
}
fn d_aspect() -> f64 {
    Rules::default().max_aspect_ratio
}
fn d_pixels() -> u64 {
    Rules::default().max_pixels
}
fn d_alloc() -> u64 {
    Rules::default().max_alloc >> 20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "d_min_side")]
    min_side: u32,
    #[serde(default = "d_aspect")]
    max_aspect_ratio: f64,
    /// Header-checked pixel limit (decompression-bomb guard).
    #[serde(default = "d_pixels")]
    max_pixels: u64,
    /// Decoder allocation limit in MiB.
    #[serde(default = "d_alloc")]
    max_alloc_mib: u64,
}

struct Normalise {
    rules: Rules,
    hashers: Hashers,
}

/// Builds `normalise_images`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.max_aspect_ratio.is_nan() || cfg.max_aspect_ratio < 1.0 {
        return Err("`max_aspect_ratio` must be at least 1".into());
    }
    Ok(Arc::new(Normalise {
        rules: Rules {
            min_side: cfg.min_side,
            max_aspect_ratio: cfg.max_aspect_ratio,
            max_pixels: cfg.max_pixels,
            max_alloc: cfg.max_alloc_mib << 20,
        },
        hashers: Hashers::new(),
    }))
}

impl Stage for Normalise {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require(s, &raw_schema())?;
        }
        Ok(image_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(batch) = io.next_batch()? {
            let (uid, path, image, alt, ex) = (
                strs(&batch, "uid")?,
                strs(&batch, "path")?,
                bins(&batch, "image")?,
                strs(&batch, "alt_text")?,
                strs(&batch, "extra")?,
            );
            let results: Vec<_> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| normalise(image.value(i), &self.rules, &self.hashers))
                .collect();
            let mut keep = Vec::new();
            for (i, r) in results.into_iter().enumerate() {
                match r {
                    Ok(n) => keep.push((i, n)),
                    Err(Refusal::Drop(reason, _)) => io.drop_records(reason, 1),
                    Err(Refusal::Quarantine(reason, msg)) => {
                        io.quarantine(path.value(i), reason, format!("{}: {msg}", path.value(i)))
                    }
                }
            }
            let mut extras = Vec::with_capacity(keep.len());
            for (i, n) in &keep {
                let mut m = extra(ex, *i)?;
                m.insert("source_format".into(), json!(n.source_format));
                m.insert("reencoded".into(), json!(n.reencoded));
                extras.push(serde_json::Value::Object(m).to_string());
            }
            let out = RecordBatch::try_new(
                image_schema(),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        keep.iter().map(|(i, _)| uid.value(*i)),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        keep.iter().map(|(i, _)| path.value(*i)),
                    )),
                    Arc::new(BinaryArray::from_iter_values(
                        keep.iter().map(|(_, n)| n.bytes.as_slice()),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        keep.iter().map(|(_, n)| n.width as i32),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        keep.iter().map(|(_, n)| n.height as i32),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        keep.iter().map(|(_, n)| n.format),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        keep.iter().map(|(_, n)| n.sha256.as_str()),
                    )),
                    Arc::new(StringArray::from(
                        keep.iter().map(|(i, _)| opt(alt, *i)).collect::<Vec<_>>(),
                    )),
                    Arc::new(UInt64Array::from_iter_values(
                        keep.iter().map(|(_, n)| n.signature.phash),
                    )),
                    Arc::new(UInt64Array::from_iter_values(
                        keep.iter().map(|(_, n)| n.signature.dhash),
                    )),
                    feature_column(
                        &keep
                            .iter()
                            .map(|(_, n)| n.feature.clone())
                            .collect::<Vec<_>>(),
                    ),
                    Arc::new(StringArray::from(extras)),
                ],
            )
            .map_err(|e| e.to_string())?;
            io.emit(&out)?;
        }
        Ok(())
    }
}
