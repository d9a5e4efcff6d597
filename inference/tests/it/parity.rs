//! Parity with the reference: transformers 4.57.6 `Qwen3VLForConditionalGeneration` on tiny
//! random models (fixtures under `tests/fixtures/parity`, made by `tools/parity/make_fixtures.py`).
//!
//! What a user relies on: the tokens, positions, pixels and logits the native model computes are
//! the reference's, so data generated with weft is what the real model would see and say.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_inference::candle::{DType, Device, Tensor};
use weft_inference::generate::generate;
use weft_inference::logits::{LogitsRequest, run};
use weft_inference::model::{PrefillRow, Qwen3Vl};
use weft_inference::processor::{Patches, ProcessorConfig, load_image};
use weft_inference::{
    Content, ImageSource, Message, NativeModel, NativeOptions, Prompt, Request, SamplingParams,
    VideoClip, VideoSource, VisionLanguageModel,
};

const LOGITS_TOL: f32 = 1e-4;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

pub(crate) struct Case {
    pub(crate) dir: PathBuf,
    expected: HashMap<String, Tensor>,
}

impl Case {
    pub(crate) fn load(name: &str) -> Case {
        let dir = fixtures().join(name);
        let expected = weft_inference::candle::safetensors::load(
            dir.join("expected.safetensors"),
            &Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("{name}: expected.safetensors: {e}"));
        Case { dir, expected }
    }

    pub(crate) fn model_dir(&self) -> PathBuf {
        self.dir.join("model")
    }

