//! STEM benchmark (`just bench-stem`, release build):
//!
//! 1. charts rendered per second (all five kinds, the pipeline's sizes), against matplotlib
//!    (Agg, PNG) drawing the same tables at the same sizes in the same run when the project's
//!    `.venv` has it;
//! 2. verifier checks per second over a mixed table of responses;
//! 3. the pass-rate filter's overhead beyond generation: the whole stage through the engine
//!    with a fixed-latency fake backend, against calling that backend alone with the same
//!    requests; and a rerun served from the response cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_engine::pipeline_file::PipelineFile;
use weft_engine::registry::{KindInfo, parse_config};
use weft_engine::rng::seeded;
use weft_engine::stage::Stage;
use weft_engine::{Plan, Registry, RunOptions};
use weft_inference::{Completion, FinishReason, Request, Response, VisionLanguageModel};
use weft_pipeline_stem::chart::{self, ChartKind};
use weft_pipeline_stem::labels::VOCABULARIES;
use weft_pipeline_stem::query::{Query, VerifierKind};
use weft_pipeline_stem::stages::pass_rate::{Config, PassRateFilter};
use weft_pipeline_stem::verify::verify;

const CHARTS: usize = 100;
const SIZE: (u32, u32) = (800, 600);

fn charts_per_second(dir: &Path) -> f64 {
    let tables: Vec<_> = (0..CHARTS)
        .map(|i| {
            let kind = ChartKind::ALL[i % 5];
            let vocab = &VOCABULARIES[i % VOCABULARIES.len()];
            chart::generate(kind, vocab, &mut seeded(1, "bench", &i.to_string()))
        })
        .collect();
    let _ = chart::render::render(&tables[0], SIZE.0, SIZE.1).expect("font"); // font load
    let t = Instant::now();
    let mut bytes = 0;
    for table in &tables {
        bytes += chart::render::render(table, SIZE.0, SIZE.1)
            .unwrap()
            .png
            .len();
    }
    let s = t.elapsed().as_secs_f64();
    let rate = CHARTS as f64 / s;
    println!(
        "charts: {CHARTS} rendered + PNG-encoded at {}x{} in {s:.2} s = {rate:.1} charts/s ({} KB avg)",
        SIZE.0,
        SIZE.1,
        bytes / CHARTS / 1024
    );
    let json = dir.join("tables.json");
    std::fs::write(&json, serde_json::to_vec(&tables).unwrap()).unwrap();
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/matplotlib_peer.py");
    match std::process::Command::new(&python)
        .arg(&script)
        .arg(&json)
        .arg(dir.join("mpl"))
        .output()
    {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            if let Ok(mpl) = text.trim().parse::<f64>() {
                println!(
                    "matplotlib (Agg, same tables and size): {mpl:.1} charts/s -> weft is {:.1}x",
                    rate / mpl
                );
            }
        }
        Ok(o) => println!(
            "matplotlib peer failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("matplotlib peer not run ({}: {e})", python.display()),
    }
    rate
}

fn verifier_checks_per_second() {
    let mut ratio = Query::new(VerifierKind::Numeric, "37/25");
    ratio.tolerance = Some(0.005);
    let mut choice = Query::new(VerifierKind::Choice, "B");
    choice.choices = vec!["increased".into(), "decreased".into()];
    let mut ground = Query::new(VerifierKind::Grounding, "x");
    ground.target_box = Some([100.0, 200.0, 300.0, 400.0]);
    let long = format!(
        "{} So the answer is \\boxed{{\\frac{{37}}{{25}}}}.",
        "We compute step by step. ".repeat(40)
    );
    let cases: Vec<(Query, String)> = vec![
        (
            Query::new(VerifierKind::Numeric, "6"),
            "21 - 15 = 6. The answer is 6.".into(),
        ),
        (ratio.clone(), "\\boxed{1.48}".into()),
        (ratio, long),
        (Query::new(VerifierKind::Numeric, "40%"), "It is 0.4".into()),
        (
            Query::new(VerifierKind::String, "[2,5)"),
            "$\\boxed{[2, 5)}$".into(),
        ),
        (choice, "The answer is (B).".into()),
        (
            ground,
            "```json\n[{\"point_2d\": [150, 250], \"label\": \"x\"}]\n```".into(),
        ),
    ];
    let reps = 30_000;
    let t = Instant::now();
    let mut correct = 0usize;
    for _ in 0..reps {
        for (q, r) in &cases {
            correct += usize::from(
                verify(std::hint::black_box(q), std::hint::black_box(r))
                    == weft_pipeline_stem::verify::Verdict::Correct,
            );
        }
    }
    let n = reps * cases.len();
    let s = t.elapsed().as_secs_f64();
    assert_eq!(correct, n);
    println!(
        "verifier: {n} checks in {s:.2} s = {:.0} checks/s (mixed numeric/string/choice/grounding)",
        n as f64 / s
    );
}

