//! `config.json` of a Qwen3-VL model folder.
//!
//! Two layouts are in the wild: transformers 4.57 (and the released checkpoints) put
//! `rope_theta` and `rope_scaling = {mrope_section, mrope_interleaved}` inside `text_config`;
//! transformers 5.x writes `rope_parameters = {rope_theta, mrope_section, …}` instead. Both parse
//! to the same [`TextConfig`]. MoE variants are refused by name before any weight is read.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{InferenceError, Result};

/// The whole model configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Language model.
    pub text: TextConfig,
    /// Vision tower.
    pub vision: VisionConfig,
    /// `<|image_pad|>` id, when the config names it.
    pub image_token_id: Option<u32>,
    /// `<|video_pad|>` id, when the config names it.
    pub video_token_id: Option<u32>,
    /// `<|vision_start|>` id, when the config names it.
    pub vision_start_token_id: Option<u32>,
    /// `<|vision_end|>` id, when the config names it.
    pub vision_end_token_id: Option<u32>,
    /// Whether `lm_head` shares the token embedding matrix.
    pub tie_word_embeddings: bool,
}

/// The Qwen3 text decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    /// Residual width.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rows of the embedding matrix and of the logits.
    pub vocab_size: usize,
    /// Rotary base.
    pub rope_theta: f64,
    /// Rotary frequency slots given to the T, H and W axes (sums to `head_dim / 2`).
    pub mrope_section: [usize; 3],
    /// Interleaved (Qwen3-VL) rather than chunked (Qwen2-VL) MRoPE layout.
    pub mrope_interleaved: bool,
    /// Longest sequence the rotary tables are meant for.
    pub max_position_embeddings: usize,
    /// Biases on q/k/v/o projections.
    pub attention_bias: bool,
}

/// The vision tower.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    /// Transformer blocks.
    pub depth: usize,
    /// Width of the tower.
    pub hidden_size: usize,
    /// MLP inner width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Input channels (3).
    pub in_channels: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Frames per temporal patch.
    pub temporal_patch_size: usize,
    /// Patches merged per side into one LLM token.
    pub spatial_merge_size: usize,
    /// Width of the merged tokens (= the text hidden size).
    pub out_hidden_size: usize,
    /// Entries of the learned position table (a square grid).
    pub num_position_embeddings: usize,
    /// Blocks whose outputs feed the DeepStack mergers, in order.
    pub deepstack_visual_indexes: Vec<usize>,
}

impl VisionConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Values per flattened patch: C·T·P·P.
    pub fn patch_values(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }

    /// Side of the square learned position grid.
    pub fn position_grid_side(&self) -> usize {
        (self.num_position_embeddings as f64).sqrt().round() as usize
    }
}

