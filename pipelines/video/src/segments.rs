//! Cutting a video into segments for dense captions: shot boundaries or fixed windows.
//!
//! Segments are made of whole temporal patches (pairs of sampled frames), because the model
//! sees one `<t>` label per patch: a segment's start and end are then labels the model was
//! shown, and no patch straddles two captions.
//!
//! Shot boundaries come from a colour-histogram difference between consecutive sampled frames
//! (per channel 32 bins, half the L1 distance, averaged over R, G, B: 0 = same colours,
//! 1 = disjoint). Histograms ignore motion inside a shot (pans, people walking) and jump at a
//! cut; on sampled frames half a second apart this is the classic detector (PySceneDetect's
//! histogram mode) and needs no dependency. A cut inside a patch moves to the nearer patch
//! boundary. Then segments shorter than `min_secs` merge into a neighbour (the side with the
//! weaker cut) and segments longer than `max_secs` split evenly. A video shorter than
//! `min_secs` has no neighbour to merge with: it is one segment, shorter than `min_secs`.

use serde::{Deserialize, Serialize};

/// How to segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Segmenter {
    /// Histogram shot-boundary detection.
    Shots {
        /// Cut when the histogram distance of two consecutive frames exceeds this (0..1).
        #[serde(default = "d_threshold")]
        threshold: f64,
        /// Shortest segment, seconds.
        #[serde(default = "d_min")]
        min_secs: f64,
        /// Longest segment, seconds.
        #[serde(default = "d_max")]
        max_secs: f64,
    },
    /// Consecutive windows of a fixed length (the last one may be shorter).
    Fixed {
        /// Window length, seconds.
        #[serde(default = "d_window")]
        window_secs: f64,
    },
}

fn d_threshold() -> f64 {
    0.4
}
fn d_min() -> f64 {
    2.0
}
fn d_max() -> f64 {
    30.0
}
fn d_window() -> f64 {
    10.0
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter::Shots {
            threshold: d_threshold(),
            min_secs: d_min(),
            max_secs: d_max(),
        }
    }
}

impl Segmenter {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Segmenter::Shots {
                threshold,
                min_secs,
                max_secs,
            } => {
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(format!("threshold {threshold} must be in 0..1"));
                }
                if !(min_secs >= 0.0 && max_secs > 0.0 && min_secs <= max_secs) {
                    return Err(format!(
                        "segment bounds {min_secs}..{max_secs} s must satisfy 0 <= min <= max"
                    ));
                }
            }
            Segmenter::Fixed { window_secs } => {
                if !(window_secs > 0.0 && window_secs.is_finite()) {
                    return Err(format!("window_secs {window_secs} must be > 0"));
                }
            }
        }
        Ok(())
    }

    /// Segments as `[first_patch, end_patch)` ranges covering all patches, in order.
    /// `frames` and `times` are the sampled frames (an even count); `patch` is the temporal
    /// patch size (2).
    pub fn segment(
        &self,
        frames: &[image::RgbImage],
        times: &[f64],
        patch: usize,
    ) -> Vec<(usize, usize)> {
        let patches = times.len().div_ceil(patch);
        if patches == 0 {
            return Vec::new();
        }
        // Start time of each patch; the end of the last one is one mean frame interval after
        // the last frame, so a segment's length counts its last frame's time too.
        let n = times.len();
        let step = if n > 1 {
            (times[n - 1] - times[0]) / (n - 1) as f64
        } else {
            0.0
        };
        let start = |p: usize| {
            if p * patch >= n {
                times[n - 1] + step
            } else {
                times[p * patch]
            }
        };
        let span = |(a, b): (usize, usize)| start(b) - start(a);
        match *self {
            Segmenter::Fixed { window_secs } => {
                let mut out = Vec::new();
                let mut a = 0;
                while a < patches {
                    let t0 = start(a);
                    let mut b = a + 1;
                    while b < patches && start(b) - t0 < window_secs - 1e-9 {
                        b += 1;
                    }
                    out.push((a, b));
                    a = b;
                }
                out
            }
            Segmenter::Shots {
                threshold,
                min_secs,
                max_secs,
            } => {
                let hists: Vec<[f32; 96]> = frames.iter().map(histogram).collect();
                // Strength of a cut before each patch boundary b (1..patches).
                let mut strength = vec![0.0f64; patches];
                for i in 1..frames.len() {
                    let d = distance(&hists[i - 1], &hists[i]);
                    if d > threshold {
                        // Cut between frame i-1 and i: nearest patch boundary.
                        let b = ((i as f64 / patch as f64).round() as usize).clamp(1, patches);
                        if b < patches {
                            strength[b] = strength[b].max(d);
                        }
                    }
                }
                let mut cuts: Vec<usize> = (1..patches).filter(|&b| strength[b] > 0.0).collect();
                // Merge short segments into the neighbour across the weaker cut.
                loop {
                    let mut bounds = vec![0];
                    bounds.extend(&cuts);
                    bounds.push(patches);
                    let segs: Vec<(usize, usize)> =
                        bounds.windows(2).map(|w| (w[0], w[1])).collect();
                    let Some(k) = segs.iter().position(|&s| span(s) < min_secs - 1e-9) else {
                        break;
                    };
                    if cuts.is_empty() {
                        break;
                    }
                    // Segment k is bounded by cuts[k-1] (left) and cuts[k] (right).
                    let left = k.checked_sub(1).map(|i| (i, strength[cuts[i]]));
                    let right = (k < cuts.len()).then(|| (k, strength[cuts[k]]));
                    let drop = match (left, right) {
                        (Some(l), Some(r)) => {
                            if l.1 <= r.1 {
                                l.0
                            } else {
                                r.0
                            }
                        }
                        (Some(l), None) => l.0,
                        (None, Some(r)) => r.0,
                        (None, None) => break,
                    };
                    cuts.remove(drop);
                }
                let mut bounds = vec![0];
                bounds.extend(&cuts);
                bounds.push(patches);
                let mut out = Vec::new();
                for w in bounds.windows(2) {
                    let (a, b) = (w[0], w[1]);
                    let len = span((a, b));
                    let parts = ((len / max_secs).ceil() as usize).clamp(1, b - a);
                    for j in 0..parts {
                        out.push((a + (b - a) * j / parts, a + (b - a) * (j + 1) / parts));
                    }
                }
                out
            }
        }
    }
}

