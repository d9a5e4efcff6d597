//! RefCOCO / RefCOCO+ / RefCOCOg referring expressions, in the layouts they are passed
//! around in: JSON or JSON Lines records, a JSON object with a `refs` list (the refer
//! toolkit's refs converted from pickle), or Parquet shards from the Hugging Face Hub with the
//! photo embedded. Each row names an image, a box and one or more expressions; field names
//! vary, so each is looked up under its common spellings:
//!
//! | field | spellings |
//! |---|---|
//! | expressions | `sentences` (strings or `{sent, raw}`), `expressions`, `expression`, `sentence`, `answer`, `text`, `caption`, `ref` |
//! | box | `bbox`, `box` (`[x, y, w, h]`; `bbox_format = "xyxy"` for corners) — or looked up by `ann_id` in a COCO `instances` file |
//! | image | embedded bytes (Parquet image column), `file_name`, `image`, `image_path`, `img_path`, `filename` (path, URL or `data:` URI) |
//! | ids | `image_id`; object `ann_id`, `ref_id`, `id`, `question_id` |
//! | category | `category`, `category_name` (else the `instances` category, else `object`) |
//!
//! Every expression is one record. Expressions are normalised (whitespace) and, per image,
//! an expression given twice for one object is collapsed (`duplicate_expression`); one given
//! for two different objects cannot refer to either and is dropped (`ambiguous_expression`).
//! A row with a bad box quarantines its expressions with the box's reason. Referring data
//! annotates only some objects of an image, so every category is marked non-exhaustive: no
//! counting or "every X" question is built from it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::coco::CocoIndex;
use super::table::{GroupedLayout, Parsed, PendingImage, Row};
use super::{Built, IdKey, Problem, ReaderOptions, field, uid};
use crate::canonical::{ImageRecord, Object};
use crate::error::GroundingError;
use crate::geometry::{BBox, BoxVerdict, check_box, check_corners};
use crate::images::{ImageSource, LoadedImage};
use crate::json_stream::number;
use crate::names::{expression_key, normalise_category, normalise_expression};

/// A box, an image file and a category, looked up by annotation id.
#[derive(Debug, Clone)]
pub struct InstanceBox {
    /// COCO `[x, y, w, h]`.
    pub bbox: [f64; 4],
    /// `file_name` of its image.
    pub file: String,
    /// Its image id.
    pub image_id: String,
    /// Normalised category.
    pub category: String,
}

/// Boxes of a COCO `instances` file by annotation id (the refer toolkit keeps boxes there).
pub fn instances_by_ann_id(index: &CocoIndex) -> HashMap<String, InstanceBox> {
    let mut out = HashMap::new();
    for (i, img) in index.images.iter().enumerate() {
        let (Some(id), Some(file)) = (&img.id, &img.file) else {
            continue;
        };
        for a in index.annotations_of(i).unwrap_or_default() {
            if let Some(c) = a.category {
                out.insert(
                    a.id.to_string(),
                    InstanceBox {
                        bbox: a.bbox,
                        file: file.clone(),
                        image_id: id.to_string(),
                        category: index.categories[c as usize].name.clone(),
                    },
                );
            }
        }
    }
    out
}

/// One row: an object with its expressions.
#[derive(Debug, Clone)]
pub struct RefEntry {
    object_id: String,
    expressions: Vec<String>,
    bbox: [f64; 4],
    category: String,
    declared: Option<(u32, u32)>,
    image_id: String,
    reference: String,
}

/// The RefCOCO layout for one file.
pub struct RefLayout<'a> {
    /// Folder image paths are relative to.
    pub images_dir: PathBuf,
    /// Whether boxes are `[x1, y1, x2, y2]` (else `[x, y, w, h]`).
    pub xyxy: bool,
    /// Whether this file embeds images in its image column.
    pub embedded: bool,
    /// Boxes by annotation id (`instances` setting).
    pub instances: Option<&'a HashMap<String, InstanceBox>>,
    /// The annotation file as recorded in samples.
    pub annotation_file: String,
    /// Shared reader settings.
    pub opts: &'a ReaderOptions,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => field(x, &["sent", "raw", "text", "expression"])
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn text_id(v: &Value) -> Option<String> {
    IdKey::from_json(v).map(|k| k.to_string())
}

