//! Finding shards (files, globs, stage folders, run folders) and streaming them by row group
//! with column projection, so that statistics never touch image bytes.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaData;

use crate::Error;
use crate::manifest::{MANIFEST_FILE, Manifest, RUN_FILE, RunSummary};

/// Expands shard arguments into Parquet file paths, in a stable order.
///
/// Each argument may be a file, a glob, a stage output folder (its `manifest.json` lists the
/// shards), a run output folder (its `_run.json` names the final stages) or a plain folder of
/// `.parquet` files.
pub fn resolve_paths<S: AsRef<str>>(args: &[S]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        if arg.contains(['*', '?', '[']) {
            let matches =
                glob::glob(arg).map_err(|e| Error::Config(format!("bad glob `{arg}`: {e}")))?;
            let mut n = 0;
            for m in matches {
                let p = m.map_err(|e| Error::Config(format!("glob `{arg}`: {e}")))?;
                resolve_one(&p, &mut out)?;
                n += 1;
            }
            if n == 0 {
                return Err(Error::NotFound(PathBuf::from(arg)));
            }
        } else {
            resolve_one(Path::new(arg), &mut out)?;
        }
    }
    Ok(out)
}

fn resolve_one(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if !path.is_dir() {
        return Err(Error::NotFound(path.to_path_buf()));
    }
    let manifest = path.join(MANIFEST_FILE);
    if manifest.is_file() {
        let m = Manifest::read(&manifest)?;
        out.extend(m.shards.iter().map(|s| path.join(&s.file)));
        return Ok(());
    }
    if path.join("_markers").is_dir() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "stage output is incomplete (no manifest.json yet): finish the run, or `weft merge` the ranks' output".into(),
        });
    }
    let run = path.join(RUN_FILE);
    if run.is_file() {
        let text = std::fs::read_to_string(&run).map_err(|e| Error::io(&run, e))?;
        let summary: RunSummary = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: run.clone(),
            reason: e.to_string(),
        })?;
        for sink in &summary.sinks {
            resolve_one(&path.join(sink), out)?;
        }
        return Ok(());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    if files.is_empty() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "no shards found (no manifest.json, _run.json or .parquet files)".into(),
        });
    }
    files.sort();
    out.extend(files);
    Ok(())
}

/// An opened shard: its footer is read, no data yet.
pub struct Shard {
    path: PathBuf,
    builder: ParquetRecordBatchReaderBuilder<File>,
}

impl Shard {
    /// Opens a shard, naming the file if it is missing or not Parquet.
    pub fn open(path: &Path) -> Result<Shard, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("not a readable Parquet file: {e}"),
            })?;
        Ok(Shard {
            path: path.to_path_buf(),
            builder,
        })
    }

    /// The shard's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Arrow schema stored in the file.
    pub fn schema(&self) -> &SchemaRef {
        self.builder.schema()
    }

    /// The Parquet footer.
    pub fn metadata(&self) -> &ParquetMetaData {
        self.builder.metadata()
    }

    /// Rows in the file (from the footer).
    pub fn num_rows(&self) -> u64 {
        self.metadata().file_metadata().num_rows() as u64
    }

    /// Streams the file by row group, reading only `columns` (top-level names; all when `None`).
    pub fn read(self, columns: Option<&[&str]>, batch_size: usize) -> Result<BatchIter, Error> {
        let mut builder = self.builder.with_batch_size(batch_size.max(1));
        if let Some(cols) = columns {
            let schema = builder.schema().clone();
            let mut roots = Vec::new();
            for c in cols {
                let idx = schema.index_of(c).map_err(|_| Error::Corrupt {
                    path: self.path.clone(),
                    reason: format!("no column `{c}`"),
                })?;
                roots.push(idx);
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder = builder.with_projection(mask);
        }
        let reader = builder.build().map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(BatchIter {
            path: self.path,
            reader,
        })
    }
}

/// Iterator over a shard's record batches; errors name the file.
pub struct BatchIter {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next().map(|r| {
            r.map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })
        })
    }
}

/// Reads a whole (small) file into batches.
pub fn read_all(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    Shard::open(path)?.read(None, 1024)?.collect()
}
