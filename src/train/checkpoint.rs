//! Checkpoints: a folder per saved step, written under a temporary name and renamed when
//! complete, holding
//!
//! - `model.safetensors`: every parameter under its PyTorch name (f32);
//! - `optimizer.safetensors`: Adam's moments as `<name>.exp_avg` / `<name>.exp_avg_sq`;
//! - `tokenizer.model`: the SentencePiece model the ids refer to;
//! - `trainer.json`: the model spec, the trainer state (step, examples, random generator,
//!   data positions, best validation score) and the size and CRC-32 of the other files.
//!
//! Loading verifies sizes and checksums, so a truncated or corrupted checkpoint is
//! reported instead of silently resuming from bad weights.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::batch::BatchState;
use crate::engine::rng::Rng;
use crate::engine::{Backend, Params};
use crate::error::{Error, Result};
use crate::model::ModelSpec;

pub use crate::engine::params::HostTensors;

/// Writes `tensors` as a safetensors file with optional string metadata, atomically.
pub fn save_safetensors(
    path: &Path,
    tensors: &HostTensors,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, (shape, data))| {
            (
                name.clone(),
                bytemuck::cast_slice::<f32, u8>(data).to_vec(),
                shape.clone(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Invalid(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let serialized = safetensors::serialize(views, metadata)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    crate::data::write_atomic(path, &serialized)
}

/// Reads every f32 tensor of a safetensors file, with its metadata.
pub fn load_safetensors(path: &Path) -> Result<(HostTensors, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        msg: format!("not a valid safetensors file: {e}"),
    })?;
    let metadata = SafeTensors::read_metadata(&bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                msg: format!("tensor '{name}' is {:?}, expected F32", view.dtype()),
            });
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(name, (view.shape().to_vec(), data));
    }
    Ok((out, metadata))
}

/// Size and CRC-32 of a file, as recorded in `trainer.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    pub bytes: u64,
    pub crc32: u32,
}

impl FileCheck {
    /// Computes the check of the file at `path`.
    pub fn of(path: &Path) -> Result<FileCheck> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(FileCheck {
            bytes: data.len() as u64,
            crc32: crc32fast::hash(&data),
        })
    }
}

/// Everything besides the tensors that a resumed run needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps completed.
    pub step: u64,
    /// Examples consumed.
    pub examples: u64,
    /// The task sampler.
    pub rng: Rng,
    /// Per task, the training data position.
    pub batches: Vec<BatchState>,
    /// Lowest validation score seen, and the step that reached it.
    pub best: Option<(f64, u64)>,
}

/// `trainer.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format: u32,
    pub spec: ModelSpec,
    /// Language of the text the encoder was trained on: ar, en or bi.
    pub language: String,
    /// Longest source sequence, in pieces including `<s>` and `</s>`.
    pub max_length: usize,
    /// How text was normalized before tokenization; `None` when it was not.
    pub normalize: Option<crate::text::NormalizeOptions>,
    pub state: TrainerState,
    /// Adam updates applied to each parameter.
    #[serde(default)]
    pub adam_steps: BTreeMap<String, u64>,
    pub files: BTreeMap<String, FileCheck>,
}

/// What a checkpoint records about the model besides its tensors.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub spec: ModelSpec,
    pub language: String,
    pub max_length: usize,
    pub normalize: Option<crate::text::NormalizeOptions>,
}

const FORMAT: u32 = 1;
const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const TOKENIZER_FILE: &str = "tokenizer.model";
const META_FILE: &str = "trainer.json";

/// A loaded checkpoint.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub meta: CheckpointMeta,
    pub weights: HostTensors,
    pub moments: Option<HostTensors>,
    pub tokenizer: Vec<u8>,
}

/// Folder name of the checkpoint of `step`.
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:09}")
}

