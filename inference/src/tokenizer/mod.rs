//! Tokenizer and chat template of a model folder, and the expansion of vision placeholders:
//! everything between a list of chat messages and the `input_ids` the model reads.
//!
//! Why it is built this way: the prompt must be *exactly* what transformers'
//! `Qwen3VLProcessor` produces (`apply_chat_template`, then pad expansion, then the fast
//! tokenizer) — one token more or less shifts every MRoPE position after it. So the pieces are
//! the reference's own: the folder's `tokenizer.json` through the `tokenizers` crate, the
//! folder's Jinja template (`template.rs`), and the 4.57.6 expansion rule (`expand.rs`). No id is
//! a constant: the vision and stop ids come from `config.json` / `generation_config.json`, else
//! from the tokenizer's vocabulary. The fixtures under `tests/fixtures/tokenizer` (a tiny
//! Qwen-shaped tokenizer and transformers' outputs on it) pin the behaviour.

mod expand;
mod template;
#[cfg(test)]
mod tests;

use std::path::Path;

use tokenizers::Tokenizer;

use crate::api::{Content, Message, VideoSource};
use crate::config::{GenerationConfig, ModelConfig};
use crate::error::{InferenceError, Result};
use crate::processor::{self, Patches, ProcessedVideo, ProcessorConfig};

use expand::{VideoPads, VisionTokens};
use template::ChatTemplate;

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
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// The vision tokens as the tokenizer spells the ids in [`Self::special`].
    vision: VisionTokens,
}

/// Names the tokenizer gives the Qwen2/3 tokens looked up when the configs do not give ids.
const IMAGE_PAD: &str = "<|image_pad|>";
const VIDEO_PAD: &str = "<|video_pad|>";
const VISION_START: &str = "<|vision_start|>";
const VISION_END: &str = "<|vision_end|>";
const IM_END: &str = "<|im_end|>";
const END_OF_TEXT: &str = "<|endoftext|>";

