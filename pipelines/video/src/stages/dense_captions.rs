//! `dense_captions`: video table → one dense-caption sample per video.
//!
//! Each segment (from `video_source`) is captioned by a `VisionLanguageModel` (native or a
//! server, named by `model` like the OCR `page_filter`) from exactly its frames and their
//! presentation times. The sample is the whole video; the answer lists the segments, one per
//! line:
//!
//! ```text
//! <0.2 seconds> - <2.7 seconds>: A cyclist rides along a street lined with parked cars.
//! <3.2 seconds> - <4.7 seconds>: A large rabbit stands in a meadow.
//! ```
//!
//! Each time is the label of the segment's first and last temporal patch exactly as the
//! prompt shows it (mean of the patch's two frames, one decimal, or `<hh:mm:ss.s>` when the
//! sample's seeded format is hh:mm:ss), so every time in the answer is a time the model saw.
//!
//! Without a model nothing here can be written: every video is dropped with reason `no_model`
//! and the stage says so once on stderr; the model-free sample kinds (`st_grounding`) still
//! run. A failed request quarantines its video (`caption_failed`); a video whose captions
//! all come back empty is dropped (`empty_caption`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::json;
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, Stage, StageIo, StageResult};
use weft_inference::{
    Content as MContent, Message as MMessage, ModelRef, Request, Response, SamplingParams,
    VideoClip, VideoSource,
};
use weft_shards::render::TimestampFormat;
use weft_shards::{Content, Message, Sample, sample_schema, samples_to_batch};

use super::common::{self, BalanceTable};
use crate::{rng, table};

/// `task` of the samples.
pub const TASK: &str = "dense_caption";

fn d_prompt() -> String {
    "Describe what happens in this video clip in one or two sentences.".into()
}
fn d_questions() -> Vec<String> {
    vec![
        "Describe the video in detail, segment by segment. Give each segment as `<start> - <end>: description`, one per line.".into(),
        "Write a dense caption of this video: for each event, its start and end time followed by what happens.".into(),
        "List the events of the video with their timestamps, one line each: `<start> - <end>: description`.".into(),
    ]
}
fn d_max_new_tokens() -> usize {
    128
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The captioning model: a folder or Hub id, `{ path, dtype }`, or `{ server, name }`.
    #[serde(default)]
    model: Option<ModelRef>,
    /// Instruction sent with each segment's frames.
    #[serde(default = "d_prompt")]
    prompt: String,
    /// Longest caption per segment, tokens.
    #[serde(default = "d_max_new_tokens")]
    max_new_tokens: usize,
    /// User questions of the samples (one drawn per video, seeded).
    #[serde(default = "d_questions")]
    questions: Vec<String>,
    /// Share of samples with hh:mm:ss labels (the rest in seconds).
    #[serde(default = "common::d_hms_share")]
    hms_share: f64,
}

struct DenseCaptions {
    cfg: Config,
    balance: OnceLock<Result<BalanceTable, String>>,
    warned: AtomicBool,
}

/// Builds `dense_captions`.
pub fn build(t: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(t)?;
    if let Some(m) = &cfg.model {
        m.validate().map_err(|e| format!("model: {e}"))?;
    }
    common::check_share("hms_share", cfg.hms_share)?;
    if cfg.questions.is_empty() {
        return Err("`questions` must not be empty".into());
    }
    Ok(Arc::new(DenseCaptions {
        cfg,
        balance: OnceLock::new(),
        warned: AtomicBool::new(false),
    }))
}

