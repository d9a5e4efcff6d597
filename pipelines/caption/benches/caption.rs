//! Caption benchmark (`just bench-caption`), each measurement side by side with its peer in the
//! same run on the same inputs:
//!
//! 1. **pHash images/s** from files (read + decode + hash) against Python `imagehash.phash`
//!    (PIL decode + its DCT hash) over the same real photos (the bundled skimage photos and the
//!    labelme examples when installed), single thread each, then weft on all cores;
//! 2. **near-duplicate search over 1M synthetic 64-bit hashes** (1M random codes with planted
//!    copies at 1–10 flipped bits): multi-index build + leader grouping, seconds, planted
//!    copies found, against a brute-force scan timed on a sample and extrapolated;
//! 3. **k-means on 100k × 1024 f32** (64 clusters, k-means++ seeding, 10 Lloyd iterations)
//!    against scikit-learn's `KMeans(algorithm="lloyd", n_init=1)` on the same matrix.
//!
//! Python runs from the project's `.venv` (the recipe installs imagehash and scikit-learn).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use weft_pipeline_caption::groups::Rank;
use weft_pipeline_caption::hash::Hashers;
use weft_pipeline_caption::kmeans::{Options, kmeans};
use weft_pipeline_caption::near::{ImageThresholds, image_leaders};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    repo().join(".venv/bin/python")
}

