//! Decoding images (the `image` crate) and videos (FFmpeg through `ffmpeg-next`).
//!
//! Images follow transformers' `load_image`: EXIF orientation applied, then `convert("RGB")`,
//! which drops alpha (no compositing) and replicates grey.
//!
//! Videos follow the reference's PyAV reader: the frame count and fps come from the stream
//! header (`nb_frames`, `avg_frame_rate`), the processor's `sample_frames` picks indices, and
//! frames are decoded in order, converting to RGB only those picked. Where the header has no
//! frame count the video's packets are counted first; where the header promised more frames
//! than decode, indices are re-picked from the frames actually decoded and the file is read
//! once more, so a wrong header never yields fewer frames than timestamps.
//!
//! Timestamps are the decoded frames' presentation times (`best_effort_timestamp × time_base`
//! from the first frame), not `index / fps`: on constant-frame-rate input the two are the same
//! number (one correctly rounded division of the same rational), on variable-frame-rate input
//! only the first is the real clock. Frames without a timestamp fall back to `index / fps`.

use std::path::Path;
use std::sync::{Arc, Once};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;

use crate::api::{ImageSource, VideoClip};
use crate::error::{InferenceError, Result};

/// Decodes an image source to RGB (see the module docs).
pub(super) fn load_image(source: &ImageSource) -> Result<image::RgbImage> {
    match source {
        ImageSource::Decoded(img) => Ok(img.as_ref().clone()),
        ImageSource::Path(path) => {
            let reader = image::ImageReader::open(path)
                .map_err(|e| InferenceError::Media(format!("{}: {e}", path.display())))?;
            decode(reader, &path.display().to_string())
        }
        ImageSource::Bytes(bytes) => {
            let reader = image::ImageReader::new(std::io::Cursor::new(bytes.as_ref()));
            decode(reader, &format!("image bytes ({} B)", bytes.len()))
        }
    }
}

fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    what: &str,
) -> Result<image::RgbImage> {
    use image::ImageDecoder;
    let err = |e: &dyn std::fmt::Display| InferenceError::Media(format!("{what}: {e}"));
    let mut decoder = reader
        .with_guessed_format()
        .map_err(|e| err(&e))?
        .into_decoder()
        .map_err(|e| err(&e))?;
    let orientation = decoder.orientation().map_err(|e| err(&e))?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(&e))?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only registers formats on old FFmpeg; it cannot fail on supported versions.
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

/// What the header says about the best video stream.
struct StreamInfo {
    index: usize,
    frames: usize,
    fps: f64,
    time_base: (i64, i64),
}

fn media_err(path: &Path, what: impl std::fmt::Display) -> InferenceError {
    InferenceError::Media(format!("{}: {what}", path.display()))
}

fn open(path: &Path) -> Result<(ffmpeg::format::context::Input, StreamInfo)> {
    if !path.is_file() {
        return Err(media_err(path, "no such file"));
    }
    let input = ffmpeg::format::input(path).map_err(|e| media_err(path, e))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| media_err(path, "no video stream"))?;
    let rate = |r: ffmpeg::Rational| {
        (r.numerator() > 0 && r.denominator() > 0)
            .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
    };
    let fps = rate(stream.avg_frame_rate())
        .or_else(|| rate(stream.rate()))
        .unwrap_or(super::video::FALLBACK_FPS);
    let tb = stream.time_base();
    let info = StreamInfo {
        index: stream.index(),
        frames: usize::try_from(stream.frames()).unwrap_or(0),
        fps,
        time_base: (i64::from(tb.numerator()), i64::from(tb.denominator())),
    };
    Ok((input, info))
}

