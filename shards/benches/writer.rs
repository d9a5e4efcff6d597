//! Writer benchmark: weft's `ShardWriter` vs pyarrow's `pq.write_table` on the same table, in
//! one run, with the same codec (zstd level 3) and row-group size. Prints MB/s and the ratio.
//!
//! `cargo bench -p weft-shards --bench writer -- [--rows N] [--python PATH]`
//!
//! Rows are samples of the sample schema carrying one ~100 KB image payload each. The payload
//! is incompressible pseudo-random bytes behind a JPEG header, standing in for encoded photos
//! (which zstd cannot shrink either); the table is handed to Python as Arrow IPC, so both
//! writers serialise the very same arrays.

use std::process::Command;
use std::time::Instant;

use arrow::array::RecordBatch;
use serde_json::{Map, json};
use weft_shards::{
    Content, Image, Message, Sample, ShardWriter, WriterOptions, sample_schema, samples_to_batch,
};

const PY: &str = r#"
import json, sys, time
import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq
src, out, rg = sys.argv[1], sys.argv[2], int(sys.argv[3])
table = ipc.open_file(src).read_all()
res = {}
for name, kw in [("pyarrow_defaults", {}),
                 ("pyarrow_same_settings", {"use_dictionary": ["id", "task", "source", "meta"],
                                            "write_statistics": ["id", "task", "source"]})]:
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        pq.write_table(table, out, compression="zstd", compression_level=3, row_group_size=rg, **kw)
        best = min(best, time.perf_counter() - t)
    res[name] = best
print(json.dumps(res))
"#;

fn table(rows: usize) -> RecordBatch {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let samples: Vec<Sample> = (0..rows)
        .map(|i| {
            let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
            bytes.extend((0..100_000 / 8).flat_map(|_| next().to_le_bytes()));
            let image = Image {
                bytes,
                path: Some(format!("img/{i}.jpg")),
                width: 640,
                height: 480,
                format: "jpeg".into(),
            };
            let messages = vec![
                Message::new(
                    "user",
                    vec![
                        Content::Image { index: 0 },
                        Content::text("Describe this image."),
                    ],
                ),
                Message::new(
                    "assistant",
                    vec![Content::text(format!(
                        "Caption number {i}: a photo of something."
                    ))],
                ),
            ];
            let mut meta = Map::new();
            meta.insert("licence".into(), json!("cc0"));
            Sample::new("caption", "bench", messages, vec![image], vec![], meta)
        })
        .collect();
    samples_to_batch(&samples).expect("batch")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rows: usize = arg("--rows").and_then(|v| v.parse().ok()).unwrap_or(2000);
    let python = arg("--python")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let row_group = 256usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = table(rows);
    let payload: usize = batch.get_array_memory_size();

    // The same arrays for pyarrow, as Arrow IPC.
    let ipc_path = dir.path().join("table.arrow");
    {
        let f = std::fs::File::create(&ipc_path).expect("ipc file");
        let mut w =
            arrow::ipc::writer::FileWriter::try_new(f, &sample_schema()).expect("ipc writer");
        w.write(&batch).expect("ipc write");
        w.finish().expect("ipc finish");
    }

    let opts = WriterOptions {
        target_bytes: u64::MAX,
        max_rows: u64::MAX,
        row_group_bytes: u64::MAX,
        row_group_rows: row_group,
        zstd_level: 3,
    };
    let mut best = f64::MAX;
    let mut size = 0;
    for _ in 0..5 {
        // Same path every round, as pyarrow's side does, so page-cache writeback of earlier
        // rounds is freed rather than throttling the next one.
        let out = dir.path().join("weft");
        let _ = std::fs::remove_dir_all(&out);
        let t = Instant::now();
        let mut w = ShardWriter::new(&out, "bench", sample_schema(), opts.clone()).expect("writer");
        w.write(&batch).expect("write");
        let files = w.finish().expect("finish");
        best = best.min(t.elapsed().as_secs_f64());
        size = files.iter().map(|f| f.bytes).sum::<u64>();
    }

    let py = Command::new(&python)
        .args([
            "-c",
            PY,
            ipc_path.to_str().expect("utf8"),
            dir.path().join("py.parquet").to_str().expect("utf8"),
        ])
        .arg(row_group.to_string())
        .output();
    let mb = payload as f64 / 1e6;
    println!(
        "table: {rows} rows, {mb:.1} MB in memory, row groups of {row_group} rows, zstd level 3"
    );
    println!(
        "{:<24} {:>10} {:>10} {:>14}",
        "writer", "seconds", "MB/s", "weft speed-up"
    );
    println!(
        "{:<24} {:>10.3} {:>10.1} {:>14}",
        "weft ShardWriter",
        best,
        mb / best,
        "1.00x"
    );
    match py {
        Ok(o) if o.status.success() => {
            let res: serde_json::Value = serde_json::from_slice(&o.stdout).expect("python json");
            for name in ["pyarrow_defaults", "pyarrow_same_settings"] {
                let s = res[name].as_f64().expect("seconds");
                println!("{name:<24} {s:>10.3} {:>10.1} {:>13.2}x", mb / s, s / best);
            }
        }
        Ok(o) => eprintln!(
            "pyarrow side failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("cannot run {python}: {e} (run scripts/setup.sh)"),
    }
    println!("weft file size: {:.1} MB", size as f64 / 1e6);
}
