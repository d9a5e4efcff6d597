//! `weft shards head` and `weft shards show`: samples as a person reads them (roles, text,
//! `[image 0: 512×512 png, 139 KB]` markers, pretty meta) or as JSON, optionally writing the
//! images out as files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use weft_shards::{Content, Sample, samples_from_batch};

use super::pick::{Selector, pick};
use super::{Failures, Inputs, human_bytes, open_sample_shard, print_json};

/// How to print samples.
#[derive(Args, Debug, Clone)]
pub struct PrintOpts {
    /// Print JSON (one object per sample; image bytes left out).
    #[arg(long)]
    json: bool,
    /// Write each sample's images into this folder as `{id}-{index}.{ext}`.
    #[arg(long, value_name = "DIR")]
    extract_images: Option<PathBuf>,
}

/// Arguments of `weft shards head`.
#[derive(Args, Debug)]
pub struct HeadArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Number of rows.
    #[arg(short = 'n', long, default_value_t = 5)]
    rows: usize,
    #[command(flatten)]
    print: PrintOpts,
}

/// Arguments of `weft shards show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    inputs: Inputs,
    #[command(flatten)]
    select: Selector,
    #[command(flatten)]
    print: PrintOpts,
}

/// A sample as JSON (media described, not embedded).
pub fn sample_json(file: &Path, row: u64, s: &Sample) -> Value {
    json!({
        "file": file.display().to_string(),
        "row": row,
        "id": s.id,
        "task": s.task,
        "source": s.source,
        "messages": s.messages,
        "images": s.images.iter().map(|i| json!({
            "width": i.width, "height": i.height, "format": i.format,
            "num_bytes": i.bytes.len(), "path": i.path,
        })).collect::<Vec<_>>(),
        "videos": s.videos.iter().map(|v| json!({
            "frames": v.frames.len(),
            "width": v.frames.first().map(|f| f.width),
            "height": v.frames.first().map(|f| f.height),
            "timestamps": v.timestamps, "fps": v.fps, "duration": v.duration, "path": v.path,
        })).collect::<Vec<_>>(),
        "meta": s.meta,
    })
}

fn image_marker(s: &Sample, index: u32) -> String {
    match s.images.get(index as usize) {
        Some(i) => format!(
            "[image {index}: {}×{} {}, {}]",
            i.width,
            i.height,
            i.format,
            human_bytes(i.bytes.len() as u64)
        ),
        None => format!("[image {index}: missing]"),
    }
}

fn video_marker(s: &Sample, index: u32) -> String {
    match s.videos.get(index as usize) {
        Some(v) => {
            let (w, h) = v.frames.first().map_or((0, 0), |f| (f.width, f.height));
            format!(
                "[video {index}: {} frames {w}×{h}, {:.1} s]",
                v.frames.len(),
                v.duration
            )
        }
        None => format!("[video {index}: missing]"),
    }
}

/// A sample as text for people.
pub fn sample_text(file: &Path, row: u64, s: &Sample) -> String {
    let mut out = format!(
        "── {} row {row} · id {} ──\ntask: {}   source: {}\n",
        file.display(),
        s.id,
        s.task,
        s.source
    );
    for m in &s.messages {
        out.push_str(&format!("[{}]\n", m.role));
        for c in &m.content {
            let line = match c {
                Content::Text { text } => text.clone(),
                Content::Image { index } => image_marker(s, *index),
                Content::Video { index } => video_marker(s, *index),
            };
            for l in line.lines() {
                out.push_str(&format!("  {l}\n"));
            }
        }
    }
    if !s.meta.is_empty() {
        let meta = serde_json::to_string_pretty(&s.meta).unwrap_or_default();
        out.push_str(&format!("meta: {meta}\n"));
    }
    out
}

fn extension(format: &str) -> &str {
    match format {
        "jpeg" => "jpg",
        "" | "unknown" => "bin",
        other => other,
    }
}

/// Writes a sample's images into `dir`; returns the paths written.
pub fn extract_images(dir: &Path, s: &Sample) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    s.images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let path = dir.join(format!("{}-{i}.{}", s.id, extension(&img.format)));
            std::fs::write(&path, &img.bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

fn emit(
    opts: &PrintOpts,
    file: &Path,
    row: u64,
    s: &Sample,
    json_rows: &mut Vec<Value>,
) -> anyhow::Result<()> {
    if opts.json {
        json_rows.push(sample_json(file, row, s));
    } else {
        println!("{}", sample_text(file, row, s));
    }
    if let Some(dir) = &opts.extract_images {
        for p in extract_images(dir, s)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// Runs `weft shards head`.
pub fn run_head(args: HeadArgs) -> anyhow::Result<ExitCode> {
    let mut failures = Failures::new(&args.inputs);
    let mut left = args.rows;
    let mut json_rows = Vec::new();
    for file in args.inputs.files()? {
        if left == 0 {
            break;
        }
        let batch_rows = left.min(64);
        let shown = failures.run(&file, |p| {
            let mut shown = 0;
            let mut row = 0u64;
            for batch in open_sample_shard(p)?.read(None, batch_rows)? {
                for s in samples_from_batch(&batch?)? {
                    if shown == left {
                        return Ok(shown);
                    }
                    emit(&args.print, p, row, &s, &mut json_rows)?;
                    shown += 1;
                    row += 1;
                }
            }
            Ok(shown)
        })?;
        left -= shown.unwrap_or(0);
    }
    if args.print.json {
        print_json(&Value::Array(json_rows))?;
    }
    Ok(failures.exit_code())
}

/// Runs `weft shards show`.
pub fn run_show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let mut failures = Failures::new(&args.inputs);
    let Some(p) = pick(&args.inputs, &args.select, &mut failures)? else {
        anyhow::bail!("no such row in {} file(s)", args.inputs.files()?.len());
    };
    let mut json_rows = Vec::new();
    emit(&args.print, &p.file, p.row, &p.sample, &mut json_rows)?;
    if let Some(v) = json_rows.pop() {
        print_json(&v)?;
    }
    Ok(failures.exit_code())
}
