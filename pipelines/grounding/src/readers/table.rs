//! Record files — JSON arrays, JSON objects holding a record list, JSON Lines, Parquet (e.g. a
//! Hugging Face dataset shard) — read row by row as JSON values, and grouped by image.
//!
//! Referring-expression and point datasets list one row per (image, object or label), with
//! the image repeated (RefCOCO on the Hub embeds the same photo in every row; PixMo repeats
//! the URL). [`read_grouped`] therefore reads a file in two passes: the first parses every
//! row's metadata (never image bytes) and groups rows by image; the second, only when images
//! are embedded, streams the image column and builds each image's record at its last row.
//! Memory holds the metadata of one file and one image at a time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type,
};
use serde_json::{Map, Value};
use weft_shards::reader::Shard;

use super::{Built, Problem};
use crate::error::GroundingError;
use crate::images::{ImageLoader, ImageSource, LoadedImage};
use crate::json_stream::stream_records;

/// Keys under which a JSON object file may hold its records.
pub const RECORD_KEYS: &[&str] = &["refs", "annotations", "data", "records", "items", "rows"];

/// One row of a record file.
#[derive(Debug, Clone)]
pub struct Row {
    /// 0-based position in the file.
    pub index: u64,
    /// The row's fields (image bytes left out).
    pub value: Value,
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn bad(path: &Path, e: impl std::fmt::Display) -> GroundingError {
    GroundingError::Annotations {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Calls `f` with every row's fields, in file order; a Parquet file's `image_column` (bytes)
/// is not read.
pub fn for_each_row(
    path: &Path,
    image_column: &str,
    mut f: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), GroundingError> {
    let mut index = 0u64;
    if !is_parquet(path) {
        return stream_records(path, RECORD_KEYS, |value| {
            let r = f(Row { index, value });
            index += 1;
            r
        });
    }
    let shard = Shard::open(path).map_err(|e| bad(path, e))?;
    let names: Vec<String> = shard
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != image_column)
        .collect();
    let cols: Vec<&str> = names.iter().map(String::as_str).collect();
    for batch in shard.read(Some(&cols), 512).map_err(|e| bad(path, e))? {
        let batch = batch.map_err(|e| bad(path, e))?;
        for i in 0..batch.num_rows() {
            f(Row {
                index,
                value: row_value(&batch, i),
            })
            .map_err(|e| bad(path, e))?;
            index += 1;
        }
    }
    Ok(())
}

/// Calls `f(row index, bytes)` for every row of a Parquet file's image column: a binary
/// column or a Hugging Face `Image` struct (`{bytes, path}`); `None` where the row has none.
pub fn for_each_image(
    path: &Path,
    image_column: &str,
    mut f: impl FnMut(u64, Option<&[u8]>) -> Result<(), String>,
) -> Result<(), GroundingError> {
    let shard = Shard::open(path).map_err(|e| bad(path, e))?;
    let mut index = 0u64;
    for batch in shard
        .read(Some(&[image_column]), 64)
        .map_err(|e| bad(path, e))?
    {
        let batch = batch.map_err(|e| bad(path, e))?;
        let col = batch.column(0);
        let bytes_col: Arc<dyn Array> = match col.data_type() {
            DataType::Binary | DataType::LargeBinary => col.clone(),
            DataType::Struct(_) => col
                .as_struct()
                .column_by_name("bytes")
                .cloned()
                .ok_or_else(|| bad(path, format!("`{image_column}` has no `bytes` field")))?,
            other => {
                return Err(bad(
                    path,
                    format!("`{image_column}` is {other}, not image bytes"),
                ));
            }
        };
        for i in 0..batch.num_rows() {
            let v: Option<&[u8]> = if col.is_null(i) || bytes_col.is_null(i) {
                None
            } else if let Some(b) = bytes_col.as_binary_opt::<i32>() {
                Some(b.value(i))
            } else {
                bytes_col.as_binary_opt::<i64>().map(|b| b.value(i))
            };
            f(index, v).map_err(|e| bad(path, e))?;
            index += 1;
        }
    }
    Ok(())
}

fn row_value(batch: &RecordBatch, i: usize) -> Value {
    let mut m = Map::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        m.insert(field.name().clone(), cell(col.as_ref(), i));
    }
    Value::Object(m)
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or_else(
        || {
            Value::String(if v.is_nan() {
                "NaN".into()
            } else if v > 0.0 {
                "Infinity".into()
            } else {
                "-Infinity".into()
            })
        },
        Value::Number,
    )
}

/// One Arrow value as JSON (lists, structs, strings, numbers, booleans; bytes become null).
fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => {
            let c = arrow::compute::cast(&a.slice(i, 1), &DataType::Int64).ok();
            c.map_or(Value::Null, |c| {
                c.as_primitive::<Int64Type>().value(0).into()
            })
        }
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(i).into()),
        DataType::LargeUtf8 => Value::String(a.as_string::<i64>().value(i).into()),
        DataType::List(_) => {
            let l = a.as_list::<i32>().value(i);
            Value::Array((0..l.len()).map(|j| cell(l.as_ref(), j)).collect())
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>().value(i);
            Value::Array((0..l.len()).map(|j| cell(l.as_ref(), j)).collect())
        }
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list().value(i);
            Value::Array((0..l.len()).map(|j| cell(l.as_ref(), j)).collect())
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), cell(c.as_ref(), i)))
                    .collect(),
            )
        }
        _ => Value::Null,
    }
}

