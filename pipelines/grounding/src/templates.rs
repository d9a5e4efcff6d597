//! Prompt and answer templates: minijinja sources in a TOML file a user can replace
//! (`templates.toml` next to the pipeline is the default and is compiled into the crate).
//!
//! Wording is data, not code: a team changes phrasings without a rebuild, and the shards
//! record nothing but the rendered text. A file is checked completely when a stage is built:
//! every kind must be present, every template must compile, and every template is rendered
//! once with example values under strict undefined-variable rules, so a typo (`{{ lable }}`)
//! fails `weft plan` with the file and template name instead of producing broken samples.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value, context};
use rand::RngExt;

use crate::error::GroundingError;

/// The built-in template file (a copy of `pipelines/grounding/templates.toml`).
pub const BUILTIN: &str = include_str!("../templates.toml");

/// What each kind must define: lists of phrasings and single templates.
const REQUIRED: &[(&str, &[&str], &[&str])] = &[
    ("ref_grounding", &["prompts"], &["answer"]),
    ("multi_grounding", &["prompts"], &["answer"]),
    ("point_grounding", &["prompts"], &["answer"]),
    ("counting", &["prompts"], &["answer"]),
    ("box_counting", &["prompts"], &["answer"]),
    ("point_counting", &["prompts"], &["answer"]),
    (
        "spatial",
        &["left_of", "above", "bigger", "nearest"],
        &["yes_no", "nearest_answer"],
    ),
    ("empty", &[], &["answer"]),
];

/// A compiled, checked template file.
pub struct Templates {
    env: Environment<'static>,
    origin: String,
    lists: BTreeMap<String, usize>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.origin)
    }
}

/// Example values for exactly the variables a kind's templates get (see `tasks`), so a
/// template using anything else is refused when loaded.
fn example(kind: &str) -> Value {
    let common = context! { json => true, convention => "qwen3" };
    let own = match kind {
        "ref_grounding" => context! {
            expression => "the red cup", label => "cup", listing => "```json\n[]\n```",
        },
        "spatial" => context! {
            a => "cup", b => "spoon", relation => "left_of", yes => true,
            target => "coin", targets => "coins", reference => "cup",
            listing => "```json\n[]\n```",
        },
        "empty" => context! { label => "cup", labels => "cups" },
        _ => context! {
            label => "cup", labels => "cups", count => 2, listing => "```json\n[]\n```",
        },
    };
    context! { ..common, ..own }
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Result<Templates, GroundingError> {
        Templates::parse(BUILTIN, "built-in templates.toml")
    }

    /// Templates from a file.
    pub fn load(path: &Path) -> Result<Templates, GroundingError> {
        let text = std::fs::read_to_string(path).map_err(|e| GroundingError::io(path, e))?;
        Templates::parse(&text, &path.display().to_string())
    }

    /// Templates from TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Templates, GroundingError> {
        let err = |reason: String| GroundingError::Template {
            path: origin.to_string(),
            reason,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut lists = BTreeMap::new();
        for (kind, list_keys, single_keys) in REQUIRED {
            let section = table
                .get(*kind)
                .and_then(toml::Value::as_table)
                .ok_or_else(|| err(format!("no [{kind}] table")))?;
            for key in *list_keys {
                let items = section
                    .get(*key)
                    .and_then(toml::Value::as_array)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| err(format!("[{kind}] needs a non-empty `{key}` list")))?;
                for (i, item) in items.iter().enumerate() {
                    let src = item
                        .as_str()
                        .ok_or_else(|| err(format!("[{kind}] {key}[{i}] is not a string")))?;
                    env.add_template_owned(format!("{kind}.{key}.{i}"), src.to_string())
                        .map_err(|e| err(format!("[{kind}] {key}[{i}]: {e}")))?;
                }
                lists.insert(format!("{kind}.{key}"), items.len());
            }
            for key in *single_keys {
                let src = section
                    .get(*key)
                    .and_then(toml::Value::as_str)
                    .ok_or_else(|| err(format!("[{kind}] needs a string `{key}`")))?;
                env.add_template_owned(format!("{kind}.{key}"), src.to_string())
                    .map_err(|e| err(format!("[{kind}] {key}: {e}")))?;
            }
        }
        let t = Templates {
            env,
            origin: origin.to_string(),
            lists,
        };
        // Render everything once so unknown variables fail now.
        for (kind, list_keys, single_keys) in REQUIRED {
            for key in *list_keys {
                for i in 0..t.lists[&format!("{kind}.{key}")] {
                    t.render(&format!("{kind}.{key}.{i}"), example(kind))?;
                }
            }
            for key in *single_keys {
                t.render(&format!("{kind}.{key}"), example(kind))?;
            }
        }
        Ok(t)
    }

    /// Renders one named template (`counting.answer`, `spatial.left_of.0`, …).
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, GroundingError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| GroundingError::Template {
                path: self.origin.clone(),
                reason: format!("{name}: {e:#}"),
            })
    }

    /// Renders one phrasing of the list `kind.key`, chosen with `rng`.
    pub fn pick<R: rand::Rng>(
        &self,
        list: &str,
        rng: &mut R,
        ctx: Value,
    ) -> Result<String, GroundingError> {
        let n = *self
            .lists
            .get(list)
            .ok_or_else(|| GroundingError::Template {
                path: self.origin.clone(),
                reason: format!("no template list `{list}`"),
            })?;
        let i = rng.random_range(0..n);
        self.render(&format!("{list}.{i}"), ctx)
    }

    /// Number of phrasings in a list.
    pub fn phrasings(&self, list: &str) -> usize {
        self.lists.get(list).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_engine::rng::seeded;

    #[test]
    fn the_builtin_file_has_several_phrasings_per_kind() {
        let t = Templates::builtin().unwrap();
        for list in [
            "ref_grounding.prompts",
            "multi_grounding.prompts",
            "point_grounding.prompts",
            "counting.prompts",
            "box_counting.prompts",
            "point_counting.prompts",
            "spatial.left_of",
            "spatial.nearest",
        ] {
            assert!(t.phrasings(list) >= 2, "{list}");
        }
        let text = t
            .render(
                "box_counting.answer",
                context! { listing => "L", count => 1, label => "coin", labels => "coins" },
            )
            .unwrap();
        assert_eq!(text, "L\nThere is 1 coin.");
    }

    #[test]
    fn the_same_seed_picks_the_same_phrasing_and_seeds_vary_it() {
        let t = Templates::builtin().unwrap();
        let ctx = || context! { labels => "coins", label => "coin", json => true };
        let pick = |key: &str| {
            t.pick("counting.prompts", &mut seeded(1, "t", key), ctx())
                .unwrap()
        };
        assert_eq!(pick("a"), pick("a"));
        let distinct: std::collections::BTreeSet<String> =
            (0..40).map(|i| pick(&i.to_string())).collect();
        assert_eq!(distinct.len(), t.phrasings("counting.prompts"));
    }

    #[test]
    fn broken_files_are_refused_with_the_file_and_template_named() {
        let broken = BUILTIN.replace("{{ expression }} in the image", "{{ lable }} in the image");
        let err = Templates::parse(&broken, "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mine.toml") && err.contains("ref_grounding.prompts.0"),
            "{err}"
        );
        let missing = BUILTIN.replace("[empty]", "[not_empty]");
        let err = Templates::parse(&missing, "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no [empty] table"), "{err}");
        let syntax = BUILTIN.replace("{{ count }}\"", "{{ count \"");
        assert!(Templates::parse(&syntax, "x").is_err());
    }
}
