//! # weft-pipeline-caption
//!
//! Image folders, URL lists and existing shards → deduplicated, clustered, recaptioned
//! caption shards (`just build-caption-shards`).
//!
//! - [`fetch`], [`url_list`]: URL lists and bounded, polite, retrying downloads;
//! - [`normalise`]: decode under limits, EXIF orientation, size rules, re-encode only when
//!   needed;
//! - [`hash`], [`mih`], [`groups`], [`near`]: pHash/dHash, a multi-index Hamming search, and
//!   deterministic leader groups; [`minhash`]: caption near-duplicates;
//! - [`kmeans`], [`embed`]: clustering over colour features or a native model's vision
//!   features;
//! - [`templates`], [`cache`]: recaption prompts and the answer cache;
//! - [`record`]: the tables passed between stages; [`stages`]: the stage kinds.

pub mod cache;
pub mod embed;
pub mod fetch;
pub mod groups;
pub mod hash;
pub mod kmeans;
pub mod mih;
pub mod minhash;
pub mod near;
pub mod normalise;
pub mod record;
pub mod stages;
pub mod templates;
pub mod url_list;

pub use stages::{build_recaption_with_model, register};
