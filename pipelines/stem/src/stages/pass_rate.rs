//! `pass_rate_filter`: the reasoning-RL query filter. For each sample (a query with its answer
//! contract in `meta`, see [`crate::query`]) it asks the configured model for `n` sampled
//! responses (temperature, seed per query), checks each with the query's verifier, and keeps
//! the query when its pass rate `correct / n` is at most `max_pass_rate` (exact rational
//! comparison, [`crate::filter::rate`]); 0/n follows its own rule (`on_zero`).
//!
//! - Responses are cached on disk by (query, model id + spec incl. dtype, parameters, seed): a
//!   rerun makes no calls.
//! - A failed request (server error, timeout) or one with an empty completion is retried
//!   `retries` times, then the query is quarantined (`generation_failed` / `empty_response`)
//!   — never counted as failed by the model. Retry `k` samples with a seed derived from (query
//!   seed, k) ([`retry_seed`]): a seeded sampler is a pure function of its seed, so resending
//!   the same seed would repeat the same empty completion.
//! - `meta.pass_rate` records `correct`, `n`, `rate`, `model`, `seed` (of the attempt that
//!   answered) and the per-response `verdicts`; each split logs and (with `stats`) writes its
//!   pass-rate histogram.
//! - Without a model the stage passes every row through unchanged and says so once.

use std::sync::{Arc, Once};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_inference::{
    Content as MContent, ImageSource, Message as MMessage, ModelRef, Request, SamplingParams,
    VisionLanguageModel,
};
use weft_shards::{Content, Sample, samples_from_batch, samples_to_batch};

use crate::filter::cache::{self, Cache, Entry};
use crate::filter::histogram::Histogram;
use crate::filter::rate::{Decision, Threshold, ZeroRule, decide};
use crate::query::{Query, VerifierKind};
use crate::verify::{Verdict, verify};

fn d_n() -> usize {
    16
}
fn d_temperature() -> f64 {
    1.0
}
fn d_top_p() -> f64 {
    1.0
}
fn d_max_pass_rate() -> f64 {
    0.9
}
fn d_on_zero() -> ZeroRule {
    ZeroRule::Drop
}
fn d_max_new_tokens() -> usize {
    1024
}
fn d_retries() -> usize {
    2
}
fn d_batch() -> usize {
    8
}
fn d_instruction() -> String {
    "Please reason step by step, and put your final answer within \\boxed{}.".into()
}

/// The stage's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model: a folder or Hub id, `{ path, dtype }`, or `{ server, name }`. None: pass
    /// through.
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// Responses per query.
    #[serde(default = "d_n")]
    pub n: usize,
    /// Sampling temperature.
    #[serde(default = "d_temperature")]
    pub temperature: f64,
    /// Nucleus mass.
    #[serde(default = "d_top_p")]
    pub top_p: f64,
    /// Longest response, tokens.
    #[serde(default = "d_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Keep queries whose pass rate is at most this (exact decimal, e.g. 0.9 = 9/10).
    #[serde(default = "d_max_pass_rate")]
    pub max_pass_rate: f64,
    /// What to do with 0/n queries: `drop` (default), `keep` or `quarantine`.
    #[serde(default = "d_on_zero")]
    pub on_zero: ZeroRule,
    /// Extra attempts for a failed or empty response before the query is quarantined.
    #[serde(default = "d_retries")]
    pub retries: usize,
    /// Queries per `generate` call.
    #[serde(default = "d_batch")]
    pub batch: usize,
    /// Appended to the question of non-grounding queries (grounding questions already say
    /// how to answer).
    #[serde(default = "d_instruction")]
    pub instruction: String,
    /// Response cache folder, relative to the pipeline file (default
    /// `~/.cache/weft/pass-rate`).
    #[serde(default)]
    pub cache: Option<String>,
    /// Folder for per-split histogram files, relative to the pipeline file (default: log only).
    #[serde(default)]
    pub stats: Option<String>,
}

/// The stage; `model` can be injected (tests, benches) instead of opened from the config.
pub struct PassRateFilter {
    cfg: Config,
    threshold: Threshold,
    injected: Option<Arc<dyn VisionLanguageModel>>,
}

/// Builds `pass_rate_filter`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    Ok(Arc::new(PassRateFilter::new(cfg, None)?))
}

