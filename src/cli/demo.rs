//! `gensen demo` (in progress).

/// Arguments of `gensen demo`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'gensen demo' is not implemented yet")
}
