//! Vision placeholder expansion, as `Qwen3VLProcessor.__call__` of transformers 4.57.6 does it
//! on the rendered chat text (the parity fixtures pin this behaviour):
//!
//! - the i-th `<|image_pad|>` of the text becomes `t·h·w / merge²` pads for the i-th image;
//! - for the i-th video, the first `<|vision_start|><|video_pad|><|vision_end|>` triplet left
//!   in the text is replaced *as a whole* (a bare `<|video_pad|>` when no triplet is left, as
//!   vLLM-style prompts have) by, per temporal patch, the timestamp text `<{t:.1f} seconds>`,
//!   `<|vision_start|>`, `h·w / merge²` pads and `<|vision_end|>`. So the template's own
//!   start/end markers are dropped; mistral.rs keeps them, which is not what the reference
//!   tokenizes.
//!
//! Rust's `{:.1}` rounds the exact binary value half-to-even like Python's `{:.1f}`
//! (0.25 → "0.2", 2.25 → "2.2", 1.375 → "1.4"), so timestamps print identically.
//!
//! transformers marks spans it has already expanded with a textual `<|placeholder|>`, so a
//! literal `<|placeholder|>` typed by a user would turn into a pad there; here expanded spans are
//! kept apart instead — the only input on which the two differ.

use std::fmt::Write as _;

use crate::error::{InferenceError, Result};

/// How the tokenizer spells the vision tokens.
#[derive(Debug, Clone)]
pub(super) struct VisionTokens {
    /// `<|image_pad|>`.
    pub image_pad: String,
    /// `<|video_pad|>`.
    pub video_pad: String,
    /// `<|vision_start|>`.
    pub vision_start: String,
    /// `<|vision_end|>`.
    pub vision_end: String,
}

/// One video's share of the prompt.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct VideoPads {
    /// Seconds of each temporal patch.
    pub patch_times: Vec<f64>,
    /// `<|video_pad|>` tokens per temporal patch (`h·w / merge²`).
    pub pads_per_patch: usize,
}

/// Part of the text while expanding: untouched template output, or an expansion that later
/// searches must not look into.
enum Piece<'t> {
    Raw(&'t str),
    Expanded(String),
}

/// Fails unless the rendered `text` holds exactly one image placeholder per image and one
/// video placeholder per video (checked before any media is decoded).
pub(super) fn check_counts(
    text: &str,
    tokens: &VisionTokens,
    images: usize,
    videos: usize,
) -> Result<()> {
    let found_images = text.matches(tokens.image_pad.as_str()).count();
    let found_videos = text.matches(tokens.video_pad.as_str()).count();
    if found_images != images || found_videos != videos {
        return Err(InferenceError::Request(format!(
            "the chat template produced {found_images} {} and {found_videos} {} placeholders \
             for {images} images and {videos} videos in the messages (is a placeholder token \
             typed into the text, or does the template drop a media part?)",
            tokens.image_pad, tokens.video_pad
        )));
    }
    Ok(())
}

/// Expands every placeholder of `text`: `image_pads[i]` pads for the i-th image, `videos[i]`
/// for the i-th video (see the module docs for the exact rule).
pub(super) fn expand(
    text: &str,
    tokens: &VisionTokens,
    image_pads: &[usize],
    videos: &[VideoPads],
) -> Result<String> {
    check_counts(text, tokens, image_pads.len(), videos.len())?;
    let mut pieces = Vec::with_capacity(2 * (image_pads.len() + videos.len()) + 1);
    let mut rest = text;
    for &n in image_pads {
        let at = rest
            .find(tokens.image_pad.as_str())
            .expect("placeholder count checked");
        pieces.push(Piece::Raw(&rest[..at]));
        pieces.push(Piece::Expanded(tokens.image_pad.repeat(n)));
        rest = &rest[at + tokens.image_pad.len()..];
    }
    pieces.push(Piece::Raw(rest));

    let triplet = format!(
        "{}{}{}",
        tokens.vision_start, tokens.video_pad, tokens.vision_end
    );
    for video in videos {
        let replacement = video_text(tokens, video)?;
        let in_raw = |needle: &str| {
            pieces
                .iter()
                .position(|p| matches!(p, Piece::Raw(s) if s.contains(needle)))
        };
        let (index, needle) = match in_raw(&triplet) {
            Some(i) => (i, triplet.as_str()),
            None => (
                in_raw(&tokens.video_pad).expect("placeholder count checked"),
                tokens.video_pad.as_str(),
            ),
        };
        let Piece::Raw(s) = pieces[index] else {
            unreachable!("only raw pieces are searched")
        };
        let at = s.find(needle).expect("found above");
        pieces.splice(
            index..=index,
            [
                Piece::Raw(&s[..at]),
                Piece::Expanded(replacement),
                Piece::Raw(&s[at + needle.len()..]),
            ],
        );
    }

    let mut out = String::with_capacity(
        text.len()
            + pieces
                .iter()
                .map(|p| match p {
                    Piece::Raw(_) => 0,
                    Piece::Expanded(s) => s.len(),
                })
                .sum::<usize>(),
    );
    for piece in &pieces {
        match piece {
            Piece::Raw(s) => out.push_str(s),
            Piece::Expanded(s) => out.push_str(s),
        }
    }
    Ok(out)
}

