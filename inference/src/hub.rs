//! `--model` accepts a local folder or a Hugging Face Hub id (`Qwen/Qwen3-VL-2B-Instruct`,
//! optionally `@revision`): a Hub id is downloaded once into the standard Hub cache
//! (`HF_HOME`, `HF_TOKEN` honoured) and resolved to its snapshot folder, which then loads like any
//! local folder. Tests never come here: they pass folders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hf_hub::api::tokio::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::error::{InferenceError, Result};

const REQUIRED: &[&str] = &["config.json", "tokenizer.json"];
const OPTIONAL: &[&str] = &[
    "generation_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer_config.json",
    "chat_template.json",
    "chat_template.jinja",
];

/// The folder for `spec`: itself when it is a directory, else the downloaded snapshot of the Hub
/// repository it names.
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let (id, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    if id.split('/').count() != 2 || id.starts_with('.') || id.starts_with('/') {
        return Err(InferenceError::Request(format!(
            "{spec}: not a folder, and not a Hub id of the form owner/name[@revision]"
        )));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| InferenceError::Server(format!("tokio runtime: {e}")))?;
    rt.block_on(download(id, revision))
}

async fn download(id: &str, revision: &str) -> Result<PathBuf> {
    let hub_err = |file: &str, e: hf_hub::api::tokio::ApiError| {
        InferenceError::Server(format!("huggingface.co {id}@{revision}: {file}: {e}"))
    };
    let api = ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| hub_err("client", e))?;
    let repo = api.repo(Repo::with_revision(
        id.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let mut config = None;
    for file in REQUIRED {
        let p = repo.get(file).await.map_err(|e| hub_err(file, e))?;
        if *file == "config.json" {
            config = Some(p);
        }
    }
    for file in OPTIONAL {
        // Absent optional files are fine: the loaders fall back to defaults.
        let _ = repo.get(file).await;
    }
    let weights: BTreeSet<String> = match repo.get("model.safetensors.index.json").await {
        Ok(index) => {
            let text =
                std::fs::read_to_string(&index).map_err(|e| InferenceError::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                InferenceError::Weights(format!("{}: not JSON: {e}", index.display()))
            })?;
            json.get("weight_map")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.values()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        }
        Err(_) => ["model.safetensors".to_string()].into(),
    };
    for file in &weights {
        repo.get(file).await.map_err(|e| hub_err(file, e))?;
    }
    let config = config.expect("config.json is required");
    Ok(config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".")))
}