impl ChatTokenizer {
    /// Loads `tokenizer.json` and the chat template (`chat_template.json`,
    /// `chat_template.jinja` or `tokenizer_config.json`).
    pub fn from_model_dir(dir: &Path, config: &ModelConfig) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(InferenceError::config(
                &path,
                "missing: native inference needs the model's fast tokenizer file (tokenizer.json)",
            ));
        }
        let tokenizer = Tokenizer::from_file(&path).map_err(|e| {
            InferenceError::config(&path, format!("not a usable tokenizers file: {e}"))
        })?;
        let template = ChatTemplate::from_model_dir(dir)?;

        let vocab = tokenizer.get_vocab_size(true);
        let config_path = dir.join("config.json");
        let id = |key: &str, configured: Option<u32>, name: &str| -> Result<u32> {
            match configured {
                Some(id) if tokenizer.id_to_token(id).is_some() => Ok(id),
                Some(id) => Err(InferenceError::config(
                    &config_path,
                    format!("{key} {id} is not in {} ({vocab} tokens)", path.display()),
                )),
                None => tokenizer.token_to_id(name).ok_or_else(|| {
                    InferenceError::config(
                        &path,
                        format!("no {name} token, and config.json gives no {key}"),
                    )
                }),
            }
        };
        let image_pad = id("image_token_id", config.image_token_id, IMAGE_PAD)?;
        let video_pad = id("video_token_id", config.video_token_id, VIDEO_PAD)?;
        let vision_start = id(
            "vision_start_token_id",
            config.vision_start_token_id,
            VISION_START,
        )?;
        let vision_end = id(
            "vision_end_token_id",
            config.vision_end_token_id,
            VISION_END,
        )?;

        let generation = GenerationConfig::from_model_dir(dir)?;
        let stop = if generation.eos_token_ids.is_empty() {
            [IM_END, END_OF_TEXT]
                .iter()
                .filter_map(|t| tokenizer.token_to_id(t))
                .collect()
        } else {
            generation.eos_token_ids.clone()
        };
        if stop.is_empty() {
            return Err(InferenceError::config(
                &path,
                format!(
                    "no stop token: generation_config.json gives no eos_token_id and the \
                     tokenizer has neither {IM_END} nor {END_OF_TEXT}"
                ),
            ));
        }
        let pad = match generation.pad_token_id {
            Some(p) => p,
            None => tokenizer.token_to_id(END_OF_TEXT).ok_or_else(|| {
                InferenceError::config(
                    &path,
                    format!(
                        "no padding token: generation_config.json gives no pad_token_id and \
                         the tokenizer has no {END_OF_TEXT}"
                    ),
                )
            })?,
        };

        let spell = |id: u32| tokenizer.id_to_token(id).expect("checked above");
        let vision = VisionTokens {
            image_pad: spell(image_pad),
            video_pad: spell(video_pad),
            vision_start: spell(vision_start),
            vision_end: spell(vision_end),
        };
        Ok(ChatTokenizer {
            special: SpecialTokens {
                image_pad,
                video_pad,
                vision_start,
                vision_end,
                stop,
                pad,
            },
            tokenizer,
            template,
            vision,
        })
    }

    /// Renders the chat template (placeholders not yet expanded).
    pub fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        if messages.is_empty() {
            return Err(InferenceError::Request("no messages to render".into()));
        }
        self.template.render(messages, add_generation_prompt)
    }

    /// Token ids of `text` (special tokens recognised, no BOS added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| InferenceError::Tokenizer(format!("encoding failed: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| InferenceError::Tokenizer(format!("decoding failed: {e}")))
    }

    /// Chat template (with the assistant generation prompt), media processing, placeholder
    /// expansion and tokenization in one step. Images and videos are processed in order of
    /// appearance; a template that does not emit one placeholder per media part is a
    /// [`InferenceError::Request`], detected before any media is decoded.
    pub fn build_prompt(
        &self,
        messages: &[Message],
        processor: &ProcessorConfig,
    ) -> Result<Prompt> {
        let text = self.render_chat(messages, true)?;
        let parts = || messages.iter().flat_map(|m| &m.content);
        let image_count = parts().filter(|c| matches!(c, Content::Image(_))).count();
        let video_count = parts().filter(|c| matches!(c, Content::Video(_))).count();
        expand::check_counts(&text, &self.vision, image_count, video_count)?;

        let mut images = Vec::with_capacity(image_count);
        let mut videos = Vec::with_capacity(video_count);
        for part in parts() {
            match part {
                Content::Text(_) => {}
                Content::Image(source) => {
                    let image = processor::load_image(source)?;
                    images.push(processor.process_image(&image)?);
                }
                Content::Video(VideoSource::Path(path)) => {
                    let clip = processor.load_video(path)?;
                    videos.push(processor.process_video(&clip)?);
                }
                Content::Video(VideoSource::Frames(clip)) => {
                    videos.push(processor.process_video(clip)?);
                }
            }
        }

        let merge = processor.vision.merge_size as usize;
        let merge2 = merge * merge;
        let image_pads: Vec<usize> = images.iter().map(|p| p.rows() / merge2).collect();
        let video_pads = videos
            .iter()
            .map(|v| {
                let [t, h, w] = v.patches.grid_thw;
                if v.patch_times.len() != t {
                    return Err(InferenceError::Media(format!(
                        "video has {t} temporal patches but {} timestamps",
                        v.patch_times.len()
                    )));
                }
                Ok(VideoPads {
                    patch_times: v.patch_times.clone(),
                    pads_per_patch: h * w / merge2,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let expanded = expand::expand(&text, &self.vision, &image_pads, &video_pads)?;
        let input_ids = self.encode(&expanded)?;
        self.check_pad_ids(
            &input_ids,
            image_pads.iter().sum(),
            video_pads
                .iter()
                .map(|v| v.patch_times.len() * v.pads_per_patch)
                .sum(),
        )?;
        Ok(Prompt {
            input_ids,
            images,
            videos,
        })
    }

    /// Guards against a tokenizer that splits the pad tokens (e.g. one where they are not added
    /// tokens): the model needs exactly one id per visual token.
    fn check_pad_ids(&self, ids: &[u32], image_pads: usize, video_pads: usize) -> Result<()> {
        let count = |id: u32| ids.iter().filter(|&&i| i == id).count();
        let (images, videos) = (count(self.special.image_pad), count(self.special.video_pad));
        if images != image_pads || videos != video_pads {
            return Err(InferenceError::Tokenizer(format!(
                "the expanded prompt encodes to {images} image pad ids ({}) and {videos} video \
                 pad ids ({}), expected {image_pads} and {video_pads}: the tokenizer does not \
                 treat {} / {} as single tokens",
                self.special.image_pad,
                self.special.video_pad,
                self.vision.image_pad,
                self.vision.video_pad
            )));
        }
        Ok(())
    }
}
