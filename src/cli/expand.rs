//! `gensen expand-vocab`: embeddings for new words from pretrained word vectors.

use std::path::PathBuf;

use gensen::encode::expand::expand_vocab;

/// Arguments of `gensen expand-vocab`.
#[derive(clap::Args)]
pub struct Args {
    /// The encoder folder to expand.
    #[arg(long)]
    pub model: PathBuf,
    /// Words to add, one per line.
    #[arg(long)]
    pub words: PathBuf,
    /// Pretrained vectors: word2vec/GloVe/fastText text, or word2vec binary (.bin).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Folder for the expanded encoder.
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs `gensen expand-vocab`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read(&args.words).map_err(|e| gensen::Error::io(&args.words, e))?;
    let text = String::from_utf8(text)
        .map_err(|e| gensen::Error::parse(&args.words, 0, format!("invalid UTF-8: {e}")))?;
    let words: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    let report = expand_vocab(&args.model, &words, &args.embeddings, &args.output)?;
    eprintln!(
        "{} words mapped to new embeddings, {} already known, {} unknown to the pretrained \
         vectors; map fitted on {} shared words, held-out R^2 {:.3}; wrote {}",
        report.mapped,
        report.known,
        report.unknown,
        report.shared,
        report.held_out_r2,
        args.output.display()
    );
    Ok(())
}
