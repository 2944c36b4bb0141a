//! Parallel tokenization of task files into shards.
//!
//! One reader thread parses the files into chunks of examples, `workers` threads normalize
//! and encode the chunks, and the calling thread writes them in their original order (a
//! reorder buffer keyed by chunk number), so the shards do not depend on the number of
//! workers. Bounded channels keep memory proportional to the workers, not the corpus.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::config::{Config, Task};
use crate::data::reader::{ExampleReader, RawExample, ReadStats, Split};
use crate::data::shard::{BuildCounts, Encoded, FileRecord, Fingerprint, Manifest, ShardWriter};
use crate::text::normalize::{normalize, Language, NormalizeOptions};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Examples per unit of work handed to a worker.
const CHUNK: usize = 2048;

/// Settings of a tokenization run.
#[derive(Clone, Debug)]
pub struct TokenizeOptions {
    /// Encoding threads (at least 1).
    pub workers: usize,
    /// Count and skip malformed lines instead of failing.
    pub skip_bad_lines: bool,
    /// Rebuild shards even when the manifest says they are up to date.
    pub force: bool,
}

impl Default for TokenizeOptions {
    fn default() -> Self {
        TokenizeOptions {
            workers: 4,
            skip_bad_lines: false,
            force: false,
        }
    }
}

/// Progress of the split being tokenized, passed to the caller's callback.
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    /// The task's name.
    pub task: &'a str,
    /// The split.
    pub split: Split,
    /// Source bytes consumed so far.
    pub bytes_done: u64,
    /// Total source bytes of the split.
    pub bytes_total: u64,
    /// Examples written so far.
    pub examples: u64,
}

