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

/// GFLOP/s of the CPU backend's GEMM on (m, n, k), `B` transposed as in a linear layer.
pub fn gemm_gflops(threads: usize, m: usize, n: usize, k: usize, reps: usize) -> Result<f64> {
    let cpu = Cpu::<f32>::new(threads);
    let mut rng = Rng::new(1);
    let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut c = vec![0.0f32; m * n];
    let g = Gemm::new(m, n, k, false, true);
    let secs = best_of(reps, || cpu.gemm(&g, &a, &b, &mut c))?;
    Ok(2.0 * (m * n * k) as f64 / secs / 1e9)
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

/// Times the encoder's forward pass (no recording) and forward plus backward on random
/// tokens of full length.
pub fn encoder<B: Backend>(
    backend: B,
    config: &EncoderConfig,
    batch: usize,
    seq_len: usize,
    reps: usize,
    with_backward: bool,
) -> Result<EncoderTiming> {
    let mut rng = Rng::new(2);
    let mut params = Params::new(backend.clone());
    let encoder = Encoder::init(&mut params, config.clone(), &mut rng)?;
    params.enable_training()?;
    let ids: Vec<u32> = (0..batch * seq_len)
        .map(|_| 4 + rng.below(config.vocab - 4) as u32)
        .collect();
    let lens = vec![seq_len as u32; batch];
    let input = SeqInput {
        ids: &ids,
        lens: &lens,
        seq_len,
        batch,
    };
    let mut tape = Tape::new(backend.clone());

    tape.set_recording(false);
    let forward_s = best_of(reps, || {
        tape.reset();
        let enc = encoder.forward(&mut tape, &params, input)?;
        encoder.sentence(&mut tape, &enc, Pool::Last)?;
        backend.synchronize()
    })?;

    let forward_backward_s = if with_backward {
        tape.set_recording(true);
        let seed = vec![1e-3f32; batch * config.dim()];
        best_of(reps, || {
            tape.reset();
            params.zero_grads()?;
            let enc = encoder.forward(&mut tape, &params, input)?;
            let v = encoder.sentence(&mut tape, &enc, Pool::Last)?;
            tape.add_grad(v, &seed)?;
            tape.backward(&mut params)?;
            backend.synchronize()
        })?
    } else {
        f64::NAN
    };
    Ok(EncoderTiming {
        forward_s,
        forward_backward_s,
        forward_flops: encoder_forward_flops(config, batch, seq_len),
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
