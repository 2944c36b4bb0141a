//! Fine-tuning an encoder with a task head (ALUE, bilingual NLI): Adam, batch 32, gradient
//! norm clipped over encoder and head together, a fixed number of epochs; after each epoch
//! the validation split (carved from the training data) is scored, and the predictions on
//! the evaluation sets are kept from the epoch with the best validation score, so the test
//! data never chooses anything.
//!
//! The encoder is reached through [`FineTunable`]; the head lives in [`super::heads`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::alue_data::{Metric, TaskKind};
use super::data::{self, Example, Target};
use super::heads::{Head, Predictions};
use super::{metrics, Language, Pool};
use crate::engine::rng::Rng;
use crate::error::{Error, Result};

/// An encoder whose parameters fine-tuning updates.
///
/// Calls follow the pattern: for each batch, `forward_train`, then `backward` with the
/// gradient of the loss with respect to the vectors it returned, then `grad_norm_sq` and
/// `step`; between epochs, `encode` (no gradient, no dropout) for scoring and `save` when
/// the validation score improves. `reset` returns to the pretrained weights before the next
/// task.
pub trait FineTunable {
    /// Length of one sentence vector.
    fn dim(&self) -> usize;

    /// Encodes `sentences` in training mode (dropout drawn from `seed`, activations kept
    /// for [`FineTunable::backward`]) into (n, dim) row-major vectors.
    fn forward_train(
        &mut self,
        sentences: &[String],
        pool: Pool,
        language: Language,
        seed: u64,
    ) -> Result<Vec<f32>>;

    /// Back-propagates d loss / d vectors, (n, dim) for the last `forward_train`,
    /// accumulating into the encoder's parameter gradients.
    fn backward(&mut self, grad_vectors: &[f32]) -> Result<()>;

    /// The sum of squares of the accumulated parameter gradients.
    fn grad_norm_sq(&mut self) -> Result<f64>;

    /// One Adam step with learning rate `lr` on `scale` times the accumulated gradients
    /// (`scale` < 1 when clipping), then zeroes them.
    fn step(&mut self, lr: f32, scale: f32) -> Result<()>;

    /// Encodes in evaluation mode (no dropout, nothing kept for backward).
    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>>;

    /// Writes the current encoder as a model folder `dir` (atomically).
    fn save(&mut self, dir: &Path) -> Result<()>;

    /// Restores the weights the encoder was loaded with, and fresh optimiser state.
    fn reset(&mut self) -> Result<()>;
}

/// Settings of a fine-tuning run; the defaults are the GenSen successor's.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneConfig {
    pub learning_rate: f32,
    pub batch: usize,
    /// Largest global gradient norm (encoder and head together).
    pub clip: f32,
    pub epochs: usize,
    pub dropout: f32,
    /// Hidden units of the pair head.
    pub hidden: usize,
    pub pool: Pool,
    pub language: Language,
    /// Share of the training data held out for choosing the epoch.
    pub valid_fraction: f64,
    /// Probability above which a label is predicted (multi-label tasks).
    pub threshold: f32,
    /// Sentences per evaluation-mode encoder call.
    pub encode_batch: usize,
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            learning_rate: 1e-3,
            batch: 32,
            clip: 1.0,
            epochs: 10,
            dropout: 0.3,
            hidden: 512,
            pool: Pool::Mean,
            language: Language::Ar,
            valid_fraction: 0.1,
            threshold: 0.5,
            encode_batch: 128,
            seed: 90,
        }
    }
}

/// What is being fine-tuned for.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub name: String,
    pub kind: TaskKind,
    /// Classes or labels; 1 for regression.
    pub outputs: usize,
    /// The metric that chooses the epoch and is reported.
    pub metric: Metric,
}

/// One epoch's log line.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    pub task: String,
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_score: f64,
    pub seconds: f64,
}

/// A fine-tuning run's result.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneOutcome {
    /// 1-based epoch with the best validation score.
    pub best_epoch: usize,
    pub valid_score: f64,
    /// Predictions on each evaluation set, from the best epoch, in the given order.
    pub predictions: Vec<Predictions>,
    pub seconds: f64,
}

/// A task's score (the task's metric) and accuracy where classes are predicted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub value: f64,
    pub accuracy: Option<f64>,
}

/// Scores `predictions` against the targets of `gold` with `metric`.
pub fn score(metric: Metric, gold: &[Example], predictions: &Predictions) -> Result<Score> {
    match predictions {
        Predictions::Classes(pred) => {
            let gold = data::classes(gold)?;
            let accuracy = metrics::accuracy(&gold, pred)?;
            let value = match metric {
                Metric::F1 { positive } => metrics::f1_binary(&gold, pred, positive)?,
                Metric::MacroF1 => metrics::macro_f1(&gold, pred)?,
                Metric::Matthews => metrics::matthews(&gold, pred)?,
                Metric::Accuracy => accuracy,
                other => {
                    return Err(Error::Invalid(format!(
                        "{} does not score classes",
                        other.name()
                    )))
                }
            };
            Ok(Score {
                value,
                accuracy: Some(accuracy),
            })
        }
        Predictions::Scores(pred) => Ok(Score {
            value: metrics::pearson(pred, &data::scores(gold)?)?,
            accuracy: None,
        }),
        Predictions::Labels(pred) => Ok(Score {
            value: metrics::jaccard_samples(&data::label_sets(gold)?, pred)?,
            accuracy: None,
        }),
    }
}

