//! Parity with the reference processor (fixtures from `tools/parity/processor_reference.py`,
//! see `tests/fixtures/processor/README.md`), error cases, and real video decoding.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/processor")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn config(model: &str) -> ProcessorConfig {
    ProcessorConfig::from_model_dir(&fixtures().join(model)).unwrap()
}

fn sha256_f32(values: &[f32]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn bits(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn to_bits(times: &[f64]) -> Vec<u64> {
    times.iter().map(|t| t.to_bits()).collect()
}

/// Largest |Δ| between our values and the reference's sampled values.
fn sampled_max_diff(values: &[f32], samples: &Value) -> f32 {
    usizes(&samples["index"])
        .into_iter()
        .zip(f64s(&samples["value"]))
        .map(|(i, v)| (values[i] - v as f32).abs())
        .fold(0.0, f32::max)
}

/// Same pixels as `synthetic_frame` in the reference script.
fn synthetic_frame(t: usize, w: usize, h: usize) -> image::RgbImage {
    image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let (x, y) = (x as usize, y as usize);
        image::Rgb([
            ((x * x + 3 * y + 17 * t) % 256) as u8,
            (((x ^ y) + 9 * t) % 256) as u8,
            ((((x * y) >> 3) + 31 * t) % 256) as u8,
        ])
    })
}

fn check_patches(name: &str, patches: &Patches, case: &Value) {
    let grid = usizes(&case["grid_thw"]);
    assert_eq!(patches.grid_thw.to_vec(), grid, "{name}: grid_thw");
    let shape = usizes(&case["shape"]);
    assert_eq!(patches.rows(), shape[0], "{name}: rows");
    assert_eq!(patches.values.len(), shape[0] * shape[1], "{name}: values");
    let diff = sampled_max_diff(&patches.values, &case["samples"]);
    assert_eq!(
        sha256_f32(&patches.values),
        case["sha256"].as_str().unwrap(),
        "{name}: pixel_values differ from the reference (max |Δ| on samples {diff})"
    );
}

/// Decoder differences: the image crate's JPEG decoder (zune-jpeg) is up to 4 levels from
/// PIL's libjpeg-turbo on the bundled photos, i.e. 4/127.5 in pixel_values.
const JPEG_DECODE_TOLERANCE: f32 = 4.0 / 127.5 + 1e-6;

/// Every image case — crops and full photos; no resize, down (up to 10x) and up (3.5x),
/// non-square, two configs — gives bit-identical pixel_values (SHA-256 of the f32 bytes)
/// whenever our decode equals PIL's (all PNG inputs). JPEG inputs decode slightly differently,
/// so those are held to the decoder tolerance on the sampled values instead; the processor
/// alone is exact on them too (`full_dumps_max_abs_diff` feeds it PIL's pixels).
#[test]
fn images_match_the_reference_bit_for_bit() {
    let exp = expected();
    let mut exact = 0;
    for case in exp["images"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let image = load_image(&ImageSource::Path(fixtures().join(input))).unwrap();
        let cfg = config(case["model"].as_str().unwrap());
        let patches = cfg.process_image(&image).unwrap();
        let rgb_sha = hex::encode(Sha256::digest(image.as_raw()));
        if rgb_sha == case["input_rgb_sha256"].as_str().unwrap() {
            check_patches(name, &patches, case);
            exact += 1;
        } else {
            assert!(
                input.ends_with(".jpg"),
                "{name}: decoded pixels differ from PIL's"
            );
            assert_eq!(
                patches.grid_thw.to_vec(),
                usizes(&case["grid_thw"]),
                "{name}"
            );
            let diff = sampled_max_diff(&patches.values, &case["samples"]);
            assert!(
                diff <= JPEG_DECODE_TOLERANCE,
                "{name}: max |Δ| on samples {diff}"
            );
        }
    }
    assert!(exact >= 7, "only {exact} cases decoded exactly");
}

