//! COCO-style detection JSON (COCO, Objects365, LVIS, labelme's `labelme2coco` exports).
//!
//! The file is streamed once ([`crate::json_stream`]): images and categories are kept in
//! memory (per image its file, URL, size and LVIS negative / non-exhaustive category ids);
//! each annotation — id, category, raw `[x, y, w, h]` box, crowd flag and, when it has
//! polygons, one interior point (the polygons themselves are not kept) — goes to an on-disk
//! store chained by image ([`super::ann_store`]). A split of images then reads its
//! annotations back without reading the file again, and memory does not grow with the
//! number of annotations (see the benchmark).
//!
//! Accounting: every entry of `images` and `annotations` is one record. An annotation is
//! kept (reaches its image's record), dropped (`degenerate_box`, `ignored_category`, or
//! `image_quarantined` when its image could not be used), or quarantined (`missing_field`,
//! `bad_bbox`, `non_finite_coordinate`, `negative_size`, `box_outside_image`,
//! `unknown_image`, `unknown_category`). An image entry is kept or quarantined
//! (`missing_field`, `duplicate_image_id`, `missing_image`, `corrupt_image`,
//! `size_mismatch`, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ann_store::{AnnStore, StoreWriter, StoredAnn};
use super::{Built, IdKey, Problem, ReaderOptions, choose_negatives, field, uid};
use crate::canonical::{ImageRecord, Object};
use crate::error::GroundingError;
use crate::geometry::{BoxVerdict, check_box, check_point, interior_point};
use crate::images::{ImageLoader, ImageSource};
use crate::json_stream::{number, stream_object_arrays};
use crate::names::normalise_category;

/// One `images` entry.
#[derive(Debug, Clone)]
pub struct CocoImage {
    /// The id as written.
    pub id: Option<IdKey>,
    /// `file_name`.
    pub file: Option<String>,
    /// `coco_url`, `flickr_url` or `url`.
    pub url: Option<String>,
    /// Declared width.
    pub width: Option<u32>,
    /// Declared height.
    pub height: Option<u32>,
    /// LVIS `neg_category_ids`: categories verified absent.
    pub neg_categories: Option<Vec<IdKey>>,
    /// LVIS `not_exhaustive_category_ids`.
    pub not_exhaustive: Vec<IdKey>,
    /// Why the entry cannot be used.
    pub problem: Option<Problem>,
}

/// One `annotations` entry of an image, as read back from the store.
#[derive(Debug, Clone)]
pub struct CocoAnn {
    /// The id as written (`#N`, its position, when missing).
    pub id: IdKey,
    /// Index into [`CocoIndex::categories`] (when known).
    pub category: Option<u32>,
    /// `[x, y, w, h]` as written (NaN possible).
    pub bbox: [f64; 4],
    /// `iscrowd`.
    pub crowd: bool,
    /// A point inside the polygons.
    pub point: Option<[f64; 2]>,
    /// Why the entry cannot be used.
    pub problem: Option<Problem>,
}

/// A category: its id, its name as written and normalised.
#[derive(Debug, Clone)]
pub struct Category {
    /// The id.
    pub id: IdKey,
    /// `name` as written.
    pub raw: String,
    /// Normalised name (see [`crate::names`]).
    pub name: String,
}

/// The streamed content of one COCO file: images and categories in memory, annotations in
/// an on-disk store chained by image (see [`super::ann_store`]).
#[derive(Debug)]
pub struct CocoIndex {
    /// The file.
    pub path: PathBuf,
    /// Image entries in file order.
    pub images: Vec<CocoImage>,
    store: AnnStore,
    /// Interned category keys of annotations → index into `categories`, and the keys.
    category_of: Vec<(IdKey, Option<u32>)>,
    count: usize,
    /// Categories in file order.
    pub categories: Vec<Category>,
    /// Annotations that belong to no image (no or unknown `image_id`).
    pub orphans: Vec<(String, Problem)>,
}

