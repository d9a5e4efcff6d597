//! Geometry diagrams: triangles drawn to scale with labelled vertices, angles and sides, and
//! questions whose answers are computed from the construction (angle sum, Pythagoras, area,
//! perimeter) — plus pointing at a vertex, from the same pixel mapping that drew it.

use std::io::Cursor;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rand::RngExt;
use serde::Serialize;

use crate::chart::qa::{Qa, decimal, fraction, relative};
use crate::fonts::{self, FAMILY};
use crate::query::{Query, VerifierKind};
use weft_engine::rng::Rng;

const LETTERS: [[&str; 3]; 5] = [
    ["A", "B", "C"],
    ["P", "Q", "R"],
    ["X", "Y", "Z"],
    ["D", "E", "F"],
    ["K", "L", "M"],
];
const UNITS: [&str; 3] = ["cm", "m", "in"];
const TRIPLES: [[i64; 3]; 5] = [
    [3, 4, 5],
    [5, 12, 13],
    [8, 15, 17],
    [7, 24, 25],
    [20, 21, 29],
];

/// The construction: what was drawn, in image pixels, and the labelled quantities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triangle {
    /// `angle_sum` (two angles labelled) or `right` (two legs labelled, right angle marked).
    pub family: &'static str,
    /// Vertex names, in order.
    pub letters: [String; 3],
    /// Vertex pixels.
    pub vertices: [[f64; 2]; 3],
    /// Interior angles in degrees, integers for `angle_sum` (at vertex 0, 1, 2).
    pub angles: Option<[i64; 3]>,
    /// Leg lengths (`right`: sides from vertex 2, the right angle, to 0 and to 1) and
    /// hypotenuse.
    pub sides: Option<[i64; 3]>,
    /// Length unit.
    pub unit: &'static str,
    /// Image size.
    pub size: [u32; 2],
}

/// A drawn diagram.
pub struct Diagram {
    /// The construction.
    pub triangle: Triangle,
    /// PNG bytes.
    pub png: Vec<u8>,
}

fn fit(unit: [[f64; 2]; 3], w: u32, h: u32) -> [[f64; 2]; 3] {
    let margin = 80.0;
    let (minx, maxx) = unit
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p[0]), a.1.max(p[0])));
    let (miny, maxy) = unit
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p[1]), a.1.max(p[1])));
    let s = ((f64::from(w) - 2.0 * margin) / (maxx - minx))
        .min((f64::from(h) - 2.0 * margin) / (maxy - miny));
    let ox = (f64::from(w) - s * (maxx - minx)) / 2.0;
    let oy = (f64::from(h) + s * (maxy - miny)) / 2.0;
    // y up in the construction, down in pixels.
    unit.map(|p| {
        [
            (ox + s * (p[0] - minx)).round(),
            (oy - s * (p[1] - miny)).round(),
        ]
    })
}

/// A random triangle of either family.
pub fn generate(rng: &mut Rng) -> Triangle {
    let letters = LETTERS[rng.random_range(0..LETTERS.len())].map(String::from);
    let unit = UNITS[rng.random_range(0..UNITS.len())];
    let size = [[640, 480], [800, 600], [720, 540]][rng.random_range(0..3)];
    let mirror = rng.random_bool(0.5);
    let flip = |mut p: [[f64; 2]; 3]| {
        if mirror {
            for q in &mut p {
                q[0] = -q[0];
            }
        }
        p
    };
    if rng.random_bool(0.5) {
        let a = rng.random_range(30..=100);
        let b = rng.random_range(30..=(150 - a).min(100));
        let (ar, br) = (
            f64::from(a as i32).to_radians(),
            f64::from(b as i32).to_radians(),
        );
        let t = br.sin() / (ar + br).sin();
        let unit_pts = flip([[0.0, 0.0], [1.0, 0.0], [t * ar.cos(), t * ar.sin()]]);
        Triangle {
            family: "angle_sum",
            letters,
            vertices: fit(unit_pts, size[0], size[1]),
            angles: Some([a, b, 180 - a - b]),
            sides: None,
            unit,
            size,
        }
    } else {
        let tr = TRIPLES[rng.random_range(0..TRIPLES.len())];
        let k = if tr[2] > 20 {
            1
        } else {
            rng.random_range(1..=3)
        };
        let (leg0, leg1) = if rng.random_bool(0.5) {
            (tr[0], tr[1])
        } else {
            (tr[1], tr[0])
        };
        // Vertex 2 is the right angle at the origin; vertex 0 along x, vertex 1 along y.
        let unit_pts = flip([[leg0 as f64, 0.0], [0.0, leg1 as f64], [0.0, 0.0]]);
        Triangle {
            family: "right",
            letters,
            vertices: fit(unit_pts, size[0], size[1]),
            angles: None,
            sides: Some([leg0 * k, leg1 * k, tr[2] * k]),
            unit,
            size,
        }
    }
}