/// Reads every packet of the video stream, calling `on_packet` for each; I/O errors other
/// than a corrupt packet (which the demuxer skips, as FFmpeg's CLI does) end with an error.
fn for_each_packet(
    path: &Path,
    input: &mut ffmpeg::format::context::Input,
    stream: usize,
    mut on_packet: impl FnMut(&ffmpeg::Packet) -> Result<bool>,
) -> Result<()> {
    let mut packet = ffmpeg::Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) => {
                if packet.stream() == stream && !on_packet(&packet)? {
                    return Ok(());
                }
            }
            Err(ffmpeg::Error::Eof) => return Ok(()),
            Err(ffmpeg::Error::InvalidData) => continue,
            Err(e) => return Err(media_err(path, format!("reading packets: {e}"))),
        }
    }
}

/// Decoded frames, their presentation times in seconds (`None` where the decoder gave no
/// timestamp) and how many frames were decoded in all.
type Decoded = (Vec<Arc<image::RgbImage>>, Vec<Option<f64>>, usize);

/// Decodes `path` in order and converts the frames whose decode index is in `wanted`
/// (ascending) to RGB (see [`Decoded`]).
fn decode_frames(path: &Path, wanted: &[usize]) -> Result<Decoded> {
    let (mut input, info) = open(path)?;
    let params = input
        .stream(info.index)
        .ok_or_else(|| media_err(path, "video stream vanished"))?
        .parameters();
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| media_err(path, format!("opening decoder: {e}")))?;

    let last = wanted.last().copied();
    let mut state = Sampler {
        path,
        wanted,
        next: 0,
        decoded: 0,
        frames: Vec::with_capacity(wanted.len()),
        pts: Vec::with_capacity(wanted.len()),
        origin: None,
        scaler: None,
        size: None,
    };
    let mut frame = ffmpeg::frame::Video::empty();
    let done = |s: &Sampler| last.is_none_or(|l| s.decoded > l);
    for_each_packet(path, &mut input, info.index, |packet| {
        decoder
            .send_packet(packet)
            .map_err(|e| media_err(path, format!("decoding frame {}: {e}", state.decoded)))?;
        while decoder.receive_frame(&mut frame).is_ok() {
            state.take(&frame)?;
        }
        Ok(!done(&state))
    })?;
    if !done(&state) {
        decoder
            .send_eof()
            .map_err(|e| media_err(path, format!("flushing decoder: {e}")))?;
        while decoder.receive_frame(&mut frame).is_ok() {
            state.take(&frame)?;
        }
    }
    let (num, den) = info.time_base;
    let times = state
        .pts
        .iter()
        .map(|p| {
            let (p, o) = ((*p)?, state.origin?);
            // One correctly rounded division of exact integers (bit-equal to index / fps on CFR).
            (den > 0).then(|| (i128::from(p - o) * i128::from(num)) as f64 / den as f64)
        })
        .collect();
    Ok((state.frames, times, state.decoded))
}

/// Keeps the wanted frames of a decode in RGB.
struct Sampler<'a> {
    path: &'a Path,
    wanted: &'a [usize],
    next: usize,
    decoded: usize,
    frames: Vec<Arc<image::RgbImage>>,
    /// Presentation timestamp (stream ticks) of each kept frame.
    pts: Vec<Option<i64>>,
    /// Timestamp of the first decoded frame (the clock's zero).
    origin: Option<i64>,
    scaler: Option<scaling::Context>,
    size: Option<(u32, u32)>,
}

