//! Running pipelines in-process and reading what they wrote.

use std::path::{Path, PathBuf};

use weft_engine::pipeline_file::PipelineFile;
use weft_engine::{Plan, Registry, RunOptions};
use weft_shards::reader::Shard;
use weft_shards::{Counts, Sample, samples_from_batch};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn registry() -> Registry {
    let mut r = Registry::builtin();
    weft_pipeline_stem::register(&mut r);
    r
}

/// Runs pipeline `text` as if it were the file `base/pipeline.toml`.
pub fn run_text(reg: &Registry, base: &Path, text: &str, out: &Path) {
    let pf = PipelineFile::parse(&base.join("pipeline.toml"), text.to_string()).unwrap();
    let plan = Plan::build(pf, reg).unwrap();
    weft_engine::run::run(&plan, &RunOptions::new(out)).unwrap();
}

pub fn counts(out: &Path, stage: &str) -> Counts {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(stage).join("manifest.json")).unwrap())
            .unwrap();
    let c: Counts = serde_json::from_value(m["counts"].clone()).unwrap();
    let dropped: u64 = c.dropped.values().sum();
    let quarantined: u64 = c.quarantined.values().sum();
    assert_eq!(c.input, c.out + dropped + quarantined, "{stage}: {c:?}");
    c
}

pub fn samples(out: &Path, stage: &str) -> Vec<Sample> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join(stage))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut v = Vec::new();
    for f in files {
        for b in Shard::open(&f).unwrap().read(None, 1024).unwrap() {
            v.extend(samples_from_batch(&b.unwrap()).unwrap());
        }
    }
    v
}

/// Quarantine rows of a stage: (source, reason, error).
pub fn quarantined(out: &Path, stage: &str) -> Vec<(String, String, String)> {
    use arrow::array::AsArray;
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
            .read(Some(&["source", "reason", "error"]), 1024)
            .unwrap()
        {
            let b = b.unwrap();
            let (s, r, e) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_string::<i32>(),
            );
            v.extend((0..b.num_rows()).map(|i| {
                (
                    s.value(i).to_string(),
                    r.value(i).to_string(),
                    e.value(i).to_string(),
                )
            }));
        }
    }
    v.sort();
    v
}

/// sha256 of every shard, from the manifest, in order.
pub fn shard_hashes(out: &Path, stage: &str) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(stage).join("manifest.json")).unwrap())
            .unwrap();
    m["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sha256"].as_str().unwrap().to_string())
        .collect()
}
