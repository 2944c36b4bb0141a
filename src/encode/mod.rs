//! Using a trained encoder: [`GenSen`] loads an extracted encoder folder and returns
//! per-token states and sentence vectors; [`GenSenEnsemble`] concatenates several.
//!
//! Sentences are normalized, tokenized, sorted by length into batches (less padding),
//! encoded, and put back in the caller's order.

pub mod expand;
pub mod finetune;
pub mod npy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::engine::cpu::Cpu;
use crate::engine::cuda::{cuda_available, Cuda};
use crate::engine::device::DeviceChoice;
use crate::engine::{Backend, Params, Pool, Tape, Var};
use crate::error::{Error, Result};
use crate::model::{Encoded, Encoder, SeqInput};
use crate::text::normalize::{normalize, Language};
use crate::text::tokenizer::Tokenizer;
use crate::train::checkpoint::load_safetensors;
use crate::train::extract::{read_meta, EncoderMeta, TOKENIZER_FILE, WEIGHTS_FILE};

/// Options of [`GenSen::get_representation`].
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeOptions {
    /// Pooling of the sentence vector; the model's own when `None`.
    pub pool: Option<Pool>,
    /// Normalization language; the model's own when `None`.
    pub language: Option<Language>,
    /// Normalize text before tokenizing (recommended).
    pub normalize: bool,
    /// Surround each sentence with `<s>` and `</s>` (recommended: training did).
    pub add_start_end: bool,
    /// Sentences encoded at once.
    pub batch_size: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            pool: None,
            language: None,
            normalize: true,
            add_start_end: true,
            batch_size: 64,
        }
    }
}

/// How the GRU weights are stored for inference on the CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightPrecision {
    /// f32, exactly the trained weights.
    #[default]
    F32,
    /// An extra f16 copy of each GRU weight matrix (input and recurrent), read by batches of
    /// up to [`crate::engine::backend::HALF_MAX_BATCH`] sentences: the latency path, bound
    /// by memory, where half the bytes per step also stay in cache. Outputs differ from
    /// f32 by the weights' rounding (relative 4.9e-4 per weight). Larger batches, training
    /// and fine-tuning keep using f32.
    F16,
}

impl std::str::FromStr for WeightPrecision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(WeightPrecision::F32),
            "f16" => Ok(WeightPrecision::F16),
            other => Err(Error::Invalid(format!(
                "unknown weight precision '{other}' (expected f32 or f16)"
            ))),
        }
    }
}

/// Encoder outputs for a list of sentences, in the input's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Representation {
    /// Per-token states: (batch, max_len, dim), zero past each sentence's end.
    pub hidden: Vec<f32>,
    /// Sentence vectors: (batch, dim).
    pub sentence: Vec<f32>,
    pub batch: usize,
    pub max_len: usize,
    pub dim: usize,
    /// Number of pieces of each sentence (with `<s>`/`</s>` when added).
    pub lengths: Vec<usize>,
    /// Indices of sentences cut to the model's maximum length.
    pub truncated: Vec<usize>,
}

impl Representation {
    /// Sentence vector `i`.
    pub fn sentence_vector(&self, i: usize) -> &[f32] {
        &self.sentence[i * self.dim..(i + 1) * self.dim]
    }

    /// The hidden state of token `t` of sentence `i`.
    pub fn token_state(&self, i: usize, t: usize) -> &[f32] {
        let start = (i * self.max_len + t) * self.dim;
        &self.hidden[start..start + self.dim]
    }
}

/// A tokenized sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

/// An extracted encoder on backend `B`, usable for inference and (with a tape that
/// records) for fine-tuning under a downstream head.
pub struct EncoderModel<B: Backend> {
    pub meta: EncoderMeta,
    pub params: Params<B>,
    pub encoder: Encoder,
    pub tokenizer: Tokenizer,
    /// Whole words given embedding rows by vocabulary expansion.
    pub expanded: HashMap<String, u32>,
    pub dir: PathBuf,
}

fn missing(dir: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: dir.to_path_buf(),
        msg: format!("incomplete encoder folder: {what}: {e}"),
    }
}

