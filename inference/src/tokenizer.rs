//! Tokenizer and chat template of a model folder, and the expansion of vision placeholders.
//!
//! (Interface fixed here; implementation in progress.)

use std::path::Path;

use crate::api::Message;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::processor::{Patches, ProcessedVideo, ProcessorConfig};

/// Ids of the tokens the model and the decoder treat specially; from the config, else the
/// tokenizer — never constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<|image_pad|>`.
    pub image_pad: u32,
    /// `<|video_pad|>`.
    pub video_pad: u32,
    /// `<|vision_start|>`.
    pub vision_start: u32,
    /// `<|vision_end|>`.
    pub vision_end: u32,
    /// Tokens that end a completion: `generation_config.json`'s eos ids, else `<|im_end|>` and
    /// `<|endoftext|>` as the tokenizer numbers them.
    pub stop: Vec<u32>,
    /// Padding id for batched prefill.
    pub pad: u32,
}

/// A tokenized prompt with its processed media, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Token ids, every vision placeholder expanded to its pad count.
    pub input_ids: Vec<u32>,
    /// Images in order of appearance.
    pub images: Vec<Patches>,
    /// Videos in order of appearance.
    pub videos: Vec<ProcessedVideo>,
}

/// The tokenizer, chat template and special ids of one model folder.
pub struct ChatTokenizer {
    /// Special ids.
    pub special: SpecialTokens,
}

impl ChatTokenizer {
    /// Loads `tokenizer.json` and the chat template (`chat_template.json`,
    /// `chat_template.jinja` or `tokenizer_config.json`).
    pub fn from_model_dir(_dir: &Path, _config: &ModelConfig) -> Result<Self> {
        unimplemented!("tokenizer")
    }

    /// Renders the chat template (placeholders not yet expanded).
    pub fn render_chat(&self, _messages: &[Message], _add_generation_prompt: bool) -> Result<String> {
        unimplemented!("tokenizer")
    }

    /// Token ids of `text` (special tokens recognised, no BOS added).
    pub fn encode(&self, _text: &str) -> Result<Vec<u32>> {
        unimplemented!("tokenizer")
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, _ids: &[u32]) -> Result<String> {
        unimplemented!("tokenizer")
    }

    /// Chat template, media processing, placeholder expansion and tokenization in one step.
    pub fn build_prompt(&self, _messages: &[Message], _processor: &ProcessorConfig) -> Result<Prompt> {
        unimplemented!("tokenizer")
    }
}
