//! `gensen encode` (in progress).

/// Arguments of `gensen encode`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen encode' is not implemented yet")
}
