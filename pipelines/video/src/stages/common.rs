//! What the sample stages share: the timestamp format draw, patch labels, the balance side
//! input, and the meta every video sample carries.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use weft_engine::stage::StageIo;
use weft_shards::Shard;
use weft_shards::render::{TIMESTAMP_FORMAT_KEY, TimestampFormat};
use weft_shards::vision::{VisionParams, patch_timestamps};

use crate::rng;

/// Share of samples written with hh:mm:ss labels unless configured.
pub fn d_hms_share() -> f64 {
    0.5
}

/// Checks a share in `0..=1`.
pub fn check_share(name: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} {v} must be in 0..1"))
    }
}

/// The seeded format of one sample: hh:mm:ss with probability `hms_share`.
pub fn pick_format(seed: u64, task: &str, uid: &str, hms_share: f64) -> TimestampFormat {
    if rng::unit(seed, &format!("{task}/timestamp_format"), uid) < hms_share {
        TimestampFormat::Hms
    } else {
        TimestampFormat::Seconds
    }
}

/// The time of each temporal patch, as the prompt shows it (mean of its frames).
pub fn patch_times(timestamps: &[f64]) -> Vec<f64> {
    patch_timestamps(timestamps, VisionParams::default().temporal_patch_size)
}

/// `segments` of a video table row's meta: `[first_patch, end_patch)` ranges.
pub fn segments(meta: &Map<String, Value>) -> Vec<(usize, usize)> {
    meta.get("segments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let s = s.as_array()?;
                    Some((s.first()?.as_u64()? as usize, s.get(1)?.as_u64()? as usize))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Per-video balance entries: uid → (duration bucket, sampling weight).
pub type BalanceTable = HashMap<String, (String, f64)>;

/// `check_side_inputs` of the sample stages: each side input is a `video_balance` table.
pub fn check_balance_inputs(side: &[arrow::datatypes::SchemaRef]) -> Result<(), String> {
    for s in side {
        weft_engine::stage::require_column(
            s,
            "sampling_weight",
            &arrow::datatypes::DataType::Float64,
        )?;
    }
    Ok(())
}

/// The balance table when the stage has a `video_balance` side input, else `None`.
pub fn optional_balance<'a>(
    cell: &'a OnceLock<Result<BalanceTable, String>>,
    io: &StageIo,
) -> Result<Option<&'a BalanceTable>, String> {
    if io.side_inputs().is_empty() {
        Ok(None)
    } else {
        balance(cell, io).map(Some)
    }
}

/// Reads the `video_balance` side input once per stage instance.
pub fn balance<'a>(
    cell: &'a OnceLock<Result<BalanceTable, String>>,
    io: &StageIo,
) -> Result<&'a BalanceTable, String> {
    cell.get_or_init(|| {
        let mut map = HashMap::new();
        for input in io.side_inputs() {
            for file in &input.shards {
                let shard = Shard::open(file).map_err(|e| e.to_string())?;
                for batch in shard
                    .read(Some(&["uid", "duration_bucket", "sampling_weight"]), 8192)
                    .map_err(|e| e.to_string())?
                {
                    let b = batch.map_err(|e| e.to_string())?;
                    let uid = crate::stages::balance::str_col(&b, "uid")?;
                    let bucket = crate::stages::balance::str_col(&b, "duration_bucket")?;
                    let w = crate::stages::balance::f64_col(&b, "sampling_weight")?;
                    for i in 0..b.num_rows() {
                        map.insert(
                            uid.value(i).to_string(),
                            (bucket.value(i).to_string(), w.value(i)),
                        );
                    }
                }
            }
        }
        Ok(map)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Meta of a video sample: the video's own keys (codec, size, fps, …), the video uid, the
/// timestamp format and, when a balance side input is wired, bucket and weight.
pub fn sample_meta(
    video_meta: &Map<String, Value>,
    video_uid: &str,
    format: TimestampFormat,
    balance: Option<&BalanceTable>,
) -> Map<String, Value> {
    let mut meta = video_meta.clone();
    meta.shift_remove("segmenter");
    meta.insert("video_uid".into(), json!(video_uid));
    meta.insert(TIMESTAMP_FORMAT_KEY.into(), json!(format.name()));
    if let Some((bucket, w)) = balance.and_then(|b| b.get(video_uid)) {
        meta.insert("duration_bucket".into(), json!(bucket));
        meta.insert("sampling_weight".into(), json!(w));
    }
    meta
}
