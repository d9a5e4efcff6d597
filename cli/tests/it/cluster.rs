//! Cluster runs on real engines: a one-node Slurm on loopback (started and stopped here, by
//! `tests/cluster/local-slurm.sh`), an S3 server on loopback, and the Kubernetes manifests
//! against the batch/v1 Job structure.
//!
//! The Slurm test needs root and Debian's `slurmctld slurmd slurm-client munge`
//! (`scripts/setup.sh` installs them). Without them it fails when `CI` is set and is skipped,
//! loudly, otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_shards::{Manifest, resolve_paths};

use crate::common::{repo_root, run_weft, stage_samples};
use crate::pipeline_runs::make_photos;

/// Whether a test that needs `what` may skip: only outside CI, and it says so.
fn skip_outside_ci(test: &str, what: &str) -> bool {
    // `CI=false`, `CI=0` and an empty `CI` count as unset.
    let ci = std::env::var("CI").unwrap_or_default();
    if !matches!(ci.trim().to_ascii_lowercase().as_str(), "" | "0" | "false") {
        panic!("{test}: {what} (CI is set, so this test may not be skipped)");
    }
    eprintln!("SKIPPED {test}: {what} (run as root after scripts/setup.sh; CI fails instead)");
    true
}

/// A running one-node Slurm cluster; stopped on drop.
struct Slurm {
    dir: PathBuf,
}

impl Slurm {
    fn script() -> PathBuf {
        repo_root().join("cli/tests/cluster/local-slurm.sh")
    }

