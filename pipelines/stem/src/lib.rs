//! # weft-pipeline-stem
//!
//! Chart and diagram synthesis, problem sets and pass-rate filtering to STEM shards. (work in progress: see the crate README).

use weft_engine::registry::Registry;

/// Registers the stem pipeline's stage kinds.
pub fn register(_r: &mut Registry) {}