impl<B: Backend> EncoderModel<B> {
    /// Loads `dir` (as written by `gensen extract-encoder`) onto `backend`.
    pub fn load(dir: &Path, backend: B) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                msg: "not an encoder folder (it does not exist)".into(),
            });
        }
        let meta = read_meta(dir)?;
        let tok_path = dir.join(TOKENIZER_FILE);
        if !tok_path.exists() {
            return Err(missing(dir, TOKENIZER_FILE, "missing"));
        }
        let tokenizer = Tokenizer::load(&tok_path)?;
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.exists() {
            return Err(missing(dir, WEIGHTS_FILE, "missing"));
        }
        let (weights, _) = load_safetensors(&weights_path)?;
        let expected_vocab = tokenizer.vocab_size() + meta.expanded_words.len();
        if meta.config.vocab != expected_vocab {
            return Err(Error::Checkpoint {
                path: dir.join(crate::train::extract::META_FILE),
                msg: format!(
                    "vocabulary of {} rows, but the tokenizer has {} pieces and {} expanded words",
                    meta.config.vocab,
                    tokenizer.vocab_size(),
                    meta.expanded_words.len()
                ),
            });
        }
        let mut params = Params::new(backend);
        for (name, (shape, data)) in &weights {
            params.add_from_host(name, shape, data)?;
        }
        let encoder = Encoder::bind(&params, meta.config.clone())
            .map_err(|e| missing(dir, WEIGHTS_FILE, e))?;
        let base = tokenizer.vocab_size() as u32;
        let expanded = meta
            .expanded_words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), base + i as u32))
            .collect();
        Ok(EncoderModel {
            meta,
            params,
            encoder,
            tokenizer,
            expanded,
            dir: dir.to_path_buf(),
        })
    }

    /// Size of sentence vectors and token states.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// Chooses how small batches read the GRU weights (see [`WeightPrecision`]).
    pub fn set_weight_precision(&mut self, precision: WeightPrecision) -> Result<()> {
        match precision {
            WeightPrecision::F32 => self.params.drop_half(),
            WeightPrecision::F16 => {
                for id in self.encoder.gru_matrices() {
                    self.params.make_half(id)?;
                }
            }
        }
        Ok(())
    }

    /// The precision small batches currently read the GRU weights in.
    pub fn weight_precision(&self) -> WeightPrecision {
        let all_half = self
            .encoder
            .gru_matrices()
            .all(|id| self.params.get(id).half.is_some());
        if all_half {
            WeightPrecision::F16
        } else {
            WeightPrecision::F32
        }
    }

    /// The language the model normalizes for by default.
    pub fn language(&self) -> Language {
        self.meta.language.parse().unwrap_or(Language::Bi)
    }

    /// Normalizes and tokenizes one sentence, cutting it to the model's maximum length.
    pub fn tokenize(&self, text: &str, opts: &EncodeOptions) -> Result<Tokens> {
        let language = opts.language.unwrap_or_else(|| self.language());
        let normalized = match (&self.meta.normalize, opts.normalize) {
            (Some(n), true) => normalize(text, language, n),
            (None, true) => normalize(text, language, &Default::default()),
            (_, false) => text.to_string(),
        };
        let mut ids = Vec::new();
        if self.expanded.is_empty() {
            ids = self.tokenizer.encode(&normalized)?;
        } else {
            // Expanded words are looked up whole before SentencePiece splits the rest.
            for word in normalized.split_whitespace() {
                match self.expanded.get(word) {
                    Some(&id) => ids.push(id),
                    None => ids.extend(self.tokenizer.encode(word)?),
                }
            }
        }
        let extra = if opts.add_start_end { 2 } else { 0 };
        let room = self.meta.max_length.saturating_sub(extra).max(1);
        let truncated = ids.len() > room;
        ids.truncate(room);
        if opts.add_start_end {
            ids.insert(0, self.meta.bos_id);
            ids.push(self.meta.eos_id);
        }
        Ok(Tokens { ids, truncated })
    }

    /// Records the encoder over `sequences` (each non-empty) on `tape`: per-token states
    /// (T, B, dim) time-major and sentence vectors (B, dim). With a recording tape,
    /// gradients flow into the encoder's parameters (fine-tuning).
    pub fn forward(
        &self,
        tape: &mut Tape<B>,
        sequences: &[&[u32]],
        pool: Pool,
    ) -> Result<(Encoded, Var)> {
        let batch = sequences.len();
        let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        if batch == 0 || sequences.iter().any(|s| s.is_empty()) {
            return Err(Error::Invalid(
                "encoder input must hold at least one non-empty sequence".into(),
            ));
        }
        let mut ids = vec![self.meta.config.pad_id; seq_len * batch]; // (T, B)
        for (b, s) in sequences.iter().enumerate() {
            for (t, &id) in s.iter().enumerate() {
                ids[t * batch + b] = id;
            }
        }
        let lens: Vec<u32> = sequences.iter().map(|s| s.len() as u32).collect();
        let input = SeqInput {
            ids: &ids,
            lens: &lens,
            seq_len,
            batch,
        };
        let encoded = self.encoder.forward(tape, &self.params, input)?;
        let sentence = self.encoder.sentence(tape, &encoded, pool)?;
        Ok((encoded, sentence))
    }

    /// Encodes token sequences, in order, without recording. Empty sequences get zero
    /// states and a zero vector.
    pub fn encode_ids(
        &self,
        tape: &mut Tape<B>,
        sequences: &[Vec<u32>],
        pool: Pool,
        batch_size: usize,
    ) -> Result<Representation> {
        let n = sequences.len();
        let dim = self.dim();
        let max_len = sequences.iter().map(Vec::len).max().unwrap_or(0);
        let mut hidden = vec![0.0f32; n * max_len * dim];
        let mut sentence = vec![0.0f32; n * dim];

        // Longest first, so each batch holds sentences of similar length.
        let mut order: Vec<usize> = (0..n).filter(|&i| !sequences[i].is_empty()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
        let recording = tape.recording();
        tape.set_recording(false);
        for chunk in order.chunks(batch_size.max(1)) {
            tape.reset();
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i].as_slice()).collect();
            let (encoded, vectors) = self.forward(tape, &seqs, pool)?;
            let states = tape.value(encoded.hidden)?; // (T, B, dim)
            let vectors = tape.value(vectors)?; // (B, dim)
            let (t_len, b_len) = (encoded.dims.seq_len, chunk.len());
            for (b, &i) in chunk.iter().enumerate() {
                sentence[i * dim..(i + 1) * dim].copy_from_slice(&vectors[b * dim..(b + 1) * dim]);
                for t in 0..t_len.min(sequences[i].len()) {
                    let src = &states[(t * b_len + b) * dim..(t * b_len + b + 1) * dim];
                    hidden[(i * max_len + t) * dim..(i * max_len + t + 1) * dim]
                        .copy_from_slice(src);
                }
            }
        }
        tape.reset();
        tape.set_recording(recording);
        Ok(Representation {
            hidden,
            sentence,
            batch: n,
            max_len,
            dim,
            lengths: sequences.iter().map(Vec::len).collect(),
            truncated: Vec::new(),
        })
    }

    /// Tokenizes and encodes `sentences`, in order.
    pub fn get_representation(
        &self,
        tape: &mut Tape<B>,
        sentences: &[impl AsRef<str>],
        opts: &EncodeOptions,
    ) -> Result<Representation> {
        let mut truncated = Vec::new();
        let mut sequences = Vec::with_capacity(sentences.len());
        for (i, s) in sentences.iter().enumerate() {
            let tokens = self.tokenize(s.as_ref(), opts)?;
            if tokens.truncated {
                truncated.push(i);
            }
            sequences.push(tokens.ids);
        }
        let pool = opts.pool.unwrap_or(self.meta.pooling);
        let mut rep = self.encode_ids(tape, &sequences, pool, opts.batch_size)?;
        rep.truncated = truncated;
        Ok(rep)
    }
}

