//! The bilingual benchmark: STS with the pretrained encoder as it is (cosine similarity,
//! Pearson and Spearman, no training), then NLI fine-tuned like XNLI. Sentences are
//! normalized per sentence (`language = bi`). NLI's epoch is chosen on `nli.dev.tsv` when
//! it exists, else on a share held out from the training file; the test file only scores.

use std::path::Path;

use super::alue_data::{Metric, TaskKind, NLI_LABELS};
use super::bilingual_data;
use super::data::{hold_out, sentences_of};
use super::finetune::{self, EpochLog, FineTunable, FinetuneConfig, Splits, TaskSpec};
use super::report::{Report, TaskResult};
use super::sts;
use super::{Language, Pool, SentenceEncoder};
use crate::engine::rng::Rng;
use crate::error::Result;

/// A fine-tunable encoder used frozen, through [`SentenceEncoder`].
struct Frozen<'a>(&'a mut dyn FineTunable);

impl SentenceEncoder for Frozen<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        self.0.encode(sentences, pool, language)
    }
}

/// Which parts of the benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BilingualTasks {
    pub sts: bool,
    pub nli: bool,
}

/// Every sentence of the selected parts (for vocabulary expansion).
pub fn task_sentences(root: &Path, tasks: BilingualTasks) -> Result<Vec<String>> {
    let mut sets = Vec::new();
    if tasks.sts {
        sets.push(bilingual_data::load_sts(root)?);
    }
    if tasks.nli {
        let nli = bilingual_data::load_nli(root)?;
        sets.extend([nli.train, nli.test]);
        sets.extend(nli.dev);
    }
    Ok(sets
        .iter()
        .flat_map(|set| sentences_of(set).map(str::to_string))
        .collect())
}

/// Runs bilingual STS and NLI from `root` (or `root/bilingual`).
pub fn run(
    encoder: &mut dyn FineTunable,
    root: &Path,
    tasks: BilingualTasks,
    config: &FinetuneConfig,
    save_dir: Option<&Path>,
    mut log: impl FnMut(&EpochLog),
) -> Result<Report> {
    let config = FinetuneConfig {
        language: Language::Bi,
        ..config.clone()
    };
    let mut rows = Vec::new();

    if tasks.sts {
        let started = std::time::Instant::now();
        let pairs = bilingual_data::load_sts(root)?;
        encoder.reset()?;
        let result =
            sts::cosine_correlations(&mut Frozen(encoder), &pairs, config.pool, Language::Bi)?;
        rows.push(TaskResult {
            task: "STS-bi".to_string(),
            metric: "Pearson".to_string(),
            value: 100.0 * result.pearson,
            accuracy: None,
            best_epoch: None,
            seconds: started.elapsed().as_secs_f64(),
            details: vec![("Spearman".into(), 100.0 * result.spearman)],
        });
    }

    if tasks.nli {
        let data = bilingual_data::load_nli(root)?;
        let (train, valid) = match data.dev {
            Some(dev) => (data.train, dev),
            None => hold_out(
                data.train,
                config.valid_fraction,
                &mut Rng::new(config.seed),
            )?,
        };
        let spec = TaskSpec {
            name: "NLI-bi".to_string(),
            kind: TaskKind::Pair,
            outputs: NLI_LABELS.len(),
            metric: Metric::Accuracy,
        };
        encoder.reset()?;
        let sets = [data.test.as_slice()];
        let outcome = finetune::finetune(
            encoder,
            &spec,
            Splits {
                train: &train,
                valid: &valid,
                eval_sets: &sets,
            },
            &config,
            save_dir,
            &mut log,
        )?;
        let score = finetune::score(spec.metric, &data.test, &outcome.predictions[0])?;
        rows.push(TaskResult {
            task: spec.name,
            metric: "accuracy".to_string(),
            value: 100.0 * score.value,
            accuracy: score.accuracy.map(|a| 100.0 * a),
            best_epoch: Some(outcome.best_epoch),
            seconds: outcome.seconds,
            details: vec![("valid accuracy".into(), 100.0 * outcome.valid_score)],
        });
    }
    Ok(Report {
        suite: "bilingual".to_string(),
        rows,
        averages: Vec::new(),
    })
}
