//! `gensen eval` (in progress).

/// Evaluation suites.
#[derive(clap::Subcommand)]
pub enum Command {
    /// SentEval-style transfer tasks.
    Senteval,
    /// The ALUE benchmark.
    Alue,
    /// Bilingual NLI and STS.
    Bilingual,
}

/// Runs `gensen eval`.
pub fn run(_command: Command) -> anyhow::Result<()> {
    anyhow::bail!("'gensen eval' is not implemented yet")
}
