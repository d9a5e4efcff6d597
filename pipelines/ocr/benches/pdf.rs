//! PDF benchmark, weft vs PyMuPDF and pypdf on the same files in one run: pages/s for text
//! extraction (weft's is always "with positions and fonts") and for page rendering at 100 dpi,
//! on one core and on all cores, plus extracted characters (CJK separately).
//!
//! `cargo bench -p weft-pipeline-ocr --bench pdf -- [FOLDER] [--python PATH] [--min-secs S]`
//! (default FOLDER: the bundled samples; the Python side needs `pymupdf` and `pypdf` in the
//! venv — `just bench-pdf` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use weft_pipeline_ocr::pdf::{Limits, PdfDocument};
use weft_pipeline_ocr::render::{PdfRenderer, RenderOptions};

const PY: &str = r#"
import json, sys, time, glob, os
from multiprocessing import Pool
import pymupdf as fitz, pypdf
files = json.loads(sys.argv[1]); min_secs = float(sys.argv[2])
def cjk(s): return sum(1 for c in s if '\u3000' <= c <= '\u9fff' or '\uac00' <= c <= '\ud7af' or '\uf900' <= c <= '\ufaff')
def nonspace(s): return sum(1 for c in s if not c.isspace())
def mu_text(f):
    d = fitz.open(f); n = 0
    for p in d: p.get_text(); n += 1
    return n
DICT_FLAGS = fitz.TEXTFLAGS_DICT & ~fitz.TEXT_PRESERVE_IMAGES  # text only, like weft's
def mu_dict(f):
    d = fitz.open(f); n = 0
    for p in d: p.get_text("dict", flags=DICT_FLAGS); n += 1
    return n
def mu_render(f):
    d = fitz.open(f); n = 0
    for p in d: p.get_pixmap(dpi=100); n += 1
    return n
def pp_text(f):
    r = pypdf.PdfReader(f); n = 0
    for p in r.pages: p.extract_text(); n += 1
    return n
def timed(fn, procs):
    pool = Pool(procs) if procs > 1 else None
    t = time.perf_counter(); pages = 0
    while True:
        pages += sum(pool.map(fn, files)) if pool else sum(fn(f) for f in files)
        el = time.perf_counter() - t
        if el >= min_secs:
            if pool: pool.close()
            return pages / el
out = {}
for name, fn in [("pymupdf_text", mu_text), ("pymupdf_dict", mu_dict), ("pymupdf_render_100dpi", mu_render), ("pypdf_text", pp_text)]:
    out[name] = [timed(fn, 1), timed(fn, os.cpu_count())]
chars = {}
for f in files:
    d = fitz.open(f); t = "".join(p.get_text() for p in d)
    chars[f] = [nonspace(t), cjk(t)]
out["chars"] = chars
print(json.dumps(out))
"#;

fn cjk(s: &str) -> usize {
    s.chars().filter(|c| matches!(*c, '\u{3000}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' | '\u{f900}'..='\u{faff}')).count()
}

/// Pages processed per second by `f` over `files`, repeated for at least `min` (on the current
/// rayon pool when `parallel`).
fn rate(
    files: &[(PathBuf, Vec<u8>)],
    min: Duration,
    parallel: bool,
    f: &(dyn Fn(&[u8]) -> usize + Sync),
) -> f64 {
    let t = Instant::now();
    let mut pages = 0;
    while t.elapsed() < min {
        pages += if parallel {
            files.par_iter().map(|(_, b)| f(b)).sum::<usize>()
        } else {
            files.iter().map(|(_, b)| f(b)).sum()
        };
    }
    pages as f64 / t.elapsed().as_secs_f64()
}

