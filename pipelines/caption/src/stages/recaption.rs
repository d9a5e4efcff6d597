//! `recaption`: asks a vision-language model for a new caption of each image, through the
//! `VisionLanguageModel` trait (native Qwen3-VL or an OpenAI-compatible server), in batches,
//! with a prompt rendered from the style's minijinja template. Answers are cached by (image
//! hash, model id, prompt, generation parameters) so a rerun makes no model call.
//!
//! Without a model (`model` unset or empty) the stage passes records through untouched and
//! says so once on stderr: every other stage of the pipeline runs, captions stay alt text.
//! Kept records carry `extra.caption`, `caption_model`, `prompt_id`, `caption_style`,
//! `instruction` and `generation` (the sampling parameters); a failed request quarantines
//! its record (`recaption_failed`) and the run goes on.

use std::sync::{Arc, Once, OnceLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_inference::{
    Content, ImageSource, Message, ModelRef, Request, SamplingParams, ServerRef,
    VisionLanguageModel,
};

use crate::cache::{Cache, Entry, default_dir, key};
use crate::record::{bins, i32s, image_schema, opt, require, strs};
use crate::templates::Template;

fn d_style() -> String {
    "brief".into()
}
fn d_batch() -> usize {
    8
}
fn d_params() -> SamplingParams {
    SamplingParams::greedy(128)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// A model folder or Hub id, `{ path, dtype }`, `{ server, name }`, or a server URL
    /// (`http…`, with `model_name`); unset or `""`: no recaptioning.
    #[serde(default)]
    model: Option<toml::Value>,
    /// Model name on the server when `model` is a bare URL.
    #[serde(default)]
    model_name: Option<String>,
    /// `brief`, `detailed`, `dense` (or a style of `templates`).
    #[serde(default = "d_style")]
    style: String,
    /// A templates file replacing the built-in one (relative to the pipeline file).
    #[serde(default)]
    templates: Option<String>,
    /// Generation parameters (`max_new_tokens`, `temperature`, `seed`, …).
    #[serde(default = "d_params")]
    params: SamplingParams,
    /// Requests per model call.
    #[serde(default = "d_batch")]
    batch_size: usize,
    /// Cache folder (default `~/.cache/weft/captions`); relative to the pipeline file.
    #[serde(default)]
    cache: Option<String>,
}

/// The configured model reference, if any.
fn model_ref(cfg: &Config) -> Result<Option<ModelRef>, String> {
    let Some(v) = &cfg.model else { return Ok(None) };
    if let toml::Value::String(s) = v {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(Some(ModelRef::Server(ServerRef {
                server: s.to_string(),
                name: cfg.model_name.clone().unwrap_or_else(|| "default".into()),
                max_concurrency: None,
            })));
        }
    }
    let r: ModelRef = v.clone().try_into().map_err(|e| format!("model: {e}"))?;
    r.validate().map_err(|e| format!("model: {e}"))?;
    Ok(Some(r))
}

struct Recaption {
    cfg: Config,
    spec: Option<ModelRef>,
    injected: Option<Arc<dyn VisionLanguageModel>>,
    template: OnceLock<Result<Template, String>>,
    model: OnceLock<Result<Arc<dyn VisionLanguageModel>, String>>,
    params_json: String,
}

/// Builds `recaption`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    build_inner(table, None)
}

/// Builds `recaption` around an already opened model (tests, embedding applications); the
/// config's `model` key is ignored.
pub fn build_with_model(
    table: &toml::Table,
    model: Arc<dyn VisionLanguageModel>,
) -> Result<Arc<dyn Stage>, String> {
    build_inner(table, Some(model))
}

fn build_inner(
    table: &toml::Table,
    injected: Option<Arc<dyn VisionLanguageModel>>,
) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    cfg.params.validate().map_err(|e| format!("params: {e}"))?;
    if cfg.params.n != 1 {
        return Err("params.n must be 1 (one caption per image)".into());
    }
    if cfg.batch_size == 0 {
        return Err("`batch_size` must be at least 1".into());
    }
    if cfg.templates.is_none() {
        Template::load(None, &cfg.style)?;
    }
    let spec = if injected.is_some() {
        None
    } else {
        model_ref(&cfg)?
    };
    Ok(Arc::new(Recaption {
        params_json: serde_json::to_string(&cfg.params).map_err(|e| e.to_string())?,
        cfg,
        spec,
        injected,
        template: OnceLock::new(),
        model: OnceLock::new(),
    }))
}

static NO_MODEL: Once = Once::new();

impl Recaption {
    fn model(&self) -> StageResult<Option<Arc<dyn VisionLanguageModel>>> {
        if let Some(m) = &self.injected {
            return Ok(Some(m.clone()));
        }
        let Some(spec) = &self.spec else {
            return Ok(None);
        };
        self.model
            .get_or_init(|| {
                spec.open()
                    .map_err(|e| format!("model {}: {e}", spec.key()))
            })
            .clone()
            .map(Some)
    }

