//! Validation of a pipeline file into a [`Plan`]: every kind known, every config key known,
//! every input declared, no cycle, and every connection's schema accepted by its consumer —
//! all before any data is touched. `weft plan` prints the result.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::Error;
use crate::fingerprint::{canonical_config, digest};
use crate::pipeline_file::{PipelineFile, StageSpec};
use crate::registry::Registry;
use crate::stage::Stage;

/// A validated stage.
#[derive(Clone)]
pub struct PlannedStage {
    /// As declared.
    pub spec: StageSpec,
    /// The built stage.
    pub stage: Arc<dyn Stage>,
    /// Whether the kind is a source.
    pub source: bool,
    /// Output schema.
    pub schema: SchemaRef,
    /// Fingerprint of kind + canonical config.
    pub config_fingerprint: String,
    /// Stages that read this one (as main or side input).
    pub consumers: Vec<String>,
}

/// A validated DAG, stages in execution (topological, then declaration) order.
pub struct Plan {
    /// The pipeline file.
    pub file: PipelineFile,
    /// Stages in execution order.
    pub stages: Vec<PlannedStage>,
}

impl Plan {
    /// Validates `file` against `registry`. All problems found are reported together.
    pub fn build(file: PipelineFile, registry: &Registry) -> Result<Plan, Error> {
        let mut errors = Vec::new();
        let names: BTreeSet<&str> = file.stages.iter().map(|s| s.name.as_str()).collect();
        if file.stages.is_empty() {
            errors.push(file.error(1, "the pipeline declares no stages"));
        }

        // Kinds, configs and input references.
        let mut built: BTreeMap<String, (Arc<dyn Stage>, bool)> = BTreeMap::new();
        for spec in &file.stages {
            // Stage names become folder names under the output folder.
            let reserved = spec.name.starts_with('_')
                || spec.name == "quarantine"
                || spec.name == "stats.json";
            if spec.name.is_empty()
                || reserved
                || !spec
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                errors.push(file.error(
                    spec.line,
                    format!(
                        "stage name `{}`: use letters, digits, `_` and `-`, not starting with `_`",
                        spec.name
                    ),
                ));
                continue;
            }
            let Some(kind) = registry.get(&spec.kind) else {
                let known: Vec<_> = registry.kinds().map(|k| k.name).collect();
                errors.push(file.error(
                    file.key_line(spec.line, "kind"),
                    format!(
                        "stage `{}`: unknown kind `{}` (known kinds: {})",
                        spec.name,
                        spec.kind,
                        known.join(", ")
                    ),
                ));
                continue;
            };
            for (key, list) in [("inputs", &spec.inputs), ("side_inputs", &spec.side_inputs)] {
                for input in list {
                    if !names.contains(input.as_str()) {
                        errors.push(file.error(
                            file.key_line(spec.line, key),
                            format!("stage `{}`: {key} names `{input}`, which is not a stage of this pipeline", spec.name),
                        ));
                    } else if input == &spec.name {
                        errors.push(file.error(
                            file.key_line(spec.line, key),
                            format!("stage `{}` reads itself", spec.name),
                        ));
                    }
                }
            }
            if kind.source && !spec.inputs.is_empty() {
                errors.push(file.error(
                    file.key_line(spec.line, "inputs"),
                    format!(
                        "stage `{}`: kind `{}` is a source and takes no `inputs`",
                        spec.name, spec.kind
                    ),
                ));
            }
            if !kind.source && spec.inputs.is_empty() {
                errors.push(file.error(
                    spec.line,
                    format!("stage `{}`: kind `{}` needs `inputs`", spec.name, spec.kind),
                ));
            }
            match (kind.build)(&spec.config) {
                Ok(stage) => {
                    built.insert(spec.name.clone(), (stage, kind.source));
                }
                Err(msg) => {
                    let line =
                        backticked(&msg).map_or(spec.line, |key| file.key_line(spec.line, key));
                    errors.push(file.error(
                        line,
                        format!("stage `{}` ({}): {msg}", spec.name, spec.kind),
                    ));
                }
            }
        }

        let order = match topological_order(&file.stages) {
            Ok(o) => o,
            Err(cycle) => {
                errors.push(Error::Plan(format!(
                    "{}: stages form a cycle: {cycle}",
                    file.path.display()
                )));
                return Err(Error::Invalid(errors));
            }
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }

