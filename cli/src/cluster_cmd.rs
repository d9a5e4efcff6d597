//! What the Slurm and Kubernetes commands share: the per-rank state a `weft run --phase`
//! task records, and the plan of a submission (phases, ranks still to run, world sizes).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use weft_engine::cluster::{self, Phase, RankPhase, RankState, Remaining};
use weft_engine::store::Remote;
use weft_engine::{Plan, RunReport};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The scheduler's name for this task: `JOB_TASK` on Slurm, the pod name on Kubernetes.
fn task_id() -> Option<String> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(j), Some(t)) => Some(format!("{j}_{t}")),
        _ => var("SLURM_JOB_ID")
            .or_else(|| var("JOB_COMPLETION_INDEX").and_then(|_| var("HOSTNAME"))),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// Records that this rank of `phase` started.
pub fn rank_started(
    out: &Path,
    remote: Option<&Remote>,
    phase: &str,
    rank: u64,
    world_size: u64,
) -> anyhow::Result<RankState> {
    let state = RankState {
        phase: phase.to_string(),
        rank,
        world_size,
        state: RankPhase::Running,
        task: task_id(),
        host: hostname(),
        started: now(),
        ended: None,
        error: None,
        splits_run: 0,
        splits_resumed: 0,
    };
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    write_state(out, remote, &state)?;
    Ok(state)
}

/// Records how this rank's run ended.
pub fn rank_ended(
    out: &Path,
    remote: Option<&Remote>,
    state: &mut RankState,
    result: &anyhow::Result<RunReport>,
) -> anyhow::Result<()> {
    state.ended = Some(now());
    match result {
        Ok(report) => {
            state.state = RankPhase::Done;
            for s in &report.stages {
                state.splits_run += s.splits_run;
                state.splits_resumed += s.splits_resumed;
            }
        }
        Err(e) => {
            state.state = RankPhase::Failed;
            state.error = Some(format!("{e:#}"));
        }
    }
    write_state(out, remote, state)
}

fn write_state(out: &Path, remote: Option<&Remote>, state: &RankState) -> anyhow::Result<()> {
    cluster::write_rank_state(out, state)?;
    if let Some(r) = remote {
        let path = cluster::rank_state_path(out, &state.phase, state.rank);
        let rel = path
            .strip_prefix(out)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        r.upload(&path, &rel)?;
    }
    Ok(())
}

/// One phase of a submission: the stage, its world size and the ranks to start.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PhaseJob {
    /// Position in the chain.
    pub index: usize,
    /// Stage (and phase) name.
    pub stage: String,
    /// Whether the stage is global (one task).
    pub global: bool,
    /// Ranks of the phase.
    pub world_size: u64,
    /// Ranks this submission starts (all, or those with unfinished splits).
    pub ranks: Vec<u64>,
    /// Scheduler job ids (one per array) once submitted.
    #[serde(default)]
    pub jobs: Vec<String>,
    /// Where its script or manifest was written.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// A phase with nothing left to do, and what was found.
pub type Skipped = (Phase, Remaining);

/// The phases of `plan` that still have work in `out`, with the ranks to start. Once a phase
/// has to run, every later phase runs with all its ranks (its inputs are about to change).
pub fn phases_to_run(
    plan: &Plan,
    out: &Path,
    tasks: u64,
    only_missing: bool,
) -> anyhow::Result<(Vec<PhaseJob>, Vec<Skipped>)> {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let mut upstream_runs = false;
    for phase in cluster::phases(plan) {
        let world = phase.world_size(tasks);
        let all: Vec<u64> = (0..world).collect();
        let ranks = if upstream_runs || !only_missing {
            all
        } else {
            match cluster::remaining(plan, out, &phase.stage, world)? {
                r @ Remaining::Complete { .. } => {
                    skipped.push((phase, r));
                    continue;
                }
                Remaining::Partial { ranks, .. } => ranks,
                Remaining::Unknown => all,
            }
        };
        upstream_runs = true;
        jobs.push(PhaseJob {
            index: phase.index,
            stage: phase.stage.clone(),
            global: phase.global,
            world_size: world,
            ranks,
            jobs: Vec::new(),
            file: None,
        });
    }
    Ok((jobs, skipped))
}

/// `'…'` shell quoting (POSIX sh), for paths and arguments written into job scripts.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An absolute form of a local path (job scripts run from another working directory).
pub fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| p.display().to_string())
}

/// Writes pretty JSON atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    weft_engine::markers::write_atomic(path, &serde_json::to_vec_pretty(value)?)?;
    Ok(())
}
