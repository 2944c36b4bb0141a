//! Readers for the task file formats, yielding raw (not yet normalized) examples.
//!
//! - seq2seq: two line-aligned text files, one sentence per line.
//! - classification: `label<TAB>sentence` lines, or `.jsonl` with `sentence` and `label`.
//! - pair-classification: `label<TAB>sentence1<TAB>sentence2` lines; SNLI/MultiNLI `.jsonl`
//!   (`sentence1`, `sentence2`, `gold_label`); or an XNLI-style `.tsv` whose first line is a
//!   header naming the `sentence1`, `sentence2` and `gold_label` (or `label`) columns.
//!
//! A malformed line (invalid UTF-8, wrong column count, empty sentence, unknown label) is an
//! [`Error::Parse`] naming file and line, unless bad lines are skipped, in which case they
//! are counted. Examples labelled `-` (no annotator agreement in the NLI corpora) are
//! dropped and counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::config::{Task, TaskType};
use crate::{Error, Result};

/// Which part of a task's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training files (`train_src`, `train_trg`).
    Train,
    /// The validation files (`val_src`, `val_trg`).
    Val,
}

impl Split {
    /// The split's name in file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

/// One example as read from the files: raw text and the label's class id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExample {
    /// 1-based line of the example in the source file.
    pub line: usize,
    /// The (first) sentence.
    pub src: String,
    /// The second sentence of a pair.
    pub src2: Option<String>,
    /// The target sentence of seq2seq tasks.
    pub trg: Option<String>,
    /// The class id of labelled tasks.
    pub label: Option<u32>,
}

/// Counts kept while reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadStats {
    /// Lines read (header lines included).
    pub lines: u64,
    /// Examples returned.
    pub examples: u64,
    /// Malformed lines skipped (only when skipping is enabled).
    pub bad_lines: u64,
    /// Examples dropped because their label is `-`.
    pub unlabelled: u64,
}

/// How many bad-line messages a reader keeps for the report.
const KEPT_MESSAGES: usize = 5;

/// The layout of a labelled file.
#[derive(Clone, Debug)]
enum Layout {
    /// `label<TAB>sentence` or `label<TAB>sentence1<TAB>sentence2`.
    Tsv,
    /// A header names the columns; rows must have as many columns as the header.
    HeaderTsv {
        columns: usize,
        label: usize,
        sentence1: usize,
        sentence2: usize,
    },
    /// One JSON object per line.
    Jsonl,
}

/// Lines of one file as bytes, with their 1-based numbers.
struct LineSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: usize,
    bytes_read: u64,
    buf: Vec<u8>,
}

impl LineSource {
    fn open(path: &Path) -> Result<LineSource> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(LineSource {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            line: 0,
            bytes_read: 0,
            buf: Vec::new(),
        })
    }

    /// The next line's number and bytes without its line ending, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &[u8])>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.bytes_read += n as u64;
        let mut end = self.buf.len();
        if end > 0 && self.buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        Ok(Some((self.line, &self.buf[..end])))
    }
}

/// Why a line is rejected.
type LineResult<T> = std::result::Result<T, String>;

/// What reading a line gave.
enum Parsed {
    Example(RawExample),
    Unlabelled,
}

/// Reads the examples of one split of one task.
pub struct ExampleReader {
    task_type: TaskType,
    labels: std::collections::BTreeMap<String, u32>,
    layout: Layout,
    src: LineSource,
    trg: Option<LineSource>,
    skip_bad_lines: bool,
    stats: ReadStats,
    messages: Vec<String>,
    total_bytes: u64,
}

