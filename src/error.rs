//! The library's typed error. The binary wraps it with `anyhow` context and exits with
//! code 2 on bad input; the library never prints and never panics on a user's mistake.

use std::path::PathBuf;

/// Every failure the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operation received tensors whose shapes do not fit together.
    #[error("{op}: shape mismatch: expected {expected}, got {got}")]
    Shape {
        op: &'static str,
        expected: String,
        got: String,
    },

    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file's content is malformed; `line` is 1-based, 0 when the whole file is at fault.
    #[error("{}{}: {msg}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },

    /// The configuration is invalid (unknown key, wrong type, inconsistent values).
    #[error("config {}: {msg}", path.display())]
    Config { path: PathBuf, msg: String },

    /// The requested device is unavailable or failed.
    #[error("device: {0}")]
    Device(String),

    /// A checkpoint or model folder is missing parts or is corrupted.
    #[error("{}: {msg}", path.display())]
    Checkpoint { path: PathBuf, msg: String },

    /// An argument is out of its valid range.
    #[error("{0}")]
    Invalid(String),

    /// Work was interrupted by the user (Ctrl-C) after saving state.
    #[error("interrupted")]
    Interrupted,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error tagged with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `path:line`.
    pub fn parse(path: impl Into<PathBuf>, line: usize, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            msg: msg.into(),
        }
    }

    /// A shape error for `op`.
    pub fn shape(op: &'static str, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Error::Shape {
            op,
            expected: expected.into(),
            got: got.into(),
        }
    }
}