fn photo_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/data/photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    let lm = Path::new("/usr/share/doc/labelme-examples/examples");
    let mut stack = vec![lm.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "jpg") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn run_python(code: &str, args: &[&str]) -> Option<serde_json::Value> {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("python failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(out.stdout.trim_ascii()).ok()
}

fn bench_phash() {
    let files = photo_files();
    let rounds = 5;
    let hashers = Hashers::new();
    let one = |p: &PathBuf| {
        let bytes = std::fs::read(p).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        hashers.signature(&img).phash
    };
    let t = Instant::now();
    let mut sink = 0u64;
    for _ in 0..rounds {
        for f in &files {
            sink ^= one(f);
        }
    }
    let single = (files.len() * rounds) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        sink ^= files.par_iter().map(one).reduce(|| 0, |a, b| a ^ b);
    }
    let multi = (files.len() * rounds) as f64 / t.elapsed().as_secs_f64();
    let code = r#"
import sys, time, json, imagehash
from PIL import Image
files = sys.argv[2:]; rounds = int(sys.argv[1])
for f in files: imagehash.phash(Image.open(f))  # warm up
t = time.perf_counter()
for _ in range(rounds):
    for f in files: imagehash.phash(Image.open(f))
print(json.dumps({"per_s": rounds * len(files) / (time.perf_counter() - t)}))
"#;
    let mut args = vec![rounds.to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let py = run_python(code, &args).and_then(|v| v["per_s"].as_f64());
    println!(
        "pHash from files ({} real photos x {rounds} rounds; read + decode + hash) [{sink:x}]",
        files.len()
    );
    println!("  weft, 1 thread:        {single:8.1} images/s");
    println!(
        "  weft, {} threads:       {multi:8.1} images/s",
        rayon::current_num_threads()
    );
    match py {
        Some(p) => {
            println!("  imagehash (Python, 1 process): {p:8.1} images/s");
            println!(
                "  ratio: {:.2}x single-thread, {:.2}x all cores (goal >= 20x)",
                single / p,
                multi / p
            );
        }
        None => println!("  imagehash: not available (run `just bench-caption`)"),
    }
    // Hashing alone (decoded pixels in memory), to show where the time goes.
    let imgs: Vec<_> = files.iter().map(|f| image::open(f).unwrap()).collect();
    let t = Instant::now();
    for _ in 0..rounds {
        for i in &imgs {
            sink ^= hashers.signature(i).phash;
        }
    }
    let hash_only = (imgs.len() * rounds) as f64 / t.elapsed().as_secs_f64();
    let code = r#"
import sys, time, json, imagehash
from PIL import Image
files = sys.argv[2:]; rounds = int(sys.argv[1])
imgs = [Image.open(f) for f in files]
for i in imgs: i.load()
t = time.perf_counter()
for _ in range(rounds):
    for i in imgs: imagehash.phash(i)
print(json.dumps({"per_s": rounds * len(imgs) / (time.perf_counter() - t)}))
"#;
    let py = run_python(code, &args).and_then(|v| v["per_s"].as_f64());
    print!("  hash only (decoded images): weft {hash_only:.1}/s");
    if let Some(p) = py {
        print!(", imagehash {p:.1}/s, ratio {:.2}x", hash_only / p);
    }
    println!(" [{sink:x}]");
}

fn bench_search() {
    let n = 1_000_000usize;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut codes: Vec<u64> = (0..n).map(|_| rng.random()).collect();
    // Plant 10k copies of the first 10k codes at 1..=10 flipped bits.
    let planted = 10_000;
    for i in 0..planted {
        let mut c = codes[i];
        for _ in 0..(1 + i % 10) {
            c ^= 1 << rng.random_range(0..64);
        }
        codes[n - planted + i] = c;
    }
    let ranks: Vec<Rank> = (0..n)
        .map(|i| Rank {
            pixels: if i < n - planted { 2 } else { 1 },
            id: String::new(),
            uid: format!("{i:08}"),
        })
        .collect();
    let t = Instant::now();
    let lead = image_leaders(
        &ranks,
        &codes,
        &codes,
        ImageThresholds {
            phash: 10,
            dhash: 64,
        },
    );
    let secs = t.elapsed().as_secs_f64();
    let found = (0..planted).filter(|&i| lead[n - planted + i] == i).count();
    // Brute force: every leader scans everything; time 1000 scans and extrapolate.
    let t = Instant::now();
    let mut hits = 0usize;
    for q in codes.iter().take(1000) {
        hits += codes.iter().filter(|c| (*c ^ q).count_ones() <= 10).count();
    }
    let brute = t.elapsed().as_secs_f64() * n as f64 / 1000.0;
    println!(
        "near-duplicate search over {n} 64-bit hashes (threshold 10 bits, {planted} planted copies)"
    );
    println!(
        "  weft multi-index + leader groups: {secs:.2} s, planted copies grouped with their original: {found}/{planted}"
    );
    println!(
        "  brute-force scan (extrapolated from 1000 queries, 1 thread): {brute:.0} s  [{hits}]"
    );
}

fn bench_kmeans() {
    let (n, d, k, iters) = (100_000usize, 1024usize, 64usize, 10usize);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let centres: Vec<f32> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        let c = i % k;
        for j in 0..d {
            data.push(centres[c * d + j] + rng.random_range(-0.8f32..0.8));
        }
    }
    let path = std::env::temp_dir().join("weft-kmeans-bench.f32");
    let mut f = std::fs::File::create(&path).unwrap();
    for v in &data {
        f.write_all(&v.to_le_bytes()).unwrap();
    }
    drop(f);
    let t = Instant::now();
    let km = kmeans(
        &data,
        d,
        &Options {
            k,
            seed: 0,
            max_iter: iters,
            tol: 0.0,
        },
    )
    .unwrap();
    let ours = t.elapsed().as_secs_f64();
    let code = r#"
import sys, time, json, numpy as np
from sklearn.cluster import KMeans
n, d, k, it = map(int, sys.argv[2:6])
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, d)
t = time.perf_counter()
km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=it, tol=0.0, algorithm="lloyd", random_state=0).fit(x)
print(json.dumps({"s": time.perf_counter() - t, "inertia": float(km.inertia_), "iter": int(km.n_iter_)}))
"#;
    let args = [
        path.display().to_string(),
        n.to_string(),
        d.to_string(),
        k.to_string(),
        iters.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let py = run_python(code, &args);
    let _ = std::fs::remove_file(&path);
    println!("k-means {n} x {d} f32, k = {k}, k-means++ + up to {iters} Lloyd iterations");
    println!(
        "  weft:         {ours:7.2} s  ({} iterations, inertia {:.4e})",
        km.iterations, km.inertia
    );
    match py {
        Some(v) => {
            let s = v["s"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  scikit-learn: {s:7.2} s  ({} iterations, inertia {:.4e})",
                v["iter"],
                v["inertia"].as_f64().unwrap_or(f64::NAN)
            );
            println!("  ratio: {:.2}x (goal >= 1x)", s / ours);
        }
        None => println!("  scikit-learn: not available (run `just bench-caption`)"),
    }
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| which.is_empty() || which.iter().any(|w| w == s);
    if want("phash") {
        bench_phash();
    }
    if want("search") {
        bench_search();
    }
    if want("kmeans") {
        bench_kmeans();
    }
}
