//! `weft run`, `weft plan` and `weft merge`: the pipeline side of the CLI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use std::sync::Arc;
use weft_engine::pipeline_file::PipelineFile;
use weft_engine::store::Remote;
use weft_engine::{Plan, Registry, RunOptions, RunReport};
use weft_shards::WriterOptions;

/// Arguments of `weft run`.
#[derive(Args)]
pub struct RunArgs {
    /// Pipeline file (TOML).
    file: PathBuf,
    /// Output folder or object-store URL (s3://, gs://, az://; default: out/<pipeline name>).
    /// With a URL, the run stages files locally ($WEFT_STAGING, default /tmp/weft-staging)
    /// and publishes shards, then markers, then manifests to the store.
    #[arg(long)]
    out: Option<String>,
    /// This process's rank (default: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX or 0).
    #[arg(long)]
    rank: Option<u64>,
    /// Number of ranks (default: $SLURM_ARRAY_TASK_COUNT, $WEFT_WORLD_SIZE or 1).
    #[arg(long)]
    world_size: Option<u64>,
    /// Run only this stage (repeatable); its inputs must already be complete.
    #[arg(long = "stage")]
    stages: Vec<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds to wait for other ranks to complete an input stage.
    #[arg(long, default_value_t = 86_400)]
    wait_timeout: u64,
    /// Roll shard files at this many MiB.
    #[arg(long, default_value_t = 512)]
    shard_mib: u64,
    /// Override a stage setting: `STAGE.KEY=VALUE` (VALUE parsed as TOML, else taken as a
    /// string; relative paths resolve against the pipeline file's folder, as in the file).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    overrides: Vec<String>,
    /// Print the run report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Record this rank's state under OUT/_ranks/PHASE/ (running, done or failed, with the
    /// error), for `weft slurm status`; the job scripts `weft slurm submit` and
    /// `weft k8s manifest` write set it.
    #[arg(long, value_name = "PHASE")]
    phase: Option<String>,
}

/// Arguments of `weft plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// Pipeline file (TOML).
    #[arg(required_unless_present = "kinds")]
    file: Option<PathBuf>,
    /// List every stage kind (built-in and each pipeline's) with one line about it.
    #[arg(long)]
    kinds: bool,
    /// Override a stage setting: `STAGE.KEY=VALUE`.
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    overrides: Vec<String>,
}

/// Arguments of `weft merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Output folder (or object-store URL) of a (multi-rank) run.
    out: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(Some(
            v.trim()
                .parse()
                .with_context(|| format!("${name}={v} is not a number"))?,
        )),
        _ => Ok(None),
    }
}