static NO_MODEL: Once = Once::new();

impl PassRateFilter {
    /// A filter with `cfg`; `model` overrides `cfg.model`.
    pub fn new(cfg: Config, model: Option<Arc<dyn VisionLanguageModel>>) -> Result<Self, String> {
        let threshold = Threshold::from_f64(cfg.max_pass_rate)?;
        if let Some(m) = &cfg.model {
            m.validate().map_err(|e| format!("model: {e}"))?;
        }
        if cfg.batch == 0 {
            return Err("`batch` must be at least 1".into());
        }
        params(&cfg, 0).validate().map_err(|e| e.to_string())?;
        Ok(PassRateFilter {
            cfg,
            threshold,
            injected: model,
        })
    }

    fn model(&self) -> StageResult<Option<Arc<dyn VisionLanguageModel>>> {
        if let Some(m) = &self.injected {
            return Ok(Some(m.clone()));
        }
        match &self.cfg.model {
            None => Ok(None),
            Some(spec) => spec
                .open()
                .map(Some)
                .map_err(|e| format!("model {}: {e}", spec.key())),
        }
    }
}

fn params(cfg: &Config, seed: u64) -> SamplingParams {
    SamplingParams {
        max_new_tokens: cfg.max_new_tokens,
        temperature: cfg.temperature,
        top_p: cfg.top_p,
        n: cfg.n,
        seed,
        ..SamplingParams::default()
    }
}

/// The per-query seed: from the pipeline seed and the sample id, so it depends on neither the
/// split nor the batch.
fn query_seed(pipeline_seed: u64, id: &str) -> u64 {
    let k = cache::key(&pipeline_seed.to_string(), "pass-rate-seed", id);
    u64::from_str_radix(&k[..16], 16).unwrap_or(0)
}

/// The seed of attempt `attempt` (0 = first) of a query seeded `seed`: the seed itself first,
/// then one hashed from (seed, attempt), so retries draw fresh samples deterministically.
pub fn retry_seed(seed: u64, attempt: usize) -> u64 {
    if attempt == 0 {
        return seed;
    }
    let k = cache::key(&seed.to_string(), "pass-rate-retry", &attempt.to_string());
    u64::from_str_radix(&k[..16], 16).unwrap_or(0)
}

/// The model part of the cache key: the model's id and, when it was opened from the config,
/// the spec's key, which names the dtype (`native:DIR:bf16`) — `model_id` alone does not, and
/// f32 and bf16 runs must not share cached completions.
fn model_key(model_id: &str, spec: Option<&ModelRef>) -> String {
    match spec {
        Some(s) => format!("{model_id}\n{}", s.key()),
        None => model_id.to_string(),
    }
}

/// A query ready to send.
struct Pending {
    sample: Sample,
    query: Query,
    request: Request,
    key: String,
}

/// The request for a sample: every message before the first assistant turn, images as bytes,
/// the instruction appended to the last user text.
fn request_for(
    sample: &Sample,
    query: &Query,
    instruction: &str,
    p: SamplingParams,
) -> StageResult<Request> {
    let mut messages = Vec::new();
    for m in &sample.messages {
        if m.role == "assistant" {
            break;
        }
        let mut content = Vec::new();
        for c in &m.content {
            content.push(match c {
                Content::Text { text } => MContent::Text(text.clone()),
                Content::Image { index } => {
                    let img = sample
                        .images
                        .get(*index as usize)
                        .ok_or_else(|| format!("image index {index} out of range"))?;
                    MContent::Image(ImageSource::Bytes(img.bytes.clone().into()))
                }
                Content::Video { .. } => return Err("video queries are not supported".into()),
            });
        }
        messages.push(MMessage {
            role: m.role.clone(),
            content,
        });
    }
    if !instruction.is_empty() && query.verifier != VerifierKind::Grounding {
        let last = messages
            .iter_mut()
            .rev()
            .find(|m| m.role == "user")
            .ok_or("no user turn")?;
        last.content
            .push(MContent::Text(format!("\n{instruction}")));
    }
    if messages.is_empty() {
        return Err("no user turn".into());
    }
    Ok(Request {
        messages,
        params: p,
    })
}

