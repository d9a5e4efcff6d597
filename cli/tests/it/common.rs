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
