//! Fingerprints: sha256 over a canonical form of what determines a stage's output, so a
//! stage is skipped exactly when its kind, config, seed and inputs are unchanged.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Canonical JSON of a TOML table: keys sorted at every level.
pub fn canonical_config(table: &toml::Table) -> String {
    fn sort(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<_> = m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    let v = serde_json::to_value(table).unwrap_or(Value::Null);
    sort(v).to_string()
}

/// Hex sha256 of the parts, each length-prefixed so boundaries cannot be confused.
pub fn digest<S: AsRef<[u8]>>(parts: &[S]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        let p = p.as_ref();
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// A 64-bit seed derived from the pipeline seed and a name/index (stable across platforms).
pub fn derive_seed(base: u64, stage: &str, split: u64) -> u64 {
    let d = digest(&[
        &base.to_le_bytes()[..],
        stage.as_bytes(),
        &split.to_le_bytes()[..],
    ]);
    u64::from_str_radix(&d[..16], 16).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_config_ignores_key_order_but_not_values() {
        let a: toml::Table = toml::from_str("b = 1\na = { y = 2, x = 3 }").unwrap();
        let b: toml::Table = toml::from_str("a = { x = 3, y = 2 }\nb = 1").unwrap();
        let c: toml::Table = toml::from_str("a = { x = 3, y = 2 }\nb = 2").unwrap();
        assert_eq!(canonical_config(&a), canonical_config(&b));
        assert_ne!(canonical_config(&a), canonical_config(&c));
    }

    #[test]
    fn digest_separates_parts() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }
}
