//! The OCR pipeline's stage kinds, registered into the engine's registry by [`register`].
//!
//! ```text
//! pdf_pages ─▶ page_filter ─▶ page_near_duplicates (global) ─┐
//!                   └─────────────▶ drop_duplicates (engine) ◀┘─▶ ocr_samples
//!                                                               ├▶ doc_parse_samples
//!                                                               ├▶ long_doc_samples
//!                                                               └▶ interleaved_samples
//! ocr_synth (source) ─────────────────────────────────────────────▶ synthetic OCR lines
//! ```

mod common;
mod interleaved;
mod long_doc;
mod near_duplicates;
mod page_filter;
mod page_samples;
pub mod page_schema;
mod pdf_pages;
mod synth_samples;

pub use long_doc::{Qa, questions};
pub use near_duplicates::group as near_duplicate_groups;

use weft_engine::registry::{KindInfo, Registry};

/// Registers the OCR pipeline's kinds.
pub fn register(r: &mut Registry) {
    let kinds: [(
        &'static str,
        bool,
        &'static str,
        weft_engine::registry::BuildFn,
    ); 8] = [
        (
            "pdf_pages",
            true,
            "PDFs (folder, glob or list file) → one row per page: text, layout, figures, image",
            pdf_pages::build,
        ),
        (
            "page_filter",
            false,
            "quarantine failed pages; transcribe pages that need OCR with a configured model, else drop them",
            page_filter::build,
        ),
        (
            "page_near_duplicates",
            false,
            "global phase: MinHash near-duplicate page groups",
            near_duplicates::build,
        ),
        (
            "ocr_samples",
            false,
            "page image → page text",
            page_samples::build_ocr,
        ),
        (
            "doc_parse_samples",
            false,
            "page image → HTML with data-bbox regions",
            page_samples::build_doc_parse,
        ),
        (
            "long_doc_samples",
            false,
            "consecutive pages + computed questions, up to a token budget",
            long_doc::build,
        ),
        (
            "interleaved_samples",
            false,
            "text and figures in reading order, cut at sections",
            interleaved::build,
        ),
        (
            "ocr_synth",
            true,
            "multilingual synthetic OCR lines rendered with Noto fonts",
            synth_samples::build,
        ),
    ];
    for (name, source, about, build) in kinds {
        r.register(KindInfo {
            name,
            source,
            about,
            build,
        });
    }
}
