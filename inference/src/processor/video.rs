//! Video frame sampling and timestamps, as `Qwen3VLVideoProcessor.sample_frames` and
//! `Qwen3VLProcessor._calculate_timestamps` compute them.
//!
//! Both feed the prompt (`<t.t seconds>` before each temporal patch), so they are mirrored
//! operation for operation: `int(total / fps · target)` truncates, `np.linspace(..).round()`
//! rounds half to even, and timestamps are averaged over groups of `merge_size` frames — the
//! reference uses `merge_size`, not `temporal_patch_size`, for that grouping (both are 2 in the
//! released configs).

/// The fps the reference assumes when a video does not say.
pub(super) const FALLBACK_FPS: f64 = 24.0;

/// `Qwen3VLVideoProcessor.sample_frames` with `fps = target_fps`: `n = int(total_frames /
/// video_fps · target_fps)` clamped to `[min_frames, max_frames]` and to `total_frames`, then
/// `linspace(0, total_frames − 1, n)` rounded half to even; an unknown (non-positive or
/// non-finite) `video_fps` counts as 24, as the reference assumes.
pub fn sample_indices(
    total_frames: usize,
    video_fps: f64,
    target_fps: f64,
    min_frames: usize,
    max_frames: usize,
) -> Vec<usize> {
    let video_fps = if video_fps > 0.0 && video_fps.is_finite() {
        video_fps
    } else {
        FALLBACK_FPS
    };
    // Python: int(total_num_frames / metadata.fps * fps) — float ops left to right, truncated.
    let wanted = (total_frames as f64 / video_fps * target_fps) as usize;
    let n = wanted.max(min_frames).min(max_frames).min(total_frames);
    linspace_round(total_frames.saturating_sub(1), n)
}

/// `np.linspace(0, stop, n).round().astype(int)`: `i · (stop / (n-1))` in f64, the last point
/// exactly `stop`, rounded half to even.
pub fn linspace_round(stop: usize, n: usize) -> Vec<usize> {
    match n {
        0 => Vec::new(),
        1 => vec![0],
        _ => {
            let step = stop as f64 / (n - 1) as f64;
            (0..n)
                .map(|i| {
                    if i == n - 1 {
                        stop
                    } else {
                        (i as f64 * step).round_ties_even() as usize
                    }
                })
                .collect()
        }
    }
}

/// Timestamps of sampled frames: `index / fps`, as `VideoMetadata.timestamps` computes them.
pub(super) fn frame_times(indices: &[usize], fps: f64) -> Vec<f64> {
    indices.iter().map(|&i| i as f64 / fps).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_rounds_half_to_even() {
        // 0, 1.5, 3, 4.5, 6 -> 0, 2, 3, 4, 6 (numpy rounds 1.5 -> 2, 4.5 -> 4).
        assert_eq!(linspace_round(6, 5), vec![0, 2, 3, 4, 6]);
        assert_eq!(linspace_round(9, 1), vec![0]);
        assert!(linspace_round(9, 0).is_empty());
    }

    #[test]
    fn frame_count_is_clamped() {
        // 10 s at 30 fps -> 20 frames at 2 fps.
        assert_eq!(sample_indices(300, 30.0, 2.0, 4, 768).len(), 20);
        // Short clip: at least min_frames, but never more than it has.
        assert_eq!(sample_indices(10, 30.0, 2.0, 4, 768).len(), 4);
        assert_eq!(sample_indices(3, 30.0, 2.0, 4, 768), vec![0, 1, 2]);
        assert_eq!(sample_indices(100_000, 30.0, 2.0, 4, 768).len(), 768);
        // Unknown fps falls back to 24: 48 frames -> 4 at 2 fps.
        assert_eq!(sample_indices(48, 0.0, 2.0, 1, 768), vec![0, 16, 31, 47]);
        assert!(sample_indices(0, 30.0, 2.0, 4, 768).is_empty());
    }
}
