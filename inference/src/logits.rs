//! The parity contract behind `weft infer logits`: a request of already-expanded `input_ids`
//! plus image files in, the reference's observable tensors out (logits of every position, the
//! 3-axis position ids, the processed pixels and grids, optionally a greedy continuation), as one
//! safetensors file that a Python suite can compare with transformers directly.
//!
//! `REQ.json` is `{"input_ids": [...], "images": ["a.png", ...]}`, image paths relative to the
//! JSON file, images in order of appearance. The model folder needs `config.json` and weights;
//! processor configs and the tokenizer are used when present (special ids come from the config
//! first, so a bare `save_pretrained` folder works).

use std::path::{Path, PathBuf};

use candle_core::DType;
use safetensors::tensor::{Dtype, TensorView};
use serde::Deserialize;

use crate::api::{ImageSource, SamplingParams};
use crate::config::ModelConfig;
use crate::error::{InferenceError, Result};
use crate::generate::generate;
use crate::model::{ModelTokenIds, PrefillRow, Qwen3Vl};
use crate::native::NativeOptions;
use crate::processor::{Patches, ProcessorConfig, load_image};
use crate::tokenizer::{ChatTokenizer, Prompt};
use crate::weights::Weights;

/// A parsed `REQ.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitsRequest {
    /// Token ids, image pads expanded.
    pub input_ids: Vec<u32>,
    /// Image files, resolved against the JSON file's folder.
    pub images: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    input_ids: Vec<u32>,
    #[serde(default)]
    images: Vec<PathBuf>,
}

impl LogitsRequest {
    /// Reads `REQ.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| InferenceError::io(path, e))?;
        let raw: RawRequest = serde_json::from_str(&text)
            .map_err(|e| InferenceError::Request(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(LogitsRequest {
            input_ids: raw.input_ids,
            images: raw.images.iter().map(|p| base.join(p)).collect(),
        })
    }
}

/// Everything `weft infer logits` writes.
#[derive(Debug, Clone)]
pub struct LogitsOutput {
    /// Row-major `[seq, vocab]`.
    pub logits: Vec<f32>,
    /// Vocabulary size.
    pub vocab: usize,
    /// `[3][seq]`.
    pub position_ids: [Vec<i64>; 3],
    /// Row-major `[patches, C·T·P·P]` of all images.
    pub pixel_values: Vec<f32>,
    /// Values per patch.
    pub patch_values: usize,
    /// One `(t, h, w)` per image.
    pub image_grid_thw: Vec<[usize; 3]>,
    /// The greedy continuation, when asked for.
    pub greedy_tokens: Option<Vec<u32>>,
}

/// Special ids from `config.json`, else from the tokenizer.
pub fn model_token_ids(dir: &Path, config: &ModelConfig) -> Result<ModelTokenIds> {
    if let (Some(image_pad), Some(video_pad), Some(vision_start)) = (
        config.image_token_id,
        config.video_token_id,
        config.vision_start_token_id,
    ) {
        return Ok(ModelTokenIds {
            image_pad,
            video_pad,
            vision_start,
        });
    }
    let s = ChatTokenizer::from_model_dir(dir, config)?.special;
    Ok(ModelTokenIds {
        image_pad: s.image_pad,
        video_pad: s.video_pad,
        vision_start: s.vision_start,
    })
}

/// Runs the contract: all-position logits of the request, and `greedy` argmax tokens after it
/// (no stop tokens, exactly `greedy` of them).
pub fn run(
    dir: &Path,
    request: &LogitsRequest,
    greedy: Option<usize>,
    options: &NativeOptions,
) -> Result<LogitsOutput> {
    let config = ModelConfig::from_model_dir(dir)?;
    let ids = model_token_ids(dir, &config)?;
    let processor = ProcessorConfig::from_model_dir(dir)?;
    let images: Vec<Patches> = request
        .images
        .iter()
        .map(|p| {
            let img = load_image(&ImageSource::Path(p.clone()))?;
            processor
                .process_image(&img)
                .map_err(|e| InferenceError::Media(format!("{}: {e}", p.display())))
        })
        .collect::<Result<_>>()?;
    let vocab = config.text.vocab_size;
    let weights = Weights::from_model_dir(dir, options.dtype, &options.device)?;
    let model = Qwen3Vl::from_weights(config, &weights, ids)?;
    drop(weights);
    let row = PrefillRow {
        input_ids: &request.input_ids,
        images: &images,
        videos: &[],
    };
    let mut prefill = model.prefill(&[row], true, 0, 0)?;
    let positions = prefill.positions.remove(0);
    let logits = prefill
        .logits
        .squeeze(0)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let greedy_tokens = match greedy {
        None => None,
        Some(n) => {
            let prompt = Prompt {
                input_ids: request.input_ids.clone(),
                images: images.clone(),
                videos: Vec::new(),
            };
            let params = SamplingParams::greedy(n);
            let mut out = generate(&model, &[(&prompt, &params)], &[], 0)?;
            Some(out.remove(0).remove(0).tokens)
        }
    };
    let patch_values = model.config().vision.patch_values();
    Ok(LogitsOutput {
        logits,
        vocab,
        position_ids: positions.axes,
        pixel_values: images
            .iter()
            .flat_map(|p| p.values.iter().copied())
            .collect(),
        patch_values,
        image_grid_thw: images.iter().map(|p| p.grid_thw).collect(),
        greedy_tokens,
    })
}

impl LogitsOutput {
    /// The safetensors bytes: f32 `logits` [seq, vocab], i64 `position_ids` [3, seq], f32
    /// `pixel_values` [patches, C·T·P·P], i64 `image_grid_thw` [images, 3], i64
    /// `greedy_tokens` [N] when present.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let seq = self.position_ids[0].len();
        let f32_bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let i64_bytes = |v: &[i64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "logits".into(),
                Dtype::F32,
                vec![seq, self.vocab],
                f32_bytes(&self.logits),
            ),
            (
                "position_ids".into(),
                Dtype::I64,
                vec![3, seq],
                i64_bytes(&self.position_ids.concat()),
            ),
            (
                "pixel_values".into(),
                Dtype::F32,
                vec![
                    self.pixel_values.len() / self.patch_values.max(1),
                    self.patch_values,
                ],
                f32_bytes(&self.pixel_values),
            ),
            (
                "image_grid_thw".into(),
                Dtype::I64,
                vec![self.image_grid_thw.len(), 3],
                i64_bytes(
                    &self
                        .image_grid_thw
                        .iter()
                        .flat_map(|g| g.iter().map(|&d| d as i64))
                        .collect::<Vec<_>>(),
                ),
            ),
        ];
        if let Some(g) = &self.greedy_tokens {
            tensors.push((
                "greedy_tokens".into(),
                Dtype::I64,
                vec![g.len()],
                i64_bytes(&g.iter().map(|&t| i64::from(t)).collect::<Vec<_>>()),
            ));
        }
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                TensorView::new(*dtype, shape.clone(), data)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| InferenceError::Request(format!("{name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, None)
            .map_err(|e| InferenceError::Request(format!("safetensors: {e}")))
    }

    /// Writes [`LogitsOutput::to_safetensors`] to `path` atomically (temp file + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_safetensors()?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| InferenceError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| InferenceError::io(path, e))
    }
}