/// The sentences to encode for `examples`: texts, or for pairs all first sentences then
/// all second sentences.
fn sentences(examples: &[Example], kind: TaskKind) -> Result<Vec<String>> {
    let mut out: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    if kind == TaskKind::Pair {
        for e in examples {
            let second = e.pair.clone().ok_or_else(|| {
                Error::Invalid(format!("example {} is not a sentence pair", e.id))
            })?;
            out.push(second);
        }
    }
    Ok(out)
}

/// Predictions of `head` on `examples` with the encoder in evaluation mode.
pub fn predict(
    encoder: &mut dyn FineTunable,
    head: &Head,
    examples: &[Example],
    kind: TaskKind,
    config: &FinetuneConfig,
) -> Result<Predictions> {
    let mut all: Option<Predictions> = None;
    for chunk in examples.chunks(config.encode_batch.max(1)) {
        let texts = sentences(chunk, kind)?;
        let vectors = encoder.encode(&texts, config.pool, config.language)?;
        let part = head.predict(&vectors, chunk.len());
        match &mut all {
            Some(all) => all.extend(part),
            None => all = Some(part),
        }
    }
    all.ok_or_else(|| Error::Invalid("nothing to predict".into()))
}

/// The data of one fine-tuning run.
#[derive(Clone, Copy, Debug)]
pub struct Splits<'a> {
    pub train: &'a [Example],
    /// Chooses the epoch; carved from the training data.
    pub valid: &'a [Example],
    /// Sets predicted with the best epoch's model (scored or submitted by the caller).
    pub eval_sets: &'a [&'a [Example]],
}

/// Fine-tunes `encoder` with a fresh head on `splits.train`, chooses the epoch on
/// `splits.valid`, and returns the best epoch's predictions on every evaluation set. When
/// `save_dir` is given, the encoder is saved there each time the validation score improves.
pub fn finetune(
    encoder: &mut dyn FineTunable,
    spec: &TaskSpec,
    splits: Splits,
    config: &FinetuneConfig,
    save_dir: Option<&Path>,
    mut log: impl FnMut(&EpochLog),
) -> Result<FinetuneOutcome> {
    let Splits {
        train,
        valid,
        eval_sets,
    } = splits;
    if train.is_empty() || valid.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: empty training or validation set",
            spec.name
        )));
    }
    let started = Instant::now();
    let mut rng = Rng::new(config.seed);
    let mut head = Head::new(
        spec.kind,
        encoder.dim(),
        spec.outputs,
        config.hidden,
        config.dropout,
        config.threshold,
        rng.next_u64(),
    )?;
    let mut best: Option<FinetuneOutcome> = None;
    let mut order: Vec<usize> = (0..train.len()).collect();

    for epoch in 1..=config.epochs {
        let epoch_started = Instant::now();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut batches) = (0.0, 0);
        for batch in order.chunks(config.batch.max(1)) {
            let examples: Vec<Example> = batch.iter().map(|&i| train[i].clone()).collect();
            let targets: Vec<Target> = examples.iter().map(|e| e.target.clone()).collect();
            let texts = sentences(&examples, spec.kind)?;

            // Forward through encoder and head, backward through both.
            let vectors =
                encoder.forward_train(&texts, config.pool, config.language, rng.next_u64())?;
            let (loss, grad_vectors) = head.forward_backward(&vectors, &targets, rng.next_u64())?;
            encoder.backward(&grad_vectors)?;

            // Clip the global gradient norm, then step both.
            let norm = (head.grad_norm_sq() + encoder.grad_norm_sq()?).sqrt();
            let scale = if norm > config.clip as f64 {
                (config.clip as f64 / norm) as f32
            } else {
                1.0
            };
            head.step(config.learning_rate, scale);
            encoder.step(config.learning_rate, scale)?;
            loss_sum += loss;
            batches += 1;
        }

        let valid_predictions = predict(encoder, &head, valid, spec.kind, config)?;
        let valid_score = score(spec.metric, valid, &valid_predictions)?.value;
        log(&EpochLog {
            task: spec.name.clone(),
            epoch,
            train_loss: loss_sum / batches as f64,
            valid_score,
            seconds: epoch_started.elapsed().as_secs_f64(),
        });
        if best.as_ref().is_none_or(|b| valid_score > b.valid_score) {
            let predictions = eval_sets
                .iter()
                .map(|set| predict(encoder, &head, set, spec.kind, config))
                .collect::<Result<Vec<_>>>()?;
            if let Some(dir) = save_dir {
                encoder.save(dir)?;
            }
            best = Some(FinetuneOutcome {
                best_epoch: epoch,
                valid_score,
                predictions,
                seconds: 0.0,
            });
        }
    }
    let mut outcome = best.ok_or_else(|| Error::Invalid("epochs must be at least 1".into()))?;
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// The folder a task's fine-tuned encoder is saved in under `root`.
pub fn task_output_dir(root: &Path, task: &str) -> PathBuf {
    root.join(task.to_ascii_lowercase())
}
