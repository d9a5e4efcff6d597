//! Global near-duplicate phases and their per-split filter, in the engine's two-phase form
//! (see `exact_duplicates` / `drop_duplicates`), so 1 and N ranks keep the same records:
//!
//! 1. `image_near_duplicates` / `caption_near_duplicates` cut themselves into one split over
//!    every input shard, read only the key columns (never the image bytes), and write the
//!    groups table: one row per record with its representative (largest resolution, then
//!    smallest sha256, then smallest uid) and its group size;
//! 2. `drop_near_duplicates` (per split, parallel) keeps exactly the representatives and
//!    drops the rest as `exact_duplicate`, `near_duplicate` or `caption_duplicate`, recording
//!    on each kept record how many copies it stood for (`extra.duplicates.<stage>`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult, require_column};
use weft_shards::reader::Shard;

use crate::groups::Rank;
use crate::near::{CAPTION_THRESHOLD, ImageThresholds, caption_leaders, image_leaders};
use crate::record::{groups_schema, i32s, image_schema, opt, require, strs, u64s};

fn d_phash() -> u32 {
    ImageThresholds::default().phash
}
fn d_dhash() -> u32 {
    ImageThresholds::default().dhash
}
fn d_caption() -> f64 {
    CAPTION_THRESHOLD
}
fn d_column() -> String {
    "alt_text".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageConfig {
    #[serde(default = "d_phash")]
    phash_threshold: u32,
    #[serde(default = "d_dhash")]
    dhash_threshold: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptionConfig {
    #[serde(default = "d_caption")]
    threshold: f64,
    #[serde(default = "d_column")]
    column: String,
}

enum Kind {
    Image(ImageConfig),
    Caption(CaptionConfig),
}

struct Groups {
    kind: Kind,
}

/// Builds `image_near_duplicates`.
pub fn build_image(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: ImageConfig = parse_config(table)?;
    if cfg.phash_threshold > 32 || cfg.dhash_threshold > 64 {
        return Err("`phash_threshold` must be at most 32 and `dhash_threshold` at most 64".into());
    }
    Ok(Arc::new(Groups {
        kind: Kind::Image(cfg),
    }))
}

/// Builds `caption_near_duplicates`.
pub fn build_caption(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: CaptionConfig = parse_config(table)?;
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err("`threshold` must be in (0, 1]".into());
    }
    Ok(Arc::new(Groups {
        kind: Kind::Caption(cfg),
    }))
}

impl Stage for Groups {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require(s, &image_schema())?;
            if let Kind::Caption(c) = &self.kind {
                require_column(s, &c.column, &DataType::Utf8)?;
            }
        }
        Ok(groups_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(vec![Split::global(ctx)])
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let text_col = match &self.kind {
            Kind::Caption(c) => c.column.clone(),
            Kind::Image(_) => "alt_text".into(),
        };
        io.project(&[
            "uid", "sha256", "width", "height", "phash", "dhash", &text_col,
        ]);
        let (mut ranks, mut ph, mut dh, mut texts) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::<Option<String>>::new(),
        );
        while let Some(b) = io.next_batch()? {
            let (uid, sha, w, h) = (
                strs(&b, "uid")?,
                strs(&b, "sha256")?,
                i32s(&b, "width")?,
                i32s(&b, "height")?,
            );
            let (p, d, t) = (u64s(&b, "phash")?, u64s(&b, "dhash")?, strs(&b, &text_col)?);
            for i in 0..b.num_rows() {
                ranks.push(Rank {
                    pixels: w.value(i).max(0) as u64 * h.value(i).max(0) as u64,
                    id: sha.value(i).to_string(),
                    uid: uid.value(i).to_string(),
                });
                ph.push(p.value(i));
                dh.push(d.value(i));
                texts.push(opt(t, i).map(str::to_string));
            }
        }
        let (lead, dup_reason) = match &self.kind {
            Kind::Image(c) => (
                image_leaders(
                    &ranks,
                    &ph,
                    &dh,
                    ImageThresholds {
                        phash: c.phash_threshold,
                        dhash: c.dhash_threshold,
                    },
                ),
                "near_duplicate",
            ),
            Kind::Caption(c) => {
                let t: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
                (
                    caption_leaders(&ranks, &t, c.threshold, io.pipeline_seed()),
                    "caption_duplicate",
                )
            }
        };
        let mut members = vec![0u64; ranks.len()];
        for &l in &lead {
            members[l] += 1;
        }
        // Rows sorted by uid: the table's bytes do not depend on input order.
        let mut order: Vec<usize> = (0..ranks.len()).collect();
        order.sort_by(|&a, &b| ranks[a].uid.cmp(&ranks[b].uid));
        let reason = |i: usize| {
            let l = lead[i];
            if l == i {
                ""
            } else if ranks[l].id == ranks[i].id {
                "exact_duplicate"
            } else {
                dup_reason
            }
        };
        let batch = RecordBatch::try_new(
            groups_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    order.iter().map(|&i| ranks[i].uid.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    order.iter().map(|&i| ranks[lead[i]].uid.as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    order.iter().map(|&i| members[lead[i]]),
                )),
                Arc::new(StringArray::from_iter_values(
                    order.iter().map(|&i| reason(i)),
                )),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit(&batch)
    }
}

