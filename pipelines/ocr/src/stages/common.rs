//! Pieces every OCR sample builder shares: seeded prompt choice, the page image as a sample
//! image, provenance metadata, and token costs counted the way the model counts them.

use serde_json::{Map, Value, json};
use weft_shards::Image;
use weft_shards::render::estimate_text_tokens;
use weft_shards::vision::VisionParams;

use super::page_schema::PageRow;

/// splitmix64 step.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic number from a seed and a key (FNV-1a of the key, mixed with the seed).
pub fn keyed(seed: u64, key: &str) -> u64 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    mix(seed ^ h)
}

/// One of `options`, chosen by (seed, key): same inputs and seed, same prompt.
pub fn pick<'a>(seed: u64, key: &str, options: &'a [&'a str]) -> &'a str {
    options[(keyed(seed, key) % options.len() as u64) as usize]
}

/// The rendered page as a sample image (bytes stored unchanged).
pub fn page_image(row: &PageRow) -> Image {
    Image {
        bytes: row.image.clone(),
        path: Some(format!("{}#page={}", row.doc_path, row.page + 1)),
        width: row.image_width,
        height: row.image_height,
        format: row.image_format.clone(),
    }
}

/// Provenance of a page-derived sample.
pub fn page_meta(row: &PageRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("doc_id".into(), json!(row.doc_id));
    m.insert("doc_path".into(), json!(row.doc_path));
    m.insert("page".into(), json!(row.page + 1));
    m.insert("pages".into(), json!(row.pages));
    m.insert("lang".into(), json!(row.lang));
    m.insert("page_size_pt".into(), json!([row.width_pt, row.height_pt]));
    if let Some(model) = row
        .quality
        .as_deref()
        .and_then(|q| q.strip_prefix(super::page_filter::TRANSCRIBED_BY))
    {
        m.insert("transcribed_by".into(), json!(model));
    }
    m
}

/// Vision tokens of a page image under the model's processor settings.
pub fn vision_tokens(vision: &VisionParams, row: &PageRow) -> Result<usize, String> {
    vision
        .image_tokens(row.image_width, row.image_height)
        .map_err(|e| format!("page {}: {e}", row.uid()))
}

/// Estimated text tokens (weft-shards' estimator, until a tokenizer is configured).
pub fn text_tokens(text: &str) -> usize {
    estimate_text_tokens(text)
}

/// Reads the split's page rows and calls `f` once per document with its pages (rows arrive
/// grouped by document, pages in order, because `pdf_pages` writes them that way).
pub fn for_each_doc(
    io: &mut weft_engine::stage::StageIo,
    mut f: impl FnMut(
        &mut weft_engine::stage::StageIo,
        Vec<PageRow>,
    ) -> weft_engine::stage::StageResult<()>,
) -> weft_engine::stage::StageResult<()> {
    let mut current: Vec<PageRow> = Vec::new();
    while let Some(batch) = io.next_batch()? {
        for row in super::page_schema::pages_from_batch(&batch)? {
            if current
                .last()
                .is_some_and(|r| r.doc_id != row.doc_id || r.doc_path != row.doc_path)
            {
                f(io, std::mem::take(&mut current))?;
            }
            current.push(row);
        }
    }
    if !current.is_empty() {
        f(io, current)?;
    }
    Ok(())
}

/// Splits a document's pages into runs of consecutive page numbers.
pub fn consecutive_runs(pages: Vec<PageRow>) -> Vec<Vec<PageRow>> {
    let mut runs: Vec<Vec<PageRow>> = Vec::new();
    for p in pages {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|l| l.page + 1 == p.page) => run.push(p),
            _ => runs.push(vec![p]),
        }
    }
    runs
}

/// The first sentence of a text (up to the first `.`, `!`, `?` or `。` followed by a space or
/// the end; else the first line), whitespace collapsed, at most 300 characters.
pub fn first_sentence(text: &str) -> Option<String> {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return None;
    }
    let chars: Vec<char> = flat.chars().collect();
    let mut end = chars.len();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
            && chars.get(i + 1).is_none_or(|n| *n == ' ')
            && i >= 10
        {
            end = i + 1;
            break;
        }
    }
    if end == chars.len() {
        let first_line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        end = first_line.chars().count().min(chars.len());
    }
    Some(chars[..end.min(300)].iter().collect())
}
