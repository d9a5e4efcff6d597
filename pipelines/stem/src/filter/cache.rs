//! The response cache: one entry per (query, model, sampling parameters, seed) in a
//! [`JsonCache`] (atomic writes, shared by ranks). A rerun — after a threshold or verifier
//! change, which reruns the stage — makes no model call for cached queries.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use weft_engine::json_cache::{self, JsonCache};

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

/// The response cache folder.
pub type Cache = JsonCache<Entry>;

/// The key of one query: its prompt (text and image bytes, via the sample's content hash and
/// the instruction), the model (id and spec, which holds the dtype), the sampling parameters
/// as JSON (which hold n and the query's seed — the first attempt's; retries derive theirs
/// from it, so the key does not depend on how many attempts were needed).
pub fn key(query: &str, model: &str, params_json: &str) -> String {
    json_cache::key(&[query, model, params_json])
}

/// Default folder: `$XDG_CACHE_HOME/weft/pass-rate` (else `~/.cache/weft/pass-rate`).
pub fn default_dir() -> PathBuf {
    json_cache::default_dir("pass-rate")
}
