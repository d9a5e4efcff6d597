//! [`NativeModel`]: a model folder loaded into candle, answering [`Request`]s through the
//! [`VisionLanguageModel`] trait.
//!
//! Every request is prepared on its own first (media decoded, template rendered, placeholders
//! expanded, positions and context length checked), so a bad image or an over-long prompt fails
//! only that request; the prepared ones are then prefilled together in batches bounded by a
//! token budget and decoded together.

use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device};
use sha2::{Digest, Sha256};

use crate::api::{Completion, Request, Response, VisionLanguageModel};
use crate::config::ModelConfig;
use crate::error::{InferenceError, Result};
use crate::generate::generate;
use crate::model::{ModelTokenIds, PrefillRow, Qwen3Vl};
use crate::processor::ProcessorConfig;
use crate::tokenizer::{ChatTokenizer, Prompt};
use crate::weights::Weights;

/// How to load a native model.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// Compute dtype; weights are converted on load. f32 is exact and fastest on most CPUs
    /// through candle; bf16/f16 halve memory.
    pub dtype: DType,
    /// Where to run.
    pub device: Device,
    /// Most prompt tokens prefilled together (padding included).
    pub max_batch_tokens: usize,
}

impl Default for NativeOptions {
    fn default() -> Self {
        NativeOptions {
            dtype: DType::F32,
            device: Device::Cpu,
            max_batch_tokens: 8192,
        }
    }
}

/// A Qwen3-VL model folder loaded for native inference.
pub struct NativeModel {
    id: String,
    model: Qwen3Vl,
    tokenizer: ChatTokenizer,
    processor: ProcessorConfig,
    options: NativeOptions,
}

impl NativeModel {
    /// Loads a Hugging Face model folder: configs, tokenizer and chat template first (cheap
    /// errors first), then the weights, each tensor checked against the config's shapes.
    pub fn load(dir: &Path, options: NativeOptions) -> Result<Self> {
        let config = ModelConfig::from_model_dir(dir)?;
        let tokenizer = ChatTokenizer::from_model_dir(dir, &config)?;
        let processor = ProcessorConfig::from_model_dir(dir)?;
        let weights = Weights::from_model_dir(dir, options.dtype, &options.device)?;
        let id = model_id(dir, &weights)?;
        let special = &tokenizer.special;
        let ids = ModelTokenIds {
            image_pad: special.image_pad,
            video_pad: special.video_pad,
            vision_start: special.vision_start,
        };
        let model = Qwen3Vl::from_weights(config, &weights, ids)?;
        drop(weights);
        Ok(NativeModel {
            id,
            model,
            tokenizer,
            processor,
            options,
        })
    }

    /// The forward passes.
    pub fn model(&self) -> &Qwen3Vl {
        &self.model
    }

    /// Tokenizer, template and special ids.
    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }

    /// Image and video processing settings.
    pub fn processor(&self) -> &ProcessorConfig {
        &self.processor
    }

    /// Renders, processes and checks one request.
    pub fn prepare(&self, request: &Request) -> Result<Prompt> {
        request.params.validate()?;
        let prompt = self
            .tokenizer
            .build_prompt(&request.messages, &self.processor)?;
        let ctx = self.model.config().text.max_position_embeddings;
        let need = prompt.input_ids.len() + request.params.max_new_tokens;
        if need > ctx {
            return Err(InferenceError::Request(format!(
                "{} prompt tokens + {} new tokens exceed the model's context of {ctx}",
                prompt.input_ids.len(),
                request.params.max_new_tokens
            )));
        }
        // Positions check the vision blocks against the media before any compute.
        self.model.positions(&PrefillRow {
            input_ids: &prompt.input_ids,
            images: &prompt.images,
            videos: &prompt.videos,
        })?;
        Ok(prompt)
    }

    fn run_batch(&self, batch: &[(usize, &Prompt, &Request)]) -> Result<Vec<Response>> {
        let prompts: Vec<_> = batch.iter().map(|(_, p, r)| (*p, &r.params)).collect();
        let special = &self.tokenizer.special;
        let generated = generate(&self.model, &prompts, &special.stop, special.pad)?;
        batch
            .iter()
            .zip(generated)
            .map(|((_, prompt, _), completions)| {
                Ok(Response {
                    prompt_tokens: prompt.input_ids.len(),
                    completions: completions
                        .into_iter()
                        .map(|g| {
                            Ok(Completion {
                                text: self.tokenizer.decode(&g.tokens)?,
                                token_ids: g.tokens,
                                finish_reason: g.finish_reason,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                })
            })
            .collect()
    }
}

impl VisionLanguageModel for NativeModel {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn generate(&self, requests: &[Request]) -> Vec<Result<Response>> {
        let mut results: Vec<Option<Result<Response>>> = requests.iter().map(|_| None).collect();
        let prepared: Vec<(usize, Prompt)> = requests
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match self.prepare(r) {
                Ok(p) => Some((i, p)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    None
                }
            })
            .collect();
        // Similar lengths together keeps padding small; a batch holds at most
        // `max_batch_tokens` padded prompt tokens.
        let mut order: Vec<usize> = (0..prepared.len()).collect();
        order.sort_by_key(|&k| prepared[k].1.input_ids.len());
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        for k in order {
            let len = prepared[k].1.input_ids.len();
            if !current.is_empty() && (current.len() + 1) * len > self.options.max_batch_tokens {
                batches.push(std::mem::take(&mut current));
            }
            current.push(k);
        }
        batches.extend((!current.is_empty()).then_some(current));
        for batch in batches {
            let batch: Vec<(usize, &Prompt, &Request)> = batch
                .iter()
                .map(|&k| (prepared[k].0, &prepared[k].1, &requests[prepared[k].0]))
                .collect();
            match self.run_batch(&batch) {
                Ok(responses) => {
                    for ((i, _, _), r) in batch.iter().zip(responses) {
                        results[*i] = Some(Ok(r));
                    }
                }
                Err(e) => {
                    // A failure of the batch itself (not of one request's input): every
                    // request in it reports it.
                    let msg = e.to_string();
                    for (i, _, _) in &batch {
                        results[*i] = Some(Err(InferenceError::Request(msg.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every request answered"))
            .collect()
    }
}

/// `{folder name}@{12 hex}` where the hash covers the config files and, per weight file, its
/// size, header and first and last MiB — so a fine-tune with the same shapes gets another id
/// without hashing gigabytes at every start.
fn model_id(dir: &Path, weights: &Weights) -> Result<String> {
    let mut h = Sha256::new();
    for name in [
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
    ] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            h.update(name.as_bytes());
            h.update(&bytes);
        }
    }
    for path in weights.files() {
        let mut f = std::fs::File::open(path).map_err(|e| InferenceError::io(path, e))?;
        let len = f.metadata().map_err(|e| InferenceError::io(path, e))?.len();
        h.update(len.to_le_bytes());
        let mut head = vec![0u8; len.min(1 << 20) as usize];
        f.read_exact(&mut head)
            .map_err(|e| InferenceError::io(path, e))?;
        h.update(&head);
        if len > 2 << 20 {
            use std::io::{Seek, SeekFrom};
            f.seek(SeekFrom::Start(len - (1 << 20)))
                .map_err(|e| InferenceError::io(path, e))?;
            f.read_exact(&mut head)
                .map_err(|e| InferenceError::io(path, e))?;
            h.update(&head);
        }
    }
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    Ok(format!("{name}@{}", &hex::encode(h.finalize())[..12]))
}