    /// Starts a cluster in `dir`, or says why it cannot.
    fn start(dir: &Path, max_array_size: u64) -> Result<Slurm, String> {
        let out = Command::new("bash")
            .arg(Self::script())
            .args(["start", dir.to_str().unwrap(), "4"])
            .env("MAX_ARRAY_SIZE", max_array_size.to_string())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Slurm {
            dir: dir.to_path_buf(),
        })
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// Waits until no job is pending or running.
    fn wait_idle(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            let out = self
                .cmd("squeue")
                .args(["-h", "-o", "%i %T"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if out.status.success() && text.trim().is_empty() {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "jobs still queued after {timeout:?}:\n{text}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|f| {
                let t = std::fs::read_to_string(self.dir.join("log").join(f)).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect()
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

fn dedup_pipeline(dir: &Path) -> PathBuf {
    make_photos(&dir.join("photos"), 3); // 18 files, each photo three times
    let p = dir.join("dedup.toml");
    let text = std::fs::read_to_string(repo_root().join("examples/captions/dedup.toml"))
        .unwrap()
        .replace("../data/photos/captions.jsonl", "photos/captions.jsonl")
        .replace("../data/photos", "photos");
    std::fs::write(&p, text).unwrap();
    p
}

/// `phase N `stage`: job ID (array A of W ranks)` lines of `weft slurm submit`.
fn submitted(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("phase "))
        .map(|l| {
            let stage = l.split('`').nth(1).unwrap().to_string();
            let job = l
                .split("job ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string();
            let array = l
                .split("(array ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string();
            (stage, job, array)
        })
        .collect()
}

fn sorted_samples(out: &Path) -> Vec<weft_shards::Sample> {
    let mut v = stage_samples(out, "samples");
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Parquet files in a stage folder that its manifest does not list (leftovers of a kill).
fn unlisted_shards(out: &Path, stage: &str) -> Vec<String> {
    let m = Manifest::read(&out.join(stage).join("manifest.json")).unwrap();
    let listed: BTreeSet<&str> = m.shards.iter().map(|s| s.file.as_str()).collect();
    std::fs::read_dir(out.join(stage))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet") && !listed.contains(n.as_str()))
        .collect()
}

#[test]
fn slurm_arrays_run_a_global_dedup_like_a_local_run_and_resume_after_scancel() {
    const TEST: &str = "slurm_arrays_run_a_global_dedup_like_a_local_run_and_resume_after_scancel";
    let tmp = tempfile::tempdir().unwrap();
    // MaxArraySize 3: the 4 ranks of a phase need two arrays (indexes 0-2, and 0 + offset 3).
    let slurm = match Slurm::start(&tmp.path().join("slurm"), 3) {
        Ok(s) => s,
        Err(why) => {
            if skip_outside_ci(TEST, &format!("no local Slurm: {why}")) {
                return;
            }
            unreachable!()
        }
    };
    let p = dedup_pipeline(tmp.path());
    let local = tmp.path().join("local");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            local.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );

    let out = tmp.path().join("cluster");
    let submit = |extra_env: Option<(&str, &str)>| {
        let mut c = slurm.cmd(env!("CARGO_BIN_EXE_weft"));
        c.args([
            "slurm",
            "submit",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--tasks", "4", "--cpus-per-task", "1"]);
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "submit failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };

    // 1. Submit with a gate before split 5's marker of the first phase: rank 1 owns splits 1
    //    and 5 and runs them one after the other (1 CPU); it commits split 1, writes split 5's
    //    shard and then waits on the gate file, where it is cancelled.
    let gates = tmp.path().join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let gate = gates.join("photos-s000005");
    std::fs::write(&gate, b"").unwrap();
    let first = submitted(&submit(Some((
        "WEFT_COMMIT_PAUSE_DIR",
        gates.to_str().unwrap(),
    ))));
    let stages: Vec<&str> = first.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        stages,
        [
            "photos", "photos", "groups", "unique", "unique", "samples", "samples"
        ],
        "one phase per stage, parallel phases cut at MaxArraySize: {first:?}"
    );
    assert_eq!(first[0].2, "0-2");
    assert_eq!(first[1].2, "0", "rank 3 is index 0 of the second array");
    assert_eq!(first[2].2, "0", "the global dedup phase is one task");
    let photos_job = &first[0].1;
    let in_flight = || -> Option<String> {
        std::fs::read_dir(out.join("photos"))
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.contains("-s000005-") && n.ends_with(".parquet"))
    };
    let start = Instant::now();
    let orphan = loop {
        if out.join("photos/_markers/s000001.json").exists()
            && let Some(f) = in_flight()
        {
            break f;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "rank 1 never reached its second split\n{}",
            slurm.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let st = slurm
        .cmd("scancel")
        .arg(format!("{photos_job}_1"))
        .status()
        .unwrap();
    assert!(st.success());
    slurm.wait_idle(Duration::from_secs(120));
    std::fs::remove_file(&gate).unwrap();

    // The cancelled rank is reported lost, its phase partial, later phases not run.
    let get_status = |slurm: &Slurm| -> Value {
        let o = slurm
            .cmd(env!("CARGO_BIN_EXE_weft"))
            .args(["slurm", "status", out.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let status_now = get_status(&slurm);
    let status = &status_now;
    let photos = &status[0];
    assert_eq!(photos["stage"], "photos");
    assert_eq!(photos["complete"], false, "{status:#}");
    assert!(
        photos["ranks_lost"]
            .as_array()
            .unwrap()
            .contains(&Value::from(1)),
        "{status:#}"
    );
    assert!(photos["splits_done"].as_u64().unwrap() < 9, "{status:#}");
    assert!(
        !out.join("samples/manifest.json").exists(),
        "a phase after a failed one ran"
    );
    assert!(
        !out.join("photos/_markers/s000005.json").exists()
            && out.join("photos").join(&orphan).exists(),
        "the cancel landed between split 5's shard and its marker"
    );

    // 2. Resubmit: only rank 1 of the first phase is unfinished.
    let second = submitted(&submit(None));
    assert_eq!(second[0].0, "photos");
    assert_eq!(
        second[0].2, "1",
        "only the cancelled rank reruns: {second:?}"
    );
    assert_eq!(second.iter().filter(|(s, _, _)| s == "photos").count(), 1);
    slurm.wait_idle(Duration::from_secs(180));

    // 3. Same samples as the local run, no duplicate and no leftover shard.
    let status_now = get_status(&slurm);
    let status = &status_now;
    for s in status.as_array().unwrap() {
        assert_eq!(s["complete"], true, "{status:#}");
    }
    let (a, b) = (sorted_samples(&local), sorted_samples(&out));
    assert_eq!(a.len(), 6, "dedup keeps one of each photo");
    assert_eq!(a, b, "cluster samples equal the local run's");
    for stage in ["photos", "groups", "unique", "samples"] {
        let (ml, mc) = (
            Manifest::read(&local.join(stage).join("manifest.json")).unwrap(),
            Manifest::read(&out.join(stage).join("manifest.json")).unwrap(),
        );
        assert_eq!(ml.counts, mc.counts, "{stage} counts");
        assert!(
            unlisted_shards(&out, stage).is_empty(),
            "{stage}: leftover shards {:?}",
            unlisted_shards(&out, stage)
        );
    }
    let mut ids: Vec<String> = resolve_paths(&[out.join("photos").display().to_string()])
        .unwrap()
        .iter()
        .flat_map(|f| weft_shards::reader::read_all(f).unwrap())
        .flat_map(|b| {
            let col =
                arrow::array::AsArray::as_string::<i32>(b.column_by_name("path").unwrap()).clone();
            col.iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (n, ids.len()),
        (18, 18),
        "every photo exactly once in the first phase"
    );

    // Logs per rank (rank 1 of photos twice: the cancelled attempt and the rerun) and the
    // merged stats of the final merge job.
    let log = std::fs::read_to_string(out.join("_logs/photos/rank-00001.log")).unwrap();
    assert_eq!(
        log.matches("\n== ").count() + usize::from(log.starts_with("== ")),
        2,
        "{log}"
    );
    for r in 0..4 {
        assert!(out.join(format!("_logs/samples/rank-{r:05}.log")).is_file());
    }
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert!(
        stats
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["complete"] == true),
        "{stats:#}"
    );
    drop(slurm);
}

#[test]
fn slurm_submit_dry_run_prints_chained_array_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let p = dedup_pipeline(tmp.path());
    let out = tmp.path().join("out");
    let o = run_weft(
        &[
            "slurm",
            "submit",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--tasks",
            "2500",
            "--max-parallel",
            "300",
            "--partition",
            "gpu",
            "--gpus-per-task",
            "1",
            "--time",
            "2:00:00",
            "--mem",
            "16G",
            "--max-array-size",
            "1001",
            "--dry-run",
        ],
        true,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    // photos: its 9 splits are known, so only the 9 ranks that own one; groups: one task;
    // unique and samples: 3 arrays each (0-1000, +1001, +2002) sharing the throttle.
    assert_eq!(
        text.matches("#SBATCH --array=0-8%300\n").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("#SBATCH --array=0%300\n").count(), 1, "{text}");
    assert_eq!(
        text.matches("#SBATCH --array=0-1000%100\n").count(),
        4,
        "{text}"
    );
    assert_eq!(
        text.matches("#SBATCH --array=0-497%100\n").count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("#SBATCH --array=").count(), 8, "{text}");
    assert!(text.contains("rank=$(( SLURM_ARRAY_TASK_ID + 2002 ))"));
    assert!(text.contains("--stage groups --phase groups --rank \"$rank\" --world-size 1"));
    assert!(text.contains("--world-size 2500"));
    for opt in [
        "--partition=gpu",
        "--gpus-per-task=1",
        "--time=2:00:00",
        "--mem=16G",
    ] {
        assert!(text.contains(&format!("#SBATCH {opt}")), "{opt}");
    }
    assert!(!out.exists(), "a dry run writes nothing");
}

#[test]
fn slurm_scripts_quote_names_and_escape_percent_in_log_paths() {
    // A folder with a space and a `%`: sbatch splits unquoted `#SBATCH` values at spaces and
    // expands `%` in `--output` as a pattern (`%%` is a literal `%`).
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("my data/100%a");
    std::fs::create_dir_all(&base).unwrap();
    let p = dedup_pipeline(&base);
    let out = base.join("out");
    let o = run_weft(
        &[
            "slurm",
            "submit",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--tasks",
            "2",
            "--dry-run",
        ],
        true,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let logs = out.join("_logs").display().to_string().replace('%', "%%");
    assert!(
        text.contains(&format!(
            "#SBATCH --output=\"{logs}/photos/slurm-%A_%a.out\"\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("#SBATCH --output=\"{logs}/merge.log\"\n")),
        "{text}"
    );
    assert!(text.contains("#SBATCH --job-name=\"weft-"), "{text}");
    assert!(
        !text
            .lines()
            .filter(|l| l.starts_with("#SBATCH --output="))
            .any(|l| l.contains("100%a")),
        "a bare % in a path: {text}"
    );
}

/// Fields of the batch/v1 objects a weft Job uses, from the Kubernetes API reference (v1.31):
/// `(object, allowed fields, required fields)`. The check walks a manifest and fails on an
/// unknown field, a missing required one or a wrong JSON type: what `kubectl apply
/// --validate=strict` would reject, without a cluster.
const SCHEMA: &[(&str, &[&str], &[&str])] = &[
    (
        "Job",
        &["apiVersion", "kind", "metadata", "spec", "status"],
        &["apiVersion", "kind", "metadata", "spec"],
    ),
    (
        "ObjectMeta",
        &[
            "name",
            "generateName",
            "namespace",
            "labels",
            "annotations",
            "ownerReferences",
            "finalizers",
        ],
        &[],
    ),
    (
        "JobSpec",
        &[
            "activeDeadlineSeconds",
            "backoffLimit",
            "backoffLimitPerIndex",
            "completionMode",
            "completions",
            "managedBy",
            "manualSelector",
            "maxFailedIndexes",
            "parallelism",
            "podFailurePolicy",
            "podReplacementPolicy",
            "selector",
            "successPolicy",
            "suspend",
            "template",
            "ttlSecondsAfterFinished",
        ],
        &["template"],
    ),
    ("PodTemplateSpec", &["metadata", "spec"], &[]),
    (
        "PodSpec",
        &[
            "activeDeadlineSeconds",
            "affinity",
            "automountServiceAccountToken",
            "containers",
            "dnsPolicy",
            "enableServiceLinks",
            "hostNetwork",
            "imagePullSecrets",
            "initContainers",
            "nodeName",
            "nodeSelector",
            "priorityClassName",
            "restartPolicy",
            "schedulerName",
            "securityContext",
            "serviceAccountName",
            "terminationGracePeriodSeconds",
            "tolerations",
            "volumes",
        ],
        &["containers"],
    ),
    (
        "Container",
        &[
            "args",
            "command",
            "env",
            "envFrom",
            "image",
            "imagePullPolicy",
            "name",
            "resources",
            "securityContext",
            "volumeMounts",
            "workingDir",
        ],
        &["name"],
    ),
    ("EnvVar", &["name", "value", "valueFrom"], &["name"]),
    (
        "ResourceRequirements",
        &["claims", "limits", "requests"],
        &[],
    ),
    (
        "VolumeMount",
        &[
            "mountPath",
            "mountPropagation",
            "name",
            "readOnly",
            "subPath",
            "subPathExpr",
        ],
        &["mountPath", "name"],
    ),
    (
        "Volume",
        &[
            "name",
            "persistentVolumeClaim",
            "emptyDir",
            "hostPath",
            "configMap",
            "secret",
            "nfs",
        ],
        &["name"],
    ),
    (
        "PersistentVolumeClaimVolumeSource",
        &["claimName", "readOnly"],
        &["claimName"],
    ),
];

fn check_object(v: &Value, kind: &str, at: &str, errors: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        errors.push(format!("{at}: {kind} must be an object"));
        return;
    };
    let (_, allowed, required) = SCHEMA.iter().find(|(k, _, _)| *k == kind).unwrap();
    for r in *required {
        if !obj.contains_key(*r) {
            errors.push(format!("{at}: {kind} lacks required `{r}`"));
        }
    }
    for (k, val) in obj {
        let here = format!("{at}.{k}");
        if !allowed.contains(&k.as_str()) {
            errors.push(format!("{here}: unknown field of {kind}"));
            continue;
        }
        let child = |kind: &str, errors: &mut Vec<String>| check_object(val, kind, &here, errors);
        let list = |kind: &str, errors: &mut Vec<String>| match val.as_array() {
            Some(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| check_object(x, kind, &format!("{here}[{i}]"), errors)),
            None => errors.push(format!("{here}: must be a list")),
        };
        let int = |errors: &mut Vec<String>| {
            if !val.is_u64() {
                errors.push(format!("{here}: must be a non-negative integer"));
            }
        };
        let string = |errors: &mut Vec<String>| {
            if !val.is_string() {
                errors.push(format!("{here}: must be a string"));
            }
        };
        let string_map = |errors: &mut Vec<String>| {
            if !val
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
            {
                errors.push(format!("{here}: must map strings to strings"));
            }
        };
        match (kind, k.as_str()) {
            ("Job", "metadata") | ("PodTemplateSpec", "metadata") => child("ObjectMeta", errors),
            ("Job", "spec") => child("JobSpec", errors),
            ("JobSpec", "template") => child("PodTemplateSpec", errors),
            ("PodTemplateSpec", "spec") => child("PodSpec", errors),
            ("PodSpec", "containers") => list("Container", errors),
            ("PodSpec", "volumes") => list("Volume", errors),
            ("Container", "env") => list("EnvVar", errors),
            ("Container", "volumeMounts") => list("VolumeMount", errors),
            ("Container", "resources") => child("ResourceRequirements", errors),
            ("Volume", "persistentVolumeClaim") => {
                child("PersistentVolumeClaimVolumeSource", errors)
            }
            (
                "JobSpec",
                "completions" | "parallelism" | "backoffLimit" | "backoffLimitPerIndex",
            ) => int(errors),
            ("ObjectMeta", "labels" | "annotations") | ("ResourceRequirements", _) => {
                string_map(errors)
            }
            ("Container", "command" | "args") => {
                if !val
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))
                {
                    errors.push(format!("{here}: must be a list of strings"));
                }
            }
            _ => string(errors),
        }
    }
}

/// The batch/v1 structure plus the API server's own rules for Indexed Jobs.
fn check_job(job: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_object(job, "Job", "", &mut errors);
    let spec = &job["spec"];
    let dns1123 = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let mut rule = |ok: bool, msg: &str| {
        if !ok {
            errors.push(msg.to_string());
        }
    };
    rule(
        job["apiVersion"] == "batch/v1" && job["kind"] == "Job",
        "not a batch/v1 Job",
    );
    rule(
        job["metadata"]["name"].as_str().is_some_and(dns1123),
        "metadata.name: not a DNS-1123 label",
    );
    rule(
        spec["completionMode"] == "Indexed",
        "completionMode must be Indexed",
    );
    rule(
        spec["completions"].as_u64().is_some_and(|c| c >= 1),
        "Indexed Jobs need completions >= 1",
    );
    rule(
        spec["parallelism"].as_u64() <= spec["completions"].as_u64(),
        "parallelism beyond completions",
    );
    let restart = &spec["template"]["spec"]["restartPolicy"];
    rule(
        restart == "Never" || restart == "OnFailure",
        "a Job's restartPolicy must be Never or OnFailure",
    );
    rule(
        spec.get("backoffLimitPerIndex").is_none() || restart == "Never",
        "backoffLimitPerIndex needs restartPolicy Never",
    );
    let c = &spec["template"]["spec"]["containers"][0];
    rule(
        c["name"].as_str().is_some_and(dns1123),
        "container name: not a DNS-1123 label",
    );
    rule(
        c["image"].as_str().is_some_and(|s| !s.is_empty()),
        "container without image",
    );
    errors
}

#[test]
fn k8s_manifests_are_indexed_jobs_per_phase_that_pass_the_batch_v1_check() {
    let tmp = tempfile::tempdir().unwrap();
    let p = dedup_pipeline(tmp.path());
    let dir = tmp.path().join("k8s");
    run_weft(
        &[
            "k8s",
            "manifest",
            p.to_str().unwrap(),
            "--out",
            "/data/out",
            "--tasks",
            "4",
            "--max-parallel",
            "2",
            "--image",
            "registry.example/weft:1",
            "--gpus",
            "1",
            "--cpu",
            "2",
            "--memory",
            "8Gi",
            "--pvc",
            "weft-data",
            "--dir",
            dir.to_str().unwrap(),
        ],
        true,
    );
    // Parse the YAML with a real YAML reader (PyYAML, from the project venv).
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup.sh",
        python.display()
    );
    let mut jobs = Vec::new();
    for name in [
        "00-photos.yaml",
        "01-groups.yaml",
        "02-unique.yaml",
        "03-samples.yaml",
    ] {
        let o = Command::new(&python)
            .args(["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"])
            .arg(dir.join(name))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let docs: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(docs.len(), 1, "{name}");
        let errors = check_job(&docs[0]);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        jobs.push(docs.into_iter().next().unwrap());
    }
    let world: Vec<u64> = jobs
        .iter()
        .map(|j| j["spec"]["completions"].as_u64().unwrap())
        .collect();
    assert_eq!(world, [4, 1, 4, 4], "the global dedup phase is one index");
    let c = &jobs[2]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(jobs[2]["spec"]["parallelism"], 2);
    assert_eq!(
        c["env"][0],
        serde_json::json!({"name": "WEFT_WORLD_SIZE", "value": "4"})
    );
    let cmd: Vec<&str> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        cmd.windows(2).any(|w| w == ["--stage", "unique"]) && cmd.contains(&"/data/out"),
        "{cmd:?}"
    );
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    // The check does catch what a server would reject.
    let mut bad = jobs[0].clone();
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always".into();
    bad["spec"]["completion"] = 4.into();
    assert_eq!(check_job(&bad).len(), 3, "{:?}", check_job(&bad));
    // apply.sh applies the phases in order, each after the previous completed.
    let apply = std::fs::read_to_string(dir.join("apply.sh")).unwrap();
    let order: Vec<usize> = ["00-photos", "01-groups", "02-unique", "03-samples"]
        .iter()
        .map(|n| apply.find(n).unwrap())
        .collect();
    assert!(order.is_sorted() && apply.contains("wait_job"), "{apply}");
    // A failed `kubectl apply` stops the script (no `apply && wait_job`, which `set -e`
    // ignores): run it with a `kubectl` on PATH that rejects every apply.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = tmp.path().join("kubectl-calls");
    let kubectl = bin.join("kubectl");
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" = apply ] && exit 1\nexit 0\n",
            calls.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["755", kubectl.to_str().unwrap()])
        .status()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let st = std::process::Command::new("bash")
        .arg(dir.join("apply.sh"))
        .env("PATH", path)
        .status()
        .unwrap();
    let log = std::fs::read_to_string(&calls).unwrap();
    assert!(!st.success(), "apply.sh went on after a failed apply");
    assert_eq!(log.lines().count(), 1, "only the first apply ran: {log}");
}

/// An S3 server (moto, from the project venv) on a free loopback port; stopped on drop.
struct S3Server {
    child: std::process::Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> Result<S3Server, String> {
        let bin = repo_root().join(".venv/bin/moto_server");
        if !bin.exists() {
            return Err(format!(
                "{} missing (scripts/setup.sh installs moto[server])",
                bin.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("moto_server did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    fn env(&self, c: &mut Command) {
        c.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
    }

    /// Runs a boto3 snippet against the server (`s3` is the client); returns its stdout.
    fn boto3(&self, code: &str, args: &[&str]) -> String {
        let mut c = Command::new(repo_root().join(".venv/bin/python"));
        c.arg("-c")
            .arg(format!(
                "import sys, os, boto3\ns3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n{code}"
            ))
            .args(args);
        self.env(&mut c);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn s3_server_is_input_and_output_of_a_two_rank_run() {
    const TEST: &str = "s3_server_is_input_and_output_of_a_two_rank_run";
    let s3 = match S3Server::start() {
        Ok(s) => s,
        Err(why) => {
            if skip_outside_ci(TEST, &why) {
                return;
            }
            unreachable!()
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = dedup_pipeline(tmp.path());
    let local = tmp.path().join("local");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            local.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );

    // The photos go up to the bucket; the pipeline reads them from there.
    s3.boto3(
        "s3.create_bucket(Bucket='data')\nroot = sys.argv[1]\nfor n in sorted(os.listdir(root)):\n    s3.upload_file(os.path.join(root, n), 'data', 'in/photos/' + n)",
        &[tmp.path().join("photos").to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(
            "\"photos/captions.jsonl\"",
            "\"s3://data/in/photos/captions.jsonl\"",
        )
        .replace("path = \"photos\"", "path = \"s3://data/in/photos\"");
    let p3 = tmp.path().join("dedup-s3.toml");
    std::fs::write(&p3, text).unwrap();

    // A shard of split 1 left in the bucket by an earlier attempt under another rank: the
    // rerun of split 1 must delete it, or readers of the bucket would see its rows twice.
    s3.boto3(
        "s3.put_object(Bucket='data', Key='out/photos/r0007-s000001-00000.parquet', Body=b'old')",
        &[],
    );

    // Two ranks, each with its own staging and input cache folder, as on two machines: they
    // share nothing but the bucket.
    let handles: Vec<_> = (0..2)
        .map(|r| {
            let mut c = crate::common::weft();
            c.args([
                "run",
                p3.to_str().unwrap(),
                "--out",
                "s3://data/out",
                "--quiet",
                "--threads",
                "1",
            ])
            .args([
                "--rank",
                &r.to_string(),
                "--world-size",
                "2",
                "--wait-timeout",
                "120",
            ])
            .env("WEFT_STAGING", tmp.path().join(format!("staging{r}")))
            .env("WEFT_CACHE", tmp.path().join(format!("cache{r}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
            s3.env(&mut c);
            c.spawn().unwrap()
        })
        .collect();
    for h in handles {
        let o = h.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    let keys: Vec<String> = s3
        .boto3(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='data', Prefix='out/'):\n    for o in page.get('Contents', []): print(o['Key'])",
            &[],
        )
        .lines()
        .map(str::to_string)
        .collect();
    for stage in ["photos", "groups", "unique", "samples"] {
        assert!(
            keys.contains(&format!("out/{stage}/manifest.json")),
            "{stage}: {keys:#?}"
        );
    }
    assert!(
        keys.iter().all(|k| !k.ends_with(".tmp")),
        "temporary keys left: {keys:#?}"
    );
    assert!(
        !keys.contains(&"out/photos/r0007-s000001-00000.parquet".to_string()),
        "a stale shard of a rerun split is left in the bucket: {keys:#?}"
    );

    // A third machine (fresh staging) sees the run as complete and merges it from the store.
    let mut c = crate::common::weft();
    c.args(["merge", "s3://data/out", "--json"])
        .env("WEFT_STAGING", tmp.path().join("staging-merge"));
    s3.env(&mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        merged
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["complete"] == true),
        "{merged:#}"
    );
    assert!(
        s3.boto3(
            "print(s3.head_object(Bucket='data', Key='out/stats.json')['ContentLength'])",
            &[]
        )
        .trim()
            != "0"
    );

    // Its samples, downloaded from the bucket, equal the local run's.
    let down = tmp.path().join("down");
    s3.boto3(
        "import json\nd = sys.argv[1]\nfor st in ['samples']:\n    m = json.loads(s3.get_object(Bucket='data', Key=f'out/{st}/manifest.json')['Body'].read())\n    os.makedirs(f'{d}/{st}', exist_ok=True)\n    s3.download_file('data', f'out/{st}/manifest.json', f'{d}/{st}/manifest.json')\n    for s in m['shards']: s3.download_file('data', f'out/{st}/' + s['file'], f'{d}/{st}/' + s['file'])",
        &[down.to_str().unwrap()],
    );
    let (a, b) = (sorted_samples(&local), sorted_samples(&down));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "samples through S3 equal the local run's");
    let ml = Manifest::read(&local.join("unique/manifest.json")).unwrap();
    let mut c = crate::common::weft();
    c.args([
        "run",
        p3.to_str().unwrap(),
        "--out",
        "s3://data/out",
        "--json",
    ])
    .env("WEFT_STAGING", tmp.path().join("staging-again"))
    .env("WEFT_CACHE", tmp.path().join("cache-again"));
    s3.env(&mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in report["stages"].as_array().unwrap() {
        assert_eq!(
            s["status"], "cached",
            "a rerun on a fresh machine finds every stage done: {report:#}"
        );
    }
    assert_eq!(
        report["stages"][2]["counts"]["dropped"],
        serde_json::to_value(&ml.counts.dropped).unwrap()
    );
}
