//! `weft shards stats`: what a dataset holds — rows and payload per task and source, image
//! resolutions, tokens per sample — computed from metadata columns only.
//!
//! A polars lazy scan reads `task`, `source`, `messages` and `image_meta` (which is why
//! `image_meta` exists: image sizes without image bytes); the video geometry
//! (`videos.*.{timestamps,width,height}`) is read as Parquet leaf columns because polars
//! cannot project inside a struct, and frame bytes must never be read. Vision tokens are
//! exact (Qwen3-VL `smart_resize`); text tokens are an estimate (see [`TEXT_RULE`]).
//!
//! When samples carry `meta.cluster` (the caption pipeline's k-means), a per-cluster table
//! (rows, recorded cluster size) is added; the `meta` column is scanned for it, and its bytes
//! count as read for files that have cluster ids.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int32Type};
use clap::Args;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use polars::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use weft_shards::render::BYTES_PER_TEXT_TOKEN;
use weft_shards::vision::VisionParams;

use super::{Failures, Inputs, human_bytes, open_sample_shard, print_json};

/// How text tokens are estimated here.
pub const TEXT_RULE: &str =
    "estimate: ceil(message text bytes / 4) per sample, template tokens not included";

/// Arguments of `weft shards stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// A Hugging Face model folder whose processor configs set the vision-token counts.
    #[arg(long, value_name = "DIR")]
    model: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// True for the Parquet leaf columns stats reads (everything but media bytes).
pub fn stats_leaf(parts: &[String]) -> bool {
    match parts.first().map(String::as_str) {
        Some("task" | "source" | "messages" | "image_meta") => true,
        Some("videos") => !parts.iter().any(|p| p == "frames"),
        _ => false,
    }
}

#[derive(Default, Serialize)]
struct Group {
    rows: u64,
    payload_bytes: u64,
    text_bytes: u64,
    image_bytes: u64,
    images: u64,
    videos: u64,
    vision_tokens: u64,
}

#[derive(Default)]
struct Acc {
    files: u64,
    bytes_on_disk: u64,
    bytes_read: u64,
    by_task: BTreeMap<String, Group>,
    by_source: BTreeMap<String, Group>,
    widths: Vec<u64>,
    heights: Vec<u64>,
    megapixels: Vec<f64>,
    videos: u64,
    video_tokens: u64,
    vision_errors: u64,
    vision: Vec<u64>,
    text: Vec<u64>,
    total: Vec<u64>,
    /// `meta.cluster` → (rows, largest `meta.cluster_size` seen).
    clusters: BTreeMap<i64, (u64, u64)>,
}

/// Adds each row's `meta.cluster` (and `cluster_size`) to `acc`; returns whether any row had
/// one. Reads only the `meta` leaf.
fn cluster_ids(path: &Path, acc: &mut Acc) -> anyhow::Result<bool> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| path.display().to_string())?;
    let leaves: Vec<usize> = builder
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.path().parts() == ["meta"])
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
    let mut found = false;
    for batch in builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()?
    {
        let batch = batch.with_context(|| path.display().to_string())?;
        let Some(meta) = batch.column_by_name("meta") else {
            return Ok(false);
        };
        // A `meta` that is not a Utf8 column carries no cluster ids (no panic on odd files).
        let Some(meta) = meta.as_string_opt::<i32>() else {
            return Ok(false);
        };
        for i in 0..meta.len() {
            if meta.is_null(i) || !meta.value(i).contains("\"cluster\"") {
                continue;
            }
            let v: Value = serde_json::from_str(meta.value(i)).unwrap_or(Value::Null);
            if let Some(c) = v.get("cluster").and_then(Value::as_i64) {
                let e = acc.clusters.entry(c).or_default();
                e.0 += 1;
                e.1 =
                    e.1.max(v.get("cluster_size").and_then(Value::as_u64).unwrap_or(0));
                found = true;
            }
        }
    }
    Ok(found)
}

