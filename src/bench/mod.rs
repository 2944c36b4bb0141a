//! Measurements behind `cargo bench` and `gensen bench`: each returns figures, the caller
//! prints them. Timings take the best of several runs after a warm-up, which on a shared
//! 2-core machine is the least noisy estimate of what the code can do.

use std::time::Instant;

use crate::engine::cpu::Cpu;
use crate::engine::rng::Rng;
use crate::engine::{Backend, Gemm, Params, Pool, Tape};
use crate::error::Result;
use crate::model::{Encoder, EncoderConfig, SeqInput};

/// Best wall time in seconds of `reps` runs of `f` after one warm-up run.
pub fn best_of(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Sorted wall times in seconds of `reps` runs of `f` after `warmup` runs, for
/// percentiles.
pub fn samples(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times)
}

/// The `q` quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// Random operands for one GEMM shape on the CPU backend, `B` transposed as in a linear
/// layer, ready to be timed one product at a time.
pub struct GemmBench {
    cpu: Cpu<f32>,
    gemm: Gemm,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    /// Floating-point operations of one product.
    pub flops: f64,
}

impl GemmBench {
    pub fn new(threads: usize, m: usize, n: usize, k: usize) -> Self {
        let mut rng = Rng::new(1);
        let mut fill = |len: usize| (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect();
        GemmBench {
            cpu: Cpu::new(threads),
            gemm: Gemm::new(m, n, k, false, true),
            a: fill(m * k),
            b: fill(n * k),
            c: vec![0.0; m * n],
            flops: 2.0 * (m * n * k) as f64,
        }
    }

    /// Wall time in seconds of one product.
    pub fn run(&mut self) -> Result<f64> {
        let start = Instant::now();
        self.cpu.gemm(&self.gemm, &self.a, &self.b, &mut self.c)?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// GFLOP/s of the CPU backend's GEMM on (m, n, k), `B` transposed as in a linear layer:
/// the best of `reps` products after a warm-up.
pub fn gemm_gflops(threads: usize, m: usize, n: usize, k: usize, reps: usize) -> Result<f64> {
    let mut g = GemmBench::new(threads, m, n, k);
    let secs = best_of(reps, || g.run().map(drop))?;
    Ok(g.flops / secs / 1e9)
}

/// Floating-point operations of one encoder layer's forward pass (GEMMs only; the gate
/// math is O(B T H) against O(B T H^2)).
pub fn encoder_forward_flops(config: &EncoderConfig, batch: usize, seq_len: usize) -> f64 {
    let (d, h, e) = (
        config.dirs() as f64,
        config.hidden as f64,
        config.dim_word as f64,
    );
    let tokens = (batch * seq_len) as f64;
    let mut flops = 0.0;
    for layer in 0..config.layers {
        let input = if layer == 0 { e } else { d * h };
        flops += d * 2.0 * tokens * input * 3.0 * h; // input projection
        flops += d * 2.0 * tokens * h * 3.0 * h; // recurrent steps
    }
    flops
}

/// Timings of the encoder on one batch shape.
#[derive(Clone, Debug)]
pub struct EncoderTiming {
    pub forward_s: f64,
    pub forward_backward_s: f64,
    pub forward_flops: f64,
}

/// An encoder, its parameters and a batch of random tokens of full length, ready to be
/// timed one pass at a time (so that callers can interleave passes with other
/// measurements).
pub struct EncoderBench<B: Backend> {
    backend: B,
    params: Params<B>,
    encoder: Encoder,
    tape: Tape<B>,
    ids: Vec<u32>,
    lens: Vec<u32>,
    seed: Vec<f32>,
    batch: usize,
    seq_len: usize,
    /// Floating-point operations of one forward pass (GEMMs only).
    pub forward_flops: f64,
}

impl<B: Backend> EncoderBench<B> {
    pub fn new(backend: B, config: &EncoderConfig, batch: usize, seq_len: usize) -> Result<Self> {
        let mut rng = Rng::new(2);
        let mut params = Params::new(backend.clone());
        let encoder = Encoder::init(&mut params, config.clone(), &mut rng)?;
        params.enable_training()?;
        let ids = (0..batch * seq_len)
            .map(|_| 4 + rng.below(config.vocab - 4) as u32)
            .collect();
        Ok(EncoderBench {
            tape: Tape::new(backend.clone()),
            backend,
            params,
            encoder,
            ids,
            lens: vec![seq_len as u32; batch],
            seed: vec![1e-3f32; batch * config.dim()],
            batch,
            seq_len,
            forward_flops: encoder_forward_flops(config, batch, seq_len),
        })
    }

    /// Wall time in seconds of one forward pass without recording, to the sentence
    /// vectors.
    pub fn forward(&mut self) -> Result<f64> {
        self.pass(false)
    }

    /// Wall time in seconds of one recorded forward pass and its backward pass.
    pub fn forward_backward(&mut self) -> Result<f64> {
        self.pass(true)
    }

    fn pass(&mut self, backward: bool) -> Result<f64> {
        let start = Instant::now();
        self.tape.set_recording(backward);
        self.tape.reset();
        if backward {
            self.params.zero_grads()?;
        }
        let input = SeqInput {
            ids: &self.ids,
            lens: &self.lens,
            seq_len: self.seq_len,
            batch: self.batch,
        };
        let enc = self.encoder.forward(&mut self.tape, &self.params, input)?;
        let v = self.encoder.sentence(&mut self.tape, &enc, Pool::Last)?;
        if backward {
            self.tape.add_grad(v, &self.seed)?;
            self.tape.backward(&mut self.params)?;
        }
        self.backend.synchronize()?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// Times the encoder's forward pass (no recording) and forward plus backward on random
/// tokens of full length: the best of `reps` runs after a warm-up.
pub fn encoder<B: Backend>(
    backend: B,
    config: &EncoderConfig,
    batch: usize,
    seq_len: usize,
    reps: usize,
    with_backward: bool,
) -> Result<EncoderTiming> {
    let mut bench = EncoderBench::new(backend, config, batch, seq_len)?;
    let forward_s = best_of(reps, || bench.forward().map(drop))?;
    let forward_backward_s = if with_backward {
        best_of(reps, || bench.forward_backward().map(drop))?
    } else {
        f64::NAN
    };
    Ok(EncoderTiming {
        forward_s,
        forward_backward_s,
        forward_flops: bench.forward_flops,
    })
}

/// GenSen's published encoder size: embedding 512, 1024 units per direction, one
/// bidirectional layer.
pub fn gensen_encoder_config(vocab: usize) -> EncoderConfig {
    EncoderConfig {
        vocab,
        dim_word: 512,
        hidden: 1024,
        layers: 1,
        bidirectional: true,
        pad_id: crate::model::encoder::PAD_ID,
    }
}

/// Rounds of the engine benchmark, each one reference GEMM before each encoder pass.
const ENGINE_ROUNDS: usize = 6;

/// Formats the engine benchmark: GEMM rates on GenSen's shapes and the encoder's speed,
/// each against a large square GEMM measured in the same run.
pub fn engine_report(threads: usize) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let w = |out: &mut String, line: String| {
        let _ = writeln!(out, "{line}");
    };
    w(&mut out, format!("threads: {threads}"));
    // The reference and the encoder passes alternate, each keeping its best, so that both
    // are measured under the same conditions on a shared machine whose speed drifts.
    let mut square = GemmBench::new(threads, 1536, 1536, 1536);
    let config = gensen_encoder_config(20000);
    let cpu = Cpu::<f32>::new(threads);
    let mut enc = EncoderBench::new(cpu.clone(), &config, 64, 32)?;
    let (mut sq_s, mut fwd_s, mut fb_s) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    square.run()?;
    enc.forward()?;
    enc.forward_backward()?;
    for _ in 0..ENGINE_ROUNDS {
        sq_s = sq_s.min(square.run()?);
        fwd_s = fwd_s.min(enc.forward()?);
        sq_s = sq_s.min(square.run()?);
        fb_s = fb_s.min(enc.forward_backward()?);
    }
    let square = square.flops / sq_s / 1e9;
    w(
        &mut out,
        format!("gemm 1536^3 (reference)                {square:7.1} GFLOP/s"),
    );
    for (what, m, n, k) in [
        ("recurrent step 64x3072x1024", 64, 3072, 1024),
        ("input projection 2048x3072x512", 2048, 3072, 512),
        ("vocabulary 1536x20000x2048", 1536, 20000, 2048),
    ] {
        let rate = gemm_gflops(threads, m, n, k, 3)?;
        w(
            &mut out,
            format!(
                "gemm {what:34} {rate:7.1} GFLOP/s  ({:.2} of reference)",
                rate / square
            ),
        );
    }
    let fwd = enc.forward_flops / fwd_s / 1e9;
    // Backward costs two GEMMs for every forward one (input and weight gradients).
    let fwd_bwd = 3.0 * enc.forward_flops / fb_s / 1e9;
    w(&mut out, format!(
        "encoder forward  batch 64 x 32 tokens {:8.1} ms {fwd:7.1} GFLOP/s  ratio {:.2} (goal >= 0.90)",
        fwd_s * 1e3,
        fwd / square
    ));
    w(&mut out, format!(
        "encoder fwd+bwd  batch 64 x 32 tokens {:8.1} ms {fwd_bwd:7.1} GFLOP/s  ratio {:.2} (goal >= 0.80)",
        fb_s * 1e3,
        fwd_bwd / square
    ));
    drop(enc);
    let one = encoder(cpu, &config, 1, 20, 10, false)?;
    let weight_bytes = 2.0 * 3.0 * 1024.0 * 1024.0 * 4.0;
    w(&mut out, format!(
        "encoder one sentence, 20 tokens       {:8.2} ms  (each step reads {:.0} MB of recurrent weights: {:.1} GB/s)",
        one.forward_s * 1e3,
        weight_bytes / 1e6,
        20.0 * weight_bytes / one.forward_s / 1e9
    ));
    Ok(out)
}

/// Throughput and latency of encoding with a GenSen-size encoder.
#[derive(Clone, Debug)]
pub struct EncodeTiming {
    pub batch64_sentences_per_s: f64,
    pub single_p50_ms: f64,
    pub single_p99_ms: f64,
    /// One sentence with f16 GRU weights (p50, p99); `None` where the backend has
    /// no such path.
    pub single_f16_ms: Option<(f64, f64)>,
    /// Largest difference of a sentence vector element between f16 and f32 weights.
    pub f16_max_abs_diff: Option<f32>,
}

/// Times encoding: batches of 64 sentences of 20 tokens, and single 20-token sentences
/// with f32 and (where the backend supports it) f16 GRU weights.
pub fn encode<B: Backend>(backend: B, config: &EncoderConfig) -> Result<EncodeTiming> {
    let batch = encoder(backend.clone(), config, 64, 20, 3, false)?;
    let mut rng = Rng::new(3);
    let mut params = Params::new(backend.clone());
    let enc = Encoder::init(&mut params, config.clone(), &mut rng)?;
    let ids: Vec<u32> = (0..20)
        .map(|_| 4 + rng.below(config.vocab - 4) as u32)
        .collect();
    let lens = [20u32];
    let mut tape = Tape::new(backend.clone());
    tape.set_recording(false);
    let one = |params: &Params<B>, tape: &mut Tape<B>| -> Result<Vec<f32>> {
        tape.reset();
        let e = enc.forward(
            tape,
            params,
            SeqInput {
                ids: &ids,
                lens: &lens,
                seq_len: 20,
                batch: 1,
            },
        )?;
        let v = enc.sentence(tape, &e, Pool::Last)?;
        tape.value(v)
    };
    let times = samples(3, 50, || one(&params, &mut tape).map(|_| ()))?;
    let reference = one(&params, &mut tape)?;
    let half = enc.gru_matrices().try_for_each(|id| params.make_half(id));
    let (single_f16_ms, f16_max_abs_diff) = if half.is_ok() {
        let times = samples(3, 50, || one(&params, &mut tape).map(|_| ()))?;
        let out = one(&params, &mut tape)?;
        let diff = out
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        (
            Some((quantile(&times, 0.5) * 1e3, quantile(&times, 0.99) * 1e3)),
            Some(diff),
        )
    } else {
        (None, None)
    };
    Ok(EncodeTiming {
        batch64_sentences_per_s: 64.0 / batch.forward_s,
        single_p50_ms: quantile(&times, 0.5) * 1e3,
        single_p99_ms: quantile(&times, 0.99) * 1e3,
        single_f16_ms,
        f16_max_abs_diff,
    })
}

/// Tokens per second of full GenSen training steps: encoder, two decoders over a shared
/// vocabulary, Adam; batch of `batch` pairs of `seq_len`-token sentences.
pub fn train_step<B: Backend>(
    backend: B,
    vocab: usize,
    batch: usize,
    seq_len: usize,
    reps: usize,
) -> Result<f64> {
    use crate::engine::backend::AdamStep;
    use crate::model::{ModelSpec, MultiTask, TaskBatch, TaskKind, TaskSpec};
    let spec = ModelSpec {
        encoder: gensen_encoder_config(vocab),
        dim_word_trg: 512,
        dropout: 0.3,
        pool: Pool::Last,
        tasks: ["next", "previous"]
            .iter()
            .map(|n| TaskSpec {
                name: n.to_string(),
                kind: TaskKind::Seq2seq { vocab },
            })
            .collect(),
    };
    let mut model = MultiTask::new(backend.clone(), spec, 1)?;
    model.params.enable_training()?;
    let mut rng = Rng::new(4);
    let mut tokens = |n| {
        (0..n)
            .map(|_| 4 + rng.below(vocab - 4) as u32)
            .collect::<Vec<u32>>()
    };
    let (src, trg_in, trg_out) = (
        tokens(batch * seq_len),
        tokens(batch * seq_len),
        tokens(batch * seq_len),
    );
    let lens = vec![seq_len as u32; batch];
    let side = |ids| SeqInput {
        ids,
        lens: &lens,
        seq_len,
        batch,
    };
    let mut tape = Tape::new(backend.clone());
    let mut norm = backend.zeros(1)?;
    let mut step = 0;
    // best_of warms up once; one more untimed step gives the second decoder its Adam
    // state too (as the PyTorch reference's two warm-up steps do), so no timed step pays
    // for first-touch allocation.
    let mut one_step = || -> Result<()> {
        step += 1;
        let task = step % 2;
        tape.reset();
        model.params.zero_grads()?;
        let b = TaskBatch::Seq2seq {
            src: side(&src),
            trg_in: side(&trg_in),
            trg_out: &trg_out,
        };
        let loss = model.loss(&mut tape, task, b, step as u64)?;
        tape.backward(&mut model.params)?;
        model.params.grad_sq_norm(&mut norm)?;
        let hp = AdamStep {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: step as u64,
            max_norm: 1.0,
        };
        model.params.adam_step(&hp, &norm)?;
        tape.loss_value(loss).map(|_| ())
    };
    one_step()?;
    let secs = best_of(reps, one_step)?;
    Ok((2 * batch * seq_len) as f64 / secs)
}
