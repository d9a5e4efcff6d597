//! `weft infer`: ask a model about images and videos from the command line, and
//! `weft infer logits`, the parity contract an independent suite drives (see
//! `weft_inference::logits`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use weft_inference::candle::{DType, Device};
use weft_inference::logits::{LogitsRequest, run as run_logits};
use weft_inference::{
    Content, ImageSource, Message, NativeModel, NativeOptions, OpenAiClient, OpenAiConfig, Request,
    SamplingParams, VideoSource, VisionLanguageModel,
};

/// `weft infer` arguments: either a subcommand or a prompt to answer.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InferArgs {
    #[command(subcommand)]
    command: Option<InferCmd>,
    #[command(flatten)]
    ask: AskArgs,
}

#[derive(Subcommand)]
enum InferCmd {
    /// Parity contract: all-position logits, position ids, pixel values and grids (and a
    /// greedy continuation) of a request, written as safetensors.
    Logits(LogitsArgs),
}

/// Compute precision.
#[derive(Clone, Copy, ValueEnum)]
enum Precision {
    F32,
    Bf16,
    F16,
}

#[derive(Args)]
struct ModelArgs {
    /// Model folder, or a Hugging Face Hub id (`Qwen/Qwen3-VL-2B-Instruct[@rev]`) to download.
    #[arg(long)]
    model: Option<String>,
    /// Compute dtype (weights are converted at load).
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Precision,
    /// Run on CUDA device 0 (needs a build with `--features cuda`).
    #[arg(long)]
    cuda: bool,
}

#[derive(Args)]
struct AskArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Instead of a native model: an OpenAI-compatible server (vLLM, SGLang), e.g.
    /// `http://localhost:8000/v1`; `--served-model` names the model there.
    #[arg(long, conflicts_with = "model")]
    server: Option<String>,
    /// Model name on the server.
    #[arg(long, requires = "server")]
    served_model: Option<String>,
    /// Images, in order, before the prompt text.
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Videos, in order, after the images.
    #[arg(long)]
    video: Vec<PathBuf>,
    /// The question or instruction.
    #[arg(long)]
    prompt: Option<String>,
    /// Optional system message.
    #[arg(long)]
    system: Option<String>,
    /// Completions to sample.
    #[arg(long, default_value_t = 1)]
    n: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Top-k (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f64,
    /// Seed of the sampling streams.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most new tokens per completion.
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    /// Print one JSON object (model id, prompt tokens, completions) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LogitsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// `{"input_ids": [...], "images": [...]}`, image paths relative to this file.
    #[arg(long)]
    request: PathBuf,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
    /// Also write `greedy_tokens`: N argmax tokens continuing the request.
    #[arg(long)]
    greedy: Option<usize>,
}

impl ModelArgs {
    fn options(&self) -> anyhow::Result<NativeOptions> {
        let device = if self.cuda {
            Device::new_cuda(0).context("CUDA device 0 (is weft built with --features cuda?)")?
        } else {
            Device::Cpu
        };
        let dtype = match self.dtype {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        };
        Ok(NativeOptions {
            dtype,
            device,
            ..NativeOptions::default()
        })
    }

    fn folder(&self) -> anyhow::Result<PathBuf> {
        let Some(spec) = &self.model else {
            bail!("--model DIR (or a Hub id) is required");
        };
        Ok(weft_inference::hub::resolve_model(spec)?)
    }
}

/// Runs `weft infer …`.
pub fn run(args: InferArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(InferCmd::Logits(a)) => logits(a),
        None => ask(args.ask),
    }
}

fn logits(a: LogitsArgs) -> anyhow::Result<ExitCode> {
    let dir = a.model.folder()?;
    let request = LogitsRequest::from_file(&a.request)?;
    let out = run_logits(&dir, &request, a.greedy, &a.model.options()?)
        .with_context(|| format!("model {}", dir.display()))?;
    out.write(&a.out)?;
    eprintln!(
        "wrote {}: logits [{}, {}], {} image(s){}",
        a.out.display(),
        out.position_ids[0].len(),
        out.vocab,
        out.image_grid_thw.len(),
        out.greedy_tokens
            .as_ref()
            .map(|g| format!(", {} greedy tokens", g.len()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn ask(a: AskArgs) -> anyhow::Result<ExitCode> {
    let Some(prompt) = a.prompt.clone() else {
        bail!("--prompt TEXT is required (or use `weft infer logits`)");
    };
    let model: Box<dyn VisionLanguageModel> = match &a.server {
        Some(url) => {
            let Some(name) = a.served_model.clone() else {
                bail!("--served-model NAME is required with --server");
            };
            Box::new(OpenAiClient::new(OpenAiConfig::new(url, name))?)
        }
        None => {
            let dir = a.model.folder()?;
            Box::new(
                NativeModel::load(&dir, a.model.options()?)
                    .with_context(|| format!("loading {}", dir.display()))?,
            )
        }
    };
    let mut content: Vec<Content> = a
        .image
        .iter()
        .map(|p| Content::Image(ImageSource::Path(p.clone())))
        .collect();
    content.extend(
        a.video
            .iter()
            .map(|p| Content::Video(VideoSource::Path(p.clone()))),
    );
    content.push(Content::Text(prompt));
    let mut messages = Vec::new();
    if let Some(s) = &a.system {
        messages.push(Message::system(s.clone()));
    }
    messages.push(Message::user(content));
    let request = Request {
        messages,
        params: SamplingParams {
            max_new_tokens: a.max_new_tokens,
            temperature: a.temperature,
            top_p: a.top_p,
            top_k: a.top_k,
            repetition_penalty: a.repetition_penalty,
            n: a.n,
            seed: a.seed,
        },
    };
    let response = model.generate(std::slice::from_ref(&request)).remove(0)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model.model_id(),
                "prompt_tokens": response.prompt_tokens,
                "completions": response.completions,
            }))?
        );
    } else {
        for (i, c) in response.completions.iter().enumerate() {
            if response.completions.len() > 1 {
                println!("--- completion {i} ({:?})", c.finish_reason);
            }
            println!("{}", c.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
