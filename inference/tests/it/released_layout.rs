//! Random weights in the real Qwen3-VL-2B-Instruct layout — every tensor name and shape of the
//! released checkpoint, bf16, split over two shards with an index — load and run one prefill and
//! one decode step. This is what `weft infer --model Qwen/Qwen3-VL-2B-Instruct` will meet; the
//! tiny parity models cannot catch a wrong name or shape at full size.
//!
//! The weights (4.3 GB) are written to a temporary folder and deleted afterwards; compute runs in
//! f16 to keep memory at the checkpoint's size.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use half::bf16;
use safetensors::tensor::{Dtype, View};
use weft_inference::candle::{DType, Device};
use weft_inference::generate::argmax;
use weft_inference::model::{ModelTokenIds, PrefillRow, Qwen3Vl};
use weft_inference::processor::Patches;

/// The released `config.json` values (see `docs/…/qwen3-vl.md` §2.12).
const CONFIG: &str = r#"{
  "architectures": ["Qwen3VLForConditionalGeneration"],
  "model_type": "qwen3_vl",
  "image_token_id": 151655,
  "video_token_id": 151656,
  "vision_start_token_id": 151652,
  "vision_end_token_id": 151653,
  "tie_word_embeddings": true,
  "text_config": {
    "hidden_size": 2048, "num_hidden_layers": 28, "num_attention_heads": 16,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 6144,
    "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "vocab_size": 151936,
    "rope_theta": 5000000, "hidden_act": "silu", "attention_bias": false,
    "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": true},
    "tie_word_embeddings": true, "dtype": "bfloat16"
  },
  "vision_config": {
    "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
    "in_channels": 3, "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2,
    "out_hidden_size": 2048, "num_position_embeddings": 2304,
    "deepstack_visual_indexes": [5, 11, 17], "hidden_act": "gelu_pytorch_tanh"
  }
}"#;

/// Every tensor of the 2B checkpoint with its shape, vision tower first.
fn released_tensors() -> Vec<(String, Vec<usize>)> {
    let mut t: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |name: String, shape: &[usize]| t.push((name, shape.to_vec()));
    let (vh, vi, out) = (1024, 4096, 2048);
    let v = "model.visual";
    add(format!("{v}.patch_embed.proj.weight"), &[vh, 3, 2, 16, 16]);
    add(format!("{v}.patch_embed.proj.bias"), &[vh]);
    add(format!("{v}.pos_embed.weight"), &[2304, vh]);
    for i in 0..24 {
        let b = format!("{v}.blocks.{i}");
        for n in ["norm1", "norm2"] {
            add(format!("{b}.{n}.weight"), &[vh]);
            add(format!("{b}.{n}.bias"), &[vh]);
        }
        add(format!("{b}.attn.qkv.weight"), &[3 * vh, vh]);
        add(format!("{b}.attn.qkv.bias"), &[3 * vh]);
        add(format!("{b}.attn.proj.weight"), &[vh, vh]);
        add(format!("{b}.attn.proj.bias"), &[vh]);
        add(format!("{b}.mlp.linear_fc1.weight"), &[vi, vh]);
        add(format!("{b}.mlp.linear_fc1.bias"), &[vi]);
        add(format!("{b}.mlp.linear_fc2.weight"), &[vh, vi]);
        add(format!("{b}.mlp.linear_fc2.bias"), &[vh]);
    }
    let unit = 4 * vh;
    let mergers = std::iter::once((format!("{v}.merger"), vh))
        .chain((0..3).map(|k| (format!("{v}.deepstack_merger_list.{k}"), unit)));
    for (m, norm) in mergers {
        add(format!("{m}.norm.weight"), &[norm]);
        add(format!("{m}.norm.bias"), &[norm]);
        add(format!("{m}.linear_fc1.weight"), &[unit, unit]);
        add(format!("{m}.linear_fc1.bias"), &[unit]);
        add(format!("{m}.linear_fc2.weight"), &[out, unit]);
        add(format!("{m}.linear_fc2.bias"), &[out]);
    }
    let (h, inter, hd) = (2048, 6144, 128);
    let l = "model.language_model";
    add(format!("{l}.embed_tokens.weight"), &[151_936, h]);
    for i in 0..28 {
        let p = format!("{l}.layers.{i}");
        add(format!("{p}.input_layernorm.weight"), &[h]);
        add(format!("{p}.post_attention_layernorm.weight"), &[h]);
        add(format!("{p}.self_attn.q_proj.weight"), &[16 * hd, h]);
        add(format!("{p}.self_attn.k_proj.weight"), &[8 * hd, h]);
        add(format!("{p}.self_attn.v_proj.weight"), &[8 * hd, h]);
        add(format!("{p}.self_attn.o_proj.weight"), &[h, 16 * hd]);
        add(format!("{p}.self_attn.q_norm.weight"), &[hd]);
        add(format!("{p}.self_attn.k_norm.weight"), &[hd]);
        add(format!("{p}.mlp.gate_proj.weight"), &[inter, h]);
        add(format!("{p}.mlp.up_proj.weight"), &[inter, h]);
        add(format!("{p}.mlp.down_proj.weight"), &[h, inter]);
    }
    add(format!("{l}.norm.weight"), &[h]);
    t
}

