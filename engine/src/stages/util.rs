//! Small helpers for reading typed columns out of record batches inside stages.

use arrow::array::{Array, AsArray, BinaryArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::Int32Type;

use crate::stage::StageResult;

/// A `Utf8` column by name.
pub fn str_col<'a>(batch: &'a RecordBatch, name: &str) -> StageResult<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| format!("column `{name}` missing or not utf8"))
}

/// A `Binary` column by name.
pub fn bin_col<'a>(batch: &'a RecordBatch, name: &str) -> StageResult<&'a BinaryArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| format!("column `{name}` missing or not binary"))
}

/// An `Int32` column by name.
pub fn i32_col<'a>(batch: &'a RecordBatch, name: &str) -> StageResult<&'a Int32Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| format!("column `{name}` missing or not int32"))
}

/// The value at `i`, `None` when null.
pub fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}
