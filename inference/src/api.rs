//! The one interface pipelines call: [`VisionLanguageModel::generate`] over a batch of chat
//! [`Request`]s. Two implementations exist — the native candle model ([`crate::NativeModel`])
//! and a client for OpenAI-compatible servers ([`crate::OpenAiClient`]) — so a pipeline runs the
//! same on a laptop and against a vLLM / SGLang fleet.
//!
//! Each request gets its own `Result`: one undecodable image fails that request (the pipeline
//! quarantines the record with the message) and the rest of the batch goes on.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// An image in a message.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// A file to read and decode.
    Path(PathBuf),
    /// Encoded bytes (JPEG, PNG, WebP…), e.g. straight from a shard.
    Bytes(Arc<[u8]>),
    /// An already decoded RGB image.
    Decoded(Arc<image::RgbImage>),
}

/// Sampled video frames with their presentation times, in the order shown.
#[derive(Debug, Clone)]
pub struct VideoClip {
    /// The frames, all the same size.
    pub frames: Vec<Arc<image::RgbImage>>,
    /// Seconds from the start of the video, one per frame.
    pub timestamps: Vec<f64>,
}

/// A video in a message.
#[derive(Debug, Clone)]
pub enum VideoSource {
    /// A file, decoded and sampled with the processor's fps and frame bounds.
    Path(PathBuf),
    /// Frames the caller already sampled (the video pipeline does, from presentation times).
    Frames(VideoClip),
}

/// One part of a message.
#[derive(Debug, Clone)]
pub enum Content {
    /// Text.
    Text(String),
    /// An image, placed here in the prompt.
    Image(ImageSource),
    /// A video, placed here in the prompt.
    Video(VideoSource),
}

/// One chat turn.
#[derive(Debug, Clone)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Parts in order.
    pub content: Vec<Content>,
}

impl Message {
    /// A user turn of the given parts.
    pub fn user(content: Vec<Content>) -> Self {
        Message {
            role: "user".into(),
            content,
        }
    }

    /// A system turn of plain text.
    pub fn system(text: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: vec![Content::Text(text.into())],
        }
    }
}

/// How to decode. `temperature == 0` is greedy; the other knobs apply only when sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Most tokens to generate per completion.
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f64,
    /// Nucleus mass kept (1 keeps all).
    pub top_p: f64,
    /// Most candidates kept (0 keeps all).
    pub top_k: usize,
    /// CTRL-style penalty on tokens already in the prompt or completion (1 = off).
    pub repetition_penalty: f64,
    /// Completions per request; they share one prefill.
    pub n: usize,
    /// Seed: completion `i` of a request draws from its own stream `(seed, i)`, so results do not
    /// depend on batching or on how many other requests run.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            max_new_tokens: 512,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            n: 1,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding of at most `max_new_tokens`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        SamplingParams {
            max_new_tokens,
            ..Self::default()
        }
    }

    /// Checks the ranges; the message names the bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(crate::InferenceError::Request(m));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature {} must be >= 0", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p {} must be in (0, 1]", self.top_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad(format!(
                "repetition_penalty {} must be > 0",
                self.repetition_penalty
            ));
        }
        if self.n == 0 {
            return bad("n must be at least 1".into());
        }
        Ok(())
    }
}

/// A chat to complete.
#[derive(Debug, Clone)]
pub struct Request {
    /// The conversation so far; the model answers as the assistant.
    pub messages: Vec<Message>,
    /// Decoding settings.
    pub params: SamplingParams,
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop token was produced (it is not part of the text).
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Decoded text, special tokens removed.
    pub text: String,
    /// Generated ids (without the stop token); empty when a server does not return them.
    pub token_ids: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
}

/// The answers to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// `params.n` completions, in stream order.
    pub completions: Vec<Completion>,
    /// Tokens in the prompt, vision pads included.
    pub prompt_tokens: usize,
}

/// A Qwen3-VL-class model that answers chat requests with images and videos.
pub trait VisionLanguageModel: Send + Sync {
    /// A stable name of the model and its weights, for cache keys and `meta`
    /// (e.g. the folder name plus a hash of `config.json`, or the server's model name).
    fn model_id(&self) -> &str;

    /// Answers each request; the i-th result belongs to the i-th request.
    fn generate(&self, requests: &[Request]) -> Vec<Result<Response>>;
}
