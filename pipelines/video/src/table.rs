//! The video table: what `video_source` writes and the sample stages read — one row per
//! video, in the sample schema plus a `video_table` marker column.
//!
//! Reusing the sample schema keeps the frames in the shard format's own video struct (encoded
//! frames with exact timestamps, fps, duration), so the sample stages copy them into samples
//! without re-encoding. The extra column makes the table *not* a sample shard, so no tool
//! mistakes a row without messages for a training sample.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use weft_shards::{Sample, sample_schema, samples_from_batch, samples_to_batch};

/// The marker column.
pub const MARKER: &str = "video_table";
/// `task` of video table rows.
pub const TASK: &str = "video";

/// The video table schema: the sample schema and [`MARKER`].
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let base = sample_schema();
        let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(MARKER, DataType::Utf8, false));
        Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
    })
    .clone()
}

/// Rows to a video table batch.
pub fn to_batch(rows: &[Sample]) -> Result<RecordBatch, String> {
    let b = samples_to_batch(rows).map_err(|e| e.to_string())?;
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    cols.push(Arc::new(StringArray::from_iter_values(
        rows.iter().map(|_| "1"),
    )));
    RecordBatch::try_new(schema(), cols).map_err(|e| e.to_string())
}

/// A video table batch to rows.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Sample>, String> {
    samples_from_batch(batch).map_err(|e| e.to_string())
}

/// Whether `schema` is a video table.
pub fn check(schema: &Schema) -> Result<(), String> {
    weft_engine::stage::require_column(schema, MARKER, &DataType::Utf8)
        .map_err(|e| format!("{e} (input must be a `video_source` stage)"))
}
