//! Decoding videos with FFmpeg (`ffmpeg-next`): header probe, a packet index of presentation
//! times, and a seek-efficient decode of only the frames sampling picked.
//!
//! Every timestamp is a decoded frame's presentation time (`best_effort_timestamp ×
//! time_base`, relative to the stream's first frame), never `index / nominal fps`: on
//! variable-frame-rate input that clock is wrong, and a wrong clock silently teaches the model
//! wrong times. Sampling follows the reference (see [`crate::sampling`]), so on constant-frame-
//! rate input the frames and times are the reference's. (`weft_inference`'s `load_video` serves
//! `weft infer --video`: it decodes straight through at source size for the processor; here
//! the packet index comes first — VFR picks by time, truncation — then seeks, scales at the
//! final size and rotates.)
//!
//! Three passes over the file, each cheap:
//! 1. **probe**: container and stream headers — codec, size, rotation (display matrix), fps,
//!    duration; files that are refused (no video stream, no decoder, absurd size) stop here;
//! 2. **index**: demux (no decode) every video packet, collecting presentation times and
//!    keyframe flags; this is what makes VFR exact and truncation detectable;
//! 3. **decode**: for each wanted frame, seek to the last keyframe at or before it when that
//!    keyframe lies beyond what was already decoded, decode forward to the frame's pts, and
//!    scale it (swscale: YUV → RGB and resize in one pass) to the processor's size; packets
//!    the decoder rejects or frames it conceals make the file `corrupt`.

use std::path::Path;
use std::sync::Once;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;

use crate::error::VideoError;

/// Limits applied before any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest accepted `width × height` of the coded picture.
    pub max_source_pixels: u64,
    /// Decoder threads (0 = FFmpeg chooses, as its CLI does).
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_source_pixels: 8192 * 8192,
            threads: 0,
        }
    }
}

/// What the headers and the packet index say about a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Codec name (`h264`, `vp9`, …).
    pub codec: String,
    /// Container format name(s) as FFmpeg reports them.
    pub container: String,
    /// Display width (after rotation).
    pub width: u32,
    /// Display height (after rotation).
    pub height: u32,
    /// Display-matrix rotation as ffprobe reports it (counter-clockwise degrees: 0, 90, 180,
    /// 270); frames are turned upright accordingly.
    pub rotation: u32,
    /// Average frame rate (header `avg_frame_rate`, else frames over the indexed span).
    pub fps: f64,
    /// Duration in seconds (stream header, else container, else indexed span).
    pub duration: f64,
    /// Presentation time of every frame in seconds, ascending, first frame at 0.
    pub frame_times: Vec<f64>,
    /// The same in stream time-base ticks (absolute), for decoding.
    frame_pts: Vec<i64>,
    /// Ticks of the keyframes, ascending.
    key_pts: Vec<i64>,
    /// Whether all frame intervals are equal (constant frame rate).
    pub constant_rate: bool,
    stream: usize,
    time_base: (i32, i32),
}

impl VideoInfo {
    /// Number of frames in the index.
    pub fn frame_count(&self) -> usize {
        self.frame_times.len()
    }
}

/// Decoded, resized frames with their presentation times.
#[derive(Debug, Clone)]
pub struct Frames {
    /// RGB frames, display orientation, all `width × height`.
    pub images: Vec<image::RgbImage>,
    /// Seconds, one per frame.
    pub times: Vec<f64>,
}

pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Only registers formats on old FFmpeg; cannot fail on supported versions.
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

