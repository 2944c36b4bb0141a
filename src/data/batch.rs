//! Minibatches: sentences of similar length grouped, shuffled with the seed, padded with
//! `<pad>` and laid out time-major, as the recurrent encoder consumes them step by step.
//!
//! Each epoch draws a permutation of the examples from `(seed, epoch)`, cuts it into pools
//! of [`POOL_BATCHES`] batches, sorts each pool by length and cuts it into batches, then
//! shuffles the order of all batches. Sorting within a pool keeps padding low while the
//! pool boundaries keep batches random; deriving everything from `(seed, epoch)` makes the
//! stream reproducible and lets a [`BatchState`] of two integers resume it exactly.

use std::sync::Arc;

use crate::config::TaskType;
use crate::data::shard::{IdSlice, TaskData};
use crate::engine::rng::Rng;
use crate::text::{BOS, EOS, PAD};
use crate::{Error, Result};

/// Batches per length-sorting pool.
pub const POOL_BATCHES: usize = 50;

/// One side of a batch: padded ids, time-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// Ids, (T, B) time-major: position t of sentence b is `ids[t * batch + b]`; padded
    /// with `<pad>`.
    pub ids: Vec<u32>,
    /// Length of each sentence, specials included, (B).
    pub lens: Vec<u32>,
    /// T, the longest length.
    pub max_len: usize,
    /// B, the number of sentences.
    pub batch: usize,
}

impl Side {
    /// Builds a side from tokenized sentences, adding `<s>` and `</s>` when
    /// `add_start_end`.
    pub fn from_sentences(sentences: &[Vec<u32>], add_start_end: bool) -> Side {
        let (prefix, suffix) = if add_start_end {
            (Some(BOS), Some(EOS))
        } else {
            (None, None)
        };
        Side::build(sentences.iter().map(|s| IdSlice::U32(s)), prefix, suffix)
    }

    /// Builds a side from sentences, each wrapped in the optional `prefix` and `suffix` id.
    pub fn build<'a>(
        sentences: impl ExactSizeIterator<Item = IdSlice<'a>> + Clone,
        prefix: Option<u32>,
        suffix: Option<u32>,
    ) -> Side {
        let batch = sentences.len();
        let extra = prefix.is_some() as usize + suffix.is_some() as usize;
        let lens: Vec<u32> = sentences
            .clone()
            .map(|s| (s.len() + extra) as u32)
            .collect();
        let max_len = lens.iter().copied().max().unwrap_or(0) as usize;

        let mut ids = vec![PAD; max_len * batch]; // (T, B)
        for (b, sentence) in sentences.enumerate() {
            let mut t = 0;
            let mut put = |id: u32| {
                ids[t * batch + b] = id;
                t += 1;
            };
            if let Some(p) = prefix {
                put(p);
            }
            for i in 0..sentence.len() {
                put(sentence.get(i));
            }
            if let Some(s) = suffix {
                put(s);
            }
        }
        Side {
            ids,
            lens,
            max_len,
            batch,
        }
    }

    /// 1.0 at real positions and 0.0 at padding, (T, B).
    pub fn mask(&self) -> Vec<f32> {
        let mut mask = vec![0.0; self.max_len * self.batch];
        for (b, &len) in self.lens.iter().enumerate() {
            for t in 0..len as usize {
                mask[t * self.batch + b] = 1.0;
            }
        }
        mask
    }

    /// The ids of sentence `b` without padding.
    pub fn sentence(&self, b: usize) -> Vec<u32> {
        (0..self.lens[b] as usize)
            .map(|t| self.ids[t * self.batch + b])
            .collect()
    }
}

/// One minibatch of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The (first) sentences: `<s> w.. </s>`.
    pub src: Side,
    /// The second sentences of pairs: `<s> w.. </s>`.
    pub src2: Option<Side>,
    /// Decoder input of seq2seq tasks: `<s> w1..wn`.
    pub trg_in: Option<Side>,
    /// Decoder target of seq2seq tasks: `w1..wn </s>` (same lengths as `trg_in`).
    pub trg_out: Option<Side>,
    /// Class ids of labelled tasks, (B).
    pub labels: Option<Vec<u32>>,
    /// Indices of the batch's examples in the split, (B).
    pub indices: Vec<u32>,
}

impl Batch {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.src.batch
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.src.batch == 0
    }

    /// Builds the batch of the given examples of `data`, in that order.
    pub fn gather(data: &TaskData, indices: &[u32]) -> Batch {
        let rows = || indices.iter().map(|&i| i as usize);
        let src = Side::build(rows().map(|i| data.src(i)), Some(BOS), Some(EOS));
        let src2 = match data.task_type() {
            TaskType::PairClassification => Some(Side::build(
                rows().map(|i| data.src2(i).unwrap_or(IdSlice::U32(&[]))),
                Some(BOS),
                Some(EOS),
            )),
            _ => None,
        };
        let (trg_in, trg_out) = match data.task_type() {
            TaskType::Seq2seq => {
                let trg = || rows().map(|i| data.trg(i).unwrap_or(IdSlice::U32(&[])));
                (
                    Some(Side::build(trg(), Some(BOS), None)),
                    Some(Side::build(trg(), None, Some(EOS))),
                )
            }
            _ => (None, None),
        };
        let labels = data
            .labels()
            .map(|all| rows().map(|i| all[i]).collect::<Vec<u32>>());
        Batch {
            src,
            src2,
            trg_in,
            trg_out,
            labels,
            indices: indices.to_vec(),
        }
    }
}

