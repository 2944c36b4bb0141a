//! `gensen eval senteval|alue|bilingual`: parses and validates the arguments, loads the
//! encoder, runs the suite, prints the report table and writes the report file.

use std::path::{Path, PathBuf};

use anyhow::Context;

use gensen::eval::alue::{self, AlueOptions, Progress};
use gensen::eval::alue_data::AlueTask;
use gensen::eval::baseline::{HashedWords, TrainableHashedWords};
use gensen::eval::bilingual::{self, BilingualTasks};
use gensen::eval::classifier::ProbeConfig;
use gensen::eval::finetune::{EpochLog, FineTunable, FinetuneConfig};
use gensen::eval::report::{Report, TaskResult};
use gensen::eval::senteval::{self, SentevalOptions};
use gensen::eval::senteval_data::SentevalTask;
use gensen::eval::{Concatenated, Language, Pool, SentenceEncoder};
use gensen::Error;

/// Evaluation suites.
#[derive(clap::Subcommand)]
pub enum Command {
    /// SentEval transfer tasks on frozen sentence vectors (logistic-regression probes,
    /// cosine STS).
    Senteval(SentevalArgs),
    /// The ALUE benchmark: fine-tunes the encoder per task and reports ALUE's metrics.
    Alue(AlueArgs),
    /// Bilingual STS (cosine, no training) and bilingual NLI (fine-tuned).
    Bilingual(BilingualArgs),
}

/// Arguments every suite takes.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// Extracted encoder folder. `bow:DIM` evaluates a bag-of-hashed-words baseline of DIM
    /// values instead, a floor any trained encoder should beat.
    #[arg(long = "model", value_name = "DIR", required = true)]
    models: Vec<String>,

    /// The benchmark's data folder, as downloaded.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,

    /// Comma-separated tasks to run (default: all of the suite).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,

    /// Seed of every random choice (splits, shuffles, initialisation, dropout).
    #[arg(long, default_value_t = 90)]
    seed: u64,

    /// Also write the report here; the extension picks the format: .csv, .md, .json, .xlsx.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// Pooling for every task (last, max or mean) instead of the suite's default.
    #[arg(long)]
    pool: Option<String>,

    /// Word vectors (text, one word and its values per line) for vocabulary expansion on
    /// the tasks' words.
    #[arg(long, value_name = "FILE")]
    pretrained_embeddings: Option<PathBuf>,

    /// Device to run the encoder on: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `gensen eval senteval`.
#[derive(clap::Args)]
pub struct SentevalArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Folds of cross-validation for tasks without a split.
    #[arg(long, default_value_t = 10)]
    folds: usize,

    /// Threads fitting cross-validation folds at once (0: one per core). Scores do not
    /// depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// `gensen eval alue`.
#[derive(clap::Args)]
pub struct AlueArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Save each task's fine-tuned encoder (best epoch) in DIR/<task>.
    #[arg(long, value_name = "DIR")]
    finetuning_output: Option<PathBuf>,

    /// Write leaderboard prediction files for the private test sets into DIR.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "alue-predictions")]
    predict: Option<PathBuf>,

    /// Fine-tuning epochs per task (the best on validation is kept).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
}

/// `gensen eval bilingual`.
#[derive(clap::Args)]
pub struct BilingualArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Save the NLI fine-tuned encoder (best epoch) in DIR.
    #[arg(long, value_name = "DIR")]
    finetuning_output: Option<PathBuf>,

    /// Fine-tuning epochs for NLI.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
}

/// Runs `gensen eval`.
pub fn run(command: Command) -> anyhow::Result<()> {
    let report = match command {
        Command::Senteval(args) => run_senteval(args)?,
        Command::Alue(args) => run_alue(args)?,
        Command::Bilingual(args) => run_bilingual(args)?,
    };
    print!("{}", report.to_table());
    Ok(())
}

/// Arguments checked and turned into values.
struct Validated {
    models: Vec<ModelSpec>,
    pool: Option<Pool>,
}

/// Where an encoder comes from.
enum ModelSpec {
    /// The bag-of-hashed-words baseline of this many values.
    Baseline(usize),
    /// An extracted encoder folder.
    Folder(PathBuf),
}

