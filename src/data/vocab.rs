//! The text a tokenizer is trained on, and writing the trained model.
//!
//! Every sentence of every task's training files (labels excluded; both sentences of pairs;
//! sources and targets of seq2seq) is a candidate. At most `vocab.max_num_sentences` are
//! kept by reservoir sampling from the training seed, so memory is bounded by the cap
//! whatever the corpus size, then the kept sentences are normalized in parallel, each by
//! its side's language. The trainer itself is passed in as a function.

use std::path::PathBuf;

use crate::config::{Config, VocabModel};
use crate::data::reader::{ExampleReader, Split};
use crate::data::write_atomic;
use crate::engine::rng::Rng;
use crate::text::normalize::{normalize, Language};
use crate::text::tokenizer::{vocab_listing, Tokenizer};
use crate::{Error, Result};

/// What the tokenizer trainer is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct VocabSpec {
    /// Pieces, the four reserved ids included.
    pub vocab_size: usize,
    /// BPE or unigram.
    pub model_type: VocabModel,
    /// Pieces always kept whole.
    pub user_defined_symbols: Vec<String>,
    /// Fraction of characters to cover.
    pub character_coverage: f32,
    /// Threads the trainer may use.
    pub threads: usize,
    /// Seed of the trainer's random choices.
    pub seed: u64,
}

/// A tokenizer trainer: sentences and a spec in, a serialized `.model` out.
pub type TrainFn<'a> = &'a dyn Fn(&mut dyn Iterator<Item = String>, &VocabSpec) -> Result<Vec<u8>>;

/// Counts of the sampling pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Sentences read from the training files.
    pub seen: u64,
    /// Sentences kept by sampling and non-empty after normalization.
    pub kept: u64,
    /// Malformed lines skipped.
    pub bad_lines: u64,
}

/// What [`train_tokenizer`] wrote.
#[derive(Clone, Debug)]
pub struct VocabReport {
    /// The `.model` file.
    pub model_path: PathBuf,
    /// The `.vocab` listing.
    pub vocab_path: PathBuf,
    /// Pieces in the trained model.
    pub vocab_size: usize,
    /// Sampling counts.
    pub stats: SampleStats,
}

/// The trainer's spec from a config.
pub fn vocab_spec(config: &Config) -> VocabSpec {
    VocabSpec {
        vocab_size: config.vocab.vocab_size,
        model_type: config.vocab.model_type,
        user_defined_symbols: config.vocab.special_tokens.clone(),
        character_coverage: config.vocab.character_coverage,
        threads: config.threads(),
        seed: config.training.seed,
    }
}

/// Samples at most `vocab.max_num_sentences` training sentences of all tasks and returns
/// them normalized (empty ones removed), in a deterministic order.
pub fn sample_sentences(
    config: &Config,
    skip_bad_lines: bool,
) -> Result<(Vec<String>, SampleStats)> {
    let cap = config.vocab.max_num_sentences;
    let mut rng = Rng::new(config.training.seed).fork(0x766f_6361_62); // "vocab"
    let mut reservoir: Vec<(String, Language)> = Vec::new();
    let mut stats = SampleStats::default();
    let mut offer = |text: String, language: Language, stats: &mut SampleStats| {
        // Algorithm R: the k-th candidate replaces a kept one with probability cap / (k + 1).
        let k = stats.seen as usize;
        stats.seen += 1;
        if reservoir.len() < cap {
            reservoir.push((text, language));
        } else {
            let j = rng.below(k + 1);
            if j < cap {
                reservoir[j] = (text, language);
            }
        }
    };

    for task in &config.tasks {
        let Some(mut reader) = ExampleReader::open(task, Split::Train, skip_bad_lines)? else {
            continue;
        };
        while let Some(example) = reader.next_example()? {
            offer(example.src, task.language, &mut stats);
            if let Some(s) = example.src2 {
                offer(s, task.language, &mut stats);
            }
            if let Some(t) = example.trg {
                offer(t, task.target_language(), &mut stats);
            }
        }
        stats.bad_lines += reader.stats().bad_lines;
    }

    // Normalize the sample in parallel, one contiguous slice per thread.
    let normalization = config.normalize_options();
    let threads = config.threads().max(1);
    let per_thread = reservoir.len().div_ceil(threads).max(1);
    let sentences: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = reservoir
            .chunks(per_thread)
            .map(|slice| {
                let normalization = normalization.as_ref();
                scope.spawn(move || {
                    slice
                        .iter()
                        .map(|(text, language)| match normalization {
                            Some(opts) => normalize(text, *language, opts),
                            None => text.trim().to_string(),
                        })
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| Error::Invalid("a normalizing thread panicked".into()))
            })
            .collect::<Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    stats.kept = sentences.len() as u64;
    Ok((sentences, stats))
}

/// Samples the training text, trains a tokenizer with `trainer`, checks the model, and
/// writes `<vocab_dir>/<model_prefix>.model` and `.vocab` atomically.
pub fn train_tokenizer(
    config: &Config,
    trainer: TrainFn<'_>,
    skip_bad_lines: bool,
) -> Result<VocabReport> {
    let (sentences, stats) = sample_sentences(config, skip_bad_lines)?;
    if sentences.is_empty() {
        return Err(Error::Config {
            path: config.path.clone(),
            msg: "the training files hold no sentence to train a tokenizer on".into(),
        });
    }
    let spec = vocab_spec(config);
    let bytes = trainer(&mut sentences.into_iter(), &spec)?;

    // Refuse a model whose reserved ids differ before it replaces anything.
    let tokenizer = Tokenizer::from_bytes(&bytes)?;
    let listing = vocab_listing(&bytes)?;
    let model_path = config.tokenizer_path();
    let vocab_path = model_path.with_extension("vocab");
    write_atomic(&model_path, &bytes)?;
    write_atomic(&vocab_path, listing.as_bytes())?;
    Ok(VocabReport {
        model_path,
        vocab_path,
        vocab_size: tokenizer.vocab_size(),
        stats,
    })
}