enum Inner {
    Cpu(EncoderModel<Cpu<f32>>, Tape<Cpu<f32>>),
    Cuda(EncoderModel<Cuda>, Tape<Cuda>),
}

/// A GenSen encoder loaded on the device of the caller's choice.
pub struct GenSen {
    inner: Inner,
}

impl GenSen {
    /// Loads an encoder folder; `threads` sizes the CPU backend.
    pub fn load(dir: impl AsRef<Path>, device: DeviceChoice, threads: usize) -> Result<GenSen> {
        let dir = dir.as_ref();
        let cuda = match device {
            DeviceChoice::Cpu => false,
            DeviceChoice::Cuda => true,
            DeviceChoice::Auto => cuda_available(),
        };
        let inner = if cuda {
            let backend = Cuda::new(0)?;
            Inner::Cuda(
                EncoderModel::load(dir, backend.clone())?,
                Tape::new(backend),
            )
        } else {
            let backend = Cpu::<f32>::new(threads);
            Inner::Cpu(
                EncoderModel::load(dir, backend.clone())?,
                Tape::new(backend),
            )
        };
        Ok(GenSen { inner })
    }

    /// Size of sentence vectors and token states.
    pub fn dim(&self) -> usize {
        match &self.inner {
            Inner::Cpu(m, _) => m.dim(),
            Inner::Cuda(m, _) => m.dim(),
        }
    }

