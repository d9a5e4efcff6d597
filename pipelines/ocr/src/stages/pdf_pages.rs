//! `pdf_pages`: the source stage of the OCR pipeline. Each PDF is opened under resource
//! limits, every page is parsed (text, layout, figures) and rendered once, and one row per
//! page goes into the page table.
//!
//! Accounting is per file: a file that cannot be opened (not a PDF, encrypted, corrupt, no
//! pages, millions of pages, a decompression bomb, out of time) is quarantined with the
//! parser's reason; every page of an opened file becomes a row — pages that fail carry their
//! reason in `status`, and `page_filter` quarantines them, so every page is accounted for too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use weft_engine::inputs::{file_key, relative, resolve_inputs};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};

use super::page_schema::{Figure, Layout, PageRow, page_schema, pages_to_batch};
use crate::pdf::{Limits, PdfDocument, PlacedImage};
use crate::quality::{assess, language};
use crate::render::{PdfRenderer, RenderOptions, encode_page, extract_image};

fn d_pdfs_per_split() -> usize {
    4
}
fn d_dpi() -> f32 {
    144.0
}
fn d_max_pixels() -> u64 {
    RenderOptions::default().max_pixels
}
fn d_min_pixels() -> u64 {
    RenderOptions::default().min_pixels
}
fn d_time_limit() -> f64 {
    120.0
}
fn d_max_pages() -> usize {
    10_000
}
fn d_min_figure_px() -> u32 {
    64
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Folder (recursive), glob or list file of PDFs, relative to the pipeline file.
    path: String,
    #[serde(default = "d_pdfs_per_split")]
    pdfs_per_split: usize,
    /// Rendering resolution before the pixel budget applies.
    #[serde(default = "d_dpi")]
    dpi: f32,
    /// Page-image pixel budget (the model's `max_pixels`).
    #[serde(default = "d_max_pixels")]
    max_pixels: u64,
    #[serde(default = "d_min_pixels")]
    min_pixels: u64,
    /// Wall-clock limit per document, seconds.
    #[serde(default = "d_time_limit")]
    time_limit_secs: f64,
    #[serde(default = "d_max_pages")]
    max_pages: usize,
    /// Embedded images smaller than this (either side) are not kept as figures.
    #[serde(default = "d_min_figure_px")]
    min_figure_px: u32,
}

struct PdfPages {
    cfg: Config,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let dpi_ok = cfg.dpi > 0.0 && cfg.dpi <= 1200.0;
    let time_ok = cfg.time_limit_secs > 0.0 && cfg.time_limit_secs.is_finite();
    if cfg.pdfs_per_split == 0 || !dpi_ok || !time_ok {
        return Err(
            "`pdfs_per_split` ≥ 1, 0 < `dpi` ≤ 1200 and `time_limit_secs` > 0 are required".into(),
        );
    }
    Ok(Arc::new(PdfPages { cfg }))
}

/// Pages per emitted batch: bounds memory for long documents.
const PAGES_PER_BATCH: usize = 16;

impl PdfPages {
    fn root(&self, ctx_base: &std::path::Path) -> PathBuf {
        let p = ctx_base.join(&self.cfg.path);
        if p.is_dir() {
            p
        } else {
            p.parent()
                .map(|d| d.to_path_buf())
                .unwrap_or_else(|| ctx_base.to_path_buf())
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_pages: self.cfg.max_pages,
            time_budget: Duration::from_secs_f64(self.cfg.time_limit_secs),
            ..Limits::default()
        }
    }

    fn figure(&self, doc: &PdfDocument, placed: &PlacedImage, page_area: f32) -> Option<Figure> {
        let object = placed.object?;
        let min = self.cfg.min_figure_px;
        if placed.width_px < min
            || placed.height_px < min
            || placed.bbox.width() * placed.bbox.height() < 0.01 * page_area
        {
            return None;
        }
        // A figure that cannot be decoded is left out of the figures list; the page itself
        // (text and rendered image, where it is visible) is still complete.
        let img = extract_image(doc.document(), object).ok()?;
        Some(Figure {
            bytes: img.bytes,
            format: img.format.to_string(),
            width: img.width,
            height: img.height,
            bbox: placed.bbox,
        })
    }

