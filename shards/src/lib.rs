//! # weft-shards
//!
//! The Parquet shard format every weft pipeline writes and every trainer reads: one row is one
//! training sample in the interleaved message format of Qwen3-VL (see `docs/shard-format.md`).
//!
//! - [`schema`]: the Arrow schema, with Hugging Face `datasets` features in its metadata;
//! - [`sample`]: typed [`Sample`]s and batch conversion, content-derived ids;
//! - [`image_check`]: full decode checks (truncated JPEGs included);
//! - [`writer`]: rolling, zstd, atomically published shard files;
//! - [`reader`]: path resolution and projected, row-group streaming reads;
//! - [`manifest`]: the per-stage `manifest.json` and its accounting;
//! - [`validate`]: the checks behind `weft shards validate`;
//! - [`vision`]: Qwen3-VL `smart_resize` and exact vision-token counts;
//! - [`render`]: a sample through the chat template with every pad expanded.
//!
//! ```
//! use weft_shards::{Content, Message, Sample, samples_to_batch};
//! let s = Sample::new("caption", "docs", vec![Message::new("user", vec![Content::text("hi")])],
//!                     vec![], vec![], Default::default());
//! let batch = samples_to_batch(&[s]).unwrap();
//! assert_eq!(batch.num_rows(), 1);
//! ```

use std::path::{Path, PathBuf};

pub mod image_check;
pub mod manifest;
pub mod reader;
pub mod render;
pub mod sample;
pub mod schema;
pub mod validate;
pub mod vision;
pub mod writer;

pub use manifest::{Counts, Manifest, ShardEntry};
pub use reader::{Shard, resolve_paths};
pub use sample::{Content, Image, Message, Sample, Video, samples_from_batch, samples_to_batch};
pub use schema::{SCHEMA_VERSION, is_sample_schema, sample_schema};
pub use writer::{ShardInfo, ShardWriter, WriterOptions};

/// Errors of the shard library. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file that exists but is not what it should be.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A path or glob that matched nothing.
    #[error("{0}: no such file, folder or glob match")]
    NotFound(PathBuf),
    /// Data that does not follow the sample schema.
    #[error("schema: {0}")]
    Schema(String),
    /// An image that cannot be read.
    #[error("image: {0}")]
    Image(String),
    /// A bad option or template.
    #[error("config: {0}")]
    Config(String),
    /// Arrow.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
