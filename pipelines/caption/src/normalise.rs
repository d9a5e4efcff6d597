//! One image's bytes → a checked, upright image ready for a shard, or the reason it is not.
//!
//! Order matters for safety: the format is sniffed from the bytes (never the name or the
//! server's content type), the header's dimensions are checked against `max_pixels` and the
//! decoder runs under [`image::Limits`] **before any pixel buffer is allocated**, so a
//! 50 000 × 50 000 PNG of a few hundred bytes costs nothing. JPEGs must end with an EOI marker
//! after the last scan (the `image` crate pads truncated scans with grey silently).
//!
//! Bytes are kept as they came when they already are JPEG, PNG or WebP and upright; EXIF
//! rotations are applied and re-encoded (JPEG q95 for JPEG input, PNG otherwise), GIF (first
//! frame), BMP and TIFF become PNG.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, metadata::Orientation};
use sha2::{Digest, Sha256};

use crate::hash::{Hashers, Signature, colour_feature};

/// Thresholds of [`normalise`].
#[derive(Debug, Clone)]
pub struct Rules {
    /// Shorter side below this is dropped (`too_small`).
    pub min_side: u32,
    /// Longer / shorter side above this is dropped (`aspect_ratio`).
    pub max_aspect_ratio: f64,
    /// Width × height above this is quarantined (`too_large`) from the header alone.
    pub max_pixels: u64,
    /// Decoder allocation cap in bytes.
    pub max_alloc: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            min_side: 32,
            max_aspect_ratio: 200.0,
            // PIL's MAX_IMAGE_PIXELS × 2 (its hard error): the limit users of PIL tools know.
            max_pixels: 178_956_970,
            max_alloc: 1 << 30,
        }
    }
}

/// A normalised image.
#[derive(Debug, Clone)]
pub struct Normalised {
    /// Stored bytes.
    pub bytes: Vec<u8>,
    /// Stored format (`jpeg`, `png`, `webp`).
    pub format: &'static str,
    /// Upright width.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// True when the stored bytes are not the input bytes.
    pub reencoded: bool,
    /// Source format before any re-encoding.
    pub source_format: &'static str,
    /// sha256 (hex) of the stored bytes.
    pub sha256: String,
    /// Perceptual hashes of the upright image.
    pub signature: Signature,
    /// Cheap colour feature for clustering.
    pub feature: Vec<f32>,
}

/// Why an image was not kept: dropped on purpose or quarantined as bad input.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A policy drop (`too_small`, `aspect_ratio`).
    Drop(&'static str, String),
    /// Bad input (`not_an_image`, `unsupported_format`, `too_large`, `truncated`, `undecodable`).
    Quarantine(&'static str, String),
}

fn format_name(f: ImageFormat) -> Option<&'static str> {
    Some(match f {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Tiff => "tiff",
        _ => return None,
    })
}

/// True when the bytes look like markup (an HTML error page served with an image URL).
pub fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let t = text.trim_start();
    t.starts_with('<')
        && (t.contains("<html")
            || t.contains("<!doctype")
            || t.contains("<body")
            || t.contains("<?xml"))
}

/// Checks, decodes, orients and (only when needed) re-encodes one image.
pub fn normalise(bytes: &[u8], rules: &Rules, hashers: &Hashers) -> Result<Normalised, Refusal> {
    let q = |r: &'static str, m: String| Err(Refusal::Quarantine(r, m));
    if bytes.is_empty() {
        return q("undecodable", "empty file".into());
    }
    let mut reader = match ImageReader::new(Cursor::new(bytes)).with_guessed_format() {
        Ok(r) => r,
        Err(e) => return q("undecodable", e.to_string()),
    };
    let Some(format) = reader.format() else {
        if looks_like_html(bytes) {
            return q("not_an_image", "HTML/XML markup, not an image".into());
        }
        return q("unsupported_format", "not a recognised image format".into());
    };
    let Some(source_format) = format_name(format) else {
        return q(
            "unsupported_format",
            format!("{format:?} is not one of JPEG, PNG, WebP, GIF, BMP, TIFF"),
        );
    };
    let mut limits = Limits::default();
    limits.max_alloc = Some(rules.max_alloc);
    reader.limits(limits);
    let mut decoder = match reader.into_decoder() {
        Ok(d) => d,
        Err(e) => return q("undecodable", format!("{source_format} header: {e}")),
    };
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > rules.max_pixels {
        return q(
            "too_large",
            format!(
                "{w}×{h} exceeds max_pixels {} (decompression-bomb guard)",
                rules.max_pixels
            ),
        );
    }
    if source_format == "jpeg" && !weft_shards::image_check::jpeg_is_complete(bytes) {
        return q(
            "truncated",
            "JPEG has no end-of-image marker after its last scan".into(),
        );
    }
    // Size and shape from the header, before paying for a decode: EXIF rotation swaps width
    // and height but changes neither the shorter side nor the aspect ratio, and the decoded
    // image has exactly the header's dimensions.
    check_shape(w, h, rules)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = match DynamicImage::from_decoder(decoder) {
        Ok(i) => i,
        Err(image::ImageError::Limits(e)) => return q("too_large", e.to_string()),
        Err(e) => return q("undecodable", e.to_string()),
    };
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    let upright = orientation == Orientation::NoTransforms;
    let (stored, format, reencoded) = if upright && matches!(source_format, "jpeg" | "png" | "webp")
    {
        (bytes.to_vec(), source_format, false)
    } else if source_format == "jpeg" {
        (encode_jpeg(&img)?, "jpeg", true)
    } else {
        (encode_png(&img)?, "png", true)
    };
    Ok(Normalised {
        sha256: hex::encode(Sha256::digest(&stored)),
        signature: hashers.signature(&img),
        feature: colour_feature(&img),
        bytes: stored,
        format,
        width: w,
        height: h,
        reencoded,
        source_format,
    })
}

