//! `page_near_duplicates`: the global phase of near-duplicate page removal (MinHash + LSH over
//! the page text). One split reads only `uid` and `text` of every page, groups pages whose
//! estimated Jaccard similarity reaches `threshold`, and writes `(key = uid, keep = the
//! group's smallest uid)`; the engine's `drop_duplicates` (with `key = order_by = "uid"`)
//! then keeps one page per group, in parallel, on any number of ranks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult, require_column};

use crate::quality::{band_keys, minhash, shingles, similarity};

fn d_threshold() -> f32 {
    0.8
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Estimated Jaccard similarity at which two pages are the same page.
    #[serde(default = "d_threshold")]
    threshold: f32,
}

struct NearDuplicates {
    cfg: Config,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err("`threshold` must be in (0, 1]".into());
    }
    Ok(Arc::new(NearDuplicates { cfg }))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("keep", DataType::Utf8, false),
        Field::new("members", DataType::UInt64, false),
    ]))
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Groups of near-duplicate texts: for each input index, the index of its group's
/// representative (the smallest uid, since `uids` are sorted).
pub fn group(texts: &[String], threshold: f32) -> Vec<usize> {
    let sigs: Vec<Option<Vec<u64>>> = texts.iter().map(|t| signature(t)).collect();
    group_signatures(&sigs, threshold)
}

/// The MinHash signature of a page's text; `None` for pages without text, which are never
/// duplicates of each other.
pub fn signature(text: &str) -> Option<Vec<u64>> {
    (!text.trim().is_empty()).then(|| minhash(&shingles(text)))
}

/// [`group`] over precomputed signatures (the stage keeps only these, ~1 KiB per page, not
/// the texts).
pub fn group_signatures(sigs: &[Option<Vec<u64>>], threshold: f32) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..sigs.len()).collect();
    let mut buckets: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (i, sig) in sigs.iter().enumerate() {
        let Some(sig) = sig else { continue };
        for (band, key) in band_keys(sig).into_iter().enumerate() {
            buckets.entry((band, key)).or_default().push(i);
        }
    }
    let mut keys: Vec<_> = buckets.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let members = &buckets[&k];
        for &j in &members[1..] {
            let i = members[0];
            let (Some(si), Some(sj)) = (&sigs[i], &sigs[j]) else {
                continue;
            };
            if similarity(si, sj) >= threshold {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    (0..sigs.len()).map(|i| find(&mut parent, i)).collect()
}

impl Stage for NearDuplicates {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            require_column(s, "uid", &DataType::Utf8)?;
            require_column(s, "text", &DataType::Utf8)?;
        }
        Ok(schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(vec![Split::global(ctx)])
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        io.project(&["uid", "text"]);
        let mut pages: BTreeMap<String, Option<Vec<u64>>> = BTreeMap::new();
        while let Some(batch) = io.next_batch()? {
            let col = |n: &str| {
                batch
                    .column_by_name(n)
                    .map(|c| c.as_string::<i32>().clone())
                    .ok_or(format!("no column `{n}`"))
            };
            let (uid, text) = (col("uid")?, col("text")?);
            for r in 0..batch.num_rows() {
                if pages
                    .insert(uid.value(r).to_string(), signature(text.value(r)))
                    .is_some()
                {
                    io.drop_records("duplicate_uid", 1); // the same page listed twice
                }
            }
        }
        let (uids, sigs): (Vec<String>, Vec<Option<Vec<u64>>>) = pages.into_iter().unzip();
        let reps = group_signatures(&sigs, self.cfg.threshold);
        let mut members = vec![0u64; uids.len()];
        for &r in &reps {
            members[r] += 1;
        }
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(&uids)),
                Arc::new(StringArray::from_iter_values(
                    reps.iter().map(|&r| uids[r].as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    reps.iter().map(|&r| members[r]),
                )),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_near_duplicates_to_the_first_member() {
        let body = "Section 3. The results of the survey show that most respondents prefer the new layout of the report over the old one, citing clarity.";
        let texts = vec![
            format!("{body} Page 1"),
            "An unrelated page about the history of printing presses in Europe and their spread."
                .to_string(),
            format!("{body} Page 2"),
            String::new(),
            String::new(),
        ];
        assert_eq!(group(&texts, 0.8), vec![0, 1, 0, 3, 4]);
    }
}
