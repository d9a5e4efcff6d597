//! # weft-pipeline-grounding
//!
//! Turns detection, referring-expression and point annotations into Qwen3-VL grounding and
//! counting samples (`just build-grounding-shards`).
//!
//! The one rule that shapes the crate: **annotations stay in original-image pixels until the
//! writer**. Readers validate, clip and normalise into the canonical object table
//! ([`canonical`]); only [`convention`] turns pixels into the numbers a model generation
//! expects (Qwen3-VL relative 0–1000 JSON by default, Qwen2.5-VL absolute pixels of the
//! smart-resized image, Qwen2-VL box tokens), with one documented rounding rule each.
//!
//! - [`geometry`]: boxes, clipping, degenerate boxes, interior points of polygons;
//! - [`convention`]: coordinate conventions, answer formatting and parsing back;
//! - [`names`]: category and expression normalisation, plurals for prompts;
//! - [`canonical`]: the object table every reader writes and every sample stage reads;
//! - [`images`]: images from folders, URLs, `data:` URIs or embedded bytes, re-encoded only
//!   when they must be;
//! - [`readers`]: COCO detection JSON, RefCOCO-style records, PixMo-Points-style points;
//! - [`templates`]: minijinja prompt templates from a replaceable file, seeded choice;
//! - [`tasks`]: the sample kinds (referring, multi-object, point, counting ×3, spatial);
//! - [`stages`]: the stage kinds, registered with [`register`].

pub mod canonical;
pub mod convention;
pub mod error;
pub mod geometry;
pub mod images;
pub mod json_stream;
pub mod names;
pub mod readers;
pub mod stages;
pub mod tasks;
pub mod templates;

pub use error::GroundingError;
pub use stages::register;
