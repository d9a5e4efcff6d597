//! The OCR pipeline end to end on the bundled real PDFs plus broken copies made here: every
//! file and page is accounted for, all five sample kinds are written and valid, text matches
//! poppler's `pdftotext`, scans are detected, doc_parse boxes lie on the page and long-document
//! answers are right.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use weft_pipeline_ocr::quality::{collapse_whitespace, text_similarity};
use weft_shards::{Content, Manifest, Sample, resolve_paths};

use crate::common::{hf_datasets_check, repo_root, run_weft};

struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    inputs: usize,
}

/// One pipeline run shared by the tests below (it takes tens of seconds in a debug build).
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("pdfs");
        std::fs::create_dir_all(input.join("broken")).unwrap();
        let samples = repo_root().join("pipelines/ocr/samples");
        let mut inputs = 0;
        for e in std::fs::read_dir(&samples).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pdf") {
                std::fs::copy(&p, input.join(p.file_name().unwrap())).unwrap();
                inputs += 1;
            }
        }
        let paper = std::fs::read(samples.join("pdflatex-outline.pdf")).unwrap();
        std::fs::write(
            input.join("broken/truncated.pdf"),
            &paper[..paper.len() / 4],
        )
        .unwrap();
        std::fs::write(
            input.join("broken/not-a.pdf"),
            b"Dear reader, this is plain text.\n",
        )
        .unwrap();
        std::fs::write(input.join("broken/empty.pdf"), b"").unwrap();
        // A byte-identical copy under another path: a second document whose pages the
        // near-duplicate phase must collapse.
        std::fs::create_dir_all(input.join("again")).unwrap();
        std::fs::write(input.join("again/pdflatex-outline.pdf"), &paper).unwrap();
        inputs += 4;
        let out = tmp.path().join("out");
        let pipeline = repo_root().join("pipelines/ocr/pipeline.toml");
        let set = format!("pages.path={}", input.display());
        run_weft(
            &[
                "run",
                pipeline.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--set",
                &set,
                "--quiet",
            ],
            true,
        );
        Run {
            _tmp: tmp,
            out,
            inputs,
        }
    })
}

fn manifest(stage: &str) -> Manifest {
    Manifest::read(&run().out.join(stage).join("manifest.json")).unwrap()
}

fn samples(stage: &str) -> Vec<Sample> {
    crate::common::stage_samples(&run().out, stage)
}

