//! The checks behind `weft shards validate`: everything a trainer relies on when it reads a
//! shard, checked row by row while streaming one row group at a time.
//!
//! A file-level failure (not Parquet, not the sample schema, unknown schema version) stops
//! the checks of that file; row-level problems are all collected. Ids must be unique across
//! every file of a dataset, so [`Report::ids`] hands them back and [`duplicate_ids`] checks a
//! set of reports.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::image_check::check_image;
use crate::reader::Shard;
use crate::sample::{Content, Sample, samples_from_batch};
use crate::schema::{SCHEMA_VERSION, is_sample_schema, schema_version};

/// Rows decoded at a time; bounded so memory stays at a few rows' worth of images.
const BATCH_ROWS: usize = 64;

/// One thing wrong with a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Row within the file (`None` for file-level problems).
    pub row: Option<u64>,
    /// Id of the row, when it has one.
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(row) = self.row {
            write!(f, "row {row}")?;
            if let Some(id) = self.id.as_deref().filter(|id| !id.is_empty()) {
                write!(f, " (id {id})")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.reason)
    }
}

/// The result of validating one file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The file.
    pub path: PathBuf,
    /// Rows checked.
    pub rows: u64,
    /// Everything found wrong, in file order.
    pub problems: Vec<Problem>,
    /// Whether the file could be read at all (false: a file-level problem stopped the checks).
    pub readable: bool,
    /// `(id, row)` of every row, for cross-file uniqueness.
    pub ids: Vec<(String, u64)>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn file_problem(&mut self, reason: impl Into<String>) {
        self.problems.push(Problem {
            path: self.path.clone(),
            row: None,
            id: None,
            reason: reason.into(),
        });
    }
}

/// Validates one shard file. Never fails: every problem, including an unreadable file, is in
/// the report.
pub fn validate_file(path: &Path) -> Report {
    let mut report = Report {
        path: path.to_path_buf(),
        ..Report::default()
    };
    let shard = match Shard::open(path) {
        Ok(s) => s,
        Err(e) => {
            let reason = e.to_string();
            let prefix = format!("{}: ", path.display());
            report.file_problem(reason.strip_prefix(&prefix).unwrap_or(&reason).to_string());
            return report;
        }
    };
    if !is_sample_schema(shard.schema()) {
        report.file_problem("not the weft sample schema (columns or types differ)");
        return report;
    }
    match schema_version(shard.schema()) {
        Some(SCHEMA_VERSION) => {}
        Some(v) => {
            report.file_problem(format!(
                "unknown schema version {v} (this weft reads version {SCHEMA_VERSION})"
            ));
            return report;
        }
        None => {
            report.file_problem("no weft.schema_version in the file metadata");
            return report;
        }
    }
    let batches = match shard.read(None, BATCH_ROWS) {
        Ok(b) => b,
        Err(e) => {
            report.file_problem(e.to_string());
            return report;
        }
    };
    report.readable = true;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for batch in batches {
        match batch {
            Ok(batch) => check_batch(&batch, &mut report, &mut seen),
            Err(e) => {
                report.readable = false;
                report.file_problem(format!("unreadable data after row {}: {e}", report.rows));
                break;
            }
        }
    }
    report
}

fn check_batch(batch: &RecordBatch, report: &mut Report, seen: &mut HashMap<String, u64>) {
    for i in 0..batch.num_rows() {
        let row = report.rows;
        report.rows += 1;
        let mut problem = |id: Option<&str>, reason: String| {
            report.problems.push(Problem {
                path: report.path.clone(),
                row: Some(row),
                id: id.map(str::to_string),
                reason,
            })
        };
        let sample = match samples_from_batch(&batch.slice(i, 1)) {
            Ok(mut s) if s.len() == 1 => s.remove(0),
            Ok(_) => unreachable!("one row in, one sample out"),
            Err(e) => {
                problem(None, format!("malformed row: {e}"));
                continue;
            }
        };
        let id = sample.id.as_str();
        for reason in check_sample(&sample) {
            problem(Some(id), reason);
        }
        if !id.is_empty() {
            if let Some(first) = seen.get(id) {
                problem(Some(id), format!("duplicate id (first at row {first})"));
            } else {
                seen.insert(id.to_string(), row);
            }
            report.ids.push((id.to_string(), row));
        }
    }
}

