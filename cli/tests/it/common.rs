//! Helpers shared by the CLI tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `weft` binary under test.
pub fn weft() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weft"))
}

/// Repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `weft args…`, returning the output; panics with stderr when `expect_ok` disagrees.
pub fn run_weft(args: &[&str], expect_ok: bool) -> Output {
    let out = weft().args(args).output().expect("spawn weft");
    if out.status.success() != expect_ok {
        panic!(
            "weft {:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Loads shards with Hugging Face `datasets` (through the project venv, or `$WEFT_PYTHON`) via
/// `tests/python/check_hf_datasets.py`; returns what the script saw.
pub fn hf_datasets_check(out: &Path, hf_home: &Path) -> serde_json::Value {
    let python = std::env::var("WEFT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} missing: run `just setup` (scripts/setup.sh) to create the venv with datasets and pyarrow",
        python.display()
    );
    let shards: Vec<String> = weft_shards::resolve_paths(&[out.display().to_string()])
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let check = Command::new(&python)
        .arg(repo_root().join("tests/python/check_hf_datasets.py"))
        .args(&shards)
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HOME", hf_home)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "datasets check failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let last = check
        .stdout
        .split(|b| *b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap();
    serde_json::from_slice(last).unwrap()
}

/// Every sample a stage wrote under `out/stage`, in file order.
pub fn stage_samples(out: &Path, stage: &str) -> Vec<weft_shards::Sample> {
    let mut v = Vec::new();
    for f in weft_shards::resolve_paths(&[out.join(stage).display().to_string()]).unwrap() {
        for b in weft_shards::reader::read_all(&f).unwrap() {
            v.extend(weft_shards::samples_from_batch(&b).unwrap());
        }
    }
    v
}
