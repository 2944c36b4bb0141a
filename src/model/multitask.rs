//! The whole multi-task model: one shared encoder, and per task a decoder or a classifier.

use serde::{Deserialize, Serialize};

use crate::engine::rng::{mix64, Rng};
use crate::engine::{Backend, Loss, Params, Pool, Tape, Var};
use crate::error::{Error, Result};
use crate::model::{Classifier, Decoder, Encoder, EncoderConfig, PairClassifier, SeqInput};

/// What a task predicts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TaskKind {
    /// Sentence to sentence (translation, skip-thought): a decoder over `vocab` pieces.
    Seq2seq { vocab: usize },
    /// One sentence to one of `classes`.
    Classification { classes: usize },
    /// A pair of sentences to one of `classes` (NLI).
    PairClassification { classes: usize },
}

/// A task's name and kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub name: String,
    pub kind: TaskKind,
}

/// Everything that fixes the model's shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub encoder: EncoderConfig,
    /// Target embedding size of the decoders.
    pub dim_word_trg: usize,
    /// Dropout on sentence vectors before decoders and heads.
    pub dropout: f32,
    /// How sentence vectors are pooled for decoders and heads.
    pub pool: Pool,
    pub tasks: Vec<TaskSpec>,
}

/// One task's head.
#[derive(Clone, Debug)]
pub enum Head {
    Decoder(Decoder),
    Classifier(Classifier),
    Pair(PairClassifier),
}

/// One task's minibatch, token ids time-major.
#[derive(Clone, Copy, Debug)]
pub enum TaskBatch<'a> {
    Seq2seq {
        src: SeqInput<'a>,
        /// `<s> w1..wn`, padded.
        trg_in: SeqInput<'a>,
        /// `w1..wn </s>`, padded, same shape as `trg_in`.
        trg_out: &'a [u32],
    },
    Classification {
        src: SeqInput<'a>,
        labels: &'a [u32],
    },
    Pair {
        first: SeqInput<'a>,
        second: SeqInput<'a>,
        labels: &'a [u32],
    },
}

impl TaskBatch<'_> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            TaskBatch::Seq2seq { src, .. } | TaskBatch::Classification { src, .. } => src.batch,
            TaskBatch::Pair { first, .. } => first.batch,
        }
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of real source and target tokens, for throughput figures.
    pub fn tokens(&self) -> usize {
        let sum = |s: &SeqInput<'_>| s.lens.iter().map(|&l| l as usize).sum::<usize>();
        match self {
            TaskBatch::Seq2seq { src, trg_in, .. } => sum(src) + sum(trg_in),
            TaskBatch::Classification { src, .. } => sum(src),
            TaskBatch::Pair { first, second, .. } => sum(first) + sum(second),
        }
    }
}

/// The multi-task model and its parameters.
pub struct MultiTask<B: Backend> {
    pub spec: ModelSpec,
    pub params: Params<B>,
    pub encoder: Encoder,
    pub heads: Vec<Head>,
}

impl<B: Backend> MultiTask<B> {
    /// A freshly initialised model; the same spec and seed give the same weights.
    pub fn new(backend: B, spec: ModelSpec, seed: u64) -> Result<Self> {
        Self::check_spec(&spec)?;
        let mut rng = Rng::new(seed);
        let mut params = Params::new(backend);
        let encoder = Encoder::init(&mut params, spec.encoder.clone(), &mut rng)?;
        let dim = spec.encoder.dim();
        let mut heads = Vec::with_capacity(spec.tasks.len());
        for task in &spec.tasks {
            let name = &task.name;
            heads.push(match task.kind {
                TaskKind::Seq2seq { vocab } => Head::Decoder(Decoder::init(
                    &mut params,
                    name,
                    vocab,
                    spec.dim_word_trg,
                    dim,
                    spec.encoder.pad_id,
                    &mut rng,
                )?),
                TaskKind::Classification { classes } => {
                    Head::Classifier(Classifier::init(&mut params, name, dim, classes, &mut rng)?)
                }
                TaskKind::PairClassification { classes } => Head::Pair(PairClassifier::init(
                    &mut params,
                    name,
                    dim,
                    classes,
                    &mut rng,
                )?),
            });
        }
        Ok(MultiTask {
            spec,
            params,
            encoder,
            heads,
        })
    }

