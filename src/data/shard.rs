//! Binary shards: a task split's token ids, offsets and labels, read back without copying.
//!
//! A task's shard folder holds, per split (`train`, `val`) and per side (`src`, `src2` for
//! pairs, `trg` for seq2seq):
//!
//! - `<split>.<side>.ids`: every sentence's piece ids back to back, little-endian u16 when
//!   the vocabulary has at most 65536 pieces, else u32; no `<s>` / `</s>`.
//! - `<split>.<side>.idx`: n + 1 little-endian u64 offsets (in ids); sentence i is
//!   `ids[idx[i]..idx[i + 1]]`.
//! - `<split>.labels`: n little-endian u32 class ids (labelled tasks).
//! - `manifest.json`: counts, the sources' sizes and checksums, and each file's size and
//!   CRC-32 (see [`Manifest`]).
//!
//! Files are written under a `.tmp` name and renamed once complete, and the manifest entry
//! of a split is written last, so a split is either fully present or absent.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::config::TaskType;
use crate::data::reader::Split;
use crate::data::write_atomic;
use crate::{Error, Result};

/// Version of the shard layout; bumped when files change meaning.
pub const SHARD_FORMAT: u32 = 1;

/// The manifest file's name inside a shard folder.
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json`: what each split was built from and what it holds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The shard layout version ([`SHARD_FORMAT`]).
    pub format: u32,
    /// One entry per built split, keyed by split name.
    pub splits: BTreeMap<String, SplitManifest>,
}

/// One split's entry in the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitManifest {
    /// The task's type.
    pub task_type: TaskType,
    /// Bytes per id: 2 (u16) or 4 (u32).
    pub id_bytes: u8,
    /// Examples stored.
    pub examples: u64,
    /// Everything the shards depend on; equal fingerprints mean up to date.
    pub fingerprint: Fingerprint,
    /// Counts gathered while building.
    pub counts: BuildCounts,
    /// Each shard file's name, size and CRC-32.
    pub files: Vec<FileRecord>,
}

/// The inputs a split's shards were built from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    /// The source files' paths, sizes and CRC-32s.
    pub sources: Vec<FileRecord>,
    /// CRC-32 of the tokenizer model.
    pub tokenizer_crc32: u32,
    /// Normalization settings (languages and options), as text; empty when off.
    pub normalization: String,
    /// Truncation limits (pieces).
    pub max_src_length: usize,
    /// Truncation limit of targets (pieces).
    pub max_trg_length: usize,
    /// The label mapping, sorted by name.
    pub labels: Vec<(String, u32)>,
    /// Whether bad lines were skipped rather than fatal.
    pub skip_bad_lines: bool,
}

/// A file's name (or path), size and CRC-32.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// Path of a source, or name inside the shard folder.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// CRC-32 of the content.
    pub crc32: u32,
}

impl FileRecord {
    /// Reads a file to record its size and checksum.
    pub fn of(path: &Path) -> Result<FileRecord> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(FileRecord {
            path: path.to_path_buf(),
            size,
            crc32: hasher.finalize(),
        })
    }
}

/// Counts gathered while building a split, reported to the user and kept in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildCounts {
    /// Lines read from the sources (header lines included).
    pub lines: u64,
    /// Malformed lines skipped.
    pub bad_lines: u64,
    /// Examples dropped because their label is `-`.
    pub unlabelled: u64,
    /// Examples dropped because a sentence was empty after normalization.
    pub empty_after_normalization: u64,
    /// Source sentences (first or second of a pair) cut to `max_src_length`.
    pub truncated_src: u64,
    /// Target sentences cut to `max_trg_length`.
    pub truncated_trg: u64,
    /// Pieces stored, all sides together.
    pub tokens: u64,
}

impl Manifest {
    /// Reads a folder's manifest; a missing one is empty.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let manifest: Manifest = serde_json::from_str(&text)
                    .map_err(|e| Error::parse(&path, e.line(), e.to_string()))?;
                if manifest.format != SHARD_FORMAT {
                    return Err(Error::parse(
                        &path,
                        0,
                        format!(
                            "shard format {} (expected {SHARD_FORMAT}); rebuild it",
                            manifest.format
                        ),
                    ));
                }
                Ok(manifest)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                format: SHARD_FORMAT,
                splits: BTreeMap::new(),
            }),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes the manifest atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
        write_atomic(&dir.join(MANIFEST), text.as_bytes())
    }

    /// Whether `split` was built from `fingerprint` and its files are all present with
    /// their recorded sizes.
    pub fn is_up_to_date(&self, dir: &Path, split: Split, fingerprint: &Fingerprint) -> bool {
        let Some(entry) = self.splits.get(split.name()) else {
            return false;
        };
        entry.fingerprint == *fingerprint
            && entry
                .files
                .iter()
                .all(|f| std::fs::metadata(dir.join(&f.path)).is_ok_and(|m| m.len() == f.size))
    }
}

/// The sides a task type stores.
pub fn sides(task_type: TaskType) -> &'static [&'static str] {
    match task_type {
        TaskType::Seq2seq => &["src", "trg"],
        TaskType::Classification => &["src"],
        TaskType::PairClassification => &["src", "src2"],
    }
}

/// One encoded example, ready to be stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Ids of the (first) sentence.
    pub src: Vec<u32>,
    /// Ids of the second sentence (pairs).
    pub src2: Option<Vec<u32>>,
    /// Ids of the target (seq2seq).
    pub trg: Option<Vec<u32>>,
    /// Class id (labelled tasks).
    pub label: Option<u32>,
}

/// Writes one side's ids and offsets.
struct SideWriter {
    ids: BufWriter<File>,
    idx: BufWriter<File>,
    offset: u64,
}

/// Streams a split's examples into `.tmp` files; [`ShardWriter::finish`] renames them and
/// records the split in the manifest.
pub struct ShardWriter {
    dir: PathBuf,
    split: Split,
    task_type: TaskType,
    id_bytes: u8,
    sides: Vec<(&'static str, SideWriter)>,
    labels: Option<BufWriter<File>>,
    examples: u64,
    tokens: u64,
}

fn tmp_name(name: &str) -> String {
    format!("{name}.tmp")
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

impl ShardWriter {
    /// Starts writing `split` of a task into `dir` (created if needed); ids take 2 bytes
    /// when `vocab_size` <= 65536, else 4.
    pub fn create(
        dir: &Path,
        split: Split,
        task_type: TaskType,
        vocab_size: usize,
    ) -> Result<ShardWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let id_bytes = if vocab_size <= 1 << 16 { 2 } else { 4 };
        let mut side_writers = Vec::new();
        for &side in sides(task_type) {
            let ids = create(&dir.join(tmp_name(&format!("{}.{side}.ids", split.name()))))?;
            let idx_path = dir.join(tmp_name(&format!("{}.{side}.idx", split.name())));
            let mut idx = create(&idx_path)?;
            idx.write_all(&0u64.to_le_bytes())
                .map_err(|e| Error::io(&idx_path, e))?;
            side_writers.push((
                side,
                SideWriter {
                    ids,
                    idx,
                    offset: 0,
                },
            ));
        }
        let labels = if task_type.has_labels() {
            Some(create(
                &dir.join(tmp_name(&format!("{}.labels", split.name()))),
            )?)
        } else {
            None
        };
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            split,
            task_type,
            id_bytes,
            sides: side_writers,
            labels,
            examples: 0,
            tokens: 0,
        })
    }

    /// Appends one example; its fields must match the task type.
    pub fn push(&mut self, example: &Encoded) -> Result<()> {
        let dir = self.dir.clone();
        let io = |e| Error::io(&dir, e);
        for (side, writer) in &mut self.sides {
            let ids = match *side {
                "src" => Some(&example.src),
                "src2" => example.src2.as_ref(),
                _ => example.trg.as_ref(),
            }
            .ok_or_else(|| Error::Invalid(format!("example lacks its {side} sentence")))?;
            let max = if self.id_bytes == 2 {
                u16::MAX as u32
            } else {
                u32::MAX
            };
            for &id in ids {
                if id > max {
                    return Err(Error::Invalid(format!(
                        "id {id} does not fit {} bytes",
                        self.id_bytes
                    )));
                }
                if self.id_bytes == 2 {
                    writer
                        .ids
                        .write_all(&(id as u16).to_le_bytes())
                        .map_err(io)?;
                } else {
                    writer.ids.write_all(&id.to_le_bytes()).map_err(io)?;
                }
            }
            writer.offset += ids.len() as u64;
            self.tokens += ids.len() as u64;
            writer
                .idx
                .write_all(&writer.offset.to_le_bytes())
                .map_err(io)?;
        }
        if let Some(labels) = &mut self.labels {
            let label = example
                .label
                .ok_or_else(|| Error::Invalid("labelled task example without a label".into()))?;
            labels.write_all(&label.to_le_bytes()).map_err(io)?;
        }
        self.examples += 1;
        Ok(())
    }

    /// Examples pushed so far.
    pub fn examples(&self) -> u64 {
        self.examples
    }

    /// Abandons the split: removes the temporary files (errors are ignored, as this runs
    /// while another error is being reported).
    pub fn discard(self) {
        let mut names: Vec<String> = Vec::new();
        for (side, _) in &self.sides {
            for kind in ["ids", "idx"] {
                names.push(format!("{}.{side}.{kind}", self.split.name()));
            }
        }
        names.push(format!("{}.labels", self.split.name()));
        let dir = self.dir.clone();
        drop(self);
        for name in names {
            let _ = std::fs::remove_file(dir.join(tmp_name(&name)));
        }
    }

    /// Flushes, renames the files into place and records the split in the manifest.
    pub fn finish(
        self,
        fingerprint: Fingerprint,
        mut counts: BuildCounts,
    ) -> Result<SplitManifest> {
        let mut names = Vec::new();
        for (side, writer) in self.sides {
            for (kind, w) in [("ids", writer.ids), ("idx", writer.idx)] {
                let name = format!("{}.{side}.{kind}", self.split.name());
                finish_file(&self.dir, &name, w)?;
                names.push(name);
            }
        }
        if let Some(w) = self.labels {
            let name = format!("{}.labels", self.split.name());
            finish_file(&self.dir, &name, w)?;
            names.push(name);
        }

        // Remove the old entry first: a crash between renames and the new entry must not
        // leave an entry describing other files.
        let mut manifest = Manifest::load(&self.dir)?;
        if manifest.splits.remove(self.split.name()).is_some() {
            manifest.save(&self.dir)?;
        }
        let mut files = Vec::new();
        for name in names {
            let tmp = self.dir.join(tmp_name(&name));
            let dest = self.dir.join(&name);
            std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
            let mut record = FileRecord::of(&dest)?;
            record.path = PathBuf::from(name);
            files.push(record);
        }
        counts.tokens = self.tokens;
        let entry = SplitManifest {
            task_type: self.task_type,
            id_bytes: self.id_bytes,
            examples: self.examples,
            fingerprint,
            counts,
            files,
        };
        manifest.format = SHARD_FORMAT;
        manifest
            .splits
            .insert(self.split.name().to_string(), entry.clone());
        manifest.save(&self.dir)?;
        Ok(entry)
    }
}

fn finish_file(dir: &Path, name: &str, writer: BufWriter<File>) -> Result<()> {
    let path = dir.join(tmp_name(name));
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&path, e))
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A memory-mapped file, or nothing for an empty file (which cannot be mapped).
enum Mapped {
    Map(Mmap),
    Empty,
}

impl Mapped {
    fn open(path: &Path, expected_size: u64) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if size != expected_size {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                msg: format!(
                    "{size} bytes, the manifest records {expected_size}; rebuild the shards"
                ),
            });
        }
        if size == 0 {
            return Ok(Mapped::Empty);
        }
        // SAFETY: the shard files are written once under a temporary name and renamed into
        // place, never modified afterwards; mapping them read-only is sound as long as no
        // other process truncates them while mapped, which the tools never do.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Mapped::Map(map))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Mapped::Map(m) => m,
            Mapped::Empty => &[],
        }
    }
}

/// A sentence's ids as stored: borrowed from the mapped file.
#[derive(Clone, Copy, Debug)]
pub enum IdSlice<'a> {
    /// Ids stored as u16.
    U16(&'a [u16]),
    /// Ids stored as u32.
    U32(&'a [u32]),
}

impl IdSlice<'_> {
    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            IdSlice::U16(s) => s.len(),
            IdSlice::U32(s) => s.len(),
        }
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th id.
    pub fn get(&self, i: usize) -> u32 {
        match self {
            IdSlice::U16(s) => s[i] as u32,
            IdSlice::U32(s) => s[i],
        }
    }

    /// The ids as u32.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            IdSlice::U16(s) => s.iter().map(|&x| x as u32).collect(),
            IdSlice::U32(s) => s.to_vec(),
        }
    }
}

/// One side's ids and offsets.
struct Column {
    ids: Mapped,
    idx: Mapped,
    id_bytes: u8,
}

impl Column {
    fn offsets(&self) -> &[u64] {
        // Length and alignment were checked in `open`.
        bytemuck::cast_slice(self.idx.bytes())
    }

    fn sentence(&self, i: usize) -> IdSlice<'_> {
        let offsets = self.offsets();
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        match self.id_bytes {
            2 => IdSlice::U16(&bytemuck::cast_slice::<u8, u16>(self.ids.bytes())[start..end]),
            _ => IdSlice::U32(&bytemuck::cast_slice::<u8, u32>(self.ids.bytes())[start..end]),
        }
    }

    fn len_of(&self, i: usize) -> usize {
        let offsets = self.offsets();
        (offsets[i + 1] - offsets[i]) as usize
    }
}

/// One split of a task's shards, memory-mapped; sentences are borrowed, never copied.
pub struct TaskData {
    dir: PathBuf,
    split: Split,
    task_type: TaskType,
    examples: usize,
    src: Column,
    src2: Option<Column>,
    trg: Option<Column>,
    labels: Option<Mapped>,
}

impl std::fmt::Debug for TaskData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskData")
            .field("dir", &self.dir)
            .field("split", &self.split)
            .field("task_type", &self.task_type)
            .field("examples", &self.examples)
            .finish()
    }
}

impl TaskData {
    /// Opens the training split of a shard folder.
    pub fn open(dir: impl AsRef<Path>) -> Result<TaskData> {
        TaskData::open_split(dir, Split::Train)
    }

    /// Opens one split of a shard folder and checks its files against the manifest.
    pub fn open_split(dir: impl AsRef<Path>, split: Split) -> Result<TaskData> {
        let dir = dir.as_ref();
        if cfg!(target_endian = "big") {
            return Err(Error::Invalid(
                "shards are little-endian; this machine is not".into(),
            ));
        }
        let manifest = Manifest::load(dir)?;
        let entry = manifest
            .splits
            .get(split.name())
            .ok_or_else(|| Error::Checkpoint {
                path: dir.join(MANIFEST),
                msg: format!("no {} split; run `gensen tokenize` first", split.name()),
            })?;
        let corrupt = |path: &Path, msg: String| Error::Checkpoint {
            path: path.to_path_buf(),
            msg,
        };
        let size_of = |name: &str| -> Result<u64> {
            entry
                .files
                .iter()
                .find(|f| f.path == Path::new(name))
                .map(|f| f.size)
                .ok_or_else(|| corrupt(&dir.join(MANIFEST), format!("does not list {name}")))
        };
        let examples = usize::try_from(entry.examples)
            .map_err(|_| corrupt(&dir.join(MANIFEST), "too many examples".into()))?;
        if !matches!(entry.id_bytes, 2 | 4) {
            return Err(corrupt(
                &dir.join(MANIFEST),
                format!("id_bytes {}", entry.id_bytes),
            ));
        }

        let open_column = |side: &str| -> Result<Column> {
            let ids_name = format!("{}.{side}.ids", split.name());
            let idx_name = format!("{}.{side}.idx", split.name());
            let ids = Mapped::open(&dir.join(&ids_name), size_of(&ids_name)?)?;
            let idx = Mapped::open(&dir.join(&idx_name), size_of(&idx_name)?)?;
            let column = Column {
                ids,
                idx,
                id_bytes: entry.id_bytes,
            };

            // Check once what every later access relies on, so indexing cannot panic.
            let idx_path = dir.join(&idx_name);
            let n_ids = column.ids.bytes().len() / entry.id_bytes as usize;
            if column.ids.bytes().len() % entry.id_bytes as usize != 0 {
                return Err(corrupt(
                    &dir.join(&ids_name),
                    "size is not a whole number of ids".into(),
                ));
            }
            let offsets: &[u64] = bytemuck::try_cast_slice(column.idx.bytes())
                .map_err(|e| corrupt(&idx_path, format!("not an array of u64: {e}")))?;
            if offsets.len() != examples + 1 {
                return Err(corrupt(
                    &idx_path,
                    format!("{} offsets for {examples} examples", offsets.len()),
                ));
            }
            if offsets[0] != 0
                || offsets.windows(2).any(|w| w[0] > w[1])
                || offsets[examples] as usize != n_ids
            {
                return Err(corrupt(
                    &idx_path,
                    "offsets are not increasing from 0 to the id count".into(),
                ));
            }
            let aligned = match entry.id_bytes {
                2 => bytemuck::try_cast_slice::<u8, u16>(column.ids.bytes()).is_ok(),
                _ => bytemuck::try_cast_slice::<u8, u32>(column.ids.bytes()).is_ok(),
            };
            if !aligned {
                return Err(corrupt(&dir.join(&ids_name), "ids are not aligned".into()));
            }
            Ok(column)
        };

        let kinds = sides(entry.task_type);
        let src = open_column("src")?;
        let src2 = kinds
            .contains(&"src2")
            .then(|| open_column("src2"))
            .transpose()?;
        let trg = kinds
            .contains(&"trg")
            .then(|| open_column("trg"))
            .transpose()?;
        let labels = if entry.task_type.has_labels() {
            let name = format!("{}.labels", split.name());
            let mapped = Mapped::open(&dir.join(&name), size_of(&name)?)?;
            let ok = bytemuck::try_cast_slice::<u8, u32>(mapped.bytes())
                .is_ok_and(|l| l.len() == examples);
            if !ok {
                return Err(corrupt(
                    &dir.join(&name),
                    format!("expected {examples} u32 labels"),
                ));
            }
            Some(mapped)
        } else {
            None
        };
        Ok(TaskData {
            dir: dir.to_path_buf(),
            split,
            task_type: entry.task_type,
            examples,
            src,
            src2,
            trg,
            labels,
        })
    }

    /// The shard folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which split this is.
    pub fn split(&self) -> Split {
        self.split
    }

    /// The task's type.
    pub fn task_type(&self) -> TaskType {
        self.task_type
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples
    }

    /// Whether the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.examples == 0
    }

    /// Ids of example `i`'s (first) sentence.
    pub fn src(&self, i: usize) -> IdSlice<'_> {
        self.src.sentence(i)
    }

    /// Ids of example `i`'s second sentence (pairs).
    pub fn src2(&self, i: usize) -> Option<IdSlice<'_>> {
        self.src2.as_ref().map(|c| c.sentence(i))
    }

    /// Ids of example `i`'s target (seq2seq).
    pub fn trg(&self, i: usize) -> Option<IdSlice<'_>> {
        self.trg.as_ref().map(|c| c.sentence(i))
    }

    /// Class ids of all examples (labelled tasks).
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels
            .as_ref()
            .map(|m| bytemuck::cast_slice(m.bytes()))
    }

    /// Length (pieces) used to group similar examples: the longest side.
    pub fn length_key(&self, i: usize) -> usize {
        let mut len = self.src.len_of(i);
        for column in [&self.src2, &self.trg].into_iter().flatten() {
            len = len.max(column.len_of(i));
        }
        len
    }
}
