//! Typed samples and their conversion to and from Arrow record batches of the sample schema.
//!
//! Pipelines build [`Sample`]s and turn them into batches with [`samples_to_batch`]; inspection
//! tools read batches back with [`samples_from_batch`]. Ids are content-derived
//! ([`Sample::content_id`]) so the same sample gets the same id on every run and every rank.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, RecordBatch, StringBuilder, StructBuilder,
};
use arrow::datatypes::{Fields, Int32Type};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::schema::{
    image_meta_fields, image_struct_fields, message_fields, sample_schema, video_fields,
};

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// A reference into the sample's `images`.
    Image {
        /// Index into `images`.
        index: u32,
    },
    /// A reference into the sample's `videos`.
    Video {
        /// Index into `videos`.
        index: u32,
    },
}

impl Content {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text { text: text.into() }
    }
}

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Interleaved text, image and video parts.
    pub content: Vec<Content>,
}

impl Message {
    /// A message with the given role and parts.
    pub fn new(role: impl Into<String>, content: Vec<Content>) -> Self {
        Message {
            role: role.into(),
            content,
        }
    }
}

/// An encoded image (JPEG, PNG, …) with its dimensions read from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The encoded bytes, stored as-is.
    pub bytes: Vec<u8>,
    /// Where the image came from (informational).
    pub path: Option<String>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Lower-case format name (`jpeg`, `png`, …).
    pub format: String,
}

impl Image {
    /// Wraps encoded bytes, reading format and dimensions from the header (no full decode).
    pub fn from_encoded(bytes: Vec<u8>, path: Option<String>) -> Result<Self, Error> {
        let (format, width, height) = probe(&bytes)?;
        Ok(Image {
            bytes,
            path,
            width,
            height,
            format,
        })
    }
}

/// Format name and dimensions from an encoded image's header (no pixel decoding).
pub fn probe(bytes: &[u8]) -> Result<(String, u32, u32), Error> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    let format = reader
        .format()
        .ok_or_else(|| Error::Image("unrecognised image format".into()))?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok((format!("{format:?}").to_lowercase(), width, height))
}

/// A sampled video: encoded frames with their exact presentation timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// Frames as encoded images.
    pub frames: Vec<Image>,
    /// Presentation time of each frame in seconds.
    pub timestamps: Vec<f64>,
    /// Source frame rate.
    pub fps: f64,
    /// Source duration in seconds.
    pub duration: f64,
    /// Where the video came from.
    pub path: Option<String>,
}

/// One training sample = one shard row.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Stable, content-derived id (see [`Sample::content_id`]).
    pub id: String,
    /// Task name (`caption`, `ocr`, `grounding`, …).
    pub task: String,
    /// Data source name.
    pub source: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Images referenced by `Content::Image { index }`.
    pub images: Vec<Image>,
    /// Videos referenced by `Content::Video { index }`.
    pub videos: Vec<Video>,
    /// Free-form metadata (size, hashes, cluster, pass rate, licence, …), stored as JSON.
    pub meta: Map<String, Value>,
}

impl Sample {
    /// A sample with an id computed from its content.
    pub fn new(
        task: impl Into<String>,
        source: impl Into<String>,
        messages: Vec<Message>,
        images: Vec<Image>,
        videos: Vec<Video>,
        meta: Map<String, Value>,
    ) -> Self {
        let mut sample = Sample {
            id: String::new(),
            task: task.into(),
            source: source.into(),
            messages,
            images,
            videos,
            meta,
        };
        sample.id = sample.content_id();
        sample
    }

    /// 128-bit hex digest of task, source, messages and media bytes (not `meta`).
    pub fn content_id(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(self.task.as_bytes());
        field(self.source.as_bytes());
        field(
            serde_json::to_string(&self.messages)
                .unwrap_or_default()
                .as_bytes(),
        );
        for image in &self.images {
            field(&image.bytes);
        }
        for video in &self.videos {
            for (frame, ts) in video.frames.iter().zip(&video.timestamps) {
                field(&frame.bytes);
                field(&ts.to_le_bytes());
            }
        }
        hex::encode(&h.finalize()[..16])
    }

    /// The text of all messages, concatenated (for token estimates and dedup).
    pub fn text_len(&self) -> usize {
        self.messages
            .iter()
            .flat_map(|m| &m.content)
            .map(|c| match c {
                Content::Text { text } => text.len(),
                _ => 0,
            })
            .sum()
    }
}

fn struct_builder(fields: Vec<arrow::datatypes::Field>) -> StructBuilder {
    StructBuilder::from_fields(Fields::from(fields), 0)
}

fn append_image(b: &mut StructBuilder, image: &Image) {
    b.field_builder::<BinaryBuilder>(0)
        .expect("bytes")
        .append_value(&image.bytes);
    b.field_builder::<StringBuilder>(1)
        .expect("path")
        .append_option(image.path.as_deref());
    b.append(true);
}

