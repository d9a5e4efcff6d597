//! `weft slurm submit` and `weft slurm status`: a pipeline as a chain of Slurm job arrays,
//! one per phase (see `weft_engine::cluster`), and its progress read back from the output
//! folder.
//!
//! Each array task runs `weft run … --stage STAGE --rank R --world-size N --phase STAGE`; the
//! rank is passed explicitly (array index + the array's offset) because a resubmission asks
//! only for the ranks with unfinished splits (`--array=1,3`), where Slurm's own
//! `SLURM_ARRAY_TASK_MIN`/`COUNT` no longer describe the world. Arrays longer than the
//! cluster's `MaxArraySize` are cut into several arrays with offsets, and the next phase
//! depends (`afterok`) on all of them, so no array is left waiting on a dependency that can
//! never be met. Dependent jobs carry `--kill-on-invalid-dep=yes`: when a phase fails the rest
//! of the chain is cancelled instead of pending forever.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use weft_engine::cluster::{self, RankPhase};
use weft_engine::markers::read_markers;
use weft_shards::Counts;
use weft_shards::manifest::{MANIFEST_FILE, RUN_FILE, RunSummary};

use crate::cluster_cmd::{PhaseJob, absolute, phases_to_run, sh_quote};

/// Slurm commands.
#[derive(Subcommand)]
pub enum SlurmCmd {
    /// Submit a pipeline as job arrays, one per phase, chained with afterok dependencies.
    /// Submitting again runs only what is unfinished.
    Submit(Box<SubmitArgs>),
    /// Progress of a run: done / running / failed ranks, splits, rows, errors.
    Status(StatusArgs),
}

