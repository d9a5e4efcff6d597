//! Qwen3-VL vision geometry: `smart_resize` and exact vision-token counts.
//!
//! Token budgets decide batch packing and sequence lengths, and a single pixel of difference
//! in the resized grid changes the token count and every position id after the image, so this
//! module mirrors the Hugging Face transformers processors exactly — including Python's
//! half-to-even `round` (see `docs/…/qwen3-vl.md` §2.7–2.8). Values come from
//! [`VisionParams`], whose default is the released Qwen3-VL configuration and which can be
//! read from a model folder's processor configs.

use std::path::Path;

use serde_json::Value;

use crate::Error;

/// Image and video preprocessing parameters of a Qwen3-VL-class processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionParams {
    /// Side of one ViT patch in pixels (16).
    pub patch_size: u32,
    /// Patches merged per side into one LLM token (2, so 2×2 patches = 1 token).
    pub merge_size: u32,
    /// Frames per temporal patch (2).
    pub temporal_patch_size: u32,
    /// Lower bound on an image's resized pixel count (`size.shortest_edge`).
    pub min_pixels: u64,
    /// Upper bound on an image's resized pixel count (`size.longest_edge`).
    pub max_pixels: u64,
    /// Lower bound on a video's resized pixels, summed over frames.
    pub video_min_pixels: u64,
    /// Upper bound on a video's resized pixels, summed over frames.
    pub video_max_pixels: u64,
}

impl Default for VisionParams {
    /// Qwen3-VL: `preprocessor_config.json` sizes for images and the
    /// `Qwen3VLVideoProcessor` class defaults for videos (128·32² .. 768·32²).
    fn default() -> Self {
        VisionParams {
            patch_size: 16,
            merge_size: 2,
            temporal_patch_size: 2,
            min_pixels: 65_536,
            max_pixels: 16_777_216,
            video_min_pixels: 128 * 32 * 32,
            video_max_pixels: 768 * 32 * 32,
        }
    }
}

/// Where each temporal patch of a video sits and how many tokens it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoLayout {
    /// `<|video_pad|>` tokens per temporal patch.
    pub tokens_per_patch: usize,
    /// Timestamp (seconds) of each temporal patch: the mean of its first and last frame.
    pub patch_times: Vec<f64>,
}

impl VideoLayout {
    /// Video pad tokens over all temporal patches.
    pub fn total_tokens(&self) -> usize {
        self.tokens_per_patch * self.patch_times.len()
    }
}

fn aspect_check(height: u32, width: u32) -> Result<(), Error> {
    let (lo, hi) = (height.min(width), height.max(width));
    if lo == 0 {
        return Err(Error::Image(format!("{width}×{height}: zero-sized image")));
    }
    if f64::from(hi) / f64::from(lo) > 200.0 {
        return Err(Error::Image(format!(
            "{width}×{height}: absolute aspect ratio must be smaller than 200, got {}",
            f64::from(hi) / f64::from(lo)
        )));
    }
    Ok(())
}

/// Python's `round(x / factor) * factor` (half to even).
fn round_to(x: u32, factor: u32) -> u64 {
    (f64::from(x) / f64::from(factor)).round_ties_even() as u64 * u64::from(factor)
}

/// Shrinks or grows `(height, width)` by `beta` to multiples of `factor`.
fn rescale(
    height: u32,
    width: u32,
    factor: u32,
    pixels: f64,
    max_pixels: u64,
    min_pixels: u64,
    bar: u64,
) -> (u32, u32) {
    let (h, w, f) = (f64::from(height), f64::from(width), f64::from(factor));
    if bar > max_pixels {
        let beta = (pixels / max_pixels as f64).sqrt();
        let hb = ((h / beta / f).floor() * f).max(f);
        let wb = ((w / beta / f).floor() * f).max(f);
        (hb as u32, wb as u32)
    } else if bar < min_pixels {
        let beta = (min_pixels as f64 / pixels).sqrt();
        let hb = (h * beta / f).ceil() * f;
        let wb = (w * beta / f).ceil() * f;
        (hb as u32, wb as u32)
    } else {
        unreachable!("rescale called inside bounds")
    }
}

