//! The model folder's chat template, run on messages shaped exactly as transformers'
//! `ProcessorMixin.apply_chat_template` passes them, so the text is byte-identical to the
//! reference (`tokenize=False`).
//!
//! What the template sees: `messages` (each `content` a list of `{"type": "text", "text": …}`,
//! `{"type": "image"}` and `{"type": "video"}` dicts), `add_generation_prompt`, and the
//! tokenizer's special-tokens map (`bos_token`, `eos_token`, …, `additional_special_tokens`),
//! which transformers adds to every render. The Jinja settings (trim/lstrip blocks, Python string
//! methods, `raise_exception`) come from `weft_shards::render::chat_template_env`, so shard
//! rendering and model prompts share one definition.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Value;
use serde_json::Value as Json;

use crate::api::{Content, Message};
use crate::error::{InferenceError, Result};

/// A loaded chat template and the variables transformers passes along with the messages.
#[derive(Debug, Clone)]
pub(super) struct ChatTemplate {
    source: String,
    globals: BTreeMap<String, Value>,
}

/// Keys of the tokenizer's special-tokens map that hold one token.
const SPECIAL_KEYS: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

impl ChatTemplate {
    /// The template of `dir` (`chat_template.json`, `chat_template.jinja`, then
    /// `tokenizer_config.json`) and the special-tokens map of its `tokenizer_config.json`.
    pub(super) fn from_model_dir(dir: &Path) -> Result<Self> {
        let source = weft_shards::render::load_template(dir).map_err(shards_error)?;
        let globals = special_tokens_map(&dir.join("tokenizer_config.json"))?;
        Ok(ChatTemplate { source, globals })
    }

    /// Renders `messages`; the vision placeholders stay single tokens.
    pub(super) fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let env = weft_shards::render::chat_template_env().map_err(shards_error)?;
        let template = env
            .template_from_str(&self.source)
            .map_err(template_error)?;
        let mut ctx = self.globals.clone();
        ctx.insert("messages".into(), messages_value(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        template.render(Value::from(ctx)).map_err(template_error)
    }
}

/// `messages` as the processor hands them to Jinja.
fn messages_value(messages: &[Message]) -> Value {
    let part = |c: &Content| {
        let mut m = BTreeMap::new();
        let kind = match c {
            Content::Text(text) => {
                m.insert("text", Value::from(text.as_str()));
                "text"
            }
            Content::Image(_) => "image",
            Content::Video(_) => "video",
        };
        m.insert("type", Value::from(kind));
        Value::from(m)
    };
    messages
        .iter()
        .map(|msg| {
            let mut m = BTreeMap::new();
            m.insert("role", Value::from(msg.role.as_str()));
            m.insert("content", msg.content.iter().map(part).collect::<Value>());
            Value::from(m)
        })
        .collect()
}

/// `bos_token`, `eos_token`, … (those set) and `additional_special_tokens` of a
/// `tokenizer_config.json`; empty when the folder has none.
fn special_tokens_map(path: &Path) -> Result<BTreeMap<String, Value>> {
    let mut map = BTreeMap::new();
    if !path.is_file() {
        return Ok(map);
    }
    let text = std::fs::read_to_string(path).map_err(|e| InferenceError::io(path, e))?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| InferenceError::config(path, format!("not JSON: {e}")))?;
    // A token is written either as its text or as an AddedToken object with `content`.
    let token = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content").and_then(Json::as_str).map(str::to_string),
        _ => None,
    };
    for key in SPECIAL_KEYS {
        if let Some(t) = json.get(key).and_then(token) {
            map.insert(key.to_string(), Value::from(t));
        }
    }
    if let Some(list) = json
        .get("additional_special_tokens")
        .and_then(Json::as_array)
    {
        let tokens: Vec<Value> = list.iter().filter_map(token).map(Value::from).collect();
        map.insert("additional_special_tokens".into(), Value::from(tokens));
    }
    Ok(map)
}

fn template_error(e: minijinja::Error) -> InferenceError {
    InferenceError::Tokenizer(format!("chat template: {e:#}"))
}

fn shards_error(e: weft_shards::Error) -> InferenceError {
    match e {
        weft_shards::Error::Io { path, source } => InferenceError::Io { path, source },
        weft_shards::Error::Corrupt { path, reason } => InferenceError::Config { path, reason },
        other => InferenceError::Tokenizer(other.to_string()),
    }
}
