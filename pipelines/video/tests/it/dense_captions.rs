//! Dense captions end to end through the engine with the tiny real-format Qwen3-VL checkpoint
//! (random weights: the captions are gibberish, the plumbing is real): one request per
//! segment with that segment's frames and times, one answer line per segment, every time in
//! the answer a label the rendered prompt shows, the model named in meta.

use weft_shards::Content;
use weft_shards::render::{RenderOptions, render};

use crate::common::crate_dir;
use crate::pipeline::{manifest, run_pipeline, samples};

#[test]
fn tiny_native_model_captions_every_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let model = crate_dir().join("../../inference/tests/fixtures/parity/two_images/model");
    run_pipeline(
        &out,
        &[
            format!(
                "dense_captions.model=\"{}\"",
                model.canonicalize().unwrap().display()
            ),
            "dense_captions.max_new_tokens=8".into(),
        ],
    );
    let c = manifest(&out, "dense_captions").counts;
    let videos = manifest(&out, "videos").counts.out;
    assert_eq!(c.input, videos);
    assert_eq!(
        c.input,
        c.out + c.dropped.values().sum::<u64>() + c.quarantined.values().sum::<u64>()
    );
    let rows = samples(&out, "dense_captions");
    assert_eq!(rows.len() as u64, c.out);
    assert!(c.out >= 5, "{c:?}");
    let mut formats = std::collections::BTreeSet::new();
    for s in &rows {
        assert!(weft_shards::validate::check_sample(s).is_empty());
        assert!(s.meta["captioned_by"].as_str().unwrap().contains("model"));
        formats.insert(s.meta["timestamp_format"].as_str().unwrap().to_string());
        let Content::Text { text } = &s.messages[1].content[0] else {
            panic!()
        };
        let segs = s.meta["segments"].as_array().unwrap();
        assert_eq!(text.lines().count(), segs.len(), "{text}");
        let prompt = render(s, &RenderOptions::default()).unwrap().text;
        for line in text.lines() {
            let (span, caption) = line.split_once(": ").unwrap();
            assert!(!caption.trim().is_empty());
            let (a, b) = span.split_once(" - ").unwrap();
            for label in [a, b] {
                assert!(label.starts_with('<') && label.ends_with('>'), "{line}");
                assert!(
                    prompt.contains(&format!("{label}<|vision_start|>")),
                    "{label} not shown"
                );
            }
        }
    }
    assert_eq!(
        formats.len(),
        2,
        "both timestamp formats appear: {formats:?}"
    );
}
