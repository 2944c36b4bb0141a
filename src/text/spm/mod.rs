//! A native SentencePiece trainer. It learns a BPE or unigram vocabulary from a stream of
//! already-normalized sentences and returns a standard `.model` file (a serialized
//! `ModelProto`) that the C++ library, its Python wrapper and the `sentencepiece` crate load.
//!
//! Pipeline: count words in parallel ([`count`]) -> choose the alphabet by character
//! coverage -> learn pieces ([`bpe`] or [`unigram`]) -> lay out the vocabulary (reserved
//! symbols, user-defined symbols, learned pieces) -> encode the protobuf ([`proto`]).
//!
//! Ids 0..3 are `<s>`, `<pad>`, `</s>`, `<unk>`. Words are the whitespace-separated tokens of
//! a sentence, each prefixed with U+2581 as the encoder does; the model's normalizer is the
//! identity (the caller normalizes), still adding that prefix and escaping spaces.

mod bpe;
mod count;
mod proto;
mod script;
mod unigram;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The word-boundary marker SentencePiece puts in place of a space (U+2581).
pub const WORD_BOUNDARY: char = '\u{2581}';

/// Stands in, during training, for a character outside the alphabet (U+2585, as the
/// reference trainer); no piece may contain it.
const UNK_CHAR: char = '\u{2585}';

/// The beginning-of-sentence symbol, id 0.
pub const BOS: &str = "<s>";
/// The padding symbol, id 1.
pub const PAD: &str = "<pad>";
/// The end-of-sentence symbol, id 2.
pub const EOS: &str = "</s>";
/// The unknown symbol, id 3.
pub const UNK: &str = "<unk>";

/// Ids of the reserved symbols.
struct Reserved {
    bos: usize,
    pad: usize,
    eos: usize,
    unk: usize,
}

const RESERVED: Reserved = Reserved {
    bos: 0,
    pad: 1,
    eos: 2,
    unk: 3,
};

/// The segmentation model to learn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// Byte-pair encoding: greedy merges of the most frequent adjacent pair.
    #[default]
    Bpe,
    /// Unigram language model pruned from a large seed vocabulary by EM.
    Unigram,
}

impl FromStr for ModelType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bpe" => Ok(ModelType::Bpe),
            "unigram" => Ok(ModelType::Unigram),
            other => Err(Error::Invalid(format!(
                "unknown tokenizer model type {other:?} (expected \"bpe\" or \"unigram\")"
            ))),
        }
    }
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelType::Bpe => "bpe",
            ModelType::Unigram => "unigram",
        })
    }
}

/// Settings of one training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// Entries in the final vocabulary, reserved and user-defined symbols included.
    pub vocab_size: usize,
    /// BPE or unigram.
    pub model_type: ModelType,
    /// Symbols always kept whole (ids right after the reserved ones).
    pub user_defined_symbols: Vec<String>,
    /// Share of character occurrences the alphabet must cover; rarer characters become
    /// `<unk>`.
    pub character_coverage: f32,
    /// Threads for counting and for the unigram EM steps.
    pub threads: usize,
    /// Recorded for reproducibility. Both trainers make no random choices (ties are broken
    /// by frequency, then length, then text), so the result depends only on the input.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            vocab_size: 8000,
            model_type: ModelType::Bpe,
            user_defined_symbols: Vec::new(),
            character_coverage: 0.9995,
            threads: 1,
            seed: 0,
        }
    }
}

/// A learned piece and its score, before the vocabulary is laid out.
type Scored = (String, f32);