    /// Chooses how small batches read the recurrent weights: f16 halves the memory
    /// traffic of single-sentence encoding on the CPU; CUDA declines it with an error.
    pub fn set_weight_precision(&mut self, precision: WeightPrecision) -> Result<()> {
        match &mut self.inner {
            Inner::Cpu(m, _) => m.set_weight_precision(precision),
            Inner::Cuda(m, _) => m.set_weight_precision(precision),
        }
    }

    /// The folder's `encoder.json`.
    pub fn meta(&self) -> &EncoderMeta {
        match &self.inner {
            Inner::Cpu(m, _) => &m.meta,
            Inner::Cuda(m, _) => &m.meta,
        }
    }

    /// Tokenizes one sentence as [`GenSen::get_representation`] would.
    pub fn tokenize(&self, text: &str, opts: &EncodeOptions) -> Result<Tokens> {
        match &self.inner {
            Inner::Cpu(m, _) => m.tokenize(text, opts),
            Inner::Cuda(m, _) => m.tokenize(text, opts),
        }
    }

    /// Per-token states and sentence vectors of `sentences`, in their order.
    pub fn get_representation(
        &mut self,
        sentences: &[impl AsRef<str>],
        opts: &EncodeOptions,
    ) -> Result<Representation> {
        match &mut self.inner {
            Inner::Cpu(m, tape) => m.get_representation(tape, sentences, opts),
            Inner::Cuda(m, tape) => m.get_representation(tape, sentences, opts),
        }
    }

    /// Encodes already tokenized sequences.
    pub fn encode_ids(
        &mut self,
        sequences: &[Vec<u32>],
        pool: Pool,
        batch_size: usize,
    ) -> Result<Representation> {
        match &mut self.inner {
            Inner::Cpu(m, tape) => m.encode_ids(tape, sequences, pool, batch_size),
            Inner::Cuda(m, tape) => m.encode_ids(tape, sequences, pool, batch_size),
        }
    }
}

/// Several encoders whose outputs are concatenated along the feature axis.
pub struct GenSenEnsemble {
    pub models: Vec<GenSen>,
}

impl GenSenEnsemble {
    /// An ensemble of at least one model.
    pub fn new(models: Vec<GenSen>) -> Result<Self> {
        if models.is_empty() {
            return Err(Error::Invalid(
                "an ensemble needs at least one model".into(),
            ));
        }
        Ok(GenSenEnsemble { models })
    }

    /// The sum of the members' dimensions.
    pub fn dim(&self) -> usize {
        self.models.iter().map(GenSen::dim).sum()
    }

    /// Each member tokenizes with its own tokenizer; hidden states are padded to the
    /// longest tokenization across members.
    pub fn get_representation(
        &mut self,
        sentences: &[impl AsRef<str>],
        opts: &EncodeOptions,
    ) -> Result<Representation> {
        let parts = self
            .models
            .iter_mut()
            .map(|m| m.get_representation(sentences, opts))
            .collect::<Result<Vec<_>>>()?;
        Ok(concat(&parts))
    }
}

/// Concatenates representations of the same sentences along the feature axis.
pub fn concat(parts: &[Representation]) -> Representation {
    let batch = parts[0].batch;
    let max_len = parts.iter().map(|p| p.max_len).max().unwrap_or(0);
    let dim: usize = parts.iter().map(|p| p.dim).sum();
    let mut hidden = vec![0.0; batch * max_len * dim];
    let mut sentence = vec![0.0; batch * dim];
    let mut offset = 0;
    for p in parts {
        for i in 0..batch {
            sentence[i * dim + offset..i * dim + offset + p.dim]
                .copy_from_slice(p.sentence_vector(i));
            for t in 0..p.max_len {
                let dst = (i * max_len + t) * dim + offset;
                hidden[dst..dst + p.dim].copy_from_slice(p.token_state(i, t));
            }
        }
        offset += p.dim;
    }
    let mut truncated: Vec<usize> = parts
        .iter()
        .flat_map(|p| p.truncated.iter().copied())
        .collect();
    truncated.sort_unstable();
    truncated.dedup();
    Representation {
        hidden,
        sentence,
        batch,
        max_len,
        dim,
        lengths: (0..batch)
            .map(|i| parts.iter().map(|p| p.lengths[i]).max().unwrap_or(0))
            .collect(),
        truncated,
    }
}
