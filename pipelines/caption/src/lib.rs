//! # weft-pipeline-caption
//!
//! Image folders, URL lists and shards to deduplicated, clustered, recaptioned caption shards. (work in progress: see the crate README).

use weft_engine::registry::Registry;

/// Registers the caption pipeline's stage kinds.
pub fn register(_r: &mut Registry) {}
