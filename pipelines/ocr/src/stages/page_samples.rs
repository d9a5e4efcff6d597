//! `ocr_samples` and `doc_parse_samples`: one page in, one sample out.
//!
//! - `ocr`: page image → the page's text in reading order (blocks separated by blank lines).
//! - `doc_parse`: page image → the page as HTML with `data-bbox` regions in relative 0–1000
//!   coordinates (see `doc_parse.rs` for the markup and the classification rules).
//!
//! Pages without text are dropped (`no_text`); a page row without an image is quarantined
//! (`no_page_image`).

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult, require_column};
use weft_shards::{Content, Message, Sample, sample_schema, samples_to_batch};

use super::common::{page_image, page_meta, pick};
use super::page_schema::{PageRow, pages_from_batch};
use crate::doc_parse::{Kind, regions, to_html};

const OCR_PROMPTS: &[&str] = &[
    "Read all the text in the image.",
    "Transcribe the text on this page in reading order.",
    "What does this page say? Give the full text.",
    "Extract the text from this document image.",
];

const DOC_PARSE_PROMPTS: &[&str] = &[
    "Parse this document page into HTML. Give every element a data-bbox attribute with its box in 0-1000 coordinates.",
    "Convert the page to structured HTML (headings, paragraphs, lists, tables, figures, captions) with data-bbox coordinates.",
    "QwenVL HTML: parse the layout of this page.",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Ocr,
    DocParse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Data source name for the samples.
    source: String,
    /// Seed offset for prompt choice (the pipeline seed is always mixed in).
    #[serde(default)]
    prompt_seed: u64,
}

struct PageSamples {
    mode: Mode,
    cfg: Config,
}

/// Builds `ocr_samples`.
pub fn build_ocr(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    Ok(Arc::new(PageSamples {
        mode: Mode::Ocr,
        cfg: parse_config(table)?,
    }))
}

/// Builds `doc_parse_samples`.
pub fn build_doc_parse(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    Ok(Arc::new(PageSamples {
        mode: Mode::DocParse,
        cfg: parse_config(table)?,
    }))
}

/// Checks an input is a page table.
pub fn require_page_table(inputs: &[SchemaRef]) -> StageResult<()> {
    for s in inputs {
        for (c, t) in [
            ("uid", DataType::Utf8),
            ("image", DataType::Binary),
            ("text", DataType::Utf8),
            ("layout", DataType::Utf8),
        ] {
            require_column(s, c, &t)?;
        }
    }
    Ok(())
}

impl PageSamples {
    fn sample(&self, row: &PageRow, seed: u64) -> Option<Sample> {
        let image = page_image(row);
        let mut meta = page_meta(row);
        let (task, prompts, answer) = match self.mode {
            Mode::Ocr => ("ocr", OCR_PROMPTS, row.text.clone()),
            Mode::DocParse => {
                let figs: Vec<_> = row.figures.iter().map(|f| f.bbox).collect();
                let rs = regions(&row.layout.blocks, &figs);
                let count = |k: fn(&Kind) -> bool| rs.iter().filter(|r| k(&r.kind)).count();
                meta.insert("markup".into(), json!("html-data-bbox-0-1000"));
                meta.insert(
                    "regions".into(),
                    json!({
                        "headings": count(|k| matches!(k, Kind::Heading(_))),
                        "paragraphs": count(|k| *k == Kind::Paragraph),
                        "list_items": count(|k| *k == Kind::ListItem),
                        "tables": count(|k| *k == Kind::Table),
                        "figures": count(|k| *k == Kind::Figure),
                        "captions": count(|k| *k == Kind::Caption),
                    }),
                );
                (
                    "doc_parse",
                    DOC_PARSE_PROMPTS,
                    to_html(&rs, row.width_pt, row.height_pt),
                )
            }
        };
        // A page a model transcribed has text but no trusted layout to draw boxes from.
        if row.text.trim().is_empty()
            || (self.mode == Mode::DocParse && row.layout.blocks.is_empty())
        {
            return None;
        }
        let prompt = pick(seed ^ self.cfg.prompt_seed, &row.uid(), prompts);
        let messages = vec![
            Message::new(
                "user",
                vec![Content::Image { index: 0 }, Content::text(prompt)],
            ),
            Message::new("assistant", vec![Content::text(answer)]),
        ];
        Some(Sample::new(
            task,
            &self.cfg.source,
            messages,
            vec![image],
            vec![],
            meta,
        ))
    }
}

impl Stage for PageSamples {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        require_page_table(inputs)?;
        Ok(sample_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        // Prompts depend on the pipeline seed and the page, not on the split, so ranks agree.
        let seed = io.pipeline_seed();
        while let Some(batch) = io.next_batch()? {
            let mut samples = Vec::new();
            for row in pages_from_batch(&batch)? {
                if row.image.is_empty() {
                    io.quarantine(row.uid(), "no_page_image", "the page row has no image");
                    continue;
                }
                match self.sample(&row, seed) {
                    Some(s) => samples.push(s),
                    None => io.drop_records("no_text", 1),
                }
            }
            io.emit(&samples_to_batch(&samples).map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }
}