/// The three small crops (no resize, down, up) against the full stored reference values.
#[test]
fn stored_pixel_values_are_equal() {
    let bytes = std::fs::read(fixtures().join("pixel_values.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let exp = expected();
    let mut checked = 0;
    for case in exp["images"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Ok(view) = st.tensor(name) else { continue };
        let want: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(view.shape(), usizes(&case["shape"]).as_slice());
        let path = fixtures().join(case["input"].as_str().unwrap());
        let image = load_image(&ImageSource::Path(path)).unwrap();
        let got = config(case["model"].as_str().unwrap())
            .process_image(&image)
            .unwrap();
        let max = got
            .values
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            got.values
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: max |Δ| {max}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn videos_match_the_reference_bit_for_bit() {
    let exp = expected();
    for case in exp["videos"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let n = case["frames"].as_u64().unwrap() as usize;
        let (w, h) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let fps = case["fps"].as_f64().unwrap();
        let indices: Vec<usize> = (0..n).collect();
        let clip = VideoClip {
            frames: (0..n).map(|t| Arc::new(synthetic_frame(t, w, h))).collect(),
            timestamps: video::frame_times(&indices, fps),
        };
        let out = config(case["model"].as_str().unwrap())
            .process_video(&clip)
            .unwrap();
        check_patches(name, &out.patches, case);
        assert_eq!(
            to_bits(&out.patch_times),
            bits(&case["patch_times_bits"]),
            "{name}"
        );
        assert_eq!(out.patch_times.len(), out.patches.grid_thw[0], "{name}");
    }
}

#[test]
fn frame_sampling_and_timestamps_match_the_reference() {
    let cfg = config("released");
    let exp = expected();
    let cases = exp["sampling"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let total = case["total_frames"].as_u64().unwrap() as usize;
        let fps = case["video_fps"].as_f64().unwrap();
        let indices = cfg.sample_frame_indices(total, fps);
        assert_eq!(indices, usizes(&case["indices"]), "({total}, {fps})");
        let times = video::frame_times(&indices, fps);
        let patch_times = weft_shards::vision::patch_timestamps(&times, cfg.vision.merge_size);
        assert_eq!(
            to_bits(&patch_times),
            bits(&case["patch_times_bits"]),
            "({total}, {fps}): {patch_times:?}"
        );
    }
}

#[test]
fn config_reads_the_model_folder() {
    let released = config("released");
    assert_eq!(
        released,
        ProcessorConfig {
            vision: weft_shards::vision::VisionParams {
                video_min_pixels: 4096,
                video_max_pixels: 25_165_824,
                ..Default::default()
            },
            ..ProcessorConfig::default()
        }
    );
    let small = config("small");
    assert_eq!(
        (small.vision.min_pixels, small.vision.max_pixels),
        (1024, 4096)
    );
    assert_eq!(small.image_mean, [0.48145466, 0.4578275, 0.40821073]);
    assert_eq!(
        ProcessorConfig::from_model_dir(Path::new("/nonexistent")).unwrap(),
        ProcessorConfig::default()
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let err = |dir: &Path| {
        ProcessorConfig::from_model_dir(dir)
            .unwrap_err()
            .to_string()
    };
    write(
        "video_preprocessor_config.json",
        r#"{"fps": 1, "min_frames": 2, "max_frames": 8}"#,
    );
    let cfg = ProcessorConfig::from_model_dir(dir.path()).unwrap();
    assert_eq!(
        (cfg.video_fps, cfg.video_min_frames, cfg.video_max_frames),
        (1.0, 2, 8)
    );
    write("preprocessor_config.json", r#"{"resample": 2}"#);
    let e = err(dir.path());
    assert!(
        e.contains("preprocessor_config.json") && e.contains("resample"),
        "{e}"
    );
    write("preprocessor_config.json", r#"{"image_mean": [0.1, 0.2]}"#);
    assert!(err(dir.path()).contains("image_mean"));
    write("preprocessor_config.json", r#"{"image_mean": 0.25}"#);
    assert_eq!(
        ProcessorConfig::from_model_dir(dir.path())
            .unwrap()
            .image_mean,
        [0.25; 3]
    );
    // The video file may not normalise differently from the image file.
    write(
        "video_preprocessor_config.json",
        r#"{"image_mean": [0.5, 0.5, 0.5]}"#,
    );
    let e = err(dir.path());
    assert!(
        e.contains("video_preprocessor_config.json") && e.contains("image_mean"),
        "{e}"
    );
    write("preprocessor_config.json", "{");
    assert!(err(dir.path()).contains("preprocessor_config.json"));
}

#[test]
fn refuses_extreme_aspect_ratios_and_tiny_images() {
    let cfg = ProcessorConfig::default();
    let err = |w, h| {
        let e = cfg.process_image(&image::RgbImage::new(w, h)).unwrap_err();
        assert!(matches!(e, InferenceError::Media(_)), "{e:?}");
        e.to_string()
    };
    assert!(err(3300, 16).contains("aspect ratio"));
    assert!(err(16, 3300).contains("aspect ratio"));
    assert!(err(10, 40).contains("smaller than one"));
    assert!(err(40, 15).contains("smaller than one"));
    assert!(err(0, 0).contains("smaller than one"));
    // 200 exactly is allowed; one patch exactly is allowed. Both are grown to min_pixels:
    // 3200x16 rounds to 3200x0, β = sqrt(65536 / 51200) → 3648x32.
    assert_eq!(
        cfg.process_image(&image::RgbImage::new(3200, 16))
            .unwrap()
            .grid_thw,
        [1, 2, 228]
    );
    assert_eq!(
        cfg.process_image(&image::RgbImage::new(16, 16))
            .unwrap()
            .grid_thw,
        [1, 16, 16]
    );
}

#[test]
fn refuses_bad_clips() {
    let cfg = ProcessorConfig::default();
    let frame = |w, h| Arc::new(image::RgbImage::new(w, h));
    let clip =
        |frames: Vec<Arc<image::RgbImage>>, timestamps: Vec<f64>| VideoClip { frames, timestamps };
    let err = |c: VideoClip| cfg.process_video(&c).unwrap_err().to_string();
    assert!(err(clip(vec![], vec![])).contains("no frames"));
    assert!(err(clip(vec![frame(64, 64), frame(64, 48)], vec![0.0, 0.5])).contains("frame 1"));
    assert!(err(clip(vec![frame(64, 64); 2], vec![0.0])).contains("timestamps"));
    assert!(err(clip(vec![frame(64, 64)], vec![0.0])).contains("at least 2"));
    assert!(err(clip(vec![frame(64, 20); 2], vec![0.0, 0.5])).contains("at least 32"));
    // Three frames: padded to four, two temporal patches, the last time repeated.
    let ok = cfg
        .process_video(&clip(vec![frame(64, 64); 3], vec![0.0, 0.5, 1.0]))
        .unwrap();
    assert_eq!(ok.patches.grid_thw[0], 2);
    assert_eq!(ok.patch_times, vec![0.25, 1.0]);
}

#[test]
fn load_image_drops_alpha_replicates_grey_and_names_the_path() {
    let rgba = image::RgbaImage::from_fn(3, 2, |x, y| {
        image::Rgba([x as u8 * 50, y as u8 * 90, 7, 20])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let rgb = load_image(&ImageSource::Bytes(png.into())).unwrap();
    assert_eq!(rgb.get_pixel(2, 1).0, [100, 90, 7]);

    let grey = load_image(&ImageSource::Path(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/photos/camera.png"),
    ))
    .unwrap();
    assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));

    let e = load_image(&ImageSource::Path("/nonexistent/x.png".into())).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x.png"), "{e}");
    let e = load_image(&ImageSource::Bytes(Arc::from(&b"not an image"[..]))).unwrap_err();
    assert!(matches!(e, InferenceError::Media(_)), "{e}");
}

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real 2 s, 10 fps clip: 20 frames → 4 sampled at 2 fps (indices 0, 6, 13, 19), decoded
/// pixels equal to what the ffmpeg CLI decodes for the same frame (lossless RGB codec), then
/// through `process_video`. A Matroska copy has no frame count in its header (packets are
/// counted); garbage and missing files are errors naming the file.
#[test]
fn decodes_a_real_video() {
    assert!(
        have_ffmpeg(),
        "the ffmpeg CLI is needed (scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let src = "testsrc=size=96x64:rate=10";
    let cfg = ProcessorConfig::default();
    for (file, codec) in [
        ("clip.mp4", ["-c:v", "mpeg4", "-q:v", "2"]),
        ("clip.mkv", ["-c:v", "ffv1", "-pix_fmt", "bgr0"]),
    ] {
        let path = dir.path().join(file);
        let p = path.to_str().unwrap();
        ffmpeg(
            &[
                &["-f", "lavfi", "-i", src, "-t", "2"][..],
                &codec[..],
                &[p][..],
            ]
            .concat(),
        );
        let clip = cfg.load_video(&path).unwrap();
        assert_eq!(clip.frames.len(), 4, "{file}");
        assert_eq!(clip.timestamps, vec![0.0, 0.6, 1.3, 1.9], "{file}");
        assert!(clip.frames.iter().all(|f| f.dimensions() == (96, 64)));
        assert_ne!(clip.frames[0].as_raw(), clip.frames[1].as_raw());
        if file.ends_with("mkv") {
            let raw = dir.path().join("frame13.rgb");
            ffmpeg(&[
                "-i",
                p,
                "-vf",
                "select=eq(n\\,13)",
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                raw.to_str().unwrap(),
            ]);
            assert_eq!(
                clip.frames[2].as_raw(),
                &std::fs::read(&raw).unwrap(),
                "frame 13"
            );
        }
        let out = cfg.process_video(&clip).unwrap();
        // 4·96·64 px is under the default video minimum (128·32²): grown to 224x160.
        assert_eq!(out.patches.grid_thw, [2, 10, 14]);
        assert_eq!(out.patch_times, vec![(0.0 + 0.6) / 2.0, (1.3 + 1.9) / 2.0]);
    }

    let bad = dir.path().join("bad.mp4");
    std::fs::write(&bad, b"definitely not a video").unwrap();
    let e = cfg.load_video(&bad).unwrap_err();
    assert!(
        matches!(e, InferenceError::Media(_)) && e.to_string().contains("bad.mp4"),
        "{e}"
    );
    let e = cfg.load_video(&dir.path().join("missing.mp4")).unwrap_err();
    assert!(e.to_string().contains("missing.mp4"), "{e}");
}

/// Variable frame rate: 10 fps for 1 s, then every third frame (3.3 fps). Timestamps are the
/// frames' presentation times, not index / average fps (which would put the later frames up
/// to half a second off).
#[test]
fn variable_frame_rate_timestamps_are_presentation_times() {
    assert!(
        have_ffmpeg(),
        "the ffmpeg CLI is needed (scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=10",
        "-t",
        "3",
        "-vf",
        "select='lt(n\\,10)+not(mod(n\\,3))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "ffv1",
        path.to_str().unwrap(),
    ]);
    let clip = ProcessorConfig::default().load_video(&path).unwrap();
    // The frames that exist: 0.0..0.9 s every 0.1 s, then 1.2..2.7 s every 0.3 s.
    let real: Vec<f64> = (0..10)
        .map(|i| f64::from(i) / 10.0)
        .chain((4..10).map(|i| f64::from(i) * 0.3))
        .collect();
    assert!(clip.timestamps.len() >= 4);
    for t in &clip.timestamps {
        assert!(
            real.iter().any(|r| (r - t).abs() < 1e-9),
            "{t} is not a frame time: {:?}",
            clip.timestamps
        );
    }
    assert!(clip.timestamps.windows(2).all(|w| w[0] < w[1]));
    assert!((clip.timestamps.last().unwrap() - 2.7).abs() < 1e-9);
}

/// Measures max |Δ| over whole outputs against dumps written by
/// `processor_reference.py --full DIR` (run with `WEFT_PROCESSOR_FULL=DIR --ignored
/// --nocapture`): once from the pixels PIL decoded (the processor alone) and once from our own
/// decode of the same file (decoder differences included).
#[test]
#[ignore = "needs WEFT_PROCESSOR_FULL from processor_reference.py --full"]
fn full_dumps_max_abs_diff() {
    let dir = PathBuf::from(std::env::var("WEFT_PROCESSOR_FULL").unwrap());
    let exp = expected();
    let read = |file: String| std::fs::read(dir.join(file)).unwrap();
    let report = |label: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{label}");
        let max = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let n = got
            .iter()
            .zip(want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        println!("{label}: max |Δ| {max}, {n} of {} values differ", got.len());
        max
    };
    let mut worst = 0.0f32;
    for case in exp["images"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want: Vec<f32> = read(format!("{name}.f32"))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let size = usizes(&case["input_size"]);
        let cfg = config(case["model"].as_str().unwrap());
        let pil =
            image::RgbImage::from_raw(size[0] as u32, size[1] as u32, read(format!("{name}.rgb")))
                .unwrap();
        let got = cfg.process_image(&pil).unwrap();
        worst = worst.max(report(&format!("{name} (PIL pixels)"), &got.values, &want));
        let path = fixtures().join(case["input"].as_str().unwrap());
        let ours = load_image(&ImageSource::Path(path)).unwrap();
        let level = ours
            .as_raw()
            .iter()
            .zip(pil.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let got = cfg.process_image(&ours).unwrap();
        report(
            &format!("{name} (our decode, max {level} levels from PIL's)"),
            &got.values,
            &want,
        );
    }
    println!("worst from PIL pixels: {worst}");
    assert_eq!(worst, 0.0);
}