/// Encodes samples as one record batch of [`sample_schema`].
pub fn samples_to_batch(samples: &[Sample]) -> Result<RecordBatch, Error> {
    let mut id = StringBuilder::new();
    let mut task = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut meta = StringBuilder::new();
    let mut messages = ListBuilder::new(struct_builder(message_fields()));
    let mut images = ListBuilder::new(struct_builder(image_struct_fields()));
    let mut image_meta = ListBuilder::new(struct_builder(image_meta_fields()));
    let mut videos = ListBuilder::new(struct_builder(video_fields()));

    for s in samples {
        id.append_value(&s.id);
        task.append_value(&s.task);
        source.append_value(&s.source);
        meta.append_value(serde_json::to_string(&s.meta)?);

        let msgs = messages.values();
        for m in &s.messages {
            msgs.field_builder::<StringBuilder>(0)
                .expect("role")
                .append_value(&m.role);
            let content = msgs
                .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(1)
                .expect("content");
            let parts = content
                .values()
                .as_any_mut()
                .downcast_mut::<StructBuilder>()
                .expect("content struct");
            for c in &m.content {
                let (kind, text, index) = content_columns(c);
                parts
                    .field_builder::<StringBuilder>(0)
                    .expect("type")
                    .append_value(kind);
                parts
                    .field_builder::<StringBuilder>(1)
                    .expect("text")
                    .append_option(text);
                parts
                    .field_builder::<Int32Builder>(2)
                    .expect("index")
                    .append_option(index);
                parts.append(true);
            }
            content.append(true);
            msgs.append(true);
        }
        messages.append(true);

        for image in &s.images {
            append_image(images.values(), image);
            let m = image_meta.values();
            m.field_builder::<Int32Builder>(0)
                .expect("w")
                .append_value(image.width as i32);
            m.field_builder::<Int32Builder>(1)
                .expect("h")
                .append_value(image.height as i32);
            m.field_builder::<Int64Builder>(2)
                .expect("n")
                .append_value(image.bytes.len() as i64);
            m.field_builder::<StringBuilder>(3)
                .expect("f")
                .append_value(&image.format);
            m.append(true);
        }
        images.append(true);
        image_meta.append(true);

        for v in &s.videos {
            let vb = videos.values();
            let frames = vb
                .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(0)
                .expect("frames");
            for f in &v.frames {
                let fb = frames
                    .values()
                    .as_any_mut()
                    .downcast_mut::<StructBuilder>()
                    .expect("frame");
                append_image(fb, f);
            }
            frames.append(true);
            let ts = vb
                .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(1)
                .expect("timestamps");
            for t in &v.timestamps {
                ts.values()
                    .as_any_mut()
                    .downcast_mut::<Float64Builder>()
                    .expect("f64")
                    .append_value(*t);
            }
            ts.append(true);
            let (w, h) = v
                .frames
                .first()
                .map_or((0, 0), |f| (f.width as i32, f.height as i32));
            vb.field_builder::<Int32Builder>(2)
                .expect("w")
                .append_value(w);
            vb.field_builder::<Int32Builder>(3)
                .expect("h")
                .append_value(h);
            vb.field_builder::<Float64Builder>(4)
                .expect("fps")
                .append_value(v.fps);
            vb.field_builder::<Float64Builder>(5)
                .expect("dur")
                .append_value(v.duration);
            vb.field_builder::<StringBuilder>(6)
                .expect("path")
                .append_option(v.path.as_deref());
            vb.append(true);
        }
        videos.append(true);
    }

    let schema = sample_schema();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(task.finish()),
        Arc::new(source.finish()),
        Arc::new(messages.finish()),
        Arc::new(images.finish()),
        Arc::new(image_meta.finish()),
        Arc::new(videos.finish()),
        Arc::new(meta.finish()),
    ];
    // The builders produce the same types with default field metadata; cast to the declared
    // schema so nullability and names match exactly.
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::compute::cast(&c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A content part as its `(type, text, index)` columns.
fn content_columns(c: &Content) -> (&'static str, Option<&str>, Option<i32>) {
    match c {
        Content::Text { text } => ("text", Some(text.as_str()), None),
        Content::Image { index } => ("image", None, Some(*index as i32)),
        Content::Video { index } => ("video", None, Some(*index as i32)),
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, Error> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Schema(format!("missing column `{name}`")))
}

fn str_at(a: &ArrayRef, i: usize) -> Option<String> {
    let a = a.as_string_opt::<i32>()?;
    (!a.is_null(i)).then(|| a.value(i).to_string())
}

fn images_from(list: &arrow::array::StructArray) -> Result<Vec<Image>, Error> {
    let bytes = list.column(0).as_binary::<i32>();
    let paths = list.column(1);
    (0..list.len())
        .map(|j| {
            let b: &[u8] = if bytes.is_null(j) {
                &[]
            } else {
                bytes.value(j)
            };
            let (format, width, height) = probe(b).unwrap_or_else(|_| ("unknown".into(), 0, 0));
            Ok(Image {
                bytes: b.to_vec(),
                path: str_at(paths, j),
                width,
                height,
                format,
            })
        })
        .collect()
}

/// Decodes a batch of the sample schema into typed samples (images are not decoded; their
/// dimensions come from the headers, `0×0` with format `unknown` when unreadable).
pub fn samples_from_batch(batch: &RecordBatch) -> Result<Vec<Sample>, Error> {
    let id = column(batch, "id")?;
    let task = column(batch, "task")?;
    let source = column(batch, "source")?;
    let meta = column(batch, "meta")?;
    let messages = column(batch, "messages")?.as_list::<i32>();
    let images = column(batch, "images")?.as_list::<i32>();
    let videos = column(batch, "videos")?.as_list::<i32>();
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut msgs = Vec::new();
        if !messages.is_null(i) {
            let row = messages.value(i);
            let row = row.as_struct();
            for j in 0..row.len() {
                let role = str_at(row.column(0), j).unwrap_or_default();
                let mut content = Vec::new();
                let parts = row.column(1).as_list::<i32>();
                if !parts.is_null(j) {
                    let parts = parts.value(j);
                    let parts = parts.as_struct();
                    let index = parts.column(2).as_primitive::<Int32Type>();
                    for k in 0..parts.len() {
                        let kind = str_at(parts.column(0), k).unwrap_or_default();
                        let idx = (!index.is_null(k)).then(|| index.value(k));
                        let idx = |what| {
                            idx.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
                                Error::Schema(format!("{what} part without a valid index"))
                            })
                        };
                        content.push(match kind.as_str() {
                            "text" => Content::Text {
                                text: str_at(parts.column(1), k).unwrap_or_default(),
                            },
                            "image" => Content::Image {
                                index: idx("image")?,
                            },
                            "video" => Content::Video {
                                index: idx("video")?,
                            },
                            other => {
                                return Err(Error::Schema(format!(
                                    "unknown content type `{other}`"
                                )));
                            }
                        });
                    }
                }
                msgs.push(Message { role, content });
            }
        }
        let imgs = if images.is_null(i) {
            Vec::new()
        } else {
            images_from(images.value(i).as_struct())?
        };
        let mut vids = Vec::new();
        if !videos.is_null(i) {
            let row = videos.value(i);
            let row = row.as_struct();
            for j in 0..row.len() {
                let frames = row.column(0).as_list::<i32>();
                let frames = if frames.is_null(j) {
                    Vec::new()
                } else {
                    images_from(frames.value(j).as_struct())?
                };
                let ts = row.column(1).as_list::<i32>();
                let timestamps = if ts.is_null(j) {
                    Vec::new()
                } else {
                    ts.value(j)
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .values()
                        .to_vec()
                };
                let f64_at = |c: usize| {
                    row.column(c)
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .value(j)
                };
                vids.push(Video {
                    frames,
                    timestamps,
                    fps: f64_at(4),
                    duration: f64_at(5),
                    path: str_at(row.column(6), j),
                });
            }
        }
        let meta = match str_at(meta, i) {
            Some(s) => match serde_json::from_str(&s)? {
                Value::Object(m) => m,
                _ => return Err(Error::Schema("`meta` is not a JSON object".into())),
            },
            None => Map::new(),
        };
        out.push(Sample {
            id: str_at(id, i).unwrap_or_default(),
            task: str_at(task, i).unwrap_or_default(),
            source: str_at(source, i).unwrap_or_default(),
            messages: msgs,
            images: imgs,
            videos: vids,
            meta,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn samples_survive_a_batch_round_trip() {
        let photo = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/data/photos/chelsea.jpg"),
        )
        .unwrap();
        let img = Image::from_encoded(photo, Some("chelsea.jpg".into())).unwrap();
        assert_eq!(
            (img.width, img.height, img.format.as_str()),
            (451, 300, "jpeg")
        );
        let video = Video {
            frames: vec![img.clone(), img.clone()],
            timestamps: vec![0.0, 0.5],
            fps: 25.0,
            duration: 1.0,
            path: Some("v.mp4".into()),
        };
        let mut meta = Map::new();
        meta.insert("licence".into(), json!("cc0"));
        let s = Sample::new(
            "caption",
            "test",
            vec![
                Message::new("system", vec![Content::text("Be brief.")]),
                Message::new(
                    "user",
                    vec![
                        Content::Image { index: 0 },
                        Content::Video { index: 0 },
                        Content::text("What?"),
                    ],
                ),
                Message::new("assistant", vec![Content::text("A cat.")]),
            ],
            vec![img],
            vec![video],
            meta,
        );
        let empty = Sample::new("t", "s", vec![], vec![], vec![], Map::new());
        let batch = samples_to_batch(&[s.clone(), empty.clone()]).unwrap();
        assert_eq!(samples_from_batch(&batch).unwrap(), vec![s, empty]);
    }

    #[test]
    fn ids_depend_on_content_not_meta() {
        let mk = |text: &str, lic: &str| {
            let mut meta = Map::new();
            meta.insert("licence".into(), json!(lic));
            Sample::new(
                "t",
                "s",
                vec![Message::new("user", vec![Content::text(text)])],
                vec![],
                vec![],
                meta,
            )
        };
        assert_eq!(mk("a", "x").id, mk("a", "y").id);
        assert_ne!(mk("a", "x").id, mk("b", "x").id);
        assert_eq!(mk("a", "x").id.len(), 32);
    }
}
