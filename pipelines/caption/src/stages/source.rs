//! `caption_source`: images from a folder / glob / list of image files, a URL list (text, CSV,
//! TSV, JSONL, Parquet), or existing weft shards — one raw row per image with its alt text.
//!
//! Alt text: for files, a JSONL sidecar (`{"file": …, "caption": …}`; `captions.jsonl` in the
//! folder is used when present) or a `NAME.txt` next to `NAME.jpg`; for URL lists, the list's
//! text column; for shards, the sample's assistant text. Every input is emitted or
//! quarantined with its reason (`unreadable`, `too_big`, `bad_url`, `http_404`, `timeout`,
//! `not_an_image`, `corrupt_shard`, …); decoding is `normalise_images`' job. A shard's
//! records get the uid `REL_PATH:SAMPLE_ID/0` (sample ids repeat across shards).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayBuilder, BinaryBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::json;
use weft_engine::inputs::{file_key, relative, resolve_inputs};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};

use crate::fetch::{FetchOptions, fetch_all};
use crate::record::raw_schema;
use crate::url_list;

fn d_input() -> String {
    "auto".into()
}
fn d_files() -> usize {
    64
}
fn d_urls() -> usize {
    256
}
fn d_exts() -> Vec<String> {
    ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]
        .map(String::from)
        .to_vec()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Folder, glob or list file of images; a URL list; or shards (relative to the pipeline).
    path: String,
    /// `auto`, `images`, `urls` or `shards`.
    #[serde(default = "d_input")]
    input: String,
    /// JSONL alt-text sidecar for image files (default: `captions.jsonl` in the folder).
    #[serde(default)]
    captions: Option<String>,
    #[serde(default = "d_files")]
    files_per_split: usize,
    #[serde(default = "d_urls")]
    urls_per_split: usize,
    #[serde(default = "d_exts")]
    extensions: Vec<String>,
    /// URL column of a table list (default: `url`, `image_url`, …).
    #[serde(default)]
    url_column: Option<String>,
    /// Alt-text column of a table list (default: `alt_text`, `caption`, `text`, …).
    #[serde(default)]
    text_column: Option<String>,
    #[serde(default)]
    fetch: FetchOptions,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Images,
    Urls,
    Shards,
}

struct Source {
    cfg: Config,
    sidecar: OnceLock<Result<HashMap<String, String>, String>>,
    lists: OnceLock<Result<Vec<url_list::UrlRow>, String>>,
}

/// Builds `caption_source`.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    if !["auto", "images", "urls", "shards"].contains(&cfg.input.as_str()) {
        return Err(format!(
            "`input` {:?}: use auto, images, urls or shards",
            cfg.input
        ));
    }
    if cfg.files_per_split == 0 || cfg.urls_per_split == 0 {
        return Err("`files_per_split` and `urls_per_split` must be at least 1".into());
    }
    if cfg.fetch.concurrency == 0
        || cfg.fetch.per_host == 0
        || cfg.fetch.timeout_s.is_nan()
        || cfg.fetch.timeout_s <= 0.0
    {
        return Err("`fetch`: concurrency, per_host and timeout_s must be positive".into());
    }
    Ok(Arc::new(Source {
        cfg,
        sidecar: OnceLock::new(),
        lists: OnceLock::new(),
    }))
}

impl Source {
    fn mode(&self, base: &Path) -> Mode {
        match self.cfg.input.as_str() {
            "images" => Mode::Images,
            "urls" => Mode::Urls,
            "shards" => Mode::Shards,
            _ => {
                let p = base.join(&self.cfg.path);
                let ext = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if p.is_dir() && !has_images(&p, &self.cfg.extensions) && has_parquet(&p) {
                    Mode::Shards
                } else if p.is_file() && ext == "parquet" {
                    if is_sample_shard(&p) {
                        Mode::Shards
                    } else {
                        Mode::Urls
                    }
                } else if p.is_file() && url_list::is_url_list(&p) {
                    Mode::Urls
                } else {
                    Mode::Images
                }
            }
        }
    }

    fn root(&self, base: &Path) -> PathBuf {
        let p = base.join(&self.cfg.path);
        if p.is_dir() {
            p
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or(p)
        }
    }

