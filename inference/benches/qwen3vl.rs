//! `just bench-inference`: weft's native Qwen3-VL against transformers (torch CPU) on the same
//! random checkpoint with the released 2B shapes and the same inputs, in one run.
//!
//! Measured per dtype (f32, bf16), each framework in its own process so peak RSS is its own:
//! vision encode time for a 448×448 and a 1024×768 image, prefill tokens/s (512 text tokens),
//! decode tokens/s (32 greedy steps after a 64-token prompt), peak RSS. Also the machine's copy
//! bandwidth, and decode as a fraction of the bandwidth bound (bytes of weights one decode step
//! must read ÷ bandwidth).
//!
//! Flags (after `--`): `--quick` (one timing iteration), `--dtypes f32,bf16`,
//! `--no-transformers`, `--python PATH` (default: the parity venv, see tools/parity/README.md),
//! `--bandwidth-only`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use weft_inference::candle::{DType, Device};
use weft_inference::config::ModelConfig;
use weft_inference::generate::argmax;
use weft_inference::model::{ModelTokenIds, PrefillRow, Qwen3Vl};
use weft_inference::processor::Patches;
use weft_inference::random_checkpoint::{QWEN3_VL_2B_CONFIG, write_random_checkpoint};

const GRIDS: [(&str, [usize; 3]); 2] = [("448x448", [1, 28, 28]), ("1024x768", [1, 48, 64])];
const PREFILL_TOKENS: usize = 512;
const DECODE_PROMPT: usize = 64;
const DECODE_STEPS: usize = 33;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--worker") {
        worker(
            &args[pos + 1],
            &PathBuf::from(&args[pos + 2]),
            args[pos + 3].parse().unwrap(),
        );
        return;
    }
    if args.iter().any(|a| a == "--bandwidth-only") {
        println!("copy bandwidth {:.1} GB/s", copy_bandwidth() / 1e9);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let iters = if quick { 1 } else { 3 };
    let dtypes: Vec<String> = flag(&args, "--dtypes")
        .unwrap_or_else(|| "f32,bf16".into())
        .split(',')
        .map(String::from)
        .collect();
    let python = flag(&args, "--python")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cache/weft/parity-venv/bin/python"));
    let with_torch = !args.iter().any(|a| a == "--no-transformers") && python.exists();
    if !with_torch {
        eprintln!(
            "transformers side skipped ({} missing: create it with tools/parity/venv.sh)",
            python.display()
        );
    }

    let dir = dirs_home().join(".cache/weft/bench/qwen3-vl-2b-random");
    if !dir.join("model.safetensors.index.json").exists() {
        eprintln!(
            "writing a random checkpoint with the Qwen3-VL-2B shapes to {}",
            dir.display()
        );
        write_random_checkpoint(&dir, QWEN3_VL_2B_CONFIG, 2).unwrap();
    }
    let inputs = dir.join("bench_inputs.safetensors");
    write_inputs(&inputs);

    let bandwidth = copy_bandwidth();
    let config = ModelConfig::from_model_dir(&dir).unwrap();
    let decode_params = decode_read_params(&config);
    println!(
        "machine: {} threads, copy bandwidth {:.1} GB/s; decode reads {:.2} G params per token",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        bandwidth / 1e9,
        decode_params as f64 / 1e9
    );
    let me = std::env::current_exe().unwrap();
    for dtype in &dtypes {
        let weft = run_json(Command::new(&me).args([
            "--worker",
            dtype,
            dir.to_str().unwrap(),
            &iters.to_string(),
        ]));
        let torch = with_torch.then(|| {
            run_json(
                Command::new(&python)
                    .arg(
                        Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join("../tools/parity/bench_transformers.py"),
                    )
                    .args([
                        dir.to_str().unwrap(),
                        inputs.to_str().unwrap(),
                        dtype,
                        &iters.to_string(),
                    ]),
            )
        });
        report(dtype, &weft, torch.as_ref(), bandwidth, decode_params);
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("spawn bench worker");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    serde_json::from_str(line).unwrap()
}

fn report(
    dtype: &str,
    weft: &serde_json::Value,
    torch: Option<&serde_json::Value>,
    bandwidth: f64,
    decode_params: u64,
) {
    println!("\n== {dtype} ==");
    println!(
        "{:<26} {:>12} {:>14} {:>8}",
        "metric", "weft", "transformers", "ratio"
    );
    let rows: [(&str, &str, bool); 6] = [
        ("encode 448x448 (s)", "encode_448x448_s", false),
        ("encode 1024x768 (s)", "encode_1024x768_s", false),
        ("prefill (tok/s)", "prefill_tok_s", true),
        ("decode (tok/s)", "decode_tok_s", true),
        ("peak RSS (GB)", "peak_rss_bytes", false),
        ("", "", true),
    ];
    for (label, key, higher_better) in rows.iter().filter(|r| !r.0.is_empty()) {
        let scale = if key.ends_with("bytes") { 1e-9 } else { 1.0 };
        let w = weft[key].as_f64().unwrap_or(f64::NAN) * scale;
        let t = torch.and_then(|t| t[key].as_f64()).map(|x| x * scale);
        // Ratio > 1 means weft is better (faster, or smaller).
        let ratio = t.map(|t| if *higher_better { w / t } else { t / w });
        println!(
            "{label:<26} {w:>12.3} {:>14} {:>8}",
            t.map_or("-".into(), |t| format!("{t:.3}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}x"))
        );
    }
    let bytes_per = if dtype == "f32" { 4.0 } else { 2.0 };
    let weight_bytes = weft["weight_bytes"].as_f64().unwrap_or(f64::NAN);
    let bound = bandwidth / (decode_params as f64 * bytes_per);
    let decode = weft["decode_tok_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "decode vs bandwidth bound: {decode:.2} / {bound:.2} tok/s = {:.0}%",
        100.0 * decode / bound
    );
    println!(
        "weft peak RSS / weight bytes in {dtype}: {:.2}",
        weft["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / weight_bytes
    );
}

/// Parameters one decode step reads: every decoder layer, the final norm and the output head.
fn decode_read_params(config: &ModelConfig) -> u64 {
    weft_inference::random_checkpoint::tensor_layout(config)
        .iter()
        .filter(|(n, _)| n.starts_with("model.language_model.") && !n.contains("embed_tokens"))
        .map(|(_, s)| s.iter().product::<usize>() as u64)
        .sum::<u64>()
        + (config.text.vocab_size * config.text.hidden_size) as u64
}

/// Memory traffic of a copy of 1 GiB on all threads (bytes read + bytes written per second,
/// best of 5): the rate at which a decode step can stream its weights.
fn copy_bandwidth() -> f64 {
    use rayon::prelude::*;
    let n = 1 << 30;
    let src = vec![1u8; n];
    let mut dst = vec![1u8; n];
    let chunk = n / rayon::current_num_threads().max(1) / 8;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    2.0 * n as f64 / best
}

fn pixels(grid: [usize; 3]) -> Vec<f32> {
    let n = grid.iter().product::<usize>() * 1536;
    (0..n)
        .map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0)
        .collect()
}

fn ids(n: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 2_654_435_761 + salt) % 150_000) as u32)
        .collect()
}

