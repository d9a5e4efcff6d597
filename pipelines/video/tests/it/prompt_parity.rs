//! The rendered prompt of a pipeline-stored video equals the prompt transformers' Qwen3-VL
//! processor builds for the same clip (`fixtures/reference/`, written by
//! `tools/make_prompt_fixture.py`): same frames, same `<t.t seconds>` per temporal patch, same
//! pad counts, same template — from presentation times and budget-sized stored frames.

use weft_shards::render::{RenderOptions, load_template, render};
use weft_shards::vision::VisionParams;
use weft_shards::{Content, Message, Sample};

use crate::common::crate_dir;
use crate::pipeline::{runs, samples};

#[test]
fn rendered_prompt_equals_the_reference_processor() {
    let r = runs();
    let rows = samples(&r.first, "videos");
    let reference = crate_dir().join("fixtures/reference");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference.join("index.json")).unwrap())
            .unwrap();
    let model = crate_dir().join("../../inference/tests/fixtures/parity/two_images/model");
    let opts = RenderOptions {
        template: Some(load_template(&model).unwrap()),
        vision: VisionParams::default(),
        add_generation_prompt: true,
        collapse_pads: false,
    };
    let mut checked = 0;
    for (clip, entry) in index.as_object().unwrap() {
        let row = rows
            .iter()
            .find(|s| s.meta["file"] == format!("good/{clip}"))
            .unwrap_or_else(|| panic!("{clip} not in the video table"));
        let video = row.videos[0].clone();
        // Same frames as the reference sampled (CFR clips): times are their pts = index / fps.
        let fps = entry["fps"].as_f64().unwrap();
        let mut want: Vec<f64> = entry["sampled_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_f64().unwrap() / fps)
            .collect();
        if want.len() % 2 == 1 {
            want.push(*want.last().unwrap());
        }
        assert_eq!(video.timestamps.len(), want.len(), "{clip}");
        for (a, b) in video.timestamps.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{clip}: {a} vs {b}");
        }
        let question = entry["question"].as_str().unwrap();
        let sample = Sample::new(
            "probe",
            "test",
            vec![Message::new(
                "user",
                vec![Content::Video { index: 0 }, Content::text(question)],
            )],
            Vec::new(),
            vec![video],
            Default::default(),
        );
        let got = render(&sample, &opts).unwrap().text;
        let expected =
            std::fs::read_to_string(reference.join(entry["prompt"].as_str().unwrap())).unwrap();
        assert_eq!(
            got, expected,
            "{clip}: rendered prompt differs from the reference"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}
