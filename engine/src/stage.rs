//! The [`Stage`] trait every stage kind implements, the [`Split`] unit of work, and the
//! [`StageIo`] through which a stage reads its split and accounts for every record.
//!
//! A stage never sees ranks, threads or files of other splits: the executor hands it one split
//! at a time and checks afterwards that `in = out + dropped + quarantined`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use weft_shards::reader::{BatchIter, Shard};
use weft_shards::{Counts, ShardInfo, ShardWriter, WriterOptions};

/// Result type of stage code: the message says what failed, the engine adds stage and split.
pub type StageResult<T> = Result<T, String>;

/// One unit of work: a group of source items or a group of upstream shard files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Position in the stage's split list (stable across ranks and runs).
    pub index: u64,
    /// Upstream shard files to read (transform stages).
    pub files: Vec<PathBuf>,
    /// Source items, e.g. input file paths (source stages).
    pub items: Vec<PathBuf>,
    /// Identity of the split's content for fingerprints (e.g. `path:size:mtime`).
    pub key: String,
}

impl Split {
    /// One split per upstream (input, producer split), in manifest order.
    pub fn per_upstream_split(ctx: &SplitContext) -> Vec<Split> {
        let mut out: Vec<Split> = Vec::new();
        for input in &ctx.inputs {
            let mut last: Option<u64> = None;
            for (file, split) in input.shards.iter().zip(&input.shard_splits) {
                if last != Some(*split) {
                    out.push(Split {
                        index: out.len() as u64,
                        files: Vec::new(),
                        items: Vec::new(),
                        key: String::new(),
                    });
                    last = Some(*split);
                }
                let current = out.last_mut().expect("pushed above");
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                current.key = if current.key.is_empty() {
                    name
                } else {
                    format!("{}\n{name}", current.key)
                };
                current.files.push(file.clone());
            }
        }
        out
    }

    /// The single split of a global phase: every shard of every main input, in order.
    pub fn global(ctx: &SplitContext) -> Split {
        let files: Vec<PathBuf> = ctx
            .inputs
            .iter()
            .flat_map(|i| i.shards.iter().cloned())
            .collect();
        let key = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        Split {
            index: 0,
            files,
            items: Vec::new(),
            key,
        }
    }
}

/// An upstream stage's finished output as seen by a downstream stage.
#[derive(Debug, Clone)]
pub struct InputDataset {
    /// Upstream stage name.
    pub stage: String,
    /// Its shard files in split order.
    pub shards: Vec<PathBuf>,
    /// The producer split of each shard (parallel to `shards`).
    pub shard_splits: Vec<u64>,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// What a stage sees when cutting its work into splits.
#[derive(Debug, Clone)]
pub struct SplitContext {
    /// Main inputs, in declaration order.
    pub inputs: Vec<InputDataset>,
    /// Folder of the pipeline file (relative source paths resolve against it).
    pub base_dir: PathBuf,
}

/// A stage: built from its typed config by the registry, shared by all worker threads.
pub trait Stage: Send + Sync {
    /// The output schema given the main inputs' schemas (empty for sources). Return an error
    /// naming the missing or mistyped column when an input does not fit.
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef>;

    /// Cuts the work into splits. The default gives one split per split of the upstream stage
    /// (all the files it wrote for that split), so records that one upstream split produced
    /// together — a document's pages, say — stay together however the writer rolled files.
    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        Ok(Split::per_upstream_split(ctx))
    }

    /// Checks the side inputs' schemas (default: accepts anything).
    fn check_side_inputs(&self, _side: &[SchemaRef]) -> StageResult<()> {
        Ok(())
    }

    /// Processes one split. Record-level problems go to [`StageIo::quarantine`]; an `Err`
    /// fails the whole stage.
    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()>;
}

/// A quarantined record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Where the record came from (file, id, …).
    pub source: String,
    /// Short machine-friendly reason (the count key).
    pub reason: String,
    /// The full error text.
    pub error: String,
}

/// The schema of `quarantine/*.parquet`.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stage", DataType::Utf8, false),
        Field::new("split", DataType::UInt64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
    ]))
}

/// Reading, emitting and accounting for one split.
pub struct StageIo {
    pub(crate) files: std::vec::IntoIter<PathBuf>,
    pub(crate) current: Option<BatchIter>,
    pub(crate) projection: Option<Vec<String>>,
    pub(crate) side: Vec<InputDataset>,
    pub(crate) base_dir: PathBuf,
    pub(crate) seed: u64,
    pub(crate) pipeline_seed: u64,
    pub(crate) split: u64,
    pub(crate) out_dir: PathBuf,
    pub(crate) prefix: String,
    pub(crate) schema: SchemaRef,
    pub(crate) writer_opts: WriterOptions,
    pub(crate) writer: Option<ShardWriter>,
    pub(crate) counts: Counts,
    pub(crate) quarantined: Vec<Quarantined>,
}

impl StageIo {
    /// The next batch of the split's upstream files; counts its rows as consumed.
    pub fn next_batch(&mut self) -> StageResult<Option<RecordBatch>> {
        loop {
            if let Some(iter) = &mut self.current {
                match iter.next() {
                    Some(Ok(b)) => {
                        self.counts.input += b.num_rows() as u64;
                        return Ok(Some(b));
                    }
                    Some(Err(e)) => return Err(e.to_string()),
                    None => self.current = None,
                }
            }
            let Some(file) = self.files.next() else {
                return Ok(None);
            };
            let shard = Shard::open(&file).map_err(|e| e.to_string())?;
            let cols: Option<Vec<&str>> = self
                .projection
                .as_ref()
                .map(|p| p.iter().map(String::as_str).collect());
            self.current = Some(
                shard
                    .read(cols.as_deref(), 256)
                    .map_err(|e| e.to_string())?,
            );
        }
    }

