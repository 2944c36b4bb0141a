//! Subcommands of the `gensen` binary: argument parsing, logging and progress display over
//! the library.

pub mod bench;
pub mod demo;
pub mod encode;
pub mod eval;
pub mod expand;
pub mod extract;
pub mod tokenizer;
pub mod train;

/// Exit code 2 for a user's mistake (bad input, missing files, no device), 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<gensen::Error>() {
        Some(gensen::Error::Interrupted) => 130,
        Some(_) => 2,
        None => 1,
    }
}