/// Drops images whose shorter side is under `min_side` or whose aspect ratio is over
/// `max_aspect_ratio`.
fn check_shape(w: u32, h: u32, rules: &Rules) -> Result<(), Refusal> {
    let (lo, hi) = (w.min(h), w.max(h));
    if lo < rules.min_side {
        return Err(Refusal::Drop(
            "too_small",
            format!("{w}×{h}: shorter side under {}", rules.min_side),
        ));
    }
    if f64::from(hi) / f64::from(lo) > rules.max_aspect_ratio {
        return Err(Refusal::Drop(
            "aspect_ratio",
            format!("{w}×{h}: aspect ratio over {}", rules.max_aspect_ratio),
        ));
    }
    Ok(())
}

fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| Refusal::Quarantine("undecodable", format!("re-encoding as PNG: {e}")))?;
    Ok(out)
}

fn encode_jpeg(img: &DynamicImage) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    rgb.write_with_encoder(enc)
        .map_err(|e| Refusal::Quarantine("undecodable", format!("re-encoding as JPEG: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/data/photos")
                .join(name),
        )
        .unwrap()
    }

    fn reason(r: Result<Normalised, Refusal>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(Refusal::Drop(r, _) | Refusal::Quarantine(r, _)) => r,
        }
    }

    /// A PNG whose header claims `w`×`h`, with a tiny (invalid) IDAT.
    pub(crate) fn png_header(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend((data.len() as u32).to_be_bytes());
            let mut c = kind.to_vec();
            c.extend_from_slice(data);
            out.extend_from_slice(&c);
            out.extend(crc32(&c).to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(
            &mut out,
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn keeps_good_photos_as_they_are_and_refuses_bad_input_with_reasons() {
        let h = Hashers::new();
        let r = Rules::default();
        let jpg = photo("coffee.jpg");
        let n = normalise(&jpg, &r, &h).unwrap();
        assert!(!n.reencoded);
        assert_eq!(n.bytes, jpg);
        // BMP is re-encoded as PNG with the same pixels.
        let img = image::load_from_memory(&jpg).unwrap();
        let mut bmp = Vec::new();
        img.write_to(&mut Cursor::new(&mut bmp), ImageFormat::Bmp)
            .unwrap();
        let b = normalise(&bmp, &r, &h).unwrap();
        assert!(b.reencoded && b.format == "png" && b.source_format == "bmp");
        assert_eq!(
            image::load_from_memory(&b.bytes).unwrap().to_rgb8(),
            img.to_rgb8()
        );
        // Bad input.
        assert_eq!(
            reason(normalise(&jpg[..jpg.len() / 2], &r, &h)),
            "truncated"
        );
        assert_eq!(
            reason(normalise(&png_header(50_000, 50_000), &r, &h)),
            "too_large"
        );
        assert_eq!(
            reason(normalise(
                b"<!DOCTYPE html><html><body>404</body></html>",
                &r,
                &h
            )),
            "not_an_image"
        );
        assert_eq!(
            reason(normalise(b"%PDF-1.7 not an image", &r, &h)),
            "unsupported_format"
        );
        let mut corrupt = photo("coins.png");
        for b in &mut corrupt[200..400] {
            *b ^= 0x5a;
        }
        assert_eq!(reason(normalise(&corrupt, &r, &h)), "undecodable");
        // Policy drops.
        let strip = DynamicImage::new_rgb8(4000, 16);
        let mut png = Vec::new();
        strip
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert_eq!(
            reason(normalise(
                &png,
                &Rules {
                    min_side: 8,
                    ..r.clone()
                },
                &h
            )),
            "aspect_ratio"
        );
        assert_eq!(reason(normalise(&png, &r, &h)), "too_small");
    }

    #[test]
    fn exif_orientation_is_applied_and_the_image_re_encoded() {
        let jpg = photo("rocket.jpg");
        let (w, h) = image::image_dimensions(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/data/photos/rocket.jpg"),
        )
        .unwrap();
        // APP1 Exif, big-endian TIFF, one IFD entry: Orientation (0x0112) = 6 (rotate 90° CW).
        let mut app1 = vec![0xFF, 0xE1, 0, 34];
        app1.extend(b"Exif\0\0MM\0\x2a\0\0\0\x08");
        app1.extend([0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
        let mut rotated = jpg[..2].to_vec();
        rotated.extend(app1);
        rotated.extend(&jpg[2..]);
        let n = normalise(&rotated, &Rules::default(), &Hashers::new()).unwrap();
        assert_eq!((n.width, n.height), (h, w));
        assert!(n.reencoded && n.format == "jpeg");
        let back = image::load_from_memory(&n.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (h, w));
        assert_ne!(w, h);
    }
}
