//! The canonical object table: one row per image, written by every reader and read by every
//! sample stage, so sample kinds never see a dataset's layout.
//!
//! Coordinates are original-image pixels (`width × height`, the size the annotations were
//! made on) as validated by [`crate::geometry`]; the embedded image may be smaller when the
//! reader had to downscale it (`image_width × image_height`), and the writer scales then.
//! Objects, verified-absent categories and categories whose count is unknown travel as JSON
//! columns: nested lists change per dataset and the table is an internal hand-off.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use serde::{Deserialize, Serialize};

use crate::geometry::BBox;

/// One annotated object in original-image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// The source annotation id (or `row:N` where the source has none).
    pub id: String,
    /// Normalised category name (PixMo: the label).
    pub category: String,
    /// Box, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<BBox>,
    /// A point on the object (PixMo points; a point inside the COCO polygon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<[f64; 2]>,
    /// COCO `iscrowd`: a region of many instances.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crowd: bool,
    /// Whether the box was clipped to the image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clipped: bool,
    /// Referring expressions, duplicates collapsed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expressions: Vec<String>,
}

/// One image with its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// Stable id: hash of the annotation file's name and the image id.
    pub uid: String,
    /// Data source name written to the samples.
    pub source: String,
    /// The annotation file, as given.
    pub annotation_file: String,
    /// The dataset's image id.
    pub image_id: String,
    /// Image file (relative to the images folder), URL, or `embedded:…`.
    pub path: String,
    /// Width the annotations refer to.
    pub width: u32,
    /// Height the annotations refer to.
    pub height: u32,
    /// The encoded image as it goes into samples.
    pub image: Vec<u8>,
    /// Its format (`jpeg`, `png`, …).
    pub image_format: String,
    /// Its width (≤ `width`).
    pub image_width: u32,
    /// Its height.
    pub image_height: u32,
    /// Whether the reader re-encoded the image (downscaled or converted).
    pub reencoded: bool,
    /// Objects in annotation order.
    pub objects: Vec<Object>,
    /// Categories verified absent from the image (negatives), sorted.
    pub absent: Vec<String>,
    /// Categories present whose count is not known (LVIS `not_exhaustive_category_ids`).
    pub not_exhaustive: Vec<String>,
}

/// The table's schema.
pub fn schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let u = |n: &str| Field::new(n, DataType::UInt32, false);
    Arc::new(Schema::new(vec![
        s("uid"),
        s("source"),
        s("annotation_file"),
        s("image_id"),
        s("path"),
        u("width"),
        u("height"),
        Field::new("image", DataType::Binary, false),
        s("image_format"),
        u("image_width"),
        u("image_height"),
        Field::new("reencoded", DataType::Boolean, false),
        s("objects"),
        s("absent"),
        s("not_exhaustive"),
    ]))
}

