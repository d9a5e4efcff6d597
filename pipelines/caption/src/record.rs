//! The two tables the caption stages pass along, and typed access to their columns.
//!
//! - **raw** (`caption_source` → `normalise_images`): `uid` (unique record id: relative path,
//!   `list:row` or `sample id/image`), `path` (file, URL or shard locator), `image` (bytes as
//!   fetched), `alt_text`, `extra` (JSON object of provenance).
//! - **images** (every stage after `normalise_images`): the raw columns with checked bytes plus
//!   `width`, `height`, `format`, `sha256`, `phash`, `dhash`, `feature` (clustering vector).
//!   Stages annotate records by adding keys to `extra` (cluster, duplicates, recaption); the
//!   sample stage copies them into `meta`.
//! - **groups** (global dedup phases → `drop_near_duplicates`): `key` (uid), `keep` (uid of
//!   the representative), `members` (group size), `reason` (why a non-representative goes).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float32Array, Int32Array, ListArray, RecordBatch,
    StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Float32Type, Int32Type, Schema, SchemaRef, UInt64Type};
use serde_json::{Map, Value};

/// Schema of the raw table.
pub fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("image", DataType::Binary, false),
        Field::new("alt_text", DataType::Utf8, true),
        Field::new("extra", DataType::Utf8, false),
    ]))
}

fn feature_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, false)))
}

/// Schema of the image table.
pub fn image_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("image", DataType::Binary, false),
        Field::new("width", DataType::Int32, false),
        Field::new("height", DataType::Int32, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("alt_text", DataType::Utf8, true),
        Field::new("phash", DataType::UInt64, false),
        Field::new("dhash", DataType::UInt64, false),
        Field::new("feature", feature_type(), false),
        Field::new("extra", DataType::Utf8, false),
    ]))
}

/// Schema of a groups table.
pub fn groups_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("keep", DataType::Utf8, false),
        Field::new("members", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// Checks that `schema` has every column of `want` with the same type.
pub fn require(schema: &Schema, want: &Schema) -> Result<(), String> {
    for f in want.fields() {
        weft_engine::stage::require_column(schema, f.name(), f.data_type())?;
    }
    Ok(())
}

/// A `Utf8` column.
pub fn strs<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| format!("column `{name}` missing or not utf8"))
}

/// A `Binary` column.
pub fn bins<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a BinaryArray, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| format!("column `{name}` missing or not binary"))
}

/// An `Int32` column.
pub fn i32s<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int32Array, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| format!("column `{name}` missing or not int32"))
}

/// A `UInt64` column.
pub fn u64s<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a UInt64Array, String> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| format!("column `{name}` missing or not uint64"))
}

/// The `feature` list column.
pub fn features(b: &RecordBatch) -> Result<&ListArray, String> {
    b.column_by_name("feature")
        .and_then(|c| c.as_list_opt::<i32>())
        .ok_or_else(|| "column `feature` missing or not a list".to_string())
}

/// Row `i` of a feature list column.
pub fn feature_row(list: &ListArray, i: usize) -> Vec<f32> {
    let v = list.value(i);
    v.as_primitive::<Float32Type>().values().to_vec()
}

/// A feature list column from rows.
pub fn feature_column(rows: &[Vec<f32>]) -> ArrayRef {
    let mut offsets = vec![0i32];
    let mut values = Vec::new();
    for r in rows {
        values.extend_from_slice(r);
        offsets.push(values.len() as i32);
    }
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        arrow::buffer::OffsetBuffer::new(offsets.into()),
        Arc::new(Float32Array::from(values)),
        None,
    ))
}

/// The value at `i`, `None` when null.
pub fn opt(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// `extra` of row `i` as a JSON object.
pub fn extra(a: &StringArray, i: usize) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(a.value(i)) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!("`extra` of row {i} is not a JSON object")),
    }
}

/// `batch` with column `name` replaced.
pub fn replace(batch: &RecordBatch, name: &str, col: ArrayRef) -> Result<RecordBatch, String> {
    let idx = batch.schema().index_of(name).map_err(|e| e.to_string())?;
    let mut cols = batch.columns().to_vec();
    cols[idx] = col;
    RecordBatch::try_new(batch.schema(), cols).map_err(|e| e.to_string())
}

/// `batch` with `extra` of each row updated by `f`.
pub fn update_extra(
    batch: &RecordBatch,
    mut f: impl FnMut(usize, &mut Map<String, Value>),
) -> Result<RecordBatch, String> {
    let ex = strs(batch, "extra")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut m = extra(ex, i)?;
        f(i, &mut m);
        out.push(Value::Object(m).to_string());
    }
    replace(batch, "extra", Arc::new(StringArray::from(out)))
}
