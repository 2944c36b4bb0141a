//! `gensen bench` (in progress).

/// Arguments of `gensen bench`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen bench' is not implemented yet")
}
