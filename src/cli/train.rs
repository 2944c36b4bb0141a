//! `gensen train`: multi-task training from a config.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use gensen::config::Config;
use gensen::engine::device::{dispatch, DeviceChoice, WithBackend};
use gensen::engine::Backend;
use gensen::train::{Event, MetricsLog, RunOptions, Summary, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `gensen train`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline's config.json.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Continue from the newest valid checkpoint in the model folder.
    #[arg(long)]
    pub resume: bool,
    /// Stop once the global step count reaches N (resumed runs count earlier steps).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// CPU threads (default: training.threads, else every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// One fixed-width log line for an event.
pub fn describe(event: &Event, max_steps: Option<u64>) -> String {
    match event {
        Event::Progress {
            step,
            lr,
            ms_per_step,
            tokens_per_s,
            tasks,
            ..
        } => {
            let total = max_steps.map_or(String::new(), |m| format!("/{m}"));
            let losses: Vec<String> = tasks
                .iter()
                .map(|t| format!("{} {:.3}", t.task, t.loss))
                .collect();
            format!(
                "step {step:>6}{total} | {} | lr {lr:.1e} | {ms_per_step:7.1} ms | {:.1}k tok/s",
                losses.join("  "),
                tokens_per_s / 1e3
            )
        }
        Event::Validation {
            step,
            task,
            loss,
            perplexity,
            accuracy,
            macro_f1,
        } => match (loss, perplexity, accuracy, macro_f1) {
            (Some(l), Some(p), _, _) => {
                format!("val  {step:>6} | {task} | loss {l:.3} | ppl {p:.1}")
            }
            (_, _, Some(a), Some(f)) => {
                format!(
                    "val  {step:>6} | {task} | acc {:.1}% | macro-F1 {:.1}%",
                    a * 100.0,
                    f * 100.0
                )
            }
            _ => format!("val  {step:>6} | {task}"),
        },
        Event::Checkpoint { step, path, best } => {
            let kind = if *best {
                "best checkpoint"
            } else {
                "checkpoint"
            };
            format!("{kind} at step {step}: {}", path.display())
        }
        Event::Resumed { step, path } => format!("resumed at step {step} from {}", path.display()),
        Event::SkippedCheckpoint { path, reason } => {
            format!("warning: skipping checkpoint {}: {reason}", path.display())
        }
    }
}

struct TrainJob {
    config: Config,
    resume: bool,
    options: RunOptions,
}

impl WithBackend for TrainJob {
    type Output = Summary;

    fn run<B: Backend>(self, backend: B) -> gensen::Result<Summary> {
        eprintln!("device: {}", backend.name());
        let model_dir = self.config.model.model_dir.clone();
        let max_steps = self.options.max_steps.or(self.config.training.max_steps);
        let mut trainer = Trainer::new(backend, self.config)?;
        eprintln!(
            "model: {} parameters in {} tensors",
            trainer.model().params.numel(),
            trainer.model().params.len()
        );
        let mut log = MetricsLog::open(&model_dir)?;
        // A bar with an ETA when the run has a step budget, a spinner with the step count
        // when it trains until interrupted; plain log lines when stderr is not a terminal.
        let bar = (std::io::stderr().is_terminal()).then(|| {
            let (bar, template) = match max_steps {
                Some(total) => (
                    ProgressBar::new(total),
                    "{bar:40} {pos}/{len} steps {elapsed_precise} eta {eta}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner} step {pos} {elapsed_precise}",
                ),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar
        });
        let mut log_error = None;
        let mut on_event = |event: Event| {
            let line = describe(&event, max_steps);
            match &bar {
                Some(bar) => {
                    if let Event::Progress { step, .. } = &event {
                        bar.set_position(*step);
                    }
                    bar.println(line);
                }
                None => eprintln!("{line}"),
            }
            if let Err(e) = log.record(&event) {
                log_error.get_or_insert(e);
            }
        };
        if self.resume && trainer.resume(&mut on_event)?.is_none() {
            on_event(Event::SkippedCheckpoint {
                path: trainer.checkpoint_root().to_path_buf(),
                reason: "no checkpoint to resume from; starting fresh".into(),
            });
        }
        let summary = trainer.run(&self.options, &mut on_event)?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if let Some(e) = log_error {
            return Err(e);
        }
        Ok(summary)
    }
}

/// Runs `gensen train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let threads = args.threads.unwrap_or_else(|| config.threads());
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // A second Ctrl-C while the checkpoint is written falls through to the default.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let job = TrainJob {
        config,
        resume: args.resume,
        options: RunOptions {
            max_steps: args.max_steps,
            interrupt: Some(interrupt),
        },
    };
    let summary = dispatch(args.device, threads, job).context("training failed")?;
    eprintln!(
        "done: {} steps, {} examples",
        summary.step, summary.examples
    );
    if summary.interrupted {
        eprintln!("interrupted: checkpoint saved at step {}", summary.step);
        return Err(gensen::Error::Interrupted.into());
    }
    Ok(())
}
