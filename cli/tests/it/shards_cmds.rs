//! `weft shards …` end to end on shards built from the bundled real photos: what users rely on
//! when they inspect, validate and query a dataset.

use std::path::{Path, PathBuf};

use serde_json::Value;
use weft_shards::{
    Content, Image, Message, Sample, ShardWriter, Video, WriterOptions, sample_schema,
    samples_to_batch,
};

use crate::common::{repo_root, run_weft};

/// Photos in file-name order with their Qwen3-VL image tokens, hand-checked against the
/// transformers `smart_resize` (factor 32, 65536..16777216 px).
const PHOTOS: [(&str, usize); 6] = [
    ("astronaut.jpg", 256), // 512×512
    ("camera.png", 256),    // 512×512
    ("chelsea.jpg", 126),   // 451×300 → 448×288
    ("coffee.jpg", 228),    // 600×400 → 608×384
    ("coins.png", 108),     // 384×303 → 384×288
    ("rocket.jpg", 260),    // 640×427 → 640×416
];

fn photo(name: &str) -> Image {
    let path = repo_root().join("examples/data/photos").join(name);
    Image::from_encoded(std::fs::read(&path).unwrap(), Some(name.to_string())).unwrap()
}

fn caption(name: &str) -> Sample {
    let user = Message::new(
        "user",
        vec![
            Content::Image { index: 0 },
            Content::text("Describe this image."),
        ],
    );
    let assistant = Message::new(
        "assistant",
        vec![Content::text(format!("A photo named {name}."))],
    );
    let meta = serde_json::json!({"license": "cc0"})
        .as_object()
        .unwrap()
        .clone();
    Sample::new(
        "caption",
        "photos",
        vec![user, assistant],
        vec![photo(name)],
        vec![],
        meta,
    )
}

fn vqa(question: &str) -> Sample {
    let parts = vec![
        Content::Image { index: 0 },
        Content::Image { index: 1 },
        Content::text(question),
    ];
    let images = vec![photo("astronaut.jpg"), photo("coffee.jpg")];
    Sample::new(
        "vqa",
        "synthetic",
        vec![Message::new("user", parts)],
        images,
        vec![],
        Default::default(),
    )
}

fn write_shard(dir: &Path, prefix: &str, samples: &[Sample]) -> PathBuf {
    let mut w = ShardWriter::new(dir, prefix, sample_schema(), WriterOptions::default()).unwrap();
    w.write(&samples_to_batch(samples).unwrap()).unwrap();
    let info = w.finish().unwrap();
    dir.join(&info[0].file)
}

/// `good/a-00000.parquet` (6 captions) and `good/b-00000.parquet` (2 two-image VQA rows).
fn good_shards(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("good");
    let captions: Vec<Sample> = PHOTOS.iter().map(|(n, _)| caption(n)).collect();
    let a = write_shard(&dir, "a", &captions);
    let b = write_shard(
        &dir,
        "b",
        &[vqa("Which is bigger?"), vqa("What colour is the cup?")],
    );
    (a, b)
}