fn text(sample: &Sample, role: &str) -> String {
    sample
        .messages
        .iter()
        .filter(|m| m.role == role)
        .flat_map(|m| &m.content)
        .filter_map(|c| match c {
            Content::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn meta_str<'a>(s: &'a Sample, key: &str) -> &'a str {
    s.meta[key].as_str().unwrap()
}

#[test]
fn every_file_and_page_is_written_dropped_or_quarantined() {
    let pages = manifest("pages");
    assert_eq!(pages.counts.input as usize, run().inputs);
    for stage in [
        "pages",
        "usable",
        "page_groups",
        "unique_pages",
        "ocr",
        "doc_parse",
        "long_doc",
        "interleaved",
        "ocr_synth",
    ] {
        manifest(stage)
            .counts
            .check()
            .unwrap_or_else(|e| panic!("{stage}: {e}"));
    }
    let q = &pages.counts.quarantined;
    assert_eq!(q.get("not_pdf").copied().unwrap_or(0), 2, "{q:?}"); // text file and empty file
    assert_eq!(q.get("encrypted").copied().unwrap_or(0), 1, "{q:?}");
    assert_eq!(
        q.get("corrupt").copied().unwrap_or(0) + q.get("no_pages").copied().unwrap_or(0),
        1,
        "{q:?}"
    );
    // Every page row of the opened files reaches page_filter.
    assert_eq!(manifest("usable").counts.input, pages.counts.rows);
    // The copied paper's 4 pages are near-duplicates of the original's.
    assert!(
        manifest("unique_pages").counts.dropped["duplicate"] >= 4,
        "{:?}",
        manifest("unique_pages").counts
    );
    // The scans need OCR: linn and epson have no text layer, Vicksburg's pages carry an
    // invisible OCR layer; born-digital pages do not.
    assert!(manifest("usable").counts.dropped["needs_ocr"] >= 8);
    let mut verdicts: BTreeMap<String, Option<String>> = BTreeMap::new();
    for f in resolve_paths(&[run().out.join("pages").display().to_string()]).unwrap() {
        for b in weft_shards::reader::read_all(&f).unwrap() {
            for row in weft_pipeline_ocr::stages::page_schema::pages_from_batch(&b).unwrap() {
                assert_eq!(row.needs_ocr, row.quality.is_some());
                verdicts.insert(format!("{}#{}", row.doc_path, row.page + 1), row.quality);
            }
        }
    }
    assert_eq!(verdicts["linn.pdf#1"].as_deref(), Some("no_text_layer"));
    assert_eq!(verdicts["epson.pdf#1"].as_deref(), Some("no_text_layer"));
    assert!((1..=6).all(
        |p| verdicts[&format!("Seige_of_Vicksburg_Sample_OCR.pdf#{p}")].as_deref()
            == Some("ocr_layer")
    ));
    assert_eq!(verdicts["pdflatex-outline.pdf#1"], None);
    assert_eq!(verdicts["multilang.pdf#1"], None);
}

#[test]
fn all_five_sample_kinds_are_written_and_validate() {
    for (stage, task) in [
        ("ocr", "ocr"),
        ("doc_parse", "doc_parse"),
        ("long_doc", "long_doc"),
        ("interleaved", "interleaved"),
        ("ocr_synth", "ocr_synth"),
    ] {
        let s = samples(stage);
        assert!(!s.is_empty(), "no {task} samples");
        assert!(s.iter().all(|x| x.task == task));
    }
    run_weft(&["shards", "validate", run().out.to_str().unwrap()], true);
    let scripts: std::collections::BTreeSet<String> = samples("ocr_synth")
        .iter()
        .map(|s| meta_str(s, "script").to_string())
        .collect();
    assert_eq!(
        scripts.into_iter().collect::<Vec<_>>(),
        ["arabic", "cjk", "cyrillic", "latin"]
    );
}

#[test]
fn page_text_matches_pdftotext() {
    let ocr = samples("ocr");
    let mut checked = 0;
    for s in &ocr {
        let (path, page) = (meta_str(s, "doc_path"), s.meta["page"].as_u64().unwrap());
        let doc = path.rsplit('/').next().unwrap(); // the paper may be kept as its copy
        if !doc.starts_with("pdflatex-outline") && !doc.starts_with("GeoBase") || page > 4 {
            continue;
        }
        let pdf = repo_root().join("pipelines/ocr/samples").join(doc);
        let p = page.to_string();
        let reference = std::process::Command::new("pdftotext")
            .args(["-f", &p, "-l", &p, pdf.to_str().unwrap(), "-"])
            .output()
            .expect("pdftotext (poppler-utils) is installed by scripts/setup.sh");
        let reference = String::from_utf8_lossy(&reference.stdout);
        let sim = text_similarity(&text(s, "assistant"), &reference);
        assert!(sim >= 0.95, "{doc} page {page}: similarity {sim:.3}");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} pages compared");
}

#[test]
fn doc_parse_boxes_lie_inside_the_page() {
    let mut boxes = 0;
    for s in samples("doc_parse") {
        let html = text(&s, "assistant");
        for part in html.split("data-bbox=\"").skip(1) {
            let nums: Vec<u32> = part[..part.find('"').unwrap()]
                .split(' ')
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(nums.len(), 4);
            assert!(
                nums.iter().all(|n| *n <= 1000) && nums[0] <= nums[2] && nums[1] <= nums[3],
                "{nums:?} in {html}"
            );
            boxes += 1;
        }
    }
    assert!(boxes > 50, "{boxes}");
}

#[test]
fn long_doc_answers_are_computed_from_the_pages() {
    // Page texts by (doc, page) from the OCR samples.
    let mut page_text: BTreeMap<(String, u64), String> = BTreeMap::new();
    for s in samples("ocr") {
        page_text.insert(
            (
                meta_str(&s, "doc_path").to_string(),
                s.meta["page"].as_u64().unwrap(),
            ),
            text(&s, "assistant"),
        );
    }
    let mut checked = 0;
    for s in samples("long_doc") {
        let doc = meta_str(&s, "doc_path").to_string();
        let first = s.meta["pages"][0].as_u64().unwrap();
        let n = s.images.len() as u64;
        assert_eq!(
            s.meta["pages"][1].as_u64().unwrap() - first + 1,
            n,
            "pages are consecutive"
        );
        assert!(
            s.meta["vision_tokens"].as_u64().unwrap() <= s.meta["budget_tokens"].as_u64().unwrap()
        );
        let turns: Vec<(String, String)> = s
            .messages
            .chunks(2)
            .map(|m| {
                (
                    text(
                        &Sample {
                            messages: vec![m[0].clone()],
                            ..s.clone()
                        },
                        "user",
                    ),
                    text(
                        &Sample {
                            messages: vec![m[1].clone()],
                            ..s.clone()
                        },
                        "assistant",
                    ),
                )
            })
            .collect();
        for (q, a) in turns {
            if let Some(rest) = q.split("first sentence on page ").nth(1) {
                let k: u64 = rest.trim_end_matches('?').parse().unwrap();
                let page = collapse_whitespace(&page_text[&(doc.clone(), first + k - 1)]);
                assert!(
                    page.starts_with(&collapse_whitespace(&a)),
                    "{a:?} does not open page {k}: {page:.80}"
                );
                checked += 1;
            } else if let Some(rest) = q.split("section titled \"").nth(1) {
                let title = &rest[..rest.find('"').unwrap()];
                let k: u64 = a
                    .trim_start_matches("Page ")
                    .trim_end_matches('.')
                    .parse()
                    .unwrap();
                assert!(k >= 1 && k <= n);
                let page = collapse_whitespace(&page_text[&(doc.clone(), first + k - 1)]);
                assert!(page.contains(title), "heading {title:?} not on page {k}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "{checked}");
}

#[test]
fn ocr_shards_load_in_hf_datasets() {
    let seen = hf_datasets_check(&run().out, &run().out.join("hf"));
    assert_eq!(
        seen["tasks"],
        serde_json::json!(["doc_parse", "interleaved", "long_doc", "ocr", "ocr_synth"])
    );
}

/// With a model configured, pages without a trustworthy text layer are transcribed by it instead
/// of dropped: the OCR sample's answer is exactly what `weft infer` says about that page image,
/// the model is recorded in `meta`, and no doc_parse boxes are made from the untrusted layer.
#[test]
fn needs_ocr_pages_are_transcribed_by_a_configured_model() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pdfs");
    std::fs::create_dir_all(&input).unwrap();
    let scan = "Seige_of_Vicksburg_Sample_OCR.pdf";
    std::fs::copy(
        repo_root().join("pipelines/ocr/samples").join(scan),
        input.join(scan),
    )
    .unwrap();
    let model = repo_root().join("inference/tests/fixtures/parity/two_images/model");
    let out = tmp.path().join("out");
    let pipeline = repo_root().join("pipelines/ocr/pipeline.toml");
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            "run",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            &format!("pages.path={}", input.display()),
            "--set",
            &format!("usable.model={}", model.display()),
            "--set",
            "usable.max_new_tokens=8",
            "--set",
            "ocr_synth.lines_per_script=1",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a: Vec<String> = args(&out);
    run_weft(&a.iter().map(String::as_str).collect::<Vec<_>>(), true);

    let usable = Manifest::read(&out.join("usable/manifest.json")).unwrap();
    assert!(
        !usable.counts.dropped.contains_key("needs_ocr"),
        "{:?}",
        usable.counts
    );
    let read = |stage: &str| crate::common::stage_samples(&out, stage);
    let ocr = read("ocr");
    assert!(!ocr.is_empty());
    let transcribed: Vec<&Sample> = ocr
        .iter()
        .filter(|s| s.meta.get("transcribed_by").is_some())
        .collect();
    assert!(
        !transcribed.is_empty(),
        "no page of the scan was transcribed"
    );
    assert!(
        read("doc_parse")
            .iter()
            .all(|s| s.meta.get("transcribed_by").is_none()),
        "doc_parse boxes from an untrusted layer"
    );

    // The answer equals the model's own answer to the same image and prompt.
    let s = transcribed[0];
    let page = tmp.path().join("page.img");
    std::fs::write(&page, &s.images[0].bytes).unwrap();
    let infer = run_weft(
        &[
            "infer",
            "--model",
            model.to_str().unwrap(),
            "--image",
            page.to_str().unwrap(),
            "--prompt",
            "Read all the text in the image.",
            "--max-new-tokens",
            "8",
            "--json",
        ],
        true,
    );
    let v: serde_json::Value = serde_json::from_slice(&infer.stdout).unwrap();
    assert_eq!(
        text(s, "assistant"),
        v["completions"][0]["text"].as_str().unwrap().trim()
    );
    assert_eq!(meta_str(s, "transcribed_by"), v["model"].as_str().unwrap());
}
