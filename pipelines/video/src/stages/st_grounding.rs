//! `st_grounding`: video table + track annotations ([`crate::annotations`]) → "when and
//! where" samples, one per track. Needs no model.
//!
//! Question (seeded phrasing): "When and where does {label} appear in the video? …". Answer:
//! the time span, then one box per temporal patch in Qwen3-VL's relative 0–1000 JSON, each
//! tagged with the patch's label exactly as the prompt shows it:
//!
//! ```text
//! <1.2 seconds> - <3.2 seconds>
//! [{"time": "<1.2 seconds>", "bbox_2d": [644, 353, 734, 846], "label": "the cyclist"}, …]
//! ```
//!
//! Boxes are taken per temporal patch (see [`crate::annotations::Track::box_for_patch`]),
//! clipped to the frame and converted with
//! `round(x / W · 1000)` (Python's rounding), W × H the displayed video size. Accounting is per
//! video row: rows without tracks are dropped (`no_annotations`); rows with any invalid track
//! are quarantined (`bad_annotation`, with each bad track's reason — a row is never emitted
//! with some of its tracks silently left out); rows whose valid tracks all fall between
//! sampled frames are dropped (`track_not_sampled`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_shards::render::TimestampFormat;
use weft_shards::{Content, Message, Sample, sample_schema, samples_to_batch};

use super::common::{self, BalanceTable};
use crate::annotations::{self, Track, relative_1000};
use crate::{rng, table};

/// `task` of the samples.
pub const TASK: &str = "st_grounding";

fn d_questions() -> Vec<String> {
    vec![
        "When and where does {label} appear in the video? Give the time span, then its box at each timestamp as JSON.".into(),
        "Track {label}: when is it visible, and where is it at each timestamp? Answer with the span and the boxes in JSON.".into(),
        "Locate {label} in space and time: the start and end time, then a bbox_2d for every timestamp.".into(),
    ]
}
fn d_max_gap() -> f64 {
    1.0
}
fn d_tolerance() -> f64 {
    0.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// JSONL track annotations, relative to the pipeline file.
    annotations: String,
    /// Longest gap between annotated times that is interpolated, seconds.
    #[serde(default = "d_max_gap")]
    max_gap_secs: f64,
    /// How far beyond the first/last annotated time a patch's frames may lie and still get
    /// the track's box, seconds.
    #[serde(default = "d_tolerance")]
    tolerance_secs: f64,
    /// Question phrasings; `{label}` is replaced.
    #[serde(default = "d_questions")]
    questions: Vec<String>,
    /// Share of samples with hh:mm:ss labels.
    #[serde(default = "common::d_hms_share")]
    hms_share: f64,
}

struct StGrounding {
    cfg: Config,
    tracks: OnceLock<Result<BTreeMap<String, Vec<Track>>, String>>,
    balance: OnceLock<Result<BalanceTable, String>>,
}

/// Builds `st_grounding`.
pub fn build(t: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(t)?;
    common::check_share("hms_share", cfg.hms_share)?;
    if cfg.questions.is_empty() || cfg.questions.iter().any(|q| !q.contains("{label}")) {
        return Err("`questions` must be non-empty and each contain `{label}`".into());
    }
    if !(cfg.max_gap_secs >= 0.0 && cfg.tolerance_secs >= 0.0) {
        return Err("max_gap_secs and tolerance_secs must be >= 0".into());
    }
    Ok(Arc::new(StGrounding {
        cfg,
        tracks: OnceLock::new(),
        balance: OnceLock::new(),
    }))
}

/// The answer text (see the module docs) from `(patch time, box 0–1000)` pairs.
pub fn answer(label: &str, boxes: &[(f64, [u32; 4])], format: TimestampFormat) -> String {
    let (first, last) = (boxes[0].0, boxes[boxes.len() - 1].0);
    // Written by hand for a fixed key order and Qwen's spacing (`[x1, y1, x2, y2]`).
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let items: Vec<String> = boxes
        .iter()
        .map(|(t, b)| {
            format!(
                "{{\"time\": {}, \"bbox_2d\": [{}, {}, {}, {}], \"label\": {}}}",
                quote(&format.label(*t)),
                b[0],
                b[1],
                b[2],
                b[3],
                quote(label)
            )
        })
        .collect();
    format!(
        "{} - {}\n[{}]",
        format.label(first),
        format.label(last),
        items.join(", ")
    )
}

