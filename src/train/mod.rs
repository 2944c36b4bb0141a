//! The multi-task trainer: samples a task per step, runs its batch forward and backward,
//! clips and applies Adam, and reports, evaluates and checkpoints on the schedule of the
//! config's `management` section (counted in examples, as GenSen).
//!
//! The trainer never prints: it hands [`Event`]s to the caller.

pub mod checkpoint;
pub mod extract;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::{Config, LrDecay, TaskType};
use crate::data::batch::{sequential, Batch, BatchIter};
use crate::data::reader::Split;
use crate::data::shard::TaskData;
use crate::engine::backend::AdamStep;
use crate::engine::rng::{mix64, Rng};
use crate::engine::{Backend, Tape};
use crate::error::{Error, Result};
use crate::model::{EncoderConfig, ModelSpec, MultiTask, SeqInput, TaskBatch, TaskKind, TaskSpec};
use crate::text::tokenizer::Tokenizer;
use checkpoint::TrainerState;

/// Options of one training run beyond the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop once the global step count reaches this (resumed runs count earlier steps).
    pub max_steps: Option<u64>,
    /// Set from outside (Ctrl-C) to save a checkpoint and stop after the current step.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// One task's figures in a report.
#[derive(Clone, Debug, Serialize)]
pub struct TaskFigure {
    pub task: String,
    pub steps: u64,
    pub loss: f64,
}

/// What the trainer tells its caller.
#[derive(Clone, Debug)]
pub enum Event {
    /// The running losses since the last report.
    Progress {
        step: u64,
        examples: u64,
        lr: f64,
        ms_per_step: f64,
        tokens_per_s: f64,
        tasks: Vec<TaskFigure>,
    },
    /// Validation figures of one task.
    Validation {
        step: u64,
        task: String,
        loss: Option<f64>,
        perplexity: Option<f64>,
        accuracy: Option<f64>,
        macro_f1: Option<f64>,
    },
    /// A checkpoint was written.
    Checkpoint {
        step: u64,
        path: PathBuf,
        best: bool,
    },
    /// Training resumed from a checkpoint.
    Resumed { step: u64, path: PathBuf },
    /// A checkpoint could not be used and was skipped.
    SkippedCheckpoint { path: PathBuf, reason: String },
}

/// The result of [`Trainer::run`].
#[derive(Clone, Debug)]
pub struct Summary {
    pub step: u64,
    pub examples: u64,
    pub interrupted: bool,
    /// Every step's loss, in order (for determinism checks and plots).
    pub losses: Vec<(u64, String, f32)>,
}

struct TaskState {
    name: String,
    kind: TaskType,
    weight: f64,
    train: BatchIter,
    val: Option<TaskData>,
    /// Running sums since the last report.
    loss_sum: f64,
    steps: u64,
}

/// Trains a [`MultiTask`] model from a [`Config`].
pub struct Trainer<B: Backend> {
    config: Config,
    model: MultiTask<B>,
    tape: Tape<B>,
    tasks: Vec<TaskState>,
    tokenizer: Vec<u8>,
    info: checkpoint::ModelInfo,
    norm_sq: B::Buf,
    state: TrainerState,
    checkpoint_root: PathBuf,
}

/// The model spec a config describes, given the vocabulary size.
pub fn model_spec(config: &Config, vocab: usize) -> Result<ModelSpec> {
    let m = &config.model;
    let dirs = if m.bidirectional { 2 } else { 1 };
    let bad = |msg: String| Error::Config {
        path: config.path.clone(),
        msg,
    };
    if !m.dim_src.is_multiple_of(dirs) {
        return Err(bad(format!(
            "model.dim_src {} must split evenly over {dirs} directions",
            m.dim_src
        )));
    }
    let has_decoder = config.tasks.iter().any(|t| t.tasktype == TaskType::Seq2seq);
    if has_decoder && m.dim_trg != m.dim_src {
        return Err(bad(format!(
            "model.dim_trg {} must equal model.dim_src {}: the sentence vector is the decoders' initial state",
            m.dim_trg, m.dim_src
        )));
    }
    let tasks = config
        .tasks
        .iter()
        .map(|t| {
            let classes = t.num_of_classes.unwrap_or(t.labels.len());
            TaskSpec {
                name: t.taskname.clone(),
                kind: match t.tasktype {
                    TaskType::Seq2seq => TaskKind::Seq2seq { vocab },
                    TaskType::Classification => TaskKind::Classification { classes },
                    TaskType::PairClassification => TaskKind::PairClassification { classes },
                },
            }
        })
        .collect();
    Ok(ModelSpec {
        encoder: EncoderConfig {
            vocab,
            dim_word: m.dim_word_src,
            hidden: m.dim_src / dirs,
            layers: m.n_layers_src,
            bidirectional: m.bidirectional,
            pad_id: crate::text::PAD,
        },
        dim_word_trg: m.dim_word_trg,
        dropout: m.dropout,
        pool: m.pooling_strategy,
        tasks,
    })
}

