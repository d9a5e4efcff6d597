//! `ocr_synth`: a source stage of multilingual synthetic OCR lines (Latin, Cyrillic, CJK,
//! Arabic) rendered with real Noto fonts onto degraded backgrounds; the target is the exact
//! text. Line `i` of script `s` depends only on (pipeline seed, s, i), so splits, ranks and
//! reruns agree.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::{Map, json};
use weft_engine::registry::parse_config;
use weft_engine::stage::{Split, SplitContext, Stage, StageIo, StageResult};
use weft_shards::{Content, Image, Message, Sample, sample_schema, samples_to_batch};

use super::common::pick;
use crate::render::encode_png;
use crate::synth::{Script, SynthOptions, Synthesizer};

const PROMPTS: &[&str] = &[
    "Read the text in the image.",
    "What is written here?",
    "Transcribe this line of text exactly.",
    "OCR this image.",
];

fn d_lines() -> u64 {
    16
}
fn d_per_split() -> u64 {
    64
}
fn d_scripts() -> Vec<String> {
    Script::ALL.iter().map(|s| s.as_str().to_string()).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    source: String,
    /// Lines per script.
    #[serde(default = "d_lines")]
    lines_per_script: u64,
    #[serde(default = "d_per_split")]
    lines_per_split: u64,
    #[serde(default = "d_scripts")]
    scripts: Vec<String>,
    /// Font folders (default /usr/share/fonts).
    #[serde(default)]
    font_dirs: Vec<PathBuf>,
}

struct OcrSynth {
    cfg: Config,
    scripts: Vec<Script>,
    synth: OnceLock<Result<Synthesizer, String>>,
}

/// Builds the stage.
pub fn build(table: &toml::Table) -> Result<Arc<dyn Stage>, String> {
    let cfg: Config = parse_config(table)?;
    let scripts = cfg
        .scripts
        .iter()
        .map(|s| s.parse::<Script>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if scripts.is_empty() || cfg.lines_per_split == 0 {
        return Err("`scripts` must not be empty and `lines_per_split` ≥ 1".into());
    }
    Ok(Arc::new(OcrSynth {
        cfg,
        scripts,
        synth: OnceLock::new(),
    }))
}

impl OcrSynth {
    fn synthesizer(&self, seed: u64) -> StageResult<&Synthesizer> {
        self.synth
            .get_or_init(|| {
                let mut opts = SynthOptions {
                    seed,
                    scripts: self.scripts.clone(),
                    ..SynthOptions::default()
                };
                if !self.cfg.font_dirs.is_empty() {
                    opts.font_dirs = self.cfg.font_dirs.clone();
                }
                Synthesizer::new(opts).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// (script, line index) of every line, in a fixed order.
    fn lines(&self) -> Vec<(Script, u64)> {
        self.scripts
            .iter()
            .flat_map(|s| (0..self.cfg.lines_per_script).map(move |i| (*s, i)))
            .collect()
    }
}

impl Stage for OcrSynth {
    fn output_schema(&self, _inputs: &[SchemaRef]) -> StageResult<SchemaRef> {
        Ok(sample_schema())
    }

    fn splits(&self, _ctx: &SplitContext) -> StageResult<Vec<Split>> {
        let lines = self.lines();
        Ok(lines
            .chunks(self.cfg.lines_per_split as usize)
            .enumerate()
            .map(|(i, chunk)| Split {
                index: i as u64,
                files: Vec::new(),
                items: chunk
                    .iter()
                    .map(|(s, n)| PathBuf::from(format!("{s}/{n}")))
                    .collect(),
                key: format!("{}:{}", chunk[0].0, chunk[0].1),
            })
            .collect())
    }

    fn process(&self, split: &Split, io: &mut StageIo) -> StageResult<()> {
        let seed = io.pipeline_seed();
        let synth = self.synthesizer(seed)?;
        let mut samples = Vec::new();
        for item in &split.items {
            io.add_input(1);
            let name = item.to_string_lossy();
            let (script, index) = name.split_once('/').ok_or("bad synth item")?;
            let script: Script = script
                .parse()
                .map_err(|e: crate::synth::SynthError| e.to_string())?;
            let index: u64 = index.parse().map_err(|_| "bad synth index")?;
            let line = match synth.line(script, index) {
                Ok(l) => l,
                Err(e) => {
                    io.quarantine(name.to_string(), "synth_failed", e.to_string());
                    continue;
                }
            };
            let bytes = encode_png(&line.image);
            let image = Image::from_encoded(bytes, Some(format!("synth/{name}.png")))
                .map_err(|e| e.to_string())?;
            let prompt = pick(seed, &name, PROMPTS);
            let mut meta = Map::new();
            meta.insert("script".into(), json!(script.as_str()));
            meta.insert("lang".into(), json!(line.lang));
            meta.insert("font".into(), json!(line.font));
            meta.insert("render".into(), line.params.clone());
            meta.insert("synthetic".into(), json!(true));
            let messages = vec![
                Message::new(
                    "user",
                    vec![Content::Image { index: 0 }, Content::text(prompt)],
                ),
                Message::new("assistant", vec![Content::text(&line.text)]),
            ];
            samples.push(Sample::new(
                "ocr_synth",
                &self.cfg.source,
                messages,
                vec![image],
                vec![],
                meta,
            ));
        }
        io.emit(&samples_to_batch(&samples).map_err(|e| e.to_string())?)
    }
}
