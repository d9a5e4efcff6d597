//! Spatio-temporal annotations: where an object is at given times, and its box at any sampled
//! time.
//!
//! Format: JSON Lines, one track per line (blank lines and `#` comments skipped):
//!
//! ```json
//! {"video": "bikes.mp4", "label": "the cyclist in a white shirt",
//!  "boxes": [{"t": 1.0, "box": [412, 96, 470, 230]}, {"t": 2.0, "box": [380, 98, 440, 232]}]}
//! ```
//!
//! - `video`: the file as `video_source` records it (`meta.file`: relative to the configured
//!   folder), or just its file name;
//! - `label`: the referring expression asked about;
//! - `boxes`: times in seconds on the video's presentation clock (first frame = 0) and boxes
//!   `[x1, y1, x2, y2]` in pixels of the video as displayed (after rotation), at least one.
//!
//! A temporal patch (two sampled frames, one `<t>` label) gets a box when its frames' time
//! interval meets the annotated span (first to last annotated time, widened by `tolerance`,
//! 0 by default): the box at the label time clamped into the span, interpolated linearly
//! between annotated times at most `max_gap` apart (the keyframe-annotation convention of
//! VidSTG/HC-STVG-style data), else the nearest annotation among the patch's frames. Anything
//! else has no box: the object is never claimed outside what was annotated (e.g. into the
//! next shot).

use serde::Deserialize;

/// One box at one time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedBox {
    /// Seconds.
    pub t: f64,
    /// `[x1, y1, x2, y2]`, display pixels.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
}

/// One object track.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// The video it belongs to.
    pub video: String,
    /// What is asked about.
    pub label: String,
    /// Boxes by time.
    pub boxes: Vec<TimedBox>,
}

impl Track {
    /// Checks the track against the video's display size and duration; sorts boxes by time.
    pub fn validate(&mut self, width: u32, height: u32, duration: f64) -> Result<(), String> {
        if self.label.trim().is_empty() {
            return Err("empty label".into());
        }
        if self.boxes.is_empty() {
            return Err("no boxes".into());
        }
        let (w, h) = (f64::from(width), f64::from(height));
        for b in &self.boxes {
            let [x1, y1, x2, y2] = b.bbox;
            if !(b.t.is_finite() && b.t >= 0.0 && b.t <= duration + 1e-6) {
                return Err(format!("time {} outside 0..{duration:.3} s", b.t));
            }
            if !b.bbox.iter().all(|v| v.is_finite()) || x2 <= x1 || y2 <= y1 {
                return Err(format!("degenerate box {:?} at {} s", b.bbox, b.t));
            }
            if x2 <= 0.0 || y2 <= 0.0 || x1 >= w || y1 >= h {
                return Err(format!(
                    "box {:?} at {} s is off the {width}x{height} frame",
                    b.bbox, b.t
                ));
            }
        }
        self.boxes.sort_by(|a, b| a.t.total_cmp(&b.t));
        Ok(())
    }

    /// The box for a temporal patch whose frames are at `frames` (seconds) and whose label
    /// time is `label`: none unless the frames' interval meets the annotated span widened by
    /// `tolerance`; else the box at `label` clamped into the span ([`Self::box_at`], an
    /// annotation anywhere among the patch's frames counting as near).
    pub fn box_for_patch(
        &self,
        frames: &[f64],
        label: f64,
        max_gap: f64,
        tolerance: f64,
    ) -> Option<[f64; 4]> {
        let (first, last) = (self.boxes.first()?.t, self.boxes.last()?.t);
        let lo = frames.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = frames.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if frames.is_empty() || hi < first - tolerance || lo > last + tolerance {
            return None;
        }
        let reach = tolerance + (hi - lo) / 2.0;
        self.box_at(label.clamp(first, last), max_gap, reach)
    }

