//! PixMo-Points-style point annotations (`allenai/pixmo-points`, `pixmo-count`): one row per
//! (image, label) with every instance of the label pointed at, in pixels:
//! `image_url`, `image_sha256`, `points` (`[{x, y}]` or `[[x, y]]`), `count`, `label`,
//! `collection_method`. JSON Lines or Parquet; images come from a local folder (named by
//! sha256 or by the URL's file name), an embedded image column, or the URL itself
//! (`fetch_urls`), and are checked against `image_sha256`.
//!
//! Every row is one record, kept as that label's points (all instances, so it can be counted);
//! a row with no points is a verified negative for its label. Quarantined: rows without a
//! label or points (`missing_field`), points off the image (`point_outside_image`,
//! `non_finite_coordinate`), `count` disagreeing with the points (`count_mismatch`). A second
//! row for the same label on the same image is dropped (`duplicate_label`): two exhaustive
//! listings of one label cannot both be right.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use super::table::{GroupedLayout, Parsed, PendingImage, Row};
use super::{Built, Problem, ReaderOptions, field, uid};
use crate::canonical::{ImageRecord, Object};
use crate::error::GroundingError;
use crate::geometry::check_point;
use crate::images::{ImageSource, LoadedImage};
use crate::json_stream::number;
use crate::names::{expression_key, normalise_expression};

/// One row: a label and its points.
#[derive(Debug, Clone)]
pub struct PointEntry {
    label: String,
    points: Result<Vec<[f64; 2]>, String>,
    count: Option<f64>,
    reference: String,
}

/// The PixMo layout for one file.
pub struct PixmoLayout<'a> {
    /// Local image folder (files named `<sha256>.<ext>` or like the URL's last segment).
    pub images_dir: Option<PathBuf>,
    /// Whether this file embeds images in its image column.
    pub embedded: bool,
    /// The annotation file as recorded in samples.
    pub annotation_file: String,
    /// Shared reader settings.
    pub opts: &'a ReaderOptions,
}

fn parse_points(v: &Value) -> Result<Vec<[f64; 2]>, String> {
    let list = v.as_array().ok_or("`points` is not a list")?;
    list.iter()
        .map(|p| {
            let (x, y) = match p {
                Value::Object(_) => (p.get("x"), p.get("y")),
                Value::Array(a) if a.len() == 2 => (a.first(), a.get(1)),
                _ => (None, None),
            };
            match (x.and_then(number), y.and_then(number)) {
                (Some(x), Some(y)) => Ok([x, y]),
                _ => Err(format!("point {p} is not {{x, y}}")),
            }
        })
        .collect()
}

impl PixmoLayout<'_> {
    fn local(&self, sha: Option<&str>, url: &str) -> Option<PathBuf> {
        let dir = self.images_dir.as_ref()?;
        let by_sha = sha.into_iter().flat_map(|s| {
            ["jpg", "jpeg", "png", "webp"]
                .into_iter()
                .map(move |e| dir.join(format!("{s}.{e}")))
        });
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(|n| dir.join(n));
        by_sha.chain(name).find(|p| p.is_file())
    }
}

