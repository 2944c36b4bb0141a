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

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// readers see the old content or the new, never a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
