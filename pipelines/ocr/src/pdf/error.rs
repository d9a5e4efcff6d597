//! Errors and resource limits of the PDF parser.
//!
//! Every way a PDF can be unusable maps to one [`PdfError`] variant with a short, stable
//! [`PdfError::reason`] key: the stages quarantine bad inputs under that key instead of failing
//! the run, so the keys are part of the output format. [`Limits`] bound what one document may
//! cost (pages, decompressed bytes, file size, wall time) so a hostile file cannot stall a run.

use std::time::Duration;

/// Resource bounds applied while opening and reading one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Refuse documents whose page tree claims more pages than this.
    pub max_pages: usize,
    /// Refuse any single stream that decompresses to more bytes than this.
    pub max_stream_bytes: u64,
    /// Refuse files larger than this.
    pub max_file_bytes: u64,
    /// Wall-clock budget for one document, from `open` to the last page read.
    pub time_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pages: 10_000,
            max_stream_bytes: 64 << 20,
            max_file_bytes: 1 << 30,
            time_budget: Duration::from_secs(60),
        }
    }
}

/// Why a PDF (or one of its pages) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The bytes are not a PDF (no `%PDF-` header near the start).
    #[error("not a PDF: {0}")]
    NotPdf(String),
    /// The document is encrypted and cannot be opened with an empty password.
    #[error("encrypted PDF (a password is required)")]
    Encrypted,
    /// The file is damaged beyond what the parser repairs.
    #[error("corrupt PDF: {0}")]
    Corrupt(String),
    /// The page tree holds no pages.
    #[error("the PDF has no pages")]
    NoPages,
    /// The page tree claims more pages than [`Limits::max_pages`].
    #[error("the PDF claims {0} pages, over the limit")]
    TooManyPages(usize),
    /// A stream (or the file) would expand past the configured byte limit.
    #[error("{what} exceeds {limit} bytes (decompression bomb or oversized input)")]
    StreamTooLarge {
        /// Which stream or file.
        what: String,
        /// The limit it ran into, in bytes.
        limit: u64,
    },
    /// The per-document time budget ran out.
    #[error("time budget for the document exhausted")]
    Timeout,
    /// A page index past the end of the document.
    #[error("page index {index} out of range (document has {pages} pages)")]
    PageOutOfRange {
        /// Requested index.
        index: usize,
        /// Pages in the document.
        pages: usize,
    },
    /// The file could not be read.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl PdfError {
    /// Short snake_case key used as the quarantine reason.
    pub fn reason(&self) -> &'static str {
        match self {
            PdfError::NotPdf(_) => "not_pdf",
            PdfError::Encrypted => "encrypted",
            PdfError::Corrupt(_) => "corrupt",
            PdfError::NoPages => "no_pages",
            PdfError::TooManyPages(_) => "too_many_pages",
            PdfError::StreamTooLarge { .. } => "decompression_bomb",
            PdfError::Timeout => "timeout",
            PdfError::PageOutOfRange { .. } => "page_out_of_range",
            PdfError::Io(_) => "io",
        }
    }
}
