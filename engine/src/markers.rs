//! Per-split completion markers: the commit point of a split's work.
//!
//! A split's shards are published (renamed into place) first, then its marker is written
//! atomically. A split without a marker whose fingerprint matches is redone from scratch after
//! its leftovers are removed, so a run killed at any instant resumes without duplicates or
//! holes. A stage's `manifest.json` is the merge of all its markers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weft_shards::manifest::{MANIFEST_FILE, MANIFEST_VERSION};
use weft_shards::{Counts, Manifest, ShardEntry, ShardInfo};

use crate::Error;

/// Folder of the markers inside a stage's output folder.
pub const MARKERS_DIR: &str = "_markers";
/// Folder of the quarantine tables inside a stage's output folder.
pub const QUARANTINE_DIR: &str = "quarantine";

/// What identifies a stage's output; copied into every marker so that `weft merge` needs
/// nothing but the output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMeta {
    /// Stage name.
    pub stage: String,
    /// Stage kind.
    pub kind: String,
    /// Fingerprint of kind, config, seed and inputs.
    pub fingerprint: String,
    /// Fingerprint of kind and config.
    pub config_fingerprint: String,
    /// Fingerprints of the inputs.
    pub input_fingerprints: BTreeMap<String, String>,
    /// Whether the output follows the sample schema.
    pub sample_schema: bool,
    /// Total number of splits of the stage.
    pub splits: u64,
}

/// The completion marker of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMarker {
    /// The stage it belongs to.
    pub stage: StageMeta,
    /// Split index.
    pub split: u64,
    /// Rank that did the work.
    pub rank: u64,
    /// Shards written for the split, in order.
    pub shards: Vec<ShardInfo>,
    /// Quarantine file, relative to the stage folder.
    pub quarantine: Option<String>,
    /// Accounting of the split.
    pub counts: Counts,
}

/// Path of split `split`'s marker.
pub fn marker_path(stage_dir: &Path, split: u64) -> PathBuf {
    stage_dir
        .join(MARKERS_DIR)
        .join(format!("s{split:06}.json"))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    // A randomly named temp file: ranks on different hosts (or containers) share PIDs, and
    // two ranks may publish the same manifest at the same moment.
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Reads a marker; `None` when absent or unreadable (a torn marker cannot exist, but a
/// foreign file is treated as "not done").
pub fn read_marker(path: &Path) -> Option<SplitMarker> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Reads all markers of a stage folder, by split index.
pub fn read_markers(stage_dir: &Path) -> BTreeMap<u64, SplitMarker> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(stage_dir.join(MARKERS_DIR)) else {
        return out;
    };
    for e in entries.flatten() {
        if let Some(m) = read_marker(&e.path()) {
            out.insert(m.split, m);
        }
    }
    out
}

/// Removes whatever a previous, unfinished attempt at `split` left in the stage folder.
pub fn clean_split(stage_dir: &Path, split: u64) -> Result<(), Error> {
    let tag = format!("-s{split:06}-");
    for dir in [
        stage_dir.to_path_buf(),
        stage_dir.join(QUARANTINE_DIR),
        stage_dir.join(MARKERS_DIR),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name.contains(&tag)
                || name.starts_with(&format!("s{split:06}."))
                || name.starts_with(&format!(".s{split:06}."));
            if ours {
                std::fs::remove_file(e.path()).map_err(|err| Error::io(&e.path(), err))?;
            }
        }
    }
    Ok(())
}

/// Removes every temporary file under `dir` (one level of sub-folders deep). Only safe when no
/// other process writes there, i.e. for single-rank runs.
pub fn clean_temp_files(dir: &Path) -> Result<(), Error> {
    let mut dirs = vec![dir.to_path_buf()];
    for sub in [MARKERS_DIR, QUARANTINE_DIR] {
        dirs.push(dir.join(sub));
    }
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                std::fs::remove_file(e.path()).map_err(|err| Error::io(&e.path(), err))?;
            }
        }
    }
    Ok(())
}

/// Writes the stage manifest when every split of `meta` has a marker with its fingerprint.
/// Returns the manifest, or the missing split indexes.
pub fn finalize(stage_dir: &Path, meta: &StageMeta) -> Result<Result<Manifest, Vec<u64>>, Error> {
    let markers = read_markers(stage_dir);
    let missing: Vec<u64> = (0..meta.splits)
        .filter(|i| {
            markers
                .get(i)
                .is_none_or(|m| m.stage.fingerprint != meta.fingerprint)
        })
        .collect();
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    let mut counts = Counts::default();
    let mut shards = Vec::new();
    let mut quarantine = Vec::new();
    for m in (0..meta.splits).map(|i| &markers[&i]) {
        counts.merge(&m.counts);
        shards.extend(m.shards.iter().map(|s| ShardEntry {
            file: s.file.clone(),
            rows: s.rows,
            bytes: s.bytes,
            sha256: s.sha256.clone(),
            split: m.split,
            rank: m.rank,
        }));
        quarantine.extend(m.quarantine.clone());
    }
    counts.check().map_err(|msg| Error::Stage {
        stage: meta.stage.clone(),
        msg,
    })?;
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        stage: meta.stage.clone(),
        kind: meta.kind.clone(),
        fingerprint: meta.fingerprint.clone(),
        config_fingerprint: meta.config_fingerprint.clone(),
        input_fingerprints: meta.input_fingerprints.clone(),
        sample_schema: meta.sample_schema,
        splits: meta.splits,
        shards,
        quarantine,
        counts,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Stage {
        stage: meta.stage.clone(),
        msg: e.to_string(),
    })?;
    write_atomic(&stage_dir.join(MANIFEST_FILE), &json)?;
    Ok(Ok(manifest))
}
