//! The `gensen` command: one subcommand per pipeline stage.

mod cli;

use clap::{Parser, Subcommand};

/// Learn and use GenSen sentence encoders.
#[derive(Parser)]
#[command(name = "gensen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a bilingual demo corpus, train on it and show sentence similarities.
    Demo(cli::demo::Args),
    /// Train a SentencePiece tokenizer on the task files of a config.
    TrainTokenizer(cli::tokenizer::TrainArgs),
    /// Normalize and encode every task file into binary shards.
    Tokenize(cli::tokenizer::TokenizeArgs),
    /// Train the multi-task model.
    Train(cli::train::Args),
    /// Keep the encoder of a trained model (drop decoders and heads).
    ExtractEncoder(cli::extract::Args),
    /// Encode sentences with one or more extracted encoders.
    Encode(cli::encode::Args),
    /// Give an encoder embeddings for new words from pretrained word vectors.
    ExpandVocab(cli::expand::Args),
    /// Evaluate an encoder on transfer tasks.
    #[command(subcommand)]
    Eval(cli::eval::Command),
    /// Measure the engine's speed.
    Bench(cli::bench::Args),
}

fn main() {
    // Piped into `head` and the like, stop quietly when the reader goes away, as other
    // command-line tools do, instead of panicking in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any other thread
    // exists touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cli::demo::run(args),
        Command::TrainTokenizer(args) => cli::tokenizer::train(args),
        Command::Tokenize(args) => cli::tokenizer::tokenize(args),
        Command::Train(args) => cli::train::run(args),
        Command::ExtractEncoder(args) => cli::extract::run(args),
        Command::Encode(args) => cli::encode::run(args),
        Command::ExpandVocab(args) => cli::expand::run(args),
        Command::Eval(command) => cli::eval::run(command),
        Command::Bench(args) => cli::bench::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(cli::exit_code(&err));
    }
}