fn rate(r: ffmpeg::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

/// The display matrix's rotation as ffprobe reports it (degrees counter-clockwise, snapped to
/// a quarter turn); showing the frame upright takes that turn back, as the ffmpeg CLI does.
fn rotation(stream: &ffmpeg::format::stream::Stream) -> u32 {
    for sd in stream.side_data() {
        if sd.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && sd.data().len() >= 36
        {
            // av_display_rotation_get, written out (it is two lines of C): the matrix is 9
            // native-endian 16.16 fixed-point int32; the angle of its first column.
            let v = |i: usize| {
                let b = &sd.data()[i * 4..i * 4 + 4];
                f64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])) / 65536.0
            };
            let (s0, s1) = (v(0).hypot(v(3)), v(1).hypot(v(4)));
            if s0 == 0.0 || s1 == 0.0 {
                return 0;
            }
            let ccw = -(v(1) / s1).atan2(v(0) / s0).to_degrees();
            if !ccw.is_finite() {
                return 0;
            }
            return ((ccw.rem_euclid(360.0) / 90.0).round() as u32 % 4) * 90;
        }
    }
    0
}

/// Opens `path` and reads headers and the packet index (passes 1 and 2).
pub fn probe(path: &Path, limits: &Limits) -> Result<VideoInfo, VideoError> {
    init();
    let err = |kind, msg: String| VideoError::new(path, kind, msg);
    use crate::error::Kind;
    let meta = std::fs::metadata(path).map_err(|e| err(Kind::Unreadable, e.to_string()))?;
    if meta.len() == 0 {
        return Err(err(Kind::Unreadable, "empty file (0 bytes)".into()));
    }
    let mut input = ffmpeg::format::input(path)
        .map_err(|e| err(Kind::Unreadable, format!("not a readable container: {e}")))?;
    let container = input.format().name().to_string();
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| {
            let kinds: Vec<String> = input
                .streams()
                .map(|s| format!("{:?}", s.parameters().medium()).to_lowercase())
                .collect();
            err(
                Kind::NoVideoStream,
                if kinds.is_empty() {
                    "no streams at all".into()
                } else {
                    format!("no video stream (streams: {})", kinds.join(", "))
                },
            )
        })?;
    let index = stream.index();
    let params = stream.parameters();
    let codec_id = params.id();
    if codec_id == ffmpeg::codec::Id::None || ffmpeg::decoder::find(codec_id).is_none() {
        return Err(err(
            Kind::UnsupportedCodec,
            format!(
                "video codec `{}` has no decoder in this FFmpeg build",
                codec_id.name()
            ),
        ));
    }
    let decoder = ffmpeg::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| {
            err(
                Kind::UnsupportedCodec,
                format!("cannot open `{}` decoder: {e}", codec_id.name()),
            )
        })?;
    let (cw, ch) = (decoder.width(), decoder.height());
    drop(decoder);
    if cw == 0 || ch == 0 {
        return Err(err(
            Kind::BadGeometry,
            format!("video stream has no size ({cw}x{ch})"),
        ));
    }
    if u64::from(cw) * u64::from(ch) > limits.max_source_pixels {
        return Err(err(
            Kind::TooLarge,
            format!(
                "{cw}x{ch} = {} pixels exceeds max_source_pixels = {}",
                u64::from(cw) * u64::from(ch),
                limits.max_source_pixels
            ),
        ));
    }
    let rot = rotation(&stream);
    let (width, height) = if rot % 180 == 90 { (ch, cw) } else { (cw, ch) };
    let tb = stream.time_base();
    let tb_f = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
    let header_fps = rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate()));
    let header_frames = stream.frames().max(0) as usize;
    let stream_duration = (stream.duration() > 0).then(|| stream.duration() as f64 * tb_f);
    let container_duration = (input.duration() > 0)
        .then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));

    // Pass 2: the packet index.
    let mut pts = Vec::new();
    let mut keys = Vec::new();
    let mut last_duration = 0i64;
    let mut packet = ffmpeg::Packet::empty();
    let mut read_errors = 0usize;
    loop {
        match packet.read(&mut input) {
            Ok(()) => {
                if packet.stream() != index || packet.size() == 0 {
                    continue;
                }
                let Some(t) = packet.pts().or(packet.dts()) else {
                    continue;
                };
                pts.push(t);
                last_duration = packet.duration();
                if packet.is_key() {
                    keys.push(t);
                }
            }
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                read_errors += 1;
                if read_errors > 64 {
                    return Err(err(Kind::Corrupt, "more than 64 unreadable packets".into()));
                }
            }
            Err(e) => return Err(err(Kind::Corrupt, format!("reading packets: {e}"))),
        }
    }
    pts.sort_unstable();
    pts.dedup();
    keys.sort_unstable();
    keys.dedup();
    if pts.is_empty() {
        return Err(err(
            Kind::NoFrames,
            "the video stream holds no frames".into(),
        ));
    }
    if keys.is_empty() {
        // Some containers do not flag keyframes; decoding from the start is always valid.
        keys.push(pts[0]);
    }
    let time_base = (tb.numerator(), tb.denominator());
    let frame_times: Vec<f64> = pts.iter().map(|&p| seconds(p, pts[0], time_base)).collect();
    let span = *frame_times.last().expect("non-empty");
    let step = if pts.len() > 1 {
        span / (pts.len() - 1) as f64
    } else {
        0.0
    };
    let fps = header_fps.unwrap_or(if step > 0.0 { 1.0 / step } else { 24.0 });
    let frame_dur = if last_duration > 0 {
        last_duration as f64 * tb_f
    } else if fps > 0.0 {
        1.0 / fps
    } else {
        0.0
    };
    let indexed_duration = span + frame_dur;
    let declared = stream_duration.or(container_duration);
    // A file cut short: the header promised more frames (or time) than the packets hold.
    if header_frames > 0 && pts.len() + 1 < header_frames {
        return Err(err(
            Kind::Truncated,
            format!(
                "header promises {header_frames} frames, the file holds {} (ends at {:.2} s)",
                pts.len(),
                indexed_duration
            ),
        ));
    }
    if let Some(d) = declared
        && header_frames == 0
        && indexed_duration + 2.0 * frame_dur.max(0.05) < d * 0.9
    {
        return Err(err(
            Kind::Truncated,
            format!("header says {d:.2} s, the packets end at {indexed_duration:.2} s"),
        ));
    }
    let deltas: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let constant_rate = deltas.windows(2).all(|w| (w[0] - w[1]).abs() <= 1);
    Ok(VideoInfo {
        codec: codec_id.name().to_string(),
        container,
        width,
        height,
        rotation: rot,
        fps,
        duration: declared.unwrap_or(indexed_duration),
        frame_times,
        frame_pts: pts,
        key_pts: keys,
        constant_rate,
        stream: index,
        time_base,
    })
}