    fn sidecar(&self, base: &Path) -> StageResult<&HashMap<String, String>> {
        self.sidecar
            .get_or_init(|| {
                let path = match &self.cfg.captions {
                    Some(rel) => base.join(rel),
                    None => {
                        let auto = self.root(base).join("captions.jsonl");
                        if !auto.is_file() {
                            return Ok(HashMap::new());
                        }
                        auto
                    }
                };
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

    fn url_rows(&self, base: &Path) -> StageResult<&[url_list::UrlRow]> {
        self.lists
            .get_or_init(|| {
                url_list::read(
                    &base.join(&self.cfg.path),
                    self.cfg.url_column.as_deref(),
                    self.cfg.text_column.as_deref(),
                )
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }
}

fn has_images(dir: &Path, exts: &[String]) -> bool {
    let e: Vec<&str> = exts.iter().map(String::as_str).collect();
    resolve_inputs(dir, ".", &e).is_ok_and(|v| !v.is_empty())
}

fn has_parquet(dir: &Path) -> bool {
    resolve_inputs(dir, ".", &["parquet"]).is_ok_and(|v| !v.is_empty())
}

fn is_sample_shard(p: &Path) -> bool {
    weft_shards::reader::Shard::open(p).is_ok_and(|s| {
        let schema = s.schema();
        schema.field_with_name("messages").is_ok() && schema.field_with_name("images").is_ok()
    })
}

/// URL rows fetched and emitted together (bounds a split's memory to this many bodies).
const URL_CHUNK: usize = 32;

#[derive(Default)]
struct Rows {
    uid: StringBuilder,
    path: StringBuilder,
    image: BinaryBuilder,
    alt: StringBuilder,
    extra: StringBuilder,
}

impl Rows {
    fn is_empty(&self) -> bool {
        self.uid.is_empty()
    }

    fn push(
        &mut self,
        uid: &str,
        path: &str,
        bytes: &[u8],
        alt: Option<&str>,
        extra: serde_json::Value,
    ) {
        self.uid.append_value(uid);
        self.path.append_value(path);
        self.image.append_value(bytes);
        self.alt.append_option(alt);
        self.extra.append_value(extra.to_string());
    }

    fn finish(mut self) -> StageResult<RecordBatch> {
        RecordBatch::try_new(
            raw_schema(),
            vec![
                Arc::new(self.uid.finish()),
                Arc::new(self.path.finish()),
                Arc::new(self.image.finish()),
                Arc::new(self.alt.finish()),
                Arc::new(self.extra.finish()),
            ],
        )
        .map_err(|e| e.to_string())
    }
}

impl Stage for Source {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(raw_schema())
    }

    fn splits(&self, ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let base = &ctx.base_dir;
        let root = self.root(base);
        let mode = self.mode(base);
        let split = |i: usize, items: Vec<PathBuf>, key: String| Split {
            index: i as u64,
            files: Vec::new(),
            items,
            key: format!("{mode:?}\n{key}"),
        };
        Ok(match mode {
            Mode::Images => {
                let exts: Vec<&str> = self.cfg.extensions.iter().map(String::as_str).collect();
                let files = resolve_inputs(base, &self.cfg.path, &exts)?;
                files
                    .chunks(self.cfg.files_per_split)
                    .enumerate()
                    .map(|(i, c)| {
                        split(
                            i,
                            c.to_vec(),
                            c.iter()
                                .map(|p| file_key(&root, p))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                    })
                    .collect()
            }
            Mode::Shards => resolve_inputs(base, &self.cfg.path, &["parquet"])?
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    let key = file_key(&root, &f);
                    split(i, vec![f], key)
                })
                .collect(),
            Mode::Urls => {
                let list = base.join(&self.cfg.path);
                let n = self.url_rows(base)?.len();
                let key = file_key(&root, &list);
                (0..n)
                    .step_by(self.cfg.urls_per_split)
                    .enumerate()
                    .map(|(i, start)| {
                        let end = (start + self.cfg.urls_per_split).min(n);
                        split(i, vec![list.clone()], format!("{key}#{start}..{end}"))
                    })
                    .collect()
            }
        })
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let base = io.base_dir().to_path_buf();
        let mut rows = Rows::default();
        match split.key.split('\n').next().unwrap_or("") {
            "Images" => self.images(split, io, &base, &mut rows)?,
            "Urls" => self.urls(split, io, &base, &mut rows)?,
            "Shards" => self.shards(split, io, &base, &mut rows)?,
            other => return Err(format!("split key names no input kind ({other:?})")),
        }
        if !rows.is_empty() {
            io.emit(&rows.finish()?)?;
        }
        Ok(())
    }
}

impl Source {
    fn images(
        &self,
        split: &Split,
        io: &mut StageIo,
        base: &Path,
        rows: &mut Rows,
    ) -> StageResult<()> {
        let root = self.root(base);
        let sidecar = self.sidecar(base)?;
        for file in &split.items {
            io.add_input(1);
            let rel = relative(&root, file);
            let shown = file.display().to_string();
            match std::fs::metadata(file) {
                Ok(m) if m.len() > self.cfg.fetch.max_bytes => {
                    io.quarantine(
                        shown,
                        "too_big",
                        format!(
                            "{} bytes exceed max_bytes {}",
                            m.len(),
                            self.cfg.fetch.max_bytes
                        ),
                    );
                    continue;
                }
                Err(e) => {
                    io.quarantine(shown, "unreadable", e.to_string());
                    continue;
                }
                Ok(_) => {}
            }
            let bytes = match std::fs::read(file) {
                Ok(b) => b,
                Err(e) => {
                    io.quarantine(shown, "unreadable", e.to_string());
                    continue;
                }
            };
            let txt = std::fs::read_to_string(file.with_extension("txt")).ok();
            let alt = sidecar
                .get(&rel)
                .cloned()
                .or(txt.map(|t| t.trim().to_string()));
            rows.push(
                &rel,
                &rel,
                &bytes,
                alt.as_deref(),
                json!({"source": "file"}),
            );
        }
        Ok(())
    }

    fn urls(
        &self,
        split: &Split,
        io: &mut StageIo,
        base: &Path,
        rows: &mut Rows,
    ) -> StageResult<()> {
        let range = split
            .key
            .rsplit_once('#')
            .and_then(|(_, r)| r.split_once(".."))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("split key {:?} has no row range", split.key))?;
        let all = self.url_rows(base)?;
        let list = all
            .get(range.0..range.1)
            .ok_or("URL list changed since the splits were made")?;
        let name = Path::new(&self.cfg.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        io.add_input(list.len() as u64);
        // Fetched and emitted `URL_CHUNK` rows at a time, in list order: a split holds at most
        // that many bodies (each ≤ max_bytes) instead of all `urls_per_split` of them.
        for chunk in list.chunks(URL_CHUNK) {
            let urls: Vec<String> = chunk.iter().map(|r| r.url.clone()).collect();
            for (row, got) in chunk.iter().zip(fetch_all(&urls, &self.cfg.fetch)) {
                match got {
                    Ok(bytes) => rows.push(
                        &format!("{name}:{}", row.row),
                        &row.url,
                        &bytes,
                        row.alt.as_deref(),
                        json!({"source": "url", "list_row": row.row}),
                    ),
                    Err((reason, msg)) => io.quarantine(&row.url, &reason, msg),
                }
            }
            if !rows.is_empty() {
                io.emit(&std::mem::take(rows).finish()?)?;
            }
        }
        Ok(())
    }

    fn shards(
        &self,
        split: &Split,
        io: &mut StageIo,
        base: &Path,
        rows: &mut Rows,
    ) -> StageResult<()> {
        let root = self.root(base);
        for file in &split.items {
            let shown = file.display().to_string();
            // Sample ids are unique within a shard, not across shards: the shard's path
            // relative to the input root makes the uid unique and machine-independent.
            let rel = relative(&root, file);
            let shard = match weft_shards::reader::Shard::open(file) {
                Ok(s) => s,
                Err(e) => {
                    // Its records cannot be counted: it stands for one, like a bad image file.
                    io.add_input(1);
                    io.quarantine(shown, "corrupt_shard", e.to_string());
                    continue;
                }
            };
            let batches = match shard.read(None, 256) {
                Ok(b) => b,
                Err(e) => {
                    io.add_input(1);
                    io.quarantine(shown, "corrupt_shard", e.to_string());
                    continue;
                }
            };
            for batch in batches {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        // Rows already read stay; the unreadable rest counts as one record.
                        io.add_input(1);
                        io.quarantine(shown.clone(), "corrupt_shard", e.to_string());
                        break;
                    }
                };
                let samples = match weft_shards::samples_from_batch(&batch) {
                    Ok(s) => s,
                    Err(e) => {
                        // Not weft samples: the rest of the shard counts as one record.
                        io.add_input(1);
                        io.quarantine(shown.clone(), "corrupt_shard", e.to_string());
                        break;
                    }
                };
                io.add_input(batch.num_rows() as u64);
                for s in samples {
                    if s.images.is_empty() {
                        io.drop_records("no_image", 1);
                        continue;
                    }
                    let alt: String = s
                        .messages
                        .iter()
                        .filter(|m| m.role == "assistant")
                        .flat_map(|m| m.content.iter())
                        .filter_map(|c| match c {
                            weft_shards::Content::Text { text } => Some(text.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    // One record per sample: its first image (a caption pair has one).
                    let img = &s.images[0];
                    let path = img.path.clone().unwrap_or_else(|| s.id.clone());
                    rows.push(
                        &format!("{rel}:{}/0", s.id),
                        &path,
                        &img.bytes,
                        (!alt.trim().is_empty()).then_some(alt.as_str()),
                        json!({"source": "shard", "sample_id": s.id, "task": s.task}),
                    );
                }
            }
        }
        Ok(())
    }
}
