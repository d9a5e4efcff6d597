//! Why a video was refused: a [`Kind`] that becomes the quarantine reason, and a message that
//! names the file.

use std::path::{Path, PathBuf};

/// The reason a video cannot be used; [`Kind::reason`] is the quarantine count key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not a file FFmpeg can open (empty, garbage, unknown container).
    Unreadable,
    /// A container without a video stream (audio-only, data-only).
    NoVideoStream,
    /// A video codec this FFmpeg build cannot decode.
    UnsupportedCodec,
    /// The coded picture is larger than the configured limit.
    TooLarge,
    /// Zero-sized, too small for one 32-pixel token, or an aspect ratio over 200.
    BadGeometry,
    /// The packets end well before the header says the video does.
    Truncated,
    /// Unreadable packets, packets the decoder rejects, or frames it had to conceal.
    Corrupt,
    /// The video stream holds no frames.
    NoFrames,
    /// A wanted frame could not be decoded.
    Decode,
}

impl Kind {
    /// The quarantine reason.
    pub fn reason(self) -> &'static str {
        match self {
            Kind::Unreadable => "unreadable",
            Kind::NoVideoStream => "no_video_stream",
            Kind::UnsupportedCodec => "unsupported_codec",
            Kind::TooLarge => "too_large",
            Kind::BadGeometry => "bad_geometry",
            Kind::Truncated => "truncated",
            Kind::Corrupt => "corrupt",
            Kind::NoFrames => "no_frames",
            Kind::Decode => "decode_failed",
        }
    }
}

/// A refused video: the file, the kind and the detail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct VideoError {
    /// The file.
    pub path: PathBuf,
    /// Why, as a reason code.
    pub kind: Kind,
    /// Details.
    pub message: String,
}

impl VideoError {
    /// An error about `path`.
    pub fn new(path: &Path, kind: Kind, message: String) -> Self {
        VideoError {
            path: path.to_path_buf(),
            kind,
            message,
        }
    }
}