impl GroupedLayout for PixmoLayout<'_> {
    type Entry = PointEntry;

    fn parse(&self, row: &Row) -> Result<Parsed<PointEntry>, Problem> {
        let v = &row.value;
        let n = row.index;
        let label = field(v, &["label", "object", "category"])
            .and_then(Value::as_str)
            .map(normalise_expression)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| Problem::new("missing_field", format!("row {n} has no `label`")))?;
        let count = field(v, &["count"]).and_then(number);
        let points = match field(v, &["points"]) {
            Some(p) => parse_points(p),
            None if count == Some(0.0) => Ok(Vec::new()),
            None => {
                return Err(Problem::new(
                    "missing_field",
                    format!("row {n} ({label}) has no `points`"),
                ));
            }
        };
        let sha = field(v, &["image_sha256", "sha256"])
            .and_then(Value::as_str)
            .map(str::to_string);
        let url = field(v, &["image_url", "url", "image", "file_name"]).and_then(Value::as_str);
        let (image, key, reference) = if self.embedded {
            let key = sha
                .clone()
                .or_else(|| url.map(str::to_string))
                .unwrap_or_else(|| format!("row:{n}"));
            (PendingImage::Embedded, key, format!("embedded:row={n}"))
        } else {
            let url = url.ok_or_else(|| {
                Problem::new("missing_field", format!("row {n} has no `image_url`"))
            })?;
            let src = match self.local(sha.as_deref(), url) {
                Some(p) => ImageSource::File(p),
                None => ImageSource::from_reference(
                    url,
                    self.images_dir
                        .as_deref()
                        .unwrap_or(std::path::Path::new(".")),
                ),
            };
            (
                PendingImage::Source(src),
                sha.clone().unwrap_or_else(|| url.to_string()),
                url.to_string(),
            )
        };
        Ok(Parsed {
            image_key: key,
            image,
            sha256: sha,
            entry: PointEntry {
                label,
                points,
                count,
                reference,
            },
        })
    }

    fn records(&self, _: &PointEntry) -> u64 {
        1
    }

    fn build(
        &self,
        image_key: &str,
        entries: Vec<(u64, PointEntry)>,
        image: Result<LoadedImage, GroundingError>,
    ) -> Built {
        let mut out = Built::default();
        let total = entries.len() as u64;
        out.consume(total);
        let file = &self.annotation_file;
        let reference = entries[0].1.reference.clone();
        let loaded = match image {
            Ok(l) => l,
            Err(e) => {
                out.quarantine(
                    format!("{file}#image={reference}"),
                    Problem::new(e.reason(), e.to_string()),
                );
                out.drop_n("image_quarantined", total - 1);
                return out;
            }
        };
        let (w, h) = (loaded.source_width, loaded.source_height);
        let mut objects = Vec::new();
        let mut absent = BTreeSet::new();
        let mut labels = BTreeSet::new();
        for (row, e) in entries {
            let source = format!("{file}#row={row}");
            if !labels.insert(expression_key(&e.label)) {
                out.drop_n("duplicate_label", 1);
                continue;
            }
            let points = match e.points {
                Ok(p) => p,
                Err(msg) => {
                    out.quarantine(
                        source,
                        Problem::new("bad_points", format!("row {row}: {msg}")),
                    );
                    continue;
                }
            };
            if let Some(c) = e.count.filter(|c| *c != points.len() as f64) {
                out.quarantine(
                    source,
                    Problem::new(
                        "count_mismatch",
                        format!("row {row}: count {c} but {} points", points.len()),
                    ),
                );
                continue;
            }
            if let Some((reason, msg)) = points.iter().find_map(|p| check_point(*p, w, h).err()) {
                out.quarantine(source, Problem::new(reason, format!("row {row}: {msg}")));
                continue;
            }
            if points.is_empty() {
                absent.insert(e.label.clone());
            }
            for (j, p) in points.into_iter().enumerate() {
                objects.push(Object {
                    id: format!("{row}:{j}"),
                    category: e.label.clone(),
                    bbox: None,
                    point: Some(p),
                    crowd: false,
                    clipped: false,
                    expressions: Vec::new(),
                });
            }
            out.records_out += 1;
        }
        out.record = Some(ImageRecord {
            uid: uid(file, image_key),
            source: self.opts.source.clone(),
            annotation_file: file.clone(),
            image_id: image_key.to_string(),
            path: reference,
            width: w,
            height: h,
            image: loaded.bytes,
            image_format: loaded.format,
            image_width: loaded.width,
            image_height: loaded.height,
            reencoded: loaded.reencoded,
            objects,
            absent: absent.into_iter().collect(),
            not_exhaustive: Vec::new(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::{ImageLoader, ImageOptions};
    use crate::readers::Event;
    use crate::readers::table::read_grouped;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }

    fn run(path: &std::path::Path, dir: PathBuf) -> Vec<Built> {
        let o = ReaderOptions {
            source: "pixmo".into(),
            seed: 1,
            negatives: 0,
            exhaustive: false,
            ignore_categories: vec![],
        };
        let layout = PixmoLayout {
            images_dir: Some(dir),
            embedded: false,
            annotation_file: "p.jsonl".into(),
            opts: &o,
        };
        let loader = ImageLoader::new(ImageOptions::default());
        let mut out = Vec::new();
        read_grouped(&layout, path, "image", &loader, |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_bundled_points_read_with_counts_and_negatives() {
        let built = run(
            &fixtures().join("pixmo_points.jsonl"),
            fixtures().join("images"),
        );
        let recs: Vec<&ImageRecord> = built.iter().filter_map(|b| b.record.as_ref()).collect();
        assert_eq!(recs.len(), 3);
        for b in &built {
            assert_eq!(b.records_in, b.accounted());
            assert!(b.events.is_empty(), "{:?}", b.events);
        }
        let coins = recs.iter().find(|r| r.path.ends_with("coins.png")).unwrap();
        assert_eq!(coins.objects.len(), 24);
        let cat = recs
            .iter()
            .find(|r| r.path.ends_with("chelsea.png"))
            .unwrap();
        assert_eq!(cat.absent, ["dogs"]);
    }

    #[test]
    fn bad_rows_are_quarantined_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixtures().join("images/coins.png"),
            dir.path().join("coins.png"),
        )
        .unwrap();
        let p = dir.path().join("p.jsonl");
        let rows = [
            r#"{"image_url": "https://x.invalid/coins.png", "label": "coins", "points": [{"x": 1, "y": 2}], "count": 1}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "label": "Coins", "points": [], "count": 0}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "label": "rings", "points": [{"x": 1, "y": 2}], "count": 3}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "label": "gems", "points": [{"x": 900, "y": 2}]}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "label": "dots", "points": [{"x": NaN, "y": 2}]}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "points": []}"#,
            r#"{"image_url": "https://x.invalid/gone.png", "label": "x", "points": []}"#,
            r#"{"image_url": "https://x.invalid/coins.png", "image_sha256": "beef", "label": "x", "points": []}"#,
        ];
        std::fs::write(&p, rows.join("\n")).unwrap();
        let built = run(&p, dir.path().to_path_buf());
        let mut reasons = Vec::new();
        for b in &built {
            assert_eq!(b.records_in, b.accounted());
            for e in &b.events {
                reasons.push(match e {
                    Event::Quarantine { problem, .. } => problem.reason,
                    Event::Drop { reason, .. } => reason,
                });
            }
        }
        assert_eq!(
            reasons,
            [
                "missing_field",
                "duplicate_label",
                "count_mismatch",
                "point_outside_image",
                "non_finite_coordinate",
                "url_not_fetched",
                "image_hash_mismatch"
            ]
        );
    }
}
