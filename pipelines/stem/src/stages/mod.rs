//! The stem pipeline's stage kinds, registered into the engine's registry by [`register`].
//!
//! ```text
//! chart_synth ────┐
//! geometry_synth ─┼─▶ samples with the answer contract in meta ─▶ pass_rate_filter ─▶ RL queries
//! problem_set ────┘
//! ```

pub mod pass_rate;
mod problem_set;
mod synth;

use weft_engine::registry::{KindInfo, Registry};

/// Registers the stem pipeline's kinds.
pub fn register(r: &mut Registry) {
    let kinds: [(
        &'static str,
        bool,
        &'static str,
        weft_engine::registry::BuildFn,
    ); 4] = [
        (
            "chart_synth",
            true,
            "seeded chart tables (bar, grouped bar, line, pie, scatter) → rendered charts with exact QA and point grounding",
            synth::build_charts,
        ),
        (
            "geometry_synth",
            true,
            "seeded triangles drawn to scale with labels → geometry QA with computed answers and vertex pointing",
            synth::build_geometry,
        ),
        (
            "problem_set",
            true,
            "exercises from JSONL / Parquet (question, answer, optional choices and images) → samples",
            problem_set::build,
        ),
        (
            "pass_rate_filter",
            false,
            "n sampled responses per query, verified; keeps queries with pass rate ≤ max_pass_rate",
            pass_rate::build,
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