/// Seconds from `first` to `pts` (stream ticks). One correctly rounded division of exact
/// integers: for a CFR stream this is bit-equal to the reference's `index / fps` (both round
/// the same rational), so `<t.t seconds>` labels agree even where the mean of two frames'
/// times is a rounding tie.
fn seconds(pts: i64, first: i64, (num, den): (i32, i32)) -> f64 {
    (i128::from(pts - first) * i128::from(num)) as f64 / i128::from(den.max(1)) as f64
}

/// Fewest frames a seek must skip to be worth a decoder flush.
const MIN_SEEK_SKIP: usize = 24;

/// Decodes the frames at `indices` (into [`VideoInfo::frame_times`], ascending, repeats
/// allowed) scaled to `width × height` (display orientation). Pass 3 of the module docs.
///
/// Each returned time is the presentation time of the frame actually returned: where the
/// decoder never outputs a wanted frame (or outputs it without a timestamp), the first later
/// frame stands in, with its own time.
pub fn decode(
    path: &Path,
    info: &VideoInfo,
    indices: &[usize],
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<Frames, VideoError> {
    use crate::error::Kind;
    init();
    let err = |kind, msg: String| VideoError::new(path, kind, msg);
    if indices.windows(2).any(|w| w[1] < w[0]) {
        return Err(err(Kind::Decode, "frame indices must ascend".into()));
    }
    let mut unique: Vec<usize> = indices.to_vec();
    unique.dedup();
    let targets: Vec<i64> = unique
        .iter()
        .map(|&i| {
            info.frame_pts
                .get(i)
                .copied()
                .ok_or_else(|| err(Kind::Decode, format!("frame {i} is not in the index")))
        })
        .collect::<Result<_, _>>()?;

    let mut input = ffmpeg::format::input(path)
        .map_err(|e| err(Kind::Unreadable, format!("reopening: {e}")))?;
    let params = input
        .stream(info.stream)
        .ok_or_else(|| err(Kind::Decode, "video stream vanished".into()))?
        .parameters();
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(params)
        .map_err(|e| err(Kind::UnsupportedCodec, e.to_string()))?;
    ctx.set_threading(ffmpeg::codec::threading::Config {
        kind: ffmpeg::codec::threading::Type::Frame,
        count: limits.threads,
        ..Default::default()
    });
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| err(Kind::UnsupportedCodec, format!("opening decoder: {e}")))?;

    // Scale to the pre-rotation size; rotation happens on the small RGB frame.
    let (sw, sh) = if info.rotation % 180 == 90 {
        (height, width)
    } else {
        (width, height)
    };
    let mut scaler: Option<scaling::Context> = None;
    // Each target's frame and that frame's own pts (a later frame may stand in).
    let mut out: Vec<Option<(image::RgbImage, i64)>> = vec![None; targets.len()];
    let mut next = 0usize;
    // Presentation time of the last frame decoded since the last seek (None: nothing yet).
    let mut decoded_up_to: Option<i64> = None;
    let mut frame = ffmpeg::frame::Video::empty();
    let mut packet = ffmpeg::Packet::empty();
    let mut at_eof = false;
    let mut decode_errors = 0usize;
    let mut concealed = 0usize;
    let mut last_error = String::new();

    while next < targets.len() {
        // Seek when a keyframe lies between what is decoded and the next target.
        let target = targets[next];
        let key = info
            .key_pts
            .partition_point(|&k| k <= target)
            .checked_sub(1)
            .map(|i| info.key_pts[i]);
        // Only when it skips enough frames to pay for flushing the decoder (and refilling
        // its frame threads): short hops are decoded through.
        let skipped = |k: i64| {
            let from = decoded_up_to.map_or(0, |d| info.frame_pts.partition_point(|&p| p <= d));
            info.frame_pts
                .partition_point(|&p| p < k)
                .saturating_sub(from)
        };
        if let Some(k) = key
            && decoded_up_to.is_none_or(|d| k > d)
            && (decoded_up_to.is_some() || k > info.frame_pts[0])
            && skipped(k) >= MIN_SEEK_SKIP
        {
            input
                .seek(
                    rescale_to_av(k, info.time_base),
                    ..rescale_to_av(k, info.time_base),
                )
                .map_err(|e| err(Kind::Decode, format!("seeking to {k}: {e}")))?;
            decoder.flush();
            at_eof = false;
            decoded_up_to = Some(k - 1);
        }
        // Feed packets until a frame comes out.
        let got = loop {
            if decoder.receive_frame(&mut frame).is_ok() {
                break true;
            }
            if at_eof {
                break false;
            }
            match packet.read(&mut input) {
                Ok(()) => {
                    if packet.stream() != info.stream {
                        continue;
                    }
                    if let Err(e) = decoder.send_packet(&packet) {
                        decode_errors += 1;
                        last_error = e.to_string();
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    at_eof = true;
                    let _ = decoder.send_eof();
                }
                Err(ffmpeg::Error::InvalidData) => {
                    decode_errors += 1;
                    last_error = "invalid packet".into();
                }
                Err(e) => return Err(err(Kind::Corrupt, format!("reading packets: {e}"))),
            }
        };
        if !got {
            break;
        }
        if frame.is_corrupt() || frame.has_decode_errors() {
            concealed += 1;
        }
        let Some(p) = frame.timestamp().or(frame.pts()) else {
            continue;
        };
        decoded_up_to = Some(decoded_up_to.map_or(p, |d| d.max(p)));
        if p < targets[next] {
            continue;
        }
        // The first frame at or past the target stands for every target it reaches.
        let stale = scaler.as_ref().is_none_or(|s| {
            let i = s.input();
            i.format != frame.format() || i.width != frame.width() || i.height != frame.height()
        });
        if stale {
            scaler = Some(
                scaling::Context::get(
                    frame.format(),
                    frame.width(),
                    frame.height(),
                    Pixel::RGB24,
                    sw,
                    sh,
                    scaling::Flags::BICUBIC,
                )
                .map_err(|e| err(Kind::Decode, format!("scaler: {e}")))?,
            );
        }
        let mut rgb = ffmpeg::frame::Video::empty();
        scaler
            .as_mut()
            .expect("set above")
            .run(&frame, &mut rgb)
            .map_err(|e| err(Kind::Decode, format!("scaling frame at pts {p}: {e}")))?;
        let img = rotate(to_image(&rgb, sw, sh), info.rotation);
        while next < targets.len() && targets[next] <= p {
            out[next] = Some((img.clone(), p));
            next += 1;
        }
    }
    if next < targets.len() {
        let t = info.frame_times[unique[next]];
        return Err(err(
            Kind::Decode,
            format!(
                "frame at {t:.3} s never decoded ({decode_errors} decode errors{})",
                if last_error.is_empty() {
                    String::new()
                } else {
                    format!(", last: {last_error}")
                }
            ),
        ));
    }
    // Damage the decoder hid (concealment, missing references) is still damage: a training
    // frame with smeared macroblocks teaches the wrong picture.
    if decode_errors + concealed > 0 {
        return Err(err(
            Kind::Corrupt,
            format!(
                "{decode_errors} packets failed to decode and {concealed} frames were concealed{}",
                if last_error.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {last_error})")
                }
            ),
        ));
    }
    // Expand back to the requested indices (repeats share the decoded frame).
    let mut images = Vec::with_capacity(indices.len());
    let mut times = Vec::with_capacity(indices.len());
    let mut u = 0;
    for &i in indices {
        while unique[u] != i {
            u += 1;
        }
        let (img, pts) = out[u].as_ref().expect("filled above");
        images.push(img.clone());
        times.push(seconds(*pts, info.frame_pts[0], info.time_base));
    }
    Ok(Frames { images, times })
}

