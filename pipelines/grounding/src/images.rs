//! Images for grounding records: from a folder, a URL, a `data:` URI or bytes embedded in the
//! annotation table — and embedded into the object table as they came, unless they must
//! change.
//!
//! Re-encoding is the exception because it costs time and fidelity and nothing needs it:
//! relative coordinates do not depend on the stored size, and absolute ones are computed from
//! it. An image is re-encoded only when it is over `max_pixels` (downscaled, keeping the
//! aspect ratio; JPEG stays JPEG at quality 95, anything else becomes PNG) or in a format
//! trainers do not all read (TIFF, BMP, GIF, … → PNG). Every image is decoded in full once
//! (truncated JPEGs included, see `weft_shards::image_check`), so a corrupt file is
//! quarantined here rather than failing a training job.

use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use image::{DynamicImage, ImageFormat};
use sha2::{Digest, Sha256};
use weft_shards::image_check::jpeg_is_complete;
use weft_shards::sample::probe;

use crate::error::GroundingError;

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// A file on disk.
    File(PathBuf),
    /// An `http(s)://` URL.
    Url(String),
    /// A `data:image/…;base64,…` URI.
    DataUri(String),
    /// Bytes embedded in the annotation table (e.g. a Hugging Face `Image` column).
    Bytes(Vec<u8>),
}

impl ImageSource {
    /// A reference string from an annotation file: a URL, a `data:` URI, or a path relative
    /// to `folder`.
    pub fn from_reference(reference: &str, folder: &std::path::Path) -> ImageSource {
        if reference.starts_with("http://") || reference.starts_with("https://") {
            ImageSource::Url(reference.to_string())
        } else if reference.starts_with("data:") {
            ImageSource::DataUri(reference.to_string())
        } else {
            ImageSource::File(folder.join(reference))
        }
    }

    /// How the source is shown in messages.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::File(p) => p.display().to_string(),
            ImageSource::Url(u) => u.clone(),
            ImageSource::DataUri(u) => format!("{}…", &u[..u.len().min(32)]),
            ImageSource::Bytes(b) => format!("embedded image ({} bytes)", b.len()),
        }
    }
}

/// Image handling settings (reader stage keys of the same names).
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Images with more pixels are downscaled to fit (Qwen3-VL's processor maximum by default).
    pub max_pixels: u64,
    /// Images whose header announces more pixels than this are refused before decoding.
    pub max_decode_pixels: u64,
    /// Fetch `http(s)` URLs (off: such images are quarantined as `url_not_fetched`).
    pub fetch_urls: bool,
    /// Per-request timeout for URLs.
    pub timeout: Duration,
    /// Largest accepted download.
    pub max_bytes: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            max_pixels: 16_777_216,
            max_decode_pixels: 178_956_970,
            fetch_urls: false,
            timeout: Duration::from_secs(30),
            max_bytes: 64 << 20,
        }
    }
}

/// An image ready for the object table.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    /// Encoded bytes (the source's own unless `reencoded`).
    pub bytes: Vec<u8>,
    /// `jpeg`, `png`, `webp`.
    pub format: String,
    /// Stored width.
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// The source's width.
    pub source_width: u32,
    /// The source's height.
    pub source_height: u32,
    /// Whether the bytes were re-encoded.
    pub reencoded: bool,
}

/// Loads images under [`ImageOptions`]; shared by all splits of a stage.
pub struct ImageLoader {
    opts: ImageOptions,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// Formats stored as they are; others are converted to PNG.
const KEPT_FORMATS: &[&str] = &["jpeg", "png", "webp"];

impl ImageLoader {
    /// A loader with these options.
    pub fn new(opts: ImageOptions) -> Self {
        ImageLoader {
            opts,
            client: OnceLock::new(),
        }
    }

    /// The source's bytes, unchanged.
    pub fn read(&self, src: &ImageSource) -> Result<Vec<u8>, GroundingError> {
        match src {
            ImageSource::File(p) => std::fs::read(p).map_err(|e| {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "missing_image"
                } else {
                    "unreadable_image"
                };
                GroundingError::image(reason, format!("{}: {e}", p.display()))
            }),
            ImageSource::Url(url) => self.fetch(url),
            ImageSource::DataUri(uri) => decode_data_uri(uri),
            ImageSource::Bytes(b) => Ok(b.clone()),
        }
    }