impl Stage for PassRateFilter {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            if !weft_shards::is_sample_schema(s) {
                return Err(
                    "input is not a sample shard set (the stem sources write samples)".into(),
                );
            }
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let Some(model) = self.model()? else {
            NO_MODEL.call_once(|| {
                eprintln!(
                    "pass_rate_filter: no model configured — every query passes through unfiltered \
                     (set one with --set <stage>.model=DIR|HUB_ID or model = {{ server, name }})"
                )
            });
            while let Some(b) = io.next_batch()? {
                io.emit(&b)?;
            }
            return Ok(());
        };
        let cache = Cache::new(match &self.cfg.cache {
            Some(c) => io.base_dir().join(c),
            None => cache::default_dir(),
        });
        let model_id = model.model_id().to_string();
        let spec = if self.injected.is_some() {
            None
        } else {
            self.cfg.model.as_ref()
        };
        let model_key = model_key(&model_id, spec);
        let mut hist = Histogram::new(self.cfg.n as u64);
        while let Some(batch) = io.next_batch()? {
            let samples = samples_from_batch(&batch).map_err(|e| e.to_string())?;
            let mut pending = Vec::new();
            for sample in samples {
                let query = match Query::read(&sample.meta) {
                    Ok(q) => q,
                    Err(e) => {
                        hist.failed += 1;
                        io.quarantine(sample.id.clone(), "no_answer_contract", e);
                        continue;
                    }
                };
                let seed = query_seed(io.pipeline_seed(), &sample.id);
                let p = params(&self.cfg, seed);
                let request = match request_for(&sample, &query, &self.cfg.instruction, p.clone()) {
                    Ok(r) => r,
                    Err(e) => {
                        hist.failed += 1;
                        io.quarantine(sample.id.clone(), "bad_query", e);
                        continue;
                    }
                };
                let params_json = serde_json::to_string(&p).map_err(|e| e.to_string())?;
                let key = cache::key(
                    &format!("{}\n{}", sample.id, self.cfg.instruction),
                    &model_key,
                    &params_json,
                );
                pending.push(Pending {
                    sample,
                    query,
                    request,
                    key,
                });
            }
            let answers = self.responses(model.as_ref(), &cache, &pending)?;
            let mut kept = Vec::new();
            for (p, answer) in pending.into_iter().zip(answers) {
                let (completions, seed) = match answer {
                    Ok(c) => c,
                    Err((reason, msg)) => {
                        hist.failed += 1;
                        io.quarantine(p.sample.id.clone(), reason, msg);
                        continue;
                    }
                };
                let verdicts: Vec<Verdict> =
                    completions.iter().map(|c| verify(&p.query, c)).collect();
                let correct = verdicts.iter().filter(|v| **v == Verdict::Correct).count() as u64;
                let n = verdicts.len() as u64;
                hist.add(correct);
                let mut sample = p.sample;
                sample.meta.insert(
                    "pass_rate".into(),
                    json!({
                        "correct": correct,
                        "n": n,
                        "rate": correct as f64 / n as f64,
                        "model": model_id,
                        "seed": seed,
                        "temperature": self.cfg.temperature,
                        "verdicts": verdicts.iter().map(|v| Value::from(v.name())).collect::<Vec<_>>(),
                    }),
                );
                match decide(correct, n, self.threshold, self.cfg.on_zero) {
                    Decision::Keep => {
                        hist.kept += 1;
                        if correct == 0 {
                            hist.zero += 1;
                        }
                        kept.push(sample);
                    }
                    Decision::TooEasy => {
                        hist.too_easy += 1;
                        io.drop_records("too_easy", 1);
                    }
                    Decision::Zero(rule) => {
                        hist.zero += 1;
                        if rule == ZeroRule::Quarantine {
                            io.quarantine(
                                sample.id.clone(),
                                "zero_pass_rate",
                                format!("0/{n} responses correct: unsolvable or mislabeled (reference {:?})", p.query.answer),
                            );
                        } else {
                            io.drop_records("zero_pass_rate", 1);
                        }
                    }
                }
            }
            if !kept.is_empty() {
                io.emit(&samples_to_batch(&kept).map_err(|e| e.to_string())?)?;
            }
        }
        eprintln!(
            "pass_rate_filter split {}: {}",
            io.split_index(),
            hist.line()
        );
        if let Some(dir) = &self.cfg.stats {
            hist.write(&io.base_dir().join(dir), io.split_index())?;
        }
        Ok(())
    }
}

