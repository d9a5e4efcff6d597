//! The pipeline TOML file: `[pipeline]` (name, seed) and one `[stages.NAME]` table per stage
//! with `kind`, optional `inputs` / `side_inputs` and the kind's own config keys.
//!
//! Parsing keeps byte spans so that every later error (unknown key, unknown kind, missing
//! input) can name the file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    pipeline: Spanned<Header>,
    #[serde(default)]
    stages: toml::map::Map<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    description: Option<String>,
}

/// One stage as declared in the file.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// Stage name (the table name), also its output folder name.
    pub name: String,
    /// Registered kind.
    pub kind: String,
    /// Stages whose output this stage processes, split by shard.
    pub inputs: Vec<String>,
    /// Stages whose whole output this stage reads alongside (e.g. a dedup table).
    pub side_inputs: Vec<String>,
    /// The kind's own config keys.
    pub config: toml::Table,
    /// Line of the `[stages.NAME]` header.
    pub line: usize,
}

/// A parsed pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// The file it came from (for messages and relative paths).
    pub path: PathBuf,
    /// Source text (for locating keys in messages).
    pub text: String,
    /// Pipeline name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Base seed of every stage's randomness.
    pub seed: u64,
    /// Stages in declaration order.
    pub stages: Vec<StageSpec>,
}

/// 1-based line of byte offset `pos` in `text`.
pub fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

impl PipelineFile {
    /// Reads and parses a pipeline file.
    pub fn load(path: &Path) -> Result<PipelineFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, text)
    }

    /// Parses pipeline text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, text: String) -> Result<PipelineFile, Error> {
        let err = |line: usize, msg: String| Error::Config {
            file: path.to_path_buf(),
            line,
            msg,
        };
        let doc: Doc = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(&text, s.start));
            err(line, e.message().trim().to_string())
        })?;
        let mut stages = Vec::new();
        for (name, value) in doc.stages {
            let line = header_line(&text, &name);
            let toml::Value::Table(mut table) = value else {
                return Err(err(line, format!("`stages.{name}` must be a table")));
            };
            let kind = match table.remove("kind") {
                Some(toml::Value::String(k)) => k,
                Some(_) => {
                    return Err(err(
                        key_line(&text, line, "kind"),
                        format!("stage `{name}`: `kind` must be a string"),
                    ));
                }
                None => return Err(err(line, format!("stage `{name}` has no `kind`"))),
            };
            let mut list = |key: &str| -> Result<Vec<String>, Error> {
                match table.remove(key) {
                    None => Ok(Vec::new()),
                    Some(toml::Value::Array(items)) => items
                        .into_iter()
                        .map(|v| match v {
                            toml::Value::String(s) => Ok(s),
                            _ => Err(err(
                                key_line(&text, line, key),
                                format!("stage `{name}`: `{key}` must be a list of stage names"),
                            )),
                        })
                        .collect(),
                    Some(toml::Value::String(s)) => Ok(vec![s]),
                    Some(_) => Err(err(
                        key_line(&text, line, key),
                        format!("stage `{name}`: `{key}` must be a list of stage names"),
                    )),
                }
            };
            let inputs = list("inputs")?;
            let side_inputs = list("side_inputs")?;
            stages.push(StageSpec {
                name,
                kind,
                inputs,
                side_inputs,
                config: table,
                line,
            });
        }
        let header = doc.pipeline.into_inner();
        Ok(PipelineFile {
            path: path.to_path_buf(),
            text,
            name: header.name,
            description: header.description,
            seed: header.seed,
            stages,
        })
    }

    /// A pipeline built in Rust instead of read from a file. Relative paths in stage configs
    /// resolve against `base_dir`; messages name the pipeline as `base_dir/<name>.rs`.
    pub fn new(name: &str, seed: u64, base_dir: &Path) -> Self {
        PipelineFile {
            path: base_dir.join(format!("<{name}>.rs")),
            text: String::new(),
            name: name.to_string(),
            description: None,
            seed,
            stages: Vec::new(),
        }
    }

    /// Adds a stage (builder style).
    pub fn with_stage(
        mut self,
        name: &str,
        kind: &str,
        inputs: &[&str],
        side_inputs: &[&str],
        config: toml::Table,
    ) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        self.stages.push(StageSpec {
            name: name.to_string(),
            kind: kind.to_string(),
            inputs: strings(inputs),
            side_inputs: strings(side_inputs),
            config,
            line: 1,
        });
        self
    }

    /// Applies a `STAGE.KEY=VALUE` override (from `weft run --set`). VALUE is parsed as a TOML
    /// value when it is one (`3`, `true`, `["a"]`, `"quoted"`), else taken as a string.
    pub fn set(&mut self, assignment: &str) -> Result<(), Error> {
        let bad = |msg: String| Error::Plan(format!("--set {assignment}: {msg}"));
        let (target, raw) = assignment
            .split_once('=')
            .ok_or_else(|| bad("expected STAGE.KEY=VALUE".into()))?;
        let (stage, key) = target
            .trim()
            .split_once('.')
            .ok_or_else(|| bad("expected STAGE.KEY=VALUE".into()))?;
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        let spec = self
            .stages
            .iter_mut()
            .find(|s| s.name == stage)
            .ok_or_else(|| bad(format!("no stage `{stage}` in {}", self.path.display())))?;
        match key {
            "kind" => return Err(bad("the kind of a stage cannot be overridden".into())),
            "inputs" | "side_inputs" => return Err(bad("inputs cannot be overridden".into())),
            _ => {
                spec.config.insert(key.to_string(), value);
            }
        }
        Ok(())
    }

    /// The folder relative paths in stage configs are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A config error at `line`.
    pub fn error(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::Config {
            file: self.path.clone(),
            line,
            msg: msg.into(),
        }
    }

    /// Line of `key` inside the stage declared at `stage_line` (the header line if absent).
    pub fn key_line(&self, stage_line: usize, key: &str) -> usize {
        key_line(&self.text, stage_line, key)
    }
}

/// Line of the `[stages.NAME]` header (or the `NAME = {…}` inline table), 1 if not found.
fn header_line(text: &str, name: &str) -> usize {
    let quoted = format!("[stages.\"{name}\"]");
    let plain = format!("[stages.{name}]");
    for (i, l) in text.lines().enumerate() {
        let t = l.trim().replace(' ', "");
        if t.starts_with(&plain) || t.starts_with(&quoted) {
            return i + 1;
        }
    }
    1
}

/// Line of `key = …` at or after `from_line`, before the next table header.
fn key_line(text: &str, from_line: usize, key: &str) -> usize {
    for (i, l) in text.lines().enumerate().skip(from_line) {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return i + 1;
        }
    }
    from_line
}
