//! `ref_grounding`: a referring expression → that object's box. Expressions come from the
//! dataset; with `category_expressions`, an object that is the only instance of its
//! (exhaustively annotated, crowd-free) category is also asked for as "the {category}",
//! which refers to it unambiguously — this is what detection data can offer.

use minijinja::context;
use serde_json::json;

use super::{Candidate, Ctx0, Outcome, Question, categories, choose, commonest};
use crate::convention::{Geom, Item};
use crate::error::GroundingError;

pub(super) fn questions<R: rand::Rng>(
    ctx: &Ctx0<'_>,
    rng: &mut R,
) -> Result<Outcome, GroundingError> {
    let mut cands = Vec::new();
    let mut skips = Vec::new();
    for o in &ctx.rec.objects {
        if o.crowd || o.bbox.is_none() {
            continue;
        }
        for e in &o.expressions {
            cands.push(Candidate {
                negative: false,
                item: (o, e.clone(), "annotation"),
            });
        }
    }
    if ctx.cfg.category_expressions {
        for c in categories(ctx.rec) {
            let unique = c.exhaustive && !c.crowd && c.instances.len() == 1;
            match c.instances.first() {
                Some(o) if unique && o.expressions.is_empty() && o.bbox.is_some() => {
                    cands.push(Candidate {
                        negative: false,
                        item: (*o, format!("the {}", c.name), "category"),
                    })
                }
                _ if !unique => skips.push("not_unique"),
                _ => {}
            }
        }
    }
    if cands.is_empty() {
        return Ok(Err(commonest(&skips, "no_expressions")));
    }
    let mut out = Vec::new();
    for Candidate {
        item: (o, expression, origin),
        ..
    } in choose(cands, ctx.cfg.turns, 0.0, rng)
    {
        let b = o.bbox.expect("filtered");
        let items = [Item {
            label: expression.clone(),
            geom: Geom::Box(ctx.space.bbox(&b)),
        }];
        let vars = context! {
            ..ctx.vars(),
            ..context! {
                expression => expression.clone(),
                label => o.category.clone(),
                listing => ctx.listing(&items, &expression)?,
            }
        };
        out.push(Question {
            prompt: ctx
                .templates
                .pick("ref_grounding.prompts", rng, vars.clone())?,
            answer: ctx.templates.render("ref_grounding.answer", vars)?,
            meta: json!({
                "category": o.category,
                "count": 1,
                "negative": false,
                "annotation_ids": [o.id],
                "expression": expression,
                "expression_source": origin,
                "clipped": usize::from(o.clipped),
            }),
        });
    }
    Ok(Ok(out))
}
