//! Random weights in the real Qwen3-VL-2B-Instruct layout — every tensor name and shape of the
//! released checkpoint, bf16, split over two shards with an index — load and run one prefill and
//! one decode step. This is what `weft infer --model Qwen/Qwen3-VL-2B-Instruct` will meet; the
//! tiny parity models cannot catch a wrong name or shape at full size.
//!
//! The weights (4.3 GB, `weft_inference::random_checkpoint`) are written to a temporary folder
//! and deleted afterwards; compute runs in f16 to keep memory at the checkpoint's size.

use weft_inference::Weights;
use weft_inference::candle::{DType, Device};
use weft_inference::generate::argmax;
use weft_inference::model::{ModelTokenIds, PrefillRow, Qwen3Vl};
use weft_inference::processor::Patches;
use weft_inference::random_checkpoint::{QWEN3_VL_2B_CONFIG, write_random_checkpoint};

#[test]
fn random_weights_in_the_released_2b_layout_load_and_run_one_step() {
    let tmp = tempfile::tempdir().unwrap();
    write_random_checkpoint(tmp.path(), QWEN3_VL_2B_CONFIG, 2).unwrap();
    let ids = ModelTokenIds {
        image_pad: 151_655,
        video_pad: 151_656,
        vision_start: 151_652,
    };
    // The released model.safetensors is 4.26 GB of bf16 tensors: the layout must add up to it.
    let stored = Weights::from_model_dir(tmp.path(), DType::F16, &Device::Cpu)
        .unwrap()
        .stored_bytes();
    assert!(
        (4_250_000_000..4_270_000_000).contains(&stored),
        "{stored} bytes of tensors"
    );
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
