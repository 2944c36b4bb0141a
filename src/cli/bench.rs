//! `gensen bench`: the engine's speed, with the napkin math beside each figure.

use gensen::bench;
use gensen::engine::cpu::Cpu;
use gensen::engine::cuda::{cuda_available, Cuda};

/// What to measure.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Suite {
    /// GEMM rates and the encoder's forward and backward passes.
    Engine,
    /// Sentences per second at batch 64 and single-sentence latency.
    Encode,
    /// Full GenSen training steps (encoder and two decoders).
    Train,
}

/// Arguments of `gensen bench`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum, default_value_t = Suite::Engine)]
    pub suite: Suite,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Vocabulary of the training-step benchmark.
    #[arg(long, default_value_t = 20000)]
    pub vocab: usize,
}

/// Runs `gensen bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = bench::gensen_encoder_config(20000);
    match args.suite {
        Suite::Engine => print!("{}", bench::engine_report(threads)?),
        Suite::Encode => {
            let t = bench::encode(Cpu::<f32>::new(threads), &config)?;
            println!(
                "cpu ({threads} threads): batch 64 x 20 tokens {:.1} sentences/s | one sentence p50 {:.2} ms, p99 {:.2} ms",
                t.batch64_sentences_per_s, t.single_p50_ms, t.single_p99_ms
            );
            if let (Some((p50, p99)), Some(diff)) = (t.single_f16_ms, t.f16_max_abs_diff) {
                println!(
                    "cpu ({threads} threads), f16 GRU weights: one sentence p50 {p50:.2} ms, p99 {p99:.2} ms (sentence vector within {diff:.1e} of f32)"
                );
            }
            if cuda_available() {
                let t = bench::encode(Cuda::new(0)?, &config)?;
                println!(
                    "cuda: batch 64 x 20 tokens {:.1} sentences/s | one sentence p50 {:.3} ms, p99 {:.3} ms",
                    t.batch64_sentences_per_s, t.single_p50_ms, t.single_p99_ms
                );
            } else {
                println!("cuda: no device; skipped");
            }
        }
        Suite::Train => {
            let rate = bench::train_step(Cpu::<f32>::new(threads), args.vocab, 48, 32, 4)?;
            println!("cpu ({threads} threads): GenSen training step, vocab {}, batch 48 x 32: {rate:.0} tokens/s", args.vocab);
            if cuda_available() {
                let rate = bench::train_step(Cuda::new(0)?, args.vocab, 48, 32, 5)?;
                println!("cuda: {rate:.0} tokens/s");
            } else {
                println!("cuda: no device; skipped");
            }
        }
    }
    Ok(())
}
