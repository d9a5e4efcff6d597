//! The crate's error type. Stage code hands the engine `String` messages; everything below
//! the stages returns [`GroundingError`], whose variants name the file, URL or template.

use std::path::PathBuf;

/// Errors of the grounding library.
#[derive(Debug, thiserror::Error)]
pub enum GroundingError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An annotation file that cannot be read as a whole (not JSON, truncated, wrong layout).
    #[error("{path}: {reason}")]
    Annotations {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        reason: String,
    },
    /// A template file or template that does not compile or render.
    #[error("templates {path}: {reason}")]
    Template {
        /// The file (or `built-in`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A bad stage setting.
    #[error("{0}")]
    Config(String),
    /// An image that cannot be used, with the short reason used as the quarantine key.
    #[error("{message}")]
    Image {
        /// Quarantine reason (`missing_image`, `corrupt_image`, `fetch_failed`, …).
        reason: &'static str,
        /// The full message, naming the file or URL.
        message: String,
    },
    /// A coordinate convention that cannot place a box on an image (e.g. aspect ratio > 200).
    #[error("{0}")]
    Geometry(String),
}

impl GroundingError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        GroundingError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An image problem with its quarantine reason.
    pub fn image(reason: &'static str, message: impl Into<String>) -> Self {
        GroundingError::Image {
            reason,
            message: message.into(),
        }
    }

    /// The short reason used as a quarantine or drop key.
    pub fn reason(&self) -> &'static str {
        match self {
            GroundingError::Io { .. } => "io",
            GroundingError::Annotations { .. } => "bad_annotation_file",
            GroundingError::Template { .. } => "template",
            GroundingError::Config(_) => "config",
            GroundingError::Image { reason, .. } => reason,
            GroundingError::Geometry(_) => "geometry",
        }
    }
}
