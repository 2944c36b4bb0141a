//! `gensen demo`: the whole pipeline on a generated bilingual corpus, on the CPU.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use gensen::config::Config;
use gensen::demo::{example_sentences, write_corpus, CorpusSizes};
use gensen::encode::{EncodeOptions, GenSen, Representation};
use gensen::engine::cpu::Cpu;
use gensen::engine::device::DeviceChoice;
use gensen::engine::Pool;
use gensen::train::extract::extract_encoder;
use gensen::train::{Event, MetricsLog, RunOptions, Trainer};

/// Arguments of `gensen demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder for the corpus, the model and the encoder.
    #[arg(long, default_value = "gensen-demo")]
    pub out: PathBuf,
    /// Training steps (about 26 ms each on 2 idle cores).
    #[arg(long, default_value_t = 4000)]
    pub steps: u64,
    /// Seed of the corpus and the model.
    #[arg(long, default_value_t = 90)]
    pub seed: u64,
    /// A corpus of a few hundred sentences per task, for a quick check.
    #[arg(long)]
    pub tiny: bool,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Cosine similarities of sentence i in one language with sentence j in the other, where
/// sentence i's translation is sentence i.
struct Similarities {
    sims: Vec<Vec<f32>>,
    /// Mean similarity of translation pairs, and of all other pairs.
    translations: f64,
    unrelated: f64,
    /// Sentences whose translation is their most similar counterpart.
    ranked_first: usize,
}

impl Similarities {
    fn between(a: &Representation, b: &Representation) -> Self {
        let n = a.batch;
        let sims: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| cosine(a.sentence_vector(i), b.sentence_vector(j)))
                    .collect()
            })
            .collect();
        let (mut diag, mut off, mut ranked_first) = (0.0, 0.0, 0);
        for (i, row) in sims.iter().enumerate() {
            diag += row[i] as f64;
            off += (row.iter().sum::<f32>() - row[i]) as f64;
            let best = row
                .iter()
                .enumerate()
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(j, _)| j);
            ranked_first += usize::from(best == Some(i));
        }
        Similarities {
            sims,
            translations: diag / n as f64,
            unrelated: off / (n * (n - 1)).max(1) as f64,
            ranked_first,
        }
    }
}

/// Runs `gensen demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    let started = Instant::now();
    let sizes = if args.tiny {
        CorpusSizes::tiny()
    } else {
        CorpusSizes::demo()
    };
    eprintln!("[1/6] writing the demo corpus into {}", args.out.display());
    let config_path = write_corpus(&args.out, args.seed, &sizes)?;
    let config = Config::load(&config_path)?;
    let threads = args.threads.unwrap_or_else(|| config.threads());

    eprintln!(
        "[2/6] training the tokenizer ({} pieces)",
        config.vocab.vocab_size
    );
    let report =
        gensen::pipeline::train_tokenizer(&config, false).context("training the tokenizer")?;
    eprintln!(
        "      {} sentences -> {}",
        report.stats.kept,
        report.model_path.display()
    );

    eprintln!("[3/6] tokenizing every task");
    let splits = gensen::pipeline::tokenize(&config, threads).context("tokenizing")?;
    let examples: u64 = splits.iter().map(|s| s.examples).sum();
    eprintln!("      {examples} examples in {} splits", splits.len());

    eprintln!(
        "[4/6] training for {} steps on the CPU ({threads} threads)",
        args.steps
    );
    let model_dir = config.model.model_dir.clone();
    // A fresh demo: earlier checkpoints of another corpus must not be resumed.
    let _ = std::fs::remove_dir_all(model_dir.join("checkpoints"));
    let _ = std::fs::remove_file(model_dir.join("metrics.jsonl"));
    let mut trainer = Trainer::new(Cpu::<f32>::new(threads), config)?;
    let mut log = MetricsLog::open(&model_dir)?;
    let options = RunOptions {
        max_steps: Some(args.steps),
        interrupt: None,
    };
    let summary = trainer.run(&options, &mut |event: Event| {
        if !matches!(event, Event::Checkpoint { .. }) {
            eprintln!("      {}", super::train::describe(&event, Some(args.steps)));
        }
        let _ = log.record(&event);
    })?;
    let first: Vec<_> = summary.losses.iter().take(50).collect();
    let last: Vec<_> = summary.losses.iter().rev().take(50).collect();
    let mean = |v: &[&(u64, String, f32)]| {
        v.iter().map(|l| l.2 as f64).sum::<f64>() / v.len().max(1) as f64
    };
    eprintln!(
        "      mean loss: first 50 steps {:.3}, last 50 steps {:.3}",
        mean(&first),
        mean(&last)
    );

    eprintln!("[5/6] extracting the encoder");
    let encoder_dir = args.out.join("encoder");
    extract_encoder(&model_dir, &encoder_dir)?;
    eprintln!("      {}", encoder_dir.display());

    eprintln!("[6/6] encoding example sentences in both languages");
    let mut gensen = GenSen::load(&encoder_dir, DeviceChoice::Cpu, threads)?;
    let pairs = example_sentences();
    let english: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let arabic: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    let opts = EncodeOptions::default();
    let en = gensen.get_representation(&english, &opts)?;
    let ar = gensen.get_representation(&arabic, &opts)?;

    println!("\ncosine similarity of sentence vectors (rows: English, columns: Arabic)");
    print!("{:32}", "");
    for j in 0..arabic.len() {
        print!(" ar{j:<3}");
    }
    println!();
    let table = Similarities::between(&en, &ar);
    for (i, row) in table.sims.iter().enumerate() {
        let label: String = english[i].chars().take(28).collect();
        print!("en{i} {label:28}");
        for (j, s) in row.iter().enumerate() {
            let mark = if i == j { '*' } else { ' ' };
            print!(" {s:4.2}{mark}");
        }
        println!();
    }
    for (j, s) in arabic.iter().enumerate() {
        println!("ar{j} {s}");
    }
    println!(
        "\ntranslations (*): mean similarity {:.3}; unrelated pairs: {:.3}; \
         the translation is the closest Arabic sentence for {} of {}",
        table.translations,
        table.unrelated,
        table.ranked_first,
        table.sims.len()
    );

    // The same comparison for each pooling of the same encoder.
    for pool in [Pool::Last, Pool::Max, Pool::Mean] {
        let opts = EncodeOptions {
            pool: Some(pool),
            ..EncodeOptions::default()
        };
        let en = gensen.get_representation(&english, &opts)?;
        let ar = gensen.get_representation(&arabic, &opts)?;
        let t = Similarities::between(&en, &ar);
        println!(
            "pool {:4}: translations {:.3}, unrelated {:.3}, closest for {} of {}",
            format!("{pool:?}").to_lowercase(),
            t.translations,
            t.unrelated,
            t.ranked_first,
            t.sims.len()
        );
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
