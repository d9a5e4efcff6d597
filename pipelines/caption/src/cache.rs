//! The recaption cache: one small JSON file per (image sha256, model id + spec with its dtype,
//! rendered prompt, generation parameters), under `<dir>/<2 hex>/<64 hex>.json`, written
//! atomically (uniquely named temporary file + rename) so concurrent ranks, threads and killed
//! runs never leave a half-written entry. A rerun — or a second pipeline over the same images —
//! makes no model call for cached captions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A cached caption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The model's text.
    pub text: String,
    /// Model id that wrote it.
    pub model: String,
    /// Prompt id.
    pub prompt_id: String,
}

/// A cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// The cache key of one request.
pub fn key(image_sha256: &str, model: &str, prompt: &str, params_json: &str) -> String {
    let mut h = Sha256::new();
    for part in [image_sha256, model, prompt, params_json] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
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
        let dir = path.parent().expect("has a parent");
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

/// `$XDG_CACHE_HOME/weft/captions`, else `~/.cache/weft/captions`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weft/captions")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of one process storing the same key at once all succeed (they used to share one
    /// temporary name, and the loser's rename failed), and the entry reads back whole.
    #[test]
    fn concurrent_puts_of_one_key_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let k = key("ab", "m", "p", "{}");
        let entry = Entry {
            text: "a cat".into(),
            model: "m".into(),
            prompt_id: "brief".into(),
        };
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        cache.put(&k, &entry).unwrap();
                    }
                });
            }
        });
        assert_eq!(cache.get(&k), Some(entry));
    }
}