    fn check_spec(spec: &ModelSpec) -> Result<()> {
        let names: std::collections::HashSet<_> = spec.tasks.iter().map(|t| &t.name).collect();
        if names.len() != spec.tasks.len() {
            return Err(Error::Invalid("task names must be unique".into()));
        }
        if !(0.0..1.0).contains(&spec.dropout) {
            return Err(Error::Invalid(format!(
                "dropout {} must be in [0, 1)",
                spec.dropout
            )));
        }
        if spec.tasks.is_empty() {
            return Err(Error::Invalid("the model needs at least one task".into()));
        }
        Ok(())
    }

    /// Index of the task called `name`.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.spec.tasks.iter().position(|t| t.name == name)
    }

    /// Sentence vectors (B, dim) of `src`.
    pub fn sentence(&self, tape: &mut Tape<B>, src: SeqInput<'_>) -> Result<Var> {
        let encoded = self.encoder.forward(tape, &self.params, src)?;
        self.encoder.sentence(tape, &encoded, self.spec.pool)
    }

    /// Records the loss of one batch of task `task` on `tape`. `seed` keys this step's
    /// dropout masks; the loss is the mean over target tokens (seq2seq) or examples.
    pub fn loss(
        &mut self,
        tape: &mut Tape<B>,
        task: usize,
        batch: TaskBatch<'_>,
        seed: u64,
    ) -> Result<Loss> {
        let p = self.spec.dropout;
        let head = self
            .heads
            .get(task)
            .ok_or_else(|| Error::Invalid(format!("no task {task}")))?
            .clone();
        match (head, batch) {
            (
                Head::Decoder(dec),
                TaskBatch::Seq2seq {
                    src,
                    trg_in,
                    trg_out,
                },
            ) => {
                if trg_in.batch != src.batch {
                    return Err(Error::shape(
                        "seq2seq batch",
                        format!("{} targets", src.batch),
                        trg_in.batch.to_string(),
                    ));
                }
                let u = self.sentence(tape, src)?;
                let ctx = tape.dropout(u, p, mix64(seed ^ 1))?;
                dec.loss(tape, &mut self.params, ctx, trg_in, trg_out)
            }
            (Head::Classifier(head), TaskBatch::Classification { src, labels }) => {
                self.check_labels(labels, src.batch, head.classes)?;
                let u = self.sentence(tape, src)?;
                head.loss(tape, &mut self.params, u, labels, p, mix64(seed ^ 2))
            }
            (
                Head::Pair(head),
                TaskBatch::Pair {
                    first,
                    second,
                    labels,
                },
            ) => {
                self.check_labels(labels, first.batch, head.classes)?;
                if second.batch != first.batch {
                    return Err(Error::shape(
                        "pair batch",
                        format!("{} pairs", first.batch),
                        second.batch.to_string(),
                    ));
                }
                let u = self.sentence(tape, first)?;
                let v = self.sentence(tape, second)?;
                head.loss(tape, &mut self.params, u, v, labels, p, mix64(seed ^ 3))
            }
            _ => Err(Error::Invalid(format!(
                "task '{}' got a batch of another kind",
                self.spec.tasks[task].name
            ))),
        }
    }

    fn check_labels(&self, labels: &[u32], batch: usize, classes: usize) -> Result<()> {
        if labels.len() != batch {
            return Err(Error::shape(
                "labels",
                format!("{batch} labels"),
                labels.len().to_string(),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::shape(
                "labels",
                format!("labels below {classes}"),
                bad.to_string(),
            ));
        }
        Ok(())
    }

    /// Predicted classes of a classification batch (no dropout, nothing recorded).
    pub fn predict(
        &self,
        tape: &mut Tape<B>,
        task: usize,
        batch: TaskBatch<'_>,
    ) -> Result<Vec<u32>> {
        let recording = tape.recording();
        tape.set_recording(false);
        let result = (|| match (&self.heads[task], batch) {
            (Head::Classifier(head), TaskBatch::Classification { src, .. }) => {
                let u = self.sentence(tape, src)?;
                let logits = head.logits(tape, &self.params, u, src.batch, 0.0, 0)?;
                tape.argmax(logits, src.batch, head.classes)
            }
            (Head::Pair(head), TaskBatch::Pair { first, second, .. }) => {
                let u = self.sentence(tape, first)?;
                let v = self.sentence(tape, second)?;
                let logits = head.logits(tape, &self.params, u, v, first.batch, 0.0, 0)?;
                tape.argmax(logits, first.batch, head.classes)
            }
            _ => Err(Error::Invalid(format!(
                "task '{}' is not a classification task",
                self.spec.tasks[task].name
            ))),
        })();
        tape.set_recording(recording);
        result
    }
}