/// The n completions and the seed of the attempt that produced them, or why there are none.
type Answer = Result<(Vec<String>, u64), (&'static str, String)>;

impl PassRateFilter {
    /// The completions of every pending query: from the cache, else from the model in batches
    /// with retries.
    fn responses(
        &self,
        model: &dyn VisionLanguageModel,
        cache: &Cache,
        pending: &[Pending],
    ) -> StageResult<Vec<Answer>> {
        let mut out: Vec<Option<Answer>> = pending
            .iter()
            .map(|p| {
                cache
                    .get(&p.key)
                    .filter(|e| e.completions.len() == self.cfg.n)
                    .map(|e| {
                        let seed = e.seed.unwrap_or(p.request.params.seed);
                        Ok((e.completions, seed))
                    })
            })
            .collect();
        let mut todo: Vec<usize> = (0..pending.len()).filter(|&i| out[i].is_none()).collect();
        let mut last_err: Vec<(&'static str, String)> =
            vec![("generation_failed", String::new()); pending.len()];
        for attempt in 0..=self.cfg.retries {
            if todo.is_empty() {
                break;
            }
            let mut again = Vec::new();
            for chunk in todo.chunks(self.cfg.batch) {
                let reqs: Vec<Request> = chunk
                    .iter()
                    .map(|&i| {
                        let mut r = pending[i].request.clone();
                        r.params.seed = retry_seed(r.params.seed, attempt);
                        r
                    })
                    .collect();
                let results = model.generate(&reqs);
                for (k, &i) in chunk.iter().enumerate() {
                    match results.get(k) {
                        Some(Ok(resp)) => {
                            let seed = reqs[k].params.seed;
                            let texts: Vec<String> =
                                resp.completions.iter().map(|c| c.text.clone()).collect();
                            if texts.len() != self.cfg.n {
                                last_err[i] = (
                                    "generation_failed",
                                    format!("{} completions for n = {}", texts.len(), self.cfg.n),
                                );
                                again.push(i);
                            } else if let Some(j) = texts.iter().position(|t| t.trim().is_empty()) {
                                last_err[i] =
                                    ("empty_response", format!("completion {j} is empty"));
                                again.push(i);
                            } else {
                                cache.put(
                                    &pending[i].key,
                                    &Entry {
                                        model: model.model_id().to_string(),
                                        completions: texts.clone(),
                                        seed: Some(seed),
                                    },
                                )?;
                                out[i] = Some(Ok((texts, seed)));
                            }
                        }
                        Some(Err(e)) => {
                            last_err[i] = ("generation_failed", e.to_string());
                            again.push(i);
                        }
                        None => {
                            last_err[i] = ("generation_failed", "no result for the request".into());
                            again.push(i);
                        }
                    }
                }
            }
            todo = again;
        }
        let attempts = self.cfg.retries + 1;
        Ok(out
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                a.unwrap_or_else(|| {
                    let (reason, msg) = last_err[i].clone();
                    Err((reason, format!("after {attempts} attempts: {msg}")))
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_inference::NativeRef;

    #[test]
    fn retries_reseed_deterministically() {
        let s = 0x1234_5678_9abc_def0;
        assert_eq!(
            retry_seed(s, 0),
            s,
            "the first attempt uses the query's seed"
        );
        let seeds: Vec<u64> = (0..4).map(|k| retry_seed(s, k)).collect();
        let distinct: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{seeds:?}");
        assert_eq!(retry_seed(s, 2), seeds[2]);
        assert_ne!(retry_seed(s + 1, 1), seeds[1]);
    }

    #[test]
    fn cache_model_key_names_the_dtype() {
        let native = |dtype: Option<&str>| {
            ModelRef::Native(NativeRef {
                path: "models/m".into(),
                dtype: dtype.map(String::from),
            })
        };
        let (f32_, bf16) = (native(None), native(Some("bf16")));
        // Both load as the same model id; the key still tells them apart.
        assert_ne!(
            model_key("models/m", Some(&f32_)),
            model_key("models/m", Some(&bf16))
        );
        assert_eq!(
            model_key("models/m", Some(&f32_)),
            model_key("models/m", Some(&ModelRef::Path("models/m".into())))
        );
        assert_eq!(model_key("scripted", None), "scripted");
    }
}
