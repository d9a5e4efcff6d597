//! `weft k8s manifest`: a pipeline as Kubernetes Indexed Jobs, one per phase (see
//! `weft_engine::cluster`), plus `apply.sh`, which applies them in order and waits for each to
//! complete (Kubernetes has no dependencies between Jobs).
//!
//! Each pod runs `weft run PIPELINE --out OUT --stage STAGE --phase STAGE`; its rank is
//! `JOB_COMPLETION_INDEX` (set by Kubernetes in Indexed mode) and its world size
//! `WEFT_WORLD_SIZE` (set here to `completions`). Paths are as the container sees them. A
//! failed index is retried on its own (`backoffLimitPerIndex`) and resumes from its markers.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use weft_engine::cluster;

/// Kubernetes commands.
#[derive(Subcommand)]
pub enum K8sCmd {
    /// Write one Indexed Job manifest per phase and an apply.sh that runs them in order.
    Manifest(ManifestArgs),
}

/// Arguments of `weft k8s manifest`.
#[derive(Args)]
pub struct ManifestArgs {
    /// Pipeline file (TOML), as the container sees it.
    file: PathBuf,
    /// Output folder (or object-store URL), as the container sees it.
    #[arg(long)]
    out: String,
    /// Indexes (ranks) of each parallel phase; global phases run as one.
    #[arg(long)]
    tasks: u64,
    /// Pods of a phase at once (default: all).
    #[arg(long)]
    max_parallel: Option<u64>,
    /// Container image with weft on its PATH.
    #[arg(long, default_value = "weft:latest")]
    image: String,
    /// Namespace of the Jobs.
    #[arg(long)]
    namespace: Option<String>,
    /// GPUs per pod (`nvidia.com/gpu`).
    #[arg(long)]
    gpus: Option<u32>,
    /// CPU request per pod (Kubernetes quantity, e.g. 4).
    #[arg(long)]
    cpu: Option<String>,
    /// Memory request and limit per pod (e.g. 32Gi).
    #[arg(long)]
    memory: Option<String>,
    /// PersistentVolumeClaim to mount (holding the data and/or the output).
    #[arg(long)]
    pvc: Option<String>,
    /// Where the claim is mounted.
    #[arg(long, default_value = "/data")]
    mount: String,
    /// Retries of one failed index before the Job fails.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Override a stage setting: `STAGE.KEY=VALUE` (passed on to every pod).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    overrides: Vec<String>,
    /// Folder to write the manifests and apply.sh into.
    #[arg(long)]
    dir: PathBuf,
}

/// Runs a Kubernetes command.
pub fn run(cmd: K8sCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        K8sCmd::Manifest(a) => manifest(a),
    }
}

/// A DNS-1123 label from `s`: lower case, `[a-z0-9-]`, at most `max` characters.
fn dns_label(s: &str, max: usize) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out.truncate(max);
    out.trim_matches('-').to_string()
}

/// One phase's Indexed Job.
fn job(a: &ManifestArgs, pipeline_name: &str, phase: &cluster::Phase, name: &str) -> Value {
    let world = phase.world_size(a.tasks);
    let parallelism = a.max_parallel.map_or(world, |k| k.clamp(1, world));
    let labels = json!({
        "app.kubernetes.io/name": "weft",
        "weft/pipeline": dns_label(pipeline_name, 63),
        "weft/phase": dns_label(&phase.stage, 63),
    });
    let mut command = vec![
        "weft".to_string(),
        "run".into(),
        a.file.display().to_string(),
        "--out".into(),
        a.out.clone(),
        "--stage".into(),
        phase.stage.clone(),
        "--phase".into(),
        phase.stage.clone(),
        "--quiet".into(),
    ];
    for o in &a.overrides {
        command.extend(["--set".into(), o.clone()]);
    }
    let mut container = json!({
        "name": "weft",
        "image": a.image,
        "command": command,
        "env": [{"name": "WEFT_WORLD_SIZE", "value": world.to_string()}],
    });
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    if let Some(c) = &a.cpu {
        requests.insert("cpu".into(), json!(c));
    }
    if let Some(m) = &a.memory {
        requests.insert("memory".into(), json!(m));
        limits.insert("memory".into(), json!(m));
    }
    if let Some(g) = a.gpus {
        limits.insert("nvidia.com/gpu".into(), json!(g.to_string()));
    }
    if !requests.is_empty() || !limits.is_empty() {
        let mut r = serde_json::Map::new();
        if !requests.is_empty() {
            r.insert("requests".into(), Value::Object(requests));
        }
        if !limits.is_empty() {
            r.insert("limits".into(), Value::Object(limits));
        }
        container["resources"] = Value::Object(r);
    }
    let mut pod = json!({
        "restartPolicy": "Never",
        "containers": [container],
    });
    if let Some(pvc) = &a.pvc {
        pod["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": a.mount}]);
        pod["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": pvc}}]);
    }
    let mut metadata = json!({"name": name, "labels": labels});
    if let Some(ns) = &a.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": world,
            "parallelism": parallelism,
            "backoffLimitPerIndex": a.retries,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod,
            },
        },
    })
}

