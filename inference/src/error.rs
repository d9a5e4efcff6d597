//! One error type for the whole crate: every variant says what was being read and why it failed,
//! so a pipeline can quarantine a record with the message as its reason.

use std::path::PathBuf;

/// Errors from loading, preprocessing, running or calling a model.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// A file of the model folder (or an input) could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file is malformed or names something unsupported.
    #[error("{path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The architecture exists but this crate does not implement it (yet).
    #[error("{0}")]
    Unsupported(String),
    /// Weights are missing, truncated, or of the wrong shape or dtype.
    #[error("weights: {0}")]
    Weights(String),
    /// An image or video could not be decoded or does not fit the processor's rules.
    #[error("{0}")]
    Media(String),
    /// The request itself is invalid (too long for the context, pads that do not match images…).
    #[error("request: {0}")]
    Request(String),
    /// Tokenizer or chat-template failure.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An OpenAI-compatible server failed or answered something unusable.
    #[error("server: {0}")]
    Server(String),
    /// A tensor operation failed (a bug or an out-of-memory, not bad input).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl InferenceError {
    /// An [`InferenceError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InferenceError::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`InferenceError::Config`] for `path`.
    pub fn config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        InferenceError::Config {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<weft_shards::Error> for InferenceError {
    fn from(e: weft_shards::Error) -> Self {
        InferenceError::Media(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = InferenceError> = std::result::Result<T, E>;
