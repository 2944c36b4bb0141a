//! Keeps the encoder of a trained model: the source embedding and the GRU stack, under
//! PyTorch's names, with the tokenizer and an `encoder.json` describing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::Pool;
use crate::error::{Error, Result};
use crate::model::{Encoder, EncoderConfig};
use crate::train::checkpoint::{self, save_safetensors};

/// File names inside an encoder folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const META_FILE: &str = "encoder.json";
pub const TOKENIZER_FILE: &str = "tokenizer.model";

/// `encoder.json`: everything needed to run the encoder besides its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderMeta {
    pub format: u32,
    #[serde(flatten)]
    pub config: EncoderConfig,
    /// Size of per-token states and sentence vectors.
    pub dim: usize,
    /// The pooling the model was trained with (the default for encoding).
    pub pooling: Pool,
    /// Normalization language of the training text: ar, en or bi.
    pub language: String,
    /// Longest sequence in pieces, `<s>` and `</s>` included; longer text is truncated.
    pub max_length: usize,
    /// How text is normalized before tokenization; `None` when it is not.
    pub normalize: Option<crate::text::NormalizeOptions>,
    pub bos_id: u32,
    pub eos_id: u32,
    pub unk_id: u32,
    /// Words given their own embedding rows by vocabulary expansion, in row order after
    /// the tokenizer's pieces.
    #[serde(default)]
    pub expanded_words: Vec<String>,
}

/// What [`extract_encoder`] wrote.
#[derive(Clone, Debug)]
pub struct Extracted {
    pub checkpoint: PathBuf,
    pub dir: PathBuf,
    pub tensors: usize,
    pub parameters: usize,
}

/// Extracts the encoder of `trained` (a checkpoint, or a model folder meaning its newest
/// valid checkpoint) into `save_dir`.
pub fn extract_encoder(trained: &Path, save_dir: &Path) -> Result<Extracted> {
    let ckpt_dir = checkpoint::resolve(trained)?;
    let ckpt = checkpoint::load(&ckpt_dir, false)?;
    let kept: BTreeMap<_, _> = ckpt
        .weights
        .into_iter()
        .filter(|(name, _)| name == Encoder::EMBEDDING || name.starts_with(Encoder::PREFIX))
        .collect();
    let config = ckpt.meta.spec.encoder.clone();
    let expected = 1 + 4 * config.layers * config.dirs();
    if kept.len() != expected {
        return Err(Error::Checkpoint {
            path: ckpt_dir.clone(),
            msg: format!("found {} encoder tensors, expected {expected}", kept.len()),
        });
    }
    std::fs::create_dir_all(save_dir).map_err(|e| Error::io(save_dir, e))?;
    let parameters = kept.values().map(|(_, d)| d.len()).sum();
    save_safetensors(&save_dir.join(WEIGHTS_FILE), &kept, None)?;
    crate::data::write_atomic(&save_dir.join(TOKENIZER_FILE), &ckpt.tokenizer)?;
    let meta = EncoderMeta {
        format: 1,
        dim: config.dim(),
        config,
        pooling: ckpt.meta.spec.pool,
        language: ckpt.meta.language.clone(),
        max_length: ckpt.meta.max_length,
        normalize: ckpt.meta.normalize.clone(),
        bos_id: crate::text::BOS,
        eos_id: crate::text::EOS,
        unk_id: crate::text::UNK,
        expanded_words: Vec::new(),
    };
    write_meta(save_dir, &meta)?;
    Ok(Extracted {
        checkpoint: ckpt_dir,
        dir: save_dir.to_path_buf(),
        tensors: kept.len(),
        parameters,
    })
}

/// Writes `encoder.json` into `dir` atomically.
pub fn write_meta(dir: &Path, meta: &EncoderMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::data::write_atomic(&dir.join(META_FILE), &json)
}

/// Reads `encoder.json` from `dir`.
pub fn read_meta(dir: &Path) -> Result<EncoderMeta> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        msg: format!("cannot read the encoder description: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::parse(&path, e.line(), e.to_string()))
}
