//! `weft shards sql`: ad-hoc questions over a dataset with polars SQL. All files are one lazy
//! Parquet scan registered as the table `shards`, so only the columns a query names are read
//! (a `GROUP BY task` never touches image bytes).

use std::process::ExitCode;

use clap::Args;
use polars::prelude::*;
use polars::sql::SQLContext;
use serde_json::Value;

use super::{Failures, Inputs, open_sample_shard, print_json};

/// Arguments of `weft shards sql`.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The query, over the table `shards` (e.g. `SELECT task, count(*) FROM shards GROUP BY task`).
    query: String,
    #[command(flatten)]
    inputs: Inputs,
    /// Print JSON rows instead of a table.
    #[arg(long)]
    json: bool,
}

fn json_value(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::String(s) => Value::from(s),
        AnyValue::StringOwned(s) => Value::from(s.as_str()),
        AnyValue::Int8(n) => Value::from(n),
        AnyValue::Int16(n) => Value::from(n),
        AnyValue::Int32(n) => Value::from(n),
        AnyValue::Int64(n) => Value::from(n),
        AnyValue::UInt8(n) => Value::from(n),
        AnyValue::UInt16(n) => Value::from(n),
        AnyValue::UInt32(n) => Value::from(n),
        AnyValue::UInt64(n) => Value::from(n),
        AnyValue::Float32(x) => Value::from(x),
        AnyValue::Float64(x) => Value::from(x),
        other => Value::from(other.to_string()),
    }
}

/// The result as JSON objects, one per row.
pub fn frame_to_json(df: &DataFrame) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut obj = serde_json::Map::new();
        for c in df.columns() {
            obj.insert(c.name().to_string(), json_value(c.get(i)?));
        }
        rows.push(Value::Object(obj));
    }
    Ok(rows)
}

/// Runs `weft shards sql`.
pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let mut failures = Failures::new(&args.inputs);
    let mut paths = Vec::new();
    for file in args.inputs.files()? {
        if failures
            .run(&file, |p| open_sample_shard(p).map(drop))?
            .is_some()
        {
            paths.push(PlRefPath::new(file.to_string_lossy().into_owned()));
        }
    }
    anyhow::ensure!(!paths.is_empty(), "no readable shards");
    let lf = LazyFrame::scan_parquet_files(paths.into(), ScanArgsParquet::default())?;
    let mut ctx = SQLContext::new();
    ctx.register("shards", lf);
    let df = ctx.execute(&args.query)?.collect()?;
    if args.json {
        print_json(&Value::Array(frame_to_json(&df)?))?;
    } else {
        println!("{df}");
    }
    Ok(failures.exit_code())
}
