//! `filter_images`: drops rows whose `width`/`height` break the configured limits, counted by
//! reason (`too_small`, `too_large`, `aspect_ratio`). The aspect limit defaults to 200, the
//! ratio Qwen's `smart_resize` refuses.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;

use super::util::i32_col;
use crate::registry::parse_config;
use crate::stage::{Split, Stage, StageIo, StageResult, require_column};

fn default_min_side() -> u32 {
    32
}
fn default_max_aspect_ratio() -> f64 {
    200.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_min_side")]
    min_side: u32,
    #[serde(default)]
    max_side: Option<u32>,
    #[serde(default = "default_max_aspect_ratio")]
    max_aspect_ratio: f64,
}

struct FilterImages {
    cfg: Config,
}

/// Builds the stage from its config.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.max_aspect_ratio.is_nan() || cfg.max_aspect_ratio < 1.0 {
        return Err("`max_aspect_ratio` must be at least 1".into());
    }
    Ok(Arc::new(FilterImages { cfg }))
}

impl FilterImages {
    fn verdict(&self, w: i32, h: i32) -> Option<&'static str> {
        let (lo, hi) = (w.min(h).max(0) as u32, w.max(h).max(0) as u32);
        if lo < self.cfg.min_side {
            Some("too_small")
        } else if self.cfg.max_side.is_some_and(|m| hi > m) {
            Some("too_large")
        } else if f64::from(hi) / f64::from(lo.max(1)) > self.cfg.max_aspect_ratio {
            Some("aspect_ratio")
        } else {
            None
        }
    }
}

impl Stage for FilterImages {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require_column(s, "width", &DataType::Int32)?;
            require_column(s, "height", &DataType::Int32)?;
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(batch) = io.next_batch()? {
            let (w, h) = (i32_col(&batch, "width")?, i32_col(&batch, "height")?);
            let verdicts: Vec<Option<&str>> = (0..batch.num_rows())
                .map(|i| self.verdict(w.value(i), h.value(i)))
                .collect();
            for v in verdicts.iter().flatten() {
                io.drop_records(v, 1);
            }
            let keep = BooleanArray::from(verdicts.iter().map(|v| v.is_none()).collect::<Vec<_>>());
            let kept =
                arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| e.to_string())?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
