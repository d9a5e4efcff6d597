//! Random checkpoints in the exact Hugging Face layout of a [`ModelConfig`]: every tensor name
//! and shape the loader expects, bf16, optionally sharded with an index. Tests and the benchmark
//! use them to run real model sizes (the released 2B shapes) without downloading weights.
//!
//! Tensors are produced while the file is written, tiled from one small noise block, so a 4 GB
//! checkpoint never sits in memory.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use half::bf16;
use safetensors::tensor::{Dtype, View};

use crate::config::ModelConfig;
use crate::error::{InferenceError, Result};

/// The released Qwen3-VL-2B-Instruct `config.json` fields the model reads (qwen3-vl.md §2.12).
pub const QWEN3_VL_2B_CONFIG: &str = r#"{
  "architectures": ["Qwen3VLForConditionalGeneration"],
  "model_type": "qwen3_vl",
  "image_token_id": 151655,
  "video_token_id": 151656,
  "vision_start_token_id": 151652,
  "vision_end_token_id": 151653,
  "tie_word_embeddings": true,
  "text_config": {
    "model_type": "qwen3_vl_text",
    "hidden_size": 2048, "num_hidden_layers": 28, "num_attention_heads": 16,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 6144,
    "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "vocab_size": 151936,
    "rope_theta": 5000000, "hidden_act": "silu", "attention_bias": false,
    "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": true},
    "tie_word_embeddings": true, "bos_token_id": 151643, "eos_token_id": 151645
  },
  "vision_config": {
    "model_type": "qwen3_vl",
    "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
    "in_channels": 3, "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2,
    "out_hidden_size": 2048, "num_position_embeddings": 2304,
    "deepstack_visual_indexes": [5, 11, 17], "hidden_act": "gelu_pytorch_tanh"
  }
}"#;

/// Every tensor of a checkpoint for `config`, vision tower first, with its shape.
pub fn tensor_layout(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let mut t: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |name: String, shape: &[usize]| t.push((name, shape.to_vec()));
    let v = &config.vision;
    let (vh, vi) = (v.hidden_size, v.intermediate_size);
    let p = "model.visual";
    add(
        format!("{p}.patch_embed.proj.weight"),
        &[
            vh,
            v.in_channels,
            v.temporal_patch_size,
            v.patch_size,
            v.patch_size,
        ],
    );
    add(format!("{p}.patch_embed.proj.bias"), &[vh]);
    add(
        format!("{p}.pos_embed.weight"),
        &[v.num_position_embeddings, vh],
    );
    for i in 0..v.depth {
        let b = format!("{p}.blocks.{i}");
        for n in ["norm1", "norm2"] {
            add(format!("{b}.{n}.weight"), &[vh]);
            add(format!("{b}.{n}.bias"), &[vh]);
        }
        for (name, out, inp) in [
            ("attn.qkv", 3 * vh, vh),
            ("attn.proj", vh, vh),
            ("mlp.linear_fc1", vi, vh),
            ("mlp.linear_fc2", vh, vi),
        ] {
            add(format!("{b}.{name}.weight"), &[out, inp]);
            add(format!("{b}.{name}.bias"), &[out]);
        }
    }
    let unit = vh * v.spatial_merge_size * v.spatial_merge_size;
    let mergers = std::iter::once((format!("{p}.merger"), vh)).chain(
        (0..v.deepstack_visual_indexes.len())
            .map(|k| (format!("{p}.deepstack_merger_list.{k}"), unit)),
    );
    for (m, norm) in mergers {
        add(format!("{m}.norm.weight"), &[norm]);
        add(format!("{m}.norm.bias"), &[norm]);
        add(format!("{m}.linear_fc1.weight"), &[unit, unit]);
        add(format!("{m}.linear_fc1.bias"), &[unit]);
        add(format!("{m}.linear_fc2.weight"), &[v.out_hidden_size, unit]);
        add(format!("{m}.linear_fc2.bias"), &[v.out_hidden_size]);
    }
    let c = &config.text;
    let (h, hd) = (c.hidden_size, c.head_dim);
    let (q, kv) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
    let l = "model.language_model";
    add(format!("{l}.embed_tokens.weight"), &[c.vocab_size, h]);
    for i in 0..c.num_hidden_layers {
        let p = format!("{l}.layers.{i}");
        add(format!("{p}.input_layernorm.weight"), &[h]);
        add(format!("{p}.post_attention_layernorm.weight"), &[h]);
        for (name, out, inp) in [
            ("self_attn.q_proj", q, h),
            ("self_attn.k_proj", kv, h),
            ("self_attn.v_proj", kv, h),
            ("self_attn.o_proj", h, q),
        ] {
            add(format!("{p}.{name}.weight"), &[out, inp]);
            if c.attention_bias && name != "self_attn.o_proj" {
                add(format!("{p}.{name}.bias"), &[out]);
            }
        }
        if c.attention_bias {
            add(format!("{p}.self_attn.o_proj.bias"), &[h]);
        }
        add(format!("{p}.self_attn.q_norm.weight"), &[hd]);
        add(format!("{p}.self_attn.k_norm.weight"), &[hd]);
        add(
            format!("{p}.mlp.gate_proj.weight"),
            &[c.intermediate_size, h],
        );
        add(format!("{p}.mlp.up_proj.weight"), &[c.intermediate_size, h]);
        add(
            format!("{p}.mlp.down_proj.weight"),
            &[h, c.intermediate_size],
        );
    }
    add(format!("{l}.norm.weight"), &[h]);
    if !config.tie_word_embeddings {
        add("lm_head.weight".into(), &[c.vocab_size, h]);
    }
    t
}

