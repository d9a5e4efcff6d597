//! Resolving a source stage's `path` setting into a sorted list of input files — a folder
//! (searched recursively), a glob, or a list file (one path per line, `#` comments) — and the
//! identity of each file for stage fingerprints. Shared by every source stage.

use std::path::{Path, PathBuf};

/// Files under `spec` (relative to `base`) whose extension is one of `exts` (case-insensitive).
pub fn resolve_inputs(base: &Path, spec: &str, exts: &[&str]) -> Result<Vec<PathBuf>, String> {
    let matches_ext = |p: &Path| {
        p.extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| exts.iter().any(|e| e.eq_ignore_ascii_case(x)))
    };
    let path = base.join(spec);
    let mut out = Vec::new();
    if spec.contains(['*', '?', '[']) {
        let pattern = path.to_string_lossy().into_owned();
        for m in glob::glob(&pattern).map_err(|e| format!("bad glob `{spec}`: {e}"))? {
            let p = m.map_err(|e| e.to_string())?;
            if p.is_file() {
                out.push(p);
            }
        }
    } else if path.is_dir() {
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
                let p = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matches_ext(&p) {
                    out.push(p);
                }
            }
        }
    } else if path.is_file() && !matches_ext(&path) {
        // A list file: one input per line, relative to the list's folder.
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(base);
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| dir.join(l)),
        );
    } else if path.is_file() {
        out.push(path);
    } else {
        return Err(format!(
            "{}: no such file, folder or glob match",
            path.display()
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `relative:size:mtime` identity of a file for stage fingerprints.
pub fn file_key(root: &Path, p: &Path) -> String {
    let md = std::fs::metadata(p).ok();
    let mtime = md
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}:{}:{mtime}",
        relative(root, p),
        md.map_or(0, |m| m.len())
    )
}

/// `p` relative to `root` with `/` separators (the path recorded in samples).
pub fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}
