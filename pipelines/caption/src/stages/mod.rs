//! The caption pipeline's stage kinds, registered by [`register`].
//!
//! ```text
//! caption_source ─▶ normalise_images ─┬▶ image_near_duplicates (global) ─┐
//!   folders, URL     decode, orient,  │                                  ▼ side input
//!   lists, shards    size, hashes     └──────────────────────────▶ drop_near_duplicates ─┐
//!      ┌──────────────────────────────────────────────────────────────────────────────────┘
//!      ├▶ caption_near_duplicates (global) ─▶ drop_near_duplicates ─▶ embed_images
//!      ├▶ cluster_images (global k-means) ─▶ apply_clusters (caps) ─▶ recaption ─▶ caption_pairs
//! ```

mod clusters;
mod dedup;
mod embed;
mod normalise;
mod recaption;
mod samples;
mod source;

pub use recaption::build_with_model as build_recaption_with_model;
use weft_engine::registry::{BuildFn, KindInfo, Registry};

/// Registers the caption pipeline's kinds.
pub fn register(r: &mut Registry) {
    let kinds: [(&'static str, bool, &'static str, BuildFn); 10] = [
        (
            "caption_source",
            true,
            "image folders, URL lists (txt/csv/tsv/jsonl/parquet) or shards → raw image rows with alt text",
            source::build,
        ),
        (
            "normalise_images",
            false,
            "decode under limits, EXIF-orient, size/aspect filter, re-encode only when needed, pHash/dHash/sha256",
            normalise::build,
        ),
        (
            "image_near_duplicates",
            false,
            "global: perceptual near-duplicate groups (pHash index + dHash), best representative",
            dedup::build_image,
        ),
        (
            "caption_near_duplicates",
            false,
            "global: alt-text near-duplicate groups (MinHash LSH)",
            dedup::build_caption,
        ),
        (
            "drop_near_duplicates",
            false,
            "keep the representatives chosen by near-duplicate groups tables (side inputs)",
            dedup::build_filter,
        ),
        (
            "embed_images",
            false,
            "clustering features: pooled vision-tower features of a native model (else keep the colour feature)",
            embed::build,
        ),
        (
            "cluster_images",
            false,
            "global: k-means (k-means++, seeded) over features, per-cluster caps",
            clusters::build,
        ),
        (
            "apply_clusters",
            false,
            "apply a cluster table: cluster id + size into records, drop over-cap records",
            clusters::build_apply,
        ),
        (
            "recaption",
            false,
            "new captions from a vision-language model (templates, batched, cached)",
            recaption::build,
        ),
        (
            "caption_pairs",
            false,
            "image records → caption training samples (model caption or alt text)",
            samples::build,
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
