//! Evaluation of sentence encoders on transfer tasks: SentEval's probes on frozen vectors,
//! the ALUE benchmark and bilingual NLI/STS by fine-tuning, and cosine-similarity STS.
//!
//! The encoder is reached through two traits so this module needs nothing from the model:
//! [`SentenceEncoder`] (frozen: sentences in, vectors out) and
//! [`finetune::FineTunable`] (trainable: forward with gradient, backward, step).
//!
//! Files: `metrics` (scores), `files` + `data` + `*_data` (loaders), `classifier` (probes),
//! `senteval` / `sts` (frozen-encoder protocols), `finetune` + `heads` (trainable protocols),
//! `report` + `xlsx` + `predict` (outputs), `baseline` (a bag-of-hashed-words encoder).

pub mod alue;
pub mod alue_data;
pub mod baseline;
pub mod bilingual;
pub mod bilingual_data;
pub mod classifier;
pub mod data;
pub mod files;
pub mod finetune;
pub mod heads;
pub mod metrics;
pub mod predict;
pub mod report;
pub mod senteval;
pub mod senteval_data;
pub mod sts;
pub mod xlsx;

pub use crate::engine::Pool;

use crate::error::{Error, Result};
use classifier::Features;

/// The language of the sentences given to an encoder, which selects their normalization;
/// `Bi` chooses Arabic or English per sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ar,
    En,
    Bi,
}

impl std::str::FromStr for Language {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ar" => Ok(Language::Ar),
            "en" => Ok(Language::En),
            "bi" => Ok(Language::Bi),
            other => Err(Error::Invalid(format!(
                "unknown language '{other}' (expected ar, en or bi)"
            ))),
        }
    }
}

/// A frozen sentence encoder: what SentEval's probes and similarity tasks need.
pub trait SentenceEncoder {
    /// Length of one sentence vector.
    fn dim(&self) -> usize;

    /// Encodes `sentences` (raw text; the encoder normalizes for `language`) into
    /// (sentences.len(), dim) row-major vectors, in input order.
    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>>;
}

impl<E: SentenceEncoder + ?Sized> SentenceEncoder for Box<E> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        (**self).encode(sentences, pool, language)
    }
}

/// Several encoders used as one: their vectors are concatenated (GenSen's ensembles).
pub struct Concatenated {
    pub members: Vec<Box<dyn SentenceEncoder>>,
}

impl SentenceEncoder for Concatenated {
    fn dim(&self) -> usize {
        self.members.iter().map(|m| m.dim()).sum()
    }

    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        let n = sentences.len();
        let total = self.dim();
        let mut out = vec![0.0; n * total];
        let mut offset = 0;
        for member in &mut self.members {
            let dim = member.dim();
            let vectors = member.encode(sentences, pool, language)?;
            check_encoded(&vectors, n, dim)?;
            for i in 0..n {
                out[i * total + offset..i * total + offset + dim]
                    .copy_from_slice(&vectors[i * dim..(i + 1) * dim]);
            }
            offset += dim;
        }
        Ok(out)
    }
}

/// Checks an encoder returned `n` vectors of `dim` values.
fn check_encoded(vectors: &[f32], n: usize, dim: usize) -> Result<()> {
    if vectors.len() != n * dim {
        return Err(Error::shape(
            "encode",
            format!("{n} x {dim} = {} values", n * dim),
            vectors.len().to_string(),
        ));
    }
    Ok(())
}

/// Sentences encoded per call, bounding the memory one call needs.
pub const ENCODE_BATCH: usize = 128;

/// Encodes `sentences` in batches of [`ENCODE_BATCH`] into a feature matrix.
pub fn encode_all(
    encoder: &mut dyn SentenceEncoder,
    sentences: &[String],
    pool: Pool,
    language: Language,
) -> Result<Features> {
    let dim = encoder.dim();
    let mut data = Vec::with_capacity(sentences.len() * dim);
    for batch in sentences.chunks(ENCODE_BATCH) {
        let vectors = encoder.encode(batch, pool, language)?;
        check_encoded(&vectors, batch.len(), dim)?;
        data.extend_from_slice(&vectors);
    }
    Features::new(sentences.len(), dim, data)
}
