//! # weft-engine
//!
//! Runs a pipeline — a DAG of named stages declared in a TOML file — locally or as one rank of
//! a cluster job. Data crosses stage boundaries as Arrow record batches persisted as Parquet
//! shards (written by `weft-shards`), so every stage is a phase that hands off through files:
//! a killed run resumes from per-split completion markers, ranks share nothing but the output
//! folder, and a stage whose config and inputs are unchanged is skipped.
//!
//! - [`pipeline_file`]: parsing the TOML, with file:line errors;
//! - [`registry`]: stage kinds and their typed configs;
//! - [`stage`]: the [`Stage`] trait and the [`StageIo`] a stage reads from and emits to;
//! - [`plan`]: validation (kinds, inputs, cycles, schemas) and the printed DAG;
//! - [`run`]: the executor (rayon over splits, ranks, markers, manifests, progress);
//! - [`cluster`]: phases of a batch job and the work an output folder still lacks;
//! - [`stages`]: built-in stage kinds (image folders, filters, caption samples, exact dedup);
//! - [`store`]: object storage (S3, GCS, Azure) for outputs and source inputs.

pub mod cluster;
pub mod fingerprint;
pub mod inputs;
pub mod json_cache;
pub mod markers;
pub mod pipeline_file;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod registry;
pub mod rng;
pub mod run;
pub mod stage;
pub mod stages;
pub mod store;

use std::path::PathBuf;

pub use plan::Plan;
pub use registry::Registry;
pub use run::{RunOptions, RunReport, StageReport, StageStatus, merge, merge_with};
pub use stage::{Split, Stage, StageIo};

/// Errors of the engine. Variants carry the file, line or stage they concern.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pipeline file problem at a known place.
    #[error("{file}:{line}: {msg}")]
    Config {
        /// The pipeline file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A problem with the DAG as a whole (cycles, unknown stages on the command line).
    #[error("{0}")]
    Plan(String),
    /// A stage that failed as a whole.
    #[error("stage `{stage}`: {msg}")]
    Stage {
        /// The stage name.
        stage: String,
        /// The cause.
        msg: String,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Several problems found while validating a pipeline.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Error>),
    /// Shard library error.
    #[error(transparent)]
    Shards(#[from] weft_shards::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