/// Rank and world size from flags, then Slurm array and Kubernetes indexed-job variables.
fn rank_and_world(args: &RunArgs) -> anyhow::Result<(u64, u64)> {
    let env_rank = match env_u64("SLURM_ARRAY_TASK_ID")? {
        Some(id) => Some(id - env_u64("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0)),
        None => env_u64("JOB_COMPLETION_INDEX")?,
    };
    let rank = args.rank.or(env_rank).unwrap_or(0);
    let world = match args.world_size {
        Some(w) => w,
        None => env_u64("SLURM_ARRAY_TASK_COUNT")?
            .or(env_u64("WEFT_WORLD_SIZE")?)
            .unwrap_or(1),
    };
    if world == 0 || rank >= world {
        bail!(
            "rank {rank} is outside world size {world} (set --world-size, or $WEFT_WORLD_SIZE for indexed jobs)"
        );
    }
    Ok((rank, world))
}

/// Every stage kind the CLI knows: the engine's built-ins and each pipeline's.
pub fn registry() -> Registry {
    let mut r = Registry::builtin();
    weft_pipeline_ocr::register(&mut r);
    weft_pipeline_grounding::register(&mut r);
    weft_pipeline_caption::register(&mut r);
    weft_pipeline_video::register(&mut r);
    weft_pipeline_stem::register(&mut r);
    r
}

pub(crate) fn load_plan(file: &Path, overrides: &[String]) -> anyhow::Result<Plan> {
    let mut pf = PipelineFile::load(file)?;
    for o in overrides {
        pf.set(o)?;
    }
    let mirrored = weft_engine::store::mirror_inputs(&mut pf)?;
    for m in &mirrored {
        eprintln!(
            "{}.{}: {} mirrored to {}",
            m.stage,
            m.key,
            m.url,
            m.local.display()
        );
    }
    let mut plan = Plan::build(pf, &registry())?;
    weft_engine::store::keep_url_fingerprints(&mut plan, &mirrored);
    Ok(plan)
}

/// The plan without touching any input (for writing job manifests elsewhere).
pub(crate) fn load_plan_offline(file: &Path, overrides: &[String]) -> anyhow::Result<Plan> {
    let mut pf = PipelineFile::load(file)?;
    for o in overrides {
        pf.set(o)?;
    }
    Ok(Plan::build(pf, &registry())?)
}

/// A local output folder, or the staging folder and store of an object-store URL.
pub(crate) fn output(out: &str) -> anyhow::Result<(PathBuf, Option<Arc<Remote>>)> {
    if let Some(path) = out.strip_prefix("file://") {
        return Ok((PathBuf::from(path), None));
    }
    if weft_engine::store::is_url(out) {
        let remote = Remote::open(out)?;
        return Ok((
            weft_engine::store::staging_path(out),
            Some(Arc::new(remote)),
        ));
    }
    Ok((PathBuf::from(out), None))
}

/// `weft run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&args.file, &args.overrides)?;
    let (rank, world_size) = rank_and_world(&args)?;
    let (local, remote) = match &args.out {
        Some(o) => output(o)?,
        None => (PathBuf::from("out").join(&plan.file.name), None),
    };
    // With an object store, each rank stages in its own folder: ranks on one machine must not
    // replace each other's local copies of markers.
    let local = if remote.is_some() {
        local.join(format!("rank-{rank:05}"))
    } else {
        local
    };
    let mut opts = RunOptions::new(local);
    opts.remote = remote;
    opts.rank = rank;
    opts.world_size = world_size;
    opts.only = args.stages.clone();
    opts.progress =
        !args.quiet && !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    opts.wait_timeout = Duration::from_secs(args.wait_timeout);
    opts.writer = WriterOptions {
        target_bytes: args.shard_mib.max(1) << 20,
        ..WriterOptions::default()
    };
    let mut state = args
        .phase
        .as_ref()
        .map(|phase| {
            crate::cluster_cmd::rank_started(
                &opts.out,
                opts.remote.as_deref(),
                phase,
                rank,
                world_size,
            )
        })
        .transpose()?;
    let result = match args.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("thread pool")
            .and_then(|pool| Ok(pool.install(|| weft_engine::run::run(&plan, &opts))?)),
        None => weft_engine::run::run(&plan, &opts).map_err(anyhow::Error::from),
    };
    if let Some(state) = &mut state {
        crate::cluster_cmd::rank_ended(&opts.out, opts.remote.as_deref(), state, &result)?;
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &RunReport) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "stage",
        "kind",
        "status",
        "splits run/resumed/all",
        "in",
        "out",
        "dropped",
        "quarantined",
        "rows",
        "shards",
        "size",
        "time",
    ]);
    for s in &report.stages {
        t.add_row([
            s.stage.clone(),
            s.kind.clone(),
            format!("{:?}", s.status).to_lowercase(),
            format!("{}/{}/{}", s.splits_run, s.splits_resumed, s.splits),
            s.counts.input.to_string(),
            s.counts.out.to_string(),
            s.counts.dropped_total().to_string(),
            s.counts.quarantined_total().to_string(),
            s.counts.rows.to_string(),
            s.shards.to_string(),
            crate::shards_cmd::human_bytes(s.bytes),
            format!("{:.2}s", s.seconds),
        ]);
    }
    println!("{t}");
    for s in &report.stages {
        for (what, map) in [
            ("dropped", &s.counts.dropped),
            ("quarantined", &s.counts.quarantined),
        ] {
            for (reason, n) in map {
                println!("  {}: {what} {n} ({reason})", s.stage);
            }
        }
    }
    println!(
        "output: {} (rank {} of {})",
        report.out.display(),
        report.rank,
        report.world_size
    );
}

/// `weft plan`.
pub fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if args.kinds {
        for k in registry().kinds() {
            let role = if k.source { "source" } else { "transform" };
            println!("{:<24} {role:<9}  {}", k.name, k.about);
        }
    }
    if let Some(file) = &args.file {
        let plan = load_plan(file, &args.overrides)?;
        print!("{}", plan.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// `weft merge`.
pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let (local, remote) = output(&args.out)?;
    let reports = weft_engine::merge_with(&local, remote)?;
    let complete = reports.iter().all(|r| r.complete);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            match &r.counts {
                Some(c) => println!(
                    "{}: complete — in {}, out {}, dropped {}, quarantined {}, rows {}",
                    r.stage,
                    c.input,
                    c.out,
                    c.dropped_total(),
                    c.quarantined_total(),
                    c.rows
                ),
                None if r.missing.is_empty() => println!("{}: not started", r.stage),
                None => println!(
                    "{}: incomplete — {} splits missing: {:?}",
                    r.stage,
                    r.missing.len(),
                    r.missing
                ),
            }
        }
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