    fn process_file(
        &self,
        path: &std::path::Path,
        root: &std::path::Path,
        io: &mut StageIo,
    ) -> StageResult<()> {
        io.add_input(1);
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                io.quarantine(shown, "io", e.to_string());
                return Ok(());
            }
        };
        let started = Instant::now();
        let doc_id = hex::encode(&Sha256::digest(&bytes)[..16]);
        let doc_path = relative(root, path);
        let doc = match PdfDocument::from_bytes(bytes.clone(), &self.limits()) {
            Ok(d) => d,
            Err(e) => {
                io.quarantine(shown, e.reason(), e.to_string());
                return Ok(());
            }
        };
        let deadline = started + Duration::from_secs_f64(self.cfg.time_limit_secs);
        let renderer = PdfRenderer::new(&bytes);
        let opts = RenderOptions {
            dpi: self.cfg.dpi,
            max_pixels: self.cfg.max_pixels,
            min_pixels: self.cfg.min_pixels,
        };
        let doc_meta = serde_json::to_string(&doc.metadata()).unwrap_or_else(|_| "{}".into());
        let pages = doc.page_count() as u32;
        if pages == 0 {
            io.quarantine(shown, "no_pages", "the PDF has no pages");
            return Ok(());
        }
        let mut rows = Vec::new();
        for i in 0..pages {
            let row = self.page(
                &doc,
                renderer.as_ref().map_err(|e| e.to_string()),
                i,
                pages,
                deadline,
                &doc_id,
                &doc_path,
                &doc_meta,
                &opts,
            );
            rows.push(row);
            let last = i + 1 == pages;
            if rows.len() == PAGES_PER_BATCH || last {
                let batch = pages_to_batch(&rows)?;
                io.emit_from(&batch, u64::from(last))?;
                rows.clear();
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        doc: &PdfDocument,
        renderer: Result<&PdfRenderer, String>,
        i: u32,
        pages: u32,
        deadline: Instant,
        doc_id: &str,
        doc_path: &str,
        doc_meta: &str,
        opts: &RenderOptions,
    ) -> PageRow {
        let idx = i as usize;
        let geometry = match doc.page_geometry(idx) {
            Ok(g) => g,
            Err(e) => {
                return PageRow::failed(
                    doc_id,
                    doc_path,
                    i,
                    pages,
                    None,
                    e.reason(),
                    e.to_string(),
                );
            }
        };
        let fail = |status: &str, err: String| {
            PageRow::failed(doc_id, doc_path, i, pages, Some(&geometry), status, err)
        };
        if Instant::now() > deadline {
            return fail(
                "timeout",
                format!(
                    "document time limit of {}s reached",
                    self.cfg.time_limit_secs
                ),
            );
        }
        let content = match doc.page_content(idx, deadline) {
            Ok(c) => c,
            Err(e) => return fail(e.reason(), e.to_string()),
        };
        let image = match renderer.and_then(|r| r.render(idx, opts).map_err(|e| e.to_string())) {
            Ok(img) => encode_page(&img),
            Err(e) => return fail("render_failed", e),
        };
        let text = content.text.plain_text();
        let quality = assess(&content.text, &text);
        let page_area = geometry.width * geometry.height;
        let figures = content
            .images
            .iter()
            .filter_map(|p| self.figure(doc, p, page_area))
            .collect();
        PageRow {
            doc_id: doc_id.into(),
            doc_path: doc_path.into(),
            page: i,
            pages,
            status: "ok".into(),
            error: None,
            width_pt: geometry.width,
            height_pt: geometry.height,
            image: image.bytes,
            image_format: image.format.into(),
            image_width: image.width,
            image_height: image.height,
            lang: language(&text),
            text,
            layout: Layout {
                blocks: content.text.blocks,
            },
            figures,
            needs_ocr: quality.needs_ocr,
            quality: quality.reason.map(String::from),
            doc_meta: doc_meta.into(),
        }
    }
}

impl Stage for PdfPages {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(page_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let files = resolve_inputs(&ctx.base_dir, &self.cfg.path, &["pdf"])?;
        let root = self.root(&ctx.base_dir);
        Ok(files
            .chunks(self.cfg.pdfs_per_split)
            .enumerate()
            .map(|(i, chunk)| Split {
                index: i as u64,
                files: Vec::new(),
                items: chunk.to_vec(),
                key: chunk
                    .iter()
                    .map(|p| file_key(&root, p))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let root = self.root(io.base_dir());
        for path in &split.items {
            self.process_file(path, &root, io)?;
        }
        Ok(())
    }
}
