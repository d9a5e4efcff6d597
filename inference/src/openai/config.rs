//! Settings of [`super::OpenAiClient`], read from a pipeline's TOML like any stage config
//! (`deny_unknown_fields`, so a misspelt key fails the plan instead of silently using a default).
//!
//! Durations are plain seconds (`timeout_secs = 120`), matching the other configs of the
//! workspace. The API key is never serialised and never printed: stage configs end up in
//! fingerprints and logs, a secret must not.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};

/// Where and how to reach an OpenAI-compatible chat-completions server (vLLM, SGLang…).
///
/// `base_url` is the API root *including* the version segment, as the OpenAI SDKs take it:
/// `http://node7:8000/v1`. The client appends `/chat/completions`; one trailing `/` is ignored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// API root including the version segment, e.g. `http://localhost:8000/v1`.
    pub base_url: String,
    /// The served model name (vLLM's `--served-model-name`, or the model path it was started with).
    pub model: String,
    /// Bearer token. When absent, the client reads `OPENAI_API_KEY` from the environment when it
    /// is built; when neither is set no `Authorization` header is sent. Never serialised.
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// Most requests in flight at once, over all `generate` calls on one client.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Limit for one attempt of one request, connection and response body included, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Limit for opening a connection, in seconds.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: f64,
    /// Further attempts after a failure that may pass on its own (connection errors, timeouts,
    /// 408, 429, 5xx); 0 tries once.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Wait before the first retry, in seconds; doubled for each further retry.
    #[serde(default = "default_initial_backoff_secs")]
    pub initial_backoff_secs: f64,
    /// Longest backoff between two attempts, in seconds (jitter included). A server's
    /// `Retry-After` is followed even when longer, up to `timeout_secs`.
    #[serde(default = "default_max_backoff_secs")]
    pub max_backoff_secs: f64,
}

fn default_max_concurrency() -> usize {
    16
}
fn default_timeout_secs() -> f64 {
    300.0
}
fn default_connect_timeout_secs() -> f64 {
    10.0
}
fn default_max_retries() -> u32 {
    4
}
fn default_initial_backoff_secs() -> f64 {
    0.5
}
fn default_max_backoff_secs() -> f64 {
    30.0
}

impl OpenAiConfig {
    /// A config for `model` served at `base_url`, every other setting at its default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            max_concurrency: default_max_concurrency(),
            timeout_secs: default_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            max_retries: default_max_retries(),
            initial_backoff_secs: default_initial_backoff_secs(),
            max_backoff_secs: default_max_backoff_secs(),
        }
    }

    /// `base_url` without its trailing `/`, after checking it is an http(s) URL.
    pub(super) fn api_root(&self) -> Result<String> {
        let root = self.base_url.strip_suffix('/').unwrap_or(&self.base_url);
        let url = reqwest::Url::parse(root)
            .map_err(|e| invalid(format!("base_url {:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "base_url {:?}: scheme must be http or https",
                self.base_url
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(format!(
                "base_url {:?}: must not carry a query or fragment",
                self.base_url
            )));
        }
        Ok(root.to_string())
    }

    /// Checks every field; the message names the bad one.
    pub fn validate(&self) -> Result<()> {
        self.api_root()?;
        if self.model.trim().is_empty() {
            return Err(invalid("model must not be empty".into()));
        }
        if self.max_concurrency == 0 {
            return Err(invalid("max_concurrency must be at least 1".into()));
        }
        for (name, v) in [
            ("timeout_secs", self.timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(invalid(format!("{name} {v} must be > 0")));
            }
        }
        for (name, v) in [
            ("initial_backoff_secs", self.initial_backoff_secs),
            ("max_backoff_secs", self.max_backoff_secs),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(invalid(format!("{name} {v} must be >= 0")));
            }
        }
        Ok(())
    }

    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout_secs)
    }
}

fn invalid(reason: String) -> InferenceError {
    InferenceError::config("OpenAiConfig", reason)
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout_secs", &self.timeout_secs)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff_secs", &self.initial_backoff_secs)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .finish()
    }
}