/// Stream ticks to `AV_TIME_BASE` units (what `avformat_seek_file` with stream -1 expects).
fn rescale_to_av(ts: i64, (num, den): (i32, i32)) -> i64 {
    // Rounded up, so the bound never falls below the keyframe it names.
    let n = i128::from(ts) * i128::from(num) * i128::from(ffmpeg::ffi::AV_TIME_BASE);
    let d = i128::from(den.max(1));
    n.div_euclid(d) as i64 + i64::from(n.rem_euclid(d) != 0)
}

fn to_image(rgb: &ffmpeg::frame::Video, w: u32, h: u32) -> image::RgbImage {
    let (stride, row) = (rgb.stride(0), w as usize * 3);
    let data = rgb.data(0);
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        pixels.extend_from_slice(&data[y * stride..][..row]);
    }
    image::RgbImage::from_raw(w, h, pixels).expect("buffer sized above")
}

/// Turns a frame upright: a matrix rotation of `ccw` degrees is undone by rotating the
/// picture `360 - ccw` degrees clockwise (ffmpeg's `transpose=cclock` for 90).
fn rotate(img: image::RgbImage, ccw: u32) -> image::RgbImage {
    match (360 - ccw % 360) % 360 {
        90 => image::imageops::rotate90(&img),
        180 => image::imageops::rotate180(&img),
        270 => image::imageops::rotate270(&img),
        _ => img,
    }
}
