//! Native Qwen3-VL inference for weft, and a client for OpenAI-compatible servers, behind one
//! trait ([`VisionLanguageModel`]) that the pipelines call.
//!
//! Why native: a data job that recaptions images or filters problems by pass rate should need no
//! Python and no server on a laptop, and must compute exactly what the reference
//! (transformers `Qwen3VLForConditionalGeneration`) computes — the parity fixtures under
//! `tests/fixtures/parity` pin that. On a cluster, [`OpenAiClient`] sends the same requests to
//! vLLM or SGLang.
//!
//! Flow: [`ChatTokenizer`] renders the chat template and expands the vision placeholders,
//! [`processor`] turns images and videos into patches, [`model::Qwen3Vl`] runs the vision tower
//! and the decoder, [`generate`] samples.

pub mod api;
pub mod config;
mod error;
pub mod generate;
pub mod hub;
pub mod logits;
pub mod model;
mod model_ref;
mod native;
mod openai;
pub mod processor;
pub mod random_checkpoint;
mod tokenizer;
mod weights;

/// The tensor library, re-exported so callers name devices and dtypes without a second dependency.
pub use candle_core as candle;

pub use api::{
    Completion, Content, FinishReason, ImageSource, Message, Request, Response, SamplingParams,
    VideoClip, VideoSource, VisionLanguageModel,
};
pub use error::{InferenceError, Result};
pub use model_ref::{ModelRef, NativeRef, ServerRef};
pub use native::{NativeModel, NativeOptions};
pub use openai::{OpenAiClient, OpenAiConfig};
pub use tokenizer::{ChatTokenizer, Prompt, SpecialTokens};
pub use weights::Weights;