impl GroupedLayout for RefLayout<'_> {
    type Entry = RefEntry;

    fn parse(&self, row: &Row) -> Result<Parsed<RefEntry>, Problem> {
        let v = &row.value;
        let n = row.index;
        let expressions: Vec<String> = field(
            v,
            &[
                "sentences",
                "expressions",
                "expression",
                "sentence",
                "answer",
                "text",
                "caption",
                "ref",
            ],
        )
        .map(strings)
        .unwrap_or_default()
        .iter()
        .map(|s| normalise_expression(s))
        .filter(|s| !s.is_empty())
        .collect();
        if expressions.is_empty() {
            return Err(Problem::new(
                "missing_field",
                format!("row {n} has no referring expression"),
            ));
        }
        let object_id = field(v, &["ann_id", "ref_id", "id", "question_id", "object_id"])
            .and_then(text_id)
            .unwrap_or_else(|| format!("row:{n}"));
        let looked_up = match self.instances {
            Some(map) => {
                let ann = field(v, &["ann_id"]).and_then(text_id).ok_or_else(|| {
                    Problem::new("missing_field", format!("row {n} has no `ann_id`"))
                })?;
                Some(map.get(&ann).ok_or_else(|| {
                    Problem::new(
                        "unknown_annotation",
                        format!("row {n}: ann_id {ann} is not in the instances file"),
                    )
                })?)
            }
            None => None,
        };
        let bbox = match looked_up {
            Some(inst) => inst.bbox,
            None => {
                let b = field(v, &["bbox", "box"]).ok_or_else(|| {
                    Problem::new("missing_field", format!("row {n} has no `bbox`"))
                })?;
                let nums: Option<Vec<f64>> = b
                    .as_array()
                    .filter(|a| a.len() == 4)
                    .and_then(|a| a.iter().map(number).collect());
                let nums = nums.ok_or_else(|| {
                    Problem::new(
                        "bad_bbox",
                        format!("row {n}: bbox {b} is not a list of 4 numbers"),
                    )
                })?;
                [nums[0], nums[1], nums[2], nums[3]]
            }
        };
        let category = field(v, &["category", "category_name"])
            .and_then(Value::as_str)
            .map(normalise_category)
            .or_else(|| looked_up.map(|i| i.category.clone()))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "object".into());
        let reference = match looked_up {
            Some(inst) => Some(inst.file.clone()),
            None => field(
                v,
                &[
                    "file_name",
                    "image",
                    "image_path",
                    "img_path",
                    "filename",
                    "image_file",
                ],
            )
            .and_then(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => x.get("path").and_then(Value::as_str).map(str::to_string),
                _ => None,
            }),
        };
        let image_id = field(v, &["image_id"])
            .and_then(text_id)
            .or_else(|| looked_up.map(|i| i.image_id.clone()));
        let (image, key, shown) = if self.embedded {
            let key = image_id
                .clone()
                .or_else(|| reference.clone())
                .unwrap_or_else(|| format!("row:{n}"));
            (PendingImage::Embedded, key, format!("embedded:row={n}"))
        } else {
            let r = reference
                .ok_or_else(|| Problem::new("missing_field", format!("row {n} names no image")))?;
            (
                PendingImage::Source(ImageSource::from_reference(&r, &self.images_dir)),
                image_id.clone().unwrap_or_else(|| r.clone()),
                r,
            )
        };
        let dim = |k: &str| field(v, &[k]).and_then(number).filter(|x| *x >= 1.0);
        let declared = match (dim("width"), dim("height")) {
            (Some(w), Some(h)) => Some((w as u32, h as u32)),
            _ => None,
        };
        Ok(Parsed {
            image_key: key.clone(),
            image,
            sha256: None,
            entry: RefEntry {
                object_id,
                expressions,
                bbox,
                category,
                declared,
                image_id: image_id.unwrap_or(key),
                reference: shown,
            },
        })
    }

    fn records(&self, e: &RefEntry) -> u64 {
        e.expressions.len() as u64
    }

    fn build(
        &self,
        image_key: &str,
        entries: Vec<(u64, RefEntry)>,
        image: Result<LoadedImage, GroundingError>,
    ) -> Built {
        let mut out = Built::default();
        let total: u64 = entries.iter().map(|(_, e)| self.records(e)).sum();
        out.consume(total);
        let file = &self.annotation_file;
        let first = entries[0].1.clone();
        let image_source = format!("{file}#image={}", first.image_id);
        let fail = |out: &mut Built, p: Problem| {
            out.quarantine(image_source.clone(), p);
            out.drop_n("image_quarantined", total - 1);
        };
        let loaded = match image {
            Ok(l) => l,
            Err(e) => {
                fail(&mut out, Problem::new(e.reason(), e.to_string()));
                return out;
            }
        };
        let (w, h) = (loaded.source_width, loaded.source_height);
        if let Some((dw, dh)) = entries.iter().find_map(|(_, e)| e.declared)
            && (dw, dh) != (w, h)
        {
            fail(
                &mut out,
                Problem::new(
                    "size_mismatch",
                    format!(
                        "{}: the file is {w}×{h} but the annotations say {dw}×{dh}",
                        first.reference
                    ),
                ),
            );
            return out;
        }
        // Objects by id, first box wins; expressions with the object they name.
        let mut objects: Vec<Object> = Vec::new();
        let mut slot: HashMap<String, usize> = HashMap::new();
        let mut named: Vec<(String, usize, String)> = Vec::new(); // (key, object, text)
        for (row, e) in entries {
            let verdict = if self.xyxy {
                check_corners(BBox::new(e.bbox[0], e.bbox[1], e.bbox[2], e.bbox[3]), w, h)
            } else {
                check_box(e.bbox, w, h)
            };
            let n = e.expressions.len() as u64;
            match verdict {
                BoxVerdict::Quarantine(reason, msg) => {
                    for (i, _) in e.expressions.iter().enumerate() {
                        out.quarantine(
                            format!("{file}#row={row}#expression={i}"),
                            Problem::new(reason, format!("row {row}: {msg}")),
                        );
                    }
                }
                BoxVerdict::Drop(reason, _) => out.drop_n(reason, n),
                BoxVerdict::Keep { bbox, clipped } => {
                    let o = *slot.entry(e.object_id.clone()).or_insert_with(|| {
                        objects.push(Object {
                            id: e.object_id.clone(),
                            category: e.category.clone(),
                            bbox: Some(bbox),
                            point: None,
                            crowd: false,
                            clipped,
                            expressions: Vec::new(),
                        });
                        objects.len() - 1
                    });
                    for x in e.expressions {
                        named.push((expression_key(&x), o, x));
                    }
                }
            }
        }
        let mut owners: HashMap<&str, BTreeSet<usize>> = HashMap::new();
        for (k, o, _) in &named {
            owners.entry(k.as_str()).or_default().insert(*o);
        }
        let ambiguous: BTreeSet<String> = owners
            .iter()
            .filter(|(_, os)| os.len() > 1)
            .map(|(k, _)| k.to_string())
            .collect();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (k, o, text) in named {
            if ambiguous.contains(&k) {
                out.drop_n("ambiguous_expression", 1);
            } else if !seen.insert(k) {
                out.drop_n("duplicate_expression", 1);
            } else {
                objects[o].expressions.push(text);
                out.records_out += 1;
            }
        }
        let not_exhaustive: BTreeSet<String> = objects.iter().map(|o| o.category.clone()).collect();
        let record_uid = uid(file, image_key);
        out.record = Some(ImageRecord {
            uid: record_uid,
            source: self.opts.source.clone(),
            annotation_file: file.clone(),
            image_id: first.image_id.clone(),
            path: first.reference.clone(),
            width: w,
            height: h,
            image: loaded.bytes,
            image_format: loaded.format,
            image_width: loaded.width,
            image_height: loaded.height,
            reencoded: loaded.reencoded,
            objects,
            absent: Vec::new(),
            not_exhaustive: not_exhaustive.into_iter().collect(),
        });
        out
    }
}

