//! Turns an [`api::Request`](crate::Request) into the JSON body of `POST /chat/completions`.
//!
//! Media travel inline as base64 `data:` URLs, because the server usually cannot read our files.
//! Encoded images are sent byte for byte when the server can take them as they are (JPEG, PNG,
//! WebP) so nothing is lost to re-encoding; anything else is decoded here and sent as PNG. Errors
//! name the message and part, so a quarantined record says which image was bad.

use std::io::Cursor;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, ImageFormat};
use serde_json::{Map, Value, json};

use crate::api::{Content, ImageSource, Message, Request, VideoSource};
use crate::error::{InferenceError, Result};

/// The serialised request body for `model`.
pub(super) fn chat_body(model: &str, request: &Request) -> Result<Vec<u8>> {
    let messages = request
        .messages
        .iter()
        .enumerate()
        .map(|(m, msg)| message_json(m, msg))
        .collect::<Result<Vec<_>>>()?;
    let p = &request.params;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), p.max_new_tokens.into());
    body.insert("temperature".into(), p.temperature.into());
    body.insert("top_p".into(), p.top_p.into());
    body.insert("n".into(), p.n.into());
    // Servers take the seed as a signed 64-bit integer (vLLM rejects larger values).
    body.insert("seed".into(), (p.seed & i64::MAX as u64).into());
    // vLLM / SGLang extensions; left out at their neutral values so strict servers accept the body.
    if p.top_k > 0 {
        body.insert("top_k".into(), p.top_k.into());
    }
    if p.repetition_penalty != 1.0 {
        body.insert("repetition_penalty".into(), p.repetition_penalty.into());
    }
    serde_json::to_vec(&Value::Object(body))
        .map_err(|e| InferenceError::Request(format!("cannot serialise the request body: {e}")))
}

/// One message. A message that is a single text part is sent as a plain string, which every
/// server and chat template accepts (some reject part lists for `system` or `assistant`).
fn message_json(m: usize, msg: &Message) -> Result<Value> {
    let content = match msg.content.as_slice() {
        [Content::Text(text)] => Value::String(text.clone()),
        parts => Value::Array(
            parts
                .iter()
                .enumerate()
                .map(|(p, part)| {
                    part_json(part).map_err(|e| match e {
                        InferenceError::Media(r) => {
                            InferenceError::Media(format!("message {m}, part {p}: {r}"))
                        }
                        InferenceError::Unsupported(r) => {
                            InferenceError::Unsupported(format!("message {m}, part {p}: {r}"))
                        }
                        other => other,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    Ok(json!({ "role": msg.role, "content": content }))
}

fn part_json(part: &Content) -> Result<Value> {
    Ok(match part {
        Content::Text(text) => json!({ "type": "text", "text": text }),
        Content::Image(src) => json!({
            "type": "image_url",
            "image_url": { "url": image_data_url(src)? },
        }),
        Content::Video(VideoSource::Path(path)) => json!({
            "type": "video_url",
            "video_url": { "url": video_data_url(path)? },
        }),
        Content::Video(VideoSource::Frames(_)) => {
            return Err(InferenceError::Unsupported(
                "pre-sampled video frames (VideoSource::Frames) cannot be sent to an \
                 OpenAI-compatible server; pass the video file (VideoSource::Path)"
                    .into(),
            ));
        }
    })
}

/// A `data:` URL carrying the image.
pub(super) fn image_data_url(src: &ImageSource) -> Result<String> {
    match src {
        ImageSource::Bytes(bytes) => encoded_image_url(bytes),
        ImageSource::Path(path) => {
            let bytes = std::fs::read(path).map_err(|e| InferenceError::io(path, e))?;
            encoded_image_url(&bytes).map_err(|e| match e {
                InferenceError::Media(r) => {
                    InferenceError::Media(format!("{}: {r}", path.display()))
                }
                other => other,
            })
        }
        ImageSource::Decoded(img) => {
            let mut png = Vec::new();
            PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive)
                .write_image(
                    img.as_raw(),
                    img.width(),
                    img.height(),
                    image::ExtendedColorType::Rgb8,
                )
                .map_err(|e| InferenceError::Media(format!("cannot encode image as PNG: {e}")))?;
            Ok(data_url("image/png", &png))
        }
    }
}

/// Passes JPEG, PNG and WebP through; decodes any other format `image` reads and sends PNG.
fn encoded_image_url(bytes: &[u8]) -> Result<String> {
    let format = image::guess_format(bytes).map_err(|_| {
        let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        InferenceError::Media(format!(
            "unrecognised image format ({} bytes starting {})",
            bytes.len(),
            head.join(" ")
        ))
    })?;
    if matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Ok(data_url(format.to_mime_type(), bytes));
    }
    let img = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| InferenceError::Media(format!("cannot decode {format:?} image: {e}")))?;
    let mut png = Cursor::new(Vec::new());
    let written = img.write_to(&mut png, ImageFormat::Png).or_else(|_| {
        // Float images have no PNG form; 8-bit RGBA keeps what the server would see.
        png = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(img.to_rgba8()).write_to(&mut png, ImageFormat::Png)
    });
    written
        .map_err(|e| InferenceError::Media(format!("cannot re-encode {format:?} as PNG: {e}")))?;
    Ok(data_url("image/png", png.get_ref()))
}

/// The whole file as a `data:` URL. The media type is a hint only (vLLM decodes whatever
/// container it gets), so unknown containers are labelled MP4.
fn video_data_url(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| InferenceError::io(path, e))?;
    Ok(data_url(video_mime(&bytes), &bytes))
}

fn video_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "video/webm"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"AVI " {
        "video/x-msvideo"
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && &bytes[8..12] == b"qt  " {
        "video/quicktime"
    } else {
        "video/mp4"
    }
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    let mut url = String::with_capacity(mime.len() + 13 + bytes.len().div_ceil(3) * 4);
    url.push_str("data:");
    url.push_str(mime);
    url.push_str(";base64,");
    STANDARD.encode_string(bytes, &mut url);
    url
}
