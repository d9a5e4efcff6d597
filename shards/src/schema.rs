//! The sample schema: one Parquet row = one training sample in the interleaved message format.
//!
//! The Arrow schema here is the single source of truth; `docs/shard-format.md` documents every
//! column and the Hugging Face `datasets` features JSON that makes `load_dataset("parquet")`
//! decode `images` to PIL images with no user code.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde_json::{Value, json};

/// Version of the sample schema, stored in every shard's metadata under [`WEFT_VERSION_KEY`].
pub const SCHEMA_VERSION: u32 = 1;
/// Schema-metadata key holding the weft schema version.
pub const WEFT_VERSION_KEY: &str = "weft.schema_version";
/// Schema-metadata key Hugging Face `datasets` reads its features from.
pub const HF_FEATURES_KEY: &str = "huggingface";

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn list_of(fields: Vec<Field>) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(Fields::from(fields)),
        true,
    )))
}

/// `struct<bytes: binary, path: string>` — the Hugging Face `Image` storage layout.
pub fn image_struct_fields() -> Vec<Field> {
    vec![Field::new("bytes", DataType::Binary, true), utf8("path")]
}

/// Fields of one message content part: `type` is `text`, `image` or `video`.
pub fn content_fields() -> Vec<Field> {
    vec![
        utf8("type"),
        utf8("text"),
        Field::new("index", DataType::Int32, true),
    ]
}

/// Fields of one message.
pub fn message_fields() -> Vec<Field> {
    vec![
        utf8("role"),
        Field::new("content", list_of(content_fields()), true),
    ]
}

/// Fields of one `image_meta` entry (parallel to `images`).
pub fn image_meta_fields() -> Vec<Field> {
    vec![
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new("num_bytes", DataType::Int64, true),
        utf8("format"),
    ]
}

/// Fields of one video.
pub fn video_fields() -> Vec<Field> {
    vec![
        Field::new("frames", list_of(image_struct_fields()), true),
        Field::new(
            "timestamps",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            true,
        ),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new("fps", DataType::Float64, true),
        Field::new("duration", DataType::Float64, true),
        utf8("path"),
    ]
}

/// The sample schema, with the weft version and Hugging Face features in its metadata.
pub fn sample_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields = vec![
                utf8("id"),
                utf8("task"),
                utf8("source"),
                Field::new("messages", list_of(message_fields()), true),
                Field::new("images", list_of(image_struct_fields()), true),
                Field::new("image_meta", list_of(image_meta_fields()), true),
                Field::new("videos", list_of(video_fields()), true),
                utf8("meta"),
            ];
            let metadata = HashMap::from([
                (WEFT_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string()),
                (HF_FEATURES_KEY.to_string(), hf_features().to_string()),
            ]);
            Arc::new(Schema::new_with_metadata(fields, metadata))
        })
        .clone()
}

/// True when `schema` has the sample columns with the sample types (metadata ignored).
pub fn is_sample_schema(schema: &Schema) -> bool {
    let want = sample_schema();
    schema.fields().len() == want.fields().len()
        && schema
            .fields()
            .iter()
            .zip(want.fields().iter())
            .all(|(a, b)| a.name() == b.name() && a.data_type().equals_datatype(b.data_type()))
}

/// The schema version a shard declares, if any.
pub fn schema_version(schema: &Schema) -> Option<u32> {
    schema
        .metadata()
        .get(WEFT_VERSION_KEY)
        .and_then(|v| v.parse().ok())
}

fn value(dtype: &str) -> Value {
    json!({"dtype": dtype, "_type": "Value"})
}

fn list(feature: Value) -> Value {
    json!({"_type": "List", "feature": feature})
}

/// The `datasets` features JSON stored under the `huggingface` metadata key.
pub fn hf_features() -> Value {
    let image = json!({"_type": "Image"});
    json!({"info": {"features": {
        "id": value("string"),
        "task": value("string"),
        "source": value("string"),
        "messages": list(json!({
            "role": value("string"),
            "content": list(json!({"type": value("string"), "text": value("string"), "index": value("int32")})),
        })),
        "images": list(image.clone()),
        "image_meta": list(json!({
            "width": value("int32"), "height": value("int32"),
            "num_bytes": value("int64"), "format": value("string"),
        })),
        "videos": list(json!({
            "frames": list(image),
            "timestamps": list(value("float64")),
            "width": value("int32"), "height": value("int32"),
            "fps": value("float64"), "duration": value("float64"),
            "path": value("string"),
        })),
        "meta": value("string"),
    }}})
}