/// YAML for a JSON value: block mappings and sequences, every string double-quoted (JSON
/// string syntax is valid YAML), so no value is ever re-typed by a YAML reader.
pub fn to_yaml(v: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => serde_json::to_string(s).expect("string"),
            Value::Array(a) if a.is_empty() => "[]".into(),
            Value::Object(o) if o.is_empty() => "{}".into(),
            other => other.to_string(),
        }
    }
    fn is_block(v: &Value) -> bool {
        matches!(v, Value::Array(a) if !a.is_empty())
            || matches!(v, Value::Object(o) if !o.is_empty())
    }
    fn emit(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(o) if !o.is_empty() => {
                for (k, val) in o {
                    let key = serde_json::to_string(k).expect("key");
                    if is_block(val) {
                        let _ = writeln!(out, "{pad}{key}:");
                        emit(val, indent + 2, out);
                    } else {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(val));
                    }
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for item in a {
                    if is_block(item) {
                        // The first line of the item goes after the dash.
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                    } else {
                        let _ = writeln!(out, "{pad}- {}", scalar(item));
                    }
                }
            }
            other => {
                let _ = writeln!(out, "{pad}{}", scalar(other));
            }
        }
    }
    let mut out = String::new();
    emit(v, 0, &mut out);
    out
}

fn manifest(a: ManifestArgs) -> anyhow::Result<ExitCode> {
    if a.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    let plan = crate::pipeline_cmd::load_plan_offline(&a.file, &a.overrides)?;
    std::fs::create_dir_all(&a.dir).with_context(|| a.dir.display().to_string())?;
    let prefix = dns_label(&format!("weft-{}", plan.file.name), 40);
    let mut apply = String::from(
        "#!/usr/bin/env bash\n# Applies weft's Indexed Jobs phase by phase: each waits for the previous one to complete.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n",
    );
    let ns = a
        .namespace
        .as_ref()
        .map(|n| format!(" -n {}", crate::cluster_cmd::sh_quote(n)))
        .unwrap_or_default();
    apply.push_str(&format!(
        "wait_job() {{\n  while true; do\n    c=$(kubectl get job \"$1\"{ns} -o jsonpath='{{.status.conditions[?(@.status==\"True\")].type}}')\n    case \" $c \" in *\" Complete \"*) return 0;; *\" Failed \"*) echo \"job $1 failed\" >&2; return 1;; esac\n    sleep 10\n  done\n}}\n"
    ));
    for phase in cluster::phases(&plan) {
        let name = dns_label(
            &format!("{prefix}-{}-{}", phase.index, dns_label(&phase.stage, 63)),
            63,
        );
        let file = format!("{:02}-{}.yaml", phase.index, dns_label(&phase.stage, 50));
        let path = a.dir.join(&file);
        let yaml = to_yaml(&job(&a, &plan.file.name, &phase, &name));
        std::fs::write(&path, yaml).with_context(|| path.display().to_string())?;
        let _ = writeln!(
            apply,
            "# phase {} `{}`{}\nkubectl apply{ns} -f {file}\nwait_job {name}",
            phase.index,
            phase.stage,
            if phase.global {
                " (global: 1 index)"
            } else {
                ""
            }
        );
        println!("{}", path.display());
    }
    let path = a.dir.join("apply.sh");
    std::fs::write(&path, apply).with_context(|| path.display().to_string())?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
