//! The pass-rate filter through the engine: a scripted model for exact edges (14/16 kept,
//! 15/16 and 16/16 dropped, 0/16 by its rule), retries, quarantine and the cache; then the
//! tiny native Qwen3-VL checkpoint end to end.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use weft_engine::Registry;
use weft_engine::registry::{KindInfo, parse_config};
use weft_engine::stage::Stage;
use weft_inference::{
    Completion, Content, FinishReason, InferenceError, Request, Response, VisionLanguageModel,
};
use weft_pipeline_stem::filter::histogram;
use weft_pipeline_stem::stages::pass_rate::{Config, PassRateFilter};

use crate::common::*;

/// Answers `case=correct:K answer=A` with K right and n−K wrong completions; `case=timeout`
/// always fails, `case=empty` returns empty text, `case=flaky` fails its first call and, like
/// a seeded sampler, returns empty text again for that call's seed (a retry must reseed).
#[derive(Default)]
struct Scripted {
    /// (question, seed) of every request.
    calls: Mutex<Vec<(String, u64)>>,
}

fn question(r: &Request) -> String {
    r.messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|c| match c {
            Content::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl VisionLanguageModel for Scripted {
    fn model_id(&self) -> &str {
        "scripted"
    }

    fn generate(&self, requests: &[Request]) -> Vec<weft_inference::Result<Response>> {
        requests
            .iter()
            .map(|r| {
                let q = question(r);
                let first_seed = {
                    let mut calls = self.calls.lock().unwrap();
                    let first = calls.iter().find(|c| c.0 == q).map(|c| c.1);
                    calls.push((q.clone(), r.params.seed));
                    first
                };
                let case = q
                    .split("case=")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                let text = |t: String| Completion {
                    text: t,
                    token_ids: Vec::new(),
                    finish_reason: FinishReason::Stop,
                };
                let n = r.params.n;
                let answer = |k: usize, a: &str| {
                    (0..n)
                        .map(|i| {
                            // Right answers spread over the stream, not first.
                            if (i * 7) % n < k {
                                text(format!("Let me think. The answer is \\boxed{{{a}}}."))
                            } else {
                                text("I believe it is \\boxed{999}.".into())
                            }
                        })
                        .collect()
                };
                let completions = match case {
                    "timeout" => {
                        return Err(InferenceError::Server(
                            "request timed out after 30 s".into(),
                        ));
                    }
                    "empty" => (0..n).map(|_| text(String::new())).collect(),
                    "flaky" if first_seed.is_none() => {
                        return Err(InferenceError::Server("503".into()));
                    }
                    "flaky" if first_seed == Some(r.params.seed) => {
                        (0..n).map(|_| text(String::new())).collect()
                    }
                    "flaky" => answer(3, "7"),
                    c => {
                        let k: usize = c.strip_prefix("correct:").unwrap().parse().unwrap();
                        answer(k, "7")
                    }
                };
                Ok(Response {
                    completions,
                    prompt_tokens: 10,
                })
            })
            .collect()
    }
}

fn scripted() -> &'static Arc<Scripted> {
    static M: OnceLock<Arc<Scripted>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Scripted::default()))
}

fn build_scripted(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let model: Arc<dyn VisionLanguageModel> = scripted().clone();
    Ok(Arc::new(PassRateFilter::new(cfg, Some(model))?))
}

fn scripted_registry() -> Registry {
    let mut r = registry();
    r.register(KindInfo {
        name: "scripted_pass_rate_filter",
        source: false,
        about: "pass_rate_filter with the scripted test model",
        build: build_scripted,
    });
    r
}

fn pipeline(max: &str, on_zero: &str) -> String {
    format!(
        "[pipeline]\nname = \"f\"\nseed = 3\n\n[stages.problems]\nkind = \"problem_set\"\npath = \"q.jsonl\"\n\n\
         [stages.filter]\nkind = \"scripted_pass_rate_filter\"\ninputs = [\"problems\"]\nmax_pass_rate = {max}\n\
         on_zero = \"{on_zero}\"\nbatch = 3\ncache = \"cache\"\nstats = \"stats\"\n"
    )
}

