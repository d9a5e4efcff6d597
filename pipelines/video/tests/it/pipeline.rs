//! The pipeline through the engine: bundled clips plus every kind of bad input in one folder;
//! counts add up, each bad file is quarantined under its reason, the grounding samples are
//! right, the no-model run says why dense captions are missing, and reruns are byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use weft_engine::pipeline_file::PipelineFile;
use weft_engine::plan::Plan;
use weft_engine::registry::Registry;
use weft_engine::run::{RunOptions, run};
use weft_shards::render::{RenderOptions, TimestampFormat, render};
use weft_shards::{Content, Manifest, Sample, resolve_paths, samples_from_batch};

use crate::common::crate_dir;

/// Runs the crate's pipeline.toml with `sets` into `out`.
pub fn run_pipeline(out: &Path, sets: &[String]) {
    let mut pf = PipelineFile::load(&crate_dir().join("pipeline.toml")).unwrap();
    for s in sets {
        pf.set(s).unwrap();
    }
    let mut registry = Registry::builtin();
    weft_pipeline_video::register(&mut registry);
    let plan = Plan::build(pf, &registry).unwrap();
    run(&plan, &RunOptions::new(out)).unwrap();
}

pub fn manifest(out: &Path, stage: &str) -> Manifest {
    Manifest::read(&out.join(stage).join("manifest.json")).unwrap()
}

pub fn samples(out: &Path, stage: &str) -> Vec<Sample> {
    let mut all = Vec::new();
    for f in resolve_paths(&[out.join(stage).display().to_string()]).unwrap() {
        for b in weft_shards::reader::read_all(&f).unwrap() {
            all.extend(samples_from_batch(&b).unwrap());
        }
    }
    all
}

/// Quarantine rows of a stage: (source, reason, error).
fn quarantined(out: &Path, stage: &str) -> Vec<(String, String, String)> {
    let m = manifest(out, stage);
    let mut rows = Vec::new();
    for q in &m.quarantine {
        for b in weft_shards::reader::read_all(&out.join(stage).join(q)).unwrap() {
            let col = |n: &str| {
                b.column_by_name(n)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .unwrap()
                    .clone()
            };
            let (s, r, e) = (col("source"), col("reason"), col("error"));
            for i in 0..b.num_rows() {
                rows.push((
                    s.value(i).to_string(),
                    r.value(i).to_string(),
                    e.value(i).to_string(),
                ));
            }
        }
    }
    rows.sort();
    rows
}

pub struct Runs {
    _tmp: tempfile::TempDir,
    pub input: PathBuf,
    pub first: PathBuf,
    second: PathBuf,
}

/// One folder with the good clips and the bad files, run twice.
pub fn runs() -> &'static Runs {
    static R: OnceLock<Runs> = OnceLock::new();
    R.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("videos");
        for (dir, sub) in [("clips", "good"), ("bad", "bad")] {
            let to = input.join(sub);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(crate_dir().join("fixtures").join(dir)).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
        let sets = vec![format!("videos.path=\"{}\"", input.display())];
        let first = tmp.path().join("a");
        let second = tmp.path().join("b");
        run_pipeline(&first, &sets);
        run_pipeline(&second, &sets);
        Runs {
            _tmp: tmp,
            input,
            first,
            second,
        }
    })
}

#[test]
fn bad_inputs_are_quarantined_with_reasons_and_counts_add_up() {
    let r = runs();
    let m = manifest(&r.first, "videos");
    let c = &m.counts;
    let files = std::fs::read_dir(r.input.join("good")).unwrap().count()
        + std::fs::read_dir(r.input.join("bad")).unwrap().count();
    assert_eq!(c.input as usize, files);
    assert_eq!(
        c.input,
        c.out + c.dropped.values().sum::<u64>() + c.quarantined.values().sum::<u64>()
    );
    assert_eq!(c.out, 7, "{c:?}");
    let q: BTreeMap<String, String> = quarantined(&r.first, "videos")
        .into_iter()
        .map(|(s, r, e)| {
            assert!(e.contains(&s), "error `{e}` names the file `{s}`");
            (s, r)
        })
        .collect();
    let want = [
        ("bad/aspect_4000x16.mp4", "bad_geometry"),
        ("bad/audio_only.mp4", "no_video_stream"),
        ("bad/corrupt_middle.mp4", "corrupt"),
        ("bad/empty.mp4", "unreadable"),
        ("bad/garbage.mkv", "unreadable"),
        ("bad/huge_8448x8448.mp4", "too_large"),
        ("bad/truncated.mp4", "truncated"),
        ("bad/unknown_codec.mkv", "unsupported_codec"),
    ];
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(q, want);
}

