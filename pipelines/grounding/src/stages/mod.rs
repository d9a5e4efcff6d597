//! The grounding pipeline's stage kinds, registered into the engine's registry by [`register`].
//!
//! ```text
//! coco_objects ─┐                              ┌▶ grounding_samples (task = ref_grounding)
//! refcoco_objects ─▶ object table (canonical) ─┼▶ grounding_samples (task = multi_grounding)
//! pixmo_points ─┘   one row per image,         ├▶ … point_grounding, counting, box_counting,
//!                   boxes/points in pixels     └▶   point_counting, spatial
//! ```

mod common;
mod grounding_samples;
mod readers;

use weft_engine::registry::{KindInfo, Registry};

/// Registers the grounding pipeline's kinds.
pub fn register(r: &mut Registry) {
    let kinds: [(
        &'static str,
        bool,
        &'static str,
        weft_engine::registry::BuildFn,
    ); 4] = [
        (
            "coco_objects",
            true,
            "COCO-style detection JSON (+ image folder or URLs) → object table, one row per image",
            readers::build_coco,
        ),
        (
            "refcoco_objects",
            true,
            "RefCOCO-style referring expressions (JSON, JSONL, Parquet) → object table",
            readers::build_refcoco,
        ),
        (
            "pixmo_points",
            true,
            "PixMo-Points-style point annotations (JSONL, Parquet) → object table",
            readers::build_pixmo,
        ),
        (
            "grounding_samples",
            false,
            "object table → grounding, pointing, counting or spatial samples (`task`)",
            grounding_samples::build,
        ),
    ];
    for (name, source, about, build) in kinds {
        r.register(KindInfo {
            name,
            source,
            about,
            build,
        });
    }
}
