//! # weft-pipeline-ocr
//!
//! Turns a folder of PDFs into OCR, document-parsing, long-document and interleaved
//! image-text samples, plus multilingual synthetic OCR lines (`just build-ocr-shards`).
//!
//! - [`pdf`]: lopdf-based parsing (pages, text with positions and fonts, reading order, images);
//! - [`render`]: page rasterisation (hayro) and embedded-image decoding;
//! - [`synth`]: synthetic multilingual text lines (rustybuzz + ab_glyph, Noto fonts);
//! - [`quality`]: needs-OCR verdicts, language, MinHash;
//! - [`doc_parse`]: page structure and its HTML markup;
//! - [`stages`]: the stage kinds, registered with [`register`].

pub mod doc_parse;
pub mod pdf;
pub mod quality;
pub mod render;
pub mod stages;
pub mod synth;

pub use stages::register;
