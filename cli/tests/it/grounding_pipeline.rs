//! The grounding pipeline end to end through `weft run`: on the bundled fixture photos (hand
//! annotated, committed), on Debian's labelme-examples (real VOC photos with a labelme COCO
//! export, installed by scripts/setup.sh), and on broken copies made here. Every annotation
//! entry is accounted for, all seven sample kinds are written and valid, every answer parses
//! back to the annotations' boxes, reruns are byte-identical, and the shards load in HF
//! `datasets`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use weft_pipeline_grounding::convention::{Convention, Geom, ResizeParams};
use weft_shards::{Content, Manifest, Sample, resolve_paths};

use crate::common::{hf_datasets_check, repo_root, run_weft};

const KINDS: [&str; 7] = [
    "ref_grounding",
    "multi_grounding",
    "point_grounding",
    "counting",
    "box_counting",
    "point_counting",
    "spatial",
];

fn pipeline() -> PathBuf {
    repo_root().join("pipelines/grounding/pipeline.toml")
}

fn labelme() -> PathBuf {
    let dir = PathBuf::from(
        "/usr/share/doc/labelme-examples/examples/instance_segmentation/data_dataset_coco",
    );
    assert!(
        dir.join("annotations.json").is_file(),
        "{} missing: run `just setup` (scripts/setup.sh installs Debian's labelme-examples)",
        dir.display()
    );
    dir
}

/// `weft run` of the grounding pipeline with overrides into `out`.
fn run_into(out: &Path, sets: &[String]) {
    let mut args = vec![
        "run".to_string(),
        pipeline().display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    for s in sets {
        args.push("--set".into());
        args.push(s.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_weft(&refs, true);
}

fn set_inputs(annotations: &Path, images: &Path) -> Vec<String> {
    vec![
        format!("objects.annotations=\"{}\"", annotations.display()),
        format!("objects.images=\"{}\"", images.display()),
    ]
}

struct Runs {
    _tmp: tempfile::TempDir,
    fixture: PathBuf,
    fixture_again: PathBuf,
    labelme: PathBuf,
}

/// The runs shared by the tests below.
fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let fixture = tmp.path().join("fixture");
        run_into(&fixture, &[]);
        // The same inputs from a copy elsewhere, run as two concurrent ranks: the same bytes.
        let copy = tmp.path().join("copy");
        std::fs::create_dir_all(copy.join("images")).unwrap();
        let fx = repo_root().join("pipelines/grounding/fixtures");
        std::fs::copy(fx.join("annotations.json"), copy.join("annotations.json")).unwrap();
        for f in ["coins.png", "coffee.png", "chelsea.png"] {
            std::fs::copy(fx.join("images").join(f), copy.join("images").join(f)).unwrap();
        }
        let fixture_again = tmp.path().join("again");
        let sets = set_inputs(&copy.join("annotations.json"), &copy.join("images"));
        let handles: Vec<_> = ["0", "1"]
            .into_iter()
            .map(|rank| {
                let mut cmd = crate::common::weft();
                cmd.args([
                    "run",
                    pipeline().to_str().unwrap(),
                    "--out",
                    fixture_again.to_str().unwrap(),
                    "--quiet",
                    "--rank",
                    rank,
                    "--world-size",
                    "2",
                ]);
                for s in &sets {
                    cmd.args(["--set", s]);
                }
                cmd.stdout(std::process::Stdio::null()).spawn().unwrap()
            })
            .collect();
        for mut h in handles {
            assert!(h.wait().unwrap().success());
        }
        let lm = labelme();
        let labelme_out = tmp.path().join("labelme");
        run_into(&labelme_out, &set_inputs(&lm.join("annotations.json"), &lm));
        Runs {
            _tmp: tmp,
            fixture,
            fixture_again,
            labelme: labelme_out,
        }
    })
}

fn manifest(out: &Path, stage: &str) -> Manifest {
    Manifest::read(&out.join(stage).join("manifest.json")).unwrap()
}

fn samples(out: &Path, stage: &str) -> Vec<Sample> {
    crate::common::stage_samples(out, stage)
}