/// `<t seconds><|vision_start|><|video_pad|>×n<|vision_end|>` for each temporal patch.
fn video_text(tokens: &VisionTokens, video: &VideoPads) -> Result<String> {
    let mut s = String::new();
    for &t in &video.patch_times {
        if !t.is_finite() {
            return Err(InferenceError::Media(format!(
                "video timestamp {t} is not a finite number of seconds"
            )));
        }
        write!(s, "<{t:.1} seconds>").expect("writing to a String");
        s.push_str(&tokens.vision_start);
        s.push_str(&tokens.video_pad.repeat(video.pads_per_patch));
        s.push_str(&tokens.vision_end);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> VisionTokens {
        VisionTokens {
            image_pad: "<I>".into(),
            video_pad: "<V>".into(),
            vision_start: "<S>".into(),
            vision_end: "<E>".into(),
        }
    }

    #[test]
    fn images_expand_in_order() {
        let out = expand("a<S><I><E>b<S><I><E>", &tokens(), &[2, 3], &[]).unwrap();
        assert_eq!(out, "a<S><I><I><E>b<S><I><I><I><E>");
    }

    #[test]
    fn video_triplet_is_replaced_whole_with_python_rounding() {
        let video = VideoPads {
            patch_times: vec![0.25, 1.375, 2.25],
            pads_per_patch: 2,
        };
        let out = expand("u<S><V><E>t", &tokens(), &[], &[video]).unwrap();
        assert_eq!(
            out,
            "u<0.2 seconds><S><V><V><E><1.4 seconds><S><V><V><E><2.2 seconds><S><V><V><E>t"
        );
    }

    #[test]
    fn bare_video_pad_is_replaced_when_no_triplet_is_left() {
        let v = |t: f64| VideoPads {
            patch_times: vec![t],
            pads_per_patch: 1,
        };
        // The triplet is taken first even though the bare pad comes earlier in the text.
        let out = expand("<V>|<S><V><E>", &tokens(), &[], &[v(1.0), v(2.0)]).unwrap();
        assert_eq!(out, "<2.0 seconds><S><V><E>|<1.0 seconds><S><V><E>");
    }

    #[test]
    fn expanded_spans_are_not_searched_again() {
        // The first video's expansion contains <S><V>…<E> runs; the second placeholder must
        // still be the template's own.
        let v = VideoPads {
            patch_times: vec![0.0],
            pads_per_patch: 1,
        };
        let out = expand("<S><V><E>x<S><V><E>", &tokens(), &[], &[v.clone(), v]).unwrap();
        assert_eq!(out, "<0.0 seconds><S><V><E>x<0.0 seconds><S><V><E>");
    }

    #[test]
    fn count_mismatches_are_request_errors() {
        let e = expand("<I><I>", &tokens(), &[1], &[]).unwrap_err();
        assert!(matches!(e, InferenceError::Request(_)), "{e}");
        assert!(e.to_string().contains("2 <I>"), "{e}");
        let v = VideoPads {
            patch_times: vec![0.0],
            pads_per_patch: 1,
        };
        let e = expand("no video here", &tokens(), &[], &[v]).unwrap_err();
        assert!(matches!(e, InferenceError::Request(_)), "{e}");
    }

    #[test]
    fn non_finite_timestamps_are_refused() {
        let v = VideoPads {
            patch_times: vec![f64::NAN],
            pads_per_patch: 1,
        };
        assert!(matches!(
            expand("<V>", &tokens(), &[], &[v]),
            Err(InferenceError::Media(_))
        ));
    }
}