fn positive_u32(v: Option<&Value>) -> Result<Option<u32>, ()> {
    match v.and_then(number) {
        None => Ok(None),
        Some(x) if x >= 1.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) => Ok(Some(x as u32)),
        Some(_) => Err(()),
    }
}

fn id_list(v: Option<&Value>) -> Option<Vec<IdKey>> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(IdKey::from_json).collect())
}

fn parse_image(v: &Value, n: usize) -> CocoImage {
    let s = |keys: &[&str]| field(v, keys).and_then(Value::as_str).map(str::to_string);
    let id = field(v, &["id"]).and_then(IdKey::from_json);
    let mut img = CocoImage {
        file: s(&["file_name"]),
        url: s(&["coco_url", "flickr_url", "url"]),
        width: None,
        height: None,
        neg_categories: id_list(field(v, &["neg_category_ids"])),
        not_exhaustive: id_list(field(v, &["not_exhaustive_category_ids"])).unwrap_or_default(),
        problem: None,
        id,
    };
    let shown = img
        .id
        .as_ref()
        .map_or_else(|| format!("#{n}"), |i| format!("id={i}"));
    match (
        positive_u32(field(v, &["width"])),
        positive_u32(field(v, &["height"])),
    ) {
        (Ok(w), Ok(h)) => (img.width, img.height) = (w, h),
        _ => {
            img.problem = Some(Problem::new(
                "bad_size",
                format!("image {shown}: width/height are not positive integers"),
            ))
        }
    }
    if img.id.is_none() {
        img.problem = Some(Problem::new(
            "missing_field",
            format!("image {shown} has no `id`"),
        ));
    } else if img.file.is_none() && img.url.is_none() {
        img.problem = Some(Problem::new(
            "missing_field",
            format!("image {shown} has neither `file_name` nor a URL"),
        ));
    }
    img
}

/// Parses one annotation: its raw image and category ids, and the entry.
fn parse_ann(v: &Value, n: usize) -> (Option<IdKey>, Option<IdKey>, StoredAnn) {
    let id = field(v, &["id"]).and_then(IdKey::from_json);
    let shown = id
        .as_ref()
        .map_or_else(|| format!("#{n}"), |i| format!("id={i}"));
    let mut problem: Option<Problem> = None;
    let mut missing = |what: &str| {
        problem.get_or_insert_with(|| {
            Problem::new(
                "missing_field",
                format!("annotation {shown} has no `{what}`"),
            )
        });
    };
    if id.is_none() {
        missing("id");
    }
    let image = field(v, &["image_id"]).and_then(IdKey::from_json);
    let category = field(v, &["category_id"]).and_then(IdKey::from_json);
    if category.is_none() {
        missing("category_id");
    }
    let mut bbox = [f64::NAN; 4];
    match field(v, &["bbox"]) {
        None => missing("bbox"),
        Some(b) => {
            let nums: Option<Vec<f64>> = b
                .as_array()
                .filter(|a| a.len() == 4)
                .and_then(|a| a.iter().map(number).collect());
            match nums {
                Some(n) => bbox.copy_from_slice(&n),
                None => {
                    problem.get_or_insert_with(|| {
                        Problem::new(
                            "bad_bbox",
                            format!("annotation {shown}: bbox {b} is not a list of 4 numbers"),
                        )
                    });
                }
            }
        }
    }
    let crowd = match field(v, &["iscrowd"]) {
        Some(Value::Bool(b)) => *b,
        Some(x) => number(x).is_some_and(|c| c != 0.0),
        None => false,
    };
    let point = field(v, &["segmentation"])
        .and_then(Value::as_array)
        .and_then(|polys| {
            let polys: Vec<Vec<f64>> = polys
                .iter()
                .filter_map(|p| {
                    p.as_array()
                        .and_then(|xs| xs.iter().map(number).collect::<Option<Vec<f64>>>())
                })
                .collect();
            interior_point(&polys)
        });
    let ann = StoredAnn {
        id: id.unwrap_or_else(|| IdKey::Str(format!("#{n}").into())),
        category: None,
        bbox,
        crowd,
        point,
        problem,
    };
    (image, category, ann)
}

