//! Cutting a plan into the phases of a batch job (one Slurm job array or Kubernetes indexed
//! job each) and finding the work an output folder still lacks, so that a resubmission asks
//! the scheduler only for ranks with unfinished splits.
//!
//! **One phase per stage.** Phases run one after another (the scheduler starts a phase when
//! the previous one succeeded), so every stage finds its inputs complete when its tasks
//! start. Fusing consecutive stages into one array would make a task wait for splits other
//! tasks of the same array still have to produce; with a throttled array (`%K`) or a busy
//! partition those tasks may be pending while the waiting ones hold the allocation — a
//! deadlock, the start-up race cluster users report. A stage that cuts its work into a single
//! split (a *global* stage, e.g. `exact_duplicates`) gets one task instead of N.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use weft_shards::Manifest;
use weft_shards::manifest::MANIFEST_FILE;

use crate::Error;
use crate::markers::read_markers;
use crate::plan::{Plan, PlannedStage};
use crate::run::stage_meta;
use crate::stage::{InputDataset, SplitContext};

/// One job of a cluster run: a stage and how many tasks it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// Position in the chain (0-based).
    pub index: usize,
    /// The stage it runs.
    pub stage: String,
    /// True when the stage cuts its work into one split: the phase runs as a single task.
    pub global: bool,
}

impl Phase {
    /// Tasks (ranks) of this phase when the job asks for `tasks`.
    pub fn world_size(&self, tasks: u64) -> u64 {
        if self.global { 1 } else { tasks.max(1) }
    }
}

/// The phases of `plan`, in execution order.
pub fn phases(plan: &Plan) -> Vec<Phase> {
    plan.stages
        .iter()
        .enumerate()
        .map(|(index, s)| Phase {
            index,
            stage: s.spec.name.clone(),
            global: is_global(plan, s),
        })
        .collect()
}

/// Whether a stage is global: asked to cut an input of two upstream splits, it returns one
/// split. Decided from the stage's own `splits` (no flag to keep in sync); sources, and stages
/// whose `splits` needs real input files, count as parallel, which is always correct (a
/// parallel phase over a single split simply leaves the other ranks idle).
pub fn is_global(plan: &Plan, stage: &PlannedStage) -> bool {
    if stage.source {
        return false;
    }
    let ctx = SplitContext {
        inputs: stage
            .spec
            .inputs
            .iter()
            .map(|i| InputDataset {
                stage: i.clone(),
                shards: vec![
                    PathBuf::from(format!("{i}/r0000-s000000-00000.parquet")),
                    PathBuf::from(format!("{i}/r0001-s000001-00000.parquet")),
                ],
                shard_splits: vec![0, 1],
                fingerprint: String::new(),
            })
            .collect(),
        base_dir: plan.file.base_dir(),
    };
    matches!(stage.stage.splits(&ctx), Ok(s) if s.len() == 1)
}

/// What is left of a stage in an output folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Remaining {
    /// Its manifest matches the current config and inputs: nothing to run.
    Complete {
        /// Splits of the stage.
        splits: u64,
    },
    /// Some splits lack a current marker.
    Partial {
        /// Splits of the stage.
        splits: u64,
        /// Splits committed with the current fingerprint.
        done: u64,
        /// Ranks (of the phase's world size) that own an unfinished split, ascending.
        ranks: Vec<u64>,
    },
    /// An input stage is not complete yet, so the stage's splits are not known: all ranks.
    Unknown,
}

/// The work `stage` still needs in `out` when its phase runs with `world_size` ranks.
pub fn remaining(
    plan: &Plan,
    out: &Path,
    stage: &str,
    world_size: u64,
) -> Result<Remaining, Error> {
    let st = plan
        .stage(stage)
        .ok_or_else(|| Error::Plan(format!("no stage `{stage}`")))?;
    let read = |names: &[String]| -> Option<Vec<InputDataset>> {
        names
            .iter()
            .map(|n| {
                let dir = out.join(n);
                let m = Manifest::read(&dir.join(MANIFEST_FILE)).ok()?;
                Some(InputDataset {
                    stage: n.clone(),
                    shards: m.shards.iter().map(|s| dir.join(&s.file)).collect(),
                    shard_splits: m.shards.iter().map(|s| s.split).collect(),
                    fingerprint: m.fingerprint,
                })
            })
            .collect()
    };
    let (Some(main), Some(side)) = (read(&st.spec.inputs), read(&st.spec.side_inputs)) else {
        return Ok(Remaining::Unknown);
    };
    let (_, meta) = stage_meta(plan, st, &main, &side)?;
    let dir = out.join(stage);
    if Manifest::read(&dir.join(MANIFEST_FILE)).is_ok_and(|m| m.fingerprint == meta.fingerprint) {
        return Ok(Remaining::Complete {
            splits: meta.splits,
        });
    }
    let markers = read_markers(&dir);
    let missing: Vec<u64> = (0..meta.splits)
        .filter(|i| {
            markers
                .get(i)
                .is_none_or(|m| m.stage.fingerprint != meta.fingerprint)
        })
        .collect();
    if missing.is_empty() {
        // Every split is committed but nobody wrote the manifest: one rank finalizes it.
        return Ok(Remaining::Partial {
            splits: meta.splits,
            done: meta.splits,
            ranks: vec![0],
        });
    }
    let ranks: BTreeSet<u64> = missing.iter().map(|s| s % world_size.max(1)).collect();
    Ok(Remaining::Partial {
        splits: meta.splits,
        done: meta.splits - missing.len() as u64,
        ranks: ranks.into_iter().collect(),
    })
}

