//! Data: task files -> normalized, tokenized binary shards -> padded time-major batches.
//!
//! [`reader`] parses the task file formats, [`tokenize`] encodes them in parallel into
//! [`shard`] folders, [`batch`] groups sentences of similar length into minibatches, and
//! [`vocab`] samples the text a tokenizer is trained on.

pub mod batch;
pub mod reader;
pub mod shard;
pub mod tokenize;
pub mod vocab;

pub use batch::{Batch, BatchIter, BatchState, Side};
pub use reader::{ExampleReader, RawExample, Split};
pub use shard::{Manifest, TaskData};
pub use tokenize::{tokenize_config, tokenize_split, Progress, SplitReport, TokenizeOptions};

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file written under a temporary name in its final folder and renamed into place by
/// [`AtomicFile::finish`], so readers see the old content or the new, never a partial file.
/// Dropped without `finish`, it leaves only the temporary file behind.
pub struct AtomicFile {
    out: BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its folder is created when missing).
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile {
            out: BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(&self.tmp, e))
    }

    /// The file being written, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and moves the file into place.
    pub fn finish(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write(bytes)?;
    file.finish()
}