        // Schemas along every edge, in execution order.
        let mut stages: Vec<PlannedStage> = Vec::new();
        let mut schemas: BTreeMap<String, SchemaRef> = BTreeMap::new();
        for idx in order {
            let spec = &file.stages[idx];
            let (stage, source) = built[&spec.name].clone();
            let inputs: Vec<SchemaRef> = spec
                .inputs
                .iter()
                .filter_map(|i| schemas.get(i).cloned())
                .collect();
            let side: Vec<SchemaRef> = spec
                .side_inputs
                .iter()
                .filter_map(|i| schemas.get(i).cloned())
                .collect();
            let schema = match stage
                .output_schema(&inputs)
                .and_then(|s| stage.check_side_inputs(&side).map(|()| s))
            {
                Ok(s) => s,
                Err(msg) => {
                    let from = spec
                        .inputs
                        .iter()
                        .chain(&spec.side_inputs)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    errors.push(file.error(
                        file.key_line(spec.line, "inputs"),
                        format!(
                            "stage `{}` ({}) cannot read the output of `{from}`: {msg}",
                            spec.name, spec.kind
                        ),
                    ));
                    continue;
                }
            };
            schemas.insert(spec.name.clone(), schema.clone());
            let config_fingerprint = digest(&[spec.kind.as_str(), &canonical_config(&spec.config)]);
            let consumers = file
                .stages
                .iter()
                .filter(|s| s.inputs.contains(&spec.name) || s.side_inputs.contains(&spec.name))
                .map(|s| s.name.clone())
                .collect();
            stages.push(PlannedStage {
                spec: spec.clone(),
                stage,
                source,
                schema,
                config_fingerprint,
                consumers,
            });
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Plan { file, stages })
    }

    /// Looks a stage up by name.
    pub fn stage(&self, name: &str) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.spec.name == name)
    }

    /// Stages nothing else consumes: the pipeline's outputs.
    pub fn sinks(&self) -> Vec<String> {
        self.stages
            .iter()
            .filter(|s| s.consumers.is_empty())
            .map(|s| s.spec.name.clone())
            .collect()
    }

    /// A human-readable view of the DAG.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "pipeline `{}` (seed {}), {} stages, from {}",
            self.file.name,
            self.file.seed,
            self.stages.len(),
            self.file.path.display()
        );
        let width = self
            .stages
            .iter()
            .map(|s| s.spec.name.len())
            .max()
            .unwrap_or(0);
        for s in &self.stages {
            let from = if s.source {
                "source".to_string()
            } else {
                let mut f = format!("<- {}", s.spec.inputs.join(", "));
                if !s.spec.side_inputs.is_empty() {
                    let _ = write!(f, " (side: {})", s.spec.side_inputs.join(", "));
                }
                f
            };
            let sink = if s.consumers.is_empty() {
                "  [output]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:width$}  {:18} {from}{sink}",
                s.spec.name, s.spec.kind
            );
            let cols: Vec<String> = s.schema.fields().iter().map(|f| f.name().clone()).collect();
            let _ = writeln!(out, "  {:width$}    columns: {}", "", cols.join(", "));
        }
        out
    }
}

/// The first `…`-quoted word of a serde message (the offending key of "unknown field `x`").
fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// Kahn's algorithm with declaration order as tie-break; on a cycle, returns it as `a -> b -> a`.
fn topological_order(stages: &[StageSpec]) -> Result<Vec<usize>, String> {
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = stages
        .iter()
        .map(|s| {
            s.inputs
                .iter()
                .chain(&s.side_inputs)
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    let mut done = vec![false; stages.len()];
    let mut order = Vec::new();
    while order.len() < stages.len() {
        let next = (0..stages.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                // Walk dependencies among the remaining stages until one repeats.
                let mut path = vec![
                    (0..stages.len())
                        .find(|&i| !done[i])
                        .expect("remaining stage"),
                ];
                loop {
                    let cur = *path.last().expect("non-empty");
                    let dep = deps[cur]
                        .iter()
                        .copied()
                        .find(|&d| !done[d])
                        .expect("blocked stage has a pending dep");
                    if let Some(pos) = path.iter().position(|&p| p == dep) {
                        let mut names: Vec<&str> = path[pos..]
                            .iter()
                            .map(|&i| stages[i].name.as_str())
                            .collect();
                        names.reverse(); // dependencies first: data flows left to right
                        names.push(names[0]);
                        return Err(names.join(" -> "));
                    }
                    path.push(dep);
                }
            }
        }
    }
    Ok(order)
}