    fn template(&self, io: &StageIo) -> StageResult<&Template> {
        self.template
            .get_or_init(|| {
                let path = self.cfg.templates.as_ref().map(|t| io.base_dir().join(t));
                Template::load(path.as_deref(), &self.cfg.style)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn cache(&self, io: &StageIo) -> Cache {
        Cache::new(match &self.cfg.cache {
            Some(c) => io.base_dir().join(c),
            None => default_dir(),
        })
    }
}

impl Stage for Recaption {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require(s, &image_schema())?;
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let Some(model) = self.model()? else {
            NO_MODEL.call_once(|| {
                eprintln!(
                    "recaption: no model configured — captions stay the source alt text \
                     (set one with --set <stage>.model=DIR|URL)"
                )
            });
            while let Some(b) = io.next_batch()? {
                io.emit(&b)?;
            }
            return Ok(());
        };
        let template = self.template(io)?.clone();
        let cache = self.cache(io);
        let model_id = model.model_id().to_string();
        // The cache's model part: `model_id` alone does not name the dtype of a native model
        // (bf16 and f32 caption differently), so a model opened from the config adds its
        // spec's key (`native:DIR:bf16`); an injected model has no spec.
        let model_key = match &self.spec {
            Some(spec) => format!("{model_id}\n{}", spec.key()),
            None => model_id.clone(),
        };
        let params: serde_json::Value =
            serde_json::from_str(&self.params_json).map_err(|e| e.to_string())?;
        while let Some(batch) = io.next_batch()? {
            let (path, image, sha, alt) = (
                strs(&batch, "path")?,
                bins(&batch, "image")?,
                strs(&batch, "sha256")?,
                strs(&batch, "alt_text")?,
            );
            let (w, h) = (i32s(&batch, "width")?, i32s(&batch, "height")?);
            let n = batch.num_rows();
            let mut prompts = Vec::with_capacity(n);
            for i in 0..n {
                prompts.push(template.render(opt(alt, i), w.value(i) as u32, h.value(i) as u32)?);
            }
            let keys: Vec<String> = (0..n)
                .map(|i| key(sha.value(i), &model_key, &prompts[i], &self.params_json))
                .collect();
            let mut answers: Vec<Option<Result<String, String>>> = keys
                .iter()
                .map(|k| cache.get(k).map(|e| Ok(e.text)))
                .collect();
            let todo: Vec<usize> = (0..n).filter(|&i| answers[i].is_none()).collect();
            for chunk in todo.chunks(self.cfg.batch_size) {
                let requests: Vec<Request> = chunk
                    .iter()
                    .map(|&i| Request {
                        messages: vec![Message::user(vec![
                            Content::Image(ImageSource::Bytes(Arc::from(image.value(i)))),
                            Content::Text(prompts[i].clone()),
                        ])],
                        params: self.cfg.params.clone(),
                    })
                    .collect();
                let results = model.generate(&requests);
                if results.len() != chunk.len() {
                    return Err(format!(
                        "model {model_id} answered {} of {} requests",
                        results.len(),
                        chunk.len()
                    ));
                }
                for (&i, r) in chunk.iter().zip(results) {
                    let text = r.map_err(|e| e.to_string()).and_then(|resp| {
                        resp.completions
                            .into_iter()
                            .next()
                            .map(|c| c.text.trim().to_string())
                            .ok_or_else(|| "no completion".to_string())
                    });
                    if let Ok(t) = &text {
                        cache.put(
                            &keys[i],
                            &Entry {
                                text: t.clone(),
                                model: model_id.clone(),
                                prompt_id: template.id.clone(),
                            },
                        )?;
                    }
                    answers[i] = Some(text);
                }
            }
            let mut mask = Vec::with_capacity(n);
            let mut texts = Vec::new();
            for (i, a) in answers.into_iter().enumerate() {
                match a.expect("every row answered") {
                    Ok(t) => {
                        mask.push(true);
                        texts.push(t);
                    }
                    Err(e) => {
                        io.quarantine(
                            path.value(i),
                            "recaption_failed",
                            format!("{}: {e}", path.value(i)),
                        );
                        mask.push(false);
                    }
                }
            }
            let kept: RecordBatch = arrow::compute::filter_record_batch(&batch, &mask.into())
                .map_err(|e| e.to_string())?;
            let kept = crate::record::update_extra(&kept, |i, m| {
                m.insert("caption".into(), json!(texts[i]));
                m.insert("caption_model".into(), json!(model_id));
                m.insert("prompt_id".into(), json!(template.id));
                m.insert("caption_style".into(), json!(self.cfg.style));
                m.insert("instruction".into(), json!(template.instruction));
                m.insert("generation".into(), params.clone());
            })?;
            io.emit(&kept)?;
        }
        Ok(())
    }
}
