//! The executor: runs a [`Plan`] as rank `rank` of `world_size`, stage after stage.
//!
//! Within a stage, the splits assigned to this rank (`split % world_size == rank`, a pure
//! function of the sorted split list) run in parallel on rayon. Each split is committed by its
//! marker; a stage is complete when all its splits are, and then gets its `manifest.json`.
//! Downstream stages on other ranks wait for that manifest, so a multi-rank job needs no
//! coordinator — only the shared output folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use weft_shards::manifest::{MANIFEST_FILE, MANIFEST_VERSION, RUN_FILE, RunSummary};
use weft_shards::{Counts, Manifest, WriterOptions, is_sample_schema};

use crate::Error;
use crate::fingerprint::{derive_seed, digest};
use crate::markers::{
    QUARANTINE_DIR, SplitMarker, StageMeta, clean_split, clean_temp_files, finalize, marker_path,
    read_marker, read_markers, write_atomic,
};
use crate::plan::{Plan, PlannedStage};
use crate::stage::{
    InputDataset, Split, SplitContext, StageIo, quarantine_batch, quarantine_schema,
};
use crate::store::Remote;

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output folder: one sub-folder per stage.
    pub out: PathBuf,
    /// This process's rank.
    pub rank: u64,
    /// Number of ranks.
    pub world_size: u64,
    /// Run only these stages (their inputs must be complete); all when empty.
    pub only: Vec<String>,
    /// Show progress bars.
    pub progress: bool,
    /// How long to wait for other ranks to complete an input stage.
    pub wait_timeout: Duration,
    /// Shard writer settings.
    pub writer: WriterOptions,
    /// Object store the output is published to (`out` is then the local staging folder):
    /// see [`crate::store`].
    pub remote: Option<Arc<Remote>>,
}

impl RunOptions {
    /// Single-rank defaults writing into `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            rank: 0,
            world_size: 1,
            only: Vec::new(),
            progress: false,
            wait_timeout: Duration::from_secs(24 * 3600),
            writer: WriterOptions::default(),
            remote: None,
        }
    }
}

/// What happened to a stage in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Work was done and the stage is complete.
    Ran,
    /// Config and inputs were unchanged: nothing to do.
    Cached,
    /// This rank's part is done; other ranks still have splits to finish.
    Partial,
    /// Not selected by `--stage`.
    Skipped,
}

/// Outcome of one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub stage: String,
    /// Stage kind.
    pub kind: String,
    /// Outcome.
    pub status: StageStatus,
    /// Splits of the stage, all ranks.
    pub splits: u64,
    /// Splits this run processed.
    pub splits_run: u64,
    /// Splits of this rank already committed by an earlier run.
    pub splits_resumed: u64,
    /// Counts of the whole stage when complete, else of this rank's splits.
    pub counts: Counts,
    /// Shard files (whole stage when complete).
    pub shards: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Wall time of this stage in this run.
    pub seconds: f64,
}

/// Outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Pipeline name.
    pub pipeline: String,
    /// Output folder.
    pub out: PathBuf,
    /// Rank.
    pub rank: u64,
    /// World size.
    pub world_size: u64,
    /// Stages in execution order.
    pub stages: Vec<StageReport>,
}

