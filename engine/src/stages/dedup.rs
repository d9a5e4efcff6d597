//! Exact dedup in two phases that hand off through files, so it is correct across ranks:
//!
//! 1. `exact_duplicates` (global: one split over every input shard, reading only the key and
//!    order columns) writes one row per distinct key with its representative — the smallest
//!    `order_by` value, so the choice does not depend on ranks or file order;
//! 2. `drop_duplicates` (per shard, in parallel) reads that table as a side input and keeps
//!    exactly the representatives, dropping the rest as `duplicate`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use weft_shards::reader::Shard;

use super::util::str_col;
use crate::registry::parse_config;
use crate::stage::{Split, SplitContext, Stage, StageIo, StageResult, require_column};

fn default_key() -> String {
    "sha256".into()
}
fn default_order_by() -> String {
    "path".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Column whose equal values are duplicates.
    #[serde(default = "default_key")]
    key: String,
    /// Column whose smallest value picks the representative.
    #[serde(default = "default_order_by")]
    order_by: String,
}

fn groups_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("keep", DataType::Utf8, false),
        Field::new("members", DataType::UInt64, false),
    ]))
}

struct Groups {
    cfg: Config,
}

/// Builds `exact_duplicates`.
pub fn build_groups(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    Ok(Arc::new(Groups {
        cfg: parse_config(table)?,
    }))
}

impl Stage for Groups {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require_column(s, &self.cfg.key, &DataType::Utf8)?;
            require_column(s, &self.cfg.order_by, &DataType::Utf8)?;
        }
        Ok(groups_schema())
    }

    /// One split over everything: the global view.
    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(vec![Split::global(ctx)])
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        io.project(&[&self.cfg.key, &self.cfg.order_by]);
        let mut best: BTreeMap<String, (String, u64)> = BTreeMap::new();
        let mut rows = 0u64;
        while let Some(batch) = io.next_batch()? {
            let (key, order) = (
                str_col(&batch, &self.cfg.key)?,
                str_col(&batch, &self.cfg.order_by)?,
            );
            for i in 0..batch.num_rows() {
                rows += 1;
                let e = best
                    .entry(key.value(i).to_string())
                    .or_insert_with(|| (order.value(i).to_string(), 0));
                e.1 += 1;
                if order.value(i) < e.0.as_str() {
                    e.0 = order.value(i).to_string();
                }
            }
        }
        let distinct = best.len() as u64;
        let batch = RecordBatch::try_new(
            groups_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(best.keys())),
                Arc::new(StringArray::from_iter_values(
                    best.values().map(|v| v.0.as_str()),
                )),
                Arc::new(arrow::array::UInt64Array::from_iter_values(
                    best.values().map(|v| v.1),
                )),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit_from(&batch, distinct)?;
        io.drop_records("duplicate", rows - distinct);
        Ok(())
    }
}

struct DropDuplicates {
    cfg: Config,
    keep: OnceLock<Result<HashMap<String, String>, String>>,
}

/// Builds `drop_duplicates`.
pub fn build_filter(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    Ok(Arc::new(DropDuplicates {
        cfg: parse_config(table)?,
        keep: OnceLock::new(),
    }))
}

impl DropDuplicates {
    fn keep_table(&self, io: &StageIo) -> StageResult<&HashMap<String, String>> {
        self.keep
            .get_or_init(|| {
                let mut map = HashMap::new();
                for input in io.side_inputs() {
                    for file in &input.shards {
                        let shard = Shard::open(file).map_err(|e| e.to_string())?;
                        for batch in shard
                            .read(Some(&["key", "keep"]), 8192)
                            .map_err(|e| e.to_string())?
                        {
                            let batch = batch.map_err(|e| e.to_string())?;
                            let (k, v) = (str_col(&batch, "key")?, str_col(&batch, "keep")?);
                            for i in 0..batch.num_rows() {
                                map.insert(k.value(i).to_string(), v.value(i).to_string());
                            }
                        }
                    }
                }
                Ok(map)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Stage for DropDuplicates {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require_column(s, &self.cfg.key, &DataType::Utf8)?;
            require_column(s, &self.cfg.order_by, &DataType::Utf8)?;
        }
        Ok(first.clone())
    }

    fn check_side_inputs(&self, side: &[SchemaRef]) -> StageResult<()> {
        if side.is_empty() {
            return Err("needs an `exact_duplicates` stage in `side_inputs`".into());
        }
        for s in side {
            require_column(s, "key", &DataType::Utf8)?;
            require_column(s, "keep", &DataType::Utf8)?;
        }
        Ok(())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let keep = self.keep_table(io)?;
        while let Some(batch) = io.next_batch()? {
            let (key, order) = (
                str_col(&batch, &self.cfg.key)?,
                str_col(&batch, &self.cfg.order_by)?,
            );
            let mut mask = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                match keep.get(key.value(i)) {
                    Some(rep) if rep == order.value(i) => mask.push(true),
                    Some(_) => {
                        io.drop_records("duplicate", 1);
                        mask.push(false);
                    }
                    None => {
                        io.quarantine(
                            order.value(i),
                            "not_in_dedup_table",
                            format!("key {} has no group", key.value(i)),
                        );
                        mask.push(false);
                    }
                }
            }
            let kept = arrow::compute::filter_record_batch(&batch, &mask.into())
                .map_err(|e| e.to_string())?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