fn json_out(args: &[&str]) -> Value {
    let out = run_weft(args, true);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn ls_and_stats_count_rows_and_exact_vision_tokens_without_reading_images() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = good_shards(tmp.path());
    let good = tmp.path().join("good");

    let ls = json_out(&["shards", "ls", "--json", s(&good)]);
    assert_eq!(ls.as_array().unwrap().len(), 2);
    assert_eq!(
        (ls[0]["rows"].as_u64(), ls[1]["rows"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(ls[0]["sample_schema"], true);
    assert_eq!(ls[0]["schema_version"], 1);

    let st = json_out(&["shards", "stats", "--json", s(&good)]);
    let caption_tokens: usize = PHOTOS.iter().map(|(_, t)| t).sum();
    assert_eq!(st["rows"], 8);
    assert_eq!(st["by_task"]["caption"]["rows"], 6);
    assert_eq!(
        st["by_task"]["caption"]["vision_tokens"],
        caption_tokens as u64
    );
    assert_eq!(st["by_task"]["vqa"]["rows"], 2);
    assert_eq!(st["by_task"]["vqa"]["vision_tokens"], 2 * (256 + 228));
    assert_eq!(st["by_source"]["synthetic"]["images"], 4);
    assert_eq!(st["images"]["count"], 10);
    assert_eq!(st["images"]["width"]["max"], 640);
    assert_eq!(st["tokens_per_sample"]["vision"]["max"], 256 + 228);
    assert_eq!(st["tokens_per_sample"]["vision"]["min"], 108);
    let photo_bytes: u64 = PHOTOS
        .iter()
        .map(|(n, _)| photo(n).bytes.len() as u64)
        .sum();
    let vqa_bytes =
        2 * (photo("astronaut.jpg").bytes.len() + photo("coffee.jpg").bytes.len()) as u64;
    let text_bytes = st["by_task"]["caption"]["text_bytes"].as_u64().unwrap();
    assert!(text_bytes > 20 * 6, "{text_bytes}");
    assert_eq!(
        st["by_task"]["caption"]["payload_bytes"],
        photo_bytes + text_bytes
    );
    assert_eq!(st["by_task"]["vqa"]["image_bytes"], vqa_bytes);

    // What stats may read, from the footers: the metadata columns and video geometry, never
    // `images` or video frames.
    let mut projected = 0u64;
    let mut on_disk = 0u64;
    for path in [&a, &b] {
        let shard = weft_shards::Shard::open(path).unwrap();
        for rg in shard.metadata().row_groups() {
            for c in rg.columns() {
                let parts = c.column_path().parts();
                let metadata =
                    ["task", "source", "messages", "image_meta"].contains(&parts[0].as_str());
                let video_geometry = parts[0] == "videos" && !parts.iter().any(|p| p == "frames");
                if metadata || video_geometry {
                    projected += c.compressed_size() as u64;
                }
            }
        }
        on_disk += std::fs::metadata(path).unwrap().len();
    }
    assert_eq!(st["bytes_read"], projected);
    assert_eq!(st["bytes_on_disk"], on_disk);
    assert!(
        (projected as f64) < 0.05 * on_disk as f64,
        "stats reads {projected} of {on_disk} bytes"
    );
}

#[test]
fn head_and_show_print_rows_and_extract_the_original_images() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = good_shards(tmp.path());
    let good = tmp.path().join("good");

    let text =
        String::from_utf8(run_weft(&["shards", "head", "-n", "1", s(&a)], true).stdout).unwrap();
    assert!(
        text.contains("[user]") && text.contains("[image 0: 512×512 jpeg, 54.0 KB]"),
        "{text}"
    );
    assert!(
        text.contains("Describe this image.") && text.contains("\"license\": \"cc0\""),
        "{text}"
    );

    let head = json_out(&["shards", "head", "-n", "7", "--json", s(&good)]);
    let rows = head.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[6]["task"], "vqa");
    assert_eq!(rows[2]["images"][0]["width"], 451);

    // --row counts across files; --id finds the same row.
    let shown = json_out(&["shards", "show", "--row", "7", "--json", s(&good)]);
    assert_eq!(
        shown["messages"][0]["content"][2]["text"],
        "What colour is the cup?"
    );
    assert_eq!(shown["row"], 1);
    let id = shown["id"].as_str().unwrap();
    let out = tmp.path().join("out");
    let by_id = json_out(&[
        "shards",
        "show",
        "--id",
        id,
        "--json",
        "--extract-images",
        s(&out),
        s(&good),
    ]);
    assert_eq!(by_id["id"], id);
    assert_eq!(
        std::fs::read(out.join(format!("{id}-0.jpg"))).unwrap(),
        photo("astronaut.jpg").bytes
    );
    assert_eq!(
        std::fs::read(out.join(format!("{id}-1.jpg"))).unwrap(),
        photo("coffee.jpg").bytes
    );

    let missing = run_weft(&["shards", "show", "--id", "nope", s(&good)], false);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such row"));
}

#[test]
fn validate_passes_good_shards_and_names_each_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = good_shards(tmp.path());
    let good = tmp.path().join("good");
    let ok = String::from_utf8(run_weft(&["shards", "validate", s(&good)], true).stdout).unwrap();
    assert!(
        ok.contains("ok: 2 file(s), 8 row(s) checked, 0 problem(s)"),
        "{ok}"
    );

    let bad_dir = tmp.path().join("bad");
    let mut corrupt = caption("camera.png");
    corrupt.images[0].bytes.truncate(2000);
    let mut dangling = caption("coins.png");
    dangling.messages[0]
        .content
        .push(Content::Image { index: 1 });
    let mut unreferenced = caption("rocket.jpg");
    unreferenced.images.push(photo("chelsea.jpg"));
    // A JPEG cut mid-scan still "decodes" leniently; validate must refuse it like PIL does.
    let mut truncated = caption("coffee.jpg");
    let half = truncated.images[0].bytes.len() / 2;
    truncated.images[0].bytes.truncate(half);
    let bad = write_shard(
        &bad_dir,
        "bad",
        &[corrupt, dangling, unreferenced, truncated],
    );
    let out = run_weft(&["shards", "validate", s(&bad)], false);
    let text = String::from_utf8(out.stdout).unwrap();
    let bad_name = s(&bad);
    for (row, reason) in [
        (0, "image 0 does not decode"),
        (1, "image index 1 out of range (1 images)"),
        (2, "image 1 is not referenced by any message"),
        (3, "image 0 does not decode: image: truncated JPEG"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{bad_name}: row {row} (id ")));
        assert!(
            line.is_some_and(|l| l.contains(reason)),
            "row {row}: `{reason}` not in\n{text}"
        );
    }
    assert!(
        text.contains("FAILED: 1 file(s), 4 row(s) checked, 4 problem(s)"),
        "{text}"
    );

    // The same rows in two files: ids must be unique across the dataset.
    let copy = tmp.path().join("copy.parquet");
    std::fs::copy(&a, &copy).unwrap();
    let text = String::from_utf8(run_weft(&["shards", "validate", s(&a), s(&copy)], false).stdout)
        .unwrap();
    assert!(
        text.contains(&format!("{}: row 0 (id ", s(&copy)))
            && text.contains("duplicate id (also at"),
        "{text}"
    );
    assert!(text.contains("6 problem(s)"), "{text}");

    // A file that is not Parquet at all stops the run unless --keep-going.
    let junk = tmp.path().join("junk.parquet");
    std::fs::write(&junk, "id,task\n1,caption\n").unwrap();
    let text = String::from_utf8(run_weft(&["shards", "validate", s(&junk), s(&a)], false).stdout)
        .unwrap();
    assert!(
        text.contains(&format!("{}: not a readable Parquet file", s(&junk))),
        "{text}"
    );
    assert!(text.contains("1 file(s), 0 row(s)"), "{text}");
    let text = String::from_utf8(
        run_weft(
            &["shards", "validate", "--keep-going", s(&junk), s(&a)],
            false,
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("FAILED: 2 file(s), 6 row(s) checked, 1 problem(s)"),
        "{text}"
    );
}

#[test]
fn foreign_files_fail_every_command_unless_keep_going() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = good_shards(tmp.path());
    let junk = tmp.path().join("junk.parquet");
    std::fs::write(&junk, b"PAR1 definitely not a footer").unwrap();

    let out = run_weft(&["shards", "ls", s(&junk), s(&a)], false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(s(&junk)) && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = run_weft(
        &["shards", "ls", "--keep-going", "--json", s(&junk), s(&a)],
        false,
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["rows"], 6);

    let out = run_weft(
        &["shards", "stats", "--keep-going", "--json", s(&junk), s(&a)],
        false,
    );
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["rows"], 6);
    assert!(String::from_utf8_lossy(&out.stderr).contains(s(&junk)));
}

#[test]
fn render_prints_the_chat_template_with_counted_pads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = good_shards(tmp.path());
    let r = json_out(&["shards", "render", "--row", "2", "--json", s(&a)]);
    assert_eq!(
        r["text"],
        "<|im_start|>user\n<|vision_start|><|image_pad|>×126<|vision_end|>Describe this image.<|im_end|>\n\
         <|im_start|>assistant\nA photo named chelsea.jpg.<|im_end|>\n"
    );
    assert_eq!(r["image_tokens"], serde_json::json!([126]));
    let full = json_out(&[
        "shards",
        "render",
        "--row",
        "2",
        "--json",
        "--full-pads",
        s(&a),
    ]);
    assert_eq!(
        full["text"]
            .as_str()
            .unwrap()
            .matches("<|image_pad|>")
            .count(),
        126
    );
    assert_eq!(full["total_tokens_estimate"], r["total_tokens_estimate"]);

    let text = String::from_utf8(run_weft(&["shards", "render", "--row", "0", s(&a)], true).stdout)
        .unwrap();
    assert!(text.contains("image tokens:  [256] = 256"), "{text}");
}

#[test]
fn sql_groups_across_all_shards() {
    let tmp = tempfile::tempdir().unwrap();
    good_shards(tmp.path());
    let good = tmp.path().join("good");
    let q = "SELECT task, count(*) AS n FROM shards GROUP BY task ORDER BY task";
    let rows = json_out(&["shards", "sql", q, "--json", s(&good)]);
    assert_eq!(
        rows,
        serde_json::json!([{"task": "caption", "n": 6}, {"task": "vqa", "n": 2}])
    );
    let table = String::from_utf8(run_weft(&["shards", "sql", q, s(&good)], true).stdout).unwrap();
    assert!(
        table.contains("caption") && table.contains("vqa"),
        "{table}"
    );
}

#[test]
fn stats_counts_video_tokens_from_geometry_and_render_shows_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let frames: Vec<Image> = (0..4).map(|_| photo("astronaut.jpg")).collect();
    let video = Video {
        frames,
        timestamps: vec![0.0, 0.5, 1.0, 1.5],
        fps: 2.0,
        duration: 2.0,
        path: None,
    };
    let user = Message::new(
        "user",
        vec![Content::Video { index: 0 }, Content::text("What moves?")],
    );
    let sample = Sample::new(
        "video_qa",
        "clips",
        vec![user],
        vec![],
        vec![video],
        Default::default(),
    );
    let file = write_shard(&tmp.path().join("v"), "v", &[sample]);

    // 4 frames of 512×512 = 1048576 px > 768·32²: β = sqrt(4/3), 512/β = 443.4 → 416 → 13·13
    // tokens per temporal patch, 2 patches.
    let st = json_out(&["shards", "stats", "--json", s(&file)]);
    assert_eq!(st["videos"]["count"], 1);
    assert_eq!(st["videos"]["tokens"], 2 * 169);
    assert_eq!(st["by_task"]["video_qa"]["vision_tokens"], 2 * 169);
    assert!(st["bytes_read"].as_u64().unwrap() * 20 < st["bytes_on_disk"].as_u64().unwrap());

    let r = json_out(&["shards", "render", "--row", "0", "--json", s(&file)]);
    assert_eq!(
        r["text"],
        "<|im_start|>user\n<0.2 seconds><|vision_start|><|video_pad|>×169<|vision_end|>\
         <1.2 seconds><|vision_start|><|video_pad|>×169<|vision_end|>What moves?<|im_end|>\n"
    );
    assert_eq!(r["video_tokens"], serde_json::json!([338]));
    run_weft(&["shards", "validate", s(&file)], true);
}