/// Trains a tokenizer on `sentences` (normalized text, one sentence per item) and returns the
/// bytes of a standard SentencePiece `.model` file.
///
/// Errors (`Error::Invalid`): an empty corpus, a vocabulary too small for the reserved
/// symbols, user-defined symbols and alphabet, a vocabulary larger than the corpus can fill,
/// or invalid options.
pub fn train(sentences: &mut dyn Iterator<Item = String>, opts: &TrainOptions) -> Result<Vec<u8>> {
    validate(opts)?;
    let threads = opts.threads.max(1);

    let counts = count::count_words(sentences, &opts.user_defined_symbols, threads);
    let corpus = count::Corpus::new(counts, opts.character_coverage)?;

    let n_meta = 4 + opts.user_defined_symbols.len();
    let n_learned = opts
        .vocab_size
        .checked_sub(n_meta + corpus.required.len())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "tokenizer vocab_size {} is smaller than the {} reserved and user-defined \
                 symbols plus the {} characters needed for coverage {}; raise vocab_size or \
                 lower character_coverage",
                opts.vocab_size,
                n_meta,
                corpus.required.len(),
                opts.character_coverage
            ))
        })?;
    let n_pieces = n_learned + corpus.required.len();

    // Learned pieces must not repeat a user-defined symbol: the model may hold each string once.
    let taken: HashSet<String> = opts.user_defined_symbols.iter().cloned().collect();
    let learned: Vec<Scored> = match opts.model_type {
        ModelType::Bpe => bpe::train(&corpus, n_pieces, &taken),
        ModelType::Unigram => unigram::train(&corpus, n_pieces, &taken, threads),
    };
    if learned.len() != n_pieces {
        return Err(Error::Invalid(format!(
            "tokenizer vocab_size {} is too large for this corpus: only {} pieces could be \
             learned besides the {} reserved and user-defined symbols",
            opts.vocab_size,
            learned.len(),
            n_meta
        )));
    }

    let mut pieces = Vec::with_capacity(opts.vocab_size);
    for (id, name) in [
        (RESERVED.bos, BOS),
        (RESERVED.pad, PAD),
        (RESERVED.eos, EOS),
    ] {
        debug_assert_eq!(id, pieces.len());
        pieces.push(proto::Piece {
            piece: name.to_string(),
            score: 0.0,
            kind: proto::PieceType::Control,
        });
    }
    debug_assert_eq!(RESERVED.unk, pieces.len());
    pieces.push(proto::Piece {
        piece: UNK.to_string(),
        score: 0.0,
        kind: proto::PieceType::Unknown,
    });
    for symbol in &opts.user_defined_symbols {
        pieces.push(proto::Piece {
            piece: symbol.clone(),
            score: 0.0,
            kind: proto::PieceType::UserDefined,
        });
    }
    for (piece, score) in learned {
        pieces.push(proto::Piece {
            piece,
            score,
            kind: proto::PieceType::Normal,
        });
    }

    let spec = proto::TrainerSpec {
        model_type: match opts.model_type {
            ModelType::Unigram => 1,
            ModelType::Bpe => 2,
        },
        vocab_size: opts.vocab_size,
        character_coverage: opts.character_coverage,
        user_defined_symbols: &opts.user_defined_symbols,
    };
    Ok(proto::encode_model(&pieces, &spec, &RESERVED))
}

fn validate(opts: &TrainOptions) -> Result<()> {
    if !(opts.character_coverage > 0.0 && opts.character_coverage <= 1.0) {
        return Err(Error::Invalid(format!(
            "tokenizer character_coverage must be in (0, 1], got {}",
            opts.character_coverage
        )));
    }
    if opts.vocab_size > i32::MAX as usize {
        return Err(Error::Invalid(format!(
            "tokenizer vocab_size {} does not fit the model format",
            opts.vocab_size
        )));
    }
    let mut seen = HashSet::new();
    for symbol in &opts.user_defined_symbols {
        if symbol.is_empty() || symbol.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "user-defined symbol {symbol:?} must be non-empty and contain no whitespace"
            )));
        }
        if [BOS, PAD, EOS, UNK].contains(&symbol.as_str()) || !seen.insert(symbol) {
            return Err(Error::Invalid(format!(
                "user-defined symbol {symbol:?} is reserved or given twice"
            )));
        }
    }
    Ok(())
}

/// The `.vocab` listing of a model: one `piece<TAB>score` line per id, scores printed as the
/// reference tool prints them (six significant digits).
pub fn vocab_listing(model_bytes: &[u8]) -> Result<String> {
    let pieces = proto::decode_pieces(model_bytes)?;
    let mut out = String::new();
    for (piece, score, _) in pieces {
        out.push_str(&piece);
        out.push('\t');
        out.push_str(&format_score(score));
        out.push('\n');
    }
    Ok(out)
}

/// Formats like C++ `ostream << float` (`%g` with six significant digits).
fn format_score(score: f32) -> String {
    if score == 0.0 {
        return if score.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if !score.is_finite() {
        return score.to_string();
    }
    let value = f64::from(score);
    let exponent = value.abs().log10().floor() as i32;
    if !(-5..6).contains(&exponent) {
        let text = format!("{value:.5e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (5 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_print_like_the_reference_vocab_files() {
        assert_eq!(format_score(-0.0), "-0");
        assert_eq!(format_score(-1234.0), "-1234");
        assert_eq!(format_score(-9.876_543), "-9.87654");
        assert_eq!(format_score(-0.5), "-0.5");
        assert_eq!(format_score(-1.0e-7), "-1e-07");
    }

    #[test]
    fn model_type_parses_and_prints() {
        assert_eq!("bpe".parse::<ModelType>().unwrap(), ModelType::Bpe);
        assert_eq!(
            "unigram".parse::<ModelType>().unwrap().to_string(),
            "unigram"
        );
        assert!("word".parse::<ModelType>().is_err());
    }
}
