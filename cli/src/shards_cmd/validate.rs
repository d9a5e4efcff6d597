//! `weft shards validate`: every check of [`weft_shards::validate`] over all files, plus id
//! uniqueness across files; the exit code is non-zero when anything is wrong.

use std::process::ExitCode;

use clap::Args;
use weft_shards::validate::{duplicate_ids, validate_file};

use super::{Inputs, print_json};

/// Arguments of `weft shards validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Print JSON: files, rows and problems.
    #[arg(long)]
    json: bool,
}

/// Runs `weft shards validate`.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    for path in args.inputs.files()? {
        let report = validate_file(&path);
        let stop = !report.readable && !args.inputs.keep_going;
        reports.push(report);
        if stop {
            break;
        }
    }
    let mut problems: Vec<_> = reports
        .iter()
        .flat_map(|r| r.problems.iter().cloned())
        .collect();
    problems.extend(duplicate_ids(&reports));
    let rows: u64 = reports.iter().map(|r| r.rows).sum();
    let bad_files = reports.iter().filter(|r| !r.readable).count();
    if args.json {
        print_json(&serde_json::json!({
            "files": reports.len(), "rows": rows, "unreadable_files": bad_files,
            "problems": problems.iter().map(|p| serde_json::json!({
                "file": p.path.display().to_string(), "row": p.row, "id": p.id, "reason": p.reason,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for p in &problems {
            println!("{p}");
        }
        let verdict = if problems.is_empty() { "ok" } else { "FAILED" };
        println!(
            "{verdict}: {} file(s), {rows} row(s) checked, {} problem(s)",
            reports.len(),
            problems.len()
        );
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
