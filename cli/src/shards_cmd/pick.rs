//! Finding rows by position or id across many files (shared by `show` and `render`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow::array::AsArray;
use clap::Args;
use weft_shards::{Sample, samples_from_batch};

use super::{Failures, Inputs, open_sample_shard};

/// Which row: `--row N` (counting across all files in order) or `--id ID`.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Selector {
    /// Row number, counting from 0 across all files in order.
    #[arg(long)]
    pub row: Option<u64>,
    /// Sample id.
    #[arg(long)]
    pub id: Option<String>,
}

/// A row found in a file.
pub struct Picked {
    /// The file holding it.
    pub file: PathBuf,
    /// Row within that file.
    pub row: u64,
    /// The decoded sample.
    pub sample: Sample,
}

/// Reads row `row` of `path` (streams row groups up to it).
pub fn read_row(path: &Path, row: u64) -> anyhow::Result<Sample> {
    let mut skip = row;
    for batch in open_sample_shard(path)?.read(None, 64)? {
        let batch = batch?;
        let n = batch.num_rows() as u64;
        if skip < n {
            let mut s = samples_from_batch(&batch.slice(skip as usize, 1))
                .with_context(|| format!("{}: row {row}", path.display()))?;
            return Ok(s.remove(0));
        }
        skip -= n;
    }
    anyhow::bail!("{}: no row {row}", path.display())
}

fn find_id(path: &Path, id: &str) -> anyhow::Result<Option<u64>> {
    let mut offset = 0u64;
    for batch in open_sample_shard(path)?.read(Some(&["id"]), 8192)? {
        let batch = batch?;
        let ids = batch.column(0).as_string::<i32>();
        if let Some(i) = ids.iter().position(|v| v == Some(id)) {
            return Ok(Some(offset + i as u64));
        }
        offset += batch.num_rows() as u64;
    }
    Ok(None)
}

/// Finds the selected row; `Ok(None)` when no file has it.
pub fn pick(
    inputs: &Inputs,
    sel: &Selector,
    failures: &mut Failures,
) -> anyhow::Result<Option<Picked>> {
    let files = inputs.files()?;
    if let Some(mut want) = sel.row {
        for file in files {
            let Some(rows) = failures.run(&file, |p| Ok(open_sample_shard(p)?.num_rows()))? else {
                continue;
            };
            if want < rows {
                let sample = read_row(&file, want)?;
                return Ok(Some(Picked {
                    file,
                    row: want,
                    sample,
                }));
            }
            want -= rows;
        }
        return Ok(None);
    }
    let id = sel.id.as_deref().unwrap_or_default();
    for file in files {
        if let Some(Some(row)) = failures.run(&file, |p| find_id(p, id))? {
            let sample = read_row(&file, row)?;
            return Ok(Some(Picked { file, row, sample }));
        }
    }
    Ok(None)
}
