//! `multi_grounding`, `point_grounding`, `counting`, `box_counting`, `point_counting`: one
//! question per category ("every X", "how many X"), answered from all its instances.

use minijinja::context;
use serde_json::json;

use super::{Candidate, Ctx0, Outcome, Question, Task, categories, choose, commonest};
use crate::convention::{Geom, Item};
use crate::error::GroundingError;
use crate::names::plural;

pub(super) fn questions<R: rand::Rng>(
    ctx: &Ctx0<'_>,
    rng: &mut R,
) -> Result<Outcome, GroundingError> {
    let task = ctx.cfg.task;
    let listed = task != Task::Counting;
    let cats = categories(ctx.rec);
    let mut skips = Vec::new();
    let mut cands = Vec::new();
    for c in &cats {
        if !c.exhaustive {
            skips.push("not_exhaustive");
        } else if c.crowd {
            skips.push("crowd");
        } else if c.instances.is_empty() {
            continue;
        } else if listed && task.uses_points() && c.instances.iter().any(|o| o.point.is_none()) {
            skips.push("no_points");
        } else if listed && !task.uses_points() && c.instances.iter().any(|o| o.bbox.is_none()) {
            skips.push("no_boxes");
        } else if listed && c.instances.len() > ctx.cfg.max_objects {
            skips.push("over_cap");
        } else {
            cands.push(Candidate {
                negative: false,
                item: (c.name.clone(), c.instances.clone()),
            });
        }
    }
    for a in &ctx.rec.absent {
        cands.push(Candidate {
            negative: true,
            item: (a.clone(), Vec::new()),
        });
    }
    if cands.is_empty() {
        return Ok(Err(commonest(&skips, "no_objects")));
    }
    let mut out = Vec::new();
    for Candidate {
        negative,
        item: (name, instances),
    } in choose(cands, ctx.cfg.turns, ctx.cfg.negative_ratio, rng)
    {
        let listed_instances: &[&crate::canonical::Object] = if listed { &instances } else { &[] };
        let items: Vec<Item> = listed_instances
            .iter()
            .map(|o| Item {
                label: name.clone(),
                geom: if task.uses_points() {
                    Geom::Point(ctx.space.point(o.point.expect("checked above")))
                } else {
                    Geom::Box(ctx.space.bbox(&o.bbox.expect("checked above")))
                },
            })
            .collect();
        // Counting forms state the count themselves: where the convention has no empty
        // list (qwen2), an empty listing is left out rather than worded twice.
        let counting_form = matches!(task, Task::BoxCounting | Task::PointCounting);
        let listing =
            if !listed || (counting_form && items.is_empty() && !ctx.cfg.convention.is_json()) {
                String::new()
            } else {
                ctx.listing(&items, &name)?
            };
        let vars = context! {
            ..ctx.vars(),
            ..context! {
                label => name.clone(),
                labels => plural(&name),
                count => instances.len(),
                listing => listing,
            }
        };
        let prompt = ctx
            .templates
            .pick(&format!("{}.prompts", task.name()), rng, vars.clone())?;
        let answer = ctx
            .templates
            .render(&format!("{}.answer", task.name()), vars)?;
        out.push(Question {
            prompt,
            answer,
            meta: json!({
                "category": name,
                "count": instances.len(),
                "negative": negative,
                "annotation_ids": instances.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
                "clipped": instances.iter().filter(|o| o.clipped).count(),
            }),
        });
    }
    Ok(Ok(out))
}
