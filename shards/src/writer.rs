//! Shard writer: rolls Parquet files by bytes and rows, sizes row groups for streaming readers,
//! compresses with zstd and publishes each file atomically (temp file + rename).
//!
//! File names are `{prefix}-{seq:05}.parquet`; nothing with that name exists until the file is
//! complete, so a killed process leaves only `.tmp` files behind, which the next run overwrites.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Knobs of the shard writer. Defaults suit image-heavy samples read by streaming loaders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterOptions {
    /// Roll to a new file once a shard reaches this many bytes.
    pub target_bytes: u64,
    /// Roll to a new file once a shard holds this many rows.
    pub max_rows: u64,
    /// Close a row group once its estimated encoded size reaches this many bytes.
    pub row_group_bytes: u64,
    /// Close a row group once it holds this many rows.
    pub row_group_rows: usize,
    /// zstd level.
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            target_bytes: 512 << 20,
            max_rows: 1_000_000,
            row_group_bytes: 64 << 20,
            row_group_rows: 1024,
            zstd_level: 3,
        }
    }
}

/// What the writer produced: one entry per published file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name, relative to the writer's directory.
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
}

/// A `Write` that hashes and counts what passes through it, so publishing needs no re-read.
struct HashingWrite {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct OpenShard {
    writer: ArrowWriter<HashingWrite>,
    tmp: PathBuf,
    name: String,
    rows: u64,
}

/// Writes record batches of one schema into rolling Parquet shards.
pub struct ShardWriter {
    dir: PathBuf,
    prefix: String,
    schema: SchemaRef,
    props: WriterProperties,
    opts: WriterOptions,
    seq: usize,
    open: Option<OpenShard>,
    done: Vec<ShardInfo>,
}

/// Columns holding encoded media: already compressed, so dictionaries and statistics are waste.
fn media_columns(schema: &SchemaRef) -> Vec<ColumnPath> {
    let mut out = Vec::new();
    if schema.field_with_name("images").is_ok() {
        out.push(ColumnPath::from(vec![
            "images".into(),
            "list".into(),
            "item".into(),
            "bytes".into(),
        ]));
    }
    if schema.field_with_name("videos").is_ok() {
        out.push(ColumnPath::from(
            ["videos", "list", "item", "frames", "list", "item", "bytes"]
                .map(String::from)
                .to_vec(),
        ));
    }
    out
}

impl ShardWriter {
    /// A writer publishing `{dir}/{prefix}-{seq:05}.parquet` files.
    pub fn new(
        dir: impl Into<PathBuf>,
        prefix: &str,
        schema: SchemaRef,
        opts: WriterOptions,
    ) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let level =
            ZstdLevel::try_new(opts.zstd_level).map_err(|e| Error::Config(e.to_string()))?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some((opts.row_group_bytes as usize).max(1)))
            .set_created_by(format!("weft {}", env!("CARGO_PKG_VERSION")));
        for col in media_columns(&schema) {
            props = props
                .set_column_dictionary_enabled(col.clone(), false)
                .set_column_statistics_enabled(col, EnabledStatistics::None);
        }
        Ok(ShardWriter {
            dir,
            prefix: prefix.to_string(),
            schema,
            props: props.build(),
            opts,
            seq: 0,
            open: None,
            done: Vec::new(),
        })
    }

    /// File name of shard `seq` with this prefix.
    pub fn file_name(prefix: &str, seq: usize) -> String {
        format!("{prefix}-{seq:05}.parquet")
    }

    fn open_next(&mut self) -> Result<&mut OpenShard, Error> {
        if self.open.is_none() {
            let name = Self::file_name(&self.prefix, self.seq);
            self.seq += 1;
            let tmp = self.dir.join(format!(".{name}.tmp"));
            let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let sink = HashingWrite {
                inner: BufWriter::with_capacity(1 << 20, file),
                hasher: Sha256::new(),
                bytes: 0,
            };
            let writer = ArrowWriter::try_new(sink, self.schema.clone(), Some(self.props.clone()))?;
            self.open = Some(OpenShard {
                writer,
                tmp,
                name,
                rows: 0,
            });
        }
        Ok(self.open.as_mut().expect("just opened"))
    }

    /// Appends a batch (its schema must match the writer's, metadata aside).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())?;
        // Feed in slices so row-group and file limits are honoured within large batches.
        let step = self.opts.row_group_rows.clamp(1, 64);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = step.min(batch.num_rows() - offset);
            let slice = batch.slice(offset, len);
            offset += len;
            let (target_bytes, max_rows) = (self.opts.target_bytes, self.opts.max_rows);
            let shard = self.open_next()?;
            shard.writer.write(&slice)?;
            shard.rows += len as u64;
            let size = shard.writer.bytes_written() as u64 + shard.writer.in_progress_size() as u64;
            if size >= target_bytes || shard.rows >= max_rows {
                self.close_current()?;
            }
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), Error> {
        let Some(shard) = self.open.take() else {
            return Ok(());
        };
        let mut sink = shard.writer.into_inner()?;
        sink.flush().map_err(|e| Error::io(&shard.tmp, e))?;
        let path = self.dir.join(&shard.name);
        std::fs::rename(&shard.tmp, &path).map_err(|e| Error::io(&path, e))?;
        self.done.push(ShardInfo {
            file: shard.name,
            rows: shard.rows,
            bytes: sink.bytes,
            sha256: hex::encode(sink.hasher.finalize()),
        });
        Ok(())
    }

    /// Publishes the last open file and returns every file written, in order.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>, Error> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.done))
    }

    /// The directory files are published into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes all `batches` to `path` as one Parquet file, atomically (small side files such as
/// quarantine tables). Returns the number of rows written.
pub fn write_single_file(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, Error> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("weft {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), Arc::clone(&schema), Some(props))?;
    let mut rows = 0;
    for b in batches {
        writer.write(&RecordBatch::try_new(
            Arc::clone(&schema),
            b.columns().to_vec(),
        )?)?;
        rows += b.num_rows() as u64;
    }
    writer.close()?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(rows)
}
