//! # weft-pipeline-video
//!
//! Videos to frame-sampled, timestamped dense-caption and spatio-temporal grounding shards
//! (`just build-video-shards`).
//!
//! The one rule that shapes the crate: **a timestamp is a decoded frame's presentation time**,
//! never index × nominal fps — a wrong clock silently teaches the model the wrong time. Frames
//! are picked with the reference processor's count rule, stored already sized to the
//! processor's video budget with their exact times, and every time a sample states (segment
//! bounds, grounding spans) is a temporal-patch label the prompt shows.
//!
//! - [`decode`]: FFmpeg probe, packet index of presentation times, seek-efficient decode;
//! - [`sampling`]: which frames (reference count rule; index linspace on CFR, time on VFR;
//!   even count);
//! - [`segments`]: shot boundaries (histogram difference) or fixed windows, in whole patches;
//! - [`annotations`]: the JSONL track format and box interpolation;
//! - [`table`]: the video table between the source and the sample stages;
//! - [`stages`]: `video_source`, `video_balance`, `dense_captions`, `st_grounding`.

pub mod annotations;
pub mod decode;
pub mod error;
pub mod rng;
pub mod sampling;
pub mod segments;
pub mod stages;
pub mod table;

pub use error::{Kind, VideoError};
pub use stages::register;