/// Checks what can be checked before any work starts, so a typo fails in a second.
fn validate(common: &CommonArgs) -> anyhow::Result<Validated> {
    if !common.data.is_dir() {
        return Err(
            Error::Invalid(format!("--data {}: not a folder", common.data.display())).into(),
        );
    }
    if let Some(path) = &common.report {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["csv", "md", "json", "xlsx"].contains(&extension.to_ascii_lowercase().as_str()) {
            return Err(Error::Invalid(format!(
                "--report {}: the extension must be .csv, .md, .json or .xlsx",
                path.display()
            ))
            .into());
        }
    }
    if let Some(path) = &common.pretrained_embeddings {
        if !path.is_file() {
            return Err(Error::Invalid(format!(
                "--pretrained-embeddings {}: no such file",
                path.display()
            ))
            .into());
        }
    }
    let pool = common.pool.as_deref().map(str::parse::<Pool>).transpose()?;
    let mut models = Vec::new();
    for model in &common.models {
        models.push(match model.strip_prefix("bow:") {
            Some(dim) => match dim.parse::<usize>() {
                Ok(dim) if dim > 0 => ModelSpec::Baseline(dim),
                _ => {
                    return Err(Error::Invalid(format!(
                        "--model {model}: the baseline's size must be a positive integer"
                    ))
                    .into())
                }
            },
            None => {
                let dir = PathBuf::from(model);
                if !dir.is_dir() {
                    return Err(Error::Invalid(format!("--model {model}: not a folder")).into());
                }
                ModelSpec::Folder(dir)
            }
        });
    }
    Ok(Validated { models, pool })
}

/// Parses the task list, or every task when none is given.
fn parse_tasks<T: std::str::FromStr<Err = Error> + Copy>(
    names: &[String],
    all: &[T],
) -> anyhow::Result<Vec<T>> {
    if names.is_empty() {
        return Ok(all.to_vec());
    }
    Ok(names
        .iter()
        .map(|n| n.trim().parse())
        .collect::<Result<Vec<T>, Error>>()?)
}