impl ExampleReader {
    /// Opens the files of `split`, or returns `None` when the task has no such split.
    pub fn open(task: &Task, split: Split, skip_bad_lines: bool) -> Result<Option<ExampleReader>> {
        let (src_path, trg_path) = match split {
            Split::Train => (Some(&task.train_src), task.train_trg.as_ref()),
            Split::Val => (task.val_src.as_ref(), task.val_trg.as_ref()),
        };
        let Some(src_path) = src_path else {
            return Ok(None);
        };
        let mut src = LineSource::open(src_path)?;
        let trg = match (task.tasktype, trg_path) {
            (TaskType::Seq2seq, Some(p)) => Some(LineSource::open(p)?),
            (TaskType::Seq2seq, None) => {
                return Err(Error::Invalid(format!(
                    "task {}: seq2seq needs a target file for the {} split",
                    task.taskname,
                    split.name()
                )))
            }
            _ => None,
        };
        let mut total_bytes = file_size(src_path)?;
        if let Some(p) = trg_path.filter(|_| trg.is_some()) {
            total_bytes += file_size(p)?;
        }

        let is_jsonl = src_path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
        let mut stats = ReadStats::default();
        let layout = if task.tasktype == TaskType::Seq2seq {
            Layout::Tsv
        } else if is_jsonl {
            Layout::Jsonl
        } else if task.tasktype == TaskType::PairClassification {
            // A header is recognised by its column names, then consumed.
            let first = detect_header(&src_path.to_path_buf())?;
            match first {
                Some(layout) => {
                    src.next_line()?;
                    stats.lines += 1;
                    layout
                }
                None => Layout::Tsv,
            }
        } else {
            Layout::Tsv
        };

        Ok(Some(ExampleReader {
            task_type: task.tasktype,
            labels: task.labels.clone(),
            layout,
            src,
            trg,
            skip_bad_lines,
            stats,
            messages: Vec::new(),
            total_bytes,
        }))
    }

    /// Counts so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// The first few bad-line messages (`file:line: why`) when skipping.
    pub fn bad_line_messages(&self) -> &[String] {
        &self.messages
    }

    /// Bytes of the source files consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.src.bytes_read + self.trg.as_ref().map_or(0, |t| t.bytes_read)
    }

    /// Total size of the source files.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// The next example, `Ok(None)` at the end.
    pub fn next_example(&mut self) -> Result<Option<RawExample>> {
        loop {
            let parsed = match self.task_type {
                TaskType::Seq2seq => self.next_seq2seq()?,
                _ => self.next_labelled()?,
            };
            let Some((path, line, parsed)) = parsed else {
                return Ok(None);
            };
            self.stats.lines += 1;
            match parsed {
                Ok(Parsed::Example(example)) => {
                    self.stats.examples += 1;
                    return Ok(Some(example));
                }
                Ok(Parsed::Unlabelled) => self.stats.unlabelled += 1,
                Err(msg) if self.skip_bad_lines => {
                    self.stats.bad_lines += 1;
                    if self.messages.len() < KEPT_MESSAGES {
                        self.messages
                            .push(format!("{}:{line}: {msg}", path.display()));
                    }
                }
                Err(msg) => return Err(Error::parse(path, line, msg)),
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn next_seq2seq(&mut self) -> Result<Option<(PathBuf, usize, LineResult<Parsed>)>> {
        let trg = self
            .trg
            .as_mut()
            .expect("seq2seq readers open a target file");
        let src_line = self.src.next_line()?.map(|(_, b)| b.to_vec());
        let line = self.src.line.max(trg.line + 1);
        let trg_line = trg.next_line()?.map(|(_, b)| b);
        let (src_bytes, trg_bytes) = match (src_line, trg_line) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                // Not skippable: the files no longer line up.
                return Err(Error::parse(
                    &trg.path,
                    trg.line + 1,
                    format!("ends before {} (line {line})", self.src.path.display()),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::parse(
                    &self.src.path,
                    self.src.line + 1,
                    format!("ends before {} (line {line})", trg.path.display()),
                ));
            }
            (Some(s), Some(t)) => (s, t),
        };
        let src = match sentence(&src_bytes) {
            Ok(s) => s,
            Err(msg) => return Ok(Some((self.src.path.clone(), line, Err(msg)))),
        };
        let result = sentence(trg_bytes).map(|trg| {
            Parsed::Example(RawExample {
                line,
                src,
                src2: None,
                trg: Some(trg),
                label: None,
            })
        });
        Ok(Some((trg.path.clone(), line, result)))
    }

    #[allow(clippy::type_complexity)]
    fn next_labelled(&mut self) -> Result<Option<(PathBuf, usize, LineResult<Parsed>)>> {
        let pair = self.task_type == TaskType::PairClassification;
        let Some((line, bytes)) = self.src.next_line()? else {
            return Ok(None);
        };
        let fields = match std::str::from_utf8(bytes) {
            Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
            Ok(text) => match &self.layout {
                Layout::Tsv => tsv_fields(text, pair),
                Layout::HeaderTsv {
                    columns,
                    label,
                    sentence1,
                    sentence2,
                } => {
                    let cols: Vec<&str> = text.split('\t').collect();
                    if cols.len() != *columns {
                        Err(format!(
                            "expected {columns} tab-separated columns as in the header, found {}",
                            cols.len()
                        ))
                    } else {
                        Ok((
                            cols[*label].to_string(),
                            cols[*sentence1].to_string(),
                            Some(cols[*sentence2].to_string()),
                        ))
                    }
                }
                Layout::Jsonl => jsonl_fields(text, pair),
            },
        };
        let result = fields.and_then(|(label, src, src2)| {
            let label = label.trim();
            if label == "-" {
                return Ok(Parsed::Unlabelled);
            }
            let Some(&id) = self.labels.get(label) else {
                let known: Vec<&str> = self.labels.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown label {label:?} (the mapping has {known:?})"
                ));
            };
            let src = nonempty(src, "sentence")?;
            let src2 = match src2 {
                Some(s) => Some(nonempty(s, "second sentence")?),
                None => None,
            };
            Ok(Parsed::Example(RawExample {
                line,
                src,
                src2,
                trg: None,
                label: Some(id),
            }))
        });
        Ok(Some((self.src.path.clone(), line, result)))
    }
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len())
}

