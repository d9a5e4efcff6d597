//! `interleaved_samples`: a document's text and its embedded figures in reading order as one
//! interleaved image-text sample (text, image, text, …), figure captions kept next to their
//! figures, cut at section boundaries (headings) to fit the token budget.
//!
//! The sample is pretraining-style: one `assistant` message holding the whole excerpt, so the
//! usual loss masks train on all of it (`meta.format = "interleaved_document"`). Headings are
//! written as Markdown (`#`, `##`, `###`). A chunk without any figure is not an image-text
//! sample: its pages are dropped as `no_figures`; pages with no text and no figure as
//! `empty_page`.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_shards::vision::VisionParams;
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use super::common::{for_each_doc, text_tokens};
use super::page_samples::require_page_table;
use super::page_schema::PageRow;
use crate::doc_parse::{Kind, regions};

fn d_budget() -> usize {
    8_192
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    source: String,
    #[serde(default = "d_budget")]
    budget_tokens: usize,
}

struct Interleaved {
    cfg: Config,
    vision: VisionParams,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if !(256..=super::long_doc::MAX_BUDGET).contains(&cfg.budget_tokens) {
        return Err(format!(
            "`budget_tokens` must be between 256 and {}",
            super::long_doc::MAX_BUDGET
        ));
    }
    Ok(Arc::new(Interleaved {
        cfg,
        vision: VisionParams::default(),
    }))
}

/// One element of the document stream.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text { text: String, heading: bool },
    Figure(Image),
}

struct Piece {
    item: Item,
    page: u32,
    tokens: usize,
}

impl Interleaved {
    fn pieces(&self, page: &PageRow) -> Vec<Piece> {
        let boxes: Vec<_> = page.figures.iter().map(|f| f.bbox).collect();
        let mut out = Vec::new();
        for r in regions(&page.layout.blocks, &boxes) {
            let flat = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let item = match r.kind {
                Kind::Figure => {
                    let Some(f) = r.figure.and_then(|i| page.figures.get(i)) else {
                        continue;
                    };
                    let Ok(tokens) = self.vision.image_tokens(f.width, f.height) else {
                        continue;
                    };
                    let img = Image {
                        bytes: f.bytes.clone(),
                        path: Some(format!("{}#page={}", page.doc_path, page.page + 1)),
                        width: f.width,
                        height: f.height,
                        format: f.format.clone(),
                    };
                    out.push(Piece {
                        item: Item::Figure(img),
                        page: page.page,
                        tokens: tokens + 2,
                    });
                    continue;
                }
                Kind::Heading(l) => Item::Text {
                    text: format!("{} {flat}", "#".repeat(l as usize)),
                    heading: true,
                },
                Kind::Table => Item::Text {
                    text: r
                        .cells
                        .iter()
                        .map(|row| row.join(" | "))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    heading: false,
                },
                _ => Item::Text {
                    text: flat,
                    heading: false,
                },
            };
            let Item::Text { text, .. } = &item else {
                unreachable!()
            };
            let tokens = text_tokens(text) + 1;
            out.push(Piece {
                item,
                page: page.page,
                tokens,
            });
        }
        out
    }

    fn emit(
        &self,
        io: &mut StageIo,
        chunk: Vec<Piece>,
        first: &PageRow,
        used: &mut BTreeSet<u32>,
    ) -> StageResult<()> {
        if !chunk.iter().any(|p| matches!(p.item, Item::Figure(_))) {
            return Ok(());
        }
        let pages: BTreeSet<u32> = chunk.iter().map(|p| p.page).collect();
        let new_pages = pages.difference(used).count() as u64;
        used.extend(&pages);
        let tokens: usize = chunk.iter().map(|p| p.tokens).sum();
        let mut content: Vec<Content> = Vec::new();
        let mut images = Vec::new();
        for p in chunk {
            match p.item {
                Item::Figure(img) => {
                    content.push(Content::Image {
                        index: images.len() as u32,
                    });
                    images.push(img);
                }
                Item::Text { text, .. } => match content.last_mut() {
                    Some(Content::Text { text: prev }) => {
                        prev.push_str("\n\n");
                        prev.push_str(&text);
                    }
                    _ => content.push(Content::text(text)),
                },
            }
        }
        let mut meta = serde_json::Map::new();
        meta.insert("format".into(), json!("interleaved_document"));
        meta.insert("doc_id".into(), json!(first.doc_id));
        meta.insert("doc_path".into(), json!(first.doc_path));
        meta.insert(
            "pages".into(),
            json!(pages.iter().map(|p| p + 1).collect::<Vec<_>>()),
        );
        meta.insert("lang".into(), json!(first.lang));
        meta.insert("tokens_estimate".into(), json!(tokens));
        let sample = Sample::new(
            "interleaved",
            &self.cfg.source,
            vec![Message::new("assistant", content)],
            images,
            vec![],
            meta,
        );
        io.emit_from(
            &samples_to_batch(&[sample]).map_err(|e| e.to_string())?,
            new_pages,
        )
    }
}

impl Stage for Interleaved {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        require_page_table(inputs)?;
        Ok(sample_schema())
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let budget = self.cfg.budget_tokens;
        for_each_doc(io, |io, pages| {
            let all: BTreeSet<u32> = pages.iter().map(|p| p.page).collect();
            let mut used = BTreeSet::new();
            let mut chunk: Vec<Piece> = Vec::new();
            let mut tokens = 0;
            let mut section: Vec<Piece> = Vec::new();
            let mut section_tokens = 0;
            let pieces: Vec<Piece> = pages.iter().flat_map(|p| self.pieces(p)).collect();
            let with_content: BTreeSet<u32> = pieces.iter().map(|p| p.page).collect();
            for piece in pieces.into_iter().chain(std::iter::once(Piece {
                item: Item::Text {
                    text: String::new(),
                    heading: true,
                },
                page: u32::MAX,
                tokens: 0,
            })) {
                let heading = matches!(piece.item, Item::Text { heading: true, .. });
                if heading && !section.is_empty() {
                    // Close the section: add it to the chunk, or start a new chunk with it.
                    if tokens + section_tokens > budget && !chunk.is_empty() {
                        self.emit(io, std::mem::take(&mut chunk), &pages[0], &mut used)?;
                        tokens = 0;
                    }
                    tokens += section_tokens;
                    chunk.append(&mut section);
                    section_tokens = 0;
                }
                if piece.page == u32::MAX {
                    break;
                }
                // A section longer than the budget is cut between items.
                if section_tokens + piece.tokens > budget && !section.is_empty() {
                    if !chunk.is_empty() {
                        self.emit(io, std::mem::take(&mut chunk), &pages[0], &mut used)?;
                        tokens = 0;
                    }
                    self.emit(io, std::mem::take(&mut section), &pages[0], &mut used)?;
                    section_tokens = 0;
                }
                section_tokens += piece.tokens;
                section.push(piece);
            }
            if !chunk.is_empty() {
                self.emit(io, chunk, &pages[0], &mut used)?;
            }
            let empty = all.difference(&with_content).count() as u64;
            io.drop_records("empty_page", empty);
            io.drop_records("no_figures", (all.len() - used.len()) as u64 - empty);
            Ok(())
        })
    }
}