/// Where a [`BatchIter`] stands; restoring it resumes the exact batch sequence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchState {
    /// The seed the iterator was created with (checked on restore).
    pub seed: u64,
    /// Batch size (checked on restore).
    pub batch_size: usize,
    /// Examples in the split (checked on restore).
    pub examples: usize,
    /// Current epoch, from 0.
    pub epoch: u64,
    /// Batches already taken in the current epoch.
    pub position: usize,
}

/// An endless stream of shuffled, length-grouped training batches of one task split.
pub struct BatchIter {
    data: Arc<TaskData>,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    position: usize,
    /// The epoch's example order, (N).
    order: Vec<u32>,
    /// Batches of the epoch as ranges of `order`, in the order they are served.
    batches: Vec<(usize, usize)>,
}

impl BatchIter {
    /// A stream over `data` with `batch_size` examples per batch (the last batch of each
    /// pool may be smaller), shuffled from `seed`.
    pub fn new(data: impl Into<Arc<TaskData>>, batch_size: usize, seed: u64) -> Self {
        let mut iter = BatchIter {
            data: data.into(),
            batch_size: batch_size.max(1),
            seed,
            epoch: 0,
            position: 0,
            order: Vec::new(),
            batches: Vec::new(),
        };
        iter.plan_epoch();
        iter
    }

    /// The data served.
    pub fn data(&self) -> &Arc<TaskData> {
        &self.data
    }

    /// The current epoch (0-based).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.batches.len()
    }

    /// The next batch; epochs follow each other forever, each reshuffled. An empty split
    /// yields empty batches.
    pub fn next_batch(&mut self) -> Batch {
        if self.position >= self.batches.len() && !self.data.is_empty() {
            self.epoch += 1;
            self.position = 0;
            self.plan_epoch();
        }
        let Some(&(start, end)) = self.batches.get(self.position) else {
            return Batch::gather(&self.data, &[]);
        };
        self.position += 1;
        Batch::gather(&self.data, &self.order[start..end])
    }

    /// The current position, to save with a checkpoint.
    pub fn state(&self) -> BatchState {
        BatchState {
            seed: self.seed,
            batch_size: self.batch_size,
            examples: self.data.len(),
            epoch: self.epoch,
            position: self.position,
        }
    }

    /// Resumes from a saved position; the data, seed and batch size must be the same.
    pub fn restore(&mut self, state: &BatchState) -> Result<()> {
        let mine = self.state();
        if (state.seed, state.batch_size, state.examples)
            != (mine.seed, mine.batch_size, mine.examples)
        {
            return Err(Error::Invalid(format!(
                "batch state for seed {}, batch size {}, {} examples cannot resume an iterator \
                 with seed {}, batch size {}, {} examples",
                state.seed,
                state.batch_size,
                state.examples,
                mine.seed,
                mine.batch_size,
                mine.examples
            )));
        }
        self.epoch = state.epoch;
        self.plan_epoch();
        if state.position > self.batches.len() {
            return Err(Error::Invalid(format!(
                "batch state position {} exceeds the {} batches of an epoch",
                state.position,
                self.batches.len()
            )));
        }
        self.position = state.position;
        Ok(())
    }

    /// Computes the current epoch's order and batches from `(seed, epoch)` alone.
    fn plan_epoch(&mut self) {
        let n = self.data.len();
        let rng = Rng::new(self.seed).fork(self.epoch);
        let mut order: Vec<u32> = (0..n as u32).collect();
        rng.fork(0).shuffle(&mut order);

        let pool = self.batch_size * POOL_BATCHES;
        let mut batches = Vec::with_capacity(n.div_ceil(self.batch_size));
        for (p, chunk) in order.chunks_mut(pool).enumerate() {
            // Stable sort keeps the shuffled order among equal lengths.
            chunk.sort_by_key(|&i| self.data.length_key(i as usize));
            let base = p * pool;
            let mut start = 0;
            while start < chunk.len() {
                let end = (start + self.batch_size).min(chunk.len());
                batches.push((base + start, base + end));
                start = end;
            }
        }
        rng.fork(1).shuffle(&mut batches);
        self.order = order;
        self.batches = batches;
    }
}

/// Batches of a split in file order, once (for validation and evaluation).
pub fn sequential(data: &TaskData, batch_size: usize) -> impl Iterator<Item = Batch> + '_ {
    let batch_size = batch_size.max(1);
    let n = data.len();
    (0..n.div_ceil(batch_size)).map(move |k| {
        let indices: Vec<u32> = ((k * batch_size)..((k + 1) * batch_size).min(n))
            .map(|i| i as u32)
            .collect();
        Batch::gather(data, &indices)
    })
}