/// Writes a checkpoint of `params` into `root/<step_dir_name>` atomically.
pub fn save<B: Backend>(
    root: &Path,
    params: &Params<B>,
    info: &ModelInfo,
    state: &TrainerState,
    tokenizer: &[u8],
) -> Result<PathBuf> {
    let final_dir = root.join(step_dir_name(state.step));
    let tmp = root.join(format!("{}.tmp", step_dir_name(state.step)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;

    save_safetensors(&tmp.join(MODEL_FILE), &params.to_host()?, None)?;
    let mut moments = BTreeMap::new();
    for (name, (m, v)) in params.moments_to_host()? {
        let shape = vec![m.len()];
        moments.insert(format!("{name}.exp_avg"), (shape.clone(), m));
        moments.insert(format!("{name}.exp_avg_sq"), (shape, v));
    }
    save_safetensors(&tmp.join(OPTIMIZER_FILE), &moments, None)?;
    crate::data::write_atomic(&tmp.join(TOKENIZER_FILE), tokenizer)?;

    let mut files = BTreeMap::new();
    for name in [MODEL_FILE, OPTIMIZER_FILE, TOKENIZER_FILE] {
        files.insert(name.to_string(), FileCheck::of(&tmp.join(name))?);
    }
    let meta = CheckpointMeta {
        format: FORMAT,
        spec: info.spec.clone(),
        language: info.language.clone(),
        max_length: info.max_length,
        normalize: info.normalize.clone(),
        state: state.clone(),
        adam_steps: params.adam_steps(),
        files,
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::data::write_atomic(&tmp.join(META_FILE), &json)?;

    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    Ok(final_dir)
}

fn corrupt(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads and verifies `trainer.json` and the files it lists.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let meta_path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
    let meta: CheckpointMeta =
        serde_json::from_str(&text).map_err(|e| corrupt(&meta_path, format!("unreadable: {e}")))?;
    if meta.format != FORMAT {
        return Err(corrupt(
            &meta_path,
            format!("format {} is not {FORMAT}", meta.format),
        ));
    }
    for (name, want) in &meta.files {
        let path = dir.join(name);
        let got = FileCheck::of(&path)?;
        if got.bytes != want.bytes {
            return Err(corrupt(
                &path,
                format!("{} bytes, expected {} (truncated?)", got.bytes, want.bytes),
            ));
        }
        if got.crc32 != want.crc32 {
            return Err(corrupt(
                &path,
                format!(
                    "checksum {:08x}, expected {:08x} (corrupted)",
                    got.crc32, want.crc32
                ),
            ));
        }
    }
    Ok(meta)
}

/// Loads and verifies the checkpoint in `dir`; `with_optimizer` also reads the moments.
pub fn load(dir: &Path, with_optimizer: bool) -> Result<Checkpoint> {
    let meta = read_meta(dir)?;
    let (weights, _) = load_safetensors(&dir.join(MODEL_FILE))?;
    let moments = if with_optimizer {
        Some(load_safetensors(&dir.join(OPTIMIZER_FILE))?.0)
    } else {
        None
    };
    let tok_path = dir.join(TOKENIZER_FILE);
    let tokenizer = std::fs::read(&tok_path).map_err(|e| Error::io(&tok_path, e))?;
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        meta,
        weights,
        moments,
        tokenizer,
    })
}

/// Checkpoint folders under `root`, oldest step first (temporary folders excluded).
pub fn list(root: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(Error::io(root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Removes all but the newest `keep` step checkpoints, sparing `protect`.
pub fn prune(root: &Path, keep: usize, protect: Option<&Path>) -> Result<()> {
    let all = list(root)?;
    let excess = all.len().saturating_sub(keep.max(1));
    for (_, dir) in all.into_iter().take(excess) {
        if Some(dir.as_path()) == protect {
            continue;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(())
}

/// Resolves a path given to `extract-encoder -t`: a checkpoint folder, or a model folder
/// (meaning its newest valid checkpoint).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(META_FILE).exists() {
        return Ok(path.to_path_buf());
    }
    let root = path.join("checkpoints");
    let all = list(&root)?;
    for (_, dir) in all.iter().rev() {
        if read_meta(dir).is_ok() {
            return Ok(dir.clone());
        }
    }
    Err(Error::Checkpoint {
        path: path.to_path_buf(),
        msg: "neither a checkpoint (no trainer.json) nor a model folder with a valid checkpoint"
            .into(),
    })
}