/// A callback receiving progress reports (called from the writing thread).
pub type ProgressFn<'a> = &'a (dyn Fn(&Progress<'_>) + Sync);

/// What tokenizing one split did.
#[derive(Clone, Debug)]
pub struct SplitReport {
    /// The task's name.
    pub task: String,
    /// The split.
    pub split: Split,
    /// Whether the shards were already up to date (nothing was rebuilt).
    pub up_to_date: bool,
    /// Examples stored.
    pub examples: u64,
    /// Counts (bad lines, drops, truncations, tokens).
    pub counts: BuildCounts,
    /// The first few skipped bad lines (`file:line: why`).
    pub bad_line_messages: Vec<String>,
}

/// Tokenizes every split of every task of `config` into `<data_dir>/<taskname>/`.
pub fn tokenize_config(
    config: &Config,
    tokenizer: &Tokenizer,
    opts: &TokenizeOptions,
    progress: Option<ProgressFn<'_>>,
) -> Result<Vec<SplitReport>> {
    let normalization = config.normalize_options();
    let mut reports = Vec::new();
    for task in &config.tasks {
        for split in [Split::Train, Split::Val] {
            let report = tokenize_split(
                task,
                split,
                &config.shard_dir(task),
                tokenizer,
                normalization.as_ref(),
                (config.model.max_src_length, config.model.max_trg_length),
                opts,
                progress,
            )?;
            reports.extend(report);
        }
    }
    Ok(reports)
}

/// Tokenizes one split of a task into `dir`; `None` when the task has no such split.
/// `max_lengths` is (source, target) in pieces.
#[allow(clippy::too_many_arguments)]
pub fn tokenize_split(
    task: &Task,
    split: Split,
    dir: &Path,
    tokenizer: &Tokenizer,
    normalization: Option<&NormalizeOptions>,
    max_lengths: (usize, usize),
    opts: &TokenizeOptions,
    progress: Option<ProgressFn<'_>>,
) -> Result<Option<SplitReport>> {
    let Some(mut reader) = ExampleReader::open(task, split, opts.skip_bad_lines)? else {
        return Ok(None);
    };
    let fingerprint = fingerprint(task, split, tokenizer, normalization, max_lengths, opts)?;
    let manifest = Manifest::load(dir)?;
    if !opts.force && manifest.is_up_to_date(dir, split, &fingerprint) {
        let entry = &manifest.splits[split.name()];
        return Ok(Some(SplitReport {
            task: task.taskname.clone(),
            split,
            up_to_date: true,
            examples: entry.examples,
            counts: entry.counts.clone(),
            bad_line_messages: Vec::new(),
        }));
    }

    let mut writer = ShardWriter::create(dir, split, task.tasktype, tokenizer.vocab_size())?;
    let encoder = Encoder {
        tokenizer,
        normalization,
        src_language: task.language,
        trg_language: task.target_language(),
        max_src: max_lengths.0,
        max_trg: max_lengths.1,
    };
    let mut counts = BuildCounts::default();
    let bytes_total = reader.total_bytes();
    let workers = opts.workers.max(1);

    let outcome = std::thread::scope(|scope| -> Result<(ReadStats, Vec<String>)> {
        let (chunk_tx, chunk_rx) = sync_channel::<(usize, Vec<RawExample>, u64)>(workers * 2);
        let (done_tx, done_rx) = sync_channel::<(usize, Result<EncodedChunk>)>(workers * 2);

        // Workers share the chunk receiver; when they all stop, it is dropped and the
        // reader's next send fails, which stops the reader too.
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..workers {
            let chunk_rx = Arc::clone(&chunk_rx);
            let done_tx = done_tx.clone();
            let encoder = &encoder;
            scope.spawn(move || worker(encoder, &chunk_rx, &done_tx));
        }
        drop(chunk_rx);
        drop(done_tx);

        let reading = scope.spawn(move || -> Result<(ReadStats, Vec<String>)> {
            let mut number = 0;
            loop {
                let mut chunk = Vec::with_capacity(CHUNK);
                while chunk.len() < CHUNK {
                    match reader.next_example()? {
                        Some(example) => chunk.push(example),
                        None => break,
                    }
                }
                let last = chunk.len() < CHUNK;
                if !chunk.is_empty() && chunk_tx.send((number, chunk, reader.bytes_read())).is_err()
                {
                    break;
                }
                number += 1;
                if last {
                    break;
                }
            }
            Ok((reader.stats().clone(), reader.bad_line_messages().to_vec()))
        });

        // Write chunks in order as they complete.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (number, result) in done_rx {
            pending.insert(number, result);
            while let Some(result) = pending.remove(&next) {
                let chunk = result?;
                for example in &chunk.examples {
                    writer.push(example)?;
                }
                counts.empty_after_normalization += chunk.empty;
                counts.truncated_src += chunk.truncated_src;
                counts.truncated_trg += chunk.truncated_trg;
                next += 1;
                if let Some(report) = progress {
                    report(&Progress {
                        task: &task.taskname,
                        split,
                        bytes_done: chunk.bytes_read,
                        bytes_total,
                        examples: writer.examples(),
                    });
                }
            }
        }
        reading
            .join()
            .map_err(|_| Error::Invalid("the reading thread panicked".into()))?
    });
    let (stats, messages) = match outcome {
        Ok(done) => done,
        Err(e) => {
            writer.discard();
            return Err(e);
        }
    };

    counts.lines = stats.lines;
    counts.bad_lines = stats.bad_lines;
    counts.unlabelled = stats.unlabelled;
    let entry = writer.finish(fingerprint, counts)?;
    Ok(Some(SplitReport {
        task: task.taskname.clone(),
        split,
        up_to_date: false,
        examples: entry.examples,
        counts: entry.counts,
        bad_line_messages: messages,
    }))
}

/// Everything the shards of a split depend on.
fn fingerprint(
    task: &Task,
    split: Split,
    tokenizer: &Tokenizer,
    normalization: Option<&NormalizeOptions>,
    max_lengths: (usize, usize),
    opts: &TokenizeOptions,
) -> Result<Fingerprint> {
    let files = match split {
        Split::Train => [Some(&task.train_src), task.train_trg.as_ref()],
        Split::Val => [task.val_src.as_ref(), task.val_trg.as_ref()],
    };
    let sources = files
        .into_iter()
        .flatten()
        .map(|p| FileRecord::of(p))
        .collect::<Result<Vec<_>>>()?;
    let normalization = match normalization {
        Some(n) => format!(
            "{}/{} {}",
            task.language,
            task.target_language(),
            serde_json::to_string(n).unwrap_or_default()
        ),
        None => String::new(),
    };
    Ok(Fingerprint {
        sources,
        tokenizer_crc32: tokenizer.checksum(),
        normalization,
        max_src_length: max_lengths.0,
        max_trg_length: max_lengths.1,
        labels: task.labels.iter().map(|(k, &v)| (k.clone(), v)).collect(),
        skip_bad_lines: opts.skip_bad_lines,
    })
}

/// Normalizes and encodes examples.
struct Encoder<'a> {
    tokenizer: &'a Tokenizer,
    normalization: Option<&'a NormalizeOptions>,
    src_language: Language,
    trg_language: Language,
    max_src: usize,
    max_trg: usize,
}

