//! Qwen3-VL forward passes: prefill of a batch of prompts with their images and videos, and
//! cached decode steps.
//!
//! Prefill: the vision tower runs once over every image and video of the batch; its merged
//! tokens replace the `<|image_pad|>` / `<|video_pad|>` embeddings in sequence order, the
//! DeepStack features are added after the first decoder layers at exactly those flat positions
//! (per row, so batches and padding cannot misalign them), and the 3-axis positions come from
//! [`rope::rope_index`] per row. Decode: one token per row at position
//! `cache length + delta(row)` on all three axes, no vision input.

pub mod layers;
mod matvec;
pub mod rope;
mod softmax;
pub mod text;
pub mod vision;

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::error::{InferenceError, Result};
use crate::processor::{Patches, ProcessedVideo};
use crate::weights::Weights;
use rope::{RopePositions, VisionIds, rope_index};
use text::{DeepStack, KvCache, TextModel};
use vision::{VisionFeatures, VisionTower};

/// One prompt of a prefill batch.
#[derive(Debug, Clone, Copy)]
pub struct PrefillRow<'a> {
    /// Token ids with every placeholder expanded.
    pub input_ids: &'a [u32],
    /// Its images, in order of appearance.
    pub images: &'a [Patches],
    /// Its videos, in order of appearance.
    pub videos: &'a [ProcessedVideo],
}

/// What a prefill leaves behind for decoding.
pub struct Prefill {
    /// `[rows, vocab]` logits of each row's last token, or `[rows, len, vocab]` of every
    /// position when all logits were asked for (rows left-padded to `len`).
    pub logits: Tensor,
    /// Per row: the 3-axis positions of its tokens (without padding) and its decode delta.
    pub positions: Vec<RopePositions>,
    /// Keys and values of the batch.
    pub cache: KvCache,
    /// Per row: the position of the next token is `cache.len() + deltas[row]`.
    pub deltas: Vec<i64>,
}

/// A loaded Qwen3-VL.
pub struct Qwen3Vl {
    config: ModelConfig,
    ids: VisionIds,
    vision: VisionTower,
    text: TextModel,
    device: Device,
}

/// The decoder's `<|…|>` ids that the model itself needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelTokenIds {
    /// `<|image_pad|>`.
    pub image_pad: u32,
    /// `<|video_pad|>`.
    pub video_pad: u32,
    /// `<|vision_start|>`.
    pub vision_start: u32,
}

impl Qwen3Vl {
    /// Loads config and weights of a model folder. `ids` come from the config or tokenizer.
    pub fn load(dir: &Path, ids: ModelTokenIds, dtype: DType, device: &Device) -> Result<Self> {
        let config = ModelConfig::from_model_dir(dir)?;
        let weights = Weights::from_model_dir(dir, dtype, device)?;
        Self::from_weights(config, &weights, ids)
    }

    /// Builds the model from parsed config and opened weights; every tensor's shape is checked.
    pub fn from_weights(config: ModelConfig, w: &Weights, ids: ModelTokenIds) -> Result<Self> {
        let vision = VisionTower::load(w, &config.vision)?;
        let text = TextModel::load(w, &config.text, config.tie_word_embeddings)?;
        Ok(Qwen3Vl {
            ids: VisionIds {
                image_pad: ids.image_pad,
                video_pad: ids.video_pad,
                vision_start: ids.vision_start,
            },
            device: w.device().clone(),
            config,
            vision,
            text,
        })
    }

    /// The parsed configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the vision tower over images and videos in the given order.
    pub fn encode_vision(&self, media: &[&Patches]) -> Result<Option<VisionFeatures>> {
        if media.is_empty() {
            return Ok(None);
        }
        let rows: usize = media.iter().map(|p| p.rows()).sum();
        let cols = self.config.vision.patch_values();
        let mut values = Vec::with_capacity(rows * cols);
        let mut grids = Vec::with_capacity(media.len());
        for p in media {
            if p.values.len() != p.rows() * cols {
                return Err(InferenceError::Request(format!(
                    "patches of grid {:?} hold {} values, expected {}",
                    p.grid_thw,
                    p.values.len(),
                    p.rows() * cols
                )));
            }
            values.extend_from_slice(&p.values);
            grids.push(p.grid_thw);
        }
        let pixels = Tensor::from_vec(values, (rows, cols), &self.device)?;
        Ok(Some(self.vision.forward(&pixels, &grids)?))
    }

