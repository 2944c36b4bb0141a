//! `gensen extract-encoder`: keep the encoder of a trained model.

use std::path::PathBuf;

/// Arguments of `gensen extract-encoder`.
#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint folder, or a model folder (its newest valid checkpoint).
    #[arg(long = "trained-model", short = 't')]
    pub trained_model: PathBuf,
    /// Folder to write the encoder into.
    #[arg(long = "save-dir", short = 's')]
    pub save_dir: PathBuf,
}

/// Runs `gensen extract-encoder`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let done = gensen::train::extract::extract_encoder(&args.trained_model, &args.save_dir)?;
    eprintln!(
        "extracted {} tensors ({} parameters) from {} into {}",
        done.tensors,
        done.parameters,
        done.checkpoint.display(),
        done.dir.display()
    );
    Ok(())
}
