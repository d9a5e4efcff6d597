//! `generation_config.json`: the stop tokens and default sampling settings a model ships with.

use std::path::Path;

use serde_json::Value;

use crate::error::{InferenceError, Result};

/// What the model folder says about decoding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GenerationConfig {
    /// Token ids that end a completion (`eos_token_id`, a number or a list).
    pub eos_token_ids: Vec<u32>,
    /// Padding id for batched prompts.
    pub pad_token_id: Option<u32>,
    /// Default temperature, when given.
    pub temperature: Option<f64>,
    /// Default nucleus mass, when given.
    pub top_p: Option<f64>,
    /// Default top-k, when given.
    pub top_k: Option<usize>,
    /// Default repetition penalty, when given.
    pub repetition_penalty: Option<f64>,
}

impl GenerationConfig {
    /// Reads `dir/generation_config.json`; a folder without one gives the empty config
    /// (the tokenizer's end-of-turn token then stops decoding).
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| InferenceError::io(&path, e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| InferenceError::config(&path, format!("not JSON: {e}")))?;
        let ids = |k: &str| -> Vec<u32> {
            match v.get(k) {
                Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|x| x as u32)
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(GenerationConfig {
            eos_token_ids: ids("eos_token_id"),
            pad_token_id: ids("pad_token_id").first().copied(),
            temperature: v.get("temperature").and_then(Value::as_f64),
            top_p: v.get("top_p").and_then(Value::as_f64),
            top_k: v.get("top_k").and_then(Value::as_u64).map(|k| k as usize),
            repetition_penalty: v.get("repetition_penalty").and_then(Value::as_f64),
        })
    }
}
