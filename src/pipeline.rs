//! The pipeline's stages as single calls, for the demo, tests and embedding programs: the
//! `gensen` subcommands add argument parsing and progress display around the same calls.

use crate::config::Config;
use crate::data::tokenize::{tokenize_config, SplitReport, TokenizeOptions};
use crate::data::vocab::{train_tokenizer as train_with, VocabReport, VocabSpec};
use crate::error::Result;
use crate::text::spm::{self, TrainOptions};
use crate::text::tokenizer::Tokenizer;

/// The native SentencePiece trainer, with the config's vocabulary settings.
pub fn native_trainer(
    sentences: &mut dyn Iterator<Item = String>,
    spec: &VocabSpec,
) -> Result<Vec<u8>> {
    let opts = TrainOptions {
        vocab_size: spec.vocab_size,
        model_type: spec.model_type,
        user_defined_symbols: spec.user_defined_symbols.clone(),
        character_coverage: spec.character_coverage,
        threads: spec.threads,
        seed: spec.seed,
    };
    spm::train(sentences, &opts)
}

/// Trains the config's tokenizer on its tasks' training text.
pub fn train_tokenizer(config: &Config, skip_bad_lines: bool) -> Result<VocabReport> {
    train_with(config, &native_trainer, skip_bad_lines)
}

/// Tokenizes every task of the config with its trained tokenizer.
pub fn tokenize(config: &Config, workers: usize) -> Result<Vec<SplitReport>> {
    let tokenizer = Tokenizer::load(config.tokenizer_path())?;
    let opts = TokenizeOptions {
        workers,
        ..TokenizeOptions::default()
    };
    tokenize_config(config, &tokenizer, &opts, None)
}
