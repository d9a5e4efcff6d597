//! `weft`: run pipelines of stages that write training shards, and look into the shards.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster_cmd;
mod infer_cmd;
mod k8s_cmd;
mod pipeline_cmd;
mod shards_cmd;
mod slurm_cmd;

/// Builds multimodal training data for Qwen3-VL-class models as Parquet shards.
#[derive(Parser)]
#[command(name = "weft", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file: stages in dependency order, shards of a stage in parallel.
    Run(pipeline_cmd::RunArgs),
    /// Validate a pipeline file without running it and print its DAG.
    Plan(pipeline_cmd::PlanArgs),
    /// Combine the per-rank results of a cluster run into stage manifests.
    Merge(pipeline_cmd::MergeArgs),
    /// Ask a Qwen3-VL model (native or on a server) about images and videos; `infer logits`
    /// writes the parity tensors of a request.
    Infer(infer_cmd::InferArgs),
    /// Run a pipeline on Slurm as job arrays (submit, status).
    #[command(subcommand)]
    Slurm(slurm_cmd::SlurmCmd),
    /// Write Kubernetes Indexed Jobs for a pipeline.
    #[command(subcommand)]
    K8s(k8s_cmd::K8sCmd),
    /// Inspect shards: ls, stats, head, show, validate, render, sql.
    #[command(subcommand)]
    Shards(shards_cmd::ShardsCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => pipeline_cmd::run(a),
        Command::Plan(a) => pipeline_cmd::plan(a),
        Command::Merge(a) => pipeline_cmd::merge(a),
        Command::Slurm(c) => slurm_cmd::run(c),
        Command::K8s(c) => k8s_cmd::run(c),
        Command::Shards(c) => shards_cmd::run(c),
        Command::Infer(a) => infer_cmd::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
