//! # weft-pipeline-stem
//!
//! STEM data for Qwen3-VL-class models: synthetic charts and geometry diagrams with exact
//! perception QA and point grounding, exercises ingested from JSONL / Parquet problem sets, and
//! the reasoning-RL query filter that samples n responses per query, verifies each and drops
//! queries that are too easy (pass rate > 0.9 by default).
//!
//! - [`chart`]: seeded tables (the ground truth), plotters rendering, questions;
//! - [`diagram`]: triangles with labelled angles and sides, answers computed;
//! - [`query`]: the answer contract every sample carries in `meta` (verifier, answer, …);
//! - [`verify`]: answer extraction and the verifiers (numeric, choice, string, grounding);
//! - [`problems`]: problem-set rows from JSONL / Parquet;
//! - [`filter`]: pass rates in exact rational arithmetic, the response cache, the histogram;
//! - [`stages`]: the stage kinds, registered with [`register`].

pub mod chart;
pub mod diagram;
pub mod filter;
pub mod fonts;
pub mod labels;
pub mod problems;
pub mod query;
pub mod stages;
pub mod verify;

pub use stages::register;
