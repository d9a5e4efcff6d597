//! Sample kinds: from one image record to a conversation of grounding questions.
//!
//! | task | question | answer |
//! |---|---|---|
//! | `ref_grounding` | a referring expression | one box |
//! | `multi_grounding` | "locate every X" | every box of X (an empty list for a verified-absent X) |
//! | `point_grounding` | "point to every X" | every point of X |
//! | `counting` | "how many X?" | the number |
//! | `box_counting` | count X by boxes | the boxes, then the count |
//! | `point_counting` | count X by points | the points, then the count |
//! | `spatial` | left of / above / bigger than (yes/no), nearest to (a box) | derived from the boxes |
//!
//! Rules every kind follows, so numbers are right by construction:
//! - a count is the number of non-crowd annotations of the category; a category with any
//!   crowd region on the image is never counted or listed (its true count is unknown), nor is
//!   a category the dataset marks non-exhaustive;
//! - listings hold at most `max_objects` entries (default 50); a category with more is asked
//!   about only in the direct `counting` form, never as a truncated list;
//! - negatives come only from categories verified absent by the reader;
//! - listings are in reading order: rows top to bottom, left to right within a row (see
//!   [`reading_order`]).
//!
//! Each image gives one sample of up to `turns` questions, chosen with a ChaCha stream seeded
//! by (pipeline seed, task, image uid); an image with nothing to ask is dropped with the
//! commonest reason its candidates were refused.

mod listing;
mod referring;
mod spatial;

use std::collections::BTreeMap;
use std::str::FromStr;

use minijinja::Value as Ctx;
use rand::RngExt;
use serde_json::Value;

use crate::canonical::{ImageRecord, Object};
use crate::convention::{Convention, Item, Space};
use crate::error::GroundingError;
use crate::names::plural;
use crate::templates::Templates;
use weft_engine::rng::seeded;

/// A sample kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// One box for a referring expression.
    RefGrounding,
    /// Every box of a category.
    MultiGrounding,
    /// Every point of a category.
    PointGrounding,
    /// The count of a category.
    Counting,
    /// Boxes, then the count.
    BoxCounting,
    /// Points, then the count.
    PointCounting,
    /// Relations between boxes.
    Spatial,
}

impl Task {
    /// All kinds.
    pub const ALL: [Task; 7] = [
        Task::RefGrounding,
        Task::MultiGrounding,
        Task::PointGrounding,
        Task::Counting,
        Task::BoxCounting,
        Task::PointCounting,
        Task::Spatial,
    ];

    /// The `task` value written to samples (and the template section).
    pub fn name(&self) -> &'static str {
        match self {
            Task::RefGrounding => "ref_grounding",
            Task::MultiGrounding => "multi_grounding",
            Task::PointGrounding => "point_grounding",
            Task::Counting => "counting",
            Task::BoxCounting => "box_counting",
            Task::PointCounting => "point_counting",
            Task::Spatial => "spatial",
        }
    }

    /// Whether answers hold points.
    pub fn uses_points(&self) -> bool {
        matches!(self, Task::PointGrounding | Task::PointCounting)
    }
}

impl FromStr for Task {
    type Err = GroundingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                GroundingError::Config(format!(
                    "unknown task `{s}`: expected one of {}",
                    Task::ALL.map(|t| t.name()).join(", ")
                ))
            })
    }
}

/// How questions are built.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The kind.
    pub task: Task,
    /// Output convention.
    pub convention: Convention,
    /// Largest listing.
    pub max_objects: usize,
    /// Questions per sample.
    pub turns: usize,
    /// Chance that a question is a negative when both kinds are available.
    pub negative_ratio: f64,
    /// `ref_grounding`: also ask for objects unique in their category as "the {category}".
    pub category_expressions: bool,
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The user turn's text.
    pub prompt: String,
    /// The assistant turn's text.
    pub answer: String,
    /// What was asked and how the answer was derived (ids, category, count, …).
    pub meta: Value,
}

/// Questions for one image, or the reason there are none.
pub type Outcome = Result<Vec<Question>, &'static str>;

/// Everything a kind needs about one image.
pub(crate) struct Ctx0<'a> {
    pub rec: &'a ImageRecord,
    pub cfg: &'a TaskConfig,
    pub templates: &'a Templates,
    pub space: Space,
}

impl Ctx0<'_> {
    /// Common template variables.
    pub fn vars(&self) -> Ctx {
        minijinja::context! {
            json => self.cfg.convention.is_json(),
            convention => self.cfg.convention.name(),
        }
    }

    /// A listing answer, or the `empty` wording where the convention has no empty list.
    pub fn listing(&self, items: &[Item], label: &str) -> Result<String, GroundingError> {
        match self.cfg.convention.format_listing(items)? {
            Some(s) => Ok(s),
            None => self.templates.render(
                "empty.answer",
                minijinja::context! { ..self.vars(), ..minijinja::context! {
                    label => label, labels => plural(label),
                }},
            ),
        }
    }
}