impl StGrounding {
    fn tracks(&self, base: &Path) -> Result<&BTreeMap<String, Vec<Track>>, String> {
        self.tracks
            .get_or_init(|| {
                let path = base.join(&self.cfg.annotations);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut by_video: BTreeMap<String, Vec<Track>> = BTreeMap::new();
                for t in annotations::parse(&text, &path.display().to_string())? {
                    by_video.entry(t.video.clone()).or_default().push(t);
                }
                Ok(by_video)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn row_samples(
        &self,
        row: &Sample,
        tracks: &[Track],
        seed: u64,
        balance: Option<&BalanceTable>,
    ) -> Result<Vec<Sample>, (&'static str, String)> {
        let video = row
            .videos
            .first()
            .ok_or(("no_video", "row without a video".to_string()))?;
        let num = |k: &str| row.meta.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let (w, h, duration) = (num("width") as u32, num("height") as u32, num("duration"));
        let times = common::patch_times(&video.timestamps);
        // Every track is checked before any is used: one bad track quarantines the row with
        // its reason, rather than vanishing behind the tracks that work.
        let mut tracks = tracks.to_vec();
        let problems: Vec<String> = tracks
            .iter_mut()
            .enumerate()
            .filter_map(|(k, track)| {
                let e = track.validate(w, h, duration).err()?;
                Some(format!("track {k} ({}): {e}", track.label))
            })
            .collect();
        if !problems.is_empty() {
            return Err(("bad_annotation", problems.join("; ")));
        }
        let mut out = Vec::new();
        for (k, track) in tracks.iter().enumerate() {
            let patch = weft_shards::vision::VisionParams::default().temporal_patch_size as usize;
            let boxes: Vec<(f64, [u32; 4])> = times
                .iter()
                .zip(video.timestamps.chunks(patch))
                .filter_map(|(&t, frames)| {
                    let b = track.box_for_patch(
                        frames,
                        t,
                        self.cfg.max_gap_secs,
                        self.cfg.tolerance_secs,
                    )?;
                    let (fw, fh) = (f64::from(w), f64::from(h));
                    let c = [
                        b[0].clamp(0.0, fw),
                        b[1].clamp(0.0, fh),
                        b[2].clamp(0.0, fw),
                        b[3].clamp(0.0, fh),
                    ];
                    Some((
                        t,
                        [
                            relative_1000(c[0], w),
                            relative_1000(c[1], h),
                            relative_1000(c[2], w),
                            relative_1000(c[3], h),
                        ],
                    ))
                })
                .collect();
            if boxes.is_empty() {
                continue;
            }
            let key = format!("{}#{k}", row.id);
            let format = common::pick_format(seed, TASK, &key, self.cfg.hms_share);
            let q = &self.cfg.questions[rng::index(
                seed,
                "st_grounding/question",
                &key,
                self.cfg.questions.len(),
            )];
            let mut meta = common::sample_meta(&row.meta, &row.id, format, balance);
            meta.shift_remove("segments");
            meta.insert("track".into(), json!(k));
            meta.insert("label".into(), json!(track.label));
            out.push(Sample::new(
                TASK,
                row.source.clone(),
                vec![
                    Message::new(
                        "user",
                        vec![
                            Content::Video { index: 0 },
                            Content::text(q.replace("{label}", &track.label)),
                        ],
                    ),
                    Message::new(
                        "assistant",
                        vec![Content::text(answer(&track.label, &boxes, format))],
                    ),
                ],
                Vec::new(),
                vec![video.clone()],
                meta,
            ));
        }
        if out.is_empty() {
            return Err((
                "track_not_sampled",
                "no track has a box at a sampled time".into(),
            ));
        }
        Ok(out)
    }
}

impl Stage for StGrounding {
    fn output_schema(&self, inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        for s in inputs {
            table::check(s)?;
        }
        Ok(sample_schema())
    }

    fn check_side_inputs(&self, side: &[SchemaRef]) -> StageResult<()> {
        common::check_balance_inputs(side)
    }

    fn process(&self, _split: &Split, io: &mut StageIo) -> StageResult<()> {
        let tracks = self.tracks(io.base_dir())?;
        let balance = common::optional_balance(&self.balance, io)?;
        while let Some(batch) = io.next_batch()? {
            let mut out = Vec::new();
            let mut records = 0;
            for row in table::from_batch(&batch)? {
                let file = row
                    .meta
                    .get("file")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let name = Path::new(file)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let mine: Vec<Track> = [file, name]
                    .iter()
                    .filter(|k| !k.is_empty())
                    .filter_map(|k| tracks.get(*k))
                    .next()
                    .cloned()
                    .unwrap_or_default();
                if mine.is_empty() {
                    io.drop_records("no_annotations", 1);
                    continue;
                }
                match self.row_samples(&row, &mine, io.pipeline_seed(), balance) {
                    Ok(s) => {
                        out.extend(s);
                        records += 1;
                    }
                    Err(("track_not_sampled", _)) => io.drop_records("track_not_sampled", 1),
                    Err((reason, e)) => io.quarantine(file.to_string(), reason, e),
                }
            }
            io.emit_from(&samples_to_batch(&out).map_err(|e| e.to_string())?, records)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::TimedBox;

    fn stage() -> StGrounding {
        StGrounding {
            cfg: Config {
                annotations: String::new(),
                max_gap_secs: d_max_gap(),
                tolerance_secs: d_tolerance(),
                questions: d_questions(),
                hms_share: 0.0,
            },
            tracks: OnceLock::new(),
            balance: OnceLock::new(),
        }
    }

    /// A 100×100, 4 s video row sampled at 0, 0.5, …, 3.5 s.
    fn row() -> Sample {
        let video = weft_shards::Video {
            frames: Vec::new(),
            timestamps: (0..8).map(|i| f64::from(i) * 0.5).collect(),
            fps: 2.0,
            duration: 4.0,
            path: None,
        };
        let meta = json!({"width": 100, "height": 100, "duration": 4.0});
        Sample::new(
            "video",
            "test",
            Vec::new(),
            Vec::new(),
            vec![video],
            meta.as_object().cloned().unwrap(),
        )
    }

    fn track(label: &str, boxes: &[(f64, [f64; 4])]) -> Track {
        Track {
            video: "v.mp4".into(),
            label: label.into(),
            boxes: boxes
                .iter()
                .map(|&(t, bbox)| TimedBox { t, bbox })
                .collect(),
        }
    }

    #[test]
    fn an_invalid_track_quarantines_the_row_with_its_reason() {
        let good = track(
            "the ball",
            &[
                (0.0, [10.0, 10.0, 50.0, 50.0]),
                (3.5, [20.0, 20.0, 60.0, 60.0]),
            ],
        );
        let off_frame = track("the cat", &[(1.0, [200.0, 200.0, 300.0, 300.0])]);
        // Patches span 0–0.5, 1–1.5, 2–2.5, 3–3.5 s: a track seen only at 0.7 s meets none.
        let unsampled = track("the dog", &[(0.7, [10.0, 10.0, 20.0, 20.0])]);
        let s = stage();
        // All valid: one sample per sampled track, the unsampled one left out.
        let ok = s
            .row_samples(&row(), &[good.clone(), unsampled.clone()], 7, None)
            .unwrap();
        assert_eq!(ok.len(), 1);
        // A bad track next to a working one is not skipped: the row is quarantined.
        let (reason, msg) = s
            .row_samples(&row(), &[good, off_frame.clone()], 7, None)
            .unwrap_err();
        assert_eq!(reason, "bad_annotation");
        assert!(
            msg.contains("track 1 (the cat)") && msg.contains("off the 100x100 frame"),
            "{msg}"
        );
        // A bad track next to one between sampled frames: bad_annotation, not track_not_sampled.
        let (reason, msg) = s
            .row_samples(&row(), &[unsampled.clone(), off_frame], 7, None)
            .unwrap_err();
        assert_eq!(reason, "bad_annotation", "{msg}");
        // Only tracks between sampled frames: dropped as such.
        let (reason, _) = s.row_samples(&row(), &[unsampled], 7, None).unwrap_err();
        assert_eq!(reason, "track_not_sampled");
    }

    #[test]
    fn answer_lists_span_then_boxes_with_prompt_labels() {
        let a = answer(
            "the ball",
            &[(0.25, [1, 2, 3, 4]), (1.25, [5, 6, 7, 8])],
            TimestampFormat::Seconds,
        );
        assert_eq!(
            a,
            "<0.2 seconds> - <1.2 seconds>\n[{\"time\": \"<0.2 seconds>\", \"bbox_2d\": [1, 2, 3, 4], \"label\": \"the ball\"}, \
             {\"time\": \"<1.2 seconds>\", \"bbox_2d\": [5, 6, 7, 8], \"label\": \"the ball\"}]"
        );
    }
}
