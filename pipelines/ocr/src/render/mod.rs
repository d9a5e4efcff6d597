//! Page images and embedded images for OCR samples.
//!
//! Every OCR, document-parsing and long-document sample needs the page *as a picture*, sized to
//! what Qwen3-VL accepts, and interleaved samples need the pictures embedded in the PDF. This
//! module turns PDF bytes into those images:
//!
//! - [`render_page`] / [`PdfRenderer`] rasterise a page with [hayro] (pure Rust, no system
//!   library, ~2× faster than `pdftoppm` and close to it in output on the bundled samples —
//!   the measurements behind that choice are in the crate's `ARCHITECTURE.md`). The page is
//!   rendered directly at the size it will be stored at: the requested DPI, shrunk (aspect
//!   kept) when that would exceed [`RenderOptions::max_pixels`] or grown when below
//!   [`RenderOptions::min_pixels`]. Rendering at the final size instead of rendering at the DPI
//!   and resampling afterwards gives the same pixel dimensions with sharper text and less
//!   work. Sizes are *not* snapped to multiples of 32: the model's processor does that.
//! - [`extract_image`] returns an image XObject as a file: JPEG streams pass through byte for
//!   byte (after checking they decode), everything else is decoded and stored as PNG.
//! - [`encode_png`] / [`encode_jpeg`] / [`encode_page`] store rendered pages.
//!
//! Malformed PDFs must not take a worker down: the renderer runs under
//! [`std::panic::catch_unwind`] and every failure is a [`RenderError`] with a stable
//! [`RenderError::reason`] for the stage's skip counters. Work is bounded by pixel budgets
//! ([`MAX_RENDER_PIXELS`], [`MAX_IMAGE_PIXELS`]); hayro has no way to interrupt a page that is
//! slow because of its content, so wall-clock time per page is not bounded here.

mod encode;
mod extract;
mod page;

#[cfg(test)]
mod tests;

pub use encode::{EncodedImage, encode_jpeg, encode_page, encode_png};
pub use extract::extract_image;
pub use page::{PdfRenderer, render_page};

/// Hard cap on the pixels of one rendered page, whatever [`RenderOptions::max_pixels`] says:
/// 50 Mpx is ~200 MB of RGBA scratch in the rasteriser. Larger requests are rendered at a
/// lower DPI instead.
pub const MAX_RENDER_PIXELS: u64 = 50_000_000;

/// Largest embedded image [`extract_image`] decodes (pixels). Real scans at 600 dpi on A3 are
/// ~70 Mpx; anything beyond this is a decompression bomb or not worth a training sample.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;

/// How to rasterise a page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    /// Resolution before the pixel budget applies (dots per inch; 72 = one pixel per point).
    pub dpi: f32,
    /// Upper bound on width × height of the output (Qwen3-VL: 16 777 216 = 16384·32²).
    pub max_pixels: u64,
    /// Lower bound on width × height of the output (Qwen3-VL: 65 536 = 64·32²).
    pub min_pixels: u64,
}

impl Default for RenderOptions {
    /// 144 dpi (a Letter page is 1224 × 1584, ~1 900 vision tokens: body text at 10 pt is
    /// ~20 px high, comfortably legible) within Qwen3-VL's image pixel bounds.
    fn default() -> Self {
        RenderOptions {
            dpi: 144.0,
            max_pixels: 16_777_216,
            min_pixels: 65_536,
        }
    }
}

/// Why a page or image could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// [`RenderOptions`] out of range (DPI not positive and finite, `max_pixels` zero).
    #[error("invalid render options: {0}")]
    InvalidOptions(String),
    /// The bytes are not a PDF the renderer can open.
    #[error("cannot open PDF: {0}")]
    Load(String),
    /// The document is encrypted with a password we do not have.
    #[error("PDF is encrypted: {0}")]
    Encrypted(String),
    /// `page_index` is past the last page.
    #[error("page {index} out of range: the document has {pages} pages")]
    PageOutOfRange {
        /// Requested 0-based page.
        index: usize,
        /// Pages in the document.
        pages: usize,
    },
    /// The page's box has no area.
    #[error("page has no area ({width} × {height} pt)")]
    EmptyPage {
        /// Width in points.
        width: f32,
        /// Height in points.
        height: f32,
    },
    /// The renderer or a decoder panicked; the message is the panic payload.
    #[error("renderer panicked: {0}")]
    Panic(String),
    /// The object is missing or is not an image XObject.
    #[error("object {} {} is not an image: {reason}", .object.0, .object.1)]
    NotAnImage {
        /// The object id asked for.
        object: (u32, u16),
        /// What was found instead.
        reason: String,
    },
    /// A stream filter no decoder here handles.
    #[error("unsupported image filter {0}")]
    UnsupportedFilter(String),
    /// A colour space this module does not convert (Separation, DeviceN, Lab, Pattern…).
    #[error("unsupported colour space {0}")]
    UnsupportedColorSpace(String),
    /// Width × height beyond [`MAX_IMAGE_PIXELS`].
    #[error("image of {width} × {height} px exceeds the decode budget")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The image stream does not decode (corrupt data, inconsistent dictionary).
    #[error("bad image data: {0}")]
    BadImage(String),
    /// PNG or JPEG encoding failed.
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl RenderError {
    /// A short, stable identifier for counting skipped pages and images by cause.
    pub fn reason(&self) -> &'static str {
        match self {
            RenderError::InvalidOptions(_) => "invalid_options",
            RenderError::Load(_) => "pdf_unreadable",
            RenderError::Encrypted(_) => "pdf_encrypted",
            RenderError::PageOutOfRange { .. } => "page_out_of_range",
            RenderError::EmptyPage { .. } => "empty_page",
            RenderError::Panic(_) => "render_panic",
            RenderError::NotAnImage { .. } => "not_an_image",
            RenderError::UnsupportedFilter(_) => "unsupported_filter",
            RenderError::UnsupportedColorSpace(_) => "unsupported_color_space",
            RenderError::TooLarge { .. } => "image_too_large",
            RenderError::BadImage(_) => "bad_image_data",
            RenderError::Encode(_) => "encode_failed",
        }
    }
}

/// Runs `f`, turning a panic into [`RenderError::Panic`]. Third-party decoders and the
/// rasteriser are not panic-free on hostile input; a sample is skipped, the worker lives.
fn guard<T>(f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        Err(RenderError::Panic(msg))
    })
}