/// Everything wrong with one decoded sample (empty when valid).
pub fn check_sample(s: &Sample) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in [("id", &s.id), ("task", &s.task), ("source", &s.source)] {
        if value.trim().is_empty() {
            out.push(format!("empty {name}"));
        }
    }
    if s.messages.is_empty() {
        out.push("no messages".into());
    }
    let mut image_refs = vec![0usize; s.images.len()];
    let mut video_refs = vec![0usize; s.videos.len()];
    for (m, msg) in s.messages.iter().enumerate() {
        if msg.role.trim().is_empty() {
            out.push(format!("message {m}: empty role"));
        }
        for part in &msg.content {
            let (kind, index, refs) = match part {
                Content::Text { .. } => continue,
                Content::Image { index } => ("image", *index, &mut image_refs),
                Content::Video { index } => ("video", *index, &mut video_refs),
            };
            match refs.get_mut(index as usize) {
                Some(n) => *n += 1,
                None => out.push(format!(
                    "message {m}: {kind} index {index} out of range ({} {kind}s)",
                    refs.len()
                )),
            }
        }
    }
    for (kind, refs) in [("image", &image_refs), ("video", &video_refs)] {
        for (i, &n) in refs.iter().enumerate() {
            match n {
                0 => out.push(format!("{kind} {i} is not referenced by any message")),
                1 => {}
                n => out.push(format!("{kind} {i} is referenced {n} times")),
            }
        }
    }
    for (i, img) in s.images.iter().enumerate() {
        if let Err(e) = check_image(&img.bytes) {
            out.push(format!("image {i} does not decode: {e}"));
        }
    }
    for (v, video) in s.videos.iter().enumerate() {
        if video.timestamps.len() != video.frames.len() {
            out.push(format!(
                "video {v}: {} timestamps for {} frames",
                video.timestamps.len(),
                video.frames.len()
            ));
        }
        if video.frames.is_empty() {
            out.push(format!("video {v}: no frames"));
        }
        if let Some(k) = video.timestamps.windows(2).position(|w| {
            !matches!(
                w[1].partial_cmp(&w[0]),
                Some(Ordering::Greater | Ordering::Equal)
            )
        }) {
            out.push(format!("video {v}: timestamps decrease at frame {}", k + 1));
        }
        for (f, frame) in video.frames.iter().enumerate() {
            if let Err(e) = check_image(&frame.bytes) {
                out.push(format!("video {v} frame {f} does not decode: {e}"));
            }
        }
    }
    out
}

/// Ids that occur in more than one row across `reports` (within-file duplicates are already
/// problems of their report); one problem per later occurrence, naming the first.
pub fn duplicate_ids(reports: &[Report]) -> Vec<Problem> {
    let mut first: HashMap<&str, (&Path, u64)> = HashMap::new();
    let mut out = Vec::new();
    for r in reports {
        let mut in_file = HashSet::new();
        for (id, row) in &r.ids {
            if !in_file.insert(id.as_str()) {
                continue;
            }
            match first.get(id.as_str()) {
                Some((path, first_row)) => out.push(Problem {
                    path: r.path.clone(),
                    row: Some(*row),
                    id: Some(id.clone()),
                    reason: format!("duplicate id (also at {} row {first_row})", path.display()),
                }),
                None => {
                    first.insert(id, (&r.path, *row));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Image, Message, samples_to_batch};
    use crate::schema::sample_schema;
    use crate::writer::write_single_file;

    fn png() -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 3)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn sample(text: &str, parts: Vec<Content>, images: usize) -> Sample {
        let mut content = parts;
        content.push(Content::text(text));
        let imgs = (0..images)
            .map(|_| Image::from_encoded(png(), None).unwrap())
            .collect();
        Sample::new(
            "caption",
            "unit",
            vec![Message::new("user", content)],
            imgs,
            vec![],
            Default::default(),
        )
    }

    fn write(dir: &Path, name: &str, samples: &[Sample]) -> PathBuf {
        let path = dir.join(name);
        write_single_file(
            &path,
            sample_schema(),
            &[samples_to_batch(samples).unwrap()],
        )
        .unwrap();
        path
    }

    #[test]
    fn good_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.parquet",
            &[
                sample("a", vec![Content::Image { index: 0 }], 1),
                sample("b", vec![], 0),
            ],
        );
        let r = validate_file(&p);
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!((r.rows, r.ids.len(), r.readable), (2, 2, true));
    }

    #[test]
    fn row_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut corrupt = sample("c", vec![Content::Image { index: 0 }], 1);
        corrupt.images[0].bytes.truncate(20);
        let dangling = sample("d", vec![Content::Image { index: 3 }], 0);
        let unreferenced = sample("u", vec![], 1);
        let twice = sample(
            "t",
            vec![Content::Image { index: 0 }, Content::Image { index: 0 }],
            1,
        );
        let mut no_task = sample("n", vec![], 0);
        no_task.task = String::new();
        let dup = sample("c", vec![Content::Image { index: 0 }], 1);
        let p = write(
            dir.path(),
            "bad.parquet",
            &[corrupt, dangling, unreferenced, twice, no_task, dup],
        );
        let r = validate_file(&p);
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        let has = |row: u64, what: &str| {
            assert!(
                text.iter()
                    .any(|t| t.contains(&format!("row {row} (id ")) && t.contains(what)),
                "row {row} `{what}` in {text:#?}"
            )
        };
        has(0, "image 0 does not decode");
        has(1, "image index 3 out of range");
        has(2, "image 0 is not referenced");
        has(3, "image 0 is referenced 2 times");
        has(4, "empty task");
        has(5, "duplicate id (first at row 0)");
        assert!(text[0].starts_with(&format!("{}: row 0 (id ", p.display())));
    }

    #[test]
    fn file_problems_and_cross_file_ids() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.parquet");
        std::fs::write(&junk, b"not parquet at all").unwrap();
        let r = validate_file(&junk);
        assert!(!r.readable && r.problems.len() == 1 && r.problems[0].row.is_none());
        assert!(
            r.problems[0]
                .to_string()
                .starts_with(&format!("{}: not a readable Parquet file", junk.display()))
        );

        let s = sample("same", vec![], 0);
        let a = validate_file(&write(dir.path(), "a.parquet", std::slice::from_ref(&s)));
        let b = validate_file(&write(dir.path(), "b.parquet", &[s]));
        assert!(a.is_ok() && b.is_ok());
        let dups = duplicate_ids(&[a, b]);
        assert_eq!(dups.len(), 1);
        assert!(
            dups[0].to_string().contains("b.parquet: row 0")
                && dups[0].reason.contains("a.parquet row 0")
        );
    }
}
