//! Dataset readers: each turns one annotation layout into [`ImageRecord`]s plus an account of
//! every entry it read.
//!
//! - [`coco`]: COCO detection JSON (COCO, Objects365, LVIS, labelme exports), with its
//!   annotations held on disk by [`ann_store`];
//! - [`refcoco`]: RefCOCO / RefCOCO+ / RefCOCOg referring expressions (JSON, JSONL, Parquet);
//! - [`pixmo`]: PixMo-Points-style point annotations (JSONL or Parquet);
//! - [`table`]: JSON/JSONL/Parquet record files as JSON values, image bytes aside.
//!
//! Readers never touch the engine: they return [`Built`] values (a record, or none, and the
//! [`Event`]s that account for each input entry), and the source stages replay them into
//! `StageIo`, so "every entry is written, dropped with a reason or quarantined" is checked
//! in the readers' own unit tests as well as by the engine.

pub mod ann_store;
pub mod coco;
pub mod pixmo;
pub mod refcoco;
pub mod table;

use std::hash::Hash;

use rand::seq::IndexedRandom;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::ImageRecord;
use weft_engine::rng::seeded;

/// A problem with one entry: the quarantine (or drop) reason and the full message.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Short machine-friendly reason.
    pub reason: &'static str,
    /// The message, naming the file and entry.
    pub message: String,
}

impl Problem {
    /// A problem.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Problem {
            reason,
            message: message.into(),
        }
    }
}

/// What happened to input entries other than reaching the output.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One entry quarantined.
    Quarantine {
        /// File and entry.
        source: String,
        /// The reason.
        problem: Problem,
    },
    /// `n` entries dropped on purpose.
    Drop {
        /// The reason.
        reason: &'static str,
        /// How many.
        n: u64,
    },
}

/// One image's worth of reading: its record (if any) and the accounting of its entries.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The record for the object table.
    pub record: Option<ImageRecord>,
    /// Entries consumed.
    pub records_in: u64,
    /// Entries that reached the record.
    pub records_out: u64,
    /// Dropped and quarantined entries.
    pub events: Vec<Event>,
}

impl Built {
    /// Adds `n` consumed entries.
    pub fn consume(&mut self, n: u64) {
        self.records_in += n;
    }

    /// Quarantines one entry.
    pub fn quarantine(&mut self, source: impl Into<String>, problem: Problem) {
        self.events.push(Event::Quarantine {
            source: source.into(),
            problem,
        });
    }

    /// Drops `n` entries.
    pub fn drop_n(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            self.events.push(Event::Drop { reason, n });
        }
    }

    /// Entries accounted for so far (out + dropped + quarantined).
    pub fn accounted(&self) -> u64 {
        self.records_out
            + self
                .events
                .iter()
                .map(|e| match e {
                    Event::Quarantine { .. } => 1,
                    Event::Drop { n, .. } => *n,
                })
                .sum::<u64>()
    }
}

/// Settings every reader shares.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// `source` written to the records (and so to the samples).
    pub source: String,
    /// Pipeline seed (for the choice of negatives).
    pub seed: u64,
    /// Verified-absent categories kept per image for negative questions.
    pub negatives: usize,
    /// Whether every category of the vocabulary is annotated on every image (COCO, Objects365:
    /// yes), so a category with no annotation is verified absent.
    pub exhaustive: bool,
    /// Normalised category names to leave out (e.g. labelme's `_background_`).
    pub ignore_categories: Vec<String>,
}

/// A dataset id as it appears in JSON (numbers and strings both occur).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKey {
    /// An integer id.
    Int(i64),
    /// Any other id, as text.
    Str(Box<str>),
}

impl IdKey {
    /// The id of a JSON value; `None` for null, objects and lists.
    pub fn from_json(v: &Value) -> Option<IdKey> {
        match v {
            Value::Number(n) => Some(
                n.as_i64()
                    .map(IdKey::Int)
                    .unwrap_or_else(|| IdKey::Str(n.to_string().into())),
            ),
            Value::String(s) => Some(IdKey::Str(s.as_str().into())),
            _ => None,
        }
    }
}

impl std::fmt::Display for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdKey::Int(i) => write!(f, "{i}"),
            IdKey::Str(s) => write!(f, "{s}"),
        }
    }
}

/// The first of `keys` present (and not null) in a JSON object.
pub fn field<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| v.get(*k).filter(|x| !x.is_null()))
}

/// A record's uid: 16 bytes of sha256 over the annotation file name and the image key.
pub fn uid(annotation_file: &str, image_key: &str) -> String {
    let mut h = Sha256::new();
    h.update((annotation_file.len() as u64).to_le_bytes());
    h.update(annotation_file.as_bytes());
    h.update(image_key.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Up to `n` names from `candidates`, chosen by (seed, uid), returned sorted.
pub fn choose_negatives(
    candidates: &[String],
    n: usize,
    seed: u64,
    record_uid: &str,
) -> Vec<String> {
    let mut rng = seeded(seed, "negatives", record_uid);
    let mut out: Vec<String> = candidates.sample(&mut rng, n).cloned().collect();
    out.sort();
    out
}
