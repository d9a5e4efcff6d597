//! `weft shards ls`: what each file is, from its footer alone (instant on any size).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use weft_shards::Shard;
use weft_shards::schema::schema_version;

use super::{Failures, Inputs, human_bytes, print_json};

/// Arguments of `weft shards ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn describe(path: &Path) -> anyhow::Result<serde_json::Value> {
    let shard = Shard::open(path)?;
    let bytes = std::fs::metadata(path)?.len();
    Ok(json!({
        "file": path.display().to_string(),
        "rows": shard.num_rows(),
        "bytes": bytes,
        "row_groups": shard.metadata().num_row_groups(),
        "schema_version": schema_version(shard.schema()),
        "sample_schema": weft_shards::is_sample_schema(shard.schema()),
    }))
}

/// Runs `weft shards ls`.
pub fn run(args: LsArgs) -> anyhow::Result<ExitCode> {
    let mut failures = Failures::new(&args.inputs);
    let mut rows = Vec::new();
    for path in args.inputs.files()? {
        if let Some(v) = failures.run(&path, describe)? {
            rows.push(v);
        }
    }
    if args.json {
        print_json(&serde_json::Value::Array(rows))?;
    } else {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header([
            "file",
            "rows",
            "bytes",
            "row groups",
            "schema",
            "sample schema",
        ]);
        for r in &rows {
            table.add_row([
                r["file"].as_str().unwrap_or_default().to_string(),
                r["rows"].to_string(),
                human_bytes(r["bytes"].as_u64().unwrap_or(0)),
                r["row_groups"].to_string(),
                r["schema_version"]
                    .as_u64()
                    .map_or("-".into(), |v| format!("v{v}")),
                if r["sample_schema"].as_bool() == Some(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        println!("{table}");
    }
    Ok(failures.exit_code())
}