/// A bf16 tensor whose bytes are made when the writer asks for them: norm weights 1, other
/// tensors tiled from a noise block.
struct Lazy<'a> {
    shape: Vec<usize>,
    ones: bool,
    noise: &'a [u8],
}

impl View for Lazy<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::BF16
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let len = self.data_len();
        if self.ones {
            return Cow::Owned(bf16::ONE.to_le_bytes().repeat(len / 2));
        }
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let take = (len - out.len()).min(self.noise.len());
            out.extend_from_slice(&self.noise[..take]);
        }
        Cow::Owned(out)
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * 2
    }
}

/// Writes `config_json` and a random bf16 checkpoint for it into `dir`, split into `shards`
/// files (with `model.safetensors.index.json` when more than one). Weights are uniform noise of
/// standard deviation ~0.02 from a fixed generator, so runs are reproducible.
pub fn write_random_checkpoint(dir: &Path, config_json: &str, shards: usize) -> Result<()> {
    let config = ModelConfig::parse(config_json)
        .map_err(|e| InferenceError::config(dir.join("config.json"), format!("{e:?}")))?;
    std::fs::create_dir_all(dir).map_err(|e| InferenceError::io(dir, e))?;
    let cfg_path = dir.join("config.json");
    std::fs::write(&cfg_path, config_json).map_err(|e| InferenceError::io(&cfg_path, e))?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    // An odd number of values, so tiles do not line up with rows.
    let noise: Vec<u8> = (0..(1usize << 19) - 7)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = ((state >> 40) as f32) / (1u64 << 24) as f32;
            bf16::from_f32((u - 0.5) * 0.07).to_le_bytes()
        })
        .collect();
    let tensors = tensor_layout(&config);
    let shards = shards.clamp(1, tensors.len());
    let per = tensors.len().div_ceil(shards);
    let mut weight_map = BTreeMap::new();
    for (i, part) in tensors.chunks(per).enumerate() {
        let file = if shards == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, shards)
        };
        let views = part.iter().map(|(name, shape)| {
            weight_map.insert(name.clone(), file.clone());
            let ones = shape.len() == 1 && name.contains("norm") && name.ends_with(".weight");
            (
                name.clone(),
                Lazy {
                    shape: shape.clone(),
                    ones,
                    noise: &noise,
                },
            )
        });
        let path = dir.join(&file);
        safetensors::serialize_to_file(views, None, &path)
            .map_err(|e| InferenceError::Weights(format!("{}: {e}", path.display())))?;
    }
    if shards > 1 {
        let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
        let path = dir.join("model.safetensors.index.json");
        std::fs::write(&path, index.to_string()).map_err(|e| InferenceError::io(&path, e))?;
    }
    Ok(())
}