fn write_queries(d: &Path) {
    let mut lines = Vec::new();
    for k in [0, 1, 8, 14, 15, 16] {
        lines.push(format!(
            r#"{{"id": "k{k}", "question": "case=correct:{k} What is 3 + 4?", "answer": "7"}}"#
        ));
    }
    for c in ["timeout", "empty", "flaky"] {
        lines.push(format!(
            r#"{{"id": "{c}", "question": "case={c} What is 3 + 4?", "answer": "7"}}"#
        ));
    }
    std::fs::write(d.join("q.jsonl"), lines.join("\n")).unwrap();
}

#[test]
fn threshold_edges_zero_rule_retries_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    write_queries(dir.path());
    let reg = scripted_registry();
    let out = tempfile::tempdir().unwrap();
    run_text(&reg, dir.path(), &pipeline("0.9", "quarantine"), out.path());

    let c = counts(out.path(), "filter");
    assert_eq!(c.input, 9);
    // 1/16, 8/16, 14/16 (0.875 ≤ 0.9) and the flaky query (3/16 after a retry) are kept.
    assert_eq!(c.out, 4, "{c:?}");
    assert_eq!(c.dropped.get("too_easy"), Some(&2), "15/16 and 16/16");
    let q = quarantined(out.path(), "filter");
    let reasons: Vec<&str> = q.iter().map(|(_, r, _)| r.as_str()).collect();
    let mut sorted = reasons.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["empty_response", "generation_failed", "zero_pass_rate"]
    );
    let timeout = q.iter().find(|(_, r, _)| r == "generation_failed").unwrap();
    assert!(
        timeout.2.contains("timed out") && timeout.2.contains("3 attempts"),
        "{}",
        timeout.2
    );

    let kept = samples(out.path(), "filter");
    let mut rates: Vec<(String, u64)> = kept
        .iter()
        .map(|s| {
            let p = &s.meta["pass_rate"];
            assert_eq!(p["n"], 16);
            assert_eq!(p["verdicts"].as_array().unwrap().len(), 16);
            assert_eq!(p["model"], "scripted");
            let correct = p["correct"].as_u64().unwrap();
            let listed = p["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| *v == "correct")
                .count();
            assert_eq!(correct as usize, listed);
            (s.meta["problem_id"].as_str().unwrap().to_string(), correct)
        })
        .collect();
    rates.sort();
    assert_eq!(
        rates,
        vec![
            ("flaky".into(), 3),
            ("k1".into(), 1),
            ("k14".into(), 14),
            ("k8".into(), 8)
        ]
    );
    // The flaky query was answered by its retry, with a reseeded request recorded in meta.
    let flaky_seeds: Vec<u64> = scripted()
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| c.contains("case=flaky"))
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(flaky_seeds.len(), 2, "{flaky_seeds:?}");
    assert_ne!(flaky_seeds[0], flaky_seeds[1]);
    let flaky = kept
        .iter()
        .find(|s| s.meta["problem_id"] == "flaky")
        .unwrap();
    assert_eq!(flaky.meta["pass_rate"]["seed"], flaky_seeds[1]);

    let h = histogram::merge(&dir.path().join("stats")).unwrap();
    assert_eq!(h.n, 16);
    assert_eq!((h.kept, h.too_easy, h.zero, h.failed), (4, 2, 1, 2));
    assert_eq!(h.bins.values().sum::<u64>(), 7);
    assert_eq!(h.bins.get(&15), Some(&1));

    // A stricter threshold reruns the stage; every answered query comes from the cache.
    let before = scripted().calls.lock().unwrap().len();
    let out2 = tempfile::tempdir().unwrap();
    run_text(&reg, dir.path(), &pipeline("0.5", "drop"), out2.path());
    let calls = scripted().calls.lock().unwrap()[before..].to_vec();
    assert!(
        calls
            .iter()
            .all(|(c, _)| c.contains("case=timeout") || c.contains("case=empty")),
        "cached queries were asked again: {calls:?}"
    );
    let c2 = counts(out2.path(), "filter");
    assert_eq!(c2.out, 3, "14/16 > 0.5 now: {c2:?}");
    assert_eq!(c2.dropped.get("too_easy"), Some(&3));
    assert_eq!(c2.dropped.get("zero_pass_rate"), Some(&1));

    // Queries that were all answered once: a rerun (another threshold) makes zero calls.
    let lines: Vec<String> = std::fs::read_to_string(dir.path().join("q.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("timeout") && !l.contains("empty"))
        .map(String::from)
        .collect();
    std::fs::write(dir.path().join("q.jsonl"), lines.join("\n")).unwrap();
    let before = scripted().calls.lock().unwrap().len();
    let out3 = tempfile::tempdir().unwrap();
    run_text(&reg, dir.path(), &pipeline("0.75", "keep"), out3.path());
    assert_eq!(
        scripted().calls.lock().unwrap().len(),
        before,
        "no model call"
    );
    let c3 = counts(out3.path(), "filter");
    assert_eq!(
        (c3.input, c3.out),
        (7, 4),
        "14, 15, 16 of 16 > 0.75; 0/16 kept: {c3:?}"
    );
    assert_eq!(c3.dropped.get("too_easy"), Some(&3));
}

#[test]
fn filter_end_to_end_through_the_tiny_native_model() {
    let model = crate_dir().join("../../inference/tests/fixtures/parity/two_images/model");
    let text = format!(
        "[pipeline]\nname = \"native\"\nseed = 4\n\n\
         [stages.charts]\nkind = \"chart_synth\"\ncount = 2\nper_split = 2\nquestions = 1\nkinds = [\"bar\", \"pie\"]\n\n\
         [stages.problems]\nkind = \"problem_set\"\npath = \"{}\"\n\n\
         [stages.filter]\nkind = \"pass_rate_filter\"\ninputs = [\"charts\", \"problems\"]\nmodel = \"{}\"\n\
         n = 4\nmax_new_tokens = 6\non_zero = \"keep\"\ncache = \"cache\"\n",
        crate_dir().join("fixtures/problems.jsonl").display(),
        model.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_text(&reg, dir.path(), &text, a.path());
    let c = counts(a.path(), "filter");
    assert_eq!(c.input, 14);
    let kept = samples(a.path(), "filter");
    let total: u64 = c.out + c.dropped.values().sum::<u64>();
    assert_eq!(total + c.quarantined.values().sum::<u64>(), 14);
    // Random weights answer gibberish: every query is kept under on_zero = "keep" unless the
    // model happened to solve it, and every kept one carries its 4 verdicts.
    for s in &kept {
        let p = &s.meta["pass_rate"];
        assert_eq!(p["n"], 4);
        assert_eq!(p["verdicts"].as_array().unwrap().len(), 4);
        assert!(!p["model"].as_str().unwrap().is_empty());
    }
    assert!(!kept.is_empty());
    // Same seed, fresh output folder, same cache: identical shards, replayed from the cache
    // (no entry added).
    let cache_files = || {
        walk(&dir.path().join("cache"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count()
    };
    let cached = cache_files();
    assert!(cached > 0 && cached <= 14, "{cached} cache entries");
    run_text(&reg, dir.path(), &text, b.path());
    assert_eq!(cache_files(), cached, "a cached rerun writes no entry");
    assert_eq!(
        shard_hashes(a.path(), "filter"),
        shard_hashes(b.path(), "filter")
    );
    // Same seed, fresh cache: the model generates everything again and the shards are still
    // byte-identical (seeded sampling, not cache replay).
    let fresh = tempfile::tempdir().unwrap();
    let text_fresh = text.replace("cache = \"cache\"", "cache = \"cache-fresh\"");
    assert_ne!(text_fresh, text);
    let c_out = tempfile::tempdir().unwrap();
    run_text(&reg, fresh.path(), &text_fresh, c_out.path());
    assert_eq!(
        walk(&fresh.path().join("cache-fresh"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count(),
        cached,
        "the fresh cache was filled by generation"
    );
    assert_eq!(
        shard_hashes(a.path(), "filter"),
        shard_hashes(c_out.path(), "filter")
    );
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
