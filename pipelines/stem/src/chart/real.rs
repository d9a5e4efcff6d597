//! Real tables: charts drawn from a CSV of real numbers (e.g. matplotlib's `msft.csv` daily
//! prices) instead of random ones, so a model also sees real-world value patterns. Cells are
//! parsed from their decimal text into integers of the column's smallest unit (`29.96` →
//! 2996 with 2 decimals), never through floats, so answers print exactly as the file has them.
//!
//! Layout ("wide"): a header row, the first column the category labels (dates, names), every
//! other column a numeric series; `#` lines are comments; empty cells leave a row out of that
//! column's windows.

use rand::RngExt;

use super::{ChartKind, ChartTable, Series};
use weft_engine::rng::Rng;

/// A parsed CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct RealCsv {
    /// File name shown in titles and `meta`.
    pub name: String,
    /// Category label per row.
    pub labels: Vec<String>,
    /// Numeric columns: name, decimals, cells (scaled integers; `None` when empty).
    pub columns: Vec<(String, u32, Vec<Option<i64>>)>,
}

/// `"29.96"` with `decimals = 2` → 2996; `None` for anything that is not a plain decimal.
fn scaled(cell: &str, decimals: u32) -> Option<i64> {
    let (neg, t) = match cell.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, cell),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || frac.len() as u32 > decimals
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let padded = format!("{frac:0<width$}", width = decimals as usize);
    let v = int.parse::<i64>().ok()?.checked_mul(10i64.pow(decimals))?
        + if decimals == 0 {
            0
        } else {
            padded.parse::<i64>().ok()?
        };
    Some(if neg { -v } else { v })
}

impl RealCsv {
    /// Parses CSV text (no quoted commas: plain numeric tables); `reverse` flips the row order
    /// (files listed newest first).
    pub fn parse(name: &str, text: &str, reverse: bool) -> Result<Self, String> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| format!("{name}: empty CSV"))?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        if header.len() < 2 {
            return Err(format!(
                "{name}: needs a label column and at least one numeric column"
            ));
        }
        let mut rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(|s| s.trim().to_string()).collect())
            .collect();
        if let Some((i, r)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != header.len())
        {
            return Err(format!(
                "{name}: data row {} has {} cells, the header {}",
                i + 1,
                r.len(),
                header.len()
            ));
        }
        if reverse {
            rows.reverse();
        }
        let mut columns = Vec::new();
        for (c, col) in header.iter().enumerate().skip(1) {
            let decimals = rows
                .iter()
                .map(|r| r[c].split_once('.').map_or(0, |(_, f)| f.len() as u32))
                .max()
                .unwrap_or(0);
            if decimals > 6 {
                continue;
            }
            let cells: Vec<Option<i64>> = rows.iter().map(|r| scaled(&r[c], decimals)).collect();
            if cells.iter().flatten().count() >= 5 {
                columns.push((col.clone(), decimals, cells));
            }
        }
        if columns.is_empty() {
            return Err(format!("{name}: no numeric column with 5 or more values"));
        }
        Ok(RealCsv {
            name: name.to_string(),
            labels: rows.iter().map(|r| r[0].clone()).collect(),
            columns,
        })
    }

    /// A chart of 5–8 consecutive rows of one column whose values are positive and distinct
    /// (so maxima, minima and trends are unambiguous); `None` when 50 tries find no window.
    pub fn table(&self, kind: ChartKind, rng: &mut Rng) -> Option<ChartTable> {
        for _ in 0..50 {
            let (col, decimals, cells) = &self.columns[rng.random_range(0..self.columns.len())];
            let n = rng.random_range(5..=8).min(self.labels.len());
            let start = rng.random_range(0..=self.labels.len() - n);
            let window: Option<Vec<i64>> = cells[start..start + n].iter().copied().collect();
            let Some(values) = window else { continue };
            let mut sorted = values.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != n || sorted[0] <= 0 {
                continue;
            }
            return Some(ChartTable {
                kind,
                script: "latin".into(),
                title: format!("{}: {col}", self.name),
                x_label: String::new(),
                y_label: col.clone(),
                categories: self.labels[start..start + n].to_vec(),
                series: vec![Series {
                    name: col.clone(),
                    values,
                    points: Vec::new(),
                }],
                decimals: *decimals,
                origin: Some(format!(
                    "{}, column {col}, {} to {}",
                    self.name,
                    self.labels[start],
                    self.labels[start + n - 1]
                )),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::qa;
    use crate::chart::render::render;
    use weft_engine::rng::seeded;

    fn msft() -> (String, RealCsv) {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/msft.csv"))
                .unwrap();
        let csv = RealCsv::parse("msft.csv", &text, true).unwrap();
        (text, csv)
    }

    #[test]
    fn scaled_parsing_is_exact() {
        assert_eq!(scaled("29.96", 2), Some(2996));
        assert_eq!(scaled("29.5", 2), Some(2950));
        assert_eq!(scaled("92433800", 0), Some(92433800));
        assert_eq!(scaled("-0.07", 2), Some(-7));
        assert_eq!(scaled("1.234", 2), None);
        assert_eq!(scaled("", 2), None);
        assert_eq!(scaled("n/a", 2), None);
    }

    #[test]
    fn value_answers_are_the_file_cells_verbatim() {
        let (text, csv) = msft();
        assert_eq!(
            csv.labels.first().map(String::as_str),
            Some("19-Jun-03"),
            "reversed: oldest first"
        );
        let cells: std::collections::BTreeSet<&str> =
            text.lines().skip(1).flat_map(|l| l.split(',')).collect();
        for k in 0..30 {
            let kind = [ChartKind::Bar, ChartKind::Line][k % 2];
            let table = csv
                .table(kind, &mut seeded(1, "real", &k.to_string()))
                .unwrap();
            let chart = render(&table, 800, 600).unwrap();
            let img = image::load_from_memory(&chart.png).unwrap().to_rgb8();
            for e in &chart.elements {
                let px = img
                    .get_pixel(e.point[0].round() as u32, e.point[1].round() as u32)
                    .0;
                assert_eq!(
                    px, e.colour,
                    "{kind:?} element {} of {}",
                    e.index, table.title
                );
            }
            let q = qa::question(
                &table,
                &chart,
                "value_lookup",
                &mut seeded(2, "q", &k.to_string()),
            );
            assert!(
                cells.contains(q.answer.as_str()),
                "{} not a cell of msft.csv",
                q.answer
            );
            // The label asked about is in the same row as that cell.
            let row = text
                .lines()
                .find(|l| {
                    q.question
                        .contains(&format!(" {}?", l.split(',').next().unwrap()))
                })
                .unwrap();
            assert!(
                row.split(',').any(|c| c == q.answer),
                "{row} / {}",
                q.answer
            );
        }
    }
}
