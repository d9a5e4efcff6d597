//! The recaption cache: one entry per (image sha256, model id + spec with its dtype, rendered
//! prompt, generation parameters) in a [`JsonCache`] (atomic writes, shared by ranks). A rerun —
//! or a second pipeline over the same images — makes no model call for cached captions.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use weft_engine::json_cache::{self, JsonCache};

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

/// The recaption cache folder.
pub type Cache = JsonCache<Entry>;

/// The cache key of one request.
pub fn key(image_sha256: &str, model: &str, prompt: &str, params_json: &str) -> String {
    json_cache::key(&[image_sha256, model, prompt, params_json])
}

/// `$XDG_CACHE_HOME/weft/captions`, else `~/.cache/weft/captions`.
pub fn default_dir() -> PathBuf {
    json_cache::default_dir("captions")
}