/// A backend that sleeps a fixed time per `generate` call and answers instantly otherwise.
struct Fixed {
    latency: Duration,
    calls: std::sync::atomic::AtomicUsize,
}

impl VisionLanguageModel for Fixed {
    fn model_id(&self) -> &str {
        "fixed-latency"
    }
    fn generate(&self, requests: &[Request]) -> Vec<weft_inference::Result<Response>> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(self.latency);
        requests
            .iter()
            .map(|r| {
                Ok(Response {
                    completions: (0..r.params.n)
                        .map(|i| Completion {
                            text: format!("Thinking... the answer is \\boxed{{{}}}.", i % 3),
                            token_ids: Vec::new(),
                            finish_reason: FinishReason::Stop,
                        })
                        .collect(),
                    prompt_tokens: 100,
                })
            })
            .collect()
    }
}

fn fixed() -> &'static Arc<Fixed> {
    static M: std::sync::OnceLock<Arc<Fixed>> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        Arc::new(Fixed {
            latency: Duration::from_millis(20),
            calls: Default::default(),
        })
    })
}

fn build_fixed(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let m: Arc<dyn VisionLanguageModel> = fixed().clone();
    Ok(Arc::new(PassRateFilter::new(cfg, Some(m))?))
}

fn run(reg: &Registry, base: &Path, text: &str, out: &Path) -> f64 {
    let pf = PipelineFile::parse(&base.join("pipeline.toml"), text.to_string()).unwrap();
    let plan = Plan::build(pf, reg).unwrap();
    let t = Instant::now();
    weft_engine::run::run(&plan, &RunOptions::new(out)).unwrap();
    t.elapsed().as_secs_f64()
}

fn filter_overhead(dir: &Path) {
    let mut reg = Registry::builtin();
    weft_pipeline_stem::register(&mut reg);
    reg.register(KindInfo {
        name: "fixed_filter",
        source: false,
        about: "bench",
        build: build_fixed,
    });
    // Queries: synthesised once (not timed), then filtered.
    let synth = "[pipeline]\nname = \"b\"\nseed = 1\n\n[stages.charts]\nkind = \"chart_synth\"\ncount = 64\nper_split = 64\nquestions = 3\n";
    let src_out = dir.join("src");
    run(&reg, dir, synth, &src_out);
    let rows: usize = std::fs::read_dir(src_out.join("charts"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| {
            weft_shards::reader::Shard::open(&e.path())
                .unwrap()
                .read(Some(&["id"]), 4096)
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum::<usize>()
        })
        .sum();
    let filter = format!(
        "{synth}\n[stages.filter]\nkind = \"fixed_filter\"\ninputs = [\"charts\"]\nbatch = 8\ncache = \"{}\"\n",
        dir.join("cache").display()
    );
    // Warm the synthesis stage's cache in the filter's output folder, then time the filter.
    let out = dir.join("filter-run");
    std::fs::create_dir_all(&out).unwrap();
    let copy = |from: &Path, to: &Path| {
        std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
    };
    copy(&src_out.join("charts"), &out.join("charts"));
    let before = fixed().calls.load(std::sync::atomic::Ordering::Relaxed);
    let stage_s = run(&reg, dir, &filter, &out);
    let calls = fixed().calls.load(std::sync::atomic::Ordering::Relaxed) - before;
    // The backend alone: the same number of calls of the same batch shape.
    let reqs: Vec<Request> = (0..8)
        .map(|_| Request {
            messages: Vec::new(),
            params: weft_inference::SamplingParams {
                n: 16,
                ..Default::default()
            },
        })
        .collect();
    let t = Instant::now();
    for _ in 0..calls {
        fixed().generate(&reqs);
    }
    let backend_s = t.elapsed().as_secs_f64();
    println!(
        "filter: {rows} queries x 16 responses, {calls} backend calls of 20 ms: stage {stage_s:.2} s vs backend alone {backend_s:.2} s -> overhead {:.1}% ({:.2} ms/query)",
        100.0 * (stage_s - backend_s) / backend_s,
        1000.0 * (stage_s - backend_s) / rows as f64
    );
    // Rerun with a changed threshold: the stage reruns, every response comes from the cache.
    let out2 = dir.join("filter-rerun");
    std::fs::create_dir_all(&out2).unwrap();
    copy(&src_out.join("charts"), &out2.join("charts"));
    let before = fixed().calls.load(std::sync::atomic::Ordering::Relaxed);
    let rerun_s = run(&reg, dir, &format!("{filter}max_pass_rate = 0.5\n"), &out2);
    let calls2 = fixed().calls.load(std::sync::atomic::Ordering::Relaxed) - before;
    println!(
        "filter rerun from the response cache: {rerun_s:.2} s, {calls2} backend calls ({:.0} queries/s)",
        rows as f64 / rerun_s
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    charts_per_second(dir.path());
    verifier_checks_per_second();
    filter_overhead(dir.path());
}
