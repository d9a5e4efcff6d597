//! The response cache: one JSON file per (query, model, sampling parameters, seed) under
//! `<dir>/<2 hex>/<64 hex>.json`, written atomically (temporary file + rename) so concurrent
//! ranks and killed runs never leave a half-written entry. A rerun — after a threshold or
//! verifier change, which reruns the stage — makes no model call for cached queries.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cached responses of one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Model id that wrote them.
    pub model: String,
    /// The n completions, in stream order.
    pub completions: Vec<String>,
    /// The seed of the attempt that produced them (a retry uses a derived seed); absent in
    /// entries written before retries reseeded, which came from the query's own seed.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// The key of one query: its prompt (text and image bytes, via the sample's content hash and
/// the instruction), the model (id and spec, which holds the dtype), the sampling parameters
/// as JSON (which hold n and the query's seed — the first attempt's; retries derive theirs
/// from it, so the key does not depend on how many attempts were needed).
pub fn key(query: &str, model: &str, params_json: &str) -> String {
    let mut h = Sha256::new();
    for part in [query, model, params_json] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Default folder: `$XDG_CACHE_HOME/weft/pass-rate` (else `~/.cache/weft/pass-rate`).
pub fn default_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weft/pass-rate")
}

impl Cache {
    /// A cache under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The entry for `key`, if cached (unreadable entries count as missing).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let text = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Stores an entry.
    pub fn put(&self, key: &str, entry: &Entry) -> Result<(), String> {
        let path = self.path(key);
        let dir = path.parent().expect("two levels");
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Unique per writer: the pid alone collides between threads of one process that store
        // the same key at once (one rename then fails); a process-wide counter separates them.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{key}.{}.{seq}.tmp", std::process::id()));
        let text = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        let written = std::fs::write(&tmp, text)
            .map_err(|e| format!("{}: {e}", tmp.display()))
            .and_then(|()| {
                std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}
