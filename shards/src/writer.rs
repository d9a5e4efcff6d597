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
    /// Roll to a new file once a shard reaches about this many bytes (written bytes plus the
    /// in-memory size of the open row group, checked every ~1/16 of this size).
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

/// A `Write` that hands full buffers to a background thread, which hashes them (sha256 for
/// the manifest) and writes them to the file. Hashing costs about as much CPU as encoding
/// incompressible image bytes, so doing it beside the encoder instead of inline roughly
/// halves the time to write an image shard (see `benches/writer.rs`).
struct BackgroundSink {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<std::io::Result<(Sha256, u64)>>>,
}

const SINK_CHUNK: usize = 4 << 20;

impl BackgroundSink {
    fn new(mut file: File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let worker = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            for chunk in rx {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
                bytes += chunk.len() as u64;
            }
            file.flush()?;
            Ok((hasher, bytes))
        });
        BackgroundSink {
            buf: Vec::with_capacity(SINK_CHUNK),
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SINK_CHUNK));
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(chunk).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self
                .join()
                .err()
                .unwrap_or_else(|| std::io::Error::other("shard writer thread stopped")))
        }
    }

    fn join(&mut self) -> std::io::Result<(Sha256, u64)> {
        self.tx = None;
        match self.worker.take() {
            Some(w) => w
                .join()
                .map_err(|_| std::io::Error::other("shard writer thread panicked"))?,
            None => Err(std::io::Error::other("shard writer thread already joined")),
        }
    }

    /// Writes what is buffered, waits for the thread and returns (sha256, bytes written).
    fn finish(mut self) -> std::io::Result<(Sha256, u64)> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl Write for BackgroundSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SINK_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(()) // durability comes from `finish`; flushing here would only shrink the chunks
    }
}

struct OpenShard {
    writer: ArrowWriter<BackgroundSink>,
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
            let sink = BackgroundSink::new(file);
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
        // Feed in slices so file limits are honoured within large batches: small enough that a
        // file overshoots its byte target by at most ~1/16, large enough that per-call overhead
        // stays negligible (each slice is one `ArrowWriter::write`).
        let row_bytes = (batch.get_array_memory_size() / batch.num_rows().max(1)).max(1) as u64;
        let step = usize::try_from(self.opts.target_bytes / 16 / row_bytes)
            .unwrap_or(usize::MAX)
            .clamp(1, self.opts.row_group_rows.max(1));
        let mut offset = 0;
        while offset < batch.num_rows() {
            let in_shard = self.open.as_ref().map_or(0, |s| s.rows);
            let room = usize::try_from(self.opts.max_rows.saturating_sub(in_shard).max(1))
                .unwrap_or(usize::MAX);
            let len = step.min(batch.num_rows() - offset).min(room);
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
        let sink = shard.writer.into_inner()?;
        let (hasher, bytes) = sink.finish().map_err(|e| Error::io(&shard.tmp, e))?;
        let path = self.dir.join(&shard.name);
        std::fs::rename(&shard.tmp, &path).map_err(|e| Error::io(&path, e))?;
        self.done.push(ShardInfo {
            file: shard.name,
            rows: shard.rows,
            bytes,
            sha256: hex::encode(hasher.finalize()),
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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::reader::Shard;
    use crate::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn batch(rows: usize) -> RecordBatch {
        let samples: Vec<Sample> = (0..rows)
            .map(|i| {
                let img = Image {
                    // Incompressible, like encoded images.
                    bytes: noise(i as u64, 10_000),
                    path: None,
                    width: 1,
                    height: 1,
                    format: "png".into(),
                };
                let msgs = vec![Message::new(
                    "user",
                    vec![
                        Content::Image { index: 0 },
                        Content::text(format!("row {i}")),
                    ],
                )];
                Sample::new("t", "s", msgs, vec![img], vec![], Default::default())
            })
            .collect();
        samples_to_batch(&samples).unwrap()
    }

    #[test]
    fn rolls_files_by_rows_and_bytes_and_publishes_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WriterOptions {
            max_rows: 40,
            row_group_rows: 16,
            ..WriterOptions::default()
        };
        let mut w = ShardWriter::new(dir.path(), "p", sample_schema(), opts).unwrap();
        w.write(&batch(100)).unwrap();
        let files = w.finish().unwrap();
        assert_eq!(
            files.iter().map(|f| f.rows).collect::<Vec<_>>(),
            [40, 40, 20]
        );
        assert_eq!(files[0].file, "p-00000.parquet");
        for f in &files {
            let bytes = std::fs::read(dir.path().join(&f.file)).unwrap();
            assert_eq!(bytes.len() as u64, f.bytes);
            assert_eq!(hex::encode(Sha256::digest(&bytes)), f.sha256);
            let shard = Shard::open(&dir.path().join(&f.file)).unwrap();
            assert_eq!(shard.num_rows(), f.rows);
            assert!(
                shard
                    .metadata()
                    .row_groups()
                    .iter()
                    .all(|rg| rg.num_rows() <= 16)
            );
        }
        // Nothing temporary is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);

        let dir2 = tempfile::tempdir().unwrap();
        let opts = WriterOptions {
            target_bytes: 300_000,
            ..WriterOptions::default()
        };
        let mut w = ShardWriter::new(dir2.path(), "p", sample_schema(), opts).unwrap();
        w.write(&batch(200)).unwrap();
        let files = w.finish().unwrap();
        assert!(files.len() >= 2, "{files:?}");
        assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 200);
        // Files roll once they reach the target (checked every 64 rows at most).
        for f in &files[..files.len() - 1] {
            assert!(
                f.bytes >= 300_000 && f.bytes < 300_000 + 64 * 11_000,
                "{f:?}"
            );
        }
    }

    #[test]
    fn same_input_gives_identical_bytes_and_keeps_hf_metadata() {
        let write = || {
            let dir = tempfile::tempdir().unwrap();
            let mut w =
                ShardWriter::new(dir.path(), "p", sample_schema(), WriterOptions::default())
                    .unwrap();
            w.write(&batch(10)).unwrap();
            let f = w.finish().unwrap().remove(0);
            (std::fs::read(dir.path().join(&f.file)).unwrap(), dir)
        };
        let (a, dir) = write();
        let (b, _) = write();
        assert!(a == b);
        let shard = Shard::open(&dir.path().join("p-00000.parquet")).unwrap();
        let md = shard.schema().metadata();
        assert_eq!(
            md.get(crate::schema::WEFT_VERSION_KEY).map(String::as_str),
            Some("1")
        );
        assert!(
            md.get(crate::schema::HF_FEATURES_KEY)
                .unwrap()
                .contains("\"Image\"")
        );
    }
}