/// Per row: (videos, video tokens), from the video geometry leaves only.
fn video_tokens(
    path: &Path,
    vision: &VisionParams,
    errors: &mut u64,
) -> anyhow::Result<Vec<(u64, u64)>> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| path.display().to_string())?;
    let leaves: Vec<usize> = builder
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.path().parts().first().is_some_and(|p| p == "videos") && stats_leaf(c.path().parts())
        })
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| path.display().to_string())?;
        let videos = batch
            .column_by_name("videos")
            .context("no videos column")?
            .as_list::<i32>();
        for i in 0..batch.num_rows() {
            if videos.is_null(i) {
                out.push((0, 0));
                continue;
            }
            let row = videos.value(i);
            let row = row.as_struct();
            let (ts, w, h) = match (
                row.column_by_name("timestamps"),
                row.column_by_name("width"),
                row.column_by_name("height"),
            ) {
                (Some(t), Some(w), Some(h)) => (
                    t.as_list::<i32>(),
                    w.as_primitive::<Int32Type>(),
                    h.as_primitive::<Int32Type>(),
                ),
                _ => anyhow::bail!("{}: videos lack timestamps/width/height", path.display()),
            };
            let mut tokens = 0;
            for j in 0..row.len() {
                let times = ts.value(j);
                let times = times.as_primitive::<Float64Type>();
                match vision.video_layout(
                    times.values(),
                    w.value(j).max(0) as u32,
                    h.value(j).max(0) as u32,
                ) {
                    Ok(l) => tokens += l.total_tokens() as u64,
                    Err(_) => *errors += 1,
                }
            }
            out.push((row.len() as u64, tokens));
        }
    }
    Ok(out)
}

fn file_stats(path: &Path, vision: &VisionParams, acc: &mut Acc) -> anyhow::Result<()> {
    let shard = open_sample_shard(path)?;
    let meta = shard.metadata();
    let (mut read, mut meta_bytes) = (0u64, 0u64);
    for rg in meta.row_groups() {
        for c in rg.columns() {
            if stats_leaf(c.column_path().parts()) {
                read += c.compressed_size().max(0) as u64;
            } else if c.column_path().parts() == ["meta"] {
                meta_bytes += c.compressed_size().max(0) as u64;
            }
        }
    }
    drop(shard);
    let element_field = |name: &str| {
        element()
            .struct_()
            .field_by_name(name)
            .cast(DataType::Int64)
    };
    let text_bytes = col("messages")
        .list()
        .eval(
            element()
                .struct_()
                .field_by_name("content")
                .list()
                .eval(
                    element()
                        .struct_()
                        .field_by_name("text")
                        .str()
                        .len_bytes()
                        .cast(DataType::Int64),
                )
                .list()
                .sum(),
        )
        .list()
        .sum()
        .cast(DataType::Int64)
        .alias("text_bytes");
    let df = LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().into_owned()),
        ScanArgsParquet::default(),
    )?
    .select([
        col("task"),
        col("source"),
        text_bytes,
        col("image_meta")
            .list()
            .eval(element_field("width"))
            .alias("w"),
        col("image_meta")
            .list()
            .eval(element_field("height"))
            .alias("h"),
        col("image_meta")
            .list()
            .eval(element_field("num_bytes"))
            .alias("nb"),
    ])
    .collect()
    .map_err(|e| anyhow::anyhow!("{}: polars scan: {e}", path.display()))?;
    let videos = video_tokens(path, vision, &mut acc.vision_errors)?;
    anyhow::ensure!(
        videos.len() == df.height(),
        "{}: row count mismatch",
        path.display()
    );

    let task = df.column("task")?.str()?;
    let source = df.column("source")?.str()?;
    let text = df.column("text_bytes")?.i64()?;
    let (w, h, nb) = (
        df.column("w")?.list()?,
        df.column("h")?.list()?,
        df.column("nb")?.list()?,
    );
    let ints = |l: &ListChunked, i: usize| -> anyhow::Result<Vec<u64>> {
        Ok(match l.get_as_series(i) {
            Some(s) => s
                .i64()?
                .iter()
                .map(|v| v.unwrap_or(0).max(0) as u64)
                .collect(),
            None => Vec::new(),
        })
    };
    for (i, &(n_videos, v_tokens)) in videos.iter().enumerate() {
        let (ws, hs, ns) = (ints(w, i)?, ints(h, i)?, ints(nb, i)?);
        let text_bytes = text.get(i).unwrap_or(0).max(0) as u64;
        let mut vision_tokens = 0u64;
        for (&iw, &ih) in ws.iter().zip(&hs) {
            match vision.image_tokens(iw as u32, ih as u32) {
                Ok(t) => vision_tokens += t as u64,
                Err(_) => acc.vision_errors += 1,
            }
            acc.widths.push(iw);
            acc.heights.push(ih);
            acc.megapixels.push((iw * ih) as f64 / 1e6);
        }
        acc.videos += n_videos;
        acc.video_tokens += v_tokens;
        vision_tokens += v_tokens;
        let image_bytes: u64 = ns.iter().sum();
        for (key, map) in [
            (task.get(i), &mut acc.by_task),
            (source.get(i), &mut acc.by_source),
        ] {
            let g = map.entry(key.unwrap_or("").to_string()).or_default();
            g.rows += 1;
            g.text_bytes += text_bytes;
            g.image_bytes += image_bytes;
            g.payload_bytes += text_bytes + image_bytes;
            g.images += ws.len() as u64;
            g.videos += n_videos;
            g.vision_tokens += vision_tokens;
        }
        let text_tokens = (text_bytes as usize).div_ceil(BYTES_PER_TEXT_TOKEN) as u64;
        acc.vision.push(vision_tokens);
        acc.text.push(text_tokens);
        acc.total.push(vision_tokens + text_tokens);
    }
    if cluster_ids(path, acc)? {
        read += meta_bytes;
    }
    acc.files += 1;
    acc.bytes_read += read;
    acc.bytes_on_disk += std::fs::metadata(path)?.len();
    Ok(())
}