#[test]
fn video_rows_carry_meta_and_budget_sized_frames() {
    let r = runs();
    let rows = samples(&r.first, "videos");
    let bikes = rows
        .iter()
        .find(|s| s.meta["file"] == "good/bikes.mp4")
        .unwrap();
    for (k, v) in [
        ("codec", "h264"),
        ("width", "640"),
        ("height", "272"),
        ("fps", "25.0"),
        ("duration", "10.0"),
        ("sampled_frames", "20"),
    ] {
        assert_eq!(bikes.meta[k].to_string().trim_matches('"'), v, "{k}");
    }
    let v = &bikes.videos[0];
    assert_eq!(v.frames.len(), 20);
    // Frames at the smart_resize_video size of 20 frames of 640x272 (786432 px budget):
    let (h, w) =
        weft_shards::vision::smart_resize_video(20, 272, 640, 2, 32, 128 * 1024, 768 * 1024)
            .unwrap();
    assert!(
        v.frames
            .iter()
            .all(|f| (f.width, f.height) == (w, h) && f.format == "jpeg")
    );
    // ... which is a fixed point: rendering the stored frames gives the same token count.
    let layout = weft_shards::vision::VisionParams::default()
        .video_layout(&v.timestamps, w, h)
        .unwrap();
    assert_eq!(layout.tokens_per_patch, (w / 32 * (h / 32)) as usize);
    // The cut clip (2 s of bikes, then 2 s of carphone) has its cut at 2.0 s: two segments,
    // split between the last sampled frame before 2.0 s and the first after.
    let cut = rows
        .iter()
        .find(|s| s.meta["file"] == "good/cut.mp4")
        .unwrap();
    let segs = cut.meta["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2, "{segs:?}");
    let b = segs[1][0].as_u64().unwrap() as usize;
    let ts = &cut.videos[0].timestamps;
    assert!(
        ts[2 * b - 1] < 2.0 && ts[2 * b] >= 2.0,
        "cut at {} s",
        ts[2 * b]
    );
    // bikes has several real cuts, so it has several segments.
    let segs = bikes.meta["segments"].as_array().unwrap();
    assert!(segs.len() >= 2, "{segs:?}");
    // Every segment of every video lies within pipeline.toml's bounds (min_secs = 2,
    // max_secs = 30), measured as the segmenter does: from its first patch's first frame to
    // the next patch's first frame (after the last frame: one mean frame interval later). The
    // one exception by design: a video shorter than min_secs is a single, shorter segment.
    let (min_secs, max_secs) = (2.0, 30.0);
    for row in &rows {
        let ts = &row.videos[0].timestamps;
        let n = ts.len();
        let step = (ts[n - 1] - ts[0]) / (n - 1) as f64;
        let start = |p: usize| {
            if 2 * p < n {
                ts[2 * p]
            } else {
                ts[n - 1] + step
            }
        };
        let segs = row.meta["segments"].as_array().unwrap();
        for seg in segs {
            let (a, b) = (
                seg[0].as_u64().unwrap() as usize,
                seg[1].as_u64().unwrap() as usize,
            );
            let span = start(b) - start(a);
            assert!(
                span <= max_secs + 1e-9,
                "{}: {seg:?} is {span} s",
                row.meta["file"]
            );
            assert!(
                span >= min_secs - 1e-9 || segs.len() == 1,
                "{}: {seg:?} is {span} s of {segs:?}",
                row.meta["file"]
            );
        }
    }
    // The rotated MOV is stored upright (display size 144x176 -> portrait frames).
    let rot = rows
        .iter()
        .find(|s| s.meta["file"] == "good/carphone_rot90.mov")
        .unwrap();
    let f = &rot.videos[0].frames[0];
    assert!(f.height > f.width, "{}x{}", f.width, f.height);
}

#[test]
fn without_a_model_dense_captions_are_dropped_and_grounding_still_runs() {
    let r = runs();
    let dc = manifest(&r.first, "dense_captions").counts;
    assert_eq!(dc.out, 0);
    assert_eq!(dc.dropped.get("no_model"), Some(&7));
    let g = manifest(&r.first, "st_grounding").counts;
    assert_eq!(g.input, 7);
    assert_eq!(g.out, 1, "{g:?}");
    assert_eq!(g.dropped.get("no_annotations"), Some(&6));
    let s = samples(&r.first, "st_grounding");
    assert_eq!(s.len(), 3, "three tracks on bikes.mp4");
    for sample in &s {
        assert_eq!(
            weft_shards::validate::check_sample(sample),
            Vec::<String>::new()
        );
        let Content::Text { text } = &sample.messages[1].content[0] else {
            panic!()
        };
        let rendered = render(sample, &RenderOptions::default()).unwrap();
        // Every time in the answer is a label the prompt shows.
        for line in text.lines() {
            for piece in line.split('<').skip(1) {
                let label = format!("<{}", &piece[..=piece.find('>').unwrap()]);
                assert!(
                    rendered.text.contains(&format!("{label}<|vision_start|>")),
                    "{label} not in prompt"
                );
            }
        }
        assert!(sample.meta["sampling_weight"].as_f64().unwrap() > 0.0);
        assert_eq!(sample.meta["duration_bucket"], "10-60s", "bikes is 10.0 s");
    }
    let taxi = s
        .iter()
        .find(|s| s.meta["label"] == "the TAXI sign on the car roof")
        .unwrap();
    let Content::Text { text } = &taxi.messages[1].content[0] else {
        panic!()
    };
    // bikes is sampled at 0, 0.52, 1.04, 1.56, 2.08, 2.64, 3.16, ... s (the reference's
    // linspace of 250 frames over 20), so patch 2 covers 2.08..2.64 s (label 2.36) and patch 3
    // 3.16..3.68 s; the sign is annotated 2.4..3.0 s (the shot ends before 3.16 s), so only
    // patch 2 gets it: the 2.4 s box [0, 95, 135, 155] of 640x272 -> round(x / W * 1000).
    let f = TimestampFormat::of(&taxi.meta).unwrap();
    let t = f.label(2.36);
    assert_eq!(
        text,
        &format!(
            "{t} - {t}\n[{{\"time\": \"{t}\", \"bbox_2d\": [0, 349, 211, 570], \"label\": \"the TAXI sign on the car roof\"}}]"
        )
    );
}

#[test]
fn reruns_are_byte_identical() {
    let r = runs();
    for stage in ["videos", "balance", "st_grounding"] {
        let a = manifest(&r.first, stage);
        let b = manifest(&r.second, stage);
        let sums = |m: &Manifest| {
            m.shards
                .iter()
                .map(|s| s.sha256.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(sums(&a), sums(&b), "{stage}");
        assert!(!a.shards.is_empty());
    }
}