impl ModelConfig {
    /// Reads and validates `dir/config.json`.
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| InferenceError::io(&path, e))?;
        Self::parse(&text).map_err(|reason| match reason {
            ParseError::Unsupported(m) => {
                InferenceError::Unsupported(format!("{}: {m}", path.display()))
            }
            ParseError::Invalid(m) => InferenceError::config(&path, m),
        })
    }

    /// Parses the text of a `config.json`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| ParseError::Invalid(format!("not JSON: {e}")))?;
        let model_type = root.get("model_type").and_then(Value::as_str).unwrap_or("");
        let archs: Vec<&str> = root
            .get("architectures")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if model_type.contains("moe") || archs.iter().any(|a| a.contains("Moe")) {
            return Err(ParseError::Unsupported(format!(
                "model_type {model_type:?} ({}) is a mixture-of-experts Qwen3-VL: not yet supported; \
                 use a dense Qwen3-VL (2B/4B/8B/32B) or serve it with vLLM and `--server`",
                archs.join(", ")
            )));
        }
        if model_type != "qwen3_vl" {
            return Err(ParseError::Unsupported(format!(
                "model_type {model_type:?} is not supported: weft runs Qwen3-VL (\"qwen3_vl\")"
            )));
        }
        let text_cfg = root
            .get("text_config")
            .ok_or_else(|| ParseError::Invalid("missing text_config".into()))?;
        let vision_cfg = root
            .get("vision_config")
            .ok_or_else(|| ParseError::Invalid("missing vision_config".into()))?;
        let text = parse_text(text_cfg)?;
        let vision = parse_vision(vision_cfg)?;
        if vision.out_hidden_size != text.hidden_size {
            return Err(ParseError::Invalid(format!(
                "vision_config.out_hidden_size {} differs from text_config.hidden_size {}",
                vision.out_hidden_size, text.hidden_size
            )));
        }
        if vision.deepstack_visual_indexes.len() > text.num_hidden_layers {
            return Err(ParseError::Invalid(format!(
                "{} deepstack_visual_indexes but only {} text layers",
                vision.deepstack_visual_indexes.len(),
                text.num_hidden_layers
            )));
        }
        if let Some(&bad) = vision
            .deepstack_visual_indexes
            .iter()
            .find(|&&i| i >= vision.depth)
        {
            return Err(ParseError::Invalid(format!(
                "deepstack_visual_indexes names block {bad} of a {}-block vision tower",
                vision.depth
            )));
        }
        let id = |k: &str| root.get(k).and_then(Value::as_u64).map(|v| v as u32);
        // The decoder reads its own config's flag (transformers ties by the text config); the
        // top-level one is the fallback for configs that only carry it there.
        let tie = text_cfg
            .get("tie_word_embeddings")
            .or_else(|| root.get("tie_word_embeddings"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(ModelConfig {
            text,
            vision,
            image_token_id: id("image_token_id"),
            video_token_id: id("video_token_id"),
            vision_start_token_id: id("vision_start_token_id"),
            vision_end_token_id: id("vision_end_token_id"),
            tie_word_embeddings: tie,
        })
    }
}

/// Why a config did not parse.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// A model this crate does not run.
    Unsupported(String),
    /// A malformed or inconsistent config.
    Invalid(String),
}

#[derive(Deserialize)]
struct RawText {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    intermediate_size: usize,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    vocab_size: usize,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawRope>,
    rope_parameters: Option<RawRope>,
    #[serde(default = "default_max_pos")]
    max_position_embeddings: usize,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default = "default_silu")]
    hidden_act: String,
}

#[derive(Deserialize)]
struct RawRope {
    rope_theta: Option<f64>,
    mrope_section: Option<Vec<usize>>,
    mrope_interleaved: Option<bool>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    128_000
}
fn default_silu() -> String {
    "silu".into()
}

