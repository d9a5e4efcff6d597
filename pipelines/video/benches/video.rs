//! Frame sampling throughput: weft's `video_source` path (probe + packet index + seek-aware
//! decode + scale + JPEG) against the ffmpeg CLI (`-vf fps=2,scale=W:H` to JPEG files) and
//! PyAV (decode, pick frames at 2 fps by presentation time, reformat, JPEG with Pillow), on the
//! same files, in the same run. Each tool writes the same number of frames at the same size;
//! the score is sampled frames per second of wall time (best of `REPEATS` interleaved runs), and the ratios
//! weft / peer are printed.
//!
//! Files: the bundled clips plus a 60 s 1280×544 H.264 clip made here from `bikes.mp4` (the
//! bundled clips are short; sampling pays off on long inputs). Extra files or folders can be
//! given as arguments. `just bench-video` installs PyAV into `.venv` first; without it the
//! PyAV column is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use weft_pipeline_video::decode::{Limits, decode, probe};
use weft_pipeline_video::sampling::Sampling;
use weft_shards::vision::{VisionParams, smart_resize_video};

const REPEATS: usize = 5;

const PYAV: &str = r#"
import io, sys, time
import av
from PIL import Image
path, fps, w, h = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with av.open(path) as c:
    s = c.streams.video[0]
    s.thread_type = "AUTO"
    tb = float(s.time_base)
    n, nxt, first = 0, 0.0, None
    for f in c.decode(s):
        t = f.pts * tb
        if first is None:
            first = t
        if t - first + 1e-9 < nxt:
            continue
        nxt += 1.0 / fps
        img = f.reformat(width=w, height=h, format="rgb24").to_image()
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        n += 1
print(n)
"#;

struct Job {
    path: PathBuf,
    frames: usize,
    width: u32,
    height: u32,
}

fn weft(job: &Job) -> usize {
    let limits = Limits::default();
    let info = probe(&job.path, &limits).expect("probe");
    let picked = Sampling::default().pick(&info.frame_times, info.fps, info.constant_rate);
    let frames = decode(&job.path, &info, &picked, job.width, job.height, &limits).expect("decode");
    for img in &frames.images {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(img)
            .expect("jpeg");
    }
    frames.images.len()
}

fn ffmpeg_cli(job: &Job, dir: &Path) -> usize {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&job.path)
        .args([
            "-vf",
            &format!("fps=2,scale={}:{}:flags=bicubic", job.width, job.height),
            "-q:v",
            "2",
        ])
        .arg(dir.join("%05d.jpg"))
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    std::fs::read_dir(dir).unwrap().count()
}

fn pyav(job: &Job, python: &Path, script: &Path) -> Option<usize> {
    let out = Command::new(python)
        .arg(script)
        .arg(&job.path)
        .args(["2", &job.width.to_string(), &job.height.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Wall time of one run and its frame count.
fn time(f: impl FnOnce() -> Option<usize>) -> Option<(f64, usize)> {
    let t = Instant::now();
    let n = f()?;
    Some((t.elapsed().as_secs_f64(), n))
}

fn long_clip(dir: &Path, crate_dir: &Path) -> PathBuf {
    let out = dir.join("bikes_1280x544_60s.mp4");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-stream_loop", "5", "-i"])
        .arg(crate_dir.join("fixtures/clips/bikes.mp4"))
        .args([
            "-vf",
            "scale=1280:544",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-an",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "making the long clip failed");
    out
}

fn main() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = std::env::temp_dir().join(format!("weft-bench-video-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for a in &args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p);
        }
    }
    if files.is_empty() {
        for n in ["bikes.mp4", "cut.mp4", "bunny_vfr.mp4", "carphone_vp9.webm"] {
            files.push(crate_dir.join("fixtures/clips").join(n));
        }
        files.push(long_clip(&tmp, &crate_dir));
    }
    let python = crate_dir.join("../../.venv/bin/python");
    let script = tmp.join("pyav_sample.py");
    std::fs::write(&script, PYAV).unwrap();
    let have_pyav = Command::new(&python)
        .args(["-c", "import av, PIL"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_pyav {
        eprintln!("PyAV not in .venv (`just bench-video` installs it): PyAV column skipped");
    }

    println!(
        "{:<26} {:>6} {:>9} | {:>10} {:>10} {:>10} | {:>9} {:>9}",
        "file", "frames", "size", "weft f/s", "ffmpeg f/s", "PyAV f/s", "vs ffmpeg", "vs PyAV"
    );
    let (mut tw, mut tf, mut tp, mut nw, mut nf, mut np) = (0.0, 0.0, 0.0, 0, 0, 0);
    for path in files {
        let info = probe(&path, &Limits::default()).expect("probe");
        let picked = Sampling::default().pick(&info.frame_times, info.fps, info.constant_rate);
        let vp = VisionParams::default();
        let (h, w) = smart_resize_video(
            picked.len() as u32,
            info.height,
            info.width,
            2,
            32,
            vp.video_min_pixels,
            vp.video_max_pixels,
        )
        .expect("size");
        let job = Job {
            path: path.clone(),
            frames: picked.len(),
            width: w,
            height: h,
        };
        // Interleaved repeats, best of each: load from other processes hits all three alike.
        let (mut t_w, mut t_f, mut t_p) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let (mut n_w, mut n_f, mut n_p) = (0, 0, None);
        for _ in 0..REPEATS {
            let (t, n) = time(|| Some(weft(&job))).unwrap();
            (t_w, n_w) = (t_w.min(t), n);
            let (t, n) = time(|| Some(ffmpeg_cli(&job, &tmp.join("ff")))).unwrap();
            (t_f, n_f) = (t_f.min(t), n);
            if have_pyav && let Some((t, n)) = time(|| pyav(&job, &python, &script)) {
                (t_p, n_p) = (t_p.min(t), Some(n));
            }
        }
        let p = n_p.map(|n| (t_p, n));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let fps = |n: usize, t: f64| n as f64 / t;
        let (pyav_fps, vs_pyav) = match p {
            Some((t_p, n_p)) => {
                tp += t_p;
                np += n_p;
                (
                    format!("{:.1}", fps(n_p, t_p)),
                    format!("{:.2}x", fps(n_w, t_w) / fps(n_p, t_p)),
                )
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<26} {:>6} {:>9} | {:>10.1} {:>10.1} {:>10} | {:>8.2}x {:>9}",
            name,
            job.frames,
            format!("{w}x{h}"),
            fps(n_w, t_w),
            fps(n_f, t_f),
            pyav_fps,
            fps(n_w, t_w) / fps(n_f, t_f),
            vs_pyav
        );
        tw += t_w;
        tf += t_f;
        nw += n_w;
        nf += n_f;
    }
    let all = |n: usize, t: f64| n as f64 / t;
    println!(
        "{:<26} {:>6} {:>9} | {:>10.1} {:>10.1} {:>10} | {:>8.2}x {:>9}",
        "all files",
        nw,
        "",
        all(nw, tw),
        all(nf, tf),
        if np > 0 {
            format!("{:.1}", all(np, tp))
        } else {
            "-".into()
        },
        all(nw, tw) / all(nf, tf),
        if np > 0 {
            format!("{:.2}x", all(nw, tw) / all(np, tp))
        } else {
            "-".into()
        },
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
