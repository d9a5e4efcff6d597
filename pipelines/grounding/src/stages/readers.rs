//! The reader stages: `coco_objects`, `refcoco_objects`, `pixmo_points` — sources that write
//! the object table (see [`crate::canonical`]).
//!
//! `coco_objects` cuts each annotation file into `splits_per_file` parts of consecutive
//! images without reading it (so a cached stage costs nothing); the first split that needs
//! the file streams it once into an index shared by all splits of the process. Entries that
//! belong to no image (unknown or missing `image_id`) are accounted by part 0, as is a file
//! that is not readable COCO JSON (quarantined as one record, `bad_annotation_file`).
//! The record readers take one split per file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use weft_engine::inputs::{file_key, relative, resolve_inputs};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};

use super::common::{
    Emitter, ImageKeys, d_max_pixels, d_timeout, default_ignore, default_negatives,
};
use crate::canonical;
use crate::images::ImageLoader;
use crate::names::normalise_category;
use crate::readers::ReaderOptions;
use crate::readers::coco::CocoIndex;
use crate::readers::pixmo::PixmoLayout;
use crate::readers::refcoco::{InstanceBox, RefLayout, embeds_images, instances_by_ann_id};
use crate::readers::table::read_grouped;

fn d_splits_per_file() -> usize {
    16
}
fn d_true() -> bool {
    true
}
fn d_image_column() -> String {
    "image".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CocoConfig {
    /// COCO JSON file, folder or glob, relative to the pipeline file.
    annotations: String,
    /// Folder `file_name`s are relative to (default: the annotation file's folder).
    #[serde(default)]
    images: Option<String>,
    #[serde(default = "d_coco")]
    source: String,
    #[serde(default = "d_splits_per_file")]
    splits_per_file: usize,
    #[serde(default = "default_negatives")]
    negatives: usize,
    /// Every category is annotated on every image (false: only LVIS `neg_category_ids`
    /// make negatives).
    #[serde(default = "d_true")]
    exhaustive: bool,
    #[serde(default = "default_ignore")]
    ignore_categories: Vec<String>,
    /// Images over this many pixels are downscaled (re-encoded); others are kept as they are.
    #[serde(default = "d_max_pixels")]
    max_pixels: u64,
    /// Fetch `http(s)` image URLs.
    #[serde(default)]
    fetch_urls: bool,
    /// Timeout per URL, seconds.
    #[serde(default = "d_timeout")]
    timeout_secs: f64,
}

fn d_coco() -> String {
    "coco".into()
}

type IndexCell = Arc<OnceLock<Result<Arc<CocoIndex>, String>>>;

struct CocoObjects {
    cfg: CocoConfig,
    loader: ImageLoader,
    cache: Mutex<HashMap<PathBuf, IndexCell>>,
}

/// Builds `coco_objects`.
pub fn build_coco(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: CocoConfig = parse_config(table)?;
    if cfg.splits_per_file == 0 {
        return Err("`splits_per_file` must be at least 1".into());
    }
    let loader = ImageLoader::new(
        ImageKeys {
            max_pixels: cfg.max_pixels,
            fetch_urls: cfg.fetch_urls,
            timeout_secs: cfg.timeout_secs,
        }
        .options()?,
    );
    Ok(Arc::new(CocoObjects {
        cfg,
        loader,
        cache: Mutex::new(HashMap::new()),
    }))
}

fn reader_options(
    source: &str,
    seed: u64,
    negatives: usize,
    exhaustive: bool,
    ignore: &[String],
) -> ReaderOptions {
    ReaderOptions {
        source: source.to_string(),
        seed,
        negatives,
        exhaustive,
        ignore_categories: ignore.iter().map(|c| normalise_category(c)).collect(),
    }
}

/// The annotation file's name as recorded in samples and hashed into image uids: relative to
/// the folder given in the config, or the bare file name — never the absolute path, so output
/// does not depend on where a dataset or the repository is checked out.
fn recorded_name(base: &Path, spec: &str, file: &Path) -> String {
    let given = base.join(spec);
    let root = if given.is_dir() {
        given
    } else {
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    relative(&root, file)
}

/// `items` of a split: the file and a `part:i/n` or `file` marker.
fn part_of(split: &Split) -> StageResult<(PathBuf, usize, usize)> {
    let file = split.items.first().ok_or("split without a file")?.clone();
    let part = split
        .items
        .get(1)
        .and_then(|p| p.to_str())
        .and_then(|p| p.strip_prefix("part:"))
        .and_then(|p| p.split_once('/'))
        .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)))
        .ok_or("split without a part")?;
    Ok((file, part.0, part.1))
}