/// Only one model can be fine-tuned at a time.
fn single_model(models: Vec<ModelSpec>, suite: &str) -> anyhow::Result<ModelSpec> {
    let count = models.len();
    let mut models = models.into_iter();
    match (models.next(), count) {
        (Some(model), 1) => Ok(model),
        _ => {
            Err(Error::Invalid(format!("{suite} fine-tunes one encoder: give --model once")).into())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoder loading: the only place the CLI touches the trained model.
// ---------------------------------------------------------------------------------------

/// Word vectors for vocabulary expansion and the sentences whose words to expand on.
type Expansion<'a> = Option<(&'a Path, &'a [String])>;

/// Loads a frozen encoder for SentEval.
///
/// TODO: load `ModelSpec::Folder` with `gensen::encode::GenSen::load(dir, device)` and, when
/// `expansion` is given, expand its vocabulary on those sentences' words first; this waits
/// on the encoder API, which is not merged yet.
fn load_frozen(
    spec: &ModelSpec,
    device: &str,
    expansion: Expansion,
    seed: u64,
) -> anyhow::Result<Box<dyn SentenceEncoder>> {
    match spec {
        ModelSpec::Baseline(dim) => {
            baseline_notes(expansion);
            Ok(Box::new(HashedWords::new(*dim, seed)))
        }
        ModelSpec::Folder(dir) => Err(encoder_unavailable(dir, device)),
    }
}

/// Loads a fine-tunable encoder for ALUE and bilingual NLI.
///
/// TODO: as [`load_frozen`], through `gensen::encode::GenSen::load(dir, device)` and an
/// engine-backed `FineTunable`; this waits on the encoder API.
fn load_trainable(
    spec: &ModelSpec,
    device: &str,
    expansion: Expansion,
    seed: u64,
) -> anyhow::Result<Box<dyn FineTunable>> {
    match spec {
        ModelSpec::Baseline(dim) => {
            baseline_notes(expansion);
            Ok(Box::new(TrainableHashedWords::new(*dim, 1 << 14, seed)))
        }
        ModelSpec::Folder(dir) => Err(encoder_unavailable(dir, device)),
    }
}

fn baseline_notes(expansion: Expansion) {
    if expansion.is_some() {
        eprintln!("note: --pretrained-embeddings has no effect on the bag-of-words baseline");
    }
}

fn encoder_unavailable(dir: &Path, device: &str) -> anyhow::Error {
    Error::Invalid(format!(
        "--model {} (device {device}): this build cannot load trained encoders yet; \
         use --model bow:DIM for the baseline",
        dir.display()
    ))
    .into()
}

// ---------------------------------------------------------------------------------------
// Suites.
// ---------------------------------------------------------------------------------------

/// One log line per finished task.
fn log_task(row: &TaskResult) {
    let accuracy = row
        .accuracy
        .map_or(String::new(), |a| format!(" | acc {a:6.2}"));
    eprintln!(
        "task {:<16} | {} {:6.2}{accuracy} | {:.1} s",
        row.task, row.metric, row.value, row.seconds
    );
}

/// One log line per fine-tuning epoch.
fn log_epoch(log: &EpochLog) {
    eprintln!(
        "task {:<8} | epoch {:2} | loss {:.4} | valid {:6.2} | {:.1} s",
        log.task,
        log.epoch,
        log.train_loss,
        100.0 * log.valid_score,
        log.seconds
    );
}

/// Writes the report file when one was asked for.
fn write_report(report: &Report, path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = path {
        report
            .write(path)
            .with_context(|| format!("writing the report {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

fn run_senteval(args: SentevalArgs) -> anyhow::Result<Report> {
    let common = &args.common;
    let valid = validate(common)?;
    let tasks = parse_tasks(&common.tasks, &SentevalTask::ALL)?;
    if args.folds < 2 {
        return Err(Error::Invalid("--folds must be at least 2".into()).into());
    }
    let sentences = match &common.pretrained_embeddings {
        Some(_) => senteval::task_sentences(&common.data, &tasks)?,
        None => Vec::new(),
    };
    let expansion = common
        .pretrained_embeddings
        .as_deref()
        .map(|p| (p, sentences.as_slice()));
    let members = valid
        .models
        .iter()
        .enumerate()
        .map(|(i, spec)| load_frozen(spec, &common.device, expansion, common.seed + i as u64))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut encoder = Concatenated { members };
    let options = SentevalOptions {
        tasks,
        pool: valid.pool,
        probe: ProbeConfig {
            folds: args.folds,
            threads: match args.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            seed: common.seed,
            ..ProbeConfig::default()
        },
        language: Language::En,
    };
    let report = senteval::run(&mut encoder, &common.data, &options, log_task)
        .with_context(|| format!("SentEval on {}", common.data.display()))?;
    write_report(&report, common.report.as_deref())?;
    Ok(report)
}

fn run_alue(args: AlueArgs) -> anyhow::Result<Report> {
    let common = &args.common;
    let valid = validate(common)?;
    let tasks = parse_tasks(&common.tasks, &AlueTask::ALL)?;
    let spec = single_model(valid.models, "alue")?;
    let sentences = match &common.pretrained_embeddings {
        Some(_) => alue::task_sentences(&common.data, &tasks)?,
        None => Vec::new(),
    };
    let expansion = common
        .pretrained_embeddings
        .as_deref()
        .map(|p| (p, sentences.as_slice()));
    let mut encoder = load_trainable(&spec, &common.device, expansion, common.seed)?;
    let options = AlueOptions {
        tasks,
        finetune: FinetuneConfig {
            epochs: args.epochs,
            pool: valid.pool.unwrap_or(Pool::Mean),
            language: Language::Ar,
            seed: common.seed,
            ..FinetuneConfig::default()
        },
        finetuning_output: args.finetuning_output.clone(),
        predict_dir: args.predict.clone(),
    };
    let report = alue::run(
        encoder.as_mut(),
        &common.data,
        &options,
        |progress| match progress {
            Progress::Epoch(log) => log_epoch(log),
            Progress::Task(row) => log_task(row),
            Progress::Predictions(path) => eprintln!("predictions written to {}", path.display()),
        },
    )
    .with_context(|| format!("ALUE on {}", common.data.display()))?;
    write_report(&report, common.report.as_deref())?;
    Ok(report)
}

fn run_bilingual(args: BilingualArgs) -> anyhow::Result<Report> {
    let common = &args.common;
    let valid = validate(common)?;
    let mut tasks = BilingualTasks {
        sts: common.tasks.is_empty(),
        nli: common.tasks.is_empty(),
    };
    for name in &common.tasks {
        match name.trim().to_ascii_lowercase().as_str() {
            "sts" => tasks.sts = true,
            "nli" => tasks.nli = true,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown bilingual task '{other}' (expected sts or nli)"
                ))
                .into())
            }
        }
    }
    let spec = single_model(valid.models, "bilingual")?;
    let sentences = match &common.pretrained_embeddings {
        Some(_) => bilingual::task_sentences(&common.data, tasks)?,
        None => Vec::new(),
    };
    let expansion = common
        .pretrained_embeddings
        .as_deref()
        .map(|p| (p, sentences.as_slice()));
    let mut encoder = load_trainable(&spec, &common.device, expansion, common.seed)?;
    let config = FinetuneConfig {
        epochs: args.epochs,
        pool: valid.pool.unwrap_or(Pool::Mean),
        seed: common.seed,
        ..FinetuneConfig::default()
    };
    let report = bilingual::run(
        encoder.as_mut(),
        &common.data,
        tasks,
        &config,
        args.finetuning_output.as_deref(),
        log_epoch,
    )
    .with_context(|| format!("bilingual benchmark on {}", common.data.display()))?;
    for row in &report.rows {
        log_task(row);
    }
    write_report(&report, common.report.as_deref())?;
    Ok(report)
}
