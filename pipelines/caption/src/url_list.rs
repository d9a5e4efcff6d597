//! URL lists: plain text (`URL` or `URL<TAB>alt text` per line, `#` comments), CSV/TSV with a
//! header naming the URL and text columns, JSONL objects, or Parquet (img2dataset-style
//! `url` + `caption`/`alt_text`/`TEXT` columns). Column names are matched case-insensitively
//! against the configured name first, then the usual aliases.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;

/// One entry of a URL list.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRow {
    /// 1-based row (line for text, record for tables) in the list.
    pub row: usize,
    /// The URL.
    pub url: String,
    /// Alt text, if the list has it.
    pub alt: Option<String>,
}

const URL_ALIASES: [&str; 4] = ["url", "image_url", "img_url", "link"];
const TEXT_ALIASES: [&str; 6] = ["alt_text", "caption", "text", "alt", "title", "description"];

fn pick(headers: &[String], wanted: Option<&str>, aliases: &[&str]) -> Option<usize> {
    let find = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
    wanted
        .and_then(find)
        .or_else(|| aliases.iter().find_map(|a| find(a)))
}

/// True when `path` names a URL list rather than images: by extension, and for `.txt` by a
/// first entry that is an http(s) URL.
pub fn is_url_list(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "tsv" | "jsonl" => true,
        "txt" | "lst" | "list" => std::fs::read_to_string(path).is_ok_and(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .is_some_and(|l| l.starts_with("http://") || l.starts_with("https://"))
        }),
        _ => false,
    }
}

/// Reads a URL list.
pub fn read(
    path: &Path,
    url_col: Option<&str>,
    text_col: Option<&str>,
) -> Result<Vec<UrlRow>, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let shown = path.display();
    match ext.as_str() {
        "csv" | "tsv" => {
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(if ext == "tsv" { b'\t' } else { b',' })
                .flexible(true)
                .from_path(path)
                .map_err(|e| format!("{shown}: {e}"))?;
            let headers: Vec<String> = rdr
                .headers()
                .map_err(|e| format!("{shown}: {e}"))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let u = pick(&headers, url_col, &URL_ALIASES)
                .ok_or_else(|| format!("{shown}: no URL column among {headers:?}"))?;
            let t = pick(&headers, text_col, &TEXT_ALIASES);
            let mut out = Vec::new();
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(|e| format!("{shown}: record {}: {e}", i + 1))?;
                out.push(UrlRow {
                    row: i + 1,
                    url: rec.get(u).unwrap_or("").trim().to_string(),
                    alt: t
                        .and_then(|t| rec.get(t))
                        .map(str::to_string)
                        .filter(|s| !s.is_empty()),
                });
            }
            Ok(out)
        }
        "jsonl" => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
            let mut out = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("{shown}:{}: {e}", i + 1))?;
                let obj = v
                    .as_object()
                    .ok_or_else(|| format!("{shown}:{}: not an object", i + 1))?;
                let keys: Vec<String> = obj.keys().cloned().collect();
                let u = pick(&keys, url_col, &URL_ALIASES)
                    .ok_or_else(|| format!("{shown}:{}: no URL key", i + 1))?;
                let t = pick(&keys, text_col, &TEXT_ALIASES);
                out.push(UrlRow {
                    row: i + 1,
                    url: obj[&keys[u]].as_str().unwrap_or("").trim().to_string(),
                    alt: t.and_then(|t| obj[&keys[t]].as_str()).map(str::to_string),
                });
            }
            Ok(out)
        }
        "parquet" => read_parquet(path, url_col, text_col),
        _ => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
            Ok(text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|(i, l)| {
                    let (url, alt) = match l.split_once('\t') {
                        Some((u, a)) => (u, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
                        None => (l, None),
                    };
                    UrlRow {
                        row: i + 1,
                        url: url.trim().to_string(),
                        alt,
                    }
                })
                .collect())
        }
    }
}

fn read_parquet(
    path: &Path,
    url_col: Option<&str>,
    text_col: Option<&str>,
) -> Result<Vec<UrlRow>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("{shown}: {e}"))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let u = pick(&names, url_col, &URL_ALIASES)
        .ok_or_else(|| format!("{shown}: no URL column among {names:?}"))?;
    let t = pick(&names, text_col, &TEXT_ALIASES);
    let mut out = Vec::new();
    for batch in builder.build().map_err(|e| format!("{shown}: {e}"))? {
        let batch = batch.map_err(|e| format!("{shown}: {e}"))?;
        let col = |i: usize| -> Result<Vec<Option<String>>, String> {
            let c = arrow::compute::cast(batch.column(i), &DataType::Utf8)
                .map_err(|e| format!("{shown}: column {}: {e}", names[i]))?;
            let s = c.as_string::<i32>();
            Ok((0..s.len())
                .map(|r| (!s.is_null(r)).then(|| s.value(r).to_string()))
                .collect())
        };
        let urls = col(u)?;
        let texts = match t {
            Some(t) => col(t)?,
            None => vec![None; urls.len()],
        };
        for (url, alt) in urls.into_iter().zip(texts) {
            out.push(UrlRow {
                row: out.len() + 1,
                url: url.unwrap_or_default().trim().to_string(),
                alt: alt.filter(|a| !a.is_empty()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_csv_and_jsonl_lists() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("urls.txt");
        std::fs::write(&txt, "# list\nhttp://a/1.jpg\tA cat\n\nhttps://b/2.png\n").unwrap();
        assert!(is_url_list(&txt));
        let rows = read(&txt, None, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].row, rows[0].alt.as_deref()), (2, Some("A cat")));
        assert_eq!((rows[1].row, rows[1].alt.as_deref()), (4, None));
        let csv = dir.path().join("urls.csv");
        std::fs::write(
            &csv,
            "id,URL,caption\n1,http://a/1.jpg,\"A dog, running\"\n",
        )
        .unwrap();
        let rows = read(&csv, None, None).unwrap();
        assert_eq!(rows[0].url, "http://a/1.jpg");
        assert_eq!(rows[0].alt.as_deref(), Some("A dog, running"));
        let jl = dir.path().join("urls.jsonl");
        std::fs::write(&jl, "{\"url\": \"http://x/y.webp\", \"alt_text\": \"Y\"}\n").unwrap();
        assert_eq!(read(&jl, None, None).unwrap()[0].alt.as_deref(), Some("Y"));
        let imgs = dir.path().join("images.txt");
        std::fs::write(&imgs, "a.jpg\nb.jpg\n").unwrap();
        assert!(!is_url_list(&imgs));
    }
}
