//! What the three reader stages share: image and negative settings, and replaying a reader's
//! [`Built`] accounting into the engine's `StageIo`.

use std::time::Duration;

use weft_engine::stage::{StageIo, StageResult};

use crate::canonical::{ImageRecord, to_batch};
use crate::images::ImageOptions;
use crate::readers::{Built, Event};

/// Default `max_pixels`: Qwen3-VL's processor maximum.
pub fn d_max_pixels() -> u64 {
    ImageOptions::default().max_pixels
}
/// Default URL timeout, seconds.
pub fn d_timeout() -> f64 {
    30.0
}
fn d_negatives() -> usize {
    3
}
fn d_ignore() -> Vec<String> {
    vec!["background".into()]
}

/// Image keys every reader accepts.
#[derive(Debug, Clone)]
pub struct ImageKeys {
    /// Images over this many pixels are downscaled (re-encoded); others are kept as they are.
    pub max_pixels: u64,
    /// Fetch `http(s)` image URLs.
    pub fetch_urls: bool,
    /// Timeout per URL, seconds.
    pub timeout_secs: f64,
}

impl Default for ImageKeys {
    fn default() -> Self {
        ImageKeys {
            max_pixels: d_max_pixels(),
            fetch_urls: false,
            timeout_secs: d_timeout(),
        }
    }
}

impl ImageKeys {
    /// The loader options.
    pub fn options(&self) -> Result<ImageOptions, String> {
        if self.max_pixels == 0 || !(self.timeout_secs > 0.0 && self.timeout_secs.is_finite()) {
            return Err("`max_pixels` ≥ 1 and `timeout_secs` > 0 are required".into());
        }
        Ok(ImageOptions {
            max_pixels: self.max_pixels,
            fetch_urls: self.fetch_urls,
            timeout: Duration::from_secs_f64(self.timeout_secs),
            ..ImageOptions::default()
        })
    }
}

/// Default count of verified-absent categories kept per image.
pub fn default_negatives() -> usize {
    d_negatives()
}

/// Default categories left out (labelme's `_background_` normalises to `background`).
pub fn default_ignore() -> Vec<String> {
    d_ignore()
}

/// Records per emitted batch: bounds memory to a few images.
const RECORDS_PER_BATCH: usize = 16;

/// Collects records and their accounting, emitting in small batches.
#[derive(Default)]
pub struct Emitter {
    records: Vec<ImageRecord>,
    consumed: u64,
}

impl Emitter {
    /// Replays one reader result into `io`.
    pub fn replay(&mut self, io: &mut StageIo, built: Built) -> StageResult<()> {
        debug_assert_eq!(built.records_in, built.accounted(), "{:?}", built.events);
        io.add_input(built.records_in);
        for e in built.events {
            match e {
                Event::Quarantine { source, problem } => {
                    io.quarantine(source, problem.reason, problem.message)
                }
                Event::Drop { reason, n } => io.drop_records(reason, n),
            }
        }
        match built.record {
            Some(r) => {
                self.records.push(r);
                self.consumed += built.records_out;
            }
            None if built.records_out > 0 => {
                return Err("reader bug: records reached no output".into());
            }
            None => {}
        }
        if self.records.len() >= RECORDS_PER_BATCH {
            self.flush(io)?;
        }
        Ok(())
    }

    /// Emits what is pending.
    pub fn flush(&mut self, io: &mut StageIo) -> StageResult<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.records)?;
        io.emit_from(&batch, self.consumed)?;
        self.records.clear();
        self.consumed = 0;
        Ok(())
    }
}