impl Sampler<'_> {
    fn take(&mut self, frame: &ffmpeg::frame::Video) -> Result<()> {
        let index = self.decoded;
        self.decoded += 1;
        let pts = frame.timestamp().or(frame.pts());
        if index == 0 {
            self.origin = pts;
        }
        if self.wanted.get(self.next) != Some(&index) {
            return Ok(());
        }
        self.next += 1;
        let (w, h) = (frame.width(), frame.height());
        match self.size {
            None => self.size = Some((w, h)),
            Some(size) if size != (w, h) => {
                return Err(media_err(
                    self.path,
                    format!(
                        "frame {index} is {w}x{h}, earlier frames {}x{}; size changes are not supported",
                        size.0, size.1
                    ),
                ));
            }
            Some(_) => {}
        }
        let stale = self
            .scaler
            .as_ref()
            .is_none_or(|s| s.input().format != frame.format());
        if stale {
            // PyAV's `to_ndarray(format="rgb24")` converts with swscale's bilinear default.
            let ctx = scaling::Context::get(
                frame.format(),
                w,
                h,
                Pixel::RGB24,
                w,
                h,
                scaling::Flags::BILINEAR,
            )
            .map_err(|e| media_err(self.path, format!("frame {index} to RGB: {e}")))?;
            self.scaler = Some(ctx);
        }
        let mut rgb = ffmpeg::frame::Video::empty();
        self.scaler
            .as_mut()
            .expect("scaler set above")
            .run(frame, &mut rgb)
            .map_err(|e| media_err(self.path, format!("frame {index} to RGB: {e}")))?;
        let (stride, row) = (rgb.stride(0), w as usize * 3);
        let data = rgb.data(0);
        let mut pixels = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            pixels.extend_from_slice(&data[y * stride..][..row]);
        }
        let img = image::RgbImage::from_raw(w, h, pixels)
            .ok_or_else(|| media_err(self.path, format!("frame {index}: bad RGB buffer")))?;
        self.frames.push(Arc::new(img));
        self.pts.push(pts);
        Ok(())
    }
}

/// Counts the video stream's packets (one per frame for video codecs), for containers whose
/// header has no frame count.
fn count_packets(path: &Path) -> Result<usize> {
    let (mut input, info) = open(path)?;
    let mut n = 0usize;
    for_each_packet(path, &mut input, info.index, |p| {
        n += usize::from(p.size() > 0);
        Ok(true)
    })?;
    Ok(n)
}

/// The frames' presentation times when every frame has one, else `fallback` (index / fps) for
/// all of them: mixing the two clocks (pts from the first frame vs. index / nominal fps) can
/// put timestamps out of order.
fn one_clock(times: Vec<Option<f64>>, fallback: impl FnOnce() -> Vec<f64>) -> Vec<f64> {
    times
        .into_iter()
        .collect::<Option<Vec<f64>>>()
        .unwrap_or_else(fallback)
}

/// Decodes and samples a video file (see the module docs).
pub(super) fn load_video(
    path: &Path,
    sample: impl Fn(usize, f64) -> Vec<usize>,
) -> Result<VideoClip> {
    init_ffmpeg();
    let (_, info) = open(path)?;
    let mut total = if info.frames > 0 {
        info.frames
    } else {
        count_packets(path)?
    };
    for _attempt in 0..2 {
        let indices = sample(total, info.fps);
        if indices.is_empty() {
            return Err(media_err(path, "no decodable video frames"));
        }
        let (frames, times, decoded) = decode_frames(path, &indices)?;
        if frames.len() == indices.len() {
            let timestamps = one_clock(times, || super::video::frame_times(&indices, info.fps));
            return Ok(VideoClip { frames, timestamps });
        }
        // The header promised frames that never came: sample from what is really there.
        total = decoded;
    }
    Err(media_err(
        path,
        format!("frame count unstable between two decodes (last {total})"),
    ))
}

#[cfg(test)]
mod clock_tests {
    use super::one_clock;

    #[test]
    fn timestamps_come_from_one_clock() {
        let fallback = || vec![0.0, 0.5, 1.0];
        // Every frame has a pts: those, not index / fps.
        assert_eq!(
            one_clock(vec![Some(0.0), Some(0.7), Some(1.4)], fallback),
            vec![0.0, 0.7, 1.4]
        );
        // One frame without a pts: index / fps for all (mixed, 0.7 > 0.5 would precede it).
        assert_eq!(
            one_clock(vec![Some(0.0), Some(0.7), None], fallback),
            vec![0.0, 0.5, 1.0]
        );
        assert_eq!(one_clock(vec![None, None, None], fallback), fallback());
    }
}
