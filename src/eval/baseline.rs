//! A bag-of-hashed-words encoder: each lowercased whitespace token maps to a fixed
//! pseudo-random vector, and a sentence is their pooling. It needs no training and no
//! files, so it gives a floor any trained encoder should beat and lets the evaluation
//! pipeline run anywhere. A bag has no order, so `last` pooling is read as `mean`.

use std::path::Path;

use super::files::write_atomic;
use super::finetune::FineTunable;
use super::{Language, Pool, SentenceEncoder};
use crate::engine::rng::{mix64, uniform};
use crate::error::{Error, Result};

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

/// A trainable bag-of-words encoder: tokens hash into `buckets` rows of a table, a
/// sentence is the mean (or max) of its tokens' rows, and fine-tuning updates the rows with
/// Adam. Rows start as [`HashedWords`] vectors, so before training it encodes as that
/// baseline (with bucket collisions).
#[derive(Clone, Debug)]
pub struct TrainableHashedWords {
    dim: usize,
    buckets: usize,
    seed: u64,
    /// (buckets, dim) row-major.
    table: Vec<f32>,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    step: i32,
    /// Bucket ids of each sentence of the last training forward, and its pooling.
    last: Vec<Vec<usize>>,
    last_pool: Pool,
    /// For max pooling: the bucket chosen per (sentence, dimension).
    argmax: Vec<usize>,
}

impl TrainableHashedWords {
    /// A table of `buckets` rows (at least one) of `dim` values.
    pub fn new(dim: usize, buckets: usize, seed: u64) -> Self {
        let buckets = buckets.max(1);
        let table = Self::initial_table(dim, buckets, seed);
        let size = table.len();
        TrainableHashedWords {
            dim,
            buckets,
            seed,
            table,
            grad: vec![0.0; size],
            m: vec![0.0; size],
            v: vec![0.0; size],
            step: 0,
            last: Vec::new(),
            last_pool: Pool::Mean,
            argmax: Vec::new(),
        }
    }

    fn initial_table(dim: usize, buckets: usize, seed: u64) -> Vec<f32> {
        let mut table = vec![0.0; dim * buckets];
        for (b, row) in table.chunks_mut(dim).enumerate() {
            let stream = mix64(b as u64 ^ mix64(seed));
            for (d, value) in row.iter_mut().enumerate() {
                *value = 2.0 * uniform(stream, d as u64) - 1.0;
            }
        }
        table
    }

    /// The bucket of each lowercased whitespace token.
    fn bucket_ids(&self, sentence: &str) -> Vec<usize> {
        sentence
            .to_lowercase()
            .split_whitespace()
            .map(|token| {
                let mut hash = 0xcbf2_9ce4_8422_2325u64;
                for &b in token.as_bytes() {
                    hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                }
                (mix64(hash) % self.buckets as u64) as usize
            })
            .collect()
    }

    /// Pools the rows of `ids` into `out`; for max pooling records the chosen rows.
    fn pool_into(&self, ids: &[usize], pool: Pool, out: &mut [f32], chosen: Option<&mut [usize]>) {
        let dim = self.dim;
        if ids.is_empty() {
            out.fill(0.0);
            return;
        }
        match pool {
            Pool::Max => {
                let mut picks = vec![ids[0]; dim];
                out.copy_from_slice(&self.table[ids[0] * dim..(ids[0] + 1) * dim]);
                for &id in &ids[1..] {
                    for d in 0..dim {
                        let value = self.table[id * dim + d];
                        if value > out[d] {
                            out[d] = value;
                            picks[d] = id;
                        }
                    }
                }
                if let Some(chosen) = chosen {
                    chosen.copy_from_slice(&picks);
                }
            }
            Pool::Mean | Pool::Last => {
                out.fill(0.0);
                for &id in ids {
                    out.iter_mut()
                        .zip(&self.table[id * dim..(id + 1) * dim])
                        .for_each(|(o, t)| *o += t);
                }
                let scale = 1.0 / ids.len() as f32;
                out.iter_mut().for_each(|o| *o *= scale);
            }
        }
    }
}