fn pe<E: std::fmt::Display>(e: E) -> String {
    format!("drawing: {e}")
}

/// Draws the triangle with its labels.
pub fn render(t: &Triangle) -> Result<Vec<u8>, String> {
    fonts::ensure()?;
    let [w, h] = t.size;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let v = t.vertices;
        let px = |p: [f64; 2]| (p[0] as i32, p[1] as i32);
        let c = [
            (v[0][0] + v[1][0] + v[2][0]) / 3.0,
            (v[0][1] + v[1][1] + v[2][1]) / 3.0,
        ];
        let toward = |p: [f64; 2], q: [f64; 2], d: f64| {
            let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
            let l = (dx * dx + dy * dy).sqrt().max(1e-9);
            [p[0] + dx / l * d, p[1] + dy / l * d]
        };
        let mut path: Vec<(i32, i32)> = v.iter().map(|p| px(*p)).collect();
        path.push(px(v[0]));
        root.draw(&PathElement::new(path, BLACK.stroke_width(3)))
            .map_err(pe)?;
        let text = |s: String, at: [f64; 2], size: u32| {
            Text::new(
                s,
                px(at),
                TextStyle::from((FAMILY, size).into_font())
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )
        };
        for (letter, p) in t.letters.iter().zip(v) {
            root.draw(&text(letter.clone(), toward(p, c, -26.0), 26))
                .map_err(pe)?;
        }
        if let Some(a) = t.angles {
            for i in 0..2 {
                root.draw(&text(format!("{}°", a[i]), toward(v[i], c, 48.0), 20))
                    .map_err(pe)?;
            }
        }
        if let Some(s) = t.sides {
            // Right-angle mark at vertex 2.
            let a = toward(v[2], v[0], 18.0);
            let b = toward(v[2], v[1], 18.0);
            let d = [a[0] + b[0] - v[2][0], a[1] + b[1] - v[2][1]];
            root.draw(&PathElement::new(
                vec![px(a), px(d), px(b)],
                BLACK.stroke_width(2),
            ))
            .map_err(pe)?;
            for (i, end) in [(0usize, 0usize), (1, 1)] {
                let mid = [(v[2][0] + v[end][0]) / 2.0, (v[2][1] + v[end][1]) / 2.0];
                root.draw(&text(
                    format!("{} {}", s[i], t.unit),
                    toward(mid, c, -30.0),
                    20,
                ))
                .map_err(pe)?;
            }
        }
        root.present().map_err(pe)?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or("buffer size")?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("png: {e}"))?;
    Ok(png)
}

fn num(kind: &'static str, question: String, answer: String, reference: String) -> Qa {
    Qa {
        kind,
        question,
        answer,
        query: Query::new(VerifierKind::Numeric, reference),
    }
}

