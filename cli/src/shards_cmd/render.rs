//! `weft shards render`: one row exactly as the model sees it — chat template applied, every
//! vision pad expanded — with exact vision-token and estimated text-token counts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use weft_shards::render::{RenderOptions, render};

use super::pick::{Selector, pick};
use super::{Failures, Inputs, print_json};

/// Arguments of `weft shards render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    inputs: Inputs,
    #[command(flatten)]
    select: Selector,
    /// A Hugging Face model folder: its chat template and processor configs are used.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Print every pad instead of `<|image_pad|>×N`.
    #[arg(long)]
    full_pads: bool,
    /// Append the assistant generation prompt.
    #[arg(long)]
    generation_prompt: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `weft shards render`.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let mut opts = match &args.model {
        Some(dir) => RenderOptions::from_model_dir(dir)?,
        None => RenderOptions::default(),
    };
    opts.collapse_pads = !args.full_pads;
    opts.add_generation_prompt = args.generation_prompt;
    let mut failures = Failures::new(&args.inputs);
    let Some(p) = pick(&args.inputs, &args.select, &mut failures)? else {
        anyhow::bail!("no such row in {} file(s)", args.inputs.files()?.len());
    };
    let r = render(&p.sample, &opts)?;
    if args.json {
        print_json(&json!({
            "file": p.file.display().to_string(), "row": p.row, "id": p.sample.id,
            "text": r.text,
            "image_tokens": r.image_tokens, "video_tokens": r.video_tokens,
            "vision_tokens": r.vision_tokens(),
            "text_tokens_estimate": r.text_tokens_estimate,
            "total_tokens_estimate": r.total_tokens(),
        }))?;
    } else {
        println!("{}", r.text);
        println!("──");
        println!(
            "text tokens:   ~{} (estimate: specials 1 each, other text 1 per 4 bytes)",
            r.text_tokens_estimate
        );
        println!(
            "image tokens:  {:?} = {}",
            r.image_tokens,
            r.image_tokens.iter().sum::<usize>()
        );
        if !r.video_tokens.is_empty() {
            println!(
                "video tokens:  {:?} = {}",
                r.video_tokens,
                r.video_tokens.iter().sum::<usize>()
            );
        }
        println!("total tokens:  ~{}", r.total_tokens());
    }
    Ok(failures.exit_code())
}