/// A worker's output for one chunk.
struct EncodedChunk {
    examples: Vec<Encoded>,
    /// Examples dropped because a sentence normalized to nothing.
    empty: u64,
    truncated_src: u64,
    truncated_trg: u64,
    /// Source bytes consumed when the chunk was read (for progress).
    bytes_read: u64,
}

impl Encoder<'_> {
    /// Encodes one sentence; `None` when it is empty after normalization. The flag says
    /// whether it was truncated.
    fn sentence(
        &self,
        text: &str,
        language: Language,
        max: usize,
    ) -> Result<Option<(Vec<u32>, bool)>> {
        let normalized;
        let text = match self.normalization {
            Some(opts) => {
                normalized = normalize(text, language, opts);
                normalized.as_str()
            }
            None => text.trim(),
        };
        if text.is_empty() {
            return Ok(None);
        }
        let mut ids = self.tokenizer.encode(text)?;
        if ids.is_empty() {
            return Ok(None);
        }
        let truncated = ids.len() > max;
        ids.truncate(max);
        Ok(Some((ids, truncated)))
    }

    fn chunk(&self, examples: Vec<RawExample>, bytes_read: u64) -> Result<EncodedChunk> {
        let mut out = EncodedChunk {
            examples: Vec::with_capacity(examples.len()),
            empty: 0,
            truncated_src: 0,
            truncated_trg: 0,
            bytes_read,
        };
        for example in examples {
            let src = self.sentence(&example.src, self.src_language, self.max_src)?;
            let src2 = match &example.src2 {
                Some(s) => Some(self.sentence(s, self.src_language, self.max_src)?),
                None => None,
            };
            let trg = match &example.trg {
                Some(t) => Some(self.sentence(t, self.trg_language, self.max_trg)?),
                None => None,
            };
            // Any side that normalized to nothing drops the example.
            let (Some(src), Some(src2), Some(trg)) = (
                src,
                src2.map_or(Some(None), |s| s.map(Some)),
                trg.map_or(Some(None), |t| t.map(Some)),
            ) else {
                out.empty += 1;
                continue;
            };
            out.truncated_src += src.1 as u64 + src2.as_ref().map_or(0, |s| s.1 as u64);
            out.truncated_trg += trg.as_ref().map_or(0, |t| t.1 as u64);
            out.examples.push(Encoded {
                src: src.0,
                src2: src2.map(|s| s.0),
                trg: trg.map(|t| t.0),
                label: example.label,
            });
        }
        Ok(out)
    }
}

type ChunkReceiver = Mutex<Receiver<(usize, Vec<RawExample>, u64)>>;

fn worker(
    encoder: &Encoder<'_>,
    chunks: &ChunkReceiver,
    done: &std::sync::mpsc::SyncSender<(usize, Result<EncodedChunk>)>,
) {
    loop {
        // The lock is held only while taking a chunk, not while encoding it.
        let message = match chunks.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((number, examples, bytes_read)) = message else {
            return;
        };
        if done
            .send((number, encoder.chunk(examples, bytes_read)))
            .is_err()
        {
            return;
        }
    }
}
