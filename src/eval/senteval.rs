//! SentEval's transfer tasks on a frozen encoder: sentence vectors are computed once and a
//! logistic-regression probe is trained on them (pairs as [|u - v|; u * v]); STS12-16 use
//! the cosine of the two vectors with no training.

use std::path::Path;
use std::time::Instant;

use super::classifier::{self, pair_features, Features, ProbeConfig};
use super::data::{classes, scores, sentences_of, Example};
use super::report::{Report, TaskResult};
use super::senteval_data::{self, SentevalData, SentevalTask};
use super::sts::{self, encode_pairs};
use super::{encode_all, metrics, Language, Pool, SentenceEncoder};
use crate::error::Result;

/// How to run SentEval.
#[derive(Clone, Debug, PartialEq)]
pub struct SentevalOptions {
    pub tasks: Vec<SentevalTask>,
    /// One pooling for every task instead of GenSen's per-task choice.
    pub pool: Option<Pool>,
    pub probe: ProbeConfig,
    pub language: Language,
}

impl Default for SentevalOptions {
    fn default() -> Self {
        SentevalOptions {
            tasks: SentevalTask::ALL.to_vec(),
            pool: None,
            probe: ProbeConfig::default(),
            language: Language::En,
        }
    }
}

/// GenSen's pooling per task: max over time for the sentiment and subjectivity corpora,
/// the final states otherwise.
pub fn default_pool(task: SentevalTask) -> Pool {
    match task {
        SentevalTask::Mr | SentevalTask::Cr | SentevalTask::Subj | SentevalTask::Mpqa => Pool::Max,
        _ => Pool::Last,
    }
}

/// Whether the task's examples are sentence pairs.
fn is_pair_task(task: SentevalTask) -> bool {
    matches!(
        task,
        SentevalTask::Mrpc | SentevalTask::SickE | SentevalTask::SickR | SentevalTask::StsB
    )
}

/// The features of `examples`: sentence vectors, or pair features for pair tasks.
fn features(
    encoder: &mut dyn SentenceEncoder,
    examples: &[Example],
    pair: bool,
    pool: Pool,
    language: Language,
) -> Result<Features> {
    if pair {
        let (u, v) = encode_pairs(encoder, examples, pool, language)?;
        pair_features(&u, &v)
    } else {
        let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
        encode_all(encoder, &texts, pool, language)
    }
}

/// The number of classes of a classification task.
fn class_count(task: SentevalTask) -> usize {
    match task {
        SentevalTask::Sst5 => 5,
        SentevalTask::Trec => 6,
        SentevalTask::SickE => 3,
        _ => 2,
    }
}