/// A category on one image: its instances and whether it may be counted or listed.
pub(crate) struct CategoryInfo<'a> {
    pub name: String,
    /// Non-crowd instances, in reading order.
    pub instances: Vec<&'a Object>,
    pub crowd: bool,
    pub exhaustive: bool,
}

/// An object's extent: its box, or its point as a zero-size box.
fn extent(o: &Object) -> [f64; 4] {
    match (o.bbox, o.point) {
        (Some(b), _) => b.to_array(),
        (None, Some(p)) => [p[0], p[1], p[0], p[1]],
        (None, None) => [f64::INFINITY; 4],
    }
}

/// Sorts objects into reading order: rows from top to bottom, left to right within a row.
/// Objects are taken by their top edge; one whose centre lies below the bottom edge of its
/// row's first object starts a new row (points are zero-size boxes, so points only share a
/// row when at the same height).
pub(crate) fn reading_order(objects: &mut Vec<&Object>) {
    let by = |a: &[f64; 4], b: &[f64; 4], i: usize, j: usize| {
        a[i].total_cmp(&b[i]).then(a[j].total_cmp(&b[j]))
    };
    objects.sort_by(|a, b| by(&extent(a), &extent(b), 1, 0).then_with(|| a.id.cmp(&b.id)));
    let mut rows: Vec<Vec<&Object>> = Vec::new();
    for o in objects.drain(..) {
        let e = extent(o);
        let centre = (e[1] + e[3]) / 2.0;
        match rows.last_mut() {
            Some(row) if centre <= extent(row[0])[3] => row.push(o),
            _ => rows.push(vec![o]),
        }
    }
    for mut row in rows {
        row.sort_by(|a, b| by(&extent(a), &extent(b), 0, 1).then_with(|| a.id.cmp(&b.id)));
        objects.extend(row);
    }
}

/// Categories present on the image, sorted by name.
pub(crate) fn categories(rec: &ImageRecord) -> Vec<CategoryInfo<'_>> {
    let mut by: BTreeMap<&str, CategoryInfo<'_>> = BTreeMap::new();
    for o in &rec.objects {
        let c = by
            .entry(o.category.as_str())
            .or_insert_with(|| CategoryInfo {
                name: o.category.clone(),
                instances: Vec::new(),
                crowd: false,
                exhaustive: !rec.not_exhaustive.contains(&o.category),
            });
        if o.crowd {
            c.crowd = true;
        } else {
            c.instances.push(o);
        }
    }
    let mut out: Vec<CategoryInfo<'_>> = by.into_values().collect();
    for c in &mut out {
        reading_order(&mut c.instances);
    }
    out
}

/// A candidate question: `negative` ones come from absent categories.
pub(crate) struct Candidate<T> {
    pub negative: bool,
    pub item: T,
}

/// Picks up to `turns` candidates without replacement: a negative with probability
/// `negative_ratio` while both kinds remain, else whichever kind remains.
pub(crate) fn choose<T, R: rand::Rng>(
    mut cands: Vec<Candidate<T>>,
    turns: usize,
    negative_ratio: f64,
    rng: &mut R,
) -> Vec<Candidate<T>> {
    let mut out = Vec::new();
    while out.len() < turns && !cands.is_empty() {
        let negs = cands.iter().filter(|c| c.negative).count();
        let pos = cands.len() - negs;
        let want_negative = if negs == 0 {
            false
        } else if pos == 0 {
            true
        } else {
            rng.random_bool(negative_ratio.clamp(0.0, 1.0))
        };
        let pool: Vec<usize> = (0..cands.len())
            .filter(|i| cands[*i].negative == want_negative)
            .collect();
        let pick = pool[rng.random_range(0..pool.len())];
        out.push(cands.remove(pick));
    }
    out
}

/// The commonest reason in `skips` (ties: alphabetical), or `fallback`.
pub(crate) fn commonest(skips: &[&'static str], fallback: &'static str) -> &'static str {
    let mut n: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in skips {
        *n.entry(s).or_default() += 1;
    }
    n.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map_or(fallback, |(k, _)| k)
}

/// Builds the questions of one image for `cfg.task`. `Err` only for template or convention
/// failures that concern the record (e.g. an aspect ratio Qwen2.5's resize refuses).
pub fn questions(
    rec: &ImageRecord,
    cfg: &TaskConfig,
    templates: &Templates,
    seed: u64,
) -> Result<Outcome, GroundingError> {
    let space = cfg
        .convention
        .space((rec.width, rec.height), (rec.image_width, rec.image_height))?;
    let ctx = Ctx0 {
        rec,
        cfg,
        templates,
        space,
    };
    let mut rng = seeded(seed, cfg.task.name(), &rec.uid);
    match cfg.task {
        Task::RefGrounding => referring::questions(&ctx, &mut rng),
        Task::Spatial => spatial::questions(&ctx, &mut rng),
        _ => listing::questions(&ctx, &mut rng),
    }
}

#[cfg(test)]
mod tests;
