//! `weft infer`: the parity contract through the binary, a caption from a model folder, and
//! clear errors for a missing model.

use weft_inference::candle::{Device, Tensor, safetensors};

use crate::common::{repo_root, run_weft};

fn case(name: &str) -> std::path::PathBuf {
    repo_root()
        .join("inference/tests/fixtures/parity")
        .join(name)
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn logits_contract_writes_the_reference_tensors() {
    let dir = case("untied_sharded");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.safetensors");
    run_weft(
        &[
            "infer",
            "logits",
            "--model",
            dir.join("model").to_str().unwrap(),
            "--request",
            dir.join("request.json").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--greedy",
            "12",
        ],
        true,
    );
    let got = safetensors::load(&out, &Device::Cpu).unwrap();
    let want = safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    for key in ["position_ids", "image_grid_thw", "greedy_tokens"] {
        let (g, w): (Vec<i64>, Vec<i64>) = (
            got[key].flatten_all().unwrap().to_vec1().unwrap(),
            want[key].flatten_all().unwrap().to_vec1().unwrap(),
        );
        assert_eq!(g, w, "{key}");
    }
    assert_eq!(got["logits"].dims(), want["logits"].dims());
    let err = f32s(&got["logits"])
        .iter()
        .zip(f32s(&want["logits"]))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err <= 1e-3, "logits max |Δ| {err}");
    assert_eq!(got["pixel_values"].dims(), want["pixel_values"].dims());
}

#[test]
fn infer_answers_about_an_image_as_json() {
    let dir = case("two_images");
    let (model, image) = (dir.join("model"), dir.join("a.png"));
    let ask = || {
        run_weft(
            &[
                "infer",
                "--model",
                model.to_str().unwrap(),
                "--image",
                image.to_str().unwrap(),
                "--prompt",
                "Describe this image.",
                "--max-new-tokens",
                "6",
                "--n",
                "2",
                "--temperature",
                "0.8",
                "--seed",
                "3",
                "--json",
            ],
            true,
        )
    };
    let out = ask();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["model"].as_str().unwrap().starts_with("model@"));
    assert!(v["prompt_tokens"].as_u64().unwrap() > 6);
    let completions = v["completions"].as_array().unwrap();
    assert_eq!(completions.len(), 2);
    for c in completions {
        assert!(c["token_ids"].as_array().unwrap().len() <= 6);
    }
    // Same seed, same answers.
    assert_eq!(out.stdout, ask().stdout);
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let out = run_weft(
        &["infer", "--model", "/no/such/model", "--prompt", "hi"],
        false,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/model"), "{err}");
}
