//! How a pipeline stage names its model in TOML, and opening it once per process.
//!
//! ```toml
//! model = "Qwen/Qwen3-VL-2B-Instruct"                 # a folder or a Hub id, native
//! model = { path = "models/qwen3-vl-2b", dtype = "bf16" }
//! model = { server = "http://gpu-node:8000/v1", name = "Qwen/Qwen3-VL-8B-Instruct" }
//! ```
//!
//! Several stages (and every split of a stage) naming the same model share one loaded copy:
//! loading a native model costs seconds and gigabytes, so [`ModelRef::open`] keeps a process-wide
//! registry keyed by the reference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use crate::api::VisionLanguageModel;
use crate::candle::DType;
use crate::error::{InferenceError, Result};
use crate::native::{NativeModel, NativeOptions};
use crate::openai::{OpenAiClient, OpenAiConfig};

/// A model named in a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ModelRef {
    /// A folder or Hub id, loaded natively in f32.
    Path(String),
    /// A native model with options.
    Native(NativeRef),
    /// An OpenAI-compatible server.
    Server(ServerRef),
}

/// `{ path = …, dtype = … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeRef {
    /// Folder or Hub id.
    pub path: String,
    /// `f32` (default), `bf16` or `f16`.
    #[serde(default)]
    pub dtype: Option<String>,
}

/// `{ server = …, name = …, max_concurrency = … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRef {
    /// Base URL, e.g. `http://localhost:8000/v1`.
    pub server: String,
    /// Model name on the server.
    pub name: String,
    /// Requests in flight at once.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

type Shared = Arc<dyn VisionLanguageModel>;

fn registry() -> &'static Mutex<HashMap<String, Shared>> {
    static MODELS: OnceLock<Mutex<HashMap<String, Shared>>> = OnceLock::new();
    MODELS.get_or_init(|| Mutex::new(HashMap::new()))
}

impl ModelRef {
    /// A stable key for the registry and for error messages.
    pub fn key(&self) -> String {
        match self {
            ModelRef::Path(p) => format!("native:{p}:f32"),
            ModelRef::Native(n) => {
                format!("native:{}:{}", n.path, n.dtype.as_deref().unwrap_or("f32"))
            }
            ModelRef::Server(s) => format!("server:{}:{}", s.server, s.name),
        }
    }

    /// Checks what can be checked without loading (dtype names); for `weft plan`.
    pub fn validate(&self) -> Result<()> {
        if let ModelRef::Native(n) = self {
            parse_dtype(n.dtype.as_deref())?;
        }
        Ok(())
    }

    /// The model, loaded on first use and shared afterwards.
    pub fn open(&self) -> Result<Shared> {
        let key = self.key();
        let mut models = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = models.get(&key) {
            return Ok(m.clone());
        }
        let model: Shared = match self {
            ModelRef::Path(p) => native(p, None)?,
            ModelRef::Native(n) => native(&n.path, n.dtype.as_deref())?,
            ModelRef::Server(s) => {
                let mut cfg = OpenAiConfig::new(&s.server, &s.name);
                if let Some(c) = s.max_concurrency {
                    cfg.max_concurrency = c;
                }
                Arc::new(OpenAiClient::new(cfg)?)
            }
        };
        models.insert(key, model.clone());
        Ok(model)
    }
}

fn parse_dtype(name: Option<&str>) -> Result<DType> {
    match name.unwrap_or("f32") {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        other => Err(InferenceError::Request(format!(
            "dtype {other:?}: use f32, bf16 or f16"
        ))),
    }
}

fn native(spec: &str, dtype: Option<&str>) -> Result<Shared> {
    let dir = crate::hub::resolve_model(spec)?;
    let options = NativeOptions {
        dtype: parse_dtype(dtype)?,
        ..NativeOptions::default()
    };
    Ok(Arc::new(NativeModel::load(&dir, options)?))
}
