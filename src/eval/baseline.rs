//! A bag-of-hashed-words encoder: each lowercased whitespace token maps to a fixed
//! pseudo-random vector, and a sentence is their pooling. It needs no training and no
//! files, so it gives a floor any trained encoder should beat and lets the evaluation
//! pipeline run anywhere. A bag has no order, so `last` pooling is read as `mean`.

use super::{Language, Pool, SentenceEncoder};
use crate::engine::rng::{mix64, uniform};
use crate::error::Result;

/// Bag-of-hashed-words sentence vectors of `dim` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedWords {
    pub dim: usize,
    pub seed: u64,
}

impl HashedWords {
    /// A baseline of `dim` values per sentence.
    pub fn new(dim: usize, seed: u64) -> Self {
        HashedWords { dim, seed }
    }

    /// The fixed vector of one token, entries uniform in [-1, 1).
    fn word_vector(&self, token: &str, out: &mut [f32]) {
        // FNV-1a over the bytes, then mixed with the seed.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for &b in token.as_bytes() {
            hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let stream = mix64(hash ^ self.seed);
        for (d, value) in out.iter_mut().enumerate() {
            *value = 2.0 * uniform(stream, d as u64) - 1.0;
        }
    }
}

impl SentenceEncoder for HashedWords {
    fn dim(&self) -> usize {
        self.dim
    }

    fn encode(
        &mut self,
        sentences: &[String],
        pool: Pool,
        _language: Language,
    ) -> Result<Vec<f32>> {
        let dim = self.dim;
        let mut out = vec![0.0f32; sentences.len() * dim];
        let mut word = vec![0.0f32; dim];
        for (i, sentence) in sentences.iter().enumerate() {
            let row = &mut out[i * dim..(i + 1) * dim];
            let lowered = sentence.to_lowercase();
            let tokens: Vec<&str> = lowered.split_whitespace().collect();
            if tokens.is_empty() {
                continue;
            }
            if pool == Pool::Max {
                row.fill(f32::NEG_INFINITY);
            }
            for token in &tokens {
                self.word_vector(token, &mut word);
                match pool {
                    Pool::Max => row.iter_mut().zip(&word).for_each(|(r, w)| *r = r.max(*w)),
                    Pool::Mean | Pool::Last => row.iter_mut().zip(&word).for_each(|(r, w)| *r += w),
                }
            }
            if pool != Pool::Max {
                let scale = 1.0 / tokens.len() as f32;
                row.iter_mut().for_each(|r| *r *= scale);
            }
        }
        Ok(out)
    }
}