/// Arguments of `weft slurm submit`.
#[derive(Args)]
pub struct SubmitArgs {
    /// Pipeline file (TOML).
    file: PathBuf,
    /// Output folder on a file system every node sees, or an object-store URL (s3://, gs://,
    /// az://; then `--logs` is required).
    #[arg(long)]
    out: String,
    /// Folder for job scripts and per-rank logs (default: OUT/_slurm and OUT/_logs).
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Ranks (array tasks) of each parallel phase; global phases run as one task.
    #[arg(long)]
    tasks: u64,
    /// At most this many tasks of a phase at once (`--array=…%K`).
    #[arg(long)]
    max_parallel: Option<u64>,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// GPUs per task.
    #[arg(long)]
    gpus_per_task: Option<u32>,
    /// CPUs per task (also the worker threads of each task).
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Time limit per task (Slurm syntax, e.g. 4:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Memory per task (Slurm syntax, e.g. 32G).
    #[arg(long)]
    mem: Option<String>,
    /// Extra `#SBATCH` option, e.g. `--account=lab` (repeatable).
    #[arg(long = "sbatch", value_name = "OPTION")]
    sbatch: Vec<String>,
    /// Override a stage setting: `STAGE.KEY=VALUE` (passed on to every task).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    overrides: Vec<String>,
    /// The weft binary the tasks run (default: this one).
    #[arg(long)]
    weft: Option<PathBuf>,
    /// Array size limit (default: MaxArraySize from `scontrol show config`, else 1001).
    #[arg(long)]
    max_array_size: Option<u64>,
    /// Start every rank of every phase, not only unfinished ones.
    #[arg(long)]
    all: bool,
    /// Submit even while jobs of the previous submission are still queued or running.
    #[arg(long)]
    force: bool,
    /// Print the scripts and the sbatch commands; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `weft slurm status`.
#[derive(Args)]
pub struct StatusArgs {
    /// Output folder (or object-store URL) of the run.
    out: String,
    /// The `--logs` folder given to `weft slurm submit`, if any.
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a Slurm command.
pub fn run(cmd: SlurmCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SlurmCmd::Submit(a) => submit(*a),
        SlurmCmd::Status(a) => status(a),
    }
}

/// The record of the latest submission, `OUT/_slurm/submission.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Submission {
    pipeline: PathBuf,
    tasks: u64,
    phases: Vec<PhaseJob>,
    merge_job: Option<String>,
}

const SLURM_DIR: &str = "_slurm";

/// `MaxArraySize` of the cluster: the largest array index is one less.
fn max_array_size() -> u64 {
    let Ok(out) = Command::new("scontrol").args(["show", "config"]).output() else {
        return 1001;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "MaxArraySize").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(1001)
}

/// `0-3,7,9-12`: Slurm's array index syntax for sorted indexes.
pub fn index_ranges(idx: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < idx.len() {
        let start = idx[i];
        let mut end = start;
        while i + 1 < idx.len() && idx[i + 1] == end + 1 {
            i += 1;
            end = idx[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// Ranks cut into arrays whose indexes stay below `max_size`: (offset, array indexes).
pub fn arrays(ranks: &[u64], max_size: u64) -> Vec<(u64, Vec<u64>)> {
    let mut out: Vec<(u64, Vec<u64>)> = Vec::new();
    for &r in ranks {
        let offset = r / max_size * max_size;
        match out.last_mut() {
            Some((o, v)) if *o == offset => v.push(r - offset),
            _ => out.push((offset, vec![r - offset])),
        }
    }
    out
}

struct ScriptCtx<'a> {
    args: &'a SubmitArgs,
    pipeline: &'a Path,
    pipeline_name: &'a str,
    /// `--out` as the tasks get it (an absolute path or a URL).
    out: &'a str,
    /// Folder of the per-phase log folders.
    logs: &'a Path,
    weft: &'a Path,
}

fn script(
    c: &ScriptCtx,
    phase: &PhaseJob,
    offset: u64,
    indexes: &[u64],
    throttle: Option<u64>,
) -> String {
    let a = c.args;
    let logs = c.logs.join(&phase.stage);
    let mut s = String::from("#!/bin/bash\n");
    let mut opt = |o: String| {
        let _ = writeln!(s, "#SBATCH {o}");
    };
    opt(format!(
        "--job-name={}",
        sbatch_quote(&format!("weft-{}-{}", c.pipeline_name, phase.stage))
    ));
    opt(format!(
        "--array={}{}",
        index_ranges(indexes),
        throttle.map(|k| format!("%{k}")).unwrap_or_default()
    ));
    opt(format!(
        "--output={}",
        sbatch_quote(&format!(
            "{}/slurm-%A_%a.out",
            sbatch_pattern_escape(&logs.display().to_string())
        ))
    ));
    if let Some(p) = &a.partition {
        opt(format!("--partition={p}"));
    }
    if let Some(g) = a.gpus_per_task {
        opt(format!("--gpus-per-task={g}"));
    }
    if let Some(n) = a.cpus_per_task {
        opt(format!("--cpus-per-task={n}"));
    }
    if let Some(t) = &a.time {
        opt(format!("--time={t}"));
    }
    if let Some(m) = &a.mem {
        opt(format!("--mem={m}"));
    }
    for extra in &a.sbatch {
        opt(extra.clone());
    }
    let _ = writeln!(
        s,
        "# weft: pipeline `{}`, phase {} `{}`{}: ranks {} of {}, array index + {offset} = rank.",
        c.pipeline_name,
        phase.index,
        phase.stage,
        if phase.global { " (global)" } else { "" },
        index_ranges(&indexes.iter().map(|i| i + offset).collect::<Vec<_>>()),
        phase.world_size,
    );
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "rank=$(( SLURM_ARRAY_TASK_ID + {offset} ))");
    let _ = writeln!(
        s,
        "log={}/rank-$(printf %05d \"$rank\").log",
        sh_quote(&logs.display().to_string())
    );
    s.push_str("mkdir -p \"$(dirname \"$log\")\"\nexec >>\"$log\" 2>&1\n");
    let _ = writeln!(
        s,
        "echo \"== $(date -u +%FT%TZ) job ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname): rank $rank of {}\"",
        phase.world_size
    );
    let mut cmd = vec![
        sh_quote(&c.weft.display().to_string()),
        "run".into(),
        sh_quote(&c.pipeline.display().to_string()),
        "--out".into(),
        sh_quote(c.out),
        "--stage".into(),
        sh_quote(&phase.stage),
        "--phase".into(),
        sh_quote(&phase.stage),
        "--rank".into(),
        "\"$rank\"".into(),
        "--world-size".into(),
        phase.world_size.to_string(),
        "--quiet".into(),
    ];
    if a.cpus_per_task.is_some() {
        cmd.extend(["--threads".into(), "\"$SLURM_CPUS_PER_TASK\"".into()]);
    }
    for o in &a.overrides {
        cmd.extend(["--set".into(), sh_quote(o)]);
    }
    let _ = writeln!(s, "exec {}", cmd.join(" "));
    s
}

/// A value of an `#SBATCH` line in double quotes, which sbatch strips, so that spaces survive.
/// sbatch has no escape for a double quote inside them; it becomes a single quote.
fn sbatch_quote(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "'"))
}

/// A path for `--output`, whose `%` sbatch expands as a pattern (`%A`, `%a`, …): each `%` of
/// the path doubled (`%%` is a literal `%`).
fn sbatch_pattern_escape(path: &str) -> String {
    path.replace('%', "%%")
}

fn merge_script(c: &ScriptCtx) -> String {
    let log = c.logs.join("merge.log");
    format!(
        "#!/bin/bash\n#SBATCH --job-name={}\n#SBATCH --output={}\n{}# weft: merge the markers of every stage into manifests and stats.json.\nexec {} merge {}\n",
        sbatch_quote(&format!("weft-{}-merge", c.pipeline_name)),
        sbatch_quote(&sbatch_pattern_escape(&log.display().to_string())),
        c.args
            .partition
            .as_ref()
            .map(|p| format!("#SBATCH --partition={p}\n"))
            .unwrap_or_default(),
        sh_quote(&c.weft.display().to_string()),
        sh_quote(c.out),
    )
}

fn sbatch(script: &Path, after: &[String], after_any: bool) -> anyhow::Result<String> {
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable");
    if !after.is_empty() {
        cmd.arg(format!(
            "--dependency={}:{}",
            if after_any { "afterany" } else { "afterok" },
            after.join(":")
        ));
        cmd.arg("--kill-on-invalid-dep=yes");
    }
    cmd.arg(script);
    let out = cmd
        .output()
        .context("running sbatch (is Slurm's client installed and SLURM_CONF set?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {text}");
    }
    Ok(id)
}

fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    if args.max_parallel == Some(0) {
        bail!("--max-parallel must be at least 1");
    }
    let plan = crate::pipeline_cmd::load_plan(&args.file, &args.overrides)?;
    let (local, remote) = crate::pipeline_cmd::output(&args.out)?;
    let (out, out_arg, logs, dir) = match &remote {
        Some(r) => {
            let stages: Vec<String> = plan.stages.iter().map(|s| s.spec.name.clone()).collect();
            weft_engine::store::pull_run_state(r, &local, &stages)?;
            let Some(logs) = &args.logs else {
                bail!(
                    "--out {}: an object-store output needs --logs DIR (a folder every node sees) for scripts and logs",
                    args.out
                );
            };
            let logs = absolute(logs)?;
            (local, args.out.clone(), logs.clone(), logs.join(SLURM_DIR))
        }
        None => {
            let out = absolute(&local)?;
            let logs = match &args.logs {
                Some(l) => absolute(l)?,
                None => out.join(cluster::LOGS_DIR),
            };
            let dir = match &args.logs {
                Some(l) => absolute(l)?.join(SLURM_DIR),
                None => out.join(SLURM_DIR),
            };
            (out.clone(), out.display().to_string(), logs, dir)
        }
    };
    let pipeline = absolute(&args.file)?;
    if !args.dry_run && !args.force {
        // Two submissions working on the same splits at once would redo each other's work.
        let previous: Option<Submission> = std::fs::read_to_string(dir.join("submission.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if let (Some(prev), Some(live)) = (previous, live_jobs()) {
            let busy: Vec<&String> = prev
                .phases
                .iter()
                .flat_map(|p| &p.jobs)
                .chain(&prev.merge_job)
                .filter(|j| live.contains(*j))
                .collect();
            if !busy.is_empty() {
                bail!(
                    "jobs of the previous submission are still queued or running: {}; wait for them, scancel them, or pass --force",
                    busy.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
    }
    let weft = match &args.weft {
        Some(w) => w.clone(),
        None => std::env::current_exe().context("path of the weft binary")?,
    };
    let (mut phases, skipped) = phases_to_run(&plan, &out, args.tasks, !args.all)?;
    for (p, r) in &skipped {
        if let cluster::Remaining::Complete { splits } = r {
            eprintln!(
                "phase {} `{}`: complete ({splits} splits), not submitted",
                p.index, p.stage
            );
        }
    }
    if phases.is_empty() {
        println!("nothing to do: every stage of {} is complete", args.out);
        return Ok(ExitCode::SUCCESS);
    }
    let max_size = args.max_array_size.unwrap_or_else(max_array_size).max(1);
    let ctx = ScriptCtx {
        args: &args,
        pipeline: &pipeline,
        pipeline_name: &plan.file.name,
        out: &out_arg,
        logs: &logs,
        weft: &weft,
    };
    if !args.dry_run {
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    }
    let mut previous: Vec<String> = Vec::new();
    for phase in &mut phases {
        let chunks = arrays(&phase.ranks, max_size);
        // The throttle is shared among the arrays of a phase.
        let throttle = args.max_parallel.map(|k| (k / chunks.len() as u64).max(1));
        let mut ids = Vec::new();
        for (n, (offset, indexes)) in chunks.iter().enumerate() {
            let text = script(&ctx, phase, *offset, indexes, throttle);
            let name = if chunks.len() == 1 {
                format!("{:02}-{}.sbatch", phase.index, phase.stage)
            } else {
                format!("{:02}-{}.{n}.sbatch", phase.index, phase.stage)
            };
            let path = dir.join(&name);
            if args.dry_run {
                println!(
                    "# ---- {} (sbatch --parsable{} {name})",
                    path.display(),
                    if previous.is_empty() {
                        String::new()
                    } else {
                        " --dependency=afterok:<previous phase> --kill-on-invalid-dep=yes".into()
                    }
                );
                println!("{text}");
                ids.push(format!("<{}>", name));
                continue;
            }
            std::fs::write(&path, &text).with_context(|| path.display().to_string())?;
            // Slurm opens `--output` before the script runs: its folder must exist.
            let logs = logs.join(&phase.stage);
            std::fs::create_dir_all(&logs).with_context(|| logs.display().to_string())?;
            let id = sbatch(&path, &previous, false)?;
            println!(
                "phase {} `{}`: job {id} (array {} of {} ranks)",
                phase.index,
                phase.stage,
                index_ranges(indexes),
                phase.world_size
            );
            phase.file = Some(path);
            ids.push(id);
        }
        phase.jobs = ids.clone();
        previous = ids;
    }
    let merge_text = merge_script(&ctx);
    let merge_path = dir.join("merge.sbatch");
    if args.dry_run {
        println!(
            "# ---- {} (sbatch --parsable --dependency=afterany:<last phase>)\n{merge_text}",
            merge_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::write(&merge_path, &merge_text).with_context(|| merge_path.display().to_string())?;
    let merge_job = sbatch(&merge_path, &previous, true)?;
    println!("merge: job {merge_job} (writes {}/stats.json)", out_arg);
    let record = Submission {
        pipeline,
        tasks: args.tasks,
        phases,
        merge_job: Some(merge_job),
    };
    crate::cluster_cmd::write_json(&dir.join("submission.json"), &record)?;
    Ok(ExitCode::SUCCESS)
}

/// Job ids (array job ids for arrays) Slurm still knows as pending or running.
fn live_jobs() -> Option<BTreeSet<String>> {
    squeue_ids(&["-h", "-o", "%F"])
}

/// Array tasks Slurm still knows as pending or running (`JOB_TASK` ids), when `squeue` works.
fn live_tasks() -> Option<BTreeSet<String>> {
    squeue_ids(&["-h", "-r", "-o", "%i"])
}

/// The non-empty lines `squeue ARGS` prints; `None` when `squeue` fails or is missing.
fn squeue_ids(args: &[&str]) -> Option<BTreeSet<String>> {
    let out = Command::new("squeue").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// Progress of one phase.
#[derive(Debug, serde::Serialize)]
struct PhaseStatus {
    stage: String,
    complete: bool,
    splits: Option<u64>,
    splits_done: u64,
    counts: Counts,
    ranks_done: Vec<u64>,
    ranks_running: Vec<u64>,
    ranks_failed: Vec<u64>,
    /// Recorded as running but unknown to Slurm: killed, cancelled or timed out.
    ranks_lost: Vec<u64>,
    errors: Vec<String>,
    jobs: Vec<String>,
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (local, remote) = crate::pipeline_cmd::output(&args.out)?;
    let out = &local;
    if let Some(r) = &remote {
        // The stage list first, then the state of every stage.
        r.download(RUN_FILE, &out.join(RUN_FILE))?;
    }
    let run_file = out.join(RUN_FILE);
    let slurm_dir = match &args.logs {
        Some(l) => l.join(SLURM_DIR),
        None => out.join(SLURM_DIR),
    };
    let submission: Option<Submission> = std::fs::read_to_string(slurm_dir.join("submission.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let summary: RunSummary = match std::fs::read_to_string(&run_file) {
        Ok(text) => serde_json::from_str(&text).with_context(|| run_file.display().to_string())?,
        Err(_) if submission.is_some() => {
            let s = submission.as_ref().expect("checked");
            let jobs: Vec<&str> = s
                .phases
                .iter()
                .flat_map(|p| &p.jobs)
                .map(String::as_str)
                .collect();
            println!(
                "submitted (jobs {}), no task has started yet",
                jobs.join(" ")
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => bail!("{}: no run here yet ({e})", run_file.display()),
    };
    if let Some(r) = &remote {
        weft_engine::store::pull_run_state(r, out, &summary.stages)?;
    }
    let logs_dir = args
        .logs
        .clone()
        .unwrap_or_else(|| out.join(cluster::LOGS_DIR));
    let live = live_tasks();
    let mut phases = Vec::new();
    for stage in &summary.stages {
        let dir = out.join(stage);
        let markers = read_markers(&dir);
        let manifest = weft_shards::Manifest::read(&dir.join(MANIFEST_FILE)).ok();
        // Markers of the newest config (as `weft merge` decides it).
        let newest = markers
            .values()
            .max_by_key(|m| {
                std::fs::metadata(weft_engine::markers::marker_path(&dir, m.split))
                    .and_then(|md| md.modified())
                    .ok()
            })
            .map(|m| m.stage.clone());
        let current: Vec<_> = markers
            .values()
            .filter(|m| {
                newest
                    .as_ref()
                    .is_some_and(|n| n.fingerprint == m.stage.fingerprint)
            })
            .collect();
        let mut counts = Counts::default();
        for m in &current {
            counts.merge(&m.counts);
        }
        let complete = manifest.as_ref().is_some_and(|m| {
            newest
                .as_ref()
                .is_none_or(|n| n.fingerprint == m.fingerprint)
        });
        let mut st = PhaseStatus {
            stage: stage.clone(),
            complete,
            splits: newest.as_ref().map(|n| n.splits),
            splits_done: current.len() as u64,
            counts: if complete {
                manifest.map(|m| m.counts).unwrap_or_default()
            } else {
                counts
            },
            ranks_done: Vec::new(),
            ranks_running: Vec::new(),
            ranks_failed: Vec::new(),
            ranks_lost: Vec::new(),
            errors: Vec::new(),
            jobs: submission
                .as_ref()
                .and_then(|s| s.phases.iter().find(|p| &p.stage == stage))
                .map(|p| p.jobs.clone())
                .unwrap_or_default(),
        };
        for (rank, r) in cluster::read_rank_states(out, stage) {
            match r.state {
                RankPhase::Done => st.ranks_done.push(rank),
                RankPhase::Failed => {
                    st.ranks_failed.push(rank);
                    st.errors.push(format!(
                        "rank {rank}: {} (log: {})",
                        r.error.unwrap_or_default(),
                        logs_dir
                            .join(stage)
                            .join(format!("rank-{rank:05}.log"))
                            .display()
                    ));
                }
                RankPhase::Running => {
                    let alive = match (&live, &r.task) {
                        (Some(live), Some(task)) => live.contains(task),
                        _ => true, // cannot tell
                    };
                    if alive {
                        st.ranks_running.push(rank);
                    } else {
                        st.ranks_lost.push(rank);
                        st.errors.push(format!(
                            "rank {rank}: task {} ended without finishing (cancelled, killed or timed out; log: {})",
                            r.task.unwrap_or_default(),
                            logs_dir.join(stage).join(format!("rank-{rank:05}.log")).display()
                        ));
                    }
                }
            }
        }
        phases.push(st);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&phases)?);
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "phase",
            "state",
            "splits",
            "rows",
            "dropped",
            "quarantined",
            "ranks done",
            "running",
            "failed",
            "lost",
            "jobs",
        ]);
        for p in &phases {
            let list = |v: &[u64]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    index_ranges(v)
                }
            };
            t.add_row([
                p.stage.clone(),
                if p.complete {
                    "complete".into()
                } else if p.splits_done > 0 || !p.ranks_running.is_empty() {
                    "partial".into()
                } else {
                    "not started".into()
                },
                format!(
                    "{}/{}",
                    p.splits_done,
                    p.splits.map_or("?".into(), |n| n.to_string())
                ),
                p.counts.rows.to_string(),
                p.counts.dropped_total().to_string(),
                p.counts.quarantined_total().to_string(),
                list(&p.ranks_done),
                list(&p.ranks_running),
                list(&p.ranks_failed),
                list(&p.ranks_lost),
                p.jobs.join(" "),
            ]);
        }
        println!("{t}");
        for p in &phases {
            for e in &p.errors {
                println!("  {}: {e}", p.stage);
            }
        }
        if phases.iter().any(|p| !p.complete) {
            println!(
                "resume: weft slurm submit <pipeline> --out {} --tasks N (runs only unfinished ranks)",
                args.out
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