/// Whether a record file embeds images in `image_column` (a Parquet file with that column).
pub fn embeds_images(path: &Path, image_column: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        && weft_shards::reader::Shard::open(path)
            .map(|s| s.schema().field_with_name(image_column).is_ok())
            .unwrap_or(false)
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

    fn opts() -> ReaderOptions {
        ReaderOptions {
            source: "refcoco".into(),
            seed: 3,
            negatives: 0,
            exhaustive: false,
            ignore_categories: vec![],
        }
    }

    fn read(path: &Path, layout: &RefLayout) -> Vec<Built> {
        let loader = ImageLoader::new(ImageOptions::default());
        let mut out = Vec::new();
        read_grouped(layout, path, "image", &loader, |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_bundled_expressions_group_by_image_and_collapse_duplicates() {
        let o = opts();
        let layout = RefLayout {
            images_dir: fixtures().join("images"),
            xyxy: false,
            embedded: false,
            instances: None,
            annotation_file: "refs.jsonl".into(),
            opts: &o,
        };
        let built = read(&fixtures().join("refs.jsonl"), &layout);
        let mut drops: Vec<(&str, u64)> = Vec::new();
        for b in &built {
            assert_eq!(b.records_in, b.accounted(), "{:?}", b.events);
            for e in &b.events {
                if let Event::Drop { reason, n } = e {
                    drops.push((reason, *n));
                }
            }
        }
        assert_eq!(
            drops,
            [
                ("duplicate_expression", 1),
                ("ambiguous_expression", 1),
                ("ambiguous_expression", 1)
            ]
        );
        let coffee = built
            .iter()
            .filter_map(|b| b.record.as_ref())
            .find(|r| r.path == "coffee.png")
            .unwrap();
        let spoon = coffee
            .objects
            .iter()
            .find(|o| o.category == "spoon")
            .unwrap();
        assert_eq!(spoon.expressions.len(), 2);
        assert_eq!(coffee.not_exhaustive, ["cup", "saucer", "spoon"]);
        assert!(coffee.absent.is_empty());
    }

    /// The Hub layout (lmms-lab/RefCOCO-like): one Parquet row per referred object, the photo
    /// embedded as an `Image` struct in every row, `[x, y, w, h]` boxes, `answer` lists.
    #[test]
    fn parquet_rows_with_embedded_photos_group_by_image() {
        use arrow::array::{
            Array, BinaryArray, Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray,
            StringBuilder, StructArray,
        };
        use arrow::datatypes::{DataType, Field, Fields, Schema};
        use std::sync::Arc;
        let png = std::fs::read(fixtures().join("images/coffee.png")).unwrap();
        let cat = std::fs::read(fixtures().join("images/chelsea.png")).unwrap();
        let image = StructArray::new(
            Fields::from(vec![
                Field::new("bytes", DataType::Binary, true),
                Field::new("path", DataType::Utf8, true),
            ]),
            vec![
                Arc::new(BinaryArray::from(vec![
                    Some(png.as_slice()),
                    Some(cat.as_slice()),
                    Some(png.as_slice()),
                ])),
                Arc::new(StringArray::from(vec![None::<&str>, None, None])),
            ],
            None,
        );
        let mut bbox = ListBuilder::new(Float64Builder::new());
        for b in [
            [324.0, 66.0, 100.0, 260.0],
            [238.0, 226.0, 54.0, 40.0],
            [172.0, 17.0, 238.0, 291.0],
        ] {
            bbox.values().append_slice(&b);
            bbox.append(true);
        }
        let mut answer = ListBuilder::new(StringBuilder::new());
        for a in [
            vec!["the spoon"],
            vec!["pink nose"],
            vec!["the cup", "espresso cup"],
        ] {
            for x in a {
                answer.values().append_value(x);
            }
            answer.append(true);
        }
        let (bbox, answer) = (bbox.finish(), answer.finish());
        let schema = Arc::new(Schema::new(vec![
            Field::new("image", image.data_type().clone(), true),
            Field::new("image_id", DataType::Int64, false),
            Field::new("bbox", bbox.data_type().clone(), true),
            Field::new("answer", answer.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(image),
                Arc::new(Int64Array::from(vec![2, 3, 2])),
                Arc::new(bbox),
                Arc::new(answer),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("val.parquet");
        weft_shards::writer::write_single_file(&path, schema, &[batch]).unwrap();
        assert!(embeds_images(&path, "image"));
        let o = opts();
        let layout = RefLayout {
            images_dir: dir.path().to_path_buf(),
            xyxy: false,
            embedded: true,
            instances: None,
            annotation_file: "val.parquet".into(),
            opts: &o,
        };
        let built = read(&path, &layout);
        // Emitted at each image's last row: the cat (row 1), then the coffee (row 2).
        let recs: Vec<&ImageRecord> = built.iter().filter_map(|b| b.record.as_ref()).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (recs[0].image_id.as_str(), recs[0].image.as_slice()),
            ("3", cat.as_slice())
        );
        assert_eq!((recs[1].image_id.as_str(), recs[1].width), ("2", 600));
        assert_eq!(recs[1].image, png);
        let exprs: Vec<&str> = recs[1]
            .objects
            .iter()
            .flat_map(|o| o.expressions.iter().map(String::as_str))
            .collect();
        assert_eq!(exprs, ["the spoon", "the cup", "espresso cup"]);
        assert_eq!(built.iter().map(|b| b.records_in).sum::<u64>(), 4);
    }

    #[test]
    fn boxes_can_come_from_an_instances_file() {
        let index = CocoIndex::load(&fixtures().join("annotations.json")).unwrap();
        let map = instances_by_ann_id(&index);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refs.json");
        std::fs::write(
            &path,
            r#"{"refs": [{"ann_id": 27, "ref_id": 1, "image_id": 2, "sentences": [{"sent": "the small spoon"}, {"raw": "Spoon on the right."}]},
                        {"ann_id": 999, "sentences": ["nothing"]}]}"#,
        )
        .unwrap();
        let o = opts();
        let layout = RefLayout {
            images_dir: fixtures().join("images"),
            xyxy: false,
            embedded: false,
            instances: Some(&map),
            annotation_file: "refs.json".into(),
            opts: &o,
        };
        let built = read(&path, &layout);
        assert!(
            matches!(&built[0].events[0], Event::Quarantine { problem, .. } if problem.reason == "unknown_annotation")
        );
        let rec = built[1].record.as_ref().unwrap();
        assert_eq!(rec.path, "coffee.png");
        assert_eq!(rec.objects[0].category, "spoon");
        assert_eq!(
            rec.objects[0].bbox.unwrap().to_array(),
            [324.0, 66.0, 424.0, 326.0]
        );
        assert_eq!(
            rec.objects[0].expressions,
            ["the small spoon", "Spoon on the right."]
        );
    }
}