/// The encoder's language: the tasks' common source language, or `bi`.
fn training_language(config: &Config) -> String {
    let mut langs: Vec<String> = config
        .tasks
        .iter()
        .map(|t| t.language.to_string())
        .collect();
    langs.sort();
    langs.dedup();
    if langs.len() == 1 {
        langs.remove(0)
    } else {
        "bi".into()
    }
}

/// A view of a data batch in the model's terms.
fn task_batch(batch: &Batch, kind: TaskType) -> Result<TaskBatch<'_>> {
    fn side(s: &crate::data::batch::Side) -> SeqInput<'_> {
        SeqInput {
            ids: &s.ids,
            lens: &s.lens,
            seq_len: s.max_len,
            batch: s.batch,
        }
    }
    let missing = |what: &str| Error::Invalid(format!("batch has no {what}"));
    Ok(match kind {
        TaskType::Seq2seq => TaskBatch::Seq2seq {
            src: side(&batch.src),
            trg_in: side(batch.trg_in.as_ref().ok_or_else(|| missing("target"))?),
            trg_out: &batch.trg_out.as_ref().ok_or_else(|| missing("target"))?.ids,
        },
        TaskType::Classification => TaskBatch::Classification {
            src: side(&batch.src),
            labels: batch.labels.as_deref().ok_or_else(|| missing("labels"))?,
        },
        TaskType::PairClassification => TaskBatch::Pair {
            first: side(&batch.src),
            second: side(
                batch
                    .src2
                    .as_ref()
                    .ok_or_else(|| missing("second sentence"))?,
            ),
            labels: batch.labels.as_deref().ok_or_else(|| missing("labels"))?,
        },
    })
}

impl<B: Backend> Trainer<B> {
    /// Opens the tokenized data and the tokenizer of `config` and initialises the model.
    pub fn new(backend: B, config: Config) -> Result<Self> {
        let tok_path = config.tokenizer_path();
        let tokenizer = Tokenizer::load(&tok_path)?;
        let spec = model_spec(&config, tokenizer.vocab_size())?;
        let seed = config.training.seed;
        let info = checkpoint::ModelInfo {
            spec: spec.clone(),
            language: training_language(&config),
            max_length: config.model.max_src_length,
            normalize: config.normalize_options(),
        };
        let model = MultiTask::new(backend.clone(), spec, seed)?;
        let mut tasks = Vec::new();
        for (i, t) in config.tasks.iter().enumerate() {
            let dir = config.shard_dir(t);
            let train = TaskData::open_split(&dir, Split::Train).map_err(|e| {
                Error::Invalid(format!(
                    "{e} (run `gensen tokenize` for task '{}' first)",
                    t.taskname
                ))
            })?;
            if train.is_empty() {
                return Err(Error::Invalid(format!(
                    "task '{}' has no training examples",
                    t.taskname
                )));
            }
            let val = if t.val_src.is_some() {
                Some(TaskData::open_split(&dir, Split::Val)?)
            } else {
                None
            };
            tasks.push(TaskState {
                name: t.taskname.clone(),
                kind: t.tasktype,
                weight: t.weight,
                train: BatchIter::new(
                    train,
                    config.training.batch_size,
                    mix64(seed ^ (i as u64 + 1)),
                ),
                val,
                loss_sum: 0.0,
                steps: 0,
            });
        }
        let mut trainer = Trainer {
            info,
            checkpoint_root: config.model.model_dir.join("checkpoints"),
            tape: Tape::new(backend.clone()),
            norm_sq: backend.zeros(1)?,
            state: TrainerState {
                step: 0,
                examples: 0,
                rng: Rng::new(seed),
                batches: Vec::new(),
                best: None,
            },
            tokenizer: tokenizer.model_bytes().to_vec(),
            config,
            model,
            tasks,
        };
        trainer.model.params.enable_training()?;
        trainer.state.batches = trainer.tasks.iter().map(|t| t.train.state()).collect();
        Ok(trainer)
    }

