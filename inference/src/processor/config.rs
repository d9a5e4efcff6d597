//! Reading `preprocessor_config.json` and `video_preprocessor_config.json`.
//!
//! Geometry (patch, merge, temporal patch, pixel bounds) comes from
//! [`weft_shards::vision::VisionParams::from_model_dir`], so that token budgets computed in the
//! shards crate and the patches computed here can never disagree. This file adds what only the
//! processor needs (normalisation constants, video sampling) and refuses settings the Rust port
//! does not reproduce (another resampling filter, resizing or normalisation switched off,
//! different image and video normalisation) instead of silently computing something else.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ProcessorConfig;
use crate::error::{InferenceError, Result};

const IMAGE_FILE: &str = "preprocessor_config.json";
const VIDEO_FILE: &str = "video_preprocessor_config.json";
/// `PILImageResampling.BICUBIC`, the only filter reproduced.
const BICUBIC: u64 = 3;

impl Default for ProcessorConfig {
    /// The released Qwen3-VL processor: mean = std = 0.5, rescale 1/255, videos at 2 fps with
    /// 4..768 frames, and [`VisionParams::default`](weft_shards::vision::VisionParams) geometry.
    fn default() -> Self {
        ProcessorConfig {
            vision: weft_shards::vision::VisionParams::default(),
            image_mean: [0.5; 3],
            image_std: [0.5; 3],
            rescale_factor: 1.0 / 255.0,
            video_fps: 2.0,
            video_min_frames: 4,
            video_max_frames: 768,
        }
    }
}

/// Reads the processor configs of `dir`; absent files or keys keep [`ProcessorConfig::default`].
pub(super) fn from_model_dir(dir: &Path) -> Result<ProcessorConfig> {
    let vision = weft_shards::vision::VisionParams::from_model_dir(dir)
        .map_err(|e| InferenceError::config(dir, e.to_string()))?;
    let mut cfg = ProcessorConfig {
        vision,
        ..ProcessorConfig::default()
    };

    let image_path = dir.join(IMAGE_FILE);
    let image = read_json(&image_path)?;
    if let Some(v) = &image {
        let file = File::new(&image_path, v);
        file.check_supported()?;
        if let Some(mean) = file.triple("image_mean")? {
            cfg.image_mean = mean;
        }
        if let Some(std) = file.triple("image_std")? {
            cfg.image_std = std;
        }
        if let Some(f) = file.f64("rescale_factor")? {
            cfg.rescale_factor = f as f32;
        }
        if file.bool("do_rescale")? == Some(false) {
            cfg.rescale_factor = 1.0;
        }
    }

    let video_path = dir.join(VIDEO_FILE);
    if let Some(v) = read_json(&video_path)? {
        let file = File::new(&video_path, &v);
        file.check_supported()?;
        if let Some(fps) = file.f64("fps")? {
            if !(fps > 0.0 && fps.is_finite()) {
                return Err(file.err(format!("fps {fps} must be > 0")));
            }
            cfg.video_fps = fps;
        }
        if let Some(n) = file.usize("min_frames")? {
            cfg.video_min_frames = n;
        }
        if let Some(n) = file.usize("max_frames")? {
            cfg.video_max_frames = n;
        }
        if cfg.video_min_frames > cfg.video_max_frames {
            return Err(file.err(format!(
                "min_frames {} exceeds max_frames {}",
                cfg.video_min_frames, cfg.video_max_frames
            )));
        }
        // One set of constants serves both; the released configs agree, and a model whose
        // files disagree must not be normalised with the wrong one.
        let mut video_rescale = cfg.rescale_factor;
        if let Some(f) = file.f64("rescale_factor")? {
            video_rescale = f as f32;
        }
        if file.bool("do_rescale")? == Some(false) {
            video_rescale = 1.0;
        }
        let same = |key: &str, image_value: [f32; 3]| -> Result<()> {
            match file.triple(key)? {
                Some(v) if v != image_value => Err(file.err(format!(
                    "{key} {v:?} differs from {IMAGE_FILE} ({image_value:?}); not supported"
                ))),
                _ => Ok(()),
            }
        };
        same("image_mean", cfg.image_mean)?;
        same("image_std", cfg.image_std)?;
        if video_rescale != cfg.rescale_factor {
            return Err(file.err(format!(
                "rescale_factor {video_rescale} differs from {IMAGE_FILE} ({}); not supported",
                cfg.rescale_factor
            )));
        }
        for (key, want) in [
            ("patch_size", cfg.vision.patch_size),
            ("merge_size", cfg.vision.merge_size),
        ] {
            if let Some(n) = file.usize(key)?
                && n != want as usize
            {
                return Err(file.err(format!(
                    "{key} {n} differs from {IMAGE_FILE} ({want}); not supported"
                )));
            }
        }
    }
    if cfg.image_std.contains(&0.0) || !cfg.rescale_factor.is_finite() || cfg.rescale_factor <= 0.0
    {
        return Err(InferenceError::config(
            dir.join(IMAGE_FILE),
            format!(
                "image_std {:?} and rescale_factor {} must be non-zero",
                cfg.image_std, cfg.rescale_factor
            ),
        ));
    }
    Ok(cfg)
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| InferenceError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| InferenceError::config(path, e.to_string()))
}

/// One parsed config file, for typed look-ups whose errors name the file and key.
struct File<'a> {
    path: PathBuf,
    value: &'a Value,
}

impl<'a> File<'a> {
    fn new(path: &Path, value: &'a Value) -> Self {
        File {
            path: path.to_path_buf(),
            value,
        }
    }

    fn err(&self, reason: String) -> InferenceError {
        InferenceError::config(&self.path, reason)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.err(format!("{key} must be a number, got {v}")))
            })
            .transpose()
    }

    fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| self.err(format!("{key} must be a whole number, got {v}")))
            })
            .transpose()
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.err(format!("{key} must be true or false, got {v}")))
            })
            .transpose()
    }

    /// A per-channel constant: three numbers, or one number for all channels.
    fn triple(&self, key: &str) -> Result<Option<[f32; 3]>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let bad = || self.err(format!("{key} must be a number or 3 numbers, got {v}"));
        if let Some(x) = v.as_f64() {
            return Ok(Some([x as f32; 3]));
        }
        let items = v.as_array().ok_or_else(bad)?;
        if items.len() != 3 {
            return Err(bad());
        }
        let mut out = [0.0f32; 3];
        for (o, item) in out.iter_mut().zip(items) {
            *o = item.as_f64().ok_or_else(bad)? as f32;
        }
        Ok(Some(out))
    }

    /// Refuses switches whose effect this port does not reproduce.
    fn check_supported(&self) -> Result<()> {
        for key in ["do_resize", "do_normalize"] {
            if self.bool(key)? == Some(false) {
                return Err(self.err(format!("{key}: false is not supported")));
            }
        }
        if let Some(r) = self.usize("resample")?
            && r as u64 != BICUBIC
        {
            return Err(self.err(format!("resample {r} is not supported (only 3, bicubic)")));
        }
        Ok(())
    }
}
