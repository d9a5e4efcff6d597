//! Which frames to keep: the reference processor's count rule on presentation times.
//!
//! Count (`Qwen3VLVideoProcessor.sample_frames`): `n = int(frames / fps · target_fps)`,
//! clamped to `[min_frames, max_frames]` and to the frames there are. Then:
//! - **constant frame rate**: indices `linspace(0, frames − 1, n)` rounded half to even —
//!   exactly the reference's frames, so on such input weft and transformers see the same
//!   frames and (with times = pts) the same clock;
//! - **variable frame rate**: `n` instants evenly spaced in presentation time from the first
//!   to the last frame, each taking the nearest frame not already taken — what "2 frames per
//!   second" means when frames are not evenly spaced (an index linspace would crowd the
//!   samples into the dense parts).
//!
//! The count rule and the constant-rate indices are `weft_inference`'s port of the reference
//! ([`sample_indices`]), called rather than copied.
//!
//! Finally the count is made even by repeating the last frame (and its time), as the
//! reference pads before patching, so stored frames pair into temporal patches exactly.

pub use weft_inference::processor::{linspace_round, sample_indices};

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Target frames per second (2).
    pub fps: f64,
    /// Fewest frames (4).
    pub min_frames: usize,
    /// Most frames (768).
    pub max_frames: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            fps: 2.0,
            min_frames: 4,
            max_frames: 768,
        }
    }
}

impl Sampling {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.fps > 0.0 && self.fps.is_finite()) {
            return Err(format!("fps {} must be > 0", self.fps));
        }
        if self.min_frames == 0 || self.min_frames > self.max_frames {
            return Err(format!(
                "frame bounds {}..{} must satisfy 1 <= min <= max",
                self.min_frames, self.max_frames
            ));
        }
        Ok(())
    }

    /// Indices into `times` (presentation order) of the frames to keep, padded to an even count.
    /// `avg_fps` is the stream's average rate; `constant_rate` picks the index rule.
    pub fn pick(&self, times: &[f64], avg_fps: f64, constant_rate: bool) -> Vec<usize> {
        // The reference's own rule (count, clamps, 24 fps fallback, rounded linspace), shared
        // with `weft infer` so the two never drift apart.
        let reference = sample_indices(
            times.len(),
            avg_fps,
            self.fps,
            self.min_frames,
            self.max_frames,
        );
        let mut picked = if constant_rate {
            reference
        } else {
            nearest_in_time(times, reference.len())
        };
        if picked.len() % 2 == 1 {
            picked.push(*picked.last().expect("n >= 1"));
        }
        picked
    }
}

/// `n` (≤ `times.len()`) distinct frames nearest to instants evenly spaced over the span.
fn nearest_in_time(times: &[f64], n: usize) -> Vec<usize> {
    let total = times.len();
    if n <= 1 {
        return vec![0; n];
    }
    let (t0, t1) = (times[0], times[total - 1]);
    let mut out: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let t = t0 + (t1 - t0) * i as f64 / (n - 1) as f64;
        let j = times.partition_point(|&x| x < t);
        let mut best = if j == 0 {
            0
        } else if j >= total {
            total - 1
        } else if (times[j] - t) < (t - times[j - 1]) {
            j
        } else {
            j - 1
        };
        // Distinct and ascending, leaving room for the frames still to pick.
        if let Some(&prev) = out.last() {
            best = best.max(prev + 1);
        }
        best = best.min(total - (n - i));
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfr(n: usize, fps: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / fps).collect()
    }

    #[test]
    fn constant_rate_is_the_reference_linspace() {
        // 10 s at 25 fps -> 20 frames, np.linspace(0, 249, 20).round().
        let p = Sampling::default().pick(&cfr(250, 25.0), 25.0, true);
        assert_eq!(p.len(), 20);
        assert_eq!(&p[..4], &[0, 13, 26, 39]);
        assert_eq!(*p.last().unwrap(), 249);
        // Half to even: linspace(0, 6, 5) = 0, 1.5, 3, 4.5, 6 -> 0, 2, 3, 4, 6.
        assert_eq!(linspace_round(6, 5), vec![0, 2, 3, 4, 6]);
    }

    #[test]
    fn bounds_and_even_padding_for_short_and_long_inputs() {
        let s = Sampling::default();
        // 1 frame: one frame, padded to a pair.
        assert_eq!(s.pick(&cfr(1, 25.0), 25.0, true), vec![0, 0]);
        // 3 frames: fewer than min_frames = 4 -> all three, padded to 4.
        assert_eq!(s.pick(&cfr(3, 25.0), 25.0, true), vec![0, 1, 2, 2]);
        // 0.4 s at 25 fps: int(0.8) = 0 -> min_frames 4.
        assert_eq!(s.pick(&cfr(10, 25.0), 25.0, true).len(), 4);
        // 2.5 s at 10 fps: int(5) = 5 frames, odd -> 6 with the last repeated.
        let p = s.pick(&cfr(25, 10.0), 10.0, true);
        assert_eq!(p, vec![0, 6, 12, 18, 24, 24]);
        // 2 hours at 30 fps: capped at max_frames = 768 (already even).
        let p = s.pick(&cfr(216_000, 30.0), 30.0, true);
        assert_eq!(p.len(), 768);
        assert_eq!((p[0], p[767]), (0, 215_999));
        // A cap that is odd gets padded past it by one repeat, never by a new frame.
        let odd = Sampling { max_frames: 7, ..s };
        let p = odd.pick(&cfr(1000, 30.0), 30.0, true);
        assert_eq!(p.len(), 8);
        assert_eq!(p[6], p[7]);
        for p in [
            s.pick(&cfr(77, 30.0), 30.0, true),
            s.pick(&cfr(5, 1.0), 1.0, false),
        ] {
            assert!(p.len().is_multiple_of(2), "{p:?}");
        }
    }

    #[test]
    fn variable_rate_spreads_samples_in_time() {
        // 1 s at 25 fps, then 3 s at 5 fps: 25 + 15 frames.
        let mut t: Vec<f64> = (0..25).map(|i| i as f64 / 25.0).collect();
        t.extend((1..=15).map(|i| 0.96 + i as f64 * 0.2));
        let fps = t.len() as f64 / 4.0;
        let p = Sampling::default().pick(&t, fps, false);
        let times: Vec<f64> = p.iter().map(|&i| t[i]).collect();
        // int(40 / 10 · 2) = 8 frames, spread over 0..3.96 s: gaps near 0.57 s, never
        // crowded into the dense first second as an index linspace would be.
        assert_eq!(p.len(), 8);
        for w in times.windows(2) {
            assert!(w[1] - w[0] > 0.35 && w[1] - w[0] < 0.8, "{times:?}");
        }
        let by_index = linspace_round(t.len() - 1, 8);
        assert!(by_index.iter().filter(|&&i| t[i] < 1.0).count() >= 4);
    }
}
