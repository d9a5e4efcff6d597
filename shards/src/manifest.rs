//! `manifest.json`: what one stage wrote, with the accounting that proves nothing was lost.
//!
//! The engine writes one per stage output folder; `weft shards` uses it to find the shards
//! of a folder. Counts obey `in = out + dropped + quarantined` ([`Counts::check`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;
/// File name of a stage manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the run summary at the top of a run's output folder.
pub const RUN_FILE: &str = "_run.json";

/// Record accounting of a stage, a split or a whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Records consumed.
    #[serde(rename = "in")]
    pub input: u64,
    /// Records that reached the output.
    pub out: u64,
    /// Rows written (differs from `out` only for stages that split or merge records).
    pub rows: u64,
    /// Records dropped on purpose, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Records that failed, by reason.
    pub quarantined: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        self.input += other.input;
        self.out += other.out;
        self.rows += other.rows;
        for (k, v) in &other.dropped {
            *self.dropped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.quarantined {
            *self.quarantined.entry(k.clone()).or_default() += v;
        }
    }

    /// Total dropped records.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Total quarantined records.
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }

    /// Checks `in = out + dropped + quarantined`.
    pub fn check(&self) -> Result<(), String> {
        let accounted = self.out + self.dropped_total() + self.quarantined_total();
        if accounted == self.input {
            Ok(())
        } else {
            Err(format!(
                "accounting does not add up: in={} but out={} + dropped={} + quarantined={} = {}",
                self.input,
                self.out,
                self.dropped_total(),
                self.quarantined_total(),
                accounted
            ))
        }
    }
}

/// One published shard file of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the stage folder.
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file, hex.
    pub sha256: String,
    /// The input split the file was produced from.
    pub split: u64,
    /// The rank that produced it.
    pub rank: u64,
}

/// A stage's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub format_version: u32,
    /// Stage name.
    pub stage: String,
    /// Stage kind.
    pub kind: String,
    /// Fingerprint of (kind, config, seed, inputs): equal fingerprints mean equal outputs.
    pub fingerprint: String,
    /// Fingerprint of the stage's own config.
    pub config_fingerprint: String,
    /// Fingerprint of each input (upstream stage name or source description).
    pub input_fingerprints: BTreeMap<String, String>,
    /// Whether the shards follow the sample schema (and so are training data).
    pub sample_schema: bool,
    /// Number of splits the stage's work was cut into.
    pub splits: u64,
    /// Every shard, in split order.
    pub shards: Vec<ShardEntry>,
    /// Quarantine files (under `quarantine/`), in split order.
    pub quarantine: Vec<String>,
    /// Record accounting.
    pub counts: Counts,
}

impl Manifest {
    /// Reads a manifest, naming the file on error.
    pub fn read(path: &Path) -> Result<Manifest, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// `_run.json`: the stages of a run, in execution order, and which are final (sinks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// Stage names in execution order.
    pub stages: Vec<String>,
    /// Stages nothing else consumes: the run's outputs.
    pub sinks: Vec<String>,
}