/// A bf16 tensor whose bytes are produced when the writer asks for them, tiled from one random
/// block (norm weights are 1, everything else small noise), so 4 GB never sit in memory at once.
struct Lazy<'a> {
    shape: Vec<usize>,
    norm: bool,
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
        if self.norm {
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

fn write_checkpoint(dir: &Path) {
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    // ~N(0, 0.02) noise from a fixed LCG, 1 MiB, an odd number of values so tiles don't align
    // with rows.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..(1 << 19) - 7)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let u = ((state >> 40) as f32) / (1u64 << 24) as f32;
            bf16::from_f32((u - 0.5) * 0.07).to_le_bytes()
        })
        .collect();
    let tensors = released_tensors();
    let split = tensors
        .iter()
        .position(|(n, _)| n.contains("layers.14."))
        .unwrap();
    let mut weight_map = BTreeMap::new();
    for (shard, part) in [&tensors[..split], &tensors[split..]].iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", shard + 1);
        let views = part.iter().map(|(name, shape)| {
            weight_map.insert(name.clone(), file.clone());
            let norm = name.ends_with("norm.weight")
                || name.contains("layernorm")
                || (name.contains("norm") && name.ends_with(".weight") && shape.len() == 1);
            (
                name.clone(),
                Lazy {
                    shape: shape.clone(),
                    norm,
                    noise: &noise,
                },
            )
        });
        safetensors::serialize_to_file(views, None, &dir.join(&file)).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn random_weights_in_the_released_2b_layout_load_and_run_one_step() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path());
    let ids = ModelTokenIds {
        image_pad: 151_655,
        video_pad: 151_656,
        vision_start: 151_652,
    };
    let model = Qwen3Vl::load(tmp.path(), ids, DType::F16, &Device::Cpu).unwrap();
    // One 64×64 image: a (1, 4, 4) patch grid → 4 vision tokens.
    let image = Patches {
        values: (0..16 * 1536)
            .map(|i| ((i % 97) as f32 / 48.0) - 1.0)
            .collect(),
        grid_thw: [1, 4, 4],
    };
    let mut input_ids = vec![151_644, 872, 198, 151_652];
    input_ids.extend([151_655; 4]);
    input_ids.extend([
        151_653, 74785, 419, 2168, 13, 151_645, 198, 151_644, 77091, 198,
    ]);
    let prefill = model
        .prefill(
            &[PrefillRow {
                input_ids: &input_ids,
                images: std::slice::from_ref(&image),
                videos: &[],
            }],
            false,
            1,
            151_643,
        )
        .unwrap();
    assert_eq!(prefill.logits.dims(), &[1, 151_936]);
    let logits: Vec<f32> = prefill
        .logits
        .to_dtype(DType::F32)
        .unwrap()
        .get(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        logits.iter().all(|x| x.is_finite()),
        "prefill logits finite"
    );
    let mut cache = prefill.cache;
    let next = argmax(&logits);
    let step = model.decode(&[next], &mut cache, &prefill.deltas).unwrap();
    let step: Vec<f32> = step
        .to_dtype(DType::F32)
        .unwrap()
        .get(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(step.len(), 151_936);
    assert!(step.iter().all(|x| x.is_finite()), "decode logits finite");
    assert_eq!(cache.len(), input_ids.len() + 1);
}