    fn fetch(&self, url: &str) -> Result<Vec<u8>, GroundingError> {
        if !self.opts.fetch_urls {
            return Err(GroundingError::image(
                "url_not_fetched",
                format!("{url}: image URLs are not fetched unless `fetch_urls = true`"),
            ));
        }
        let client = self
            .client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(self.opts.timeout)
                    .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| GroundingError::image("fetch_failed", format!("{url}: {e}")))?;
        let fail = |e: String| GroundingError::image("fetch_failed", format!("{url}: {e}"));
        let resp = client.get(url).send().map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut bytes = Vec::new();
        resp.take(self.opts.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > self.opts.max_bytes {
            return Err(fail(format!("larger than {} bytes", self.opts.max_bytes)));
        }
        Ok(bytes)
    }

    /// Reads, checks and (only if needed) re-encodes an image. `sha256` (hex), when the
    /// annotations carry one, must match the bytes read.
    pub fn load(
        &self,
        src: &ImageSource,
        sha256: Option<&str>,
    ) -> Result<LoadedImage, GroundingError> {
        let bytes = self.read(src)?;
        let shown = src.describe();
        if let Some(want) = sha256 {
            let got = hex::encode(Sha256::digest(&bytes));
            if !got.eq_ignore_ascii_case(want) {
                return Err(GroundingError::image(
                    "image_hash_mismatch",
                    format!("{shown}: sha256 {got}, annotations say {want}"),
                ));
            }
        }
        prepare(bytes, &shown, &self.opts)
    }
}