/// The questions this triangle supports, answers computed from the construction.
pub fn questions(t: &Triangle, rng: &mut Rng) -> Vec<Qa> {
    let l = &t.letters;
    let mut out = Vec::new();
    if let Some(a) = t.angles {
        out.push(num(
            "angle",
            format!(
                "In triangle {}{}{}, angle {} = {}° and angle {} = {}°. What is angle {} in degrees?",
                l[0], l[1], l[2], l[0], a[0], l[1], a[1], l[2]
            ),
            format!("{}°", a[2]),
            a[2].to_string(),
        ));
    }
    if let Some(s) = t.sides {
        let u = t.unit;
        out.push(num(
            "hypotenuse",
            format!(
                "Triangle {}{}{} has a right angle at {}. {}{} = {} {u} and {}{} = {} {u}. How long is {}{} in {u}?",
                l[0], l[1], l[2], l[2], l[2], l[0], s[0], l[2], l[1], s[1], l[0], l[1]
            ),
            format!("{} {u}", s[2]),
            s[2].to_string(),
        ));
        let area2 = s[0] * s[1];
        out.push(num(
            "area",
            format!(
                "What is the area of the right triangle {}{}{} shown, in square {u}?",
                l[0], l[1], l[2]
            ),
            decimal(area2, 2, 1).trim_end_matches(".0").to_string(),
            fraction(area2, 2),
        ));
        out.push(num(
            "perimeter",
            format!(
                "What is the perimeter of triangle {}{}{} in {u}?",
                l[0], l[1], l[2]
            ),
            format!("{} {u}", s[0] + s[1] + s[2]),
            (s[0] + s[1] + s[2]).to_string(),
        ));
    }
    let i = rng.random_range(0..3);
    let [w, h] = t.size;
    let p = t.vertices[i];
    let (x, y) = (relative(p[0], w), relative(p[1], h));
    let r = 16.0;
    let b = [
        relative(p[0] - r, w) as f64,
        relative(p[1] - r, h) as f64,
        relative(p[0] + r, w) as f64,
        relative(p[1] + r, h) as f64,
    ];
    let mut query = Query::new(VerifierKind::Grounding, l[i].clone());
    query.target_box = Some(b);
    let label = serde_json::to_string(&l[i]).expect("string");
    out.push(Qa {
        kind: "point",
        question: format!(
            "Point to vertex {} of the triangle. Answer in JSON with point_2d in relative 0-1000 coordinates.",
            l[i]
        ),
        answer: format!("```json\n[\n\t{{\"point_2d\": [{x}, {y}], \"label\": {label}}}\n]\n```"),
        query,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Verdict, verify};
    use weft_engine::rng::seeded;

    #[test]
    fn answers_follow_from_the_drawn_construction() {
        for k in 0..40 {
            let t = generate(&mut seeded(1, "tri", &k.to_string()));
            let v = t.vertices;
            let d = |i: usize, j: usize| {
                ((v[i][0] - v[j][0]).powi(2) + (v[i][1] - v[j][1]).powi(2)).sqrt()
            };
            let angle = |i: usize, j: usize, k: usize| {
                // Interior angle at i, from the drawn pixels (law of cosines).
                let (a, b, c) = (d(i, j), d(i, k), d(j, k));
                ((a * a + b * b - c * c) / (2.0 * a * b))
                    .acos()
                    .to_degrees()
            };
            if let Some(a) = t.angles {
                assert_eq!(a.iter().sum::<i64>(), 180);
                // Drawn to scale: within rounding of the vertices to whole pixels.
                assert!((angle(0, 1, 2) - a[0] as f64).abs() < 1.0, "{t:?}");
                assert!((angle(1, 0, 2) - a[1] as f64).abs() < 1.0, "{t:?}");
            }
            if let Some(s) = t.sides {
                assert_eq!(s[0] * s[0] + s[1] * s[1], s[2] * s[2]);
                assert!((angle(2, 0, 1) - 90.0).abs() < 1.0);
                // Leg ratio as drawn.
                assert!((d(2, 0) / d(2, 1) - s[0] as f64 / s[1] as f64).abs() < 0.02);
            }
            let png = render(&t).unwrap();
            let img = image::load_from_memory(&png).unwrap().to_rgb8();
            for p in v {
                // Each vertex is on the black outline (within the 3 px stroke).
                let dark = (-2i32..=2).any(|dx| {
                    (-2i32..=2).any(|dy| {
                        let (x, y) = ((p[0] as i32 + dx) as u32, (p[1] as i32 + dy) as u32);
                        img.get_pixel(x, y).0[0] < 80
                    })
                });
                assert!(dark, "{t:?}");
            }
            for q in questions(&t, &mut seeded(2, "q", &k.to_string())) {
                // The reference answer passes its own verifier.
                assert_eq!(
                    verify(&q.query, &q.answer),
                    Verdict::Correct,
                    "{}: {:?} vs {:?}",
                    q.question,
                    q.answer,
                    q.query
                );
                if q.kind == "angle" {
                    let a = t.angles.unwrap();
                    assert_eq!(q.query.answer, (180 - a[0] - a[1]).to_string());
                }
            }
        }
    }
}