/// The image `smart_resize` of transformers (`qwen2_vl/image_processing_qwen2_vl.py`):
/// returns `(resized_height, resized_width)`, both multiples of `factor`, with the pixel count
/// within `[min_pixels, max_pixels]` where the aspect ratio allows. Aspect ratios above 200
/// are an error, as in Python.
pub fn smart_resize(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(u32, u32), Error> {
    aspect_check(height, width)?;
    let (hb, wb) = (round_to(height, factor), round_to(width, factor));
    let bar = hb * wb;
    if bar > max_pixels || bar < min_pixels {
        let pixels = f64::from(height) * f64::from(width);
        return Ok(rescale(
            height, width, factor, pixels, max_pixels, min_pixels, bar,
        ));
    }
    Ok((hb as u32, wb as u32))
}

/// The video `smart_resize` of transformers (`qwen3_vl/video_processing_qwen3_vl.py`): like
/// [`smart_resize`], but the pixel budget spans all `num_frames` frames (rounded to a multiple
/// of `temporal_factor`). Fewer frames than `temporal_factor`, or a side shorter than `factor`,
/// is an error there and here.
pub fn smart_resize_video(
    num_frames: u32,
    height: u32,
    width: u32,
    temporal_factor: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(u32, u32), Error> {
    if num_frames < temporal_factor {
        return Err(Error::Image(format!(
            "video with {num_frames} frames: needs at least {temporal_factor}"
        )));
    }
    if height < factor || width < factor {
        return Err(Error::Image(format!(
            "video {width}×{height}: both sides must be at least {factor}"
        )));
    }
    aspect_check(height, width)?;
    let (hb, wb) = (round_to(height, factor), round_to(width, factor));
    let tb = round_to(num_frames, temporal_factor);
    let bar = tb * hb * wb;
    if bar > max_pixels || bar < min_pixels {
        let pixels = f64::from(num_frames) * f64::from(height) * f64::from(width);
        return Ok(rescale(
            height, width, factor, pixels, max_pixels, min_pixels, bar,
        ));
    }
    Ok((hb as u32, wb as u32))
}

/// Timestamp of each temporal patch: frames padded to a multiple of `temporal_patch_size` by
/// repeating the last one, then the mean of each patch's first and last frame time
/// (`processing_qwen3_vl.py::_calculate_timestamps`).
pub fn patch_timestamps(timestamps: &[f64], temporal_patch_size: u32) -> Vec<f64> {
    let n = temporal_patch_size.max(1) as usize;
    let Some(&last) = timestamps.last() else {
        return Vec::new();
    };
    let mut ts = timestamps.to_vec();
    while !ts.len().is_multiple_of(n) {
        ts.push(last);
    }
    ts.chunks(n).map(|c| (c[0] + c[n - 1]) / 2.0).collect()
}

impl VisionParams {
    /// Resize granularity in pixels: `patch_size · merge_size` (32).
    pub fn factor(&self) -> u32 {
        self.patch_size * self.merge_size
    }

    /// Resized `(height, width)` of a `width × height` image.
    pub fn image_size(&self, width: u32, height: u32) -> Result<(u32, u32), Error> {
        smart_resize(
            height,
            width,
            self.factor(),
            self.min_pixels,
            self.max_pixels,
        )
    }

    /// `<|image_pad|>` tokens for a `width × height` image: (h̄/32)·(w̄/32).
    pub fn image_tokens(&self, width: u32, height: u32) -> Result<usize, Error> {
        let (h, w) = self.image_size(width, height)?;
        Ok((h / self.factor()) as usize * (w / self.factor()) as usize)
    }

    /// `<|video_pad|>` tokens per temporal patch of a `num_frames`-frame `width × height` video.
    pub fn video_tokens_per_patch(
        &self,
        num_frames: u32,
        width: u32,
        height: u32,
    ) -> Result<usize, Error> {
        let (h, w) = smart_resize_video(
            num_frames,
            height,
            width,
            self.temporal_patch_size,
            self.factor(),
            self.video_min_pixels,
            self.video_max_pixels,
        )?;
        Ok((h / self.factor()) as usize * (w / self.factor()) as usize)
    }

    /// The token layout of a video whose frames (one per entry of `timestamps`) are
    /// `width × height`.
    pub fn video_layout(
        &self,
        timestamps: &[f64],
        width: u32,
        height: u32,
    ) -> Result<VideoLayout, Error> {
        let frames =
            u32::try_from(timestamps.len()).map_err(|_| Error::Image("too many frames".into()))?;
        Ok(VideoLayout {
            tokens_per_patch: self.video_tokens_per_patch(frames, width, height)?,
            patch_times: patch_timestamps(timestamps, self.temporal_patch_size),
        })
    }

    /// Reads a model folder's `preprocessor_config.json` (images) and
    /// `video_preprocessor_config.json` (videos); missing files or keys keep the defaults.
    ///
    /// Pixel bounds come from `size.shortest_edge` / `size.longest_edge` or, in older
    /// configs, from `min_pixels` / `max_pixels`.
    pub fn from_model_dir(dir: &Path) -> Result<Self, Error> {
        let mut p = VisionParams::default();
        if let Some(cfg) = read_json(&dir.join("preprocessor_config.json"))? {
            p.patch_size = get_u64(&cfg, &["patch_size"]).map_or(p.patch_size, |v| v as u32);
            p.merge_size = get_u64(&cfg, &["merge_size"]).map_or(p.merge_size, |v| v as u32);
            p.temporal_patch_size =
                get_u64(&cfg, &["temporal_patch_size"]).map_or(p.temporal_patch_size, |v| v as u32);
            (p.min_pixels, p.max_pixels) = pixel_bounds(&cfg, (p.min_pixels, p.max_pixels));
        }
        if let Some(cfg) = read_json(&dir.join("video_preprocessor_config.json"))? {
            p.temporal_patch_size =
                get_u64(&cfg, &["temporal_patch_size"]).map_or(p.temporal_patch_size, |v| v as u32);
            (p.video_min_pixels, p.video_max_pixels) =
                pixel_bounds(&cfg, (p.video_min_pixels, p.video_max_pixels));
        }
        if p.patch_size == 0
            || p.merge_size == 0
            || p.temporal_patch_size == 0
            || p.min_pixels > p.max_pixels
        {
            return Err(Error::Config(format!(
                "{}: inconsistent vision parameters {p:?}",
                dir.display()
            )));
        }
        Ok(p)
    }
}

fn read_json(path: &Path) -> Result<Option<Value>, Error> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn get_u64(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

fn pixel_bounds(cfg: &Value, (min, max): (u64, u64)) -> (u64, u64) {
    let min = get_u64(cfg, &["size", "shortest_edge"])
        .or_else(|| get_u64(cfg, &["min_pixels"]))
        .unwrap_or(min);
    let max = get_u64(cfg, &["size", "longest_edge"])
        .or_else(|| get_u64(cfg, &["max_pixels"]))
        .unwrap_or(max);
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> VisionParams {
        VisionParams::default()
    }

    #[test]
    fn plain_image_keeps_its_size() {
        // 480/32 = 15, 640/32 = 20: already on the grid, 307200 px within bounds.
        assert_eq!(q().image_size(640, 480).unwrap(), (480, 640));
        assert_eq!(q().image_tokens(640, 480).unwrap(), 300);
    }

    #[test]
    fn ties_round_half_to_even() {
        // h = 80: 80/32 = 2.5 → 2 (Python), not 3; w = 2000: 62.5 → 62.
        assert_eq!(q().image_size(2000, 80).unwrap(), (64, 1984));
        assert_eq!(q().image_tokens(2000, 80).unwrap(), 2 * 62);
        // 48/32 = 1.5 → 2, 1616/32 = 50.5 → 50.
        assert_eq!(q().image_size(1616, 48).unwrap(), (64, 1600));
    }

    #[test]
    fn extreme_aspect_ratio_is_an_error() {
        assert!(matches!(q().image_tokens(1000, 1), Err(Error::Image(_))));
        assert!(q().image_tokens(0, 10).is_err());
        // 200 exactly is allowed (the check is `> 200`).
        assert!(q().image_tokens(6400, 32).is_ok());
    }

    #[test]
    fn huge_image_is_capped_at_max_pixels() {
        // 9984² > 2^24, β = 10000/4096, h/β = 4096 exactly → 4096×4096 = 16384 tokens.
        assert_eq!(q().image_size(10_000, 10_000).unwrap(), (4096, 4096));
        assert_eq!(q().image_tokens(10_000, 10_000).unwrap(), 16_384);
    }

    #[test]
    fn tiny_image_is_grown_to_min_pixels() {
        // 10×10 rounds to 0×0; β = sqrt(65536/100) = 25.6 → 256×256 = 64 tokens.
        assert_eq!(q().image_size(10, 10).unwrap(), (256, 256));
        assert_eq!(q().image_tokens(10, 10).unwrap(), 64);
        // 100×50: 64·96 = 6144 px < 65536; β = sqrt(65536/5000) ≈ 3.6204,
        // h = ceil(50·β/32)·32 = 192, w = ceil(100·β/32)·32 = 384.
        assert_eq!(q().image_size(100, 50).unwrap(), (192, 384));
    }

    #[test]
    fn video_budget_spans_all_frames() {
        // 8 frames of 640×480: 8·480·640 = 2457600 > 786432; β = sqrt(3.125) ≈ 1.7678,
        // h = floor(271.5/32)·32 = 256, w = floor(362.04/32)·32 = 352 → 8·11 = 88 per patch.
        assert_eq!(q().video_tokens_per_patch(8, 640, 480).unwrap(), 88);
        assert!(q().video_tokens_per_patch(1, 640, 480).is_err());
        assert!(q().video_tokens_per_patch(4, 640, 16).is_err());
    }

    #[test]
    fn patch_times_pad_odd_frame_counts() {
        assert_eq!(patch_timestamps(&[0.0, 0.5, 1.0, 1.5], 2), vec![0.25, 1.25]);
        // The fifth frame is repeated: (2.0 + 2.0) / 2.
        assert_eq!(
            patch_timestamps(&[0.0, 0.5, 1.0, 1.5, 2.0], 2),
            vec![0.25, 1.25, 2.0]
        );
        assert!(patch_timestamps(&[], 2).is_empty());
        let layout = q()
            .video_layout(&[0.0, 0.5, 1.0, 1.5, 2.0], 640, 480)
            .unwrap();
        assert_eq!(layout.patch_times.len(), 3);
        assert_eq!(layout.total_tokens(), 3 * layout.tokens_per_patch);
    }

    #[test]
    fn model_dir_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("preprocessor_config.json"),
            r#"{"patch_size": 14, "merge_size": 2, "size": {"shortest_edge": 3136, "longest_edge": 1003520}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("video_preprocessor_config.json"),
            r#"{"min_pixels": 4096, "max_pixels": 25165824}"#,
        )
        .unwrap();
        let p = VisionParams::from_model_dir(dir.path()).unwrap();
        assert_eq!(
            (p.patch_size, p.factor(), p.min_pixels, p.max_pixels),
            (14, 28, 3136, 1_003_520)
        );
        assert_eq!((p.video_min_pixels, p.video_max_pixels), (4096, 25_165_824));
        // Qwen2.5-VL-style factor 28: 640×480 → 476×644 (17·23 = 391 tokens).
        assert_eq!(p.image_tokens(640, 480).unwrap(), 17 * 23);
        assert_eq!(
            VisionParams::from_model_dir(Path::new("/nonexistent")).unwrap(),
            q()
        );
        std::fs::write(dir.path().join("preprocessor_config.json"), "{").unwrap();
        let err = VisionParams::from_model_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("preprocessor_config.json"), "{err}");
    }
}