/// Checks encoded bytes and re-encodes them only when needed (see the module docs).
pub fn prepare(
    bytes: Vec<u8>,
    shown: &str,
    opts: &ImageOptions,
) -> Result<LoadedImage, GroundingError> {
    let corrupt = |e: String| GroundingError::image("corrupt_image", format!("{shown}: {e}"));
    let (format, w, h) = probe(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if format == "jpeg" && !jpeg_is_complete(&bytes) {
        return Err(corrupt(
            "truncated JPEG: no end-of-image marker after the last scan".into(),
        ));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > opts.max_decode_pixels {
        return Err(GroundingError::image(
            "image_too_large",
            format!(
                "{shown}: {w}×{h} exceeds max_decode_pixels {}",
                opts.max_decode_pixels
            ),
        ));
    }
    let decoded = image::load_from_memory(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let resize = pixels > opts.max_pixels;
    let convert = !KEPT_FORMATS.contains(&format.as_str());
    if !resize && !convert {
        return Ok(LoadedImage {
            bytes,
            format,
            width: w,
            height: h,
            source_width: w,
            source_height: h,
            reencoded: false,
        });
    }
    let img = if resize {
        let scale = (opts.max_pixels as f64 / pixels as f64).sqrt();
        let nw = ((f64::from(w) * scale).floor() as u32).max(1);
        let nh = ((f64::from(h) * scale).floor() as u32).max(1);
        decoded.resize_exact(nw, nh, image::imageops::FilterType::CatmullRom)
    } else {
        decoded
    };
    let (out, out_format) = encode(&img, format == "jpeg").map_err(corrupt)?;
    Ok(LoadedImage {
        bytes: out,
        format: out_format.into(),
        width: img.width(),
        height: img.height(),
        source_width: w,
        source_height: h,
        reencoded: true,
    })
}

fn encode(img: &DynamicImage, jpeg: bool) -> Result<(Vec<u8>, &'static str), String> {
    let mut out = Cursor::new(Vec::new());
    if jpeg {
        let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        rgb.write_with_encoder(enc).map_err(|e| e.to_string())?;
        Ok((out.into_inner(), "jpeg"))
    } else {
        img.write_to(&mut out, ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        Ok((out.into_inner(), "png"))
    }
}

fn decode_data_uri(uri: &str) -> Result<Vec<u8>, GroundingError> {
    let bad = |why: &str| {
        GroundingError::image(
            "bad_data_uri",
            format!("{}…: {why}", &uri[..uri.len().min(40)]),
        )
    };
    let (head, payload) = uri
        .strip_prefix("data:")
        .and_then(|r| r.split_once(','))
        .ok_or_else(|| bad("not a data: URI"))?;
    if !head.ends_with(";base64") {
        return Err(bad("only base64 data URIs hold images"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/images")
            .join(name)
    }

    #[test]
    fn images_within_budget_keep_their_bytes() {
        let loader = ImageLoader::new(ImageOptions::default());
        let src = ImageSource::File(fixture("coins.png"));
        let img = loader.load(&src, None).unwrap();
        assert_eq!(img.bytes, std::fs::read(fixture("coins.png")).unwrap());
        assert_eq!(
            (img.format.as_str(), img.width, img.height),
            ("png", 384, 303)
        );
        assert!(!img.reencoded);
    }

    #[test]
    fn images_over_budget_are_downscaled_keeping_the_aspect_ratio() {
        let opts = ImageOptions {
            max_pixels: 30_000,
            ..ImageOptions::default()
        };
        let bytes = std::fs::read(fixture("coffee.png")).unwrap();
        let img = prepare(bytes, "coffee.png", &opts).unwrap();
        assert!(img.reencoded);
        assert!(u64::from(img.width * img.height) <= 30_000);
        assert_eq!((img.source_width, img.source_height), (600, 400));
        let ratio = f64::from(img.width) / f64::from(img.height);
        assert!((ratio - 1.5).abs() < 0.02, "{ratio}");
        assert_eq!(probe(&img.bytes).unwrap().1, img.width);
    }

    #[test]
    fn other_formats_become_png() {
        let png = std::fs::read(fixture("chelsea.png")).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        let mut bmp = Cursor::new(Vec::new());
        img.write_to(&mut bmp, ImageFormat::Bmp).unwrap();
        let out = prepare(bmp.into_inner(), "cat.bmp", &ImageOptions::default()).unwrap();
        assert_eq!(
            (out.format.as_str(), out.width, out.height),
            ("png", 451, 300)
        );
        assert!(out.reencoded);
        let back = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!(back.to_rgb8(), img.to_rgb8(), "lossless");
    }

    #[test]
    fn bad_images_carry_their_reason() {
        let loader = ImageLoader::new(ImageOptions::default());
        let reason = |src: ImageSource, sha: Option<&str>| match loader.load(&src, sha) {
            Err(e) => e.reason(),
            Ok(_) => "ok",
        };
        assert_eq!(
            reason(ImageSource::File(fixture("nope.png")), None),
            "missing_image"
        );
        let png = std::fs::read(fixture("coins.png")).unwrap();
        assert_eq!(
            reason(ImageSource::Bytes(png[..png.len() / 2].to_vec()), None),
            "corrupt_image"
        );
        assert_eq!(
            reason(ImageSource::Bytes(b"not an image".to_vec()), None),
            "corrupt_image"
        );
        assert_eq!(
            reason(ImageSource::Bytes(png.clone()), Some("00ff")),
            "image_hash_mismatch"
        );
        let sha = hex::encode(Sha256::digest(&png));
        assert_eq!(reason(ImageSource::Bytes(png.clone()), Some(&sha)), "ok");
        assert_eq!(
            reason(
                ImageSource::Url("https://example.invalid/a.jpg".into()),
                None
            ),
            "url_not_fetched"
        );
        let uri = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&png)
        );
        assert_eq!(reason(ImageSource::DataUri(uri), None), "ok");
        assert_eq!(
            reason(ImageSource::DataUri("data:text/plain,hello".into()), None),
            "bad_data_uri"
        );
    }

    #[test]
    fn urls_are_fetched_over_http() {
        // A one-shot HTTP server on localhost serving the real fixture.
        let png = std::fs::read(fixture("coins.png")).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = png.clone();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            for status in ["200 OK", "404 Not Found"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).unwrap();
                let payload: &[u8] = if status.starts_with("200") {
                    &body
                } else {
                    b""
                };
                write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                )
                .unwrap();
                s.write_all(payload).unwrap();
            }
        });
        let loader = ImageLoader::new(ImageOptions {
            fetch_urls: true,
            ..ImageOptions::default()
        });
        let url = format!("http://{addr}/coins.png");
        let img = loader.load(&ImageSource::Url(url.clone()), None).unwrap();
        assert_eq!(img.bytes, png);
        let err = loader.load(&ImageSource::Url(url), None).unwrap_err();
        assert_eq!(err.reason(), "fetch_failed");
        assert!(err.to_string().contains("404"), "{err}");
        server.join().unwrap();
    }
}
