//! `long_doc_samples`: consecutive pages of one document merged into one sample up to a token
//! budget (default 32K, at most 256K), counting vision tokens exactly as the model will
//! (`smart_resize` per page image) and text tokens by the shards crate's estimate, with
//! questions whose answers are computed from the pages in the sample:
//!
//! - on which page (1..n, the order of the images) a section heading appears;
//! - what the first sentence of page k is;
//! - how many tables and figures a section (or, without headings, the excerpt) contains.
//!
//! Accounting is per page: pages in a sample are `out`; a page alone over the budget is
//! dropped as `over_budget`, pages in a run shorter than `min_pages` as `short_run`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_shards::vision::VisionParams;
use weft_shards::{Content, Message, Sample, sample_schema, samples_to_batch};

use super::common::{
    consecutive_runs, first_sentence, for_each_doc, keyed, page_image, text_tokens, vision_tokens,
};
use super::page_samples::require_page_table;
use super::page_schema::PageRow;
use crate::doc_parse::{Kind, Region, regions};

fn d_budget() -> usize {
    32_768
}
fn d_min_pages() -> usize {
    2
}
fn d_questions() -> usize {
    3
}

/// Most tokens one sample may hold (Qwen3-VL's native 256K context).
pub const MAX_BUDGET: usize = 262_144;
/// Tokens kept free for the questions and answers when packing pages.
const QA_RESERVE: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    source: String,
    #[serde(default = "d_budget")]
    budget_tokens: usize,
    #[serde(default = "d_min_pages")]
    min_pages: usize,
    #[serde(default = "d_questions")]
    questions: usize,
}

struct LongDoc {
    cfg: Config,
    vision: VisionParams,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if !(2 * QA_RESERVE..=MAX_BUDGET).contains(&cfg.budget_tokens) {
        return Err(format!(
            "`budget_tokens` must be between {} and {MAX_BUDGET}",
            2 * QA_RESERVE
        ));
    }
    if cfg.min_pages < 2 || cfg.questions == 0 {
        return Err("`min_pages` ≥ 2 and `questions` ≥ 1 are required".into());
    }
    Ok(Arc::new(LongDoc {
        cfg,
        vision: VisionParams::default(),
    }))
}

/// A question and its computed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Qa {
    /// Kind of question (for `meta`).
    pub kind: &'static str,
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
}