impl SentenceEncoder for TrainableHashedWords {
    fn dim(&self) -> usize {
        self.dim
    }

    fn encode(
        &mut self,
        sentences: &[String],
        pool: Pool,
        _language: Language,
    ) -> Result<Vec<f32>> {
        let mut out = vec![0.0; sentences.len() * self.dim];
        for (i, sentence) in sentences.iter().enumerate() {
            let ids = self.bucket_ids(sentence);
            self.pool_into(&ids, pool, &mut out[i * self.dim..(i + 1) * self.dim], None);
        }
        Ok(out)
    }
}

impl FineTunable for TrainableHashedWords {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward_train(
        &mut self,
        sentences: &[String],
        pool: Pool,
        _language: Language,
        _seed: u64,
    ) -> Result<Vec<f32>> {
        let dim = self.dim;
        let mut out = vec![0.0; sentences.len() * dim];
        self.last = sentences.iter().map(|s| self.bucket_ids(s)).collect();
        self.last_pool = pool;
        let mut argmax = vec![0; sentences.len() * dim];
        for (i, ids) in self.last.iter().enumerate() {
            self.pool_into(
                ids,
                pool,
                &mut out[i * dim..(i + 1) * dim],
                Some(&mut argmax[i * dim..(i + 1) * dim]),
            );
        }
        self.argmax = argmax;
        Ok(out)
    }

    fn backward(&mut self, grad_vectors: &[f32]) -> Result<()> {
        let dim = self.dim;
        if grad_vectors.len() != self.last.len() * dim {
            return Err(Error::shape(
                "hashed words backward",
                format!("{} x {dim}", self.last.len()),
                grad_vectors.len().to_string(),
            ));
        }
        for (i, ids) in self.last.iter().enumerate() {
            let g = &grad_vectors[i * dim..(i + 1) * dim];
            if ids.is_empty() {
                continue;
            }
            match self.last_pool {
                Pool::Max => {
                    let picks = &self.argmax[i * dim..(i + 1) * dim];
                    for (d, (&pick, &gv)) in picks.iter().zip(g).enumerate() {
                        self.grad[pick * dim + d] += gv;
                    }
                }
                Pool::Mean | Pool::Last => {
                    let scale = 1.0 / ids.len() as f32;
                    for &id in ids {
                        self.grad[id * dim..(id + 1) * dim]
                            .iter_mut()
                            .zip(g)
                            .for_each(|(acc, gv)| *acc += gv * scale);
                    }
                }
            }
        }
        Ok(())
    }

    fn grad_norm_sq(&mut self) -> Result<f64> {
        Ok(self.grad.iter().map(|&g| g as f64 * g as f64).sum())
    }

    fn step(&mut self, lr: f32, scale: f32) -> Result<()> {
        self.step += 1;
        let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - beta1.powi(self.step), 1.0 - beta2.powi(self.step));
        for i in 0..self.table.len() {
            let g = self.grad[i] * scale;
            if g == 0.0 && self.m[i] == 0.0 {
                continue;
            }
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g;
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g;
            self.table[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + eps);
            self.grad[i] = 0.0;
        }
        Ok(())
    }

    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        SentenceEncoder::encode(self, sentences, pool, language)
    }

    fn save(&mut self, dir: &Path) -> Result<()> {
        // A plain little-endian f32 table with its shape in the file name: enough to
        // inspect what fine-tuning changed.
        let bytes: Vec<u8> = self.table.iter().flat_map(|v| v.to_le_bytes()).collect();
        let name = format!("hashed-words-{}x{}.f32", self.buckets, self.dim);
        write_atomic(&dir.join(name), &bytes)
    }

    fn reset(&mut self) -> Result<()> {
        *self = TrainableHashedWords::new(self.dim, self.buckets, self.seed);
        Ok(())
    }
}