    fn f32s(&self, key: &str) -> Vec<f32> {
        self.tensor(key)
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn i64s(&self, key: &str) -> Vec<i64> {
        self.tensor(key).flatten_all().unwrap().to_vec1().unwrap()
    }

    fn tensor(&self, key: &str) -> &Tensor {
        self.expected
            .get(key)
            .unwrap_or_else(|| panic!("{}: no {key} in expected.safetensors", self.dir.display()))
    }

    fn grids(&self, key: &str) -> Vec<[usize; 3]> {
        self.i64s(key)
            .chunks(3)
            .map(|g| [g[0] as usize, g[1] as usize, g[2] as usize])
            .collect()
    }

    fn json(&self, file: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn model(&self) -> NativeModel {
        NativeModel::load(&self.model_dir(), NativeOptions::default()).unwrap()
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Messages of a fixture's `messages.json` as weft requests (media relative to the case dir).
fn messages(case: &Case, clip: Option<VideoClip>) -> Vec<Message> {
    let json = case.json("messages.json");
    let mut clip = clip;
    json.as_array()
        .unwrap()
        .iter()
        .map(|m| Message {
            role: m["role"].as_str().unwrap().to_string(),
            content: m["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| match c["type"].as_str().unwrap() {
                    "text" => Content::Text(c["text"].as_str().unwrap().to_string()),
                    "image" => Content::Image(ImageSource::Path(
                        case.dir.join(c["image"].as_str().unwrap()),
                    )),
                    "video" => Content::Video(VideoSource::Frames(
                        clip.take().expect("one video per fixture"),
                    )),
                    other => panic!("content type {other}"),
                })
                .collect(),
        })
        .collect()
}

/// The frames the reference sampled, with the reference's timestamps (index / fps).
fn reference_clip(case: &Case) -> VideoClip {
    let v = case.json("video.json");
    let fps = v["fps"].as_f64().unwrap();
    let frames = v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            Arc::new(
                image::open(case.dir.join(f.as_str().unwrap()))
                    .unwrap()
                    .to_rgb8(),
            )
        })
        .collect();
    let timestamps = v["sampled_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_f64().unwrap() / fps)
        .collect();
    VideoClip { frames, timestamps }
}

fn check_image_case(name: &str) {
    let case = Case::load(name);
    let request = LogitsRequest::from_file(&case.dir.join("request.json")).unwrap();
    let out = run(
        &case.model_dir(),
        &request,
        Some(12),
        &NativeOptions::default(),
    )
    .unwrap();

    // Position ids: exact.
    let want_pos = case.i64s("position_ids");
    assert_eq!(out.position_ids.concat(), want_pos, "{name}: position ids");

    // Grids: exact; pixel values: exact where no resize happens, else within the documented
    // tolerance of the bicubic port.
    let grids = case.grids("image_grid_thw");
    assert_eq!(out.image_grid_thw, grids, "{name}: grids");
    let want_px = case.f32s("pixel_values");
    let cols = out.patch_values;
    let mut row = 0;
    for (k, path) in request.images.iter().enumerate() {
        let rows = grids[k].iter().product::<usize>();
        let got = &out.pixel_values[row * cols..(row + rows) * cols];
        let want = &want_px[row * cols..(row + rows) * cols];
        let img = image::open(path).unwrap();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let resized = h != grids[k][1] * 16 || w != grids[k][2] * 16;
        let err = max_abs_diff(got, want);
        if resized {
            assert!(err <= PIXEL_TOL, "{name} image {k}: pixel max |Δ| {err}");
        } else {
            let first = got.iter().zip(want).position(|(a, b)| a != b);
            assert!(
                first.is_none(),
                "{name} image {k} needs no resize, pixels must be exact: max |Δ| {err}, first \
                 difference at value {first:?} of {}",
                got.len()
            );
        }
        row += rows;
    }

    // Logits on the reference's own pixels isolate the model from the resize kernel.
    let logits_ref_px = logits_with_pixels(&case, &request.input_ids, &grids, &want_px);
    let want_logits = case.f32s("logits");
    let err = max_abs_diff(&logits_ref_px, &want_logits);
    assert!(
        err <= LOGITS_TOL,
        "{name}: logits max |Δ| {err} on reference pixels"
    );
    // End to end through our processor, as `weft infer logits` computes them.
    let err = max_abs_diff(&out.logits, &want_logits);
    assert!(
        err <= END_TO_END_TOL,
        "{name}: end-to-end logits max |Δ| {err}"
    );

    let greedy: Vec<i64> = out
        .greedy_tokens
        .unwrap()
        .iter()
        .map(|&t| t.into())
        .collect();
    assert_eq!(greedy, case.i64s("greedy_tokens"), "{name}: greedy tokens");
}

/// Max |Δ| of processed pixels for resized images (normalized units; one uint8 level is 2/255).
const PIXEL_TOL: f32 = 2.0 / 255.0 + 1e-6;
/// End-to-end logits (our pixels): the resize tolerance propagates through the tiny model.
const END_TO_END_TOL: f32 = 1e-3;

fn logits_with_pixels(case: &Case, ids: &[u32], grids: &[[usize; 3]], px: &[f32]) -> Vec<f32> {
    let model = load_model(case);
    let cols = px.len()
        / grids
            .iter()
            .map(|g| g.iter().product::<usize>())
            .sum::<usize>();
    let mut images = Vec::new();
    let mut row = 0;
    for g in grids {
        let rows = g.iter().product::<usize>();
        images.push(Patches {
            values: px[row * cols..(row + rows) * cols].to_vec(),
            grid_thw: *g,
        });
        row += rows;
    }
    let prefill = model
        .prefill(
            &[PrefillRow {
                input_ids: ids,
                images: &images,
                videos: &[],
            }],
            true,
            0,
            0,
        )
        .unwrap();
    prefill.logits.flatten_all().unwrap().to_vec1().unwrap()
}

fn row(p: &Prompt) -> PrefillRow<'_> {
    PrefillRow {
        input_ids: &p.input_ids,
        images: &p.images,
        videos: &p.videos,
    }
}

fn load_model(case: &Case) -> Qwen3Vl {
    let dir = case.model_dir();
    let config = weft_inference::config::ModelConfig::from_model_dir(&dir).unwrap();
    let ids = weft_inference::logits::model_token_ids(&dir, &config).unwrap();
    Qwen3Vl::load(&dir, ids, DType::F32, &Device::Cpu).unwrap()
}

#[test]
fn two_images_match_the_reference() {
    check_image_case("two_images");
}

#[test]
fn untied_sharded_model_matches_the_reference() {
    check_image_case("untied_sharded");
}

#[test]
fn chat_path_rebuilds_the_reference_input_ids() {
    for name in ["two_images", "untied_sharded"] {
        let case = Case::load(name);
        let model = case.model();
        let prompt = model
            .prepare(&Request {
                messages: messages(&case, None),
                params: SamplingParams::greedy(1),
            })
            .unwrap();
        let want: Vec<u32> = case.i64s("input_ids").iter().map(|&t| t as u32).collect();
        assert_eq!(prompt.input_ids, want, "{name}: input ids");
    }
}

#[test]
fn video_layout_positions_and_logits_match_the_reference() {
    let case = Case::load("video");
    let model = case.model();
    let prompt = model
        .prepare(&Request {
            messages: messages(&case, Some(reference_clip(&case))),
            params: SamplingParams::greedy(12),
        })
        .unwrap();
    let want_ids: Vec<u32> = case.i64s("input_ids").iter().map(|&t| t as u32).collect();
    assert_eq!(
        prompt.input_ids, want_ids,
        "video input ids (timestamps, pads)"
    );
    assert_eq!(prompt.videos.len(), 1);
    assert_eq!(
        vec![prompt.videos[0].patches.grid_thw],
        case.grids("video_grid_thw"),
        "video grid"
    );
    let err = max_abs_diff(
        &prompt.videos[0].patches.values,
        &case.f32s("pixel_values_videos"),
    );
    assert!(err <= PIXEL_TOL, "video pixel max |Δ| {err}");

    let row = PrefillRow {
        input_ids: &prompt.input_ids,
        images: &prompt.images,
        videos: &prompt.videos,
    };
    let positions = model.model().positions(&row).unwrap();
    assert_eq!(
        positions.axes.concat(),
        case.i64s("position_ids"),
        "video positions"
    );

    // Logits on the reference's pixels; greedy tokens end to end.
    let mut ref_prompt = prompt.clone();
    ref_prompt.videos[0].patches.values = case.f32s("pixel_values_videos");
    let prefill = model
        .model()
        .prefill(
            &[PrefillRow {
                input_ids: &ref_prompt.input_ids,
                images: &[],
                videos: &ref_prompt.videos,
            }],
            true,
            0,
            0,
        )
        .unwrap();
    let logits: Vec<f32> = prefill.logits.flatten_all().unwrap().to_vec1().unwrap();
    let err = max_abs_diff(&logits, &case.f32s("logits"));
    assert!(err <= LOGITS_TOL, "video logits max |Δ| {err}");
    let greedy = generate(
        model.model(),
        &[(&ref_prompt, &SamplingParams::greedy(12))],
        &[],
        0,
    )
    .unwrap()
    .remove(0)
    .remove(0)
    .tokens;
    let greedy: Vec<i64> = greedy.iter().map(|&t| t.into()).collect();
    assert_eq!(greedy, case.i64s("greedy_tokens"), "video greedy tokens");
}

/// Left-padded batches and `n` completions sharing a prefill give each row exactly what it gets
/// alone.
#[test]
fn batched_padded_and_shared_prefill_rows_equal_single_runs() {
    let case = Case::load("two_images");
    let model = case.model();
    let long = model
        .prepare(&Request {
            messages: messages(&case, None),
            params: SamplingParams::greedy(8),
        })
        .unwrap();
    let short = model
        .prepare(&Request {
            messages: vec![Message::user(vec![Content::Text("Hello there".into())])],
            params: SamplingParams::greedy(8),
        })
        .unwrap();
    let pad = model.tokenizer().special.pad;
    let params = SamplingParams::greedy(8);
    let alone = |p: &Prompt| {
        generate(model.model(), &[(p, &params)], &[], pad)
            .unwrap()
            .remove(0)
            .remove(0)
            .tokens
    };
    let (long_alone, short_alone) = (alone(&long), alone(&short));
    let both = generate(
        model.model(),
        &[(&short, &params), (&long, &params)],
        &[],
        pad,
    )
    .unwrap();
    assert_eq!(
        both[0][0].tokens, short_alone,
        "short row, padded in a batch"
    );
    assert_eq!(both[1][0].tokens, long_alone, "long row in a batch");

    // Last-position logits of a padded row equal its single-row logits.
    let single = model
        .model()
        .prefill(&[row(&short)], false, 0, pad)
        .unwrap();
    let batch = model
        .model()
        .prefill(&[row(&short), row(&long)], false, 0, pad)
        .unwrap();
    let a: Vec<f32> = single.logits.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = batch.logits.get(0).unwrap().to_vec1().unwrap();
    assert!(max_abs_diff(&a, &b) <= LOGITS_TOL);

    // n sampled completions from one prefill equal the same streams run one request at a time.
    let sampled = SamplingParams {
        temperature: 1.0,
        n: 4,
        seed: 11,
        max_new_tokens: 6,
        ..SamplingParams::default()
    };
    let shared = generate(model.model(), &[(&long, &sampled)], &[], pad)
        .unwrap()
        .remove(0);
    assert_eq!(shared.len(), 4);
    let with_other = generate(
        model.model(),
        &[(&short, &params), (&long, &sampled)],
        &[],
        pad,
    )
    .unwrap()
    .remove(1);
    assert_eq!(
        shared, with_other,
        "a completion does not depend on its batch"
    );
    let distinct: std::collections::HashSet<_> = shared.iter().map(|c| c.tokens.clone()).collect();
    assert!(
        distinct.len() > 1,
        "sampled completions differ from each other"
    );
}

/// The trait answers in request order, one error per bad request, text decoded.
#[test]
fn trait_generates_per_request_results() {
    let case = Case::load("two_images");
    let model = case.model();
    let ok = Request {
        messages: messages(&case, None),
        params: SamplingParams::greedy(5),
    };
    let bad = Request {
        messages: vec![Message::user(vec![Content::Image(ImageSource::Path(
            case.dir.join("no-such.png"),
        ))])],
        params: SamplingParams::greedy(5),
    };
    let out = model.generate(&[ok.clone(), bad, ok]);
    assert_eq!(out.len(), 3);
    let first = out[0].as_ref().unwrap();
    assert_eq!(first.completions.len(), 1);
    assert!(first.completions[0].token_ids.len() <= 5);
    let err = out[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("no-such.png"), "{err}");
    assert_eq!(out[2].as_ref().unwrap(), first);
    assert!(
        model.model_id().starts_with("model@"),
        "{}",
        model.model_id()
    );
}

/// bf16 and f16 compute load the same checkpoint and stay close to f32.
#[test]
fn half_precision_runs_close_to_f32() {
    let case = Case::load("two_images");
    let request = LogitsRequest::from_file(&case.dir.join("request.json")).unwrap();
    let f32_out = run(&case.model_dir(), &request, None, &NativeOptions::default()).unwrap();
    let scale = f32_out.logits.iter().fold(0f32, |m, x| m.max(x.abs()));
    for dtype in [DType::BF16, DType::F16] {
        let out = run(
            &case.model_dir(),
            &request,
            None,
            &NativeOptions {
                dtype,
                ..NativeOptions::default()
            },
        )
        .unwrap();
        let err = max_abs_diff(&out.logits, &f32_out.logits);
        assert!(
            err <= 0.05 * scale,
            "{dtype:?}: max |Δ| {err} vs logit scale {scale}"
        );
    }
}

#[test]
fn processor_config_and_image_loading_follow_the_folder() {
    let case = Case::load("untied_sharded");
    let cfg = ProcessorConfig::from_model_dir(&case.model_dir()).unwrap();
    let img = load_image(&ImageSource::Path(case.dir.join("rocket.png"))).unwrap();
    let p = cfg.process_image(&img).unwrap();
    assert_eq!(vec![p.grid_thw], case.grids("image_grid_thw"));
}

/// Prompts longer than one attention block (512 queries) give the same logits as a shorter
/// prefill plus cached decode steps, alone and left-padded beside a short prompt.
#[test]
fn long_prompts_prefill_in_query_blocks_consistently() {
    let case = Case::load("two_images");
    let model = case.model();
    let m = model.model();
    let long: Vec<u32> = (0..700u32).map(|i| (i * 37 + 11) % 1000).collect();
    let row = |ids: &[u32]| -> Vec<f32> {
        let p = m
            .prefill(
                &[PrefillRow {
                    input_ids: ids,
                    images: &[],
                    videos: &[],
                }],
                false,
                0,
                0,
            )
            .unwrap();
        p.logits.flatten_all().unwrap().to_vec1().unwrap()
    };
    let full = row(&long);
    // 690 tokens prefilled, then 10 decode steps.
    let p = m
        .prefill(
            &[PrefillRow {
                input_ids: &long[..690],
                images: &[],
                videos: &[],
            }],
            false,
            10,
            0,
        )
        .unwrap();
    let mut cache = p.cache;
    let mut last = Vec::new();
    for &t in &long[690..] {
        last = m
            .decode(&[t], &mut cache, &p.deltas)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
    }
    assert!(max_abs_diff(&full, &last) <= LOGITS_TOL);
    // The same long row padded against a short one in a batch.
    let short = [5u32, 6, 7];
    let batch = m
        .prefill(
            &[
                PrefillRow {
                    input_ids: &short,
                    images: &[],
                    videos: &[],
                },
                PrefillRow {
                    input_ids: &long,
                    images: &[],
                    videos: &[],
                },
            ],
            false,
            0,
            0,
        )
        .unwrap();
    let b0: Vec<f32> = batch.logits.get(0).unwrap().to_vec1().unwrap();
    let b1: Vec<f32> = batch.logits.get(1).unwrap().to_vec1().unwrap();
    assert!(max_abs_diff(&b0, &row(&short)) <= LOGITS_TOL);
    assert!(max_abs_diff(&b1, &full) <= LOGITS_TOL);
}
