//! Unsupervised semantic similarity: the cosine of two sentence vectors against a gold
//! score, judged by Pearson and Spearman correlation (STS12-16 and bilingual STS).

use super::classifier::Features;
use super::data::{scores, Example};
use super::{encode_all, metrics, Language, Pool, SentenceEncoder};
use crate::error::{Error, Result};

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += x as f64 * y as f64;
        norm_a += x as f64 * x as f64;
        norm_b += y as f64 * y as f64;
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        0.0
    } else {
        dot / (norm_a.sqrt() * norm_b.sqrt())
    }
}

/// Encodes both sides of every pair: (first sentences, second sentences), each (n, dim).
pub fn encode_pairs(
    encoder: &mut dyn SentenceEncoder,
    examples: &[Example],
    pool: Pool,
    language: Language,
) -> Result<(Features, Features)> {
    let first: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let second = examples
        .iter()
        .map(|e| {
            e.pair
                .clone()
                .ok_or_else(|| Error::Invalid(format!("example {} is not a sentence pair", e.id)))
        })
        .collect::<Result<Vec<String>>>()?;
    Ok((
        encode_all(encoder, &first, pool, language)?,
        encode_all(encoder, &second, pool, language)?,
    ))
}

/// Correlations of cosine similarities with gold scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correlations {
    pub pearson: f64,
    pub spearman: f64,
    pub pairs: usize,
}

/// Scores scored pairs by the cosine of their vectors.
pub fn cosine_correlations(
    encoder: &mut dyn SentenceEncoder,
    examples: &[Example],
    pool: Pool,
    language: Language,
) -> Result<Correlations> {
    let gold = scores(examples)?;
    let (u, v) = encode_pairs(encoder, examples, pool, language)?;
    let predicted: Vec<f64> = (0..u.rows).map(|i| cosine(u.row(i), v.row(i))).collect();
    Ok(Correlations {
        pearson: metrics::pearson(&predicted, &gold)?,
        spearman: metrics::spearman(&predicted, &gold)?,
        pairs: examples.len(),
    })
}

/// Plain and pair-count-weighted means of Pearson and Spearman over sub-datasets:
/// (pearson mean, spearman mean, pearson weighted, spearman weighted).
pub fn averages(results: &[Correlations]) -> (f64, f64, f64, f64) {
    let n = results.len().max(1) as f64;
    let total: f64 = results.iter().map(|r| r.pairs as f64).sum::<f64>().max(1.0);
    let mean = |f: fn(&Correlations) -> f64| results.iter().map(f).sum::<f64>() / n;
    let weighted = |f: fn(&Correlations) -> f64| {
        results.iter().map(|r| f(r) * r.pairs as f64).sum::<f64>() / total
    };
    (
        mean(|r| r.pearson),
        mean(|r| r.spearman),
        weighted(|r| r.pearson),
        weighted(|r| r.spearman),
    )
}
