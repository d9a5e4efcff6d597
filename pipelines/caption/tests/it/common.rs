//! Running the caption pipeline in-process and reading what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use weft_engine::pipeline_file::PipelineFile;
use weft_engine::{Plan, Registry, RunOptions, RunReport};
use weft_shards::Counts;
use weft_shards::reader::Shard;

use crate::photos::repo;

pub fn registry() -> Registry {
    let mut r = Registry::builtin();
    weft_pipeline_caption::register(&mut r);
    r
}

/// The bundled pipeline file with `--set`-style overrides.
pub fn pipeline(sets: &[String]) -> PipelineFile {
    let mut pf = PipelineFile::load(&repo().join("pipelines/caption/pipeline.toml")).unwrap();
    for s in sets {
        pf.set(s).unwrap();
    }
    pf
}

pub fn run(pf: PipelineFile, reg: &Registry, out: &Path, rank: u64, world: u64) -> RunReport {
    let plan = Plan::build(pf, reg).unwrap();
    let mut opts = RunOptions::new(out);
    opts.rank = rank;
    opts.world_size = world;
    opts.wait_timeout = std::time::Duration::from_secs(120);
    weft_engine::run::run(&plan, &opts).unwrap()
}

/// Counts of one stage from its manifest.
pub fn counts(out: &Path, stage: &str) -> Counts {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(stage).join("manifest.json")).unwrap())
            .unwrap();
    serde_json::from_value(m["counts"].clone()).unwrap()
}

fn shard_files(out: &Path, stage: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join(stage))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Every value of a string column of a stage's shards, sorted.
pub fn column(out: &Path, stage: &str, col: &str) -> Vec<String> {
    let mut v = Vec::new();
    for f in shard_files(out, stage) {
        for b in Shard::open(&f).unwrap().read(Some(&[col]), 1024).unwrap() {
            let b = b.unwrap();
            let a = b.column(0).as_string::<i32>();
            v.extend((0..a.len()).map(|i| a.value(i).to_string()));
        }
    }
    v.sort();
    v
}

/// Quarantine rows of a stage: (source, reason).
pub fn quarantined(out: &Path, stage: &str) -> Vec<(String, String)> {
    let dir = out.join(stage).join("quarantine");
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return v;
    };
    let mut files: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        for b in Shard::open(&f)
            .unwrap()
            .read(Some(&["source", "reason"]), 1024)
            .unwrap()
        {
            let b = b.unwrap();
            let (s, r) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            v.extend((0..b.num_rows()).map(|i| (s.value(i).to_string(), r.value(i).to_string())));
        }
    }
    v.sort();
    v
}

/// Sum of a count map.
pub fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

/// Checks `in = out + dropped + quarantined` for every stage of a run.
pub fn assert_accounts(report: &RunReport) {
    for s in &report.stages {
        let c = &s.counts;
        assert_eq!(
            c.input,
            c.out + total(&c.dropped) + total(&c.quarantined),
            "stage {}: {c:?}",
            s.stage
        );
    }
}
