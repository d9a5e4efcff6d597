//! Built-in stage kinds: generic building blocks every pipeline can use, and the pieces of the
//! example caption pipeline under `examples/captions/`.
//!
//! | kind | what it does |
//! |---|---|
//! | `image_folder` | source: image files (recursive) with optional captions → rows of bytes + size |
//! | `filter_images` | drops images that are too small, too large or too elongated |
//! | `caption_samples` | image + caption rows → training samples in the shard schema |
//! | `exact_duplicates` | global phase: one representative per key (e.g. content hash) |
//! | `drop_duplicates` | keeps the representatives chosen by `exact_duplicates` (side input) |

mod caption_samples;
mod dedup;
mod filter_images;
mod image_folder;
pub mod util;

use crate::registry::{KindInfo, Registry};

/// Registers the built-in kinds.
pub fn register_builtin(r: &mut Registry) {
    r.register(KindInfo {
        name: "image_folder",
        source: true,
        about: "image files under a folder (recursive), with captions from a JSONL sidecar",
        build: image_folder::build,
    });
    r.register(KindInfo {
        name: "filter_images",
        source: false,
        about: "drop images by minimum side, maximum side and aspect ratio",
        build: filter_images::build,
    });
    r.register(KindInfo {
        name: "caption_samples",
        source: false,
        about: "image + caption rows to caption training samples",
        build: caption_samples::build,
    });
    r.register(KindInfo {
        name: "exact_duplicates",
        source: false,
        about: "global phase: pick one representative row per key",
        build: dedup::build_groups,
    });
    r.register(KindInfo {
        name: "drop_duplicates",
        source: false,
        about: "keep only the representatives chosen by an exact_duplicates side input",
        build: dedup::build_filter,
    });
}
