//! The video pipeline's stage kinds, registered by [`register`].
//!
//! ```text
//! video_source ──▶ video table (frames + pts, meta, segments) ─┬─▶ video_balance (global)
//!                                                               ├─▶ dense_captions ◀─ side: balance
//!                                                               └─▶ st_grounding   ◀─ side: balance
//! ```

pub mod balance;
mod common;
pub mod dense_captions;
pub mod source;
pub mod st_grounding;

use weft_engine::registry::{BuildFn, KindInfo, Registry};

/// Registers the video pipeline's kinds.
pub fn register(r: &mut Registry) {
    let kinds: [(&'static str, bool, &'static str, BuildFn); 4] = [
        (
            "video_source",
            true,
            "MP4/MKV/WebM/MOV files → video table: frames sampled at presentation times, segments",
            source::build,
        ),
        (
            "video_balance",
            false,
            "video table(s) → duration bucket and sampling weight per video (global)",
            balance::build,
        ),
        (
            "dense_captions",
            false,
            "video table → timestamped dense-caption samples (captions from a model)",
            dense_captions::build,
        ),
        (
            "st_grounding",
            false,
            "video table + track annotations → when-and-where samples (0–1000 boxes)",
            st_grounding::build,
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