/// A line as a non-empty sentence.
fn sentence(bytes: &[u8]) -> LineResult<String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    nonempty(text.to_string(), "line")
}

fn nonempty(text: String, what: &str) -> LineResult<String> {
    if text.trim().is_empty() {
        Err(format!("empty {what}"))
    } else {
        Ok(text)
    }
}

/// `label<TAB>sentence[<TAB>sentence2]`.
fn tsv_fields(text: &str, pair: bool) -> LineResult<(String, String, Option<String>)> {
    let cols: Vec<&str> = text.split('\t').collect();
    match (pair, cols.as_slice()) {
        (false, [label, s]) => Ok((label.to_string(), s.to_string(), None)),
        (true, [label, s1, s2]) => Ok((label.to_string(), s1.to_string(), Some(s2.to_string()))),
        (false, _) if text.trim().is_empty() => Err("empty line".into()),
        (true, _) if text.trim().is_empty() => Err("empty line".into()),
        (false, _) => Err(format!(
            "expected 2 tab-separated columns (label, sentence), found {}",
            cols.len()
        )),
        (true, _) => Err(format!(
            "expected 3 tab-separated columns (label, sentence1, sentence2), found {}",
            cols.len()
        )),
    }
}

/// A JSON object with `sentence1`, `sentence2`, `gold_label` (pairs) or `sentence`,
/// `label` (single sentences). Numeric labels are read as their decimal text.
fn jsonl_fields(text: &str, pair: bool) -> LineResult<(String, String, Option<String>)> {
    if text.trim().is_empty() {
        return Err("empty line".into());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let field = |name: &str| -> Option<String> {
        match value.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let label = field(if pair { "gold_label" } else { "label" })
        .or_else(|| pair.then(|| field("label")).flatten())
        .ok_or_else(|| {
            format!(
                "missing string field {:?}",
                if pair { "gold_label" } else { "label" }
            )
        })?;
    if pair {
        let s1 = field("sentence1").ok_or("missing string field \"sentence1\"")?;
        let s2 = field("sentence2").ok_or("missing string field \"sentence2\"")?;
        Ok((label, s1, Some(s2)))
    } else {
        let s = field("sentence").ok_or("missing string field \"sentence\"")?;
        Ok((label, s, None))
    }
}

/// Recognises an NLI header line (`sentence1`, `sentence2` and `gold_label` or `label`
/// among its tab-separated columns).
fn detect_header(path: &Path) -> Result<Option<Layout>> {
    let mut source = LineSource::open(path)?;
    let Some((_, first)) = source.next_line()? else {
        return Ok(None);
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return Ok(None);
    };
    let cols: Vec<&str> = first.split('\t').map(str::trim).collect();
    let find = |name: &str| cols.iter().position(|c| *c == name);
    match (
        find("sentence1"),
        find("sentence2"),
        find("gold_label").or_else(|| find("label")),
    ) {
        (Some(sentence1), Some(sentence2), Some(label)) => Ok(Some(Layout::HeaderTsv {
            columns: cols.len(),
            label,
            sentence1,
            sentence2,
        })),
        _ => Ok(None),
    }
}