/// Per-record verdicts of one groups table: uid → (representative, members, reason).
type Table = HashMap<String, (String, u64, String)>;

struct DropNear {
    tables: OnceLock<Result<Vec<(String, Table)>, String>>,
}

/// Builds `drop_near_duplicates`.
pub fn build_filter(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    let _: Empty = parse_config(table)?;
    Ok(Arc::new(DropNear {
        tables: OnceLock::new(),
    }))
}

impl DropNear {
    fn tables(&self, io: &StageIo) -> StageResult<&[(String, Table)]> {
        self.tables
            .get_or_init(|| {
                let mut out = Vec::new();
                for input in io.side_inputs() {
                    let mut map = Table::new();
                    for file in &input.shards {
                        let shard = Shard::open(file).map_err(|e| e.to_string())?;
                        for b in shard.read(None, 8192).map_err(|e| e.to_string())? {
                            let b = b.map_err(|e| e.to_string())?;
                            let (k, keep, m, r) = (
                                strs(&b, "key")?,
                                strs(&b, "keep")?,
                                u64s(&b, "members")?,
                                strs(&b, "reason")?,
                            );
                            for i in 0..b.num_rows() {
                                map.insert(
                                    k.value(i).to_string(),
                                    (
                                        keep.value(i).to_string(),
                                        m.value(i),
                                        r.value(i).to_string(),
                                    ),
                                );
                            }
                        }
                    }
                    out.push((input.stage.clone(), map));
                }
                Ok(out)
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }
}

impl Stage for DropNear {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(first.clone())
    }

    fn check_side_inputs(&self, side: &[SchemaRef]) -> StageResult<()> {
        if side.is_empty() {
            return Err("needs an `image_near_duplicates` or `caption_near_duplicates` stage in `side_inputs`".into());
        }
        for s in side {
            require(s, &groups_schema())?;
        }
        Ok(())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let tables = self.tables(io)?;
        while let Some(batch) = io.next_batch()? {
            let (uid, path) = (strs(&batch, "uid")?, strs(&batch, "path")?);
            let mut mask = Vec::with_capacity(batch.num_rows());
            let mut copies = Vec::new();
            for i in 0..batch.num_rows() {
                let u = uid.value(i);
                let mut verdict: Result<Vec<(String, u64)>, (bool, String)> = Ok(Vec::new());
                for (stage, t) in tables {
                    match t.get(u) {
                        None => {
                            verdict = Err((true, format!("{u} has no row in `{stage}`")));
                            break;
                        }
                        Some((keep, _, reason)) if keep != u => {
                            verdict = Err((false, reason.clone()));
                            break;
                        }
                        Some((_, m, _)) => {
                            if let Ok(v) = &mut verdict {
                                v.push((stage.clone(), m - 1));
                            }
                        }
                    }
                }
                match verdict {
                    Ok(v) => {
                        mask.push(true);
                        copies.push(v);
                    }
                    Err((true, msg)) => {
                        io.quarantine(path.value(i), "not_in_dedup_table", msg);
                        mask.push(false);
                    }
                    Err((false, reason)) => {
                        io.drop_records(&reason, 1);
                        mask.push(false);
                    }
                }
            }
            let kept = arrow::compute::filter_record_batch(&batch, &mask.into())
                .map_err(|e| e.to_string())?;
            let kept = crate::record::update_extra(&kept, |i, m| {
                let d = m.entry("duplicates").or_insert_with(|| json!({}));
                if let Some(d) = d.as_object_mut() {
                    for (stage, n) in &copies[i] {
                        d.insert(stage.clone(), json!(n));
                    }
                }
            })?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
