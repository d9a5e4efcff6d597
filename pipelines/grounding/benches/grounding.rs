//! Grounding benchmark (`just bench-grounding`): samples per second for a 100k-annotation
//! COCO-style file on 2 threads, and peak memory against the number of annotations.
//!
//! The input is made of real data: every image entry is the bundled `coins.png` (384×303
//! PNG, 76 KB, stored unchanged: it needs no resize) with the photo's real annotations and
//! polygons, repeated under new ids until the file holds the wanted number of annotations.
//! The pipeline is the bundled one (object table + all seven sample kinds) run in-process
//! through the engine, as `weft run` does. Peak memory (`VmHWM`) is measured in a fresh child
//! process per size: streaming the file into the reader's index alone (up to 1M annotations);
//! then the object table and the counting stage, two ways: (a) 24 annotations per image, so
//! the number of images (and image bytes in flight) grows too; (b) 1000 images with more
//! annotations each.
//!
//! Usage: `cargo bench -p weft-pipeline-grounding --bench grounding [-- ANNOTATIONS...]`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use weft_engine::pipeline_file::PipelineFile;
use weft_engine::{Plan, Registry, RunOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Writes a COCO file of `n` annotations (coins.png repeated) into `dir`: the photo's 24
/// annotations per image entry, or `per_image` of them (cycling through the 24) when given.
fn make_input(dir: &Path, n: usize, per_image: Option<usize>) -> PathBuf {
    let src: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("annotations.json")).unwrap())
            .unwrap();
    let coins: Vec<&Value> = src["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["image_id"] == 1)
        .collect();
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::copy(
        fixtures().join("images/coins.png"),
        dir.join("images/coins.png"),
    )
    .unwrap();
    let mut images = Vec::new();
    let mut anns = Vec::new();
    let mut image_id = 0;
    while anns.len() < n {
        image_id += 1;
        images.push(json!({"id": image_id, "file_name": "coins.png", "width": 384, "height": 303}));
        for k in 0..per_image.unwrap_or(coins.len()) {
            if anns.len() == n {
                break;
            }
            let mut a = coins[k % coins.len()].clone();
            a["id"] = json!(anns.len() + 1);
            a["image_id"] = json!(image_id);
            anns.push(a);
        }
    }
    let doc = json!({"images": images, "annotations": anns, "categories": src["categories"]});
    let path = dir.join("annotations.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    weft_pipeline_grounding::register(&mut r);
    r
}

/// Runs the bundled pipeline (only `stages` when not empty) on `input`; returns
/// (samples written, seconds).
fn run(input: &Path, out: &Path, stages: &[&str]) -> (u64, f64) {
    let mut pf = PipelineFile::load(&fixtures().join("../pipeline.toml")).unwrap();
    pf.set(&format!("objects.annotations=\"{}\"", input.display()))
        .unwrap();
    pf.set(&format!(
        "objects.images=\"{}\"",
        input.parent().unwrap().join("images").display()
    ))
    .unwrap();
    let plan = Plan::build(pf, &registry()).unwrap();
    let mut opts = RunOptions::new(out);
    opts.only = stages.iter().map(|s| s.to_string()).collect();
    let t = Instant::now();
    let report = weft_engine::run::run(&plan, &opts).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let samples = report
        .stages
        .iter()
        .filter(|s| s.stage != "objects")
        .map(|s| s.counts.rows)
        .sum();
    (samples, secs)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .unwrap();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    // Child mode: `--index INPUT` only streams the file into the reader's index.
    if args.first().map(String::as_str) == Some("--index") {
        let t = Instant::now();
        let index =
            weft_pipeline_grounding::readers::coco::CocoIndex::load(Path::new(&args[1])).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!("{} {secs} {}", index.annotation_count(), peak_rss_kb());
        return;
    }
    // Child mode: `--child INPUT OUT` runs the object table and one sample kind.
    if args.first().map(String::as_str) == Some("--child") {
        let (samples, secs) = run(
            Path::new(&args[1]),
            Path::new(&args[2]),
            &["objects", "counting"],
        );
        println!("{samples} {secs} {}", peak_rss_kb());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let main_n = 100_000;
    println!("grounding benchmark, 2 rayon threads, coins.png (384×303 PNG, stored unchanged)");

    let dir = tmp.path().join(format!("n{main_n}"));
    let input = make_input(&dir, main_n, None);
    let t = Instant::now();
    let index = weft_pipeline_grounding::readers::coco::CocoIndex::load(&input).unwrap();
    println!(
        "index: {} annotations, {} images, {:.2} MB of JSON streamed in {:.3} s",
        index.annotation_count(),
        index.images.len(),
        std::fs::metadata(&input).unwrap().len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    drop(index);
    let (samples, secs) = run(&input, &dir.join("out"), &[]);
    println!(
        "full pipeline (object table + 7 sample kinds) on {main_n} annotations: {samples} samples in {secs:.2} s = {:.0} samples/s ({:.0} annotations/s)",
        samples as f64 / secs,
        main_n as f64 / secs
    );
    std::fs::remove_dir_all(dir.join("out")).ok();

    let sizes: Vec<usize> = if args.is_empty() {
        vec![10_000, 100_000, 400_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("annotation counts"))
            .collect()
    };
    let exe = std::env::current_exe().unwrap();
    let child = |n: usize, per_image: Option<usize>| {
        let d = tmp.path().join(format!("rss{n}-{per_image:?}"));
        let input = make_input(&d, n, per_image);
        let out = std::process::Command::new(&exe)
            .args([
                "--child",
                input.to_str().unwrap(),
                d.join("out").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        std::fs::remove_dir_all(&d).ok();
        (v[2] / 1024.0, v[0], v[1])
    };
    println!("peak RSS of streaming the file into the COCO reader's index (fresh process each):");
    for &n in sizes.iter().chain([1_000_000].iter()) {
        let d = tmp.path().join(format!("index{n}"));
        let input = make_input(&d, n, None);
        let out = std::process::Command::new(&exe)
            .args(["--index", input.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        println!(
            "  {n:>7} annotations ({:>5.0} MB of JSON): {:>6.1} MB in {:.2} s",
            std::fs::metadata(&input).unwrap().len() as f64 / 1e6,
            v[2] / 1024.0,
            v[1]
        );
        std::fs::remove_dir_all(&d).ok();
    }
    println!("peak RSS, object table + counting, fresh process each:");
    println!("  (a) 24 annotations per image, so images grow with annotations:");
    for &n in &sizes {
        let (mb, samples, secs) = child(n, None);
        println!(
            "  {n:>7} annotations: {mb:>6.1} MB, {:.0} samples/s ({samples} samples in {secs:.2} s)",
            samples / secs
        );
    }
    println!("  (b) 1000 images, annotations per image growing:");
    for &n in &sizes {
        let (mb, _, secs) = child(n, Some(n / 1000));
        println!("  {n:>7} annotations: {mb:>6.1} MB ({secs:.2} s)");
    }
}