    /// The box at `t` (see the module docs), clipped to the frame by the caller.
    pub fn box_at(&self, t: f64, max_gap: f64, tolerance: f64) -> Option<[f64; 4]> {
        let i = self.boxes.partition_point(|b| b.t <= t);
        if i > 0 && i < self.boxes.len() {
            let (a, b) = (&self.boxes[i - 1], &self.boxes[i]);
            if b.t - a.t <= max_gap {
                let f = (t - a.t) / (b.t - a.t);
                return Some(std::array::from_fn(|k| {
                    a.bbox[k] + f * (b.bbox[k] - a.bbox[k])
                }));
            }
        }
        // Nearest annotated time within the tolerance.
        let near = [i.checked_sub(1), (i < self.boxes.len()).then_some(i)]
            .into_iter()
            .flatten()
            .map(|j| &self.boxes[j])
            .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))?;
        ((near.t - t).abs() <= tolerance).then_some(near.bbox)
    }
}

/// Parses a JSONL annotation text; errors name the line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Track>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let t: Track = serde_json::from_str(l).map_err(|e| format!("{file}:{}: {e}", i + 1))?;
        out.push(t);
    }
    Ok(out)
}

/// Qwen3-VL's relative coordinate: `round(v / size · 1000)` (half to even), clamped 0..1000.
pub fn relative_1000(v: f64, size: u32) -> u32 {
    (v / f64::from(size) * 1000.0)
        .round_ties_even()
        .clamp(0.0, 1000.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> Track {
        parse(
            r#"{"video": "a.mp4", "label": "ball", "boxes": [{"t": 2.0, "box": [20, 20, 30, 30]}, {"t": 1.0, "box": [10, 10, 20, 20]}, {"t": 5.0, "box": [50, 50, 60, 60]}]}"#,
            "x",
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn interpolates_inside_short_gaps_only() {
        let mut t = track();
        t.validate(100, 100, 6.0).unwrap();
        assert_eq!(t.box_at(1.5, 1.0, 0.3), Some([15.0, 15.0, 25.0, 25.0]));
        // 2..5 s is a 3 s gap: no interpolation, and 3.5 s is far from both ends.
        assert_eq!(t.box_at(3.5, 1.0, 0.3), None);
        assert_eq!(t.box_at(4.8, 1.0, 0.3), Some([50.0, 50.0, 60.0, 60.0]));
        assert_eq!(t.box_at(0.5, 1.0, 0.3), None);
    }

    #[test]
    fn patches_get_boxes_only_where_their_frames_meet_the_span() {
        let mut t = track();
        t.validate(100, 100, 6.0).unwrap();
        // Frames 0.6 and 1.1 (label 0.85): inside 1..5 only through 1.1 -> box at 1.0.
        assert_eq!(
            t.box_for_patch(&[0.6, 1.1], 0.85, 1.0, 0.0),
            Some([10.0, 10.0, 20.0, 20.0])
        );
        // Frames 0.2 and 0.7: before the span.
        assert_eq!(t.box_for_patch(&[0.2, 0.7], 0.45, 1.0, 0.0), None);
        // ... unless the tolerance reaches it.
        assert!(t.box_for_patch(&[0.2, 0.7], 0.45, 1.0, 0.35).is_some());
        // Inside a 3 s gap, far from both ends: nothing claimed.
        assert_eq!(t.box_for_patch(&[3.2, 3.7], 3.45, 1.0, 0.0), None);
        // Frames 5.0 and 5.5 after the last annotation at 5.0: its box.
        assert_eq!(
            t.box_for_patch(&[5.0, 5.5], 5.25, 1.0, 0.0),
            Some([50.0, 50.0, 60.0, 60.0])
        );
    }

    #[test]
    fn bad_tracks_are_refused_with_reasons() {
        let mut t = track();
        assert!(t.validate(100, 100, 3.0).unwrap_err().contains("outside"));
        let mut t = track();
        t.boxes[0].bbox = [30.0, 30.0, 20.0, 40.0];
        assert!(
            t.validate(100, 100, 6.0)
                .unwrap_err()
                .contains("degenerate")
        );
        let mut t = track();
        t.boxes[0].bbox = [120.0, 0.0, 130.0, 10.0];
        assert!(t.validate(100, 100, 6.0).unwrap_err().contains("off the"));
        assert!(
            parse("{\"video\": 1}", "f.jsonl")
                .unwrap_err()
                .starts_with("f.jsonl:1:")
        );
        assert_eq!(relative_1000(320.0, 640), 500);
        assert_eq!(relative_1000(700.0, 640), 1000);
    }
}