    /// The model being trained.
    pub fn model(&self) -> &MultiTask<B> {
        &self.model
    }

    /// Steps completed.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// The folder checkpoints go to.
    pub fn checkpoint_root(&self) -> &Path {
        &self.checkpoint_root
    }

    /// Restores the newest valid checkpoint, reporting unusable newer ones; returns the
    /// step resumed from, or `None` when there is no checkpoint.
    pub fn resume(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<Option<u64>> {
        let all = checkpoint::list(&self.checkpoint_root)?;
        for (_, dir) in all.iter().rev() {
            match self.restore(dir) {
                Ok(()) => {
                    on_event(Event::Resumed {
                        step: self.state.step,
                        path: dir.clone(),
                    });
                    return Ok(Some(self.state.step));
                }
                Err(e) => on_event(Event::SkippedCheckpoint {
                    path: dir.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(None)
    }

    fn restore(&mut self, dir: &Path) -> Result<()> {
        let ckpt = checkpoint::load(dir, true)?;
        if ckpt.meta.spec != self.model.spec {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                msg: "its model differs from the config's (dimensions, tasks or vocabulary)".into(),
            });
        }
        let params = &mut self.model.params;
        for (name, (shape, data)) in &ckpt.weights {
            params.load(name, shape, data)?;
        }
        let moments = ckpt.moments.as_ref().expect("requested");
        let names: Vec<String> = params.iter().map(|(_, p)| p.name.clone()).collect();
        for p in names {
            if let (Some((_, m)), Some((_, v))) = (
                moments.get(&format!("{p}.exp_avg")),
                moments.get(&format!("{p}.exp_avg_sq")),
            ) {
                params.load_moments(&p, m, v)?;
            }
        }
        params.set_adam_steps(&ckpt.meta.adam_steps);
        if ckpt.meta.state.batches.len() != self.tasks.len() {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                msg: "its task count differs from the config's".into(),
            });
        }
        for (task, s) in self.tasks.iter_mut().zip(&ckpt.meta.state.batches) {
            task.train.restore(s)?;
        }
        self.state = ckpt.meta.state;
        Ok(())
    }

    /// The learning rate at `step` (1-based).
    pub fn learning_rate(&self, step: u64) -> f64 {
        let t = &self.config.training;
        let warm = t.warmup_steps;
        if warm > 0 && step <= warm {
            return t.lrate * step as f64 / warm as f64;
        }
        match t.lr_decay {
            LrDecay::None => t.lrate,
            LrDecay::Linear => match t.max_steps {
                Some(max) if max > warm => {
                    t.lrate * (1.0 - (step - warm) as f64 / (max - warm) as f64).max(0.0)
                }
                _ => t.lrate,
            },
            LrDecay::InverseSqrt => t.lrate * (warm.max(1) as f64 / step as f64).sqrt(),
        }
    }

    /// Picks the task of step `step` (1-based) with the trainer's generator.
    fn sample_task(&mut self, step: u64) -> usize {
        let every = self.config.training.classification_every.filter(|&n| n > 0);
        let is_cls = |t: &TaskState| t.kind != TaskType::Seq2seq;
        let pool: Vec<usize> = match every {
            Some(n) if self.tasks.iter().any(is_cls) && self.tasks.iter().any(|t| !is_cls(t)) => {
                let want_cls = step.is_multiple_of(n);
                (0..self.tasks.len())
                    .filter(|&i| is_cls(&self.tasks[i]) == want_cls)
                    .collect()
            }
            _ => (0..self.tasks.len()).collect(),
        };
        let total: f64 = pool.iter().map(|&i| self.tasks[i].weight).sum();
        let mut x = self.state.rng.next_f64() * total;
        for &i in &pool {
            x -= self.tasks[i].weight;
            if x < 0.0 {
                return i;
            }
        }
        *pool.last().expect("at least one task")
    }

    /// Trains until `max_steps` (from the options or the config) or an interrupt.
    pub fn run(
        &mut self,
        options: &RunOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Summary> {
        let max_steps = options.max_steps.or(self.config.training.max_steps);
        let mgmt = self.config.management.clone();
        let mut losses = Vec::new();
        let mut since_report = (Instant::now(), 0u64, 0usize); // (start, steps, tokens)
        let mut interrupted = false;

        while max_steps.is_none_or(|m| self.state.step < m) {
            if options
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::SeqCst))
            {
                interrupted = true;
                break;
            }
            let step = self.state.step + 1;
            let task = self.sample_task(step);
            let batch = self.tasks[task].train.next_batch();
            let kind = self.tasks[task].kind;
            let lr = self.learning_rate(step);

            self.tape.reset();
            self.model.params.zero_grads()?;
            let view = task_batch(&batch, kind)?;
            let loss = self.model.loss(
                &mut self.tape,
                task,
                view,
                mix64(self.config.training.seed ^ mix64(step)),
            )?;
            self.tape.backward(&mut self.model.params)?;
            self.model.params.grad_sq_norm(&mut self.norm_sq)?;
            let hp = AdamStep {
                lr: lr as f32,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                step,
                max_norm: self.config.training.clip_c as f32,
            };
            self.model.params.adam_step(&hp, &self.norm_sq)?;
            // Reading the loss waits for the device; on the CPU it is free.
            let (value, _) = self.tape.loss_value(loss)?;
            if !value.is_finite() {
                return Err(Error::Invalid(format!(
                    "loss of task '{}' became {value} at step {step}; lower training.lrate",
                    self.tasks[task].name
                )));
            }
            losses.push((step, self.tasks[task].name.clone(), value));

            let before = self.state.examples;
            self.state.step = step;
            self.state.examples += batch.len() as u64;
            let t = &mut self.tasks[task];
            t.loss_sum += value as f64;
            t.steps += 1;
            since_report.1 += 1;
            since_report.2 += view.tokens();
            self.state.batches[task] = t.train.state();

            let after = self.state.examples;
            let crossed = |freq: u64| freq > 0 && before / freq != after / freq;
            if crossed(mgmt.monitor_loss) {
                self.report(lr, &mut since_report, on_event);
            }
            if crossed(mgmt.eval_freq) {
                let score = self.validate(on_event)?;
                if let Some(score) = score {
                    if self.state.best.is_none_or(|(b, _)| score < b) {
                        self.state.best = Some((score, step));
                        let path = self.save_best()?;
                        on_event(Event::Checkpoint {
                            step,
                            path,
                            best: true,
                        });
                    }
                }
            }
            if crossed(mgmt.checkpoint_freq) {
                let path = self.save()?;
                on_event(Event::Checkpoint {
                    step,
                    path,
                    best: false,
                });
            }
        }
        if since_report.1 > 0 {
            self.report(
                self.learning_rate(self.state.step.max(1)),
                &mut since_report,
                on_event,
            );
        }
        if self.state.step > 0 && !self.checkpoint_exists(self.state.step) {
            let path = self.save()?;
            on_event(Event::Checkpoint {
                step: self.state.step,
                path,
                best: false,
            });
        }
        Ok(Summary {
            step: self.state.step,
            examples: self.state.examples,
            interrupted,
            losses,
        })
    }

