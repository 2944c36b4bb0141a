//! `gensen train-tokenizer` and `gensen tokenize`: progress display and reporting over
//! `gensen::data::vocab` and `gensen::data::tokenize`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use gensen::config::Config;
use gensen::data::tokenize::{tokenize_config, Progress, TokenizeOptions};
use gensen::data::vocab::{train_tokenizer, VocabSpec};
use gensen::text::Tokenizer;

/// Arguments of `gensen train-tokenizer`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The pipeline's config.json.
    #[arg(short, long)]
    config: PathBuf,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// Arguments of `gensen tokenize`.
#[derive(clap::Args)]
pub struct TokenizeArgs {
    /// The pipeline's config.json.
    #[arg(short, long)]
    config: PathBuf,
    /// The SentencePiece model; default `<vocab_dir>/<model_prefix>.model`.
    #[arg(short, long)]
    model_path: Option<PathBuf>,
    /// Encoding threads.
    #[arg(short = 'w', long, default_value_t = 4)]
    num_workers: usize,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Rebuild shards even when they are up to date.
    #[arg(long)]
    force: bool,
}

/// Runs `gensen train-tokenizer`.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let started = Instant::now();
    eprintln!(
        "sampling up to {} sentences from {} task(s)",
        config.vocab.max_num_sentences,
        config.tasks.len()
    );
    let report = train_tokenizer(&config, &native_trainer, args.skip_bad_lines)
        .context("training the tokenizer")?;
    eprintln!(
        "read {} sentences, trained on {}, {} bad line(s) skipped",
        report.stats.seen, report.stats.kept, report.stats.bad_lines
    );
    eprintln!(
        "wrote {} ({} pieces) and {} in {:.1} s",
        report.model_path.display(),
        report.vocab_size,
        report.vocab_path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The native SentencePiece trainer.
fn native_trainer(
    _sentences: &mut dyn Iterator<Item = String>,
    _spec: &VocabSpec,
) -> gensen::Result<Vec<u8>> {
    // TODO: call gensen::text::spm::train here, it is being written in its own module.
    Err(gensen::Error::Invalid(
        "this build has no SentencePiece trainer yet".into(),
    ))
}

/// Runs `gensen tokenize`.
pub fn tokenize(args: TokenizeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.num_workers > 0, "--num-workers must be at least 1");
    let config = Config::load(&args.config)?;
    let model_path = args.model_path.unwrap_or_else(|| config.tokenizer_path());
    let tokenizer = Tokenizer::load(&model_path)?;
    let opts = TokenizeOptions {
        workers: args.num_workers,
        skip_bad_lines: args.skip_bad_lines,
        force: args.force,
    };

    let display = ProgressDisplay::new();
    let started = Instant::now();
    let reports = tokenize_config(&config, &tokenizer, &opts, Some(&|p| display.update(p)))
        .context("tokenizing")?;
    display.finish();

    for r in &reports {
        let name = format!("{}/{}", r.task, r.split.name());
        if r.up_to_date {
            eprintln!("{name:<24} up to date ({} examples)", r.examples);
            continue;
        }
        let c = &r.counts;
        eprintln!(
            "{name:<24} {} examples, {} tokens | truncated src {} trg {} | dropped: {} \
             unlabelled, {} empty after normalization, {} bad lines",
            r.examples,
            c.tokens,
            c.truncated_src,
            c.truncated_trg,
            c.unlabelled,
            c.empty_after_normalization,
            c.bad_lines
        );
        for message in &r.bad_line_messages {
            eprintln!("  skipped {message}");
        }
    }
    eprintln!(
        "shards in {} ({:.1} s)",
        config.data_dir().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A progress bar on a terminal, a plain line every few seconds otherwise.
struct ProgressDisplay {
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<LogState>,
}

struct LogState {
    current: String,
    last_line: Instant,
    started: Instant,
}

impl ProgressDisplay {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        ProgressDisplay {
            bar,
            state: Mutex::new(LogState {
                current: String::new(),
                last_line: Instant::now(),
                started: Instant::now(),
            }),
        }
    }

    fn update(&self, p: &Progress<'_>) {
        let name = format!("{}/{}", p.task, p.split.name());
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.current != name {
            state.current = name.clone();
            state.started = Instant::now();
            if let Some(bar) = &self.bar {
                bar.reset();
                bar.set_length(p.bytes_total);
                bar.set_prefix(name.clone());
            }
        }
        let rate = p.examples as f64 / state.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.bytes_done);
                bar.set_message(format!("{} lines, {:.0} lines/s", p.examples, rate));
            }
            None if state.last_line.elapsed() >= Duration::from_secs(5) => {
                state.last_line = Instant::now();
                eprintln!(
                    "{name}: {} lines, {:.0} lines/s, {:.0}% of {} bytes",
                    p.examples,
                    rate,
                    100.0 * p.bytes_done as f64 / p.bytes_total.max(1) as f64,
                    p.bytes_total
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
