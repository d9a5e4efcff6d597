//! Charts: every grounding target lands on its drawn element (checked on the decoded PNG), and
//! every answer is recomputed here from the table by independent code.

use super::qa::{self, Qa, relative};
use super::render::render;
use super::{ChartKind, ChartTable, generate};
use crate::labels::VOCABULARIES;
use crate::query::VerifierKind;
use crate::verify::{Verdict, verify};
use weft_engine::rng::seeded;

const SIZES: [(u32, u32); 3] = [(800, 600), (960, 720), (640, 480)];

fn charts() -> Vec<(ChartTable, super::render::Rendered)> {
    let mut out = Vec::new();
    for kind in ChartKind::ALL {
        for (i, vocab) in VOCABULARIES.iter().enumerate() {
            let mut rng = seeded(7, kind.name(), &i.to_string());
            let table = generate(kind, vocab, &mut rng);
            let (w, h) = SIZES[i % SIZES.len()];
            let chart = render(&table, w, h).expect("renders");
            if let Some(dir) = std::env::var_os("WEFT_STEM_DUMP") {
                let p = std::path::Path::new(&dir).join(format!(
                    "{}-{}.png",
                    kind.name(),
                    vocab.script
                ));
                std::fs::write(p, &chart.png).unwrap();
            }
            out.push((table, chart));
        }
    }
    out
}

#[test]
fn grounding_points_land_on_the_drawn_element() {
    for (table, chart) in charts() {
        let img = image::load_from_memory(&chart.png).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (chart.width, chart.height));
        let cells: usize = table
            .series
            .iter()
            .map(|s| s.values.len() + s.points.len())
            .sum();
        assert_eq!(chart.elements.len(), cells, "{:?}", table.kind);
        for e in &chart.elements {
            // Out through the 0–1000 convention and back, as a user of the sample would.
            let rx = relative(e.point[0], chart.width) as f64;
            let ry = relative(e.point[1], chart.height) as f64;
            let x = (rx * f64::from(chart.width) / 1000.0).round() as u32;
            let y = (ry * f64::from(chart.height) / 1000.0).round() as u32;
            let px = img.get_pixel(x, y).0;
            assert_eq!(
                px, e.colour,
                "{:?} {} series {} index {} at ({x}, {y})",
                table.kind, table.script, e.series, e.index
            );
            assert!(e.bbox[0] <= e.point[0] && e.point[0] <= e.bbox[2]);
            assert!(e.bbox[1] <= e.point[1] && e.point[1] <= e.bbox[3]);
        }
    }
}

/// The value an answer must equal, recomputed from the table with plain f64 arithmetic.
fn expected(table: &ChartTable, qa: &Qa) -> Option<f64> {
    let s = table
        .series
        .iter()
        .position(|s| table.series.len() == 1 || qa.question.contains(&format!("for {}", s.name)))
        .unwrap_or(0);
    let v: Vec<f64> = table.series[s]
        .values
        .iter()
        .map(|&x| table.plotted(x))
        .collect();
    let raw = &table.series[s].values;
    let cat = |needle: &str| table.categories.iter().position(|c| c == needle);
    let mentioned: Vec<usize> = {
        let mut m: Vec<(usize, usize)> = table
            .categories
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                qa.question
                    .find(&format!(" {c} "))
                    .or_else(|| qa.question.find(&format!(" {c}?")))
                    .map(|p| (p, i))
            })
            .collect();
        m.sort();
        m.into_iter().map(|(_, i)| i).collect()
    };
    match qa.kind {
        "value_lookup" => Some(v[mentioned[0]]),
        "difference" => Some(v[mentioned[0]] - v[mentioned[1]]),
        "ratio" => Some(v[mentioned[0]] / v[mentioned[1]]),
        "share" => Some(100.0 * v[mentioned[0]] / v.iter().sum::<f64>()),
        "count_series" => Some(table.series.len() as f64),
        "count_points" => {
            let s = table
                .series
                .iter()
                .find(|s| qa.question.contains(&s.name))
                .unwrap();
            Some(s.points.len() as f64)
        }
        "max" | "min" => {
            let best = if qa.kind == "max" {
                raw.iter().max()
            } else {
                raw.iter().min()
            }
            .unwrap();
            let i = cat(&qa.answer).expect("answer is a category");
            assert_eq!(raw[i], *best, "{}", qa.question);
            None
        }
        "trend" => {
            let up = v[v.len() - 1] > v[0];
            assert_eq!(qa.answer, if up { "A" } else { "B" });
            None
        }
        _ => None,
    }
}

#[test]
fn answers_recompute_from_the_table() {
    let mut seen = std::collections::BTreeSet::new();
    for (k, (table, chart)) in charts().into_iter().enumerate() {
        for kind in qa::kinds(&table) {
            for rep in 0..3 {
                let mut rng = seeded(k as u64, kind, &rep.to_string());
                let q = qa::question(&table, &chart, kind, &mut rng);
                seen.insert(q.kind);
                // The reference answer passes its own verifier.
                assert_eq!(
                    verify(&q.query, &q.answer),
                    Verdict::Correct,
                    "{}: {:?} vs {:?}",
                    q.question,
                    q.answer,
                    q.query
                );
                if let Some(want) = expected(&table, &q) {
                    let got: f64 = q.answer.trim_end_matches('%').parse().unwrap();
                    let tol = match q.kind {
                        "ratio" => 0.005 + 1e-9,
                        "share" => 0.05 + 1e-9,
                        _ => 1e-9,
                    };
                    assert!(
                        (got - want).abs() <= tol,
                        "{}: {} vs {want}",
                        q.question,
                        q.answer
                    );
                    assert_eq!(q.query.verifier, VerifierKind::Numeric);
                }
                if q.query.verifier == VerifierKind::Grounding {
                    let b = q.query.target_box.unwrap();
                    assert!(b[0] < b[2] && b[1] < b[3], "{b:?}");
                }
            }
        }
    }
    assert_eq!(seen.len(), 11, "{seen:?}");
}

#[test]
fn same_table_same_bytes() {
    let t = generate(
        ChartKind::GroupedBar,
        &VOCABULARIES[3],
        &mut seeded(3, "x", "y"),
    );
    assert_eq!(
        render(&t, 800, 600).unwrap().png,
        render(&t, 800, 600).unwrap().png
    );
}

#[test]
fn exact_roundings() {
    assert_eq!(qa::decimal(37, 25, 2), "1.48");
    assert_eq!(qa::decimal(1, 3, 2), "0.33");
    assert_eq!(qa::decimal(2, 3, 2), "0.67");
    assert_eq!(qa::decimal(1, 8, 2), "0.13");
    assert_eq!(qa::decimal(500, 3, 1), "166.7");
    assert_eq!(qa::fraction(50, 100), "1/2");
    assert_eq!(qa::fraction(40, 8), "5");
}