fn percentile<T: Copy + PartialOrd>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
}

fn distribution<T: Copy + PartialOrd + Serialize>(mut v: Vec<T>) -> Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    json!({
        "min": v.first(), "p50": percentile(&v, 0.5), "p90": percentile(&v, 0.9),
        "p99": percentile(&v, 0.99), "max": v.last(),
    })
}

fn report(acc: Acc) -> Value {
    let rows: u64 = acc.by_task.values().map(|g| g.rows).sum();
    let mut buckets = BTreeMap::new();
    for label in ["a: <0.25 MP", "b: 0.25-1 MP", "c: 1-4 MP", "d: >=4 MP"] {
        buckets.insert(label, 0u64);
    }
    for &mp in &acc.megapixels {
        let label = if mp < 0.25 {
            "a: <0.25 MP"
        } else if mp < 1.0 {
            "b: 0.25-1 MP"
        } else if mp < 4.0 {
            "c: 1-4 MP"
        } else {
            "d: >=4 MP"
        };
        *buckets.entry(label).or_default() += 1;
    }
    let buckets: serde_json::Map<String, Value> = buckets
        .into_iter()
        .map(|(k, v)| (k[3..].to_string(), Value::from(v)))
        .collect();
    let vision_total: u64 = acc.vision.iter().sum();
    let clusters: serde_json::Map<String, Value> = acc
        .clusters
        .iter()
        .map(|(c, (rows, size))| (c.to_string(), json!({"rows": rows, "cluster_size": size})))
        .collect();
    let mut out = json!({
        "files": acc.files,
        "rows": rows,
        "bytes_on_disk": acc.bytes_on_disk,
        "bytes_read": acc.bytes_read,
        "by_task": acc.by_task,
        "by_source": acc.by_source,
        "images": {
            "count": acc.widths.len(),
            "width": distribution(acc.widths),
            "height": distribution(acc.heights),
            "megapixels": distribution(acc.megapixels),
            "megapixel_buckets": buckets,
        },
        "videos": { "count": acc.videos, "tokens": acc.video_tokens },
        "tokens_per_sample": {
            "vision": distribution(acc.vision),
            "text_estimate": distribution(acc.text),
            "total": distribution(acc.total),
        },
        "vision_tokens_total": vision_total,
        "vision_token_errors": acc.vision_errors,
        "notes": {
            "vision_tokens": "exact: Qwen3-VL smart_resize of image_meta and video geometry",
            "text_tokens": TEXT_RULE,
            "payload_bytes": "image bytes (image_meta.num_bytes) + message text bytes; video frames not counted",
        },
    });
    if !clusters.is_empty() {
        out["clusters"] = Value::Object(clusters);
    }
    out
}

