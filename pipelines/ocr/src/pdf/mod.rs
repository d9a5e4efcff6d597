//! PDF parsing on lopdf: documents, pages, text with positions and fonts, embedded images.
//!
//! [`PdfDocument`] opens a file under [`Limits`] and yields per page a [`PageGeometry`] and a
//! [`PageContent`] (text blocks in reading order, placed images). Text comes from our own
//! content-stream interpreter rather than lopdf's `extract_text`, which drops positions and
//! loses about a sixth of CJK characters (no codespace-aware code splitting); see
//! `interpreter.rs`, `fonts.rs` and `cmap.rs`. Every failure is a [`PdfError`] whose
//! [`PdfError::reason`] is the quarantine key.

mod cmap;
mod document;
mod encoding;
mod error;
mod fonts;
mod glyph_tables;
mod interpreter;
mod layout;
mod lexer;
mod matrix;
mod objects;
mod page;
pub mod types;

#[cfg(test)]
mod tests;

pub use document::PdfDocument;
pub use error::{Limits, PdfError};
pub use types::*;
