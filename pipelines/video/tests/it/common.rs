//! Helpers shared by the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate folder.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled clip.
pub fn clip(name: &str) -> PathBuf {
    crate_dir().join("fixtures/clips").join(name)
}

/// Presentation times (seconds, first frame = 0) of every frame of the first video stream,
/// as ffprobe reports them after decoding.
pub fn ffprobe_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (FFmpeg tools, installed by scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut t: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    t.sort_by(f64::total_cmp);
    let first = t[0];
    t.iter().map(|x| x - first).collect()
}
