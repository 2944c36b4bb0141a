//! `gensen train-tokenizer` and `gensen tokenize` (in progress).

/// Arguments of `gensen train-tokenizer`.
#[derive(clap::Args)]
pub struct TrainArgs {}

/// Arguments of `gensen tokenize`.
#[derive(clap::Args)]
pub struct TokenizeArgs {}

/// Runs `gensen train-tokenizer`.
pub fn train(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("'gensen train-tokenizer' is not implemented yet")
}

/// Runs `gensen tokenize`.
pub fn tokenize(_args: TokenizeArgs) -> anyhow::Result<()> {
    anyhow::bail!("'gensen tokenize' is not implemented yet")
}