    /// 3-axis positions of one prompt (`get_rope_index`).
    pub fn positions(&self, row: &PrefillRow<'_>) -> Result<RopePositions> {
        self.positions_in_order(row, &media_order(row, self.ids)?)
    }

    /// Positions of `row` whose media, in prompt order, are `order`.
    fn positions_in_order(
        &self,
        row: &PrefillRow<'_>,
        order: &[Media<'_>],
    ) -> Result<RopePositions> {
        let mut grids = Vec::new();
        for m in order {
            match m {
                Media::Image(p) => grids.push(p.grid_thw),
                Media::Video(v) => {
                    let [t, h, w] = v.patches.grid_thw;
                    grids.extend(std::iter::repeat_n([1, h, w], t));
                }
            }
        }
        rope_index(
            row.input_ids,
            &grids,
            self.config.vision.spatial_merge_size,
            self.ids,
        )
    }

    /// Prefills a batch (left-padded to the longest row). `capacity` extra positions are
    /// reserved in the cache for decoding.
    pub fn prefill(
        &self,
        rows: &[PrefillRow<'_>],
        all_logits: bool,
        capacity: usize,
        pad_id: u32,
    ) -> Result<Prefill> {
        if rows.is_empty() {
            return Err(InferenceError::Request("empty batch".into()));
        }
        let max_ctx = self.config.text.max_position_embeddings;
        let len = rows.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
        if len == 0 {
            return Err(InferenceError::Request("empty prompt".into()));
        }
        if len > max_ctx {
            return Err(InferenceError::Request(format!(
                "prompt of {len} tokens is longer than the model's context of {max_ctx}"
            )));
        }
        let vocab = self.config.text.vocab_size as u32;
        if let Some(bad) = rows.iter().flat_map(|r| r.input_ids).find(|&&t| t >= vocab) {
            return Err(InferenceError::Request(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let n = rows.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut left_pad = Vec::with_capacity(n);
        let mut positions = Vec::with_capacity(n);
        let mut axes: [Vec<i64>; 3] = Default::default();
        let mut media: Vec<&Patches> = Vec::new();
        let mut visual_flat: Vec<u32> = Vec::new();
        for (b, row) in rows.iter().enumerate() {
            let pad = len - row.input_ids.len();
            left_pad.push(pad);
            ids.extend(std::iter::repeat_n(pad_id, pad));
            ids.extend_from_slice(row.input_ids);
            let order = media_order(row, self.ids)?;
            let pos = self.positions_in_order(row, &order)?;
            for (a, p) in axes.iter_mut().zip(&pos.axes) {
                a.extend(std::iter::repeat_n(1, pad));
                a.extend_from_slice(p);
            }
            positions.push(pos);
            for m in order {
                media.push(match m {
                    Media::Image(p) => p,
                    Media::Video(v) => &v.patches,
                });
            }
            for (j, &t) in row.input_ids.iter().enumerate() {
                if t == self.ids.image_pad || t == self.ids.video_pad {
                    visual_flat.push((b * len + pad + j) as u32);
                }
            }
        }
        let expected: usize = media
            .iter()
            .map(|p| self.vision.tokens_for(p.grid_thw))
            .sum();
        if expected != visual_flat.len() {
            return Err(InferenceError::Request(format!(
                "{} image/video pad tokens but the images and videos give {expected} features",
                visual_flat.len()
            )));
        }
        let features = self.encode_vision(&media)?;
        let mut hidden = self.text.embed(&ids, n)?;
        let visual_idx = Tensor::from_vec(visual_flat.clone(), visual_flat.len(), &self.device)?;
        if let Some(f) = &features {
            hidden = scatter_rows(&hidden, &visual_flat, &f.merged)?;
        }
        let mut cache = self.text.new_cache(left_pad, len + capacity)?;
        let deepstack = features.as_ref().map(|f| DeepStack {
            positions: &visual_idx,
            features: &f.deepstack,
        });
        let out = self.text.forward(hidden, &axes, &mut cache, deepstack)?;
        let logits = if all_logits {
            self.text.logits(&out)?
        } else {
            self.text.logits(&out.narrow(1, len - 1, 1)?.squeeze(1)?)?
        };
        // Relative to the padded length, as the reference's `rope_deltas`.
        let deltas = positions
            .iter()
            .map(|p| p.axes.iter().flatten().copied().max().unwrap_or(-1) + 1 - len as i64)
            .collect();
        Ok(Prefill {
            logits,
            positions,
            cache,
            deltas,
        })
    }

    /// One decode step: `tokens[row]` is appended to each row; returns `[rows, vocab]` logits.
    pub fn decode(&self, tokens: &[u32], cache: &mut KvCache, deltas: &[i64]) -> Result<Tensor> {
        let rows = tokens.len();
        if rows != cache.rows() || rows != deltas.len() {
            return Err(InferenceError::Request(format!(
                "{rows} tokens for a cache of {} rows",
                cache.rows()
            )));
        }
        let step = cache.len() as i64;
        let pos: Vec<i64> = deltas.iter().map(|d| step + d).collect();
        let axes = [pos.clone(), pos.clone(), pos];
        let hidden = self.text.embed(tokens, rows)?;
        let out = self.text.forward(hidden, &axes, cache, None)?;
        self.text.logits(&out.squeeze(1)?)
    }
}

enum Media<'a> {
    Image(&'a Patches),
    Video(&'a ProcessedVideo),
}

/// The row's images and videos in the order their blocks appear in the prompt.
fn media_order<'a>(row: &PrefillRow<'a>, ids: VisionIds) -> Result<Vec<Media<'a>>> {
    let (mut images, mut videos) = (row.images.iter(), row.videos.iter());
    let mut out = Vec::new();
    let mut video_patches_left = 0usize;
    for w in row.input_ids.windows(2) {
        if w[0] != ids.vision_start {
            continue;
        }
        if w[1] == ids.image_pad {
            let p = images.next().ok_or_else(|| {
                InferenceError::Request(format!(
                    "the prompt has more image blocks than its {} images",
                    row.images.len()
                ))
            })?;
            out.push(Media::Image(p));
        } else if w[1] == ids.video_pad {
            // Each temporal patch of a video is its own block; a new video starts when the
            // previous one's patches are used up.
            if video_patches_left == 0 {
                let v = videos.next().ok_or_else(|| {
                    InferenceError::Request(format!(
                        "the prompt has more video blocks than its {} videos",
                        row.videos.len()
                    ))
                })?;
                video_patches_left = v.patches.grid_thw[0];
                out.push(Media::Video(v));
            }
            video_patches_left -= 1;
        }
    }
    if images.next().is_some() || videos.next().is_some() || video_patches_left != 0 {
        return Err(InferenceError::Request(format!(
            "{} images and {} videos but the prompt places fewer (or a video's temporal patches \
             are incomplete)",
            row.images.len(),
            row.videos.len()
        )));
    }
    Ok(out)
}

/// `hidden` `[rows, len, h]` with the flat positions `at` replaced by the rows of `src`.
fn scatter_rows(hidden: &Tensor, at: &[u32], src: &Tensor) -> Result<Tensor> {
    let (rows, len, h) = hidden.dims3()?;
    let flat = hidden.reshape((rows * len, h))?;
    let total = rows * len;
    let mut gather: Vec<u32> = (0..total as u32).collect();
    for (k, &p) in at.iter().enumerate() {
        gather[p as usize] = (total + k) as u32;
    }
    let both = Tensor::cat(&[&flat, &src.to_dtype(flat.dtype())?], 0)?;
    let idx = Tensor::from_vec(gather, total, hidden.device())?;
    Ok(both.index_select(&idx, 0)?.reshape((rows, len, h))?)
}
