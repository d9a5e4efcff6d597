//! Bad inputs fail with a message naming the file or tensor and the reason, before any heavy
//! compute, and never panic; through the trait they fail only their own request.

use std::path::{Path, PathBuf};

use serde_json::Value;
use weft_inference::{
    Content, ImageSource, Message, NativeModel, NativeOptions, Request, SamplingParams,
    VideoSource, VisionLanguageModel,
};

use crate::parity::Case;

/// A writable copy of a fixture's model folder.
fn copy_model(case: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Case::load(case).model_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("model");
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    (tmp, dst)
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn load_err(dir: &Path) -> String {
    match NativeModel::load(dir, NativeOptions::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_weights_are_named() {
    let (_t, dir) = copy_model("two_images");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("no model.safetensors"), "{err}");
}

#[test]
fn missing_shard_is_named() {
    let (_t, dir) = copy_model("untied_sharded");
    let shard = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("model-0000"))
        .expect("a shard");
    std::fs::remove_file(dir.join(&shard)).unwrap();
    let err = load_err(&dir);
    assert!(err.contains(&shard) && err.contains("missing"), "{err}");
}

#[test]
fn truncated_weights_are_reported_as_truncated() {
    let (_t, dir) = copy_model("two_images");
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&dir);
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let (_t, dir) = copy_model("two_images");
    edit_config(&dir, |v| v["text_config"]["intermediate_size"] = 100.into());
    let err = load_err(&dir);
    assert!(
        err.contains("model.language_model.layers.0.mlp.gate_proj.weight")
            && err.contains("[128, 64]")
            && err.contains("[100, 64]"),
        "{err}"
    );
}

#[test]
fn moe_models_are_refused_as_not_yet_supported() {
    let (_t, dir) = copy_model("two_images");
    edit_config(&dir, |v| {
        v["model_type"] = "qwen3_vl_moe".into();
        v["architectures"] = serde_json::json!(["Qwen3VLMoeForConditionalGeneration"]);
    });
    let err = load_err(&dir);
    assert!(
        err.contains("not yet supported") && err.contains("config.json"),
        "{err}"
    );
}

fn ask(model: &NativeModel, content: Vec<Content>, max_new_tokens: usize) -> String {
    let out = model.generate(&[Request {
        messages: vec![Message::user(content)],
        params: SamplingParams::greedy(max_new_tokens),
    }]);
    out.into_iter().next().unwrap().unwrap_err().to_string()
}

#[test]
fn unusable_media_and_over_long_prompts_fail_their_request() {
    let case = Case::load("two_images");
    let model = NativeModel::load(&case.model_dir(), NativeOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let thin = tmp.path().join("thin.png");
    image::RgbImage::new(20, 4100).save(&thin).unwrap();
    let err = ask(&model, vec![Content::Image(ImageSource::Path(thin))], 1);
    assert!(err.contains("aspect ratio"), "{err}");

    let tiny = tmp.path().join("tiny.png");
    image::RgbImage::new(8, 8).save(&tiny).unwrap();
    let err = ask(&model, vec![Content::Image(ImageSource::Path(tiny))], 1);
    assert!(err.contains("smaller than one"), "{err}");

    let corrupt = tmp.path().join("corrupt.mp4");
    std::fs::write(&corrupt, b"this is not a video at all").unwrap();
    let err = ask(&model, vec![Content::Video(VideoSource::Path(corrupt))], 1);
    assert!(err.contains("corrupt.mp4"), "{err}");

    let ctx = weft_inference::config::ModelConfig::from_model_dir(&case.model_dir())
        .unwrap()
        .text
        .max_position_embeddings;
    let err = ask(&model, vec![Content::Text("hi".into())], ctx);
    assert!(err.contains("context"), "{err}");
}
