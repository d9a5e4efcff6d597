//! The Hugging Face Qwen3-VL image and video processing, in Rust: decode, `smart_resize`,
//! bicubic resize, rescale + normalize, patchify in merge-block order.
//!
//! (Interface fixed here; implementation in progress.)

use std::path::Path;

use crate::api::{ImageSource, VideoClip};
use crate::error::Result;

/// Flattened patches of one image or video and its grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Patches {
    /// Row-major `[t·h·w, C·T·P·P]` values, rows in merge-block order.
    pub values: Vec<f32>,
    /// `(t, h, w)` in patches: temporal patches, patch rows, patch columns.
    pub grid_thw: [usize; 3],
}

impl Patches {
    /// Patch rows: `t·h·w`.
    pub fn rows(&self) -> usize {
        self.grid_thw.iter().product()
    }
}

/// A processed video: its patches and the timestamp of each temporal patch.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedVideo {
    /// Patches; `grid_thw[0]` temporal patches.
    pub patches: Patches,
    /// Seconds, one per temporal patch (mean of its frames' times).
    pub patch_times: Vec<f64>,
}

/// Processor settings read from `preprocessor_config.json` and `video_preprocessor_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    /// Geometry (patch, merge, temporal patch, pixel bounds for images and videos).
    pub vision: weft_shards::vision::VisionParams,
    /// Per-channel mean after rescale.
    pub image_mean: [f32; 3],
    /// Per-channel std after rescale.
    pub image_std: [f32; 3],
    /// Pixel scale (1/255).
    pub rescale_factor: f32,
    /// Video frames sampled per second.
    pub video_fps: f64,
    /// Fewest frames sampled from a video.
    pub video_min_frames: usize,
    /// Most frames sampled from a video.
    pub video_max_frames: usize,
}

impl ProcessorConfig {
    /// Reads the processor configs of a model folder (defaults where a file or key is absent).
    pub fn from_model_dir(_dir: &Path) -> Result<Self> {
        unimplemented!("processor")
    }

    /// Resizes, normalizes and patchifies one image.
    pub fn process_image(&self, _image: &image::RgbImage) -> Result<Patches> {
        unimplemented!("processor")
    }

    /// Resizes, normalizes and patchifies sampled video frames.
    pub fn process_video(&self, _clip: &VideoClip) -> Result<ProcessedVideo> {
        unimplemented!("processor")
    }

    /// Indices of the frames to sample from a video of `total_frames` at `video_fps`.
    pub fn sample_frame_indices(&self, _total_frames: usize, _video_fps: f64) -> Vec<usize> {
        unimplemented!("processor")
    }

    /// Decodes a video file and samples its frames as the reference processor does.
    pub fn load_video(&self, _path: &Path) -> Result<VideoClip> {
        unimplemented!("processor")
    }
}

/// Decodes an image source to RGB (alpha dropped, as PIL's `convert("RGB")`).
pub fn load_image(_source: &ImageSource) -> Result<image::RgbImage> {
    unimplemented!("processor")
}