/// Runs `plan` as described by `opts`.
pub fn run(plan: &Plan, opts: &RunOptions) -> Result<RunReport, Error> {
    if opts.world_size == 0 || opts.rank >= opts.world_size {
        return Err(Error::Plan(format!(
            "rank {} is outside world size {}",
            opts.rank, opts.world_size
        )));
    }
    for name in &opts.only {
        if plan.stage(name).is_none() {
            return Err(Error::Plan(format!(
                "--stage `{name}`: no such stage in {}",
                plan.file.path.display()
            )));
        }
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    if opts.world_size == 1 {
        clean_temp_files(&opts.out)?;
    }
    let summary = RunSummary {
        pipeline: plan.file.name.clone(),
        stages: plan.stages.iter().map(|s| s.spec.name.clone()).collect(),
        sinks: plan.sinks(),
    };
    write_atomic(
        &opts.out.join(RUN_FILE),
        &serde_json::to_vec_pretty(&summary).expect("summary json"),
    )?;
    publish(opts, &opts.out, &[RUN_FILE.to_string()])?;

    let bars = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut reports = Vec::new();
    let mut metas = BTreeMap::new();
    for stage in &plan.stages {
        if !opts.only.is_empty() && !opts.only.contains(&stage.spec.name) {
            reports.push(StageReport {
                stage: stage.spec.name.clone(),
                kind: stage.spec.kind.clone(),
                status: StageStatus::Skipped,
                splits: 0,
                splits_run: 0,
                splits_resumed: 0,
                counts: Counts::default(),
                shards: 0,
                bytes: 0,
                seconds: 0.0,
            });
            continue;
        }
        reports.push(run_stage(plan, stage, opts, &bars, &mut metas)?);
    }
    Ok(RunReport {
        pipeline: plan.file.name.clone(),
        out: opts.out.clone(),
        rank: opts.rank,
        world_size: opts.world_size,
        stages: reports,
    })
}

/// Reads an input stage's manifest, waiting for other ranks to finish it when there are any.
///
/// `expected` is the input stage's metadata as this rank computed it when it ran that stage:
/// a manifest with another fingerprint is stale and not used, and while waiting this rank
/// tries to finalize the stage itself, so a rank that died after its last marker but before
/// writing the manifest does not leave the others waiting.
fn input_dataset(
    out: &Path,
    name: &str,
    opts: &RunOptions,
    consumer: &str,
    expected: Option<&StageMeta>,
) -> Result<InputDataset, Error> {
    let dir = out.join(name);
    let path = dir.join(MANIFEST_FILE);
    let start = Instant::now();
    loop {
        if let Some(remote) = &opts.remote {
            crate::store::pull_stage_state(remote, &dir, name, expected.is_some())?;
        }
        if path.is_file() {
            let m = Manifest::read(&path)?;
            if expected.is_none_or(|e| e.fingerprint == m.fingerprint) {
                if let Some(remote) = &opts.remote {
                    fetch_shards(remote, &dir, name, &m)?;
                }
                return Ok(InputDataset {
                    stage: name.to_string(),
                    shards: m.shards.iter().map(|s| dir.join(&s.file)).collect(),
                    shard_splits: m.shards.iter().map(|s| s.split).collect(),
                    fingerprint: m.fingerprint,
                });
            }
        }
        if let Some(meta) = expected
            && finalize_published(&dir, meta, opts)?.is_ok()
        {
            continue; // the manifest now exists
        }
        if opts.world_size == 1 || start.elapsed() > opts.wait_timeout {
            return Err(Error::Stage {
                stage: consumer.to_string(),
                msg: format!(
                    "input stage `{name}` is not complete ({} missing)",
                    path.display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn run_stage(
    plan: &Plan,
    stage: &PlannedStage,
    opts: &RunOptions,
    bars: &MultiProgress,
    metas: &mut BTreeMap<String, StageMeta>,
) -> Result<StageReport, Error> {
    let started = Instant::now();
    let name = &stage.spec.name;
    let dir = opts.out.join(name);
    let main: Vec<InputDataset> = stage
        .spec
        .inputs
        .iter()
        .map(|i| input_dataset(&opts.out, i, opts, name, metas.get(i)))
        .collect::<Result<_, _>>()?;
    let side: Vec<InputDataset> = stage
        .spec
        .side_inputs
        .iter()
        .map(|i| input_dataset(&opts.out, i, opts, name, metas.get(i)))
        .collect::<Result<_, _>>()?;
    let (splits, meta) = stage_meta(plan, stage, &main, &side)?;
    metas.insert(name.clone(), meta.clone());

    if let Some(remote) = &opts.remote {
        // The store is the truth: this stage's manifest and every rank's markers.
        crate::store::pull_stage_state(remote, &dir, name, true)?;
    }
    // Unchanged config and inputs: nothing to do.
    let manifest_path = dir.join(MANIFEST_FILE);
    if let Ok(m) = Manifest::read(&manifest_path) {
        if m.fingerprint == meta.fingerprint {
            return Ok(report(stage, StageStatus::Cached, &meta, 0, 0, &m, started));
        }
        if opts.world_size == 1 {
            // A single rank owns the whole folder: clear the stale output at once, manifest
            // first so that a kill half-way never leaves a manifest naming deleted shards.
            std::fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        } else {
            let _ = std::fs::remove_file(&manifest_path);
        }
        if let Some(remote) = &opts.remote {
            remote.delete(&format!("{name}/{MANIFEST_FILE}"))?;
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    if opts.world_size == 1 {
        clean_temp_files(&dir)?;
    }

    let mine: Vec<&Split> = splits
        .iter()
        .filter(|s| s.index % opts.world_size == opts.rank)
        .collect();
    let bar = bars.add(ProgressBar::new(mine.len() as u64));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>16} [{bar:30}] {pos}/{len} splits {msg} ({elapsed})",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.clone());
    let rows = Mutex::new(0u64);
    let resumed = Mutex::new(0u64);
    let mine_counts = Mutex::new(Counts::default());
    // The stage's objects in the store, listed once: a split that reruns first deletes the
    // shards an earlier attempt (under any rank) published for it.
    let stored: Vec<String> = match &opts.remote {
        Some(remote) => remote.list(name)?.into_iter().map(|(k, _, _)| k).collect(),
        None => Vec::new(),
    };

    mine.par_iter().try_for_each(|split| -> Result<(), Error> {
        let marker = marker_path(&dir, split.index);
        if let Some(m) = read_marker(&marker).filter(|m| m.stage.fingerprint == meta.fingerprint) {
            *resumed.lock().expect("lock") += 1;
            mine_counts.lock().expect("lock").merge(&m.counts);
            bar.inc(1);
            return Ok(());
        }
        clean_split(&dir, split.index)?;
        if let Some(remote) = &opts.remote {
            clean_stored_split(remote, name, &stored, split.index)?;
        }
        let m = run_split(plan, stage, &meta, split, &side, &dir, opts)?;
        mine_counts.lock().expect("lock").merge(&m.counts);
        let mut r = rows.lock().expect("lock");
        *r += m.counts.rows;
        bar.set_message(format!("{} rows", *r));
        bar.inc(1);
        Ok(())
    })?;
    bar.finish();

    let splits_resumed = *resumed.lock().expect("lock");
    let splits_run = mine.len() as u64 - splits_resumed;
    if let Some(remote) = &opts.remote {
        // Other machines' markers: the last rank to finish writes the manifest.
        crate::store::pull_stage_state(remote, &dir, name, true)?;
    }
    match finalize_published(&dir, &meta, opts)? {
        Ok(m) => Ok(report(
            stage,
            StageStatus::Ran,
            &meta,
            splits_run,
            splits_resumed,
            &m,
            started,
        )),
        Err(_missing) => {
            let markers = read_markers(&dir);
            let counts = mine_counts.into_inner().expect("lock");
            let (shards, bytes) = mine
                .iter()
                .filter_map(|s| markers.get(&s.index))
                .flat_map(|m| &m.shards)
                .fold((0, 0), |(n, b), s| (n + 1, b + s.bytes));
            Ok(StageReport {
                stage: name.clone(),
                kind: stage.spec.kind.clone(),
                status: StageStatus::Partial,
                splits: meta.splits,
                splits_run,
                splits_resumed,
                counts,
                shards,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
    }
}

/// Cuts `stage` into splits over its (complete) inputs and computes the metadata that
/// identifies its output: the fingerprint of kind, config, seed and inputs, which markers and
/// manifests carry.
pub(crate) fn stage_meta(
    plan: &Plan,
    stage: &PlannedStage,
    main: &[InputDataset],
    side: &[InputDataset],
) -> Result<(Vec<Split>, StageMeta), Error> {
    let name = &stage.spec.name;
    let stage_err = |msg: String| Error::Stage {
        stage: name.clone(),
        msg,
    };
    let ctx = SplitContext {
        inputs: main.to_vec(),
        base_dir: plan.file.base_dir(),
    };
    let splits = stage.stage.splits(&ctx).map_err(stage_err)?;

    let mut input_fingerprints = BTreeMap::new();
    for (role, list) in [("input", main), ("side_input", side)] {
        for i in list {
            input_fingerprints.insert(format!("{role}:{}", i.stage), i.fingerprint.clone());
        }
    }
    if stage.source {
        let keys: Vec<&str> = splits.iter().map(|s| s.key.as_str()).collect();
        input_fingerprints.insert("source".into(), digest(&keys));
    }
    let mut parts = vec![
        MANIFEST_VERSION.to_string(),
        stage.config_fingerprint.clone(),
        plan.file.seed.to_string(),
    ];
    parts.extend(input_fingerprints.iter().map(|(k, v)| format!("{k}={v}")));
    let meta = StageMeta {
        stage: name.clone(),
        kind: stage.spec.kind.clone(),
        fingerprint: digest(&parts),
        config_fingerprint: stage.config_fingerprint.clone(),
        input_fingerprints,
        sample_schema: is_sample_schema(&stage.schema),
        splits: splits.len() as u64,
    };
    Ok((splits, meta))
}

fn report(
    stage: &PlannedStage,
    status: StageStatus,
    meta: &StageMeta,
    splits_run: u64,
    splits_resumed: u64,
    m: &Manifest,
    started: Instant,
) -> StageReport {
    StageReport {
        stage: stage.spec.name.clone(),
        kind: stage.spec.kind.clone(),
        status,
        splits: meta.splits,
        splits_run,
        splits_resumed,
        counts: m.counts.clone(),
        shards: m.shards.len() as u64,
        bytes: m.shards.iter().map(|s| s.bytes).sum(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn run_split(
    plan: &Plan,
    stage: &PlannedStage,
    meta: &StageMeta,
    split: &Split,
    side: &[InputDataset],
    dir: &Path,
    opts: &RunOptions,
) -> Result<SplitMarker, Error> {
    let name = &stage.spec.name;
    let what = split
        .files
        .first()
        .or(split.items.first())
        .map(|p| {
            format!(
                " ({}{})",
                p.display(),
                if split.files.len() + split.items.len() > 1 {
                    ", …"
                } else {
                    ""
                }
            )
        })
        .unwrap_or_default();
    let fail = |msg: String| Error::Stage {
        stage: name.clone(),
        msg: format!("split {}{what}: {msg}", split.index),
    };
    let mut io = StageIo {
        files: split.files.clone().into_iter(),
        current: None,
        projection: None,
        side: side.to_vec(),
        base_dir: plan.file.base_dir(),
        seed: derive_seed(plan.file.seed, name, split.index),
        pipeline_seed: plan.file.seed,
        split: split.index,
        out_dir: dir.to_path_buf(),
        prefix: format!("r{:04}-s{:06}", opts.rank, split.index),
        schema: stage.schema.clone(),
        writer_opts: opts.writer.clone(),
        writer: None,
        counts: Counts::default(),
        quarantined: Vec::new(),
    };
    stage.stage.process(split, &mut io).map_err(fail)?;
    let (shards, counts, quarantined) = io.finish().map_err(fail)?;
    counts
        .check()
        .map_err(|m| fail(format!("stage bug: {m}")))?;
    let quarantine = if quarantined.is_empty() {
        None
    } else {
        let rel = format!("{QUARANTINE_DIR}/s{:06}.parquet", split.index);
        let path = dir.join(&rel);
        std::fs::create_dir_all(dir.join(QUARANTINE_DIR)).map_err(|e| Error::io(dir, e))?;
        let batch = quarantine_batch(name, split.index, &quarantined);
        weft_shards::writer::write_single_file(&path, quarantine_schema(), &[batch])?;
        Some(rel)
    };
    let marker = SplitMarker {
        stage: meta.clone(),
        split: split.index,
        rank: opts.rank,
        shards,
        quarantine,
        counts,
    };
    let json = serde_json::to_vec_pretty(&marker).map_err(|e| fail(e.to_string()))?;
    // Shards and quarantine first (to the store too), the marker last: the commit point.
    let mut files: Vec<String> = marker.shards.iter().map(|s| s.file.clone()).collect();
    files.extend(marker.quarantine.clone());
    publish(opts, dir, &files)?;
    // Fault-injection window for the cluster tests: the split's shards are on disk, its
    // marker is not, so a kill now must leave a split that a rerun redoes from scratch.
    commit_pause(name, split.index);
    let marker_file = marker_path(dir, split.index);
    write_atomic(&marker_file, &json)?;
    publish(
        opts,
        dir,
        &[format!(
            "{}/{}",
            crate::markers::MARKERS_DIR,
            marker_file
                .file_name()
                .expect("marker file name")
                .to_string_lossy()
        )],
    )?;
    Ok(marker)
}

/// Uploads `files` (relative to `dir`, which is relative to the output folder) to the store,
/// in order; nothing without a store.
fn publish(opts: &RunOptions, dir: &Path, files: &[String]) -> Result<(), Error> {
    let Some(remote) = &opts.remote else {
        return Ok(());
    };
    let rel_dir = dir
        .strip_prefix(&opts.out)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    for f in files {
        let rel = if rel_dir.is_empty() {
            f.clone()
        } else {
            format!("{rel_dir}/{f}")
        };
        remote.upload(&dir.join(f), &rel)?;
    }
    Ok(())
}

/// Deletes from the store the shards of split `split` of stage `name` among `stored` (keys
/// relative to the stage folder), whichever rank wrote them: a rerun under another rank (or
/// world size) writes other names, and the old ones would remain as duplicates.
fn clean_stored_split(
    remote: &Remote,
    name: &str,
    stored: &[String],
    split: u64,
) -> Result<(), Error> {
    let tag = format!("-s{split:06}-");
    for key in stored {
        if !key.contains('/') && key.contains(&tag) {
            remote.delete(&format!("{name}/{key}"))?;
        }
    }
    Ok(())
}

/// Whether `path` has `bytes` bytes and sha256 `sha256` (hex).
fn same_file(path: &Path, bytes: u64, sha256: &str) -> bool {
    use sha2::Digest;
    if !std::fs::metadata(path).is_ok_and(|md| md.len() == bytes) {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).is_ok() && hex::encode(h.finalize()) == sha256
}

/// Downloads the shards a manifest lists that are not already here with the same content
/// (size and sha256: a local file of another config may have the same size).
fn fetch_shards(remote: &Remote, dir: &Path, name: &str, m: &Manifest) -> Result<(), Error> {
    m.shards.par_iter().try_for_each(|s| {
        let local = dir.join(&s.file);
        if same_file(&local, s.bytes, &s.sha256) {
            return Ok(());
        }
        if !remote.download(&format!("{name}/{}", s.file), &local)? {
            return Err(Error::Stage {
                stage: name.to_string(),
                msg: format!(
                    "{}/{name}/{}: listed in the manifest but missing",
                    remote.url(),
                    s.file
                ),
            });
        }
        Ok(())
    })
}

/// [`finalize`], then the manifest is published.
fn finalize_published(
    dir: &Path,
    meta: &StageMeta,
    opts: &RunOptions,
) -> Result<Result<Manifest, Vec<u64>>, Error> {
    let r = finalize(dir, meta)?;
    if r.is_ok() {
        publish(opts, dir, &[MANIFEST_FILE.to_string()])?;
    }
    Ok(r)
}

/// `WEFT_COMMIT_PAUSE_DIR`: before committing split `N` of stage `S` (its shards written, its
/// marker not), the rank waits while the file `S-sNNNNNN` exists in that folder, for at most
/// [`COMMIT_PAUSE_MAX`]. A testing knob: the Slurm test cancels a rank inside that window,
/// which a file gate makes deterministic where a fixed delay would race the scheduler on a
/// loaded machine. Unset in normal use.
fn commit_pause(stage: &str, split: u64) {
    let Some(dir) = std::env::var_os("WEFT_COMMIT_PAUSE_DIR").filter(|d| !d.is_empty()) else {
        return;
    };
    let gate = Path::new(&dir).join(format!("{stage}-s{split:06}"));
    let start = Instant::now();
    while gate.exists() && start.elapsed() < COMMIT_PAUSE_MAX {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The longest [`commit_pause`] waits for its gate file to go.
const COMMIT_PAUSE_MAX: Duration = Duration::from_secs(300);

/// Outcome of merging one stage's markers.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// Stage name.
    pub stage: String,
    /// Whether the manifest was written.
    pub complete: bool,
    /// Splits still missing, by the rank that owns them (`split % world_size`).
    pub missing: Vec<u64>,
    /// Counts of the stage when complete.
    pub counts: Option<Counts>,
}

/// Combines the markers of every stage in a run's output folder into stage manifests and a
/// merged `stats.json`. Works from the folder alone (markers carry the stage metadata).
pub fn merge(out: &Path) -> Result<Vec<MergeReport>, Error> {
    merge_with(out, None)
}

/// [`merge`] of an output published to `remote`, with `out` as its local staging folder:
/// the run summary and every marker come down, manifests and `stats.json` go up.
pub fn merge_with(out: &Path, remote: Option<Arc<Remote>>) -> Result<Vec<MergeReport>, Error> {
    let mut opts = RunOptions::new(out);
    opts.remote = remote;
    if let Some(r) = &opts.remote
        && !r.download(RUN_FILE, &out.join(RUN_FILE))?
    {
        return Err(Error::Plan(format!("{}/{RUN_FILE}: no run here", r.url())));
    }
    let run_file = out.join(RUN_FILE);
    let text = std::fs::read_to_string(&run_file).map_err(|e| Error::io(&run_file, e))?;
    let summary: RunSummary = serde_json::from_str(&text)
        .map_err(|e| Error::Plan(format!("{}: {e}", run_file.display())))?;
    let mut reports = Vec::new();
    for stage in &summary.stages {
        let dir = out.join(stage);
        if let Some(r) = &opts.remote {
            crate::store::pull_stage_state(r, &dir, stage, true)?;
        }
        let markers = read_markers(&dir);
        // The current config is the one of the most recently committed split: markers of an
        // older config are never deleted on multi-rank runs and may outnumber the current ones.
        let newest = markers.values().max_by_key(|m| {
            std::fs::metadata(marker_path(&dir, m.split))
                .and_then(|md| md.modified())
                .ok()
        });
        let Some(meta) = newest.map(|m| m.stage.clone()) else {
            reports.push(MergeReport {
                stage: stage.clone(),
                complete: false,
                missing: Vec::new(),
                counts: None,
            });
            continue;
        };
        match finalize_published(&dir, &meta, &opts)? {
            Ok(m) => reports.push(MergeReport {
                stage: stage.clone(),
                complete: true,
                missing: Vec::new(),
                counts: Some(m.counts),
            }),
            Err(missing) => reports.push(MergeReport {
                stage: stage.clone(),
                complete: false,
                missing,
                counts: None,
            }),
        }
    }
    let json = serde_json::to_vec_pretty(&reports).map_err(|e| Error::Plan(e.to_string()))?;
    write_atomic(&out.join("stats.json"), &json)?;
    publish(&opts, out, &["stats.json".to_string()])?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_shard_is_reused_only_with_the_manifests_content() {
        use sha2::Digest;
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("r0000-s000000-00000.parquet");
        std::fs::write(&f, b"new bytes").unwrap();
        let sha = hex::encode(sha2::Sha256::digest(b"new bytes"));
        assert!(same_file(&f, 9, &sha));
        // Same size, other content (a shard of an earlier config): fetched again.
        std::fs::write(&f, b"old bytes").unwrap();
        assert!(!same_file(&f, 9, &sha));
        assert!(!same_file(&tmp.path().join("absent"), 9, &sha));
    }

    #[test]
    fn a_rerun_split_deletes_its_shards_of_any_rank_from_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let remote = Remote::open(&format!("file://{}", bucket.display())).unwrap();
        let src = tmp.path().join("x");
        std::fs::write(&src, b"x").unwrap();
        for key in [
            "photos/r0001-s000001-00000.parquet",
            "photos/r0003-s000001-00001.parquet",
            "photos/r0001-s000011-00000.parquet",
            "photos/_markers/s000001.json",
            "other/r0001-s000001-00000.parquet",
        ] {
            remote.upload(&src, key).unwrap();
        }
        let stored: Vec<String> = remote
            .list("photos")
            .unwrap()
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        clean_stored_split(&remote, "photos", &stored, 1).unwrap();
        let left: Vec<String> = remote
            .list("")
            .unwrap()
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        assert_eq!(
            left,
            [
                "other/r0001-s000001-00000.parquet",
                "photos/_markers/s000001.json",
                "photos/r0001-s000011-00000.parquet",
            ]
        );
    }
}
