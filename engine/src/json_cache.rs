//! A content-addressed cache of small JSON entries on disk, for stages whose work is expensive
//! and keyed by its inputs (model responses: recaptions, pass-rate samples). One file per key
//! under `<dir>/<2 hex>/<64 hex>.json`, written atomically (a uniquely named temporary file,
//! then rename), so concurrent ranks, threads and killed runs never leave a half-written entry;
//! an unreadable entry counts as missing.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The key of a list of parts: SHA-256 over each part's length and bytes (so `["ab", "c"]` and
/// `["a", "bc"]` differ), as 64 hex digits.
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `$XDG_CACHE_HOME/weft/<name>`, else `~/.cache/weft/<name>`.
pub fn default_dir(name: &str) -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weft")
        .join(name)
}

/// A cache folder holding entries of type `T`.
#[derive(Debug)]
pub struct JsonCache<T> {
    dir: PathBuf,
    entry: PhantomData<fn() -> T>,
}

impl<T> Clone for JsonCache<T> {
    fn clone(&self) -> Self {
        JsonCache {
            dir: self.dir.clone(),
            entry: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> JsonCache<T> {
    /// A cache under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JsonCache {
            dir: dir.into(),
            entry: PhantomData,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The entry for `key` (from [`key`]), if cached.
    pub fn get(&self, key: &str) -> Option<T> {
        let text = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Stores an entry.
    pub fn put(&self, key: &str, entry: &T) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
    }

    /// Threads of one process storing the same key at once all succeed (they once shared one
    /// temporary name, and the loser's rename failed), and the entry reads back whole.
    #[test]
    fn concurrent_puts_of_one_key_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = JsonCache::<Vec<String>>::new(dir.path());
        let k = key(&["image", "model", "prompt", "{}"]);
        let entry = vec!["a cat".to_string()];
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
        assert_eq!(cache.get(&key(&["other"])), None);
    }
}
