//! Decoding against FFmpeg's own tools: every sampled frame's timestamp is ffprobe's
//! presentation time of the frame whose pixels are stored (CFR and VFR clips, four
//! containers), sampling follows the reference on CFR and time on VFR, and rotated video comes
//! out as the ffmpeg CLI shows it.

use std::process::Command;

use weft_pipeline_video::decode::{Limits, decode, probe};
use weft_pipeline_video::sampling::Sampling;

use crate::common::{clip, ffprobe_times};

/// Probes, picks and decodes `name` at a small size; returns (info, frame times).
fn sample(name: &str) -> (weft_pipeline_video::decode::VideoInfo, Vec<f64>, Vec<usize>) {
    let (info, frames, picked) = sample_frames(name);
    (info, frames.times, picked)
}

/// Probes, picks and decodes `name` at 64×64; returns (info, frames, picked indices).
fn sample_frames(
    name: &str,
) -> (
    weft_pipeline_video::decode::VideoInfo,
    weft_pipeline_video::decode::Frames,
    Vec<usize>,
) {
    let path = clip(name);
    let info = probe(&path, &Limits::default()).unwrap();
    let picked = Sampling::default().pick(&info.frame_times, info.fps, info.constant_rate);
    let frames = decode(&path, &info, &picked, 64, 64, &Limits::default()).unwrap();
    assert_eq!(frames.images.len(), picked.len());
    assert_eq!(frames.times.len(), picked.len());
    (info, frames, picked)
}

/// Every frame as the ffmpeg CLI decodes it (presentation order, no frame dropped or
/// duplicated, display matrix applied), scaled to 64×64 RGB.
fn ffmpeg_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-fps_mode",
            "passthrough",
            "-vf",
            "scale=64:64:flags=bicubic",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.chunks(64 * 64 * 3).map(<[u8]>::to_vec).collect()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn sampled_timestamps_are_the_ffprobe_times_of_the_stored_frames() {
    // Truth from FFmpeg's tools alone: ffprobe's presentation times and the ffmpeg CLI's
    // pixels of every frame. A stored time must be ffprobe's time of a frame, and the stored
    // pixels must be that frame's (at least as close as any other frame's), so a time that
    // names one frame while the image is another fails.
    for name in [
        "bikes.mp4",
        "bunny_vfr.mp4",
        "carphone.mkv",
        "carphone_vp9.webm",
        "carphone_rot90.mov",
        "carphone.mp4",
    ] {
        let (info, frames, _) = sample_frames(name);
        let reference = ffprobe_times(&clip(name));
        let pixels = ffmpeg_frames(&clip(name));
        assert_eq!(pixels.len(), reference.len(), "{name}: ffmpeg vs ffprobe");
        assert_eq!(info.frame_count(), reference.len(), "{name}: frame count");
        for (img, &t) in frames.images.iter().zip(&frames.times) {
            // ffprobe prints microseconds: equal up to that rounding.
            let j = reference
                .iter()
                .position(|r| (r - t).abs() < 2e-6)
                .unwrap_or_else(|| panic!("{name}: {t} s is no ffprobe presentation time"));
            let claimed = mean_abs_diff(img.as_raw(), &pixels[j]);
            let best = pixels
                .iter()
                .map(|p| mean_abs_diff(img.as_raw(), p))
                .fold(f64::INFINITY, f64::min);
            // Same pixels up to the scaler (the CLI rotates before scaling, we after: < 1 on
            // the rotated clip, 0 on the others); neighbouring frames differ by 0.2 and more.
            assert!(
                claimed < 2.0 && claimed <= best + 0.05,
                "{name}: the frame stored for {t} s is not ffprobe's frame {j} \
                 (diff {claimed:.2}, best match {best:.2})"
            );
        }
        assert!(
            frames.times.len().is_multiple_of(2),
            "{name}: odd frame count"
        );
        assert!(frames.times.len() >= 4, "{name}: below min_frames");
    }
}

#[test]
fn constant_rate_picks_the_reference_frames_and_vfr_picks_by_time() {
    // bikes: 250 frames at 25 fps, 10 s -> the reference's 20 indices, times = index / 25.
    let (info, times, picked) = sample("bikes.mp4");
    assert!(info.constant_rate);
    assert_eq!(
        picked,
        weft_pipeline_video::sampling::linspace_round(249, 20)
    );
    for (t, &i) in times.iter().zip(&picked) {
        assert!((t - i as f64 / 25.0).abs() < 1e-9);
    }
    // bunny_vfr: 25 fps for 1 s, then every third frame (8.3 fps) to 4 s.
    let (info, times, picked) = sample("bunny_vfr.mp4");
    assert!(!info.constant_rate, "{:?}", &info.frame_times[..30]);
    // Index × nominal fps (avg 12.5) is wrong in the middle: frame 30 is at 1.68 s, not
    // 30 / 12.5 = 2.4 s.
    assert!(
        (info.frame_times[30] - 1.68).abs() < 1e-6,
        "{}",
        info.frame_times[30]
    );
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let n = gaps.len() - 1; // the last gap is the even-count padding (0) when present
    for g in &gaps[..n] {
        assert!(
            *g > 0.3 && *g < 0.8,
            "uneven sampling {times:?} (indices {picked:?})"
        );
    }
}

#[test]
fn rotation_matches_the_ffmpeg_cli() {
    let path = clip("carphone_rot90.mov");
    let info = probe(&path, &Limits::default()).unwrap();
    assert_eq!(info.rotation, 90);
    assert_eq!(
        (info.width, info.height),
        (144, 176),
        "display size is rotated"
    );
    let frames = decode(&path, &info, &[10], 144, 176, &Limits::default()).unwrap();
    let ours = &frames.images[0];
    // The ffmpeg CLI applies the display matrix (autorotate) by default.
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args([
            "-vf",
            "select=eq(n\\,10)",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 144 * 176 * 3, "ffmpeg output is 144x176");
    let diff = |a: &[u8]| -> f64 {
        a.iter()
            .zip(&out.stdout)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
            .sum::<f64>()
            / a.len() as f64
    };
    let same = diff(ours.as_raw());
    let flipped = diff(image::imageops::rotate180(ours).as_raw());
    assert!(same < 4.0, "mean abs diff {same} vs ffmpeg's rotated frame");
    assert!(
        flipped > 4.0 * same.max(1.0),
        "the test cannot tell rotations apart ({same} vs {flipped})"
    );
}

#[test]
fn seeking_decodes_the_same_pixels_as_a_straight_decode() {
    // Sparse picks far apart force seeks; dense picks decode straight through. The frame at
    // the same index must be identical either way.
    let path = clip("bikes.mp4");
    let info = probe(&path, &Limits::default()).unwrap();
    let sparse = decode(&path, &info, &[5, 240], 64, 32, &Limits::default()).unwrap();
    let all: Vec<usize> = (0..250).collect();
    let dense = decode(&path, &info, &all, 64, 32, &Limits::default()).unwrap();
    assert_eq!(sparse.images[0], dense.images[5]);
    assert_eq!(sparse.images[1], dense.images[240]);
    assert_eq!(sparse.times, vec![dense.times[5], dense.times[240]]);
}