    fn checkpoint_exists(&self, step: u64) -> bool {
        self.checkpoint_root
            .join(checkpoint::step_dir_name(step))
            .exists()
    }

    fn report(
        &mut self,
        lr: f64,
        since: &mut (Instant, u64, usize),
        on_event: &mut dyn FnMut(Event),
    ) {
        let secs = since.0.elapsed().as_secs_f64();
        let tasks = self
            .tasks
            .iter_mut()
            .filter(|t| t.steps > 0)
            .map(|t| {
                let fig = TaskFigure {
                    task: t.name.clone(),
                    steps: t.steps,
                    loss: t.loss_sum / t.steps as f64,
                };
                t.loss_sum = 0.0;
                t.steps = 0;
                fig
            })
            .collect();
        on_event(Event::Progress {
            step: self.state.step,
            examples: self.state.examples,
            lr,
            ms_per_step: secs * 1e3 / since.1.max(1) as f64,
            tokens_per_s: since.2 as f64 / secs.max(1e-9),
            tasks,
        });
        *since = (Instant::now(), 0, 0);
    }

    /// Evaluates every task with validation data; returns the combined score (mean of
    /// seq2seq losses and classification error rates; lower is better).
    pub fn validate(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<Option<f64>> {
        let mut scores = Vec::new();
        let recording = self.tape.recording();
        self.tape.set_recording(false);
        let batch_size = self.config.training.batch_size;
        for i in 0..self.tasks.len() {
            let Some(val) = self.tasks[i].val.as_ref() else {
                continue;
            };
            let kind = self.tasks[i].kind;
            let mut loss_sum = 0.0;
            let mut tokens = 0usize;
            let mut gold = Vec::new();
            let mut pred = Vec::new();
            for batch in sequential(val, batch_size) {
                let view = task_batch(&batch, kind)?;
                self.tape.reset();
                if kind == TaskType::Seq2seq {
                    let loss = self.model.loss(&mut self.tape, i, view, 0)?;
                    let (mean, _) = self.tape.loss_value(loss)?;
                    loss_sum += mean as f64 * loss.count as f64;
                    tokens += loss.count;
                } else {
                    pred.extend(self.model.predict(&mut self.tape, i, view)?);
                    gold.extend_from_slice(batch.labels.as_deref().unwrap_or_default());
                }
            }
            let step = self.state.step;
            let task = self.tasks[i].name.clone();
            if kind == TaskType::Seq2seq && tokens > 0 {
                let loss = loss_sum / tokens as f64;
                scores.push(loss);
                on_event(Event::Validation {
                    step,
                    task,
                    loss: Some(loss),
                    perplexity: Some(loss.exp()),
                    accuracy: None,
                    macro_f1: None,
                });
            } else if !gold.is_empty() {
                let gold: Vec<usize> = gold.iter().map(|&g| g as usize).collect();
                let pred: Vec<usize> = pred.iter().map(|&p| p as usize).collect();
                let acc = crate::eval::metrics::accuracy(&gold, &pred)?;
                let f1 = crate::eval::metrics::macro_f1(&gold, &pred)?;
                scores.push(1.0 - acc);
                on_event(Event::Validation {
                    step,
                    task,
                    loss: None,
                    perplexity: None,
                    accuracy: Some(acc),
                    macro_f1: Some(f1),
                });
            }
        }
        self.tape.set_recording(recording);
        Ok((!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64))
    }

    /// Writes a checkpoint of the current step and prunes old ones.
    pub fn save(&self) -> Result<PathBuf> {
        let path = checkpoint::save(
            &self.checkpoint_root,
            &self.model.params,
            &self.info,
            &self.state,
            &self.tokenizer,
        )?;
        checkpoint::prune(
            &self.checkpoint_root,
            self.config.training.keep_checkpoints,
            Some(&path),
        )?;
        Ok(path)
    }

    fn save_best(&self) -> Result<PathBuf> {
        let root = self.config.model.model_dir.join("best");
        let path = checkpoint::save(
            &root,
            &self.model.params,
            &self.info,
            &self.state,
            &self.tokenizer,
        )?;
        checkpoint::prune(&root, 1, Some(&path))?;
        Ok(path)
    }
}

/// Appends events as JSON lines to `<model_dir>/metrics.jsonl`.
pub struct MetricsLog {
    file: std::fs::File,
    path: PathBuf,
}

impl MetricsLog {
    /// Opens (appending) the metrics log of a model folder.
    pub fn open(model_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(model_dir).map_err(|e| Error::io(model_dir, e))?;
        let path = model_dir.join("metrics.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(MetricsLog { file, path })
    }

    /// Writes the JSON lines of `event` (one per task for progress reports).
    pub fn record(&mut self, event: &Event) -> Result<()> {
        use std::io::Write;
        let lines: Vec<serde_json::Value> = match event {
            Event::Progress {
                step,
                examples,
                lr,
                ms_per_step,
                tokens_per_s,
                tasks,
            } => tasks
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "step": step, "examples": examples, "task": t.task, "loss": t.loss,
                        "steps": t.steps, "lr": lr, "ms_per_step": ms_per_step,
                        "tokens_per_s": tokens_per_s, "split": "train",
                    })
                })
                .collect(),
            Event::Validation {
                step,
                task,
                loss,
                perplexity,
                accuracy,
                macro_f1,
            } => vec![serde_json::json!({
                "step": step, "task": task, "loss": loss, "perplexity": perplexity,
                "accuracy": accuracy, "macro_f1": macro_f1, "split": "val",
            })],
            Event::Checkpoint { step, path, best } => vec![serde_json::json!({
                "step": step, "checkpoint": path, "best": best,
            })],
            Event::Resumed { step, path } => vec![serde_json::json!({
                "step": step, "resumed_from": path,
            })],
            Event::SkippedCheckpoint { path, reason } => vec![serde_json::json!({
                "skipped_checkpoint": path, "reason": reason,
            })],
        };
        for line in lines {
            writeln!(self.file, "{line}").map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}
