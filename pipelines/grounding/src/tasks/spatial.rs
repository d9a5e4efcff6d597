//! `spatial`: relations read off the boxes of objects a question can name unambiguously.
//!
//! Yes/no questions pair two objects that are each the only instance of their category
//! (exhaustive, no crowd), and are asked only when the boxes settle the answer:
//! - `left_of`: one box ends left of where the other starts (`a.x2 ≤ b.x1`);
//! - `above`: one box ends above where the other starts (`a.y2 ≤ b.y1`);
//! - `bigger`: one box's area is at least 1.5× the other's.
//!
//! Overlapping boxes or near-equal areas are not asked about. Which of the two is named first
//! is drawn at random, so yes and no answers both occur. `nearest`: among several instances
//! of a category (all listed, within the cap), the one whose centre is closest to a unique
//! object's centre — asked only when it is clearly closest (≤ 0.8× the runner-up's distance)
//! and the reference does not contain any candidate's centre (the eyes of "the cat" are
//! parts of it, not near it), answered with its box.

use minijinja::context;
use rand::RngExt;
use serde_json::json;

use super::{Candidate, Ctx0, Outcome, Question, categories, choose, commonest};
use crate::canonical::Object;
use crate::convention::{Geom, Item};
use crate::error::GroundingError;
use crate::geometry::BBox;
use crate::names::plural;

/// Ratio of areas that makes one box "bigger".
const BIGGER: f64 = 1.5;
/// The nearest instance must be this much closer than the next one.
const NEAREST_MARGIN: f64 = 0.8;

enum Ask<'a> {
    YesNo {
        relation: &'static str,
        a: &'a Object,
        b: &'a Object,
        yes: bool,
    },
    Nearest {
        target: &'a Object,
        reference: &'a Object,
        others: usize,
    },
}

fn relations(a: &BBox, b: &BBox) -> Vec<(&'static str, Option<bool>)> {
    let side = |a_end: f64, a_start: f64, b_end: f64, b_start: f64| {
        if a_end <= b_start {
            Some(true)
        } else if b_end <= a_start {
            Some(false)
        } else {
            None
        }
    };
    let (aa, ab) = (a.area(), b.area());
    let bigger = if aa >= BIGGER * ab {
        Some(true)
    } else if ab >= BIGGER * aa {
        Some(false)
    } else {
        None
    };
    vec![
        ("left_of", side(a.x2, a.x1, b.x2, b.x1)),
        ("above", side(a.y2, a.y1, b.y2, b.y1)),
        ("bigger", bigger),
    ]
}

fn distance(a: &BBox, b: &BBox) -> f64 {
    let (ca, cb) = (a.center(), b.center());
    ((ca[0] - cb[0]).powi(2) + (ca[1] - cb[1]).powi(2)).sqrt()
}

pub(super) fn questions<R: rand::Rng>(
    ctx: &Ctx0<'_>,
    rng: &mut R,
) -> Result<Outcome, GroundingError> {
    let cats = categories(ctx.rec);
    let usable = |c: &&super::CategoryInfo<'_>| {
        c.exhaustive && !c.crowd && c.instances.iter().all(|o| o.bbox.is_some())
    };
    let unique: Vec<&Object> = cats
        .iter()
        .filter(usable)
        .filter(|c| c.instances.len() == 1)
        .map(|c| c.instances[0])
        .collect();
    let mut cands: Vec<Candidate<Ask<'_>>> = Vec::new();
    let mut skips = Vec::new();
    for (i, a) in unique.iter().enumerate() {
        for b in &unique[i + 1..] {
            for (relation, fact) in relations(&a.bbox.unwrap(), &b.bbox.unwrap()) {
                let Some(a_rel_b) = fact else {
                    skips.push("unclear_relation");
                    continue;
                };
                // Name either object first; the answer follows.
                let (x, y, yes) = if rng.random_bool(0.5) {
                    (*a, *b, a_rel_b)
                } else {
                    (*b, *a, !a_rel_b)
                };
                cands.push(Candidate {
                    negative: false,
                    item: Ask::YesNo {
                        relation,
                        a: x,
                        b: y,
                        yes,
                    },
                });
            }
        }
    }
    for c in cats.iter().filter(usable) {
        if c.instances.len() < 2 || c.instances.len() > ctx.cfg.max_objects {
            continue;
        }
        for r in unique.iter().filter(|r| r.category != c.name) {
            let rb = r.bbox.unwrap();
            // A reference that contains the candidates (the eyes of "the cat") makes
            // "nearest" a question about parts, which centre distances do not answer.
            let inside = |o: &&Object| {
                let [x, y] = o.bbox.unwrap().center();
                rb.x1 <= x && x <= rb.x2 && rb.y1 <= y && y <= rb.y2
            };
            if c.instances.iter().any(inside) {
                skips.push("part_of_reference");
                continue;
            }
            let mut d: Vec<(f64, &Object)> = c
                .instances
                .iter()
                .map(|o| (distance(&o.bbox.unwrap(), &rb), *o))
                .collect();
            d.sort_by(|x, y| x.0.total_cmp(&y.0));
            if d[0].0 <= NEAREST_MARGIN * d[1].0 {
                cands.push(Candidate {
                    negative: false,
                    item: Ask::Nearest {
                        target: d[0].1,
                        reference: r,
                        others: d.len(),
                    },
                });
            } else {
                skips.push("unclear_relation");
            }
        }
    }
    if cands.is_empty() {
        let reason = if unique.is_empty() {
            "no_unique_objects"
        } else {
            "no_pairs"
        };
        return Ok(Err(commonest(&skips, reason)));
    }
    let mut out = Vec::new();
    for c in choose(cands, ctx.cfg.turns, 0.0, rng) {
        let (list, answer_tpl, vars, meta) = match c.item {
            Ask::YesNo {
                relation,
                a,
                b,
                yes,
            } => (
                format!("spatial.{relation}"),
                "spatial.yes_no",
                context! {
                    a => a.category.clone(), b => b.category.clone(), relation => relation,
                    yes => yes, target => "", targets => "", reference => "", listing => "",
                },
                json!({
                    "relation": relation,
                    "a": a.category, "b": b.category,
                    "annotation_ids": [a.id, b.id],
                    "answer": if yes { "yes" } else { "no" },
                    "negative": false,
                }),
            ),
            Ask::Nearest {
                target,
                reference,
                others,
            } => {
                let items = [Item {
                    label: target.category.clone(),
                    geom: Geom::Box(ctx.space.bbox(&target.bbox.unwrap())),
                }];
                (
                    "spatial.nearest".to_string(),
                    "spatial.nearest_answer",
                    context! {
                        a => "", b => "", relation => "nearest", yes => false,
                        target => target.category.clone(),
                        targets => plural(&target.category),
                        reference => reference.category.clone(),
                        listing => ctx.listing(&items, &target.category)?,
                    },
                    json!({
                        "relation": "nearest",
                        "category": target.category,
                        "reference": reference.category,
                        "candidates": others,
                        "annotation_ids": [target.id, reference.id],
                        "negative": false,
                    }),
                )
            }
        };
        let vars = context! { ..ctx.vars(), ..vars };
        out.push(Question {
            prompt: ctx.templates.pick(&list, rng, vars.clone())?,
            answer: ctx.templates.render(answer_tpl, vars)?,
            meta,
        });
    }
    Ok(Ok(out))
}
