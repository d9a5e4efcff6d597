//! `weft shards …`: inspection commands over shard files, folders and globs.
//!
//! Every command takes the same inputs (files, globs, stage folders, run folders) and the same
//! failure policy: a file that is not a readable weft shard is an error naming the file; with
//! `--keep-going` the other files are still processed and the exit code is still non-zero.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

mod head;
mod ls;
mod pick;
mod render;
mod sql;
mod stats;
mod validate;

/// The `weft shards` subcommands.
#[derive(Subcommand)]
pub enum ShardsCmd {
    /// One line per file from the footer: rows, bytes, row groups, schema version.
    Ls(ls::LsArgs),
    /// Rows, bytes, resolutions and token counts per task and source (never reads image bytes).
    Stats(stats::StatsArgs),
    /// Print the first rows.
    Head(head::HeadArgs),
    /// Print one row, by position or id.
    Show(head::ShowArgs),
    /// Check every row (images decode, references resolve, ids unique); non-zero exit on problems.
    Validate(validate::ValidateArgs),
    /// A row through the chat template, with vision pads and token counts.
    Render(render::RenderArgs),
    /// Run a SQL query over all shards as the table `shards`.
    Sql(sql::SqlArgs),
}

/// Shard inputs and the failure policy, shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct Inputs {
    /// Shard files, globs, stage folders (manifest.json) or run folders (_run.json).
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Carry on past unreadable or foreign files (the exit code is still non-zero).
    #[arg(long)]
    pub keep_going: bool,
}

impl Inputs {
    /// The Parquet files the inputs name.
    pub fn files(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(weft_shards::resolve_paths(&self.paths)?)
    }
}

/// Applies the failure policy across files: `f` runs per file; an error stops everything
/// unless `keep_going`, in which case it is printed and remembered.
pub struct Failures {
    keep_going: bool,
    failed: usize,
}

impl Failures {
    /// A policy for `inputs`.
    pub fn new(inputs: &Inputs) -> Self {
        Failures {
            keep_going: inputs.keep_going,
            failed: 0,
        }
    }

    /// Runs `f` on `path`, returning its value, or `None` after a tolerated error.
    pub fn run<T>(
        &mut self,
        path: &Path,
        f: impl FnOnce(&Path) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        match f(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.keep_going => {
                eprintln!("error: {e:#}");
                self.failed += 1;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Success unless something failed.
    pub fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Opens a shard and checks it has the sample schema (footer only).
pub fn open_sample_shard(path: &Path) -> anyhow::Result<weft_shards::Shard> {
    let shard = weft_shards::Shard::open(path)?;
    anyhow::ensure!(
        weft_shards::is_sample_schema(shard.schema()),
        "{}: not a weft sample shard (columns or types differ)",
        path.display()
    );
    Ok(shard)
}

/// Human size: `139 KB`, `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("JSON output")?
    );
    Ok(())
}

/// Runs one `weft shards` subcommand.
pub fn run(cmd: ShardsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ShardsCmd::Ls(a) => ls::run(a),
        ShardsCmd::Stats(a) => stats::run(a),
        ShardsCmd::Head(a) => head::run_head(a),
        ShardsCmd::Show(a) => head::run_show(a),
        ShardsCmd::Validate(a) => validate::run(a),
        ShardsCmd::Render(a) => render::run(a),
        ShardsCmd::Sql(a) => sql::run(a),
    }
}
