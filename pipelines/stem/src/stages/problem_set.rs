//! `problem_set`: exercises from JSONL / Parquet files (file, folder or glob), one split per
//! file; each row becomes one sample (see [`crate::problems`]) or is quarantined with its
//! reason, naming `file:line` (JSONL) or `file#row` (Parquet).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use weft_engine::inputs::{file_key, relative, resolve_inputs};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::{Sample, sample_schema, samples_to_batch};

use crate::problems::{RawRow, Refusal, read_jsonl, rows_of_batch, to_sample};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Problem file(s): `.jsonl` or `.parquet` — a file, folder or glob, relative to the
    /// pipeline file.
    path: String,
    /// Source name written into samples.
    #[serde(default = "d_source")]
    source: String,
}

fn d_source() -> String {
    "problems".into()
}

struct ProblemSet {
    cfg: Config,
}

/// Builds `problem_set`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    Ok(Arc::new(ProblemSet {
        cfg: parse_config(table)?,
    }))
}

const ROWS_PER_BATCH: usize = 64;

/// Rows of a file, each named (`file:line` or `file#row`).
type NamedRows = Vec<(String, Result<RawRow, Refusal>)>;

fn rows(file: &Path) -> Result<NamedRows, String> {
    let name = file.display().to_string();
    if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        let f = File::open(file).map_err(|e| format!("{name}: {e}"))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.with_batch_size(256).build())
            .map_err(|e| format!("{name}: {e}"))?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| format!("{name}: {e}"))?;
            for r in rows_of_batch(&batch) {
                out.push((format!("{name}#{}", out.len()), Ok(r)));
            }
        }
        Ok(out)
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
        Ok(read_jsonl(&text)
            .into_iter()
            .map(|(line, r)| (format!("{name}:{line}"), r))
            .collect())
    }
}

impl Stage for ProblemSet {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(sample_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let files = resolve_inputs(&ctx.base_dir, &self.cfg.path, &["jsonl", "parquet"])?;
        if files.is_empty() {
            return Err(format!(
                "`path = \"{}\"` matches no .jsonl or .parquet file",
                self.cfg.path
            ));
        }
        Ok(files
            .into_iter()
            .enumerate()
            .map(|(i, f)| Split {
                index: i as u64,
                key: file_key(&ctx.base_dir, &f),
                files: Vec::new(),
                items: vec![f],
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let file = split.items.first().ok_or("split without a file")?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        // Record names use the path relative to the pipeline folder, so ids and quarantine
        // rows do not depend on where the checkout lives.
        let shown = relative(io.base_dir(), file);
        let rows = match rows(file) {
            Ok(r) => r,
            Err(e) => {
                io.add_input(1);
                io.quarantine(shown, "bad_problem_file", e);
                return Ok(());
            }
        };
        let full = file.display().to_string();
        let mut samples: Vec<Sample> = Vec::new();
        for (key, row) in rows {
            io.add_input(1);
            let key = key.replacen(&full, &shown, 1);
            match row.and_then(|r| to_sample(r, &dir, &self.cfg.source, &key)) {
                Ok(s) => samples.push(s),
                Err((reason, msg)) => io.quarantine(key.clone(), reason, format!("{key}: {msg}")),
            }
            if samples.len() >= ROWS_PER_BATCH {
                io.emit(&samples_to_batch(&samples).map_err(|e| e.to_string())?)?;
                samples.clear();
            }
        }
        if !samples.is_empty() {
            io.emit(&samples_to_batch(&samples).map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }
}