/// Records as one batch of [`schema`].
pub fn to_batch(records: &[ImageRecord]) -> Result<RecordBatch, String> {
    let strs = |f: &dyn Fn(&ImageRecord) -> String| -> ArrayRef {
        let mut b = StringBuilder::new();
        for r in records {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let u32s = |f: &dyn Fn(&ImageRecord) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(records.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        strs(&|r| r.uid.clone()),
        strs(&|r| r.source.clone()),
        strs(&|r| r.annotation_file.clone()),
        strs(&|r| r.image_id.clone()),
        strs(&|r| r.path.clone()),
        u32s(&|r| r.width),
        u32s(&|r| r.height),
        Arc::new(BinaryArray::from_iter_values(
            records.iter().map(|r| r.image.as_slice()),
        )),
        strs(&|r| r.image_format.clone()),
        u32s(&|r| r.image_width),
        u32s(&|r| r.image_height),
        Arc::new(arrow::array::BooleanArray::from(
            records.iter().map(|r| r.reencoded).collect::<Vec<_>>(),
        )),
        strs(&|r| json(&r.objects)),
        strs(&|r| json(&r.absent)),
        strs(&|r| json(&r.not_exhaustive)),
    ];
    RecordBatch::try_new(schema(), cols).map_err(|e| e.to_string())
}

/// JSON of one of the nested columns.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("canonical values serialise")
}

/// Checks that an input schema is the canonical table (names and types).
pub fn require(inputs: &[SchemaRef]) -> Result<(), String> {
    let want = schema();
    for s in inputs {
        for f in want.fields() {
            weft_engine::stage::require_column(s, f.name(), f.data_type())?;
        }
    }
    Ok(())
}

/// Reads records back from a batch of [`schema`].
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<ImageRecord>, String> {
    let col = |n: &str| {
        batch
            .column_by_name(n)
            .ok_or_else(|| format!("object table has no column `{n}`"))
    };
    let s = |n: &str| -> Result<StringArray, String> {
        col(n)?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| format!("`{n}` is not utf8"))
    };
    let u = |n: &str| -> Result<UInt32Array, String> {
        col(n)?
            .as_primitive_opt::<UInt32Type>()
            .cloned()
            .ok_or_else(|| format!("`{n}` is not uint32"))
    };
    let (uid, source, file, image_id, path, fmt, objects, absent, partial) = (
        s("uid")?,
        s("source")?,
        s("annotation_file")?,
        s("image_id")?,
        s("path")?,
        s("image_format")?,
        s("objects")?,
        s("absent")?,
        s("not_exhaustive")?,
    );
    let (w, h, iw, ih) = (
        u("width")?,
        u("height")?,
        u("image_width")?,
        u("image_height")?,
    );
    let image = col("image")?
        .as_binary_opt::<i32>()
        .cloned()
        .ok_or("`image` is not binary")?;
    let reencoded = col("reencoded")?
        .as_boolean_opt()
        .cloned()
        .ok_or("`reencoded` is not boolean")?;
    (0..batch.num_rows())
        .map(|i| {
            let parse = |a: &StringArray, what: &str| -> Result<serde_json::Value, String> {
                serde_json::from_str(a.value(i))
                    .map_err(|e| format!("row {}: bad `{what}` JSON: {e}", uid.value(i)))
            };
            let list = |v: serde_json::Value, what: &str| -> Result<Vec<String>, String> {
                serde_json::from_value(v).map_err(|e| format!("`{what}`: {e}"))
            };
            Ok(ImageRecord {
                uid: uid.value(i).into(),
                source: source.value(i).into(),
                annotation_file: file.value(i).into(),
                image_id: image_id.value(i).into(),
                path: path.value(i).into(),
                width: w.value(i),
                height: h.value(i),
                image: image.value(i).to_vec(),
                image_format: fmt.value(i).into(),
                image_width: iw.value(i),
                image_height: ih.value(i),
                reencoded: !reencoded.is_null(i) && reencoded.value(i),
                objects: serde_json::from_value(parse(&objects, "objects")?)
                    .map_err(|e| format!("row {}: `objects`: {e}", uid.value(i)))?,
                absent: list(parse(&absent, "absent")?, "absent")?,
                not_exhaustive: list(parse(&partial, "not_exhaustive")?, "not_exhaustive")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_the_table_exactly() {
        let r = ImageRecord {
            uid: "u1".into(),
            source: "coco".into(),
            annotation_file: "a.json".into(),
            image_id: "7".into(),
            path: "x.png".into(),
            width: 640,
            height: 480,
            image: vec![1, 2, 3],
            image_format: "png".into(),
            image_width: 640,
            image_height: 480,
            reencoded: false,
            objects: vec![
                Object {
                    id: "3".into(),
                    category: "coin".into(),
                    // Values that need every bit of an f64.
                    bbox: Some(BBox::new(0.1, 1.0 / 3.0, 200.25, 479.999_999_9)),
                    point: Some([5.5, 6.0]),
                    crowd: true,
                    clipped: true,
                    expressions: vec!["the shiny one".into()],
                },
                Object {
                    id: "4".into(),
                    category: "dog".into(),
                    bbox: None,
                    point: Some([1.0, 2.0]),
                    crowd: false,
                    clipped: false,
                    expressions: vec![],
                },
            ],
            absent: vec!["cat".into()],
            not_exhaustive: vec![],
        };
        let batch = to_batch(std::slice::from_ref(&r)).unwrap();
        assert_eq!(batch.schema(), schema());
        assert_eq!(from_batch(&batch).unwrap(), vec![r]);
    }
}
