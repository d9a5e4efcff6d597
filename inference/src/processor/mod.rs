//! The Hugging Face Qwen3-VL image and video processing, in Rust: decode, `smart_resize`,
//! bicubic resize, rescale + normalize, patchify in merge-block order.
//!
//! Why a port and not "any good resize": the model was trained on what the reference
//! processor produces, and the parity fixtures pin logits to it, so the pixels must be the
//! reference's. The reference is transformers 4.57.6 with the released configs, i.e.
//! `Qwen2VLImageProcessorFast` for images and `Qwen3VLVideoProcessor` for videos, both of which
//! resize uint8 tensors with torchvision on CPU — PyTorch's integer antialiasing bicubic
//! kernel, reproduced bit for bit in `resize.rs` (Pillow's resize and PyTorch's float kernel
//! both differ from it; see the design notes, §0 pitfall 6). Sizes come from
//! `weft_shards::vision` so token counts elsewhere agree with the patches made here.
//!
//! Parts: `config.rs` reads the model folder, `resize.rs` the kernel, `patchify.rs`
//! normalisation and layout, `video.rs` frame sampling and timestamps, `decode.rs` image and
//! video decoding.
//! `tools/parity/processor_reference.py` regenerates the fixtures the tests compare against.

use std::path::Path;

use rayon::prelude::*;

use crate::api::{ImageSource, VideoClip};
use crate::error::{InferenceError, Result};

mod config;
mod decode;
mod patchify;
mod resize;
#[cfg(test)]
mod tests;
mod video;

use patchify::{Grid, Lut};
pub use video::{linspace_round, sample_indices};

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
    ///
    /// Errors name the file: malformed JSON, wrong types, or settings this port does not
    /// reproduce (a filter other than bicubic, `do_resize`/`do_normalize` off, image and video
    /// normalisation that differ).
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        config::from_model_dir(dir)
    }

    /// Resizes, normalizes and patchifies one image.
    ///
    /// Errors ([`InferenceError::Media`]): a side shorter than one patch, or an aspect ratio
    /// above 200 (which the reference also refuses).
    pub fn process_image(&self, image: &image::RgbImage) -> Result<Patches> {
        let (w, h) = image.dimensions();
        let p = self.vision.patch_size;
        if w < p || h < p {
            // The reference would blow such an image up to `min_pixels`; a picture smaller
            // than one patch carries nothing worth 64+ tokens, so it is refused instead.
            return Err(InferenceError::Media(format!(
                "image {w}x{h} is smaller than one {p}x{p} patch"
            )));
        }
        let (rh, rw) = self.vision.image_size(w, h)?;
        let resized = resize::resize_rgb(
            image.as_raw(),
            w as usize,
            h as usize,
            rw as usize,
            rh as usize,
        );
        let grid = self.grid(rw, rh);
        let (values, grid_thw) = patchify::patchify(&[&resized], &grid, &self.lut());
        Ok(Patches { values, grid_thw })
    }

    /// Resizes, normalizes and patchifies sampled video frames.
    ///
    /// The pixel budget spans all frames (`smart_resize_video`); frames are padded to a
    /// multiple of `temporal_patch_size` by repeating the last; `patch_times` average each
    /// group of `merge_size` timestamps, as the reference's `_calculate_timestamps` does.
    /// Errors: no frames, frames of different sizes, a timestamp count that differs from the
    /// frame count, fewer frames than `temporal_patch_size` or a side shorter than
    /// `patch_size · merge_size` (both refused by the reference too).
    pub fn process_video(&self, clip: &VideoClip) -> Result<ProcessedVideo> {
        let first = clip
            .frames
            .first()
            .ok_or_else(|| InferenceError::Media("video has no frames".into()))?;
        if clip.timestamps.len() != clip.frames.len() {
            return Err(InferenceError::Media(format!(
                "video has {} frames but {} timestamps",
                clip.frames.len(),
                clip.timestamps.len()
            )));
        }
        let (w, h) = first.dimensions();
        if let Some((i, f)) = clip
            .frames
            .iter()
            .enumerate()
            .find(|(_, f)| f.dimensions() != (w, h))
        {
            let (fw, fh) = f.dimensions();
            return Err(InferenceError::Media(format!(
                "video frame {i} is {fw}x{fh}, frame 0 is {w}x{h}"
            )));
        }
        let n = u32::try_from(clip.frames.len())
            .map_err(|_| InferenceError::Media("video has too many frames".into()))?;
        let v = &self.vision;
        let (rh, rw) = weft_shards::vision::smart_resize_video(
            n,
            h,
            w,
            v.temporal_patch_size,
            v.factor(),
            v.video_min_pixels,
            v.video_max_pixels,
        )?;
        let resized: Vec<Vec<u8>> = clip
            .frames
            .par_iter()
            .map(|f| {
                let (w, h, rw, rh) = (w as usize, h as usize, rw as usize, rh as usize);
                resize::resize_rgb(f.as_raw(), w, h, rw, rh)
            })
            .collect();
        let refs: Vec<&[u8]> = resized.iter().map(Vec::as_slice).collect();
        let (values, grid_thw) = patchify::patchify(&refs, &self.grid(rw, rh), &self.lut());
        Ok(ProcessedVideo {
            patches: Patches { values, grid_thw },
            patch_times: weft_shards::vision::patch_timestamps(&clip.timestamps, v.merge_size),
        })
    }

    /// Indices of the frames to sample from a video of `total_frames` at `video_fps`
    /// (`Qwen3VLVideoProcessor.sample_frames`; an unknown or non-positive fps counts as 24).
    pub fn sample_frame_indices(&self, total_frames: usize, video_fps: f64) -> Vec<usize> {
        video::sample_indices(
            total_frames,
            video_fps,
            self.video_fps,
            self.video_min_frames,
            self.video_max_frames,
        )
    }

    /// Decodes a video file and samples its frames as the reference processor does:
    /// header frame count and fps, [`Self::sample_frame_indices`]; timestamps are the frames'
    /// presentation times from the first frame (equal to the reference's `index / fps` on
    /// constant-frame-rate input, the true clock on variable-frame-rate input).
    /// Errors ([`InferenceError::Media`]) name the file and the reason.
    pub fn load_video(&self, path: &Path) -> Result<VideoClip> {
        decode::load_video(path, |total, fps| self.sample_frame_indices(total, fps))
    }

    fn grid(&self, width: u32, height: u32) -> Grid {
        Grid {
            patch: self.vision.patch_size as usize,
            merge: self.vision.merge_size as usize,
            temporal: self.vision.temporal_patch_size as usize,
            width: width as usize,
            height: height as usize,
        }
    }

    fn lut(&self) -> Lut {
        Lut::new(self.image_mean, self.image_std, self.rescale_factor)
    }
}

/// Decodes an image source to RGB (alpha dropped, as PIL's `convert("RGB")`), applying EXIF
/// orientation first as transformers' `load_image` does. Errors name the path.
pub fn load_image(source: &ImageSource) -> Result<image::RgbImage> {
    decode::load_image(source)
}
