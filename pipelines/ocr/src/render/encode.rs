//! Storing page images: PNG for born-digital pages, JPEG for pages that are photographs.
//!
//! Both encoders write a one-channel image when every pixel is grey (most document pages):
//! a third of the raw data and, measured on the sample pages, PNGs 55–63 % smaller; decoders
//! hand back the same pixels once converted to RGB (which the Qwen3-VL processor does anyway).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use super::RenderError;

/// An image file in memory, as it goes into a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// `"jpeg"` or `"png"`.
    pub format: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// JPEG quality for pages [`encode_page`] stores as JPEG: 90 keeps 8 pt text edges free of
/// visible ringing at 144 dpi.
pub const PAGE_JPEG_QUALITY: u8 = 90;

/// Lossless PNG (adaptive filtering, default zlib level). Grey images are written as 8-bit
/// greyscale.
pub fn encode_png(img: &RgbImage) -> Vec<u8> {
    let (data, color) = pixels_for_encoding(img);
    // Encoding into a Vec only fails on dimension/buffer mismatches, which an `RgbImage`
    // rules out.
    png_from_raw(&data, img.width(), img.height(), color).expect("PNG encoding into memory")
}

/// Baseline JPEG at `quality` (clamped to 1–100). Grey images are written as one-channel
/// JPEG.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let enc = JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    let (data, color) = pixels_for_encoding(img);
    enc.write_image(&data, img.width(), img.height(), color)
        .expect("JPEG encoding into memory");
    out.into_inner()
}

/// Encodes a rendered page in the default format: PNG, unless the page is photographic
/// enough that PNG would be more than [`PNG_TO_JPEG_RATIO`] times the JPEG
/// ([`PAGE_JPEG_QUALITY`]). Text and line art stay lossless (sharp glyph edges are what an OCR
/// model reads); scans and full-page photos, where PNG is several times larger and the loss
/// is invisible, become JPEG.
pub fn encode_page(img: &RgbImage) -> EncodedImage {
    let png = encode_png(img);
    let (width, height) = img.dimensions();
    // Cheap test first: a PNG of at most 1 bit per pixel is never worth re-encoding.
    if (png.len() as u64) * 8 > u64::from(width) * u64::from(height) {
        let jpeg = encode_jpeg(img, PAGE_JPEG_QUALITY);
        if png.len() as f64 > PNG_TO_JPEG_RATIO * jpeg.len() as f64 {
            return EncodedImage {
                bytes: jpeg,
                format: "jpeg",
                width,
                height,
            };
        }
    }
    EncodedImage {
        bytes: png,
        format: "png",
        width,
        height,
    }
}

/// PNG of raw 8-bit pixels (`L8` or `Rgb8`), for decoded embedded images.
pub(crate) fn png_from_raw(
    data: &[u8],
    width: u32,
    height: u32,
    color: ExtendedColorType,
) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(data, width, height, color)
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// PNG/JPEG size ratio above which [`encode_page`] picks JPEG.
pub const PNG_TO_JPEG_RATIO: f64 = 2.0;

/// The image's bytes as L8 when every pixel is grey, else as RGB8.
fn pixels_for_encoding(img: &RgbImage) -> (std::borrow::Cow<'_, [u8]>, ExtendedColorType) {
    let raw = img.as_raw();
    if raw.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]) {
        let grey: Vec<u8> = raw.chunks_exact(3).map(|p| p[0]).collect();
        (grey.into(), ExtendedColorType::L8)
    } else {
        (raw.as_slice().into(), ExtendedColorType::Rgb8)
    }
}
