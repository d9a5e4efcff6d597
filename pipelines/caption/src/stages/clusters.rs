//! `cluster_images` (global) and `apply_clusters` (per split): k-means over the `feature`
//! column (the native model's pooled vision features when `embed_images` ran with a model,
//! the colour feature otherwise), then balanced sampling — at most `max_per_cluster` records
//! per cluster, chosen by a seeded hash of the uid so the choice is the same on any rank.
//! Kept records carry `extra.cluster` and `extra.cluster_size` (members before the cap).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::reader::Shard;

use crate::kmeans::{Options, kmeans};
use crate::record::{feature_row, features, image_schema, require, strs, u64s};

fn d_k() -> usize {
    16
}
fn d_iter() -> usize {
    100
}
fn d_tol() -> f64 {
    1e-6
}
fn d_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Clusters (clamped to the number of records).
    #[serde(default = "d_k")]
    k: usize,
    #[serde(default = "d_iter")]
    max_iter: usize,
    #[serde(default = "d_tol")]
    tol: f64,
    /// Scale each feature vector to unit length first (cosine geometry).
    #[serde(default = "d_true")]
    normalise: bool,
    /// Most records kept per cluster (none: keep all).
    #[serde(default)]
    max_per_cluster: Option<u64>,
}

/// Schema of the cluster table.
pub fn cluster_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("cluster", DataType::UInt64, false),
        Field::new("cluster_size", DataType::UInt64, false),
        Field::new("keep", DataType::Boolean, false),
    ]))
}

struct Cluster {
    cfg: Config,
}

/// Builds `cluster_images`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.k == 0 || cfg.max_iter == 0 || cfg.max_per_cluster == Some(0) {
        return Err("`k`, `max_iter` and `max_per_cluster` must be at least 1".into());
    }
    Ok(Arc::new(Cluster { cfg }))
}

fn draw(seed: u64, uid: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(uid.as_bytes());
    h.finalize().into()
}

impl Stage for Cluster {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(cluster_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(vec![Split::global(ctx)])
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        io.project(&["uid", "feature"]);
        let (mut uids, mut data, mut dim) = (Vec::new(), Vec::new(), None);
        while let Some(b) = io.next_batch()? {
            let (u, f) = (strs(&b, "uid")?, features(&b)?);
            for i in 0..b.num_rows() {
                let mut row = feature_row(f, i);
                if *dim.get_or_insert(row.len()) != row.len() {
                    return Err(format!(
                        "feature of {} has {} values, others {}",
                        u.value(i),
                        row.len(),
                        dim.unwrap_or(0)
                    ));
                }
                if self.cfg.normalise {
                    let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                    if n > 0.0 {
                        row.iter_mut().for_each(|v| *v /= n);
                    }
                }
                uids.push(u.value(i).to_string());
                data.extend(row);
            }
        }
        // Records in uid order: clusters do not depend on file order or ranks.
        let d = dim.unwrap_or(1).max(1);
        let mut order: Vec<usize> = (0..uids.len()).collect();
        order.sort_by(|&a, &b| uids[a].cmp(&uids[b]));
        let sorted: Vec<f32> = order
            .iter()
            .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
            .collect();
        let seed = io.pipeline_seed();
        let km = kmeans(
            &sorted,
            d,
            &Options {
                k: self.cfg.k,
                seed,
                max_iter: self.cfg.max_iter,
                tol: self.cfg.tol,
            },
        )?;
        let k = self.cfg.k.min(uids.len()).max(1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (pos, &c) in km.assignment.iter().enumerate() {
            members[c as usize].push(pos);
        }
        let mut keep = vec![true; order.len()];
        if let Some(cap) = self.cfg.max_per_cluster {
            for m in &mut members {
                m.sort_by_key(|&pos| draw(seed, &uids[order[pos]]));
                for &pos in m.iter().skip(cap as usize) {
                    keep[pos] = false;
                }
            }
        }
        let sizes: Vec<u64> = members.iter().map(|m| m.len() as u64).collect();
        let batch = RecordBatch::try_new(
            cluster_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    order.iter().map(|&i| uids[i].as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    km.assignment.iter().map(|&c| u64::from(c)),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    km.assignment.iter().map(|&c| sizes[c as usize]),
                )),
                Arc::new(BooleanArray::from(keep)),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit(&batch)
    }
}

/// uid → (cluster, cluster size, kept).
type ClusterTable = HashMap<String, (u64, u64, bool)>;

struct Apply {
    table: OnceLock<Result<ClusterTable, String>>,
}

/// Builds `apply_clusters`.
pub fn build_apply(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    let _: Empty = parse_config(table)?;
    Ok(Arc::new(Apply {
        table: OnceLock::new(),
    }))
}

impl Apply {
    fn table(&self, io: &StageIo) -> StageResult<&ClusterTable> {
        self.table
            .get_or_init(|| {
                let mut map = HashMap::new();
                for input in io.side_inputs() {
                    for file in &input.shards {
                        for b in Shard::open(file)
                            .and_then(|s| s.read(None, 8192))
                            .map_err(|e| e.to_string())?
                        {
                            let b = b.map_err(|e| e.to_string())?;
                            let (k, c, s) = (
                                strs(&b, "key")?,
                                u64s(&b, "cluster")?,
                                u64s(&b, "cluster_size")?,
                            );
                            let keep = b
                                .column_by_name("keep")
                                .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
                                .ok_or("column `keep` missing or not boolean")?;
                            for i in 0..b.num_rows() {
                                map.insert(
                                    k.value(i).to_string(),
                                    (c.value(i), s.value(i), keep.value(i)),
                                );
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

impl Stage for Apply {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(first.clone())
    }

    fn check_side_inputs(&self, side: &[SchemaRef]) -> StageResult<()> {
        if side.len() != 1 {
            return Err("needs exactly one `cluster_images` stage in `side_inputs`".into());
        }
        require(&side[0], &cluster_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let table = self.table(io)?;
        while let Some(batch) = io.next_batch()? {
            let (uid, path) = (strs(&batch, "uid")?, strs(&batch, "path")?);
            let mut mask = Vec::with_capacity(batch.num_rows());
            let mut info = Vec::new();
            for i in 0..batch.num_rows() {
                match table.get(uid.value(i)) {
                    None => {
                        io.quarantine(
                            path.value(i),
                            "not_in_cluster_table",
                            format!("{} has no cluster", uid.value(i)),
                        );
                        mask.push(false);
                    }
                    Some(&(_, _, false)) => {
                        io.drop_records("cluster_cap", 1);
                        mask.push(false);
                    }
                    Some(&(c, s, true)) => {
                        mask.push(true);
                        info.push((c, s));
                    }
                }
            }
            let kept = arrow::compute::filter_record_batch(&batch, &mask.into())
                .map_err(|e| e.to_string())?;
            let kept = crate::record::update_extra(&kept, |i, m| {
                m.insert("cluster".into(), json!(info[i].0));
                m.insert("cluster_size".into(), json!(info[i].1));
            })?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