impl CocoObjects {
    fn index(&self, file: &Path) -> Result<Arc<CocoIndex>, String> {
        let cell = self
            .cache
            .lock()
            .map_err(|_| "index cache poisoned")?
            .entry(file.to_path_buf())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            CocoIndex::load(file)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
    }
}

impl Stage for CocoObjects {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(canonical::schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let files = resolve_inputs(&ctx.base_dir, &self.cfg.annotations, &["json"])?;
        if files.is_empty() {
            return Err(format!(
                "`annotations = \"{}\"` matches no .json file",
                self.cfg.annotations
            ));
        }
        let n = self.cfg.splits_per_file;
        let mut out = Vec::new();
        for f in files {
            let key = file_key(&ctx.base_dir, &f);
            for i in 0..n {
                out.push(Split {
                    index: out.len() as u64,
                    files: Vec::new(),
                    items: vec![f.clone(), PathBuf::from(format!("part:{i}/{n}"))],
                    key: format!("{key}#part:{i}/{n}"),
                });
            }
        }
        Ok(out)
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let (file, part, parts) = part_of(split)?;
        let index = match self.index(&file) {
            Ok(i) => i,
            Err(msg) => {
                if part == 0 {
                    io.add_input(1);
                    io.quarantine(file.display().to_string(), "bad_annotation_file", msg);
                }
                return Ok(());
            }
        };
        if part == 0 {
            for (source, p) in &index.orphans {
                io.add_input(1);
                io.quarantine(source.clone(), p.reason, p.message.clone());
            }
        }
        let images_dir = match &self.cfg.images {
            Some(d) => io.base_dir().join(d),
            None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let annotation_file = recorded_name(io.base_dir(), &self.cfg.annotations, &file);
        let opts = reader_options(
            &self.cfg.source,
            io.pipeline_seed(),
            self.cfg.negatives,
            self.cfg.exhaustive,
            &self.cfg.ignore_categories,
        );
        let n = index.images.len();
        let per = n.div_ceil(parts);
        let mut emitter = Emitter::default();
        for i in (part * per).min(n)..((part + 1) * per).min(n) {
            let built = index.build(i, &images_dir, &annotation_file, &self.loader, &opts);
            emitter.replay(io, built)?;
        }
        emitter.flush(io)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordConfig {
    /// Record file(s): JSON, JSONL or Parquet (file, folder or glob), relative to the pipeline.
    path: String,
    /// Folder image paths are relative to (default: the record file's folder).
    #[serde(default)]
    images: Option<String>,
    #[serde(default)]
    source: Option<String>,
    /// The Parquet column holding embedded images.
    #[serde(default = "d_image_column")]
    image_column: String,
    /// RefCOCO: boxes are `[x1, y1, x2, y2]` (`"xyxy"`) or `[x, y, w, h]` (`"xywh"`).
    #[serde(default)]
    bbox_format: Option<String>,
    /// RefCOCO: a COCO instances file to take boxes and images from by `ann_id`.
    #[serde(default)]
    instances: Option<String>,
    /// Images over this many pixels are downscaled (re-encoded); others are kept as they are.
    #[serde(default = "d_max_pixels")]
    max_pixels: u64,
    /// Fetch `http(s)` image URLs.
    #[serde(default)]
    fetch_urls: bool,
    /// Timeout per URL, seconds.
    #[serde(default = "d_timeout")]
    timeout_secs: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    RefCoco,
    Pixmo,
}

struct RecordObjects {
    layout: Layout,
    cfg: RecordConfig,
    xyxy: bool,
    loader: ImageLoader,
    instances: OnceLock<Result<HashMap<String, InstanceBox>, String>>,
}

fn build_records(table: &toml::Table, layout: Layout) -> Result<Arc<dyn Stage>, String> {
    let cfg: RecordConfig = parse_config(table)?;
    let xyxy = match (layout, cfg.bbox_format.as_deref()) {
        (_, None) | (Layout::RefCoco, Some("xywh")) => false,
        (Layout::RefCoco, Some("xyxy")) => true,
        (Layout::RefCoco, Some(other)) => {
            return Err(format!(
                "`bbox_format = \"{other}\"`: expected \"xywh\" or \"xyxy\""
            ));
        }
        (Layout::Pixmo, Some(_)) => return Err("`bbox_format`: PixMo points have no boxes".into()),
    };
    if layout == Layout::Pixmo && cfg.instances.is_some() {
        return Err("`instances` applies to refcoco_objects only".into());
    }
    let loader = ImageLoader::new(
        ImageKeys {
            max_pixels: cfg.max_pixels,
            fetch_urls: cfg.fetch_urls,
            timeout_secs: cfg.timeout_secs,
        }
        .options()?,
    );
    Ok(Arc::new(RecordObjects {
        layout,
        cfg,
        xyxy,
        loader,
        instances: OnceLock::new(),
    }))
}

/// Builds `refcoco_objects`.
pub fn build_refcoco(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    build_records(table, Layout::RefCoco)
}

/// Builds `pixmo_points`.
pub fn build_pixmo(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    build_records(table, Layout::Pixmo)
}

impl RecordObjects {
    fn instances(&self, base: &Path) -> StageResult<Option<&HashMap<String, InstanceBox>>> {
        let Some(rel) = &self.cfg.instances else {
            return Ok(None);
        };
        self.instances
            .get_or_init(|| {
                CocoIndex::load(&base.join(rel))
                    .map(|i| instances_by_ann_id(&i))
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map(Some)
            .map_err(Clone::clone)
    }
}

impl Stage for RecordObjects {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(canonical::schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let files = resolve_inputs(
            &ctx.base_dir,
            &self.cfg.path,
            &["json", "jsonl", "ndjson", "parquet"],
        )?;
        if files.is_empty() {
            return Err(format!(
                "`path = \"{}\"` matches no record file",
                self.cfg.path
            ));
        }
        let extra = self
            .cfg
            .instances
            .as_ref()
            .map(|i| file_key(&ctx.base_dir, &ctx.base_dir.join(i)))
            .unwrap_or_default();
        Ok(files
            .iter()
            .enumerate()
            .map(|(i, f)| Split {
                index: i as u64,
                files: Vec::new(),
                items: vec![f.clone()],
                key: format!("{}{extra}", file_key(&ctx.base_dir, f)),
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let file = split.items.first().ok_or("split without a file")?.clone();
        let base = io.base_dir().to_path_buf();
        let images_dir = match &self.cfg.images {
            Some(d) => base.join(d),
            None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let annotation_file = recorded_name(&base, &self.cfg.path, &file);
        let (default_source, exhaustive) = match self.layout {
            Layout::RefCoco => ("refcoco", false),
            Layout::Pixmo => ("pixmo", false),
        };
        let source = self.cfg.source.as_deref().unwrap_or(default_source);
        let opts = reader_options(source, io.pipeline_seed(), 0, exhaustive, &[]);
        let embedded = embeds_images(&file, &self.cfg.image_column);
        let mut emitter = Emitter::default();
        let mut replay = |built| emitter.replay(io, built);
        let result = match self.layout {
            Layout::RefCoco => {
                let instances = self.instances(&base)?;
                let layout = RefLayout {
                    images_dir,
                    xyxy: self.xyxy,
                    embedded,
                    instances,
                    annotation_file,
                    opts: &opts,
                };
                read_grouped(
                    &layout,
                    &file,
                    &self.cfg.image_column,
                    &self.loader,
                    &mut replay,
                )
            }
            Layout::Pixmo => {
                let layout = PixmoLayout {
                    images_dir: Some(images_dir),
                    embedded,
                    annotation_file,
                    opts: &opts,
                };
                read_grouped(
                    &layout,
                    &file,
                    &self.cfg.image_column,
                    &self.loader,
                    &mut replay,
                )
            }
        };
        if let Err(e) = result {
            io.add_input(1);
            io.quarantine(file.display().to_string(), e.reason(), e.to_string());
        }
        emitter.flush(io)
    }
}
