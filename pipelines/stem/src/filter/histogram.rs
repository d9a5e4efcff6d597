//! The pass-rate histogram: queries per number of correct responses (0..=n), with what the
//! filter decided. Each split writes its own file (`pass_rates-s000003.json`) under the
//! configured `stats` folder and logs one line; [`merge`] adds the files of a run up.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Counts for one split or a whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Responses per query.
    pub n: u64,
    /// `correct count` → queries.
    pub bins: BTreeMap<u64, u64>,
    /// Queries kept.
    pub kept: u64,
    /// Queries dropped as too easy.
    pub too_easy: u64,
    /// Queries with 0/n (whatever the rule did with them).
    pub zero: u64,
    /// Queries quarantined before a pass rate existed (generation failed, no answer contract).
    pub failed: u64,
}

impl Histogram {
    /// An empty histogram for `n` responses per query.
    pub fn new(n: u64) -> Self {
        Histogram {
            n,
            ..Self::default()
        }
    }

    /// Counts one query with `correct` right answers.
    pub fn add(&mut self, correct: u64) {
        *self.bins.entry(correct).or_default() += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        self.n = self.n.max(other.n);
        for (k, v) in &other.bins {
            *self.bins.entry(*k).or_default() += v;
        }
        self.kept += other.kept;
        self.too_easy += other.too_easy;
        self.zero += other.zero;
        self.failed += other.failed;
    }

    /// One line: `0/16:3 1/16:0 … 16/16:2 | kept 10, too easy 5, 0/n 3, failed 0`.
    pub fn line(&self) -> String {
        let bins: Vec<String> = (0..=self.n)
            .map(|c| format!("{c}/{}:{}", self.n, self.bins.get(&c).copied().unwrap_or(0)))
            .collect();
        format!(
            "{} | kept {}, too easy {}, 0/n {}, failed {}",
            bins.join(" "),
            self.kept,
            self.too_easy,
            self.zero,
            self.failed
        )
    }

    /// Writes `dir/pass_rates-s{split:06}.json` atomically.
    pub fn write(&self, dir: &Path, split: u64) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = format!("pass_rates-s{split:06}.json");
        let tmp = dir.join(format!(".{name}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(&name)).map_err(|e| format!("{}: {e}", dir.display()))
    }
}

/// Sums every `pass_rates-s*.json` in `dir`.
pub fn merge(dir: &Path) -> Result<Histogram, String> {
    let mut total = Histogram::default();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pass_rates-s") && n.ends_with(".json"))
        })
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let h: Histogram =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        total.merge(&h);
    }
    Ok(total)
}
