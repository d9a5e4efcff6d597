//! `page_filter`: turns the page table into pages fit to be OCR targets.
//!
//! Pages that failed (`status` ≠ `ok`) are quarantined under their status. Pages whose text
//! layer cannot be trusted (`needs_ocr`) are dropped with reason `needs_ocr` — transcribing
//! them with a configured model arrives with the inference crate (issue #3), and a `model`
//! key is refused until then rather than silently ignored.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult, require_column};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Keep `needs_ocr` pages (their text layer then becomes the target as is).
    #[serde(default)]
    keep_needs_ocr: bool,
    /// A model to transcribe `needs_ocr` pages (not yet available).
    #[serde(default)]
    model: Option<String>,
}

struct PageFilter {
    cfg: Config,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if let Some(m) = &cfg.model {
        return Err(format!(
            "`model = \"{m}\"`: transcribing needs_ocr pages with a model needs the inference crate (issue #3), which is not built yet; remove the key to drop those pages with reason `needs_ocr`"
        ));
    }
    Ok(Arc::new(PageFilter { cfg }))
}

impl Stage for PageFilter {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require_column(s, "uid", &DataType::Utf8)?;
            require_column(s, "status", &DataType::Utf8)?;
            require_column(s, "error", &DataType::Utf8)?;
            require_column(s, "needs_ocr", &DataType::Boolean)?;
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(batch) = io.next_batch()? {
            let col = |n: &str| {
                batch
                    .column_by_name(n)
                    .ok_or_else(|| format!("no column `{n}`"))
            };
            let uid = col("uid")?.as_string::<i32>().clone();
            let status = col("status")?.as_string::<i32>().clone();
            let error = col("error")?.as_string::<i32>().clone();
            let needs = col("needs_ocr")?.as_boolean().clone();
            let mut keep = Vec::with_capacity(batch.num_rows());
            for r in 0..batch.num_rows() {
                if status.value(r) != "ok" {
                    let err = if error.is_null(r) {
                        String::new()
                    } else {
                        error.value(r).to_string()
                    };
                    io.quarantine(uid.value(r), status.value(r), err);
                    keep.push(false);
                } else if needs.value(r) && !self.cfg.keep_needs_ocr {
                    io.drop_records("needs_ocr", 1);
                    keep.push(false);
                } else {
                    keep.push(true);
                }
            }
            let kept = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))
                .map_err(|e| e.to_string())?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
