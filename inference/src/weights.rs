//! Safetensors checkpoints — one file or sharded through `model.safetensors.index.json` — read
//! tensor by tensor, checked against the shapes the config implies, converted to the compute
//! dtype.
//!
//! Why positional reads instead of a memory map: candle's CPU tensors own their storage, so a
//! mapped file is copied anyway, and every touched mapped page would stay in the process's
//! resident set until the map is dropped — loading would peak at twice the weight bytes. Reading
//! each tensor with `read_exact_at` straight into the buffer that becomes the tensor keeps the
//! peak at the weights plus one tensor, and lets a truncated file be reported by tensor name
//! before anything heavy runs.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use crate::error::{InferenceError, Result};

/// Where one tensor lives.
#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

/// The tensors of a model folder, loaded on demand.
pub struct Weights {
    files: Vec<(PathBuf, File)>,
    entries: HashMap<String, Entry>,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field(
                "files",
                &self.files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("tensors", &self.entries.len())
            .field("dtype", &self.dtype)
            .finish()
    }
}

impl Weights {
    /// Opens `model.safetensors`, or the shards listed in `model.safetensors.index.json`, and
    /// reads every header. Tensors are converted to `dtype` when loaded.
    pub fn from_model_dir(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        let single = dir.join("model.safetensors");
        let paths: Vec<PathBuf> = if index.is_file() {
            shard_paths(&index)?
        } else if single.is_file() {
            vec![single]
        } else {
            return Err(InferenceError::Weights(format!(
                "{}: no model.safetensors or model.safetensors.index.json",
                dir.display()
            )));
        };
        Self::from_files(&paths, dtype, device)
    }

    /// Opens the given safetensors files (later files win on duplicate names).
    pub fn from_files(paths: &[PathBuf], dtype: DType, device: &Device) -> Result<Self> {
        let mut files = Vec::new();
        let mut entries = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            let file = File::open(path).map_err(|e| InferenceError::io(path, e))?;
            for (name, entry) in read_header(path, &file, i)? {
                entries.insert(name, entry);
            }
            files.push((path.clone(), file));
        }
        Ok(Weights {
            files,
            entries,
            dtype,
            device: device.clone(),
        })
    }

    /// The dtype tensors are converted to.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device tensors are placed on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the checkpoint has a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The safetensors files, in load order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Bytes of all tensors as stored.
    pub fn stored_bytes(&self) -> u64 {
        self.entries.values().map(|e| e.end - e.start).sum()
    }

    /// Loads `name`, which must have exactly `shape`, converted to the compute dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let entry = self.entries.get(name).ok_or_else(|| {
            InferenceError::Weights(format!("tensor {name} is missing from the checkpoint"))
        })?;
        if entry.shape != shape {
            return Err(InferenceError::Weights(format!(
                "tensor {name} has shape {:?} in the checkpoint but the config implies {shape:?}",
                entry.shape
            )));
        }
        let (path, file) = &self.files[entry.file];
        let mut bytes = vec![0u8; (entry.end - entry.start) as usize];
        file.read_exact_at(&mut bytes, entry.start)
            .map_err(|e| InferenceError::io(path, e))?;
        let tensor = Tensor::from_raw_buffer(&bytes, entry.dtype, shape, &Device::Cpu)?;
        drop(bytes);
        Ok(tensor.to_dtype(self.dtype)?.to_device(&self.device)?)
    }
}

/// Shard files named by an index's `weight_map`, in first-appearance order.
fn shard_paths(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| InferenceError::io(index, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| InferenceError::Weights(format!("{}: not JSON: {e}", index.display())))?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            InferenceError::Weights(format!("{}: no \"weight_map\" object", index.display()))
        })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut seen = Vec::<String>::new();
    for file in map.values() {
        let file = file.as_str().ok_or_else(|| {
            InferenceError::Weights(format!(
                "{}: weight_map values must be file names",
                index.display()
            ))
        })?;
        if !seen.iter().any(|f| f == file) {
            seen.push(file.to_string());
        }
    }
    let paths: Vec<PathBuf> = seen.iter().map(|f| dir.join(f)).collect();
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        return Err(InferenceError::Weights(format!(
            "{}: shard {} is missing",
            index.display(),
            missing.display()
        )));
    }
    Ok(paths)
}

/// The safetensors header: an 8-byte little-endian length, then that many bytes of JSON.
fn read_header(path: &Path, file: &File, file_index: usize) -> Result<Vec<(String, Entry)>> {
    let bad = |reason: String| InferenceError::Weights(format!("{}: {reason}", path.display()));
    let file_len = file
        .metadata()
        .map_err(|e| InferenceError::io(path, e))?
        .len();
    let mut len = [0u8; 8];
    file.read_exact_at(&mut len, 0).map_err(|_| {
        bad(format!(
            "{file_len} bytes: too short for a safetensors header"
        ))
    })?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100 << 20 || 8 + header_len > file_len {
        return Err(bad(format!(
            "header length {header_len} does not fit a {file_len}-byte file: truncated or not safetensors"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact_at(&mut header, 8)
        .map_err(|e| InferenceError::io(path, e))?;
    let json: HashMap<String, Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let data_start = 8 + header_len;
    let mut out = Vec::with_capacity(json.len());
    for (name, info) in json {
        if name == "__metadata__" {
            continue;
        }
        let dtype_name = info.get("dtype").and_then(Value::as_str).unwrap_or("");
        let dtype = match dtype_name {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            "I64" => DType::I64,
            "U8" => DType::U8,
            "U32" => DType::U32,
            other => {
                return Err(bad(format!("tensor {name}: unsupported dtype {other:?}")));
            }
        };
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|d| d as usize)
                    .collect()
            })
            .ok_or_else(|| bad(format!("tensor {name}: no shape")))?;
        let offsets = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
            .ok_or_else(|| bad(format!("tensor {name}: no data_offsets")))?;
        let elements: u64 = shape.iter().map(|&d| d as u64).product();
        if offsets.1 < offsets.0 || offsets.1 - offsets.0 != elements * dtype.size_in_bytes() as u64
        {
            return Err(bad(format!(
                "tensor {name}: {} bytes of data for shape {shape:?} in {dtype_name}",
                offsets.1.saturating_sub(offsets.0)
            )));
        }
        let (start, end) = (data_start + offsets.0, data_start + offsets.1);
        if end > file_len {
            return Err(bad(format!(
                "tensor {name} ends at byte {end} but the file has {file_len}: truncated"
            )));
        }
        out.push((
            name,
            Entry {
                file: file_index,
                dtype,
                shape,
                start,
                end,
            },
        ));
    }
    Ok(out)
}