fn print_human(r: &Value) {
    println!(
        "{} file(s), {} rows, {} on disk, {} read",
        r["files"],
        r["rows"],
        human_bytes(r["bytes_on_disk"].as_u64().unwrap_or(0)),
        human_bytes(r["bytes_read"].as_u64().unwrap_or(0))
    );
    for key in ["by_task", "by_source"] {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header([
            &key[3..],
            "rows",
            "payload",
            "images",
            "videos",
            "vision tokens",
        ]);
        for (name, g) in r[key].as_object().into_iter().flatten() {
            table.add_row([
                name.clone(),
                g["rows"].to_string(),
                human_bytes(g["payload_bytes"].as_u64().unwrap_or(0)),
                g["images"].to_string(),
                g["videos"].to_string(),
                g["vision_tokens"].to_string(),
            ]);
        }
        println!("\n{table}");
    }
    if let Some(clusters) = r["clusters"].as_object() {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header(["cluster", "rows", "cluster size (before caps)"]);
        // The JSON object's keys are strings ("10" sorts before "2"): order by number.
        let mut rows: Vec<(&String, &Value)> = clusters.iter().collect();
        let num = |c: &str| c.parse::<i64>().unwrap_or(i64::MAX);
        rows.sort_by(|(a, _), (b, _)| num(a).cmp(&num(b)).then_with(|| a.cmp(b)));
        for (c, v) in rows {
            table.add_row([
                c.clone(),
                v["rows"].to_string(),
                v["cluster_size"].to_string(),
            ]);
        }
        println!("\n{} cluster(s) (meta.cluster)\n{table}", clusters.len());
    }
    let img = &r["images"];
    println!(
        "\nimages: {}   megapixels {}   buckets {}",
        img["count"], img["megapixels"], img["megapixel_buckets"]
    );
    println!("width  {}\nheight {}", img["width"], img["height"]);
    let t = &r["tokens_per_sample"];
    println!("\ntokens per sample (vision exact; text {TEXT_RULE}):");
    for k in ["vision", "text_estimate", "total"] {
        println!("  {k:<14} {}", t[k]);
    }
    if r["vision_token_errors"].as_u64().unwrap_or(0) > 0 {
        println!(
            "  {} image(s)/video(s) smart_resize rejects (aspect ratio > 200 or too small)",
            r["vision_token_errors"]
        );
    }
}

/// Runs `weft shards stats`.
pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let vision = match &args.model {
        Some(dir) => VisionParams::from_model_dir(dir)?,
        None => VisionParams::default(),
    };
    let mut failures = Failures::new(&args.inputs);
    let mut acc = Acc::default();
    for path in args.inputs.files()? {
        // A file failing half-way leaves partial sums; stats are then advisory (exit non-zero).
        failures.run(&path, |p| file_stats(p, &vision, &mut acc))?;
    }
    let r = report(acc);
    if args.json {
        print_json(&r)?;
    } else {
        print_human(&r);
    }
    Ok(failures.exit_code())
}