fn parse_text(v: &Value) -> Result<TextConfig, ParseError> {
    let raw: RawText = serde_json::from_value(v.clone())
        .map_err(|e| ParseError::Invalid(format!("text_config: {e}")))?;
    if raw.hidden_act != "silu" {
        return Err(ParseError::Unsupported(format!(
            "text_config.hidden_act {:?}: only \"silu\" is implemented",
            raw.hidden_act
        )));
    }
    let rope = raw.rope_parameters.as_ref().or(raw.rope_scaling.as_ref());
    if let Some(kind) = rope.and_then(|r| r.rope_type.as_ref().or(r.kind.as_ref()))
        && kind != "default"
        && kind != "mrope"
    {
        return Err(ParseError::Unsupported(format!(
            "text_config rope_type {kind:?}: only the default (M)RoPE is implemented"
        )));
    }
    let rope_theta = rope
        .and_then(|r| r.rope_theta)
        .or(raw.rope_theta)
        .unwrap_or(5_000_000.0);
    let head_dim = raw
        .head_dim
        .unwrap_or(raw.hidden_size / raw.num_attention_heads.max(1));
    let section = rope
        .and_then(|r| r.mrope_section.clone())
        .unwrap_or_else(|| vec![24, 20, 20]);
    let [t, h, w] = section[..] else {
        return Err(ParseError::Invalid(format!(
            "mrope_section {section:?} must have three entries (T, H, W)"
        )));
    };
    if t + h + w != head_dim / 2 {
        return Err(ParseError::Invalid(format!(
            "mrope_section {section:?} sums to {} but head_dim / 2 is {}",
            t + h + w,
            head_dim / 2
        )));
    }
    let kv = raw.num_key_value_heads.unwrap_or(raw.num_attention_heads);
    if kv == 0 || !raw.num_attention_heads.is_multiple_of(kv) {
        return Err(ParseError::Invalid(format!(
            "{} attention heads are not a multiple of {kv} key/value heads",
            raw.num_attention_heads
        )));
    }
    Ok(TextConfig {
        hidden_size: raw.hidden_size,
        num_hidden_layers: raw.num_hidden_layers,
        num_attention_heads: raw.num_attention_heads,
        num_key_value_heads: kv,
        head_dim,
        intermediate_size: raw.intermediate_size,
        rms_norm_eps: raw.rms_norm_eps,
        vocab_size: raw.vocab_size,
        rope_theta,
        mrope_section: [t, h, w],
        mrope_interleaved: rope.and_then(|r| r.mrope_interleaved).unwrap_or(true),
        max_position_embeddings: raw.max_position_embeddings,
        attention_bias: raw.attention_bias,
    })
}

#[derive(Deserialize)]
struct RawVision {
    depth: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_heads: usize,
    #[serde(default = "three")]
    in_channels: usize,
    #[serde(default = "sixteen")]
    patch_size: usize,
    #[serde(default = "two")]
    temporal_patch_size: usize,
    #[serde(default = "two")]
    spatial_merge_size: usize,
    out_hidden_size: usize,
    #[serde(default = "default_pos")]
    num_position_embeddings: usize,
    #[serde(default)]
    deepstack_visual_indexes: Vec<usize>,
    #[serde(default = "default_gelu")]
    hidden_act: String,
}

fn three() -> usize {
    3
}
fn sixteen() -> usize {
    16
}
fn two() -> usize {
    2
}
fn default_pos() -> usize {
    2304
}
fn default_gelu() -> String {
    "gelu_pytorch_tanh".into()
}

fn parse_vision(v: &Value) -> Result<VisionConfig, ParseError> {
    let raw: RawVision = serde_json::from_value(v.clone())
        .map_err(|e| ParseError::Invalid(format!("vision_config: {e}")))?;
    if raw.hidden_act != "gelu_pytorch_tanh" {
        return Err(ParseError::Unsupported(format!(
            "vision_config.hidden_act {:?}: only \"gelu_pytorch_tanh\" is implemented",
            raw.hidden_act
        )));
    }
    if raw.num_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_heads) {
        return Err(ParseError::Invalid(format!(
            "vision hidden_size {} is not a multiple of num_heads {}",
            raw.hidden_size, raw.num_heads
        )));
    }
    let side = (raw.num_position_embeddings as f64).sqrt().round() as usize;
    if side * side != raw.num_position_embeddings {
        return Err(ParseError::Invalid(format!(
            "num_position_embeddings {} is not a square grid",
            raw.num_position_embeddings
        )));
    }
    Ok(VisionConfig {
        depth: raw.depth,
        hidden_size: raw.hidden_size,
        intermediate_size: raw.intermediate_size,
        num_heads: raw.num_heads,
        in_channels: raw.in_channels,
        patch_size: raw.patch_size,
        temporal_patch_size: raw.temporal_patch_size,
        spatial_merge_size: raw.spatial_merge_size,
        out_hidden_size: raw.out_hidden_size,
        num_position_embeddings: raw.num_position_embeddings,
        deepstack_visual_indexes: raw.deepstack_visual_indexes,
    })
}
