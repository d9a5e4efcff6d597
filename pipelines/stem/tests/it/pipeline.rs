//! Synthesis and problem sets through the engine: counts add up, bad rows are quarantined with
//! their reason, and the same seed writes the same bytes.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::common::*;

#[test]
fn bundled_pipeline_runs_without_a_model_and_is_deterministic() {
    let text = std::fs::read_to_string(crate_dir().join("pipeline.toml"))
        .unwrap()
        .replace("count = 60", "count = 10")
        .replace("count = 20\nper_split = 20", "count = 4\nper_split = 2");
    let reg = registry();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_text(&reg, &crate_dir(), &text, a.path());
    run_text(&reg, &crate_dir(), &text, b.path());
    for stage in ["charts", "real_charts", "geometry", "problems", "filter"] {
        assert_eq!(
            shard_hashes(a.path(), stage),
            shard_hashes(b.path(), stage),
            "{stage}"
        );
    }
    let charts = counts(a.path(), "charts");
    assert_eq!((charts.input, charts.out), (10, 10));
    assert_eq!(counts(a.path(), "geometry").out, 4);
    assert_eq!(counts(a.path(), "real_charts").out, 4);
    assert_eq!(counts(a.path(), "problems").out, 12);
    // No model: the filter passes every query through untouched.
    let f = counts(a.path(), "filter");
    assert_eq!(f.input, f.out);
    let all = samples(a.path(), "filter");
    assert_eq!(all.len() as u64, f.out);
    let kinds: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|s| {
            s.meta
                .get("chart")
                .map(|c| c["kind"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    for s in &all {
        // Every sample carries a readable answer contract.
        weft_pipeline_stem::query::Query::read(&s.meta).unwrap();
        assert!(!s.meta.contains_key("pass_rate"));
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn bad_problem_rows_are_quarantined_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ok.png"), png(32, 24)).unwrap();
    let mut truncated = png(64, 48);
    truncated.truncate(truncated.len() / 2);
    std::fs::write(d.join("broken.png"), truncated).unwrap();
    let lines = [
        r#"{"question": "What is 2 + 2?", "answer": "4"}"#,
        r#"{"question": "Which colour fills the image?", "answer": "green", "choices": ["red", "green"], "image": "ok.png"}"#,
        r#"{"question": "no answer here"}"#,
        r#"{"question": "Broken picture?", "answer": "1", "image": "broken.png"}"#,
        r#"{"question": "Missing picture?", "answer": "1", "image": "nowhere.png"}"#,
        r#"{"question": "unterminated"#,
        "",
        r#"{"question": "Pick", "answer": "D", "choices": ["a", "b"]}"#,
    ];
    std::fs::create_dir(d.join("set")).unwrap();
    std::fs::write(d.join("set/a.jsonl"), lines.join("\n")).unwrap();
    std::fs::rename(d.join("ok.png"), d.join("set/ok.png")).unwrap();
    std::fs::rename(d.join("broken.png"), d.join("set/broken.png")).unwrap();
    // A Parquet problem set with an embedded image and a row without an answer.
    let schema = Arc::new(Schema::new(vec![
        Field::new("question", DataType::Utf8, true),
        Field::new("answer", DataType::Utf8, true),
        Field::new("image", DataType::Binary, true),
    ]));
    let good = png(40, 30);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                Some("How wide is the image in pixels?"),
                Some("x"),
            ])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("40"), None])),
            Arc::new(BinaryArray::from(vec![Some(good.as_slice()), None])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(d.join("set/b.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let text = "[pipeline]\nname = \"p\"\nseed = 1\n\n[stages.problems]\nkind = \"problem_set\"\npath = \"set\"\n";
    let out = tempfile::tempdir().unwrap();
    run_text(&registry(), d, text, out.path());
    let c = counts(out.path(), "problems");
    assert_eq!((c.input, c.out), (9, 3), "{c:?}");
    let q = quarantined(out.path(), "problems");
    let reasons: Vec<(&str, &str)> = q.iter().map(|(s, r, _)| (s.as_str(), r.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            ("set/a.jsonl:3", "missing_answer"),
            ("set/a.jsonl:4", "bad_image"),
            ("set/a.jsonl:5", "bad_image"),
            ("set/a.jsonl:6", "malformed_row"),
            ("set/a.jsonl:8", "missing_answer"),
            ("set/b.parquet#1", "missing_answer"),
        ]
    );
    // Messages name the file and the problem.
    assert!(q[2].2.contains("nowhere.png"), "{}", q[2].2);
    let s = samples(out.path(), "problems");
    let mm: Vec<_> = s.iter().filter(|s| !s.images.is_empty()).collect();
    assert_eq!(mm.len(), 2);
    assert!(
        s.iter()
            .any(|s| s.meta["verifier"] == "choice" && s.meta["answer"] == "B")
    );
}