/// The answer: one `<start> - <end>: caption` line per segment (see the module docs).
pub fn answer(
    patch_times: &[f64],
    segments: &[(usize, usize)],
    captions: &[String],
    format: TimestampFormat,
) -> String {
    segments
        .iter()
        .zip(captions)
        .map(|(&(a, b), c)| {
            format!(
                "{} - {}: {}",
                format.label(patch_times[a]),
                format.label(patch_times[b - 1]),
                c
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each owner's captions, one per request in request order (`owners[i]` owns request `i`).
/// A request the backend returned no result for is an error for that request (its video is
/// quarantined as `caption_failed`), never silently one segment fewer.
fn captions_by_owner(
    owners: &[usize],
    n_owners: usize,
    answers: Vec<weft_inference::Result<Response>>,
) -> Vec<Vec<Result<String, String>>> {
    let returned = answers.len();
    let mut answers = answers.into_iter();
    let mut captions: Vec<Vec<Result<String, String>>> = vec![Vec::new(); n_owners];
    for (i, &owner) in owners.iter().enumerate() {
        captions[owner].push(match answers.next() {
            Some(a) => a
                .map(|resp| {
                    resp.completions
                        .into_iter()
                        .next()
                        .map(|c| clean(&c.text))
                        .unwrap_or_default()
                })
                .map_err(|e| e.to_string()),
            None => Err(format!(
                "the model returned {returned} results for {} requests: none for request {i}",
                owners.len()
            )),
        });
    }
    captions
}

/// A caption on one line.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Stage for DenseCaptions {
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
        let balance = common::optional_balance(&self.balance, io)?;
        while let Some(batch) = io.next_batch()? {
            let rows = table::from_batch(&batch)?;
            let Some(spec) = &self.cfg.model else {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "dense_captions: no `model` configured — videos are dropped (reason \
                         `no_model`); set one, e.g. `--set <stage>.model=Qwen/Qwen3-VL-2B-Instruct`"
                    );
                }
                io.drop_records("no_model", rows.len() as u64);
                continue;
            };
            let model = spec
                .open()
                .map_err(|e| format!("model {}: {e}", spec.key()))?;
            // One request per segment of every video in the batch, answered together.
            let mut requests = Vec::new();
            let mut owners = Vec::new();
            let mut usable = Vec::new();
            for (r, row) in rows.iter().enumerate() {
                let Some(video) = row.videos.first() else {
                    io.quarantine(
                        row.id.clone(),
                        "no_video",
                        "video table row without a video",
                    );
                    continue;
                };
                let segs = common::segments(&row.meta);
                let mut frames = Vec::with_capacity(video.frames.len());
                let mut bad = None;
                for f in &video.frames {
                    match image::load_from_memory(&f.bytes) {
                        Ok(img) => frames.push(Arc::new(img.to_rgb8())),
                        Err(e) => {
                            bad = Some(e.to_string());
                            break;
                        }
                    }
                }
                if let Some(e) = bad {
                    io.quarantine(row.id.clone(), "bad_frame", e);
                    continue;
                }
                if segs.is_empty() {
                    io.quarantine(row.id.clone(), "no_segments", "video has no segments");
                    continue;
                }
                let patch =
                    weft_shards::vision::VisionParams::default().temporal_patch_size as usize;
                for &(a, b) in &segs {
                    let (f0, f1) = (a * patch, (b * patch).min(frames.len()));
                    requests.push(Request {
                        messages: vec![MMessage::user(vec![
                            MContent::Video(VideoSource::Frames(VideoClip {
                                frames: frames[f0..f1].to_vec(),
                                timestamps: video.timestamps[f0..f1].to_vec(),
                            })),
                            MContent::Text(self.cfg.prompt.clone()),
                        ])],
                        params: SamplingParams::greedy(self.cfg.max_new_tokens),
                    });
                    owners.push(usable.len());
                }
                usable.push((r, segs));
            }
            let answers = model.generate(&requests);
            let captions = captions_by_owner(&owners, usable.len(), answers);
            let mut out = Vec::new();
            for ((r, segs), caps) in usable.into_iter().zip(captions) {
                let row = &rows[r];
                if let Some(Err(e)) = caps.iter().find(|c| c.is_err()) {
                    io.quarantine(row.id.clone(), "caption_failed", e.clone());
                    continue;
                }
                let caps: Vec<String> = caps.into_iter().map(Result::unwrap_or_default).collect();
                // Keep the segments that got a caption; all empty: nothing to learn.
                let kept: Vec<((usize, usize), String)> = segs
                    .into_iter()
                    .zip(caps)
                    .filter(|(_, c)| !c.is_empty())
                    .collect();
                if kept.is_empty() {
                    io.drop_records("empty_caption", 1);
                    continue;
                }
                let (segs, caps): (Vec<_>, Vec<_>) = kept.into_iter().unzip();
                let video = row.videos[0].clone();
                let format =
                    common::pick_format(io.pipeline_seed(), TASK, &row.id, self.cfg.hms_share);
                let q = rng::index(
                    io.pipeline_seed(),
                    "dense_caption/question",
                    &row.id,
                    self.cfg.questions.len(),
                );
                let times = common::patch_times(&video.timestamps);
                let text = answer(&times, &segs, &caps, format);
                let mut meta = common::sample_meta(&row.meta, &row.id, format, balance);
                meta.insert("segments".into(), json!(segs));
                meta.insert(
                    "segment_times".into(),
                    json!(
                        segs.iter()
                            .map(|&(a, b)| [times[a], times[b - 1]])
                            .collect::<Vec<_>>()
                    ),
                );
                meta.insert("captioned_by".into(), json!(model.model_id()));
                out.push(Sample::new(
                    TASK,
                    row.source.clone(),
                    vec![
                        Message::new(
                            "user",
                            vec![
                                Content::Video { index: 0 },
                                Content::text(self.cfg.questions[q].clone()),
                            ],
                        ),
                        Message::new("assistant", vec![Content::text(text)]),
                    ],
                    Vec::new(),
                    vec![video],
                    meta,
                ));
            }
            io.emit(&samples_to_batch(&out).map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_result_fails_its_request_instead_of_shifting_the_rest() {
        let ok = |text: &str| {
            Ok(Response {
                completions: vec![weft_inference::Completion {
                    text: text.into(),
                    token_ids: Vec::new(),
                    finish_reason: weft_inference::FinishReason::Stop,
                }],
                prompt_tokens: 1,
            })
        };
        // Three requests (video 0 owns two, video 1 one), two results back.
        let caps = captions_by_owner(&[0, 0, 1], 2, vec![ok("a  dog"), ok("a cat")]);
        assert_eq!(
            caps[0],
            vec![Ok("a dog".to_string()), Ok("a cat".to_string())]
        );
        assert_eq!(caps[1].len(), 1);
        let e = caps[1][0].as_ref().unwrap_err();
        assert!(e.contains("2 results for 3 requests"), "{e}");
    }

    #[test]
    fn answer_uses_the_prompt_labels_of_first_and_last_patch() {
        // Frames at 0, .5, 1, 1.5, 2, 2.5 -> patches at 0.25, 1.25, 2.25 (printed 0.2, 1.2, 2.2).
        let times = common::patch_times(&[0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        let a = answer(
            &times,
            &[(0, 2), (2, 3)],
            &["A dog runs.".into(), "It stops.".into()],
            TimestampFormat::Seconds,
        );
        assert_eq!(
            a,
            "<0.2 seconds> - <1.2 seconds>: A dog runs.\n<2.2 seconds> - <2.2 seconds>: It stops."
        );
        let h = answer(&times, &[(0, 3)], &["All.".into()], TimestampFormat::Hms);
        assert_eq!(h, "<00:00:00.2> - <00:00:02.2>: All.");
        assert_eq!(clean(" a\n b  c "), "a b c");
    }
}
