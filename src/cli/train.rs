//! `gensen train` (in progress).

/// Arguments of `gensen train`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen train' is not implemented yet")
}
