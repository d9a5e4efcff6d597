//! Stage kinds by name. A kind is a typed config (serde, unknown keys rejected) plus a
//! constructor; pipelines and tests register their own kinds next to the built-in ones.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::stage::Stage;

/// Builds a stage from its config table (the stage's keys minus kind/inputs/side_inputs).
pub type BuildFn = fn(&toml::Table) -> Result<Arc<dyn Stage>, String>;

/// A registered stage kind.
#[derive(Clone)]
pub struct KindInfo {
    /// Name used as `kind = "…"`.
    pub name: &'static str,
    /// True for stages that read outside data and take no `inputs`.
    pub source: bool,
    /// One line for `weft plan --kinds`.
    pub about: &'static str,
    /// Constructor.
    pub build: BuildFn,
}

/// The known stage kinds.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, KindInfo>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The built-in kinds (see [`crate::stages`]).
    pub fn builtin() -> Self {
        let mut r = Registry::new();
        crate::stages::register_builtin(&mut r);
        r
    }

    /// Adds (or replaces) a kind.
    pub fn register(&mut self, info: KindInfo) {
        self.kinds.insert(info.name, info);
    }

    /// Looks a kind up.
    pub fn get(&self, name: &str) -> Option<&KindInfo> {
        self.kinds.get(name)
    }

    /// All kinds, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = &KindInfo> {
        self.kinds.values()
    }
}

/// Deserializes a stage's typed config; the config type should `#[serde(deny_unknown_fields)]`.
pub fn parse_config<T: DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    T::deserialize(toml::Value::Table(table.clone())).map_err(|e| e.message().trim().to_string())
}