/// All questions answerable from `pages` (regions per page, in sample order).
pub fn questions(pages: &[Vec<Region>]) -> Vec<Qa> {
    let n = pages.len();
    let mut out = Vec::new();
    let headings: Vec<(usize, &Region)> = pages
        .iter()
        .enumerate()
        .flat_map(|(i, rs)| {
            rs.iter()
                .filter(|r| matches!(r.kind, Kind::Heading(_)))
                .map(move |r| (i, r))
        })
        .collect();
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    for (i, h) in &headings {
        let title = flat(&h.text);
        let unique = headings
            .iter()
            .filter(|(_, o)| flat(&o.text) == title)
            .count()
            == 1;
        if unique && (3..=120).contains(&title.chars().count()) {
            out.push(Qa {
                kind: "heading_page",
                question: format!(
                    "On which page (1–{n}) does the section titled \"{title}\" appear?"
                ),
                answer: format!("Page {}.", i + 1),
            });
            // Section = from this heading to the next heading of the same or a higher level.
            let Kind::Heading(level) = h.kind else {
                continue;
            };
            let mut tables = 0;
            let mut figures = 0;
            let mut started = false;
            'walk: for rs in &pages[*i..] {
                for r in rs {
                    if std::ptr::eq(r, *h) {
                        started = true;
                        continue;
                    }
                    if !started {
                        continue;
                    }
                    match r.kind {
                        Kind::Heading(l) if l <= level => break 'walk,
                        Kind::Table => tables += 1,
                        Kind::Figure => figures += 1,
                        _ => {}
                    }
                }
            }
            out.push(Qa {
                kind: "section_counts",
                question: format!(
                    "How many tables and how many figures does the section \"{title}\" contain?"
                ),
                answer: format!(
                    "{tables} table{}, {figures} figure{}.",
                    plural(tables),
                    plural(figures)
                ),
            });
        }
    }
    for (i, rs) in pages.iter().enumerate() {
        let text: String = rs
            .iter()
            .filter(|r| r.kind != Kind::Figure)
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(s) = first_sentence(&text) {
            out.push(Qa {
                kind: "first_sentence",
                question: format!("What is the first sentence on page {}?", i + 1),
                answer: s,
            });
        }
    }
    if headings.is_empty() {
        let count = |k: Kind| pages.iter().flatten().filter(|r| r.kind == k).count();
        let (t, f) = (count(Kind::Table), count(Kind::Figure));
        out.push(Qa {
            kind: "document_counts",
            question: "How many tables and how many figures does this document excerpt contain?"
                .into(),
            answer: format!("{t} table{}, {f} figure{}.", plural(t), plural(f)),
        });
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl LongDoc {
    fn emit_chunk(
        &self,
        io: &mut StageIo,
        chunk: &[PageRow],
        vision: usize,
        seed: u64,
    ) -> StageResult<()> {
        let regs: Vec<Vec<Region>> = chunk
            .iter()
            .map(|p| {
                regions(
                    &p.layout.blocks,
                    &p.figures.iter().map(|f| f.bbox).collect::<Vec<_>>(),
                )
            })
            .collect();
        let mut qas = questions(&regs);
        // A seeded choice of distinct questions, one per kind first.
        let key = format!("{}:{}", chunk[0].uid(), chunk.len());
        qas.sort_by_key(|q| keyed(seed, &format!("{key}/{}", q.question)));
        let mut chosen: Vec<Qa> = Vec::new();
        for q in &qas {
            if chosen.len() < self.cfg.questions && !chosen.iter().any(|c| c.kind == q.kind) {
                chosen.push(q.clone());
            }
        }
        for q in &qas {
            if chosen.len() < self.cfg.questions && !chosen.contains(q) {
                chosen.push(q.clone());
            }
        }
        let n = chunk.len();
        if chosen.is_empty() {
            io.drop_records("no_questions", n as u64);
            return Ok(());
        }
        let mut messages = Vec::new();
        for (i, qa) in chosen.iter().enumerate() {
            let mut content = Vec::new();
            if i == 0 {
                content.extend((0..n as u32).map(|index| Content::Image { index }));
                content.push(Content::text(format!(
                    "These images are pages 1–{n} of one document, in order. {}",
                    qa.question
                )));
            } else {
                content.push(Content::text(&qa.question));
            }
            messages.push(Message::new("user", content));
            messages.push(Message::new("assistant", vec![Content::text(&qa.answer)]));
        }
        let text: usize = chosen
            .iter()
            .map(|q| text_tokens(&q.question) + text_tokens(&q.answer) + 10)
            .sum();
        let mut meta: Map<String, Value> = Map::new();
        meta.insert("doc_id".into(), json!(chunk[0].doc_id));
        meta.insert("doc_path".into(), json!(chunk[0].doc_path));
        meta.insert(
            "pages".into(),
            json!([chunk[0].page + 1, chunk[n - 1].page + 1]),
        );
        meta.insert("doc_pages".into(), json!(chunk[0].pages));
        meta.insert("lang".into(), json!(chunk[0].lang));
        meta.insert("vision_tokens".into(), json!(vision));
        meta.insert("text_tokens_estimate".into(), json!(text));
        meta.insert("budget_tokens".into(), json!(self.cfg.budget_tokens));
        meta.insert(
            "questions".into(),
            json!(chosen.iter().map(|q| q.kind).collect::<Vec<_>>()),
        );
        let images = chunk.iter().map(page_image).collect();
        let sample = Sample::new("long_doc", &self.cfg.source, messages, images, vec![], meta);
        io.emit_from(
            &samples_to_batch(&[sample]).map_err(|e| e.to_string())?,
            n as u64,
        )
    }
}

impl Stage for LongDoc {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        require_page_table(inputs)?;
        Ok(sample_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let seed = io.pipeline_seed();
        let room = self.cfg.budget_tokens - QA_RESERVE;
        for_each_doc(io, |io, pages| {
            for run in consecutive_runs(pages) {
                let mut chunk: Vec<PageRow> = Vec::new();
                let mut used = 0;
                let flush =
                    |io: &mut StageIo, chunk: &mut Vec<PageRow>, used: usize| -> StageResult<()> {
                        if chunk.len() >= self.cfg.min_pages {
                            self.emit_chunk(io, chunk, used, seed)?;
                        } else {
                            io.drop_records("short_run", chunk.len() as u64);
                        }
                        chunk.clear();
                        Ok(())
                    };
                for page in run {
                    let cost = match vision_tokens(&self.vision, &page) {
                        Ok(t) => t + 2, // + vision start/end
                        Err(e) => {
                            flush(io, &mut chunk, used)?;
                            used = 0;
                            io.quarantine(page.uid(), "image_size", e);
                            continue;
                        }
                    };
                    if cost > room {
                        flush(io, &mut chunk, used)?;
                        used = 0;
                        io.drop_records("over_budget", 1);
                        continue;
                    }
                    if used + cost > room {
                        flush(io, &mut chunk, used)?;
                        used = 0;
                    }
                    used += cost;
                    chunk.push(page);
                }
                flush(io, &mut chunk, used)?;
            }
            Ok(())
        })
    }
}
