//! `weft run` / `weft merge` end to end on real photos: resume after SIGKILL, ranks,
//! accounting with bad records, caching, whole-stage failures, HF `datasets` compatibility.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_shards::{Manifest, resolve_paths};

use crate::common::{hf_datasets_check, repo_root, run_weft, weft};

fn photos_dir() -> PathBuf {
    repo_root().join("examples/data/photos")
}

/// Copies the bundled photos `copies` times (as `c{i}_{name}`) with a captions sidecar.
pub(crate) fn make_photos(dir: &Path, copies: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let captions = std::fs::read_to_string(photos_dir().join("captions.jsonl")).unwrap();
    let mut lines = String::new();
    let mut names = Vec::new();
    for c in 0..copies {
        for line in captions.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let file = v["file"].as_str().unwrap();
            let name = format!("c{c}_{file}");
            std::fs::copy(photos_dir().join(file), dir.join(&name)).unwrap();
            lines.push_str(&serde_json::json!({"file": name, "caption": v["caption"]}).to_string());
            lines.push('\n');
            names.push(name);
        }
    }
    std::fs::write(dir.join("captions.jsonl"), lines).unwrap();
    names
}

fn pipeline(dir: &Path, files_per_split: usize, extra: &str) -> PathBuf {
    let text = format!(
        r#"[pipeline]
name = "t"
seed = 7

[stages.photos]
kind = "image_folder"
path = "photos"
captions = "photos/captions.jsonl"
files_per_split = {files_per_split}

[stages.sized]
kind = "filter_images"
inputs = ["photos"]
min_side = 64
{extra}
[stages.samples]
kind = "caption_samples"
inputs = ["sized"]
source = "test"
"#
    );
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_json(args: &[&str]) -> Value {
    let out = run_weft(args, true);
    serde_json::from_slice(&out.stdout).expect("run --json prints JSON")
}

/// Every file under `dir` (relative path → bytes), temp files and markers' folders included.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn sample_ids(out: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for f in resolve_paths(&[out.display().to_string()]).unwrap() {
        for b in weft_shards::Shard::open(&f)
            .unwrap()
            .read(Some(&["id"]), 1024)
            .unwrap()
        {
            let b = b.unwrap();
            let col = arrow::array::AsArray::as_string::<i32>(b.column(0));
            ids.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
    }
    ids
}

fn manifest(out: &Path, stage: &str) -> Manifest {
    Manifest::read(&out.join(stage).join("manifest.json")).unwrap()
}

#[test]
fn example_pipeline_validates_and_loads_in_hf_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let example = repo_root().join("examples/captions/pipeline.toml");
    let plan = run_weft(&["plan", example.to_str().unwrap()], true);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("3 stages"));
    // Every pipeline crate's kinds are registered in the CLI.
    let kinds = run_weft(&["plan", "--kinds"], true);
    let kinds = String::from_utf8_lossy(&kinds.stdout);
    for kind in [
        "image_folder",
        "pdf_pages",
        "coco_objects",
        "caption_source",
        "video_source",
        "pass_rate_filter",
    ] {
        assert!(
            kinds.contains(kind),
            "`weft plan --kinds` lacks {kind}:\n{kinds}"
        );
    }
    let report = run_json(&[
        "run",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let samples = &report["stages"][2];
    assert_eq!(samples["stage"], "samples");
    assert_eq!(samples["counts"]["rows"], 6, "{report}");
    run_weft(&["shards", "validate", out.to_str().unwrap()], true);

    let seen = hf_datasets_check(&out, &tmp.path().join("hf"));
    assert_eq!(seen["rows"], 6);
    assert_eq!(seen["images"], 6);
    assert_eq!(seen["roles"], serde_json::json!(["assistant", "user"]));
    assert!(
        seen["sizes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!([512, 512]))
    );
}

#[test]
fn sigkill_at_any_point_then_rerun_gives_byte_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    make_photos(&tmp.path().join("photos"), 6);
    let p = pipeline(tmp.path(), 1, "");
    let reference = tmp.path().join("ref");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            reference.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );

    let out = tmp.path().join("killed");
    // Kill at ever later points (each attempt resumes the last) until a run finishes first:
    // that covers kills before, inside and between splits and stages.
    let mut killed = 0;
    for delay_ms in (1u64..).map(|i| i * i) {
        let mut child = weft()
            .args([
                "run",
                p.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
    }
    assert!(
        killed >= 3,
        "only {killed} kills landed; the test proves little"
    );
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );

    let (a, b) = (tree(&reference), tree(&out));
    let names = |t: &BTreeMap<String, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&a),
        names(&b),
        "killed-and-resumed run left different files"
    );
    for (k, v) in &a {
        assert!(b[k] == *v, "{k} differs after kill and resume");
    }
    assert_eq!(manifest(&out, "samples").counts.rows, 36);
}

