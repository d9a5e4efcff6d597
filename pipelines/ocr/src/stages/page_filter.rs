//! `page_filter`: turns the page table into pages fit to be OCR targets.
//!
//! Pages that failed (`status` ≠ `ok`) are quarantined under their status. Pages whose text
//! layer cannot be trusted (`needs_ocr`) are, when a `model` is configured, transcribed by it
//! (`VisionLanguageModel`: native Qwen3-VL or an OpenAI-compatible server) and kept with the
//! transcription as their text; otherwise they are dropped with reason `needs_ocr`.
//!
//! A transcribed page's layout is cleared: its blocks came from the untrusted text layer, so
//! `doc_parse` must not turn them into boxes. The transcribing model's id is kept in `quality`
//! (`transcribed by …`) and reaches each sample's `meta` as `transcribed_by`.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult, require_column};
use weft_inference::{Content, ImageSource, Message, ModelRef, Request, SamplingParams};

use super::page_schema::{Layout, PageRow, pages_from_batch, pages_to_batch};
use crate::quality::language;

/// `quality` of a page whose text a model wrote.
pub const TRANSCRIBED_BY: &str = "transcribed by ";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Keep `needs_ocr` pages untouched (their text layer then becomes the target as is).
    #[serde(default)]
    keep_needs_ocr: bool,
    /// A model that transcribes `needs_ocr` pages: a folder or Hub id, `{ path, dtype }`, or
    /// `{ server, name }`.
    #[serde(default)]
    model: Option<ModelRef>,
    /// The instruction given with each page image.
    #[serde(default = "default_prompt")]
    ocr_prompt: String,
    /// Longest transcription, in tokens.
    #[serde(default = "default_max_new_tokens")]
    max_new_tokens: usize,
}

fn default_prompt() -> String {
    "Read all the text in the image.".into()
}

fn default_max_new_tokens() -> usize {
    4096
}

struct PageFilter {
    cfg: Config,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if let Some(m) = &cfg.model {
        m.validate().map_err(|e| format!("model: {e}"))?;
        if cfg.keep_needs_ocr {
            return Err(
                "`keep_needs_ocr` and `model` exclude each other: either keep the \
                        untrusted text layer or transcribe the page"
                    .into(),
            );
        }
    }
    Ok(Arc::new(PageFilter { cfg }))
}

impl Stage for PageFilter {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        let first = inputs.first().ok_or("needs one input")?;
        for s in inputs {
            require_column(s, "uid", &DataType::Utf8)?;
            require_column(s, "status", &DataType::Utf8)?;
            require_column(s, "error", &DataType::Utf8)?;
            require_column(s, "needs_ocr", &DataType::Boolean)?;
        }
        Ok(first.clone())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        while let Some(batch) = io.next_batch()? {
            let mut kept = Vec::with_capacity(batch.num_rows());
            let mut to_transcribe = Vec::new();
            for row in pages_from_batch(&batch)? {
                if row.status != "ok" {
                    let err = row.error.clone().unwrap_or_default();
                    io.quarantine(row.uid(), &row.status, err);
                } else if !row.needs_ocr || self.cfg.keep_needs_ocr {
                    kept.push(row);
                } else if self.cfg.model.is_some() {
                    to_transcribe.push(row);
                } else {
                    io.drop_records("needs_ocr", 1);
                }
            }
            if !to_transcribe.is_empty() {
                kept.extend(self.transcribe(to_transcribe, io)?);
            }
            io.emit(&pages_to_batch(&kept)?)?;
        }
        Ok(())
    }
}

impl PageFilter {
    /// Asks the model for each page's text; failures are quarantined, empty answers dropped.
    fn transcribe(&self, rows: Vec<PageRow>, io: &mut StageIo) -> StageResult<Vec<PageRow>> {
        let spec = self.cfg.model.as_ref().expect("checked by the caller");
        let model = spec
            .open()
            .map_err(|e| format!("model {}: {e}", spec.key()))?;
        let requests: Vec<Request> = rows
            .iter()
            .map(|row| Request {
                messages: vec![Message::user(vec![
                    Content::Image(ImageSource::Bytes(row.image.clone().into())),
                    Content::Text(self.cfg.ocr_prompt.clone()),
                ])],
                params: SamplingParams::greedy(self.cfg.max_new_tokens),
            })
            .collect();
        let answers = model.generate(&requests);
        let mut out = Vec::with_capacity(rows.len());
        for (mut row, answer) in rows.into_iter().zip(answers) {
            match answer {
                Err(e) => io.quarantine(row.uid(), "transcription_failed", e.to_string()),
                Ok(resp) => {
                    let text = resp
                        .completions
                        .into_iter()
                        .next()
                        .map(|c| c.text.trim().to_string())
                        .unwrap_or_default();
                    if text.is_empty() {
                        io.drop_records("needs_ocr_empty_transcription", 1);
                        continue;
                    }
                    row.lang = language(&text);
                    row.text = text;
                    row.layout = Layout::default();
                    row.needs_ocr = false;
                    row.quality = Some(format!("{TRANSCRIBED_BY}{}", model.model_id()));
                    out.push(row);
                }
            }
        }
        Ok(out)
    }
}
