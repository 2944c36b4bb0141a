//! `gensen expand` (in progress).

/// Arguments of `gensen expand`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen expand' is not implemented yet")
}