/// Folder of the per-rank state files: `_ranks/<phase>/rank-00003.json`.
pub const RANKS_DIR: &str = "_ranks";
/// Folder of the per-rank logs: `_logs/<phase>/rank-00003.log`.
pub const LOGS_DIR: &str = "_logs";

/// Where a rank of a phase is, as the rank itself last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankPhase {
    /// Started and not yet finished (or killed without a chance to say so).
    Running,
    /// Finished its part of the phase.
    Done,
    /// Stopped with an error.
    Failed,
}

/// The state file of one rank of one phase, rewritten (atomically) at start and at the end.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RankState {
    /// Phase (stage) name.
    pub phase: String,
    /// Rank.
    pub rank: u64,
    /// World size of the phase.
    pub world_size: u64,
    /// Where it is.
    pub state: RankPhase,
    /// Scheduler id of the task (`JOBID_TASK` on Slurm, the pod name on Kubernetes).
    pub task: Option<String>,
    /// Host it ran on.
    pub host: String,
    /// Start, Unix seconds.
    pub started: u64,
    /// End, Unix seconds.
    pub ended: Option<u64>,
    /// The error of a failed rank.
    pub error: Option<String>,
    /// Splits this attempt processed.
    pub splits_run: u64,
    /// Splits already committed by an earlier attempt.
    pub splits_resumed: u64,
}

/// Path of a rank's state file.
pub fn rank_state_path(out: &Path, phase: &str, rank: u64) -> PathBuf {
    out.join(RANKS_DIR)
        .join(phase)
        .join(format!("rank-{rank:05}.json"))
}

/// Path of a rank's log file.
pub fn rank_log_path(out: &Path, phase: &str, rank: u64) -> PathBuf {
    out.join(LOGS_DIR)
        .join(phase)
        .join(format!("rank-{rank:05}.log"))
}

/// Writes a rank's state file atomically.
pub fn write_rank_state(out: &Path, state: &RankState) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Plan(e.to_string()))?;
    crate::markers::write_atomic(&rank_state_path(out, &state.phase, state.rank), &json)
}

/// Every rank state file of a phase, by rank.
pub fn read_rank_states(out: &Path, phase: &str) -> std::collections::BTreeMap<u64, RankState> {
    let mut map = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(out.join(RANKS_DIR).join(phase)) else {
        return map;
    };
    for e in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if let Ok(s) = serde_json::from_str::<RankState>(&text) {
            map.insert(s.rank, s);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_file::PipelineFile;
    use crate::registry::Registry;
    use crate::run::{RunOptions, run};

    /// The captions dedup pipeline over a copy of the bundled photos in `dir`.
    fn plan(dir: &Path) -> Plan {
        let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/photos");
        std::fs::create_dir_all(dir.join("photos")).unwrap();
        for e in std::fs::read_dir(&photos).unwrap().flatten() {
            std::fs::copy(e.path(), dir.join("photos").join(e.file_name())).unwrap();
        }
        let text = r#"[pipeline]
name = "t"
seed = 1

[stages.photos]
kind = "image_folder"
path = "photos"
files_per_split = 2

[stages.groups]
kind = "exact_duplicates"
inputs = ["photos"]
key = "sha256"
order_by = "path"

[stages.unique]
kind = "drop_duplicates"
inputs = ["photos"]
side_inputs = ["groups"]
key = "sha256"
order_by = "path"
"#;
        let file = PipelineFile::parse(&dir.join("p.toml"), text.to_string()).unwrap();
        Plan::build(file, &Registry::builtin()).unwrap()
    }

    #[test]
    fn one_phase_per_stage_and_only_the_dedup_is_global() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let all = phases(&p);
        let got: Vec<(&str, bool)> = all
            .iter()
            .map(|ph| (ph.stage.as_str(), ph.global))
            .collect();
        assert_eq!(
            got,
            [("photos", false), ("groups", true), ("unique", false)]
        );
        assert_eq!(all[1].world_size(8), 1);
        assert_eq!(all[2].world_size(8), 8);
    }

    #[test]
    fn remaining_names_the_ranks_whose_splits_are_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let out = tmp.path().join("out");
        // 6 photos, 2 per split: splits 0, 1, 2; with 2 ranks rank 0 owns 0 and 2.
        assert_eq!(
            remaining(&p, &out, "photos", 2).unwrap(),
            Remaining::Partial {
                splits: 3,
                done: 0,
                ranks: vec![0, 1]
            }
        );
        assert_eq!(
            remaining(&p, &out, "groups", 1).unwrap(),
            Remaining::Unknown
        );
        let mut opts = RunOptions::new(&out);
        opts.world_size = 2;
        opts.rank = 1;
        opts.only = vec!["photos".into()];
        run(&p, &opts).unwrap();
        assert_eq!(
            remaining(&p, &out, "photos", 2).unwrap(),
            Remaining::Partial {
                splits: 3,
                done: 1,
                ranks: vec![0]
            }
        );
        opts.rank = 0;
        run(&p, &opts).unwrap();
        assert_eq!(
            remaining(&p, &out, "photos", 2).unwrap(),
            Remaining::Complete { splits: 3 }
        );
        // The next phase's splits are now known: one global split, not run yet.
        assert_eq!(
            remaining(&p, &out, "groups", 1).unwrap(),
            Remaining::Partial {
                splits: 1,
                done: 0,
                ranks: vec![0]
            }
        );
    }
}