/// Where a row's image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingImage {
    /// A file, URL or data URI.
    Source(ImageSource),
    /// Bytes in the Parquet image column of the row.
    Embedded,
}

/// A parsed row: its image and the layout's payload.
#[derive(Debug, Clone)]
pub struct Parsed<E> {
    /// Rows with equal keys share an image.
    pub image_key: String,
    /// The image.
    pub image: PendingImage,
    /// Expected sha256 of the image bytes (hex), if the dataset gives one.
    pub sha256: Option<String>,
    /// Layout-specific content.
    pub entry: E,
}

/// A dataset layout read through [`read_grouped`].
pub trait GroupedLayout {
    /// One row's content.
    type Entry;
    /// Parses one row (`Err`: the row is quarantined as one record).
    fn parse(&self, row: &Row) -> Result<Parsed<Self::Entry>, Problem>;
    /// Input records one parsed row stands for (≥ 1).
    fn records(&self, entry: &Self::Entry) -> u64;
    /// Builds one image's record from its rows and its image (or the image's failure).
    fn build(
        &self,
        image_key: &str,
        entries: Vec<(u64, Self::Entry)>,
        image: Result<LoadedImage, GroundingError>,
    ) -> Built;
}

struct Group<E> {
    key: String,
    image: PendingImage,
    sha256: Option<String>,
    last_row: u64,
    entries: Vec<(u64, E)>,
}

/// Reads one record file through `layout`, calling `emit` once per image (in the order of
/// each image's last row) and once for rows that failed to parse (a [`Built`] without a
/// record). A file that cannot be read as a whole is an error naming it.
pub fn read_grouped<L: GroupedLayout>(
    layout: &L,
    path: &Path,
    image_column: &str,
    loader: &ImageLoader,
    mut emit: impl FnMut(Built) -> Result<(), String>,
) -> Result<(), GroundingError> {
    let mut groups: Vec<Group<L::Entry>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut failed = Built::default();
    let file = path.display().to_string();
    for_each_row(path, image_column, |row| {
        match layout.parse(&row) {
            Ok(p) => {
                let g = *by_key.entry(p.image_key.clone()).or_insert_with(|| {
                    groups.push(Group {
                        key: p.image_key.clone(),
                        image: p.image.clone(),
                        sha256: p.sha256.clone(),
                        last_row: row.index,
                        entries: Vec::new(),
                    });
                    groups.len() - 1
                });
                groups[g].last_row = row.index;
                groups[g].entries.push((row.index, p.entry));
            }
            Err(problem) => {
                failed.consume(1);
                failed.quarantine(format!("{file}#row={}", row.index), problem);
            }
        }
        Ok(())
    })?;
    if failed.records_in > 0 {
        emit(failed).map_err(|e| bad(path, e))?;
    }
    groups.sort_by_key(|g| g.last_row);
    let embedded = groups.iter().any(|g| g.image == PendingImage::Embedded);
    let mut build = |g: Group<L::Entry>, bytes: Option<&[u8]>| -> Result<(), String> {
        let image = match (&g.image, bytes) {
            (PendingImage::Source(src), _) => loader.load(src, g.sha256.as_deref()),
            (PendingImage::Embedded, Some(b)) => {
                loader.load(&ImageSource::Bytes(b.to_vec()), g.sha256.as_deref())
            }
            (PendingImage::Embedded, None) => Err(GroundingError::image(
                "missing_image",
                format!(
                    "{file}#row={}: no image bytes in `{image_column}`",
                    g.last_row
                ),
            )),
        };
        emit(layout.build(&g.key, g.entries, image))
    };
    if !embedded {
        for g in groups {
            build(g, None).map_err(|e| bad(path, e))?;
        }
        return Ok(());
    }
    let mut pending = groups.into_iter().peekable();
    for_each_image(path, image_column, |row, bytes| {
        while let Some(g) = pending.next_if(|g| g.last_row == row) {
            build(g, bytes)?;
        }
        Ok(())
    })?;
    for g in pending {
        build(g, None).map_err(|e| bad(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Float64Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::{Field, Fields, Schema};

    #[test]
    fn parquet_rows_become_json_and_images_stream_separately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let points = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.5), Some(f64::NAN)]),
            None,
        ]);
        let image = StructArray::new(
            Fields::from(vec![
                Field::new("bytes", DataType::Binary, true),
                Field::new("path", DataType::Utf8, true),
            ]),
            vec![
                Arc::new(BinaryArray::from(vec![Some(&b"abc"[..]), None])),
                Arc::new(StringArray::from(vec![Some("a.jpg"), None])),
            ],
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("xs", points.data_type().clone(), true),
            Field::new("image", image.data_type().clone(), true),
            Field::new("score", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(points),
                Arc::new(image),
                Arc::new(Float64Array::from(vec![0.5, 2.0])),
            ],
        )
        .unwrap();
        weft_shards::writer::write_single_file(&path, schema, &[batch]).unwrap();
        let mut rows = Vec::new();
        for_each_row(&path, "image", |r| {
            rows.push(r.value);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            rows,
            vec![
                serde_json::json!({"label": "a", "xs": [1.5, "NaN"], "score": 0.5}),
                serde_json::json!({"label": "b", "xs": null, "score": 2.0}),
            ]
        );
        let mut images = Vec::new();
        for_each_image(&path, "image", |i, b| {
            images.push((i, b.map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
        assert_eq!(images, vec![(0, Some(b"abc".to_vec())), (1, None)]);
    }
}
