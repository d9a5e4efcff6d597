//! `video_source`: video files (a folder searched recursively, a glob or a list file of
//! MP4/MKV/WebM/MOV) → the video table, one row per video.
//!
//! Per file: probe and index ([`crate::decode::probe`]), pick frames
//! ([`crate::sampling::Sampling::pick`]), size them to the processor's video pixel budget
//! (`smart_resize_video` over all frames — the same rule `weft shards render` and the model
//! apply, so the stored size is a fixed point of it), decode only those frames, segment them
//! ([`crate::segments`]) and store them as JPEG with their presentation times. One split per
//! file. A file that cannot be used is quarantined under its [`crate::error::Kind`] reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_engine::inputs::{file_key, relative, resolve_inputs};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::vision::{VisionParams, smart_resize_video};
use weft_shards::{Image, Sample, Video};

use crate::decode::{self, Limits};
use crate::error::{Kind, VideoError};
use crate::sampling::Sampling;
use crate::segments::Segmenter;
use crate::table;

/// File extensions read.
pub const EXTENSIONS: [&str; 4] = ["mp4", "mkv", "webm", "mov"];

fn d_source() -> String {
    "video".into()
}
fn d_fps() -> f64 {
    2.0
}
fn d_min_frames() -> usize {
    4
}
fn d_max_frames() -> usize {
    768
}
fn d_min_pixels() -> u64 {
    VisionParams::default().video_min_pixels
}
fn d_max_pixels() -> u64 {
    VisionParams::default().video_max_pixels
}
fn d_max_source_pixels() -> u64 {
    Limits::default().max_source_pixels
}
fn d_quality() -> u8 {
    90
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Folder (recursive), glob or list file, relative to the pipeline file.
    path: String,
    /// `source` of every row.
    #[serde(default = "d_source")]
    source: String,
    /// Frames sampled per second.
    #[serde(default = "d_fps")]
    fps: f64,
    #[serde(default = "d_min_frames")]
    min_frames: usize,
    #[serde(default = "d_max_frames")]
    max_frames: usize,
    /// Lower bound on resized pixels summed over frames (processor `size.shortest_edge`).
    #[serde(default = "d_min_pixels")]
    video_min_pixels: u64,
    /// Upper bound on resized pixels summed over frames (processor `size.longest_edge`).
    #[serde(default = "d_max_pixels")]
    video_max_pixels: u64,
    /// Coded pictures larger than this are refused before decoding.
    #[serde(default = "d_max_source_pixels")]
    max_source_pixels: u64,
    /// JPEG quality of stored frames.
    #[serde(default = "d_quality")]
    jpeg_quality: u8,
    /// Decoder threads per video (0: FFmpeg's choice).
    #[serde(default)]
    decode_threads: usize,
    /// Segmentation for dense captions.
    #[serde(default)]
    segments: Segmenter,
}

/// The stage.
pub struct VideoSource {
    cfg: Config,
}

/// Builds `video_source`.
pub fn build(t: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(t)?;
    sampling(&cfg).validate()?;
    cfg.segments
        .validate()
        .map_err(|e| format!("segments: {e}"))?;
    if !(1..=100).contains(&cfg.jpeg_quality) {
        return Err(format!("jpeg_quality {} must be 1..100", cfg.jpeg_quality));
    }
    if cfg.video_min_pixels > cfg.video_max_pixels {
        return Err("video_min_pixels must not exceed video_max_pixels".into());
    }
    Ok(Arc::new(VideoSource { cfg }))
}

fn sampling(cfg: &Config) -> Sampling {
    Sampling {
        fps: cfg.fps,
        min_frames: cfg.min_frames,
        max_frames: cfg.max_frames,
    }
}

/// Where recorded paths are relative to: the configured folder, or a file's own folder.
fn root_of(base: &Path, spec: &str, file: &Path) -> PathBuf {
    let given = base.join(spec);
    if given.is_dir() {
        given
    } else {
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

impl Stage for VideoSource {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(table::schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let files = resolve_inputs(&ctx.base_dir, &self.cfg.path, &EXTENSIONS)?;
        if files.is_empty() {
            return Err(format!(
                "`path = \"{}\"` matches no {} file",
                self.cfg.path,
                EXTENSIONS.join("/")
            ));
        }
        Ok(files
            .into_iter()
            .enumerate()
            .map(|(i, f)| Split {
                index: i as u64,
                key: file_key(&ctx.base_dir, &f),
                files: Vec::new(),
                items: vec![f],
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        for file in &split.items {
            io.add_input(1);
            let name = relative(&root_of(io.base_dir(), &self.cfg.path, file), file);
            match self.read(file, &name) {
                Ok(row) => io.emit(&table::to_batch(&[row])?)?,
                Err(e) => io.quarantine(name, e.kind.reason(), e.to_string()),
            }
        }
        Ok(())
    }
}

impl VideoSource {
    /// One video file to a video table row.
    pub(crate) fn read(&self, file: &Path, name: &str) -> Result<Sample, VideoError> {
        let cfg = &self.cfg;
        let limits = Limits {
            max_source_pixels: cfg.max_source_pixels,
            threads: cfg.decode_threads,
        };
        let info = decode::probe(file, &limits)?;
        let picked = sampling(cfg).pick(&info.frame_times, info.fps, info.constant_rate);
        let vp = VisionParams::default();
        let n = u32::try_from(picked.len())
            .map_err(|_| VideoError::new(file, Kind::Decode, "too many frames".into()))?;
        let (h, w) = smart_resize_video(
            n,
            info.height,
            info.width,
            vp.temporal_patch_size,
            vp.factor(),
            cfg.video_min_pixels,
            cfg.video_max_pixels,
        )
        .map_err(|e| {
            VideoError::new(
                file,
                Kind::BadGeometry,
                format!("{}x{}: {e}", info.width, info.height),
            )
        })?;
        let frames = decode::decode(file, &info, &picked, w, h, &limits)?;
        let segments = cfg.segments.segment(
            &frames.images,
            &frames.times,
            vp.temporal_patch_size as usize,
        );
        let mut images = Vec::with_capacity(frames.images.len());
        for img in &frames.images {
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, cfg.jpeg_quality)
                .encode_image(img)
                .map_err(|e| VideoError::new(file, Kind::Decode, format!("JPEG: {e}")))?;
            images.push(Image {
                bytes: buf,
                path: None,
                width: w,
                height: h,
                format: "jpeg".into(),
            });
        }
        let mut meta = Map::new();
        let mut put = |k: &str, v: Value| {
            meta.insert(k.to_string(), v);
        };
        put("file", json!(name));
        put("codec", json!(info.codec));
        put("container", json!(info.container));
        put("width", json!(info.width));
        put("height", json!(info.height));
        put("rotation", json!(info.rotation));
        put("fps", json!(info.fps));
        put("duration", json!(info.duration));
        put("total_frames", json!(info.frame_count()));
        put("variable_frame_rate", json!(!info.constant_rate));
        put("sampled_frames", json!(picked.len()));
        put("frame_width", json!(w));
        put("frame_height", json!(h));
        put(
            "segmenter",
            serde_json::to_value(&cfg.segments).unwrap_or(Value::Null),
        );
        put("segments", json!(segments));
        let video = Video {
            frames: images,
            timestamps: frames.times,
            fps: info.fps,
            duration: info.duration,
            path: Some(name.to_string()),
        };
        Ok(Sample::new(
            table::TASK,
            cfg.source.clone(),
            Vec::new(),
            Vec::new(),
            vec![video],
            meta,
        ))
    }
}