impl CocoIndex {
    /// Streams a COCO file once into the index. A file that is not such JSON is an error
    /// naming it.
    ///
    /// Annotations are chained under their image as they stream when the image came first in
    /// the file (the usual order), and linked afterwards otherwise; categories are resolved
    /// when read back, so their place in the file does not matter either.
    pub fn load(path: &Path) -> Result<CocoIndex, GroundingError> {
        let file = path.display().to_string();
        let io_err = |e: std::io::Error| GroundingError::Annotations {
            path: path.to_path_buf(),
            reason: format!("annotation store: {e}"),
        };
        let mut store = StoreWriter::new().map_err(io_err)?;
        let mut images: Vec<CocoImage> = Vec::new();
        let mut image_ids: HashMap<IdKey, u32> = HashMap::new();
        let mut categories: Vec<Category> = Vec::new();
        // Category ids as seen in annotations, interned; resolved once all are known.
        let mut cat_keys: HashMap<IdKey, u32> = HashMap::new();
        let mut later: Vec<(u64, IdKey, IdKey)> = Vec::new(); // (offset, image, annotation id)
        let mut orphans = Vec::new();
        let mut seen_anns = 0usize;
        let mut count = 0usize;
        stream_object_arrays(path, &["images", "annotations", "categories"], |key, v| {
            match key {
                "images" => {
                    let mut img = parse_image(&v, images.len());
                    if let Some(id) = &img.id {
                        if image_ids.contains_key(id) {
                            img.problem.get_or_insert_with(|| {
                                Problem::new(
                                    "duplicate_image_id",
                                    format!("image id={id} appears more than once"),
                                )
                            });
                        } else {
                            image_ids.insert(id.clone(), images.len() as u32);
                        }
                    }
                    images.push(img);
                    store.add_image();
                }
                "annotations" => {
                    let (image, category, mut ann) = parse_ann(&v, seen_anns);
                    seen_anns += 1;
                    if let Some(c) = category {
                        let next = cat_keys.len() as u32;
                        ann.category = Some(*cat_keys.entry(c).or_insert(next));
                    }
                    let Some(i) = image else {
                        orphans.push((
                            format!("{file}#annotation={}", ann.id),
                            Problem::new(
                                "missing_field",
                                format!("annotation id={} has no `image_id`", ann.id),
                            ),
                        ));
                        return Ok(());
                    };
                    let known = image_ids.get(&i).copied();
                    let at = store.append(known, &ann).map_err(|e| e.to_string())?;
                    if known.is_none() {
                        later.push((at, i, ann.id));
                    } else {
                        count += 1;
                    }
                }
                _ => {
                    let id = field(&v, &["id"]).and_then(IdKey::from_json);
                    let name = field(&v, &["name"]).and_then(Value::as_str);
                    // A category without id or name: its annotations end up `unknown_category`.
                    if let (Some(id), Some(name)) = (id, name) {
                        categories.push(Category {
                            id,
                            raw: name.to_string(),
                            name: normalise_category(name),
                        });
                    }
                }
            }
            Ok(())
        })?;
        let mut store = store.finish().map_err(io_err)?;
        for (at, key, id) in later {
            match image_ids.get(&key) {
                Some(&idx) => {
                    store.attach(idx, at);
                    count += 1;
                }
                None => orphans.push((
                    format!("{file}#annotation={id}"),
                    Problem::new(
                        "unknown_image",
                        format!("annotation id={id}: image_id {key} is not in `images`"),
                    ),
                )),
            }
        }
        let by_id: HashMap<&IdKey, u32> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (&c.id, i as u32))
            .collect();
        let mut category_of: Vec<(IdKey, Option<u32>)> =
            vec![(IdKey::Int(0), None); cat_keys.len()];
        for (k, i) in cat_keys {
            let resolved = by_id.get(&k).copied();
            category_of[i as usize] = (k, resolved);
        }
        Ok(CocoIndex {
            path: path.to_path_buf(),
            images,
            store,
            category_of,
            count,
            categories,
            orphans,
        })
    }

    /// The annotations of image `i`, in file order, categories resolved (an unknown one is
    /// the annotation's `unknown_category` problem).
    pub fn annotations_of(&self, i: usize) -> Result<Vec<CocoAnn>, GroundingError> {
        let stored = self
            .store
            .read_image(i as u32)
            .map_err(|e| GroundingError::Annotations {
                path: self.path.clone(),
                reason: format!("annotation store: {e}"),
            })?;
        Ok(stored
            .into_iter()
            .map(|a| {
                let (category, mut problem) = (a.category, a.problem);
                let resolved = category.and_then(|c| {
                    let (key, found) = &self.category_of[c as usize];
                    if found.is_none() && problem.is_none() {
                        problem = Some(Problem::new(
                            "unknown_category",
                            format!(
                                "annotation id={}: category_id {key} is not in `categories`",
                                a.id
                            ),
                        ));
                    }
                    *found
                });
                CocoAnn {
                    id: a.id,
                    category: resolved,
                    bbox: a.bbox,
                    crowd: a.crowd,
                    point: a.point,
                    problem,
                }
            })
            .collect())
    }

    /// Number of annotation entries that belong to an image.
    pub fn annotation_count(&self) -> usize {
        self.count
    }

    /// Bytes the annotation store holds on disk.
    pub fn store_bytes(&self) -> u64 {
        self.store.bytes()
    }

    /// Builds the record of image `i`: loads its image, checks its annotations (see the
    /// module docs) and picks its negatives. `images_dir` resolves `file_name`;
    /// `annotation_file` is the file's name as recorded in samples.
    pub fn build(
        &self,
        i: usize,
        images_dir: &Path,
        annotation_file: &str,
        loader: &ImageLoader,
        opts: &ReaderOptions,
    ) -> Built {
        let img = &self.images[i];
        let file = self.path.display().to_string();
        let mut out = Built::default();
        let anns = match self.annotations_of(i) {
            Ok(a) => a,
            Err(e) => {
                // Our own temporary file failed: the image counts as one quarantined record.
                out.consume(1);
                out.quarantine(
                    format!("{file}#image={i}"),
                    Problem::new("io", e.to_string()),
                );
                return out;
            }
        };
        out.consume(1 + anns.len() as u64);
        let image_id = img
            .id
            .as_ref()
            .map_or_else(|| format!("#{i}"), |id| id.to_string());
        let image_source = format!("{file}#image={image_id}");
        let fail_image = |out: &mut Built, p: Problem| {
            out.quarantine(image_source.clone(), p);
            out.drop_n("image_quarantined", anns.len() as u64);
        };
        if let Some(p) = &img.problem {
            fail_image(&mut out, p.clone());
            return out;
        }
        let src = match (&img.file, &img.url) {
            (Some(f), Some(u)) if !images_dir.join(f).is_file() => ImageSource::Url(u.clone()),
            (Some(f), _) => ImageSource::from_reference(f, images_dir),
            (None, Some(u)) => ImageSource::from_reference(u, images_dir),
            (None, None) => unreachable!("checked when parsed"),
        };
        let loaded = match loader.load(&src, None) {
            Ok(l) => l,
            Err(e) => {
                fail_image(&mut out, Problem::new(e.reason(), e.to_string()));
                return out;
            }
        };
        let (w, h) = (loaded.source_width, loaded.source_height);
        if img.width.is_some_and(|x| x != w) || img.height.is_some_and(|x| x != h) {
            fail_image(
                &mut out,
                Problem::new(
                    "size_mismatch",
                    format!(
                        "{}: the file is {w}×{h} but the annotations say {}×{}",
                        src.describe(),
                        img.width.unwrap_or(w),
                        img.height.unwrap_or(h)
                    ),
                ),
            );
            return out;
        }
        let record_uid = uid(annotation_file, &image_id);
        let cat_name = |c: u32| self.categories[c as usize].name.as_str();
        let ignored =
            |name: &str| name.is_empty() || opts.ignore_categories.iter().any(|x| x == name);
        let mut objects = Vec::new();
        let mut present: Vec<String> = Vec::new();
        for a in &anns {
            let source = format!("{file}#annotation={}", a.id);
            if let Some(c) = a.category {
                present.push(cat_name(c).to_string());
            }
            if let Some(p) = &a.problem {
                out.quarantine(source, p.clone());
                continue;
            }
            let category = cat_name(a.category.expect("no problem, so resolved"));
            if ignored(category) {
                out.drop_n("ignored_category", 1);
                continue;
            }
            match check_box(a.bbox, w, h) {
                BoxVerdict::Quarantine(reason, msg) => {
                    out.quarantine(
                        source,
                        Problem::new(reason, format!("annotation id={}: {msg}", a.id)),
                    );
                }
                BoxVerdict::Drop(reason, _) => out.drop_n(reason, 1),
                BoxVerdict::Keep { bbox, clipped } => {
                    let point = a.point.filter(|p| check_point(*p, w, h).is_ok());
                    objects.push(Object {
                        id: a.id.to_string(),
                        category: category.to_string(),
                        bbox: Some(bbox),
                        point,
                        crowd: a.crowd,
                        clipped,
                        expressions: Vec::new(),
                    });
                    out.records_out += 1;
                }
            }
        }
        out.records_out += 1; // the image entry
        let names_of = |ids: &[IdKey]| -> Vec<String> {
            let mut v: Vec<String> = ids
                .iter()
                .filter_map(|id| self.categories.iter().find(|c| &c.id == id))
                .map(|c| c.name.clone())
                .filter(|n| !ignored(n))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let not_exhaustive = names_of(&img.not_exhaustive);
        let candidates: Vec<String> = match &img.neg_categories {
            Some(ids) => names_of(ids),
            None if opts.exhaustive => {
                let mut v: Vec<String> = self
                    .categories
                    .iter()
                    .map(|c| c.name.clone())
                    .filter(|n| !ignored(n))
                    .collect();
                v.sort();
                v.dedup();
                v
            }
            None => Vec::new(),
        }
        .into_iter()
        .filter(|n| !present.contains(n) && !not_exhaustive.contains(n))
        .collect();
        out.record = Some(ImageRecord {
            absent: choose_negatives(&candidates, opts.negatives, opts.seed, &record_uid),
            uid: record_uid,
            source: opts.source.clone(),
            annotation_file: annotation_file.to_string(),
            image_id,
            path: match &src {
                ImageSource::File(_) => img.file.clone().unwrap_or_default(),
                other => other.describe(),
            },
            width: w,
            height: h,
            image: loaded.bytes,
            image_format: loaded.format,
            image_width: loaded.width,
            image_height: loaded.height,
            reencoded: loaded.reencoded,
            objects,
            not_exhaustive,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageOptions;
    use crate::readers::Event;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }

    fn opts() -> ReaderOptions {
        ReaderOptions {
            source: "test".into(),
            seed: 1,
            negatives: 3,
            exhaustive: true,
            ignore_categories: vec!["background".into()],
        }
    }

    fn build_all(index: &CocoIndex, dir: &Path) -> Vec<Built> {
        let loader = ImageLoader::new(ImageOptions::default());
        (0..index.images.len())
            .map(|i| index.build(i, dir, "a.json", &loader, &opts()))
            .collect()
    }

    #[test]
    fn the_bundled_fixture_reads_completely() {
        let dir = fixture_dir();
        let index = CocoIndex::load(&dir.join("annotations.json")).unwrap();
        assert_eq!(index.images.len(), 3);
        assert_eq!(index.annotation_count(), 31);
        assert!(index.orphans.is_empty());
        let built = build_all(&index, &dir.join("images"));
        let coins = built[0].record.as_ref().unwrap();
        assert_eq!(coins.path, "coins.png");
        assert_eq!(coins.objects.len(), 24);
        assert!(
            coins
                .objects
                .iter()
                .all(|o| o.category == "coin" && !o.crowd)
        );
        // Every coin has a point inside its box (from its polygon).
        for o in &coins.objects {
            let (b, p) = (o.bbox.unwrap(), o.point.unwrap());
            assert!(b.x1 <= p[0] && p[0] <= b.x2 && b.y1 <= p[1] && p[1] <= b.y2);
        }
        // The absent categories are from the vocabulary and really absent.
        assert_eq!(coins.absent.len(), 3);
        assert!(coins.absent.iter().all(|a| a != "coin"));
        for b in &built {
            assert_eq!(b.records_in, b.accounted());
            assert!(b.events.is_empty(), "{:?}", b.events);
        }
    }

    #[test]
    fn bad_entries_are_accounted_one_by_one() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture_dir().join("images/coins.png"),
            tmp.path().join("coins.png"),
        )
        .unwrap();
        std::fs::write(tmp.path().join("broken.png"), b"\x89PNG\r\n\x1a\nnope").unwrap();
        let json = r#"{
          "categories": [{"id": 1, "name": "Coin"}, {"id": 2, "name": "_background_"}, {"id": 3, "name": "dog"}],
          "images": [
            {"id": 1, "file_name": "coins.png", "width": 384, "height": 303},
            {"id": 2, "file_name": "missing.png", "width": 10, "height": 10},
            {"id": 3, "file_name": "broken.png"},
            {"id": 4, "file_name": "coins.png", "width": 300, "height": 303},
            {"file_name": "coins.png"},
            {"id": 1, "file_name": "coins.png"}
          ],
          "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [21, 32, 46, 42], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [NaN, 32, 46, 42]},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [21, 32, -5, 42]},
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [500, 32, 46, 42]},
            {"id": 14, "image_id": 1, "category_id": 1, "bbox": [380, 32, 46, 42]},
            {"id": 15, "image_id": 1, "category_id": 1, "bbox": [21, 32, 0.4, 42]},
            {"id": 16, "image_id": 1, "category_id": 9, "bbox": [21, 32, 46, 42]},
            {"id": 17, "image_id": 1, "category_id": 2, "bbox": [21, 32, 46, 42]},
            {"id": 18, "image_id": 1, "category_id": 1},
            {"id": 19, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]},
            {"id": 20, "image_id": 77, "category_id": 1, "bbox": [21, 32, 46, 42]},
            {"id": 21, "category_id": 1, "bbox": [21, 32, 46, 42]},
            {"id": 22, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 23, "image_id": 1, "category_id": 1, "bbox": [1, 1, 20, 20], "iscrowd": 1}
          ]
        }"#;
        let path = tmp.path().join("a.json");
        std::fs::write(&path, json).unwrap();
        let index = CocoIndex::load(&path).unwrap();
        let mut reasons: Vec<&str> = index.orphans.iter().map(|(_, p)| p.reason).collect();
        reasons.sort();
        assert_eq!(reasons, ["missing_field", "unknown_image"]);
        let built = build_all(&index, tmp.path());
        let mut quarantined: Vec<&str> = Vec::new();
        let mut dropped: Vec<(&str, u64)> = Vec::new();
        for b in &built {
            assert_eq!(b.records_in, b.accounted(), "{:?}", b.events);
            for e in &b.events {
                match e {
                    Event::Quarantine { problem, .. } => quarantined.push(problem.reason),
                    Event::Drop { reason, n } => dropped.push((reason, *n)),
                }
            }
        }
        assert_eq!(
            quarantined,
            [
                "non_finite_coordinate",
                "negative_size",
                "box_outside_image",
                "unknown_category",
                "missing_field",
                "bad_bbox",
                "missing_image",
                "corrupt_image",
                "size_mismatch",
                "missing_field",
                "duplicate_image_id",
            ]
        );
        assert_eq!(
            dropped,
            [
                ("degenerate_box", 1),
                ("ignored_category", 1),
                ("image_quarantined", 1)
            ]
        );
        let rec = built[0].record.as_ref().unwrap();
        let kept: Vec<(&str, bool, bool)> = rec
            .objects
            .iter()
            .map(|o| (o.id.as_str(), o.clipped, o.crowd))
            .collect();
        assert_eq!(
            kept,
            [
                ("10", false, false),
                ("14", true, false),
                ("23", false, true)
            ]
        );
        assert_eq!(rec.objects[1].bbox.unwrap().x2, 384.0);
        // "background" is ignored, "coin" present: only "dog" can be a negative.
        assert_eq!(rec.absent, ["dog"]);
        let total_in: u64 = built.iter().map(|b| b.records_in).sum::<u64>() + 2;
        assert_eq!(total_in, 6 + 14, "every entry is counted once");
    }

    #[test]
    fn lvis_negative_and_not_exhaustive_ids_are_respected() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture_dir().join("images/coins.png"),
            tmp.path().join("coins.png"),
        )
        .unwrap();
        let json = r#"{"categories": [{"id": 1, "name": "coin"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 4, "name": "ring"}],
          "images": [{"id": 1, "file_name": "coins.png", "neg_category_ids": [3], "not_exhaustive_category_ids": [1]}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [21, 32, 46, 42]}]}"#;
        let path = tmp.path().join("lvis.json");
        std::fs::write(&path, json).unwrap();
        let index = CocoIndex::load(&path).unwrap();
        let built = build_all(&index, tmp.path());
        let rec = built[0].record.as_ref().unwrap();
        assert_eq!(rec.absent, ["cat"]);
        assert_eq!(rec.not_exhaustive, ["coin"]);
    }

    #[test]
    fn any_key_order_gives_the_same_index() {
        // Annotations before images and categories (JSON objects are unordered).
        let tmp = tempfile::tempdir().unwrap();
        let json = r#"{"annotations": [
              {"id": 2, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]},
              {"id": 3, "image_id": 8, "category_id": 1, "bbox": [1, 1, 5, 5]},
              {"id": 1, "image_id": 7, "category_id": 4, "bbox": [2, 2, 5, 5]}],
            "categories": [{"id": 1, "name": "coin"}],
            "images": [{"id": 7, "file_name": "a.png"}]}"#;
        let path = tmp.path().join("late.json");
        std::fs::write(&path, json).unwrap();
        let index = CocoIndex::load(&path).unwrap();
        let ids: Vec<String> = index
            .annotations_of(0)
            .unwrap()
            .iter()
            .map(|a| a.id.to_string())
            .collect();
        assert_eq!(ids, ["2", "1"], "file order within the image");
        assert_eq!(index.annotations_of(0).unwrap()[0].category, Some(0));
        assert_eq!(
            index.annotations_of(0).unwrap()[1]
                .problem
                .as_ref()
                .unwrap()
                .reason,
            "unknown_category"
        );
        assert_eq!(index.orphans.len(), 1);
        assert_eq!(index.orphans[0].1.reason, "unknown_image");
    }

    #[test]
    fn unreadable_files_are_one_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cut.json");
        std::fs::write(&path, "{\"images\": [").unwrap();
        let err = CocoIndex::load(&path).unwrap_err();
        assert!(err.to_string().contains("cut.json"), "{err}");
    }
}