#[test]
fn one_rank_and_four_ranks_give_the_same_rows_through_a_global_dedup() {
    let tmp = tempfile::tempdir().unwrap();
    make_photos(&tmp.path().join("photos"), 3); // every photo three times
    let p = tmp.path().join("dedup.toml");
    let text = std::fs::read_to_string(repo_root().join("examples/captions/dedup.toml"))
        .unwrap()
        .replace("../data/photos/captions.jsonl", "photos/captions.jsonl")
        .replace("../data/photos", "photos");
    std::fs::write(&p, text).unwrap();

    let one = tmp.path().join("one");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            one.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );
    let four = tmp.path().join("four");
    let handles: Vec<_> = (0..4)
        .map(|r| {
            weft()
                .args([
                    "run",
                    p.to_str().unwrap(),
                    "--out",
                    four.to_str().unwrap(),
                    "--quiet",
                    "--threads",
                    "1",
                ])
                .args([
                    "--rank",
                    &r.to_string(),
                    "--world-size",
                    "4",
                    "--wait-timeout",
                    "120",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for h in handles {
        let o = h.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    run_weft(&["merge", four.to_str().unwrap()], true);

    let (mut a, mut b) = (sample_ids(&one), sample_ids(&four));
    a.sort();
    b.sort();
    assert_eq!(a.len(), 6, "dedup keeps one of each photo");
    assert_eq!(a, b);
    // Four ranks wrote rank-tagged shards.
    let ranks: BTreeSet<u64> = manifest(&four, "photos")
        .shards
        .iter()
        .map(|s| s.rank)
        .collect();
    assert_eq!(ranks, BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(manifest(&four, "unique").counts.dropped["duplicate"], 12);
}

#[test]
fn accounting_adds_up_with_bad_records_and_quarantine_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let names = make_photos(&photos, 1);
    let jpeg = std::fs::read(photos_dir().join("rocket.jpg")).unwrap();
    std::fs::write(photos.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(photos.join("notes.png"), b"this is not a png").unwrap();
    image::RgbImage::new(8, 8)
        .save(photos.join("tiny.png"))
        .unwrap();
    let mut captions = std::fs::read_to_string(photos.join("captions.jsonl")).unwrap();
    for f in ["truncated.jpg", "notes.png", "tiny.png"] {
        captions.push_str(&serde_json::json!({"file": f, "caption": "x"}).to_string());
        captions.push('\n');
    }
    // One good photo loses its caption.
    captions = captions
        .lines()
        .filter(|l| !l.contains(&names[0]))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(photos.join("captions.jsonl"), captions).unwrap();

    let p = pipeline(tmp.path(), 3, "");
    let out = tmp.path().join("out");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );

    for stage in ["photos", "sized", "samples"] {
        let m = manifest(&out, stage);
        m.counts.check().unwrap_or_else(|e| panic!("{stage}: {e}"));
    }
    let photos_m = manifest(&out, "photos");
    assert_eq!(photos_m.counts.input, 9);
    assert_eq!(
        photos_m.counts.quarantined_total(),
        2,
        "{:?}",
        photos_m.counts
    );
    assert_eq!(manifest(&out, "sized").counts.dropped["too_small"], 1);
    let samples_m = manifest(&out, "samples");
    assert_eq!(samples_m.counts.dropped["no_caption"], 1);
    assert_eq!(samples_m.counts.rows, 5);
    // Every input file is written, dropped or quarantined: 5 + 1 + 1 + 2 = 9.
    let accounted = samples_m.counts.rows
        + samples_m.counts.dropped_total()
        + manifest(&out, "sized").counts.dropped_total()
        + photos_m.counts.quarantined_total();
    assert_eq!(accounted, 9);

    let mut quarantined = BTreeMap::new();
    for q in &photos_m.quarantine {
        for b in weft_shards::reader::read_all(&out.join("photos").join(q)).unwrap() {
            let col = |n: &str| {
                arrow::array::AsArray::as_string::<i32>(b.column_by_name(n).unwrap()).clone()
            };
            let (src, reason) = (col("source"), col("reason"));
            for i in 0..b.num_rows() {
                let file = Path::new(src.value(i))
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                quarantined.insert(file, reason.value(i).to_string());
            }
        }
    }
    assert_eq!(quarantined["truncated.jpg"], "undecodable");
    assert_eq!(quarantined["notes.png"], "unknown_format");
}

#[test]
fn unchanged_stages_are_cached_and_a_config_change_reruns_downstream_only() {
    let tmp = tempfile::tempdir().unwrap();
    make_photos(&tmp.path().join("photos"), 1);
    let out = tmp.path().join("out");
    let p = pipeline(tmp.path(), 2, "");
    let status = |r: &Value| -> Vec<String> {
        r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_string())
            .collect()
    };
    let first = run_json(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(status(&first), ["ran", "ran", "ran"]);
    let again = run_json(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(status(&again), ["cached", "cached", "cached"]);
    let p = pipeline(tmp.path(), 2, "max_side = 500\n");
    let changed = run_json(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(status(&changed), ["cached", "ran", "ran"]);
    assert_eq!(
        changed["stages"][1]["counts"]["dropped"]["too_large"],
        4, // 512, 512, 600, 640 px
        "{changed}"
    );
}

#[test]
fn a_stage_that_fails_as_a_whole_stops_the_run_and_leaves_completed_shards() {
    let tmp = tempfile::tempdir().unwrap();
    make_photos(&tmp.path().join("photos"), 1);
    let out = tmp.path().join("out");
    let p = pipeline(tmp.path(), 2, "");
    run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        true,
    );
    let photos_before = manifest(&out, "photos");
    // Damage one committed input shard, then force the next stage to rerun.
    let victim = out.join("photos").join(&photos_before.shards[1].file);
    std::fs::write(&victim, b"garbage").unwrap();
    let p = pipeline(tmp.path(), 2, "max_side = 5000\n");
    let started = Instant::now();
    let failed = run_weft(
        &[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        false,
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("stage `sized`") && err.contains(&photos_before.shards[1].file),
        "{err}"
    );
    // The completed upstream stage is untouched and its other shards still match the manifest.
    assert_eq!(manifest(&out, "photos"), photos_before);
    let first = std::fs::read(out.join("photos").join(&photos_before.shards[0].file)).unwrap();
    assert_eq!(first.len() as u64, photos_before.shards[0].bytes);
}