/// The inputs both frameworks read: pixels and grids, prompt ids, decode length.
fn write_inputs(path: &Path) {
    use safetensors::tensor::{Dtype, TensorView};
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, grid) in GRIDS {
        let px = pixels(grid);
        owned.push((
            format!("pixels_{name}"),
            Dtype::F32,
            vec![px.len() / 1536, 1536],
            px.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
        owned.push((
            format!("grid_{name}"),
            Dtype::I64,
            vec![1, 3],
            grid.iter()
                .flat_map(|&g| (g as i64).to_le_bytes())
                .collect(),
        ));
    }
    for (name, v) in [
        ("prefill_ids", ids(PREFILL_TOKENS, 1)),
        ("decode_prompt_ids", ids(DECODE_PROMPT, 2)),
    ] {
        owned.push((
            name.into(),
            Dtype::I64,
            vec![v.len()],
            v.iter().flat_map(|&t| i64::from(t).to_le_bytes()).collect(),
        ));
    }
    owned.push((
        "decode_steps".into(),
        Dtype::I64,
        vec![1],
        (DECODE_STEPS as i64).to_le_bytes().to_vec(),
    ));
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn best<T>(iters: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// One framework run (this process): prints a JSON line.
fn worker(dtype: &str, dir: &Path, iters: usize) {
    let dtype = match dtype {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => panic!("dtype {other}"),
    };
    let ids_cfg = ModelTokenIds {
        image_pad: 151_655,
        video_pad: 151_656,
        vision_start: 151_652,
    };
    let model = Qwen3Vl::load(dir, ids_cfg, dtype, &Device::Cpu).unwrap();
    let weight_bytes = weft_inference::Weights::from_model_dir(dir, dtype, &Device::Cpu)
        .unwrap()
        .stored_bytes() as f64
        * dtype.size_in_bytes() as f64
        / 2.0;
    let mut out = serde_json::Map::new();
    for (name, grid) in GRIDS {
        let patches = Patches {
            values: pixels(grid),
            grid_thw: grid,
        };
        model.encode_vision(&[&patches]).unwrap();
        let t = best(iters, || model.encode_vision(&[&patches]).unwrap());
        out.insert(format!("encode_{name}_s"), t.into());
    }
    let prompt = ids(PREFILL_TOKENS, 1);
    let row = PrefillRow {
        input_ids: &prompt,
        images: &[],
        videos: &[],
    };
    model.prefill(&[row], false, 0, 0).unwrap();
    let t = best(iters, || model.prefill(&[row], false, 0, 0).unwrap());
    out.insert("prefill_tok_s".into(), (PREFILL_TOKENS as f64 / t).into());

    let short = ids(DECODE_PROMPT, 2);
    let short_row = PrefillRow {
        input_ids: &short,
        images: &[],
        videos: &[],
    };
    let decode = || {
        let p = model.prefill(&[short_row], false, DECODE_STEPS, 0).unwrap();
        let mut cache = p.cache;
        let mut logits: Vec<f32> = p
            .logits
            .to_dtype(DType::F32)
            .unwrap()
            .get(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let t = Instant::now();
        for _ in 1..DECODE_STEPS {
            let next = argmax(&logits);
            logits = model
                .decode(&[next], &mut cache, &p.deltas)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .get(0)
                .unwrap()
                .to_vec1()
                .unwrap();
        }
        t.elapsed().as_secs_f64()
    };
    let t = (0..iters).map(|_| decode()).fold(f64::MAX, f64::min);
    out.insert(
        "decode_tok_s".into(),
        ((DECODE_STEPS - 1) as f64 / t).into(),
    );
    out.insert("peak_rss_bytes".into(), peak_rss().into());
    out.insert("weight_bytes".into(), weight_bytes.into());
    println!("{}", serde_json::Value::Object(out));
}

/// VmHWM of this process, in bytes.
fn peak_rss() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb * 1024.0)
}