/// Runs one task and reports its score.
pub fn run_task(
    encoder: &mut dyn SentenceEncoder,
    root: &Path,
    task: SentevalTask,
    options: &SentevalOptions,
) -> Result<TaskResult> {
    let started = Instant::now();
    let data = senteval_data::load(root, task)?;
    let pool = options.pool.unwrap_or_else(|| default_pool(task));
    let (pair, language, probe) = (is_pair_task(task), options.language, &options.probe);
    let n_classes = class_count(task);
    let mut featurize = |examples: &[Example]| features(encoder, examples, pair, pool, language);
    let percent = |v: f64| 100.0 * v;
    let mut result = TaskResult {
        task: task.name().to_string(),
        metric: "accuracy".to_string(),
        value: 0.0,
        accuracy: None,
        best_epoch: None,
        seconds: 0.0,
        details: Vec::new(),
    };

    match data {
        SentevalData::Corpus(all) => {
            let x = featurize(&all)?;
            let outcome = classifier::nested_kfold_protocol(&x, &classes(&all)?, n_classes, probe)?;
            result.value = percent(outcome.test_accuracy);
            result.accuracy = Some(result.value);
            result.best_epoch = Some(outcome.best_epoch);
            result
                .details
                .push(("valid accuracy".into(), percent(outcome.valid_accuracy)));
        }
        SentevalData::TrainTest { train, test } => {
            let (train_x, test_x) = (featurize(&train)?, featurize(&test)?);
            let (train_y, test_y) = (classes(&train)?, classes(&test)?);
            let outcome = classifier::kfold_protocol(
                (&train_x, &train_y),
                (&test_x, &test_y),
                n_classes,
                probe,
            )?;
            result.accuracy = Some(percent(outcome.test_accuracy));
            result.value = percent(outcome.test_accuracy);
            if task == SentevalTask::Mrpc {
                result.metric = "F1".to_string();
                result.value = percent(metrics::f1_binary(&test_y, &outcome.test_predictions, 1)?);
            }
            result.best_epoch = Some(outcome.best_epoch);
            result
                .details
                .push(("valid accuracy".into(), percent(outcome.valid_accuracy)));
        }
        SentevalData::Splits { train, dev, test } => {
            let (train_x, dev_x, test_x) =
                (featurize(&train)?, featurize(&dev)?, featurize(&test)?);
            if matches!(task, SentevalTask::SickR | SentevalTask::StsB) {
                let range = if task == SentevalTask::SickR {
                    (1.0, 5.0)
                } else {
                    (0.0, 5.0)
                };
                let gold = scores(&test)?;
                let outcome = classifier::relatedness_protocol(
                    (&train_x, &scores(&train)?),
                    (&dev_x, &scores(&dev)?),
                    &test_x,
                    range,
                    probe,
                )?;
                result.metric = "Pearson".to_string();
                result.value = percent(metrics::pearson(&outcome.test_predictions, &gold)?);
                result.best_epoch = Some(outcome.best_epoch);
                result.details = vec![
                    (
                        "Spearman".into(),
                        percent(metrics::spearman(&outcome.test_predictions, &gold)?),
                    ),
                    (
                        "mse".into(),
                        metrics::mse(&gold, &outcome.test_predictions)?,
                    ),
                    ("valid Pearson".into(), percent(outcome.valid_pearson)),
                ];
            } else {
                let outcome = classifier::split_protocol(
                    (&train_x, &classes(&train)?),
                    (&dev_x, &classes(&dev)?),
                    (&test_x, &classes(&test)?),
                    n_classes,
                    probe,
                )?;
                result.value = percent(outcome.test_accuracy);
                result.accuracy = Some(result.value);
                result.best_epoch = Some(outcome.best_epoch);
                result
                    .details
                    .push(("valid accuracy".into(), percent(outcome.valid_accuracy)));
            }
        }
        SentevalData::Similarity(sets) => {
            let mut correlations = Vec::new();
            for (_, examples) in &sets {
                correlations.push(sts::cosine_correlations(encoder, examples, pool, language)?);
            }
            let (pearson, spearman, weighted_pearson, weighted_spearman) =
                sts::averages(&correlations);
            result.metric = "Pearson".to_string();
            result.value = percent(pearson);
            result.details = vec![
                ("Spearman".into(), percent(spearman)),
                ("weighted Pearson".into(), percent(weighted_pearson)),
                ("weighted Spearman".into(), percent(weighted_spearman)),
            ];
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

/// Every sentence of `tasks` (for vocabulary expansion before encoding).
pub fn task_sentences(root: &Path, tasks: &[SentevalTask]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for &task in tasks {
        let sets: Vec<Vec<Example>> = match senteval_data::load(root, task)? {
            SentevalData::Corpus(all) => vec![all],
            SentevalData::TrainTest { train, test } => vec![train, test],
            SentevalData::Splits { train, dev, test } => vec![train, dev, test],
            SentevalData::Similarity(sets) => sets.into_iter().map(|(_, s)| s).collect(),
        };
        for set in &sets {
            out.extend(sentences_of(set).map(str::to_string));
        }
    }
    Ok(out)
}

/// Runs every task of `options`, calling `done` after each (for progress display).
pub fn run(
    encoder: &mut dyn SentenceEncoder,
    root: &Path,
    options: &SentevalOptions,
    mut done: impl FnMut(&TaskResult),
) -> Result<Report> {
    let mut rows = Vec::new();
    for &task in &options.tasks {
        let result = run_task(encoder, root, task, options)?;
        done(&result);
        rows.push(result);
    }
    Ok(Report {
        suite: "senteval".to_string(),
        rows,
        averages: Vec::new(),
    })
}