    /// Reads only these columns from the next input file on (global phases that need a key
    /// column, not the image bytes).
    pub fn project(&mut self, columns: &[&str]) {
        self.projection = Some(columns.iter().map(|c| c.to_string()).collect());
    }

    /// Counts `n` source records as consumed (source stages, which read their own items).
    pub fn add_input(&mut self, n: u64) {
        self.counts.input += n;
    }

    /// Writes rows that each stand for one consumed record.
    pub fn emit(&mut self, batch: &RecordBatch) -> StageResult<()> {
        self.emit_from(batch, batch.num_rows() as u64)
    }

    /// Writes rows produced from `records` consumed records (fan-out or fan-in stages).
    pub fn emit_from(&mut self, batch: &RecordBatch, records: u64) -> StageResult<()> {
        self.counts.out += records;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(format!(
                "emitted batch does not match the declared output schema\n  declared: {:?}\n  emitted:  {:?}",
                self.schema.fields(),
                batch.schema().fields()
            ));
        }
        self.counts.rows += batch.num_rows() as u64;
        if self.writer.is_none() {
            let w = ShardWriter::new(
                &self.out_dir,
                &self.prefix,
                self.schema.clone(),
                self.writer_opts.clone(),
            )
            .map_err(|e| e.to_string())?;
            self.writer = Some(w);
        }
        self.writer
            .as_mut()
            .expect("writer")
            .write(batch)
            .map_err(|e| e.to_string())
    }

    /// Drops `n` records on purpose, counted under `reason`.
    pub fn drop_records(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.counts.dropped.entry(reason.to_string()).or_default() += n;
        }
    }

    /// Quarantines one record: it is kept in `quarantine/` with the reason and error text.
    pub fn quarantine(
        &mut self,
        source: impl Into<String>,
        reason: &str,
        error: impl Into<String>,
    ) {
        *self
            .counts
            .quarantined
            .entry(reason.to_string())
            .or_default() += 1;
        self.quarantined.push(Quarantined {
            source: source.into(),
            reason: reason.into(),
            error: error.into(),
        });
    }

    /// Seed for this split: derived from the pipeline seed, the stage name and the split index.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The pipeline's seed as written in its file: for choices keyed by record (e.g. a prompt
    /// per page id) that must not depend on how records were cut into splits.
    pub fn pipeline_seed(&self) -> u64 {
        self.pipeline_seed
    }

    /// The split's index.
    pub fn split_index(&self) -> u64 {
        self.split
    }

    /// Folder of the pipeline file.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The side inputs' shard files, in declaration order.
    pub fn side_inputs(&self) -> &[InputDataset] {
        &self.side
    }

    /// Record counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub(crate) fn finish(self) -> StageResult<(Vec<ShardInfo>, Counts, Vec<Quarantined>)> {
        let shards = match self.writer {
            Some(w) => w.finish().map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        Ok((shards, self.counts, self.quarantined))
    }
}

/// Quarantined records as a batch of [`quarantine_schema`].
pub fn quarantine_batch(stage: &str, split: u64, rows: &[Quarantined]) -> RecordBatch {
    let col =
        |f: fn(&Quarantined) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f)));
    RecordBatch::try_new(
        quarantine_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| stage))),
            Arc::new(arrow::array::UInt64Array::from_iter_values(
                rows.iter().map(|_| split),
            )),
            col(|q| &q.source),
            col(|q| &q.reason),
            col(|q| &q.error),
        ],
    )
    .expect("quarantine batch matches its schema")
}

/// Checks that `schema` has `name` with type `dtype`; the message names both sides.
pub fn require_column(schema: &Schema, name: &str, dtype: &DataType) -> StageResult<()> {
    match schema.field_with_name(name) {
        Ok(f) if f.data_type().equals_datatype(dtype) => Ok(()),
        Ok(f) => Err(format!(
            "input column `{name}` has type {}, expected {dtype}",
            f.data_type()
        )),
        Err(_) => Err(format!(
            "input has no column `{name}` ({dtype}); it has: {}",
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_splits_keep_each_upstream_split_together() {
        let input = |stage: &str, files: &[(&str, u64)]| InputDataset {
            stage: stage.into(),
            shards: files.iter().map(|(f, _)| PathBuf::from(f)).collect(),
            shard_splits: files.iter().map(|(_, s)| *s).collect(),
            fingerprint: String::new(),
        };
        let ctx = SplitContext {
            inputs: vec![
                input(
                    "a",
                    &[
                        ("r0-s0-0", 0),
                        ("r0-s0-1", 0),
                        ("r1-s1-0", 1),
                        ("r0-s3-0", 3),
                    ],
                ),
                input("b", &[("r0-s0-0", 0)]),
            ],
            base_dir: PathBuf::new(),
        };
        let splits = Split::per_upstream_split(&ctx);
        let files: Vec<Vec<&str>> = splits
            .iter()
            .map(|s| s.files.iter().map(|f| f.to_str().unwrap()).collect())
            .collect();
        assert_eq!(
            files,
            vec![
                vec!["r0-s0-0", "r0-s0-1"],
                vec!["r1-s1-0"],
                vec!["r0-s3-0"],
                vec!["r0-s0-0"]
            ]
        );
        assert_eq!(
            splits.iter().map(|s| s.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }
}