/// Per-channel 32-bin histograms, normalised to sum 1 per channel.
fn histogram(img: &image::RgbImage) -> [f32; 96] {
    let mut h = [0u32; 96];
    for p in img.pixels() {
        for c in 0..3 {
            h[c * 32 + (p.0[c] >> 3) as usize] += 1;
        }
    }
    let n = (img.width() as f32 * img.height() as f32).max(1.0);
    let mut out = [0f32; 96];
    for (o, v) in out.iter_mut().zip(h) {
        *o = v as f32 / n;
    }
    out
}

/// Half the L1 distance per channel, averaged over channels: 0..1.
fn distance(a: &[f32; 96], b: &[f32; 96]) -> f64 {
    let l1: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
    f64::from(l1) / 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(v: u8) -> image::RgbImage {
        image::RgbImage::from_pixel(8, 8, image::Rgb([v, v / 2, 255 - v]))
    }

    #[test]
    fn cut_between_two_flat_shots() {
        // 12 frames at 0.5 s: 6 dark then 6 bright -> one cut at patch boundary 3 (3.0 s).
        let frames: Vec<_> = (0..12)
            .map(|i| solid(if i < 6 { 20 } else { 220 }))
            .collect();
        let times: Vec<f64> = (0..12).map(|i| i as f64 * 0.5).collect();
        let s = Segmenter::default();
        assert_eq!(s.segment(&frames, &times, 2), vec![(0, 3), (3, 6)]);
        // min_secs larger than either shot: merged into one.
        let long_min = Segmenter::Shots {
            threshold: 0.4,
            min_secs: 4.0,
            max_secs: 30.0,
        };
        assert_eq!(long_min.segment(&frames, &times, 2), vec![(0, 6)]);
        // max_secs 1.5 s: each 2.5 s shot splits in two.
        let short_max = Segmenter::Shots {
            threshold: 0.4,
            min_secs: 0.0,
            max_secs: 1.5,
        };
        assert_eq!(
            short_max.segment(&frames, &times, 2),
            vec![(0, 1), (1, 3), (3, 4), (4, 6)]
        );
    }

    #[test]
    fn fixed_windows_cover_every_patch() {
        let frames: Vec<_> = (0..10).map(|_| solid(0)).collect();
        let times: Vec<f64> = (0..10).map(|i| i as f64 * 0.5).collect();
        let s = Segmenter::Fixed { window_secs: 2.0 };
        assert_eq!(s.segment(&frames, &times, 2), vec![(0, 2), (2, 4), (4, 5)]);
    }
}
