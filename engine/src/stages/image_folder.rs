//! `image_folder`: a source stage over image files under a folder (recursive, sorted), with
//! captions from an optional JSONL sidecar (`{"file": "a.jpg", "caption": "…"}` per line).
//!
//! Every file is either emitted (after a full decode proves it is an image) or quarantined
//! with the reason: `unreadable`, `unknown_format`, `too_large` (checked from the header,
//! before any pixel is allocated) or `undecodable`.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{BinaryBuilder, Int32Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::inputs::{file_key, relative, resolve_inputs};
use crate::registry::parse_config;
use crate::stage::{Split, SplitContext, Stage, StageIo, StageResult};

fn default_files_per_split() -> usize {
    64
}
fn default_extensions() -> Vec<String> {
    ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]
        .map(String::from)
        .to_vec()
}
fn default_max_pixels() -> u64 {
    // The image crate's own decompression-bomb default is 512 MiB of allocation; 178 Mpx is
    // PIL's `MAX_IMAGE_PIXELS` × 2, the limit users of PIL-based tools already know.
    178_956_970
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Folder to scan, relative to the pipeline file.
    path: String,
    /// JSONL sidecar with `file` (relative to `path`) and `caption`.
    #[serde(default)]
    captions: Option<String>,
    #[serde(default = "default_files_per_split")]
    files_per_split: usize,
    #[serde(default = "default_extensions")]
    extensions: Vec<String>,
    #[serde(default = "default_max_pixels")]
    max_pixels: u64,
}

struct ImageFolder {
    cfg: Config,
    captions: OnceLock<Result<HashMap<String, String>, String>>,
}

/// Builds the stage from its config.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if cfg.files_per_split == 0 {
        return Err("`files_per_split` must be at least 1".into());
    }
    Ok(Arc::new(ImageFolder {
        cfg,
        captions: OnceLock::new(),
    }))
}

/// The output schema of `image_folder`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("image", DataType::Binary, false),
        Field::new("width", DataType::Int32, false),
        Field::new("height", DataType::Int32, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, true),
    ]))
}

impl ImageFolder {
    fn root(&self, base: &Path) -> PathBuf {
        base.join(&self.cfg.path)
    }

    fn captions(&self, base: &Path) -> StageResult<&HashMap<String, String>> {
        self.captions
            .get_or_init(|| {
                let Some(rel) = &self.cfg.captions else {
                    return Ok(HashMap::new());
                };
                let path = base.join(rel);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut map = HashMap::new();
                for (i, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    #[derive(Deserialize)]
                    struct Row {
                        file: String,
                        caption: String,
                    }
                    let row: Row = serde_json::from_str(line)
                        .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
                    map.insert(row.file, row.caption);
                }
                Ok(map)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Stage for ImageFolder {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let root = self.root(&ctx.base_dir);
        if !root.is_dir() {
            return Err(format!("{}: not a folder", root.display()));
        }
        let exts: Vec<&str> = self.cfg.extensions.iter().map(String::as_str).collect();
        let files = resolve_inputs(&ctx.base_dir, &self.cfg.path, &exts)?;
        Ok(files
            .chunks(self.cfg.files_per_split)
            .enumerate()
            .map(|(i, chunk)| {
                let key = chunk
                    .iter()
                    .map(|p| file_key(&root, p))
                    .collect::<Vec<_>>()
                    .join("\n");
                Split {
                    index: i as u64,
                    files: Vec::new(),
                    items: chunk.to_vec(),
                    key,
                }
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let root = self.root(io.base_dir());
        let captions = self.captions(io.base_dir())?;
        let mut path_b = StringBuilder::new();
        let mut image_b = BinaryBuilder::new();
        let mut width_b = Int32Builder::new();
        let mut height_b = Int32Builder::new();
        let mut format_b = StringBuilder::new();
        let mut sha_b = StringBuilder::new();
        let mut caption_b = StringBuilder::new();
        for file in &split.items {
            io.add_input(1);
            let rel = relative(&root, file);
            let shown = file.display().to_string();
            let bytes = match std::fs::read(file) {
                Ok(b) => b,
                Err(e) => {
                    io.quarantine(shown, "unreadable", e.to_string());
                    continue;
                }
            };
            let reader = match image::ImageReader::new(Cursor::new(&bytes)).with_guessed_format() {
                Ok(r) if r.format().is_some() => r,
                _ => {
                    io.quarantine(shown, "unknown_format", "not a recognised image format");
                    continue;
                }
            };
            let format = format!("{:?}", reader.format().expect("checked")).to_lowercase();
            let (w, h) = match reader.into_dimensions() {
                Ok(d) => d,
                Err(e) => {
                    io.quarantine(shown, "undecodable", e.to_string());
                    continue;
                }
            };
            if u64::from(w) * u64::from(h) > self.cfg.max_pixels {
                io.quarantine(
                    shown,
                    "too_large",
                    format!("{w}×{h} exceeds max_pixels {}", self.cfg.max_pixels),
                );
                continue;
            }
            if let Err(e) = weft_shards::image_check::check_image(&bytes) {
                io.quarantine(shown, "undecodable", e.to_string());
                continue;
            }
            path_b.append_value(&rel);
            sha_b.append_value(hex::encode(Sha256::digest(&bytes)));
            image_b.append_value(&bytes);
            width_b.append_value(w as i32);
            height_b.append_value(h as i32);
            format_b.append_value(format);
            caption_b.append_option(captions.get(&rel));
        }
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(path_b.finish()),
                Arc::new(image_b.finish()),
                Arc::new(width_b.finish()),
                Arc::new(height_b.finish()),
                Arc::new(format_b.finish()),
                Arc::new(sha_b.finish()),
                Arc::new(caption_b.finish()),
            ],
        )
        .map_err(|e| e.to_string())?;
        io.emit(&batch)
    }
}