/// (question, answer) pairs of a sample.
fn turns(s: &Sample) -> Vec<(String, String)> {
    let texts: Vec<String> = s
        .messages
        .iter()
        .map(|m| {
            m.content
                .iter()
                .filter_map(|c| match c {
                    Content::Text { text } => Some(text.clone()),
                    _ => None,
                })
                .collect::<String>()
        })
        .collect();
    texts
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

#[test]
fn every_annotation_entry_is_accounted_and_all_kinds_validate() {
    let out = &runs().fixture;
    let objects = manifest(out, "objects");
    // 3 image entries + 31 annotations, all usable.
    assert_eq!(
        (
            objects.counts.input,
            objects.counts.out,
            objects.counts.rows
        ),
        (34, 34, 3)
    );
    for stage in std::iter::once("objects").chain(KINDS) {
        manifest(out, stage)
            .counts
            .check()
            .unwrap_or_else(|e| panic!("{stage}: {e}"));
    }
    for kind in KINDS {
        let s = samples(out, kind);
        assert!(!s.is_empty(), "no {kind} samples");
        assert!(
            s.iter()
                .all(|x| x.task == kind && x.meta["convention"] == "qwen3")
        );
    }
    // Coins hold no object unique in its category: no spatial or category-expression question.
    assert_eq!(
        manifest(out, "spatial").counts.dropped["no_unique_objects"],
        1
    );
    run_weft(&["shards", "validate", out.to_str().unwrap()], true);
}

#[test]
fn same_inputs_and_seed_give_the_same_bytes_from_any_place_and_rank_count() {
    let digest = |out: &Path| -> BTreeMap<String, Vec<String>> {
        KINDS
            .iter()
            .map(|k| {
                let mut shas: Vec<String> = manifest(out, k)
                    .shards
                    .iter()
                    .map(|s| s.sha256.clone())
                    .collect();
                shas.sort();
                (k.to_string(), shas)
            })
            .collect()
    };
    assert_eq!(digest(&runs().fixture), digest(&runs().fixture_again));
}

/// Every answer of every kind parses in its convention and matches the annotations: counts
/// equal the image's annotations of the category, boxes decode to the COCO boxes within one
/// unit (labelme's real photos, by annotation id).
#[test]
fn answers_parse_and_match_the_labelme_annotations() {
    let lm: serde_json::Value =
        serde_json::from_slice(&std::fs::read(labelme().join("annotations.json")).unwrap())
            .unwrap();
    let mut boxes: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    let mut per_image: BTreeMap<(String, String), usize> = BTreeMap::new();
    let cats: BTreeMap<i64, String> = lm["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for a in lm["annotations"].as_array().unwrap() {
        let b: Vec<f64> = a["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        boxes.insert(a["id"].to_string(), [b[0], b[1], b[0] + b[2], b[1] + b[3]]);
        let cat = cats[&a["category_id"].as_i64().unwrap()].clone();
        *per_image
            .entry((a["image_id"].to_string(), cat))
            .or_default() += 1;
    }
    let mut checked = 0;
    for kind in KINDS {
        for s in samples(&runs().labelme, kind) {
            let (w, h) = (
                s.meta["annotated_size"][0].as_u64().unwrap() as u32,
                s.meta["annotated_size"][1].as_u64().unwrap() as u32,
            );
            let space = Convention::Qwen3.space((w, h), (w, h)).unwrap();
            let image_id = s.meta["image_id"].as_str().unwrap().to_string();
            for ((_, answer), q) in turns(&s)
                .iter()
                .zip(s.meta["questions"].as_array().unwrap())
            {
                if let Some(n) = q["count"].as_u64()
                    && kind != "ref_grounding"
                {
                    let cat = q["category"].as_str().unwrap().to_string();
                    let want = per_image
                        .get(&(image_id.clone(), cat))
                        .copied()
                        .unwrap_or(0);
                    assert_eq!(n as usize, want, "{kind}: {answer}");
                }
                if kind == "counting" || (kind == "spatial" && q["relation"] != "nearest") {
                    continue;
                }
                let items = Convention::Qwen3.parse_listing(answer).unwrap();
                let ids: Vec<&str> = q["annotation_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                for (item, id) in items.iter().zip(&ids) {
                    let Geom::Box(b) = item.geom else { continue };
                    let want = boxes[*id];
                    let (ux, uy) = space.unit();
                    for (v, px, u, is_x) in [
                        (b[0], want[0], ux, true),
                        (b[1], want[1], uy, false),
                        (b[2], want[2], ux, true),
                        (b[3], want[3], uy, false),
                    ] {
                        let back = if is_x {
                            space.x_to_pixels(v)
                        } else {
                            space.y_to_pixels(v)
                        };
                        assert!(
                            (back - px).abs() <= u,
                            "{kind} annotation {id}: {v} → {back} vs {px}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 15, "{checked} boxes checked");
}

/// The labelme photo 2011_000003 (500×338), person id 0 at COCO [191, 107, 123, 221]: the
/// numbers each convention must write, computed with Qwen's Python formulas.
#[test]
fn conventions_are_switched_per_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let lm = labelme();
    let mut sets = set_inputs(&lm.join("annotations.json"), &lm);
    sets.push("multi_grounding.convention=\"qwen2.5\"".into());
    sets.push("box_counting.convention=\"qwen2\"".into());
    sets.push("multi_grounding.turns=3".into());
    sets.push("box_counting.turns=3".into());
    run_into(tmp.path(), &sets);
    let find = |kind: &str| -> String {
        samples(tmp.path(), kind)
            .iter()
            .flat_map(turns)
            .map(|(_, a)| a)
            .find(|a| a.contains("person"))
            .unwrap_or_else(|| panic!("no person answer in {kind}"))
    };
    let q25 = find("multi_grounding");
    // smart_resize(338, 500) = 336 × 504: round(191·504/500) = 193, round(107·336/338) = 106 …
    assert!(
        q25.contains("{\"bbox_2d\": [193, 106, 317, 326], \"label\": \"person\"}"),
        "{q25}"
    );
    let parsed = Convention::Qwen25(ResizeParams::default())
        .parse_listing(&q25)
        .unwrap();
    assert!(!parsed.is_empty());
    let q2 = find("box_counting");
    assert!(q2.contains("<|object_ref_start|>person<|object_ref_end|><|box_start|>(382,317),(628,970)<|box_end|>"), "{q2}");
    for s in samples(tmp.path(), "multi_grounding") {
        assert_eq!(s.meta["convention"], "qwen2.5");
        assert_eq!(s.meta["coordinates"], "absolute_smart_resized");
    }
}

#[test]
fn rendering_through_the_chat_template_shows_question_and_answer() {
    let out = runs().fixture.join("box_counting");
    let first = &samples(&runs().fixture, "box_counting")[0];
    let (question, answer) = turns(first)[0].clone();
    let text = run_weft(
        &["shards", "render", out.to_str().unwrap(), "--row", "0"],
        true,
    )
    .stdout;
    let text = String::from_utf8(text).unwrap();
    let expected = format!(
        "<|im_start|>user\n<|vision_start|><|image_pad|>×{}<|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n",
        weft_shards::vision::VisionParams::default()
            .image_tokens(first.images[0].width, first.images[0].height)
            .unwrap()
    );
    assert!(text.contains(&expected), "expected\n{expected}\nin\n{text}");
}

/// Broken annotation files and images: each bad entry quarantined with its reason, the rest
/// of the run unaffected, the counts adding up.
#[test]
fn bad_input_is_quarantined_with_reasons_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = repo_root().join("pipelines/grounding/fixtures");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("images")).unwrap();
    for f in ["coins.png", "coffee.png", "chelsea.png"] {
        std::fs::copy(fx.join("images").join(f), data.join("images").join(f)).unwrap();
    }
    let coffee = std::fs::read(fx.join("images/coffee.png")).unwrap();
    std::fs::write(data.join("images/cut.png"), &coffee[..coffee.len() / 3]).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("annotations.json")).unwrap()).unwrap();
    let images = doc["images"].as_array_mut().unwrap();
    images.push(serde_json::json!({"id": 4, "file_name": "gone.png", "width": 10, "height": 10}));
    images.push(serde_json::json!({"id": 5, "file_name": "cut.png", "width": 600, "height": 400}));
    images.push(serde_json::json!({"id": 6, "width": 600, "height": 400}));
    let anns = doc["annotations"].as_array_mut().unwrap();
    anns[0]["iscrowd"] = 1.into(); // a crowd coin: no counting or listing of coins
    anns[1].as_object_mut().unwrap().remove("bbox");
    anns[2]["image_id"] = 99.into();
    anns[3]["bbox"] = serde_json::json!([-50, 10, 20, 20]); // entirely left of the image
    anns[4]["bbox"] = serde_json::json!([10, 10, -4, 20]);
    anns[5]["bbox"] = serde_json::json!([370, 10, 40, 20]); // partly outside: clipped
    anns[6]["bbox"] = serde_json::json!([10, 10, 0.5, 20]);
    anns.push(
        serde_json::json!({"id": 100, "image_id": 4, "category_id": 1, "bbox": [1, 1, 2, 2]}),
    );
    let text = serde_json::to_string_pretty(&doc).unwrap();
    // One NaN as Python's json.dump writes it, in coin 8's box.
    let text = {
        let i = text.find("\"id\": 8,").unwrap();
        let j = i + text[i..].find("\"bbox\": [").unwrap() + "\"bbox\": [".len();
        let k = j + text[j..].find(',').unwrap();
        format!("{}NaN{}", &text[..j], &text[k..])
    };
    std::fs::write(data.join("annotations.json"), &text).unwrap();
    std::fs::write(data.join("truncated.json"), &text[..text.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let mut sets = set_inputs(&data, &data.join("images"));
    sets.push("objects.splits_per_file=2".into());
    run_into(&out, &sets);
    let objects = manifest(&out, "objects");
    objects.counts.check().unwrap();
    let q = &objects.counts.quarantined;
    let expect = [
        ("bad_annotation_file", 1),
        ("box_outside_image", 1),
        ("corrupt_image", 1),
        ("missing_field", 2), // no bbox; image without file_name
        ("missing_image", 1),
        ("negative_size", 1),
        ("non_finite_coordinate", 1),
        ("unknown_image", 1),
    ];
    assert_eq!(
        q.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
        expect,
        "{:?}",
        objects.counts
    );
    assert_eq!(objects.counts.dropped["degenerate_box"], 1);
    assert_eq!(objects.counts.dropped["image_quarantined"], 1);
    // in = 6 images + 32 annotations of the good file + 1 truncated file.
    assert_eq!(objects.counts.input, 6 + 32 + 1);
    // The quarantine table names the file and the reason.
    let mut reasons = Vec::new();
    for f in
        resolve_paths(&[out.join("objects/quarantine").display().to_string()]).unwrap_or_default()
    {
        for b in weft_shards::reader::read_all(&f).unwrap() {
            let src = b.column_by_name("source").unwrap();
            let err = b.column_by_name("error").unwrap();
            let (src, err) = (
                arrow::array::AsArray::as_string::<i32>(src.as_ref()),
                arrow::array::AsArray::as_string::<i32>(err.as_ref()),
            );
            for i in 0..b.num_rows() {
                reasons.push(format!("{} | {}", src.value(i), err.value(i)));
            }
        }
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("truncated.json") && r.contains("line")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("annotations.json#annotation=") && r.contains("NaN")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("gone.png")),
        "{reasons:?}"
    );
    // The crowd coin keeps coins out of counting; the other photos still count.
    let counted: Vec<String> = samples(&out, "counting")
        .iter()
        .flat_map(|s| s.meta["questions"].as_array().unwrap().clone())
        .map(|q| q["category"].as_str().unwrap().to_string())
        .collect();
    assert!(!counted.contains(&"coin".to_string()), "{counted:?}");
    assert!(!counted.is_empty());
    for kind in KINDS {
        manifest(&out, kind).counts.check().unwrap();
    }
    run_weft(&["shards", "validate", out.to_str().unwrap()], true);
}

#[test]
fn refcoco_and_pixmo_layouts_run_on_their_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, stages) in [
        ("refcoco.toml", vec!["refs", "ref_grounding"]),
        (
            "pixmo.toml",
            vec!["points", "point_grounding", "point_counting", "counting"],
        ),
    ] {
        let out = tmp.path().join(file);
        let p = repo_root().join("pipelines/grounding").join(file);
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
        for s in &stages {
            manifest(&out, s).counts.check().unwrap();
        }
        run_weft(&["shards", "validate", out.to_str().unwrap()], true);
    }
    let refs = manifest(&tmp.path().join("refcoco.toml"), "refs");
    // 13 expressions: one duplicate collapsed, "an eye" names both eyes.
    assert_eq!(refs.counts.input, 13);
    assert_eq!(refs.counts.dropped["duplicate_expression"], 1);
    assert_eq!(refs.counts.dropped["ambiguous_expression"], 2);
    let counts: BTreeMap<String, u64> = samples(&tmp.path().join("pixmo.toml"), "point_counting")
        .iter()
        .flat_map(|s| s.meta["questions"].as_array().unwrap().clone())
        .map(|q| {
            (
                q["category"].as_str().unwrap().to_string(),
                q["count"].as_u64().unwrap(),
            )
        })
        .collect();
    for (label, n) in [("coins", 24), ("cat eyes", 2)] {
        if let Some(got) = counts.get(label) {
            assert_eq!(*got, n, "{label}");
        }
    }
    assert!(!counts.is_empty());
}

#[test]
fn grounding_shards_load_in_hf_datasets() {
    let seen = hf_datasets_check(&runs().fixture, &runs().fixture.join("hf"));
    let mut kinds: Vec<&str> = KINDS.to_vec();
    kinds.sort();
    assert_eq!(seen["tasks"], serde_json::json!(kinds));
}