fn text_pages(bytes: &[u8]) -> usize {
    let Ok(doc) = PdfDocument::from_bytes(bytes.to_vec(), &Limits::default()) else {
        return 0;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    (0..doc.page_count())
        .filter(|&i| doc.page_content(i, deadline).is_ok())
        .count()
}

fn render_pages(bytes: &[u8]) -> usize {
    let Ok(r) = PdfRenderer::new(bytes) else {
        return 0;
    };
    let opts = RenderOptions {
        dpi: 100.0,
        ..RenderOptions::default()
    };
    (0..r.page_count())
        .filter(|&i| r.render(i, &opts).is_ok())
        .count()
}

fn weft_chars(bytes: &[u8]) -> (usize, usize) {
    let Ok(doc) = PdfDocument::from_bytes(bytes.to_vec(), &Limits::default()) else {
        return (0, 0);
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let text: String = (0..doc.page_count())
        .filter_map(|i| doc.page_content(i, deadline).ok())
        .map(|c| c.text.plain_text())
        .collect();
    (
        text.chars().filter(|c| !c.is_whitespace()).count(),
        cjk(&text),
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let python = flag("--python")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python").into());
    let min = Duration::from_secs_f64(
        flag("--min-secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );
    let folder = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| PathBuf::from(a))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("input folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("pdf")))
        .collect();
    paths.sort();
    // Only files both sides can open (encrypted ones are skipped).
    let files: Vec<(PathBuf, Vec<u8>)> = paths
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).expect("read pdf");
            (p, b)
        })
        .filter(|(_, b)| text_pages(b) > 0)
        .collect();
    let pages: usize = files.iter().map(|(_, b)| text_pages(b)).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "corpus: {} PDFs, {pages} pages from {}; {cores} cores; each figure ≥ {:.0}s of work",
        files.len(),
        folder.display(),
        min.as_secs_f64()
    );

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let weft_text = [
        rate(&files, min, false, &text_pages),
        rate(&files, min, true, &text_pages),
    ];
    let weft_render = [
        one.install(|| rate(&files, min, false, &render_pages)),
        rate(&files, min, true, &render_pages),
    ];

    let list: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    let py = Command::new(&python)
        .args([
            "-c",
            PY,
            &serde_json::to_string(&list).expect("json"),
            &min.as_secs_f64().to_string(),
        ])
        .output();
    let res: serde_json::Value = match py {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).expect("python json"),
        Ok(o) => {
            eprintln!(
                "python side failed (pip install pymupdf pypdf into the venv):\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            serde_json::Value::Null
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            serde_json::Value::Null
        }
    };
    let peer = |name: &str, i: usize| res[name][i].as_f64();
    println!(
        "\n{:<34} {:>12} {:>12} {:>14} {:>14}",
        "pages/s", "1 core", "all cores", "weft ratio 1c", "weft ratio all"
    );
    let row = |label: &str, ours: [f64; 2]| {
        println!(
            "{label:<34} {:>12.1} {:>12.1} {:>14} {:>14}",
            ours[0], ours[1], "", ""
        )
    };
    row("weft text + positions + fonts", weft_text);
    for (name, ours) in [
        ("pymupdf_dict", weft_text),
        ("pymupdf_text", weft_text),
        ("pypdf_text", weft_text),
    ] {
        if let (Some(a), Some(b)) = (peer(name, 0), peer(name, 1)) {
            println!(
                "{name:<34} {a:>12.1} {b:>12.1} {:>13.2}x {:>13.2}x",
                ours[0] / a,
                ours[1] / b
            );
        }
    }
    row("weft render 100 dpi (hayro)", weft_render);
    if let (Some(a), Some(b)) = (
        peer("pymupdf_render_100dpi", 0),
        peer("pymupdf_render_100dpi", 1),
    ) {
        println!(
            "{:<34} {a:>12.1} {b:>12.1} {:>13.2}x {:>13.2}x",
            "pymupdf_render_100dpi",
            weft_render[0] / a,
            weft_render[1] / b
        );
    }

    println!(
        "\n{:<48} {:>10} {:>10} {:>8} {:>8}",
        "characters (non-space)", "weft", "pymupdf", "weft CJK", "mu CJK"
    );
    for (p, b) in &files {
        let (ours, ours_cjk) = weft_chars(b);
        let theirs = &res["chars"][p.display().to_string()];
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "{name:<48} {ours:>10} {:>10} {ours_cjk:>8} {:>8}",
            theirs[0], theirs[1]
        );
    }
}
