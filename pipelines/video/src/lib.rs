//! # weft-pipeline-video
//!
//! Videos to frame-sampled, timestamped dense-caption and spatio-temporal grounding shards. (work in progress: see the crate README).

use weft_engine::registry::Registry;

/// Registers the video pipeline's stage kinds.
pub fn register(_r: &mut Registry) {}
