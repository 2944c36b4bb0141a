//! The ALUE benchmark by fine-tuning: for each task, the encoder starts again from its
//! pretrained weights, a head of the task's kind is trained on the training file minus a
//! held-out validation share (which chooses the epoch), and the best epoch's predictions
//! are scored on the task's public test or dev file. MQ2Q distributes no labelled
//! evaluation file, so a further share of its training file is held out and scored. DIAG
//! is scored with the model fine-tuned on XNLI (one run serves both when both are asked).

use std::path::{Path, PathBuf};

use super::alue_data::{self, AlueData, AlueTask};
use super::data::{hold_out, sentences_of, Example};
use super::finetune::{self, EpochLog, FineTunable, FinetuneConfig, Splits, TaskSpec};
use super::heads::Predictions;
use super::predict;
use super::report::{alue_averages, Report, TaskResult};
use crate::engine::rng::Rng;
use crate::error::Result;

/// How to run ALUE.
#[derive(Clone, Debug, PartialEq)]
pub struct AlueOptions {
    pub tasks: Vec<AlueTask>,
    pub finetune: FinetuneConfig,
    /// Where each task's fine-tuned encoder is saved (one folder per task).
    pub finetuning_output: Option<PathBuf>,
    /// Where leaderboard prediction files are written.
    pub predict_dir: Option<PathBuf>,
}

/// Share of MQ2Q's training file held out for scoring.
pub const MQ2Q_TEST_FRACTION: f64 = 0.1;

/// Progress a run reports.
pub enum Progress<'a> {
    Epoch(&'a EpochLog),
    Task(&'a TaskResult),
    Predictions(&'a Path),
}

/// A task's data with its training file split: (train, valid, labelled eval set).
fn split(
    data: AlueData,
    config: &FinetuneConfig,
    stream: u64,
) -> Result<(Vec<Example>, Vec<Example>, Vec<Example>)> {
    let mut rng = Rng::new(config.seed).fork(stream);
    let (rest, eval) = match data.eval {
        Some(eval) => (data.train, eval),
        None => hold_out(data.train, MQ2Q_TEST_FRACTION, &mut rng)?,
    };
    let (train, valid) = hold_out(rest, config.valid_fraction, &mut rng)?;
    Ok((train, valid, eval))
}

/// Every sentence of `tasks`, leaderboard inputs included (for vocabulary expansion).
pub fn task_sentences(root: &Path, tasks: &[AlueTask]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for &task in tasks {
        let data = alue_data::load(root, task)?;
        for set in [
            Some(&data.train),
            data.eval.as_ref(),
            data.leaderboard.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            out.extend(sentences_of(set).map(str::to_string));
        }
    }
    Ok(out)
}

/// Runs the tasks of `options` and reports ALUE's metrics and averages.
pub fn run(
    encoder: &mut dyn FineTunable,
    root: &Path,
    options: &AlueOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Report> {
    let mut rows = Vec::new();
    let wants = |t: AlueTask| options.tasks.contains(&t);
    for &requested in &options.tasks {
        // DIAG is scored with the XNLI model: one XNLI run serves both, and DIAG alone
        // still fine-tunes on XNLI (without reporting XNLI).
        let (task, report_task) = match requested {
            AlueTask::Diag if wants(AlueTask::Xnli) => continue,
            AlueTask::Diag => (AlueTask::Xnli, false),
            other => (other, true),
        };
        let data = alue_data::load(root, task)?;
        let diagnostic = if task == AlueTask::Xnli && wants(AlueTask::Diag) {
            Some(alue_data::load(root, AlueTask::Diag)?)
        } else {
            None
        };
        let leaderboard = data.leaderboard.clone();
        let (train, valid, eval) = split(data, &options.finetune, task as u64)?;

        // Evaluation sets (task, examples, scored or submitted): the task's scored set,
        // its leaderboard input, then DIAG's labelled set and leaderboard input.
        let mut sets: Vec<(AlueTask, &[Example], bool)> = Vec::new();
        if report_task {
            sets.push((task, &eval, true));
        }
        if let (Some(_), Some(board)) = (&options.predict_dir, leaderboard.as_deref()) {
            sets.push((task, board, false));
        }
        if let Some(diag) = &diagnostic {
            if let Some(labelled) = diag.eval.as_deref() {
                sets.push((AlueTask::Diag, labelled, true));
            }
            if let (Some(_), Some(board)) = (&options.predict_dir, diag.leaderboard.as_deref()) {
                sets.push((AlueTask::Diag, board, false));
            }
        }

        encoder.reset()?;
        let spec = TaskSpec {
            name: requested.name().to_string(),
            kind: task.kind(),
            outputs: task.labels().len().max(1),
            metric: task.metric(),
        };
        let eval_sets: Vec<&[Example]> = sets.iter().map(|s| s.1).collect();
        let save_dir = options
            .finetuning_output
            .as_ref()
            .map(|root| finetune::task_output_dir(root, task.name()));
        let outcome = finetune::finetune(
            encoder,
            &spec,
            Splits {
                train: &train,
                valid: &valid,
                eval_sets: &eval_sets,
            },
            &options.finetune,
            save_dir.as_deref(),
            |log| progress(Progress::Epoch(log)),
        )?;

        for ((set_task, examples, scored), predictions) in sets.iter().zip(&outcome.predictions) {
            if *scored {
                let row = result_row(*set_task, examples, predictions, &outcome)?;
                progress(Progress::Task(&row));
                rows.push(row);
            } else if let Some(dir) = &options.predict_dir {
                let path = predict::write(dir, *set_task, examples, predictions)?;
                progress(Progress::Predictions(&path));
            }
        }
    }
    let averages = alue_averages(&rows);
    Ok(Report {
        suite: "alue".to_string(),
        rows,
        averages,
    })
}

/// The report row of one scored set.
fn result_row(
    task: AlueTask,
    examples: &[Example],
    predictions: &Predictions,
    outcome: &finetune::FinetuneOutcome,
) -> Result<TaskResult> {
    let score = finetune::score(task.metric(), examples, predictions)?;
    Ok(TaskResult {
        task: task.name().to_string(),
        metric: task.metric().name().to_string(),
        value: 100.0 * score.value,
        accuracy: score.accuracy.map(|a| 100.0 * a),
        best_epoch: Some(outcome.best_epoch),
        seconds: outcome.seconds,
        details: vec![("valid score".into(), 100.0 * outcome.valid_score)],
    })
}
