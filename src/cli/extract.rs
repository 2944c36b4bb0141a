//! `gensen extract` (in progress).

/// Arguments of `gensen extract`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen extract' is not implemented yet")
}
