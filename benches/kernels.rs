//! Kernel benchmarks for the CUDA backend, at GenSen's shapes.
//!
//! For every kernel: the napkin math (bytes that must move, FLOPs that must be done), the
//! time per call measured with CUDA events after a warm-up, the achieved GB/s or TFLOP/s,
//! and the fraction of two ceilings measured in the same run: a large device-to-device copy
//! (memory bandwidth) and a large cuBLAS SGEMM (f32 compute). Memory-bound kernels are
//! judged against the copy, compute-bound ones against the GEMM.
//!
//! Run: `cargo bench --bench kernels` (prints "no CUDA device; skipping" without one).
//! Filter with `cargo bench --bench kernels -- softmax`.

use gensen::engine::backend::{
    AdamStep, Backend, Gemm, GruBackward, GruDims, GruForward, GruWeights, Pool,
};
use gensen::engine::cuda::{cuda_available, Bf16Buf, Cuda, GruForwardBf16};
use gensen::engine::rng::Rng;
use gensen::error::Result;

/// What one benchmark moves and computes, and how long it took.
struct Measured {
    name: String,
    shape: String,
    ms: f64,
    bytes: f64,
    flops: f64,
}

/// Times `iters` calls of `run` between two events, after `warmup` untimed calls.
fn time_ms(
    gpu: &Cuda,
    warmup: usize,
    iters: usize,
    mut run: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warmup {
        run()?;
    }
    gpu.synchronize()?;
    let start = gpu.record_event()?;
    for _ in 0..iters {
        run()?;
    }
    let end = gpu.record_event()?;
    end.synchronize()
        .map_err(|e| gensen::error::Error::Device(e.to_string()))?;
    let ms = start
        .elapsed_ms(&end)
        .map_err(|e| gensen::error::Error::Device(e.to_string()))?;
    Ok(ms as f64 / iters as f64)
}

fn random(gpu: &Cuda, seed: u64, n: usize, lo: f32, hi: f32) -> Result<<Cuda as Backend>::Buf> {
    let mut rng = Rng::new(seed);
    let host: Vec<f32> = (0..n).map(|_| rng.uniform(lo, hi)).collect();
    gpu.from_host(&host)
}

const GIB: f64 = (1u64 << 30) as f64;

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if !cuda_available() {
        println!("no CUDA device; skipping");
        return;
    }
    let gpu = match Cuda::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("no CUDA device ({e}); skipping");
            return;
        }
    };
    if let Err(e) = run_all(&gpu, filter.as_deref()) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn run_all(gpu: &Cuda, filter: Option<&str>) -> Result<()> {
    let device = gpu.device_name().unwrap_or_else(|_| "unknown".into());
    println!("device: {device}, {} SMs", gpu.sm_count());
    let wanted = |name: &str| filter.is_none_or(|f| name.contains(f));
    let mut results: Vec<Measured> = Vec::new();

    // ---- ceilings ----------------------------------------------------------------------
    // Copy: 1 GiB read + 1 GiB written.
    let n_copy = (GIB as usize) / 4;
    let src = gpu.zeros(n_copy)?;
    let mut dst = gpu.zeros(n_copy)?;
    let ms = time_ms(gpu, 2, 10, || gpu.copy(&src, &mut dst, n_copy))?;
    let copy_gbs = 2.0 * GIB / (ms * 1e6);
    results.push(Measured {
        name: "ceiling: d2d copy".into(),
        shape: "1 GiB".into(),
        ms,
        bytes: 2.0 * GIB,
        flops: 0.0,
    });
    drop((src, dst));

    // SGEMM 8192^3: 2 * 8192^3 FLOPs.
    let s = 8192;
    let a = random(gpu, 1, s * s, -1.0, 1.0)?;
    let b = random(gpu, 2, s * s, -1.0, 1.0)?;
    let mut c = gpu.zeros(s * s)?;
    let g = Gemm::new(s, s, s, false, false);
    let ms = time_ms(gpu, 2, 5, || gpu.gemm(&g, &a, &b, &mut c))?;
    let flops = 2.0 * (s as f64).powi(3);
    let gemm_tflops = flops / (ms * 1e9);
    results.push(Measured {
        name: "ceiling: cuBLAS sgemm".into(),
        shape: format!("{s}^3"),
        ms,
        bytes: 0.0,
        flops,
    });
    drop((a, b, c));

    // ---- memory-bound kernels ------------------------------------------------------------
    if wanted("softmax") {
        // A decoder chunk: 2048 target tokens x 32k vocabulary. Bytes: one read and one
        // write of the logits from memory, the least any implementation moves (the second
        // pass should re-read from L2), so "% copy" is the fraction of a plain copy's speed.
        let (rows, vocab) = (2048, 32000);
        let mut logits = random(gpu, 3, rows * vocab, -4.0, 4.0)?;
        let targets = gpu.ids_from_host(
            &(0..rows as u32)
                .map(|i| (i * 7919) % vocab as u32)
                .collect::<Vec<_>>(),
        )?;
        let (mut loss, mut correct) = (gpu.zeros(1)?, gpu.zeros(1)?);
        // The gradient overwrites the logits; timing repeated calls on it measures the same
        // traffic (values stay finite).
        let ms = time_ms(gpu, 3, 20, || {
            gpu.softmax_xent(
                &mut logits,
                &targets,
                0,
                rows,
                vocab,
                1,
                1.0,
                &mut loss,
                &mut correct,
            )
        })?;
        results.push(Measured {
            name: "softmax_xent (v4)".into(),
            shape: format!("{rows} x {vocab}"),
            ms,
            bytes: 2.0 * (rows * vocab * 4) as f64,
            flops: 0.0,
        });
    }

    if wanted("embedding") {
        // One encoder batch: 48 sentences x 50 tokens, 512-d, 80k vocabulary.
        let (n, dim, vocab) = (48 * 50, 512, 80_000);
        let table = random(gpu, 4, vocab * dim, -0.1, 0.1)?;
        let mut rng = Rng::new(5);
        let ids =
            gpu.ids_from_host(&(0..n).map(|_| rng.below(vocab) as u32).collect::<Vec<_>>())?;
        let mut out = gpu.zeros(n * dim)?;
        let ms = time_ms(gpu, 3, 50, || {
            gpu.embedding_forward(&table, &ids, n, dim, &mut out)
        })?;
        results.push(Measured {
            name: "embedding_fwd".into(),
            shape: format!("{n} x {dim}"),
            ms,
            bytes: 2.0 * (n * dim * 4) as f64,
            flops: 0.0,
        });
        let mut dtable = gpu.zeros(vocab * dim)?;
        let ms = time_ms(gpu, 3, 50, || {
            gpu.embedding_backward(&out, &ids, n, dim, 1, &mut dtable)
        })?;
        // dout read once, each touched table row read and written once (ids mostly distinct).
        results.push(Measured {
            name: "embedding_bwd".into(),
            shape: format!("{n} x {dim}"),
            ms,
            bytes: 3.0 * (n * dim * 4) as f64,
            flops: 0.0,
        });
    }

    if wanted("adam") || wanted("norm") {
        // GenSen's parameter count is about 100M with its vocabularies.
        let n = 100_000_000;
        let grad = random(gpu, 6, n, -1e-3, 1e-3)?;
        let mut param = gpu.zeros(n)?;
        let (mut m, mut v) = (gpu.zeros(n)?, gpu.zeros(n)?);
        let mut norm_sq = gpu.zeros(1)?;
        let ms = time_ms(gpu, 3, 20, || gpu.sq_norm(&grad, n, &mut norm_sq))?;
        results.push(Measured {
            name: "sq_norm".into(),
            shape: format!("{n}"),
            ms,
            bytes: (4 * n) as f64,
            flops: 0.0,
        });
        let hp = AdamStep {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 10,
            max_norm: 1.0,
        };
        let ms = time_ms(gpu, 3, 20, || {
            gpu.adam(&mut param, &grad, &mut m, &mut v, n, &hp, &norm_sq)
        })?;
        // Reads param, grad, m, v; writes param, m, v.
        results.push(Measured {
            name: "adam".into(),
            shape: format!("{n}"),
            ms,
            bytes: (7 * 4 * n) as f64,
            flops: 0.0,
        });
    }

    if wanted("dropout") || wanted("elementwise") {
        let n = 48 * 8192 * 64;
        let x = random(gpu, 7, n, -1.0, 1.0)?;
        let mut y = gpu.zeros(n)?;
        let ms = time_ms(gpu, 3, 20, || gpu.dropout_forward(&x, &mut y, n, 0.3, 11))?;
        results.push(Measured {
            name: "dropout_fwd".into(),
            shape: format!("{n}"),
            ms,
            bytes: (8 * n) as f64,
            flops: 0.0,
        });
        let ms = time_ms(gpu, 3, 20, || gpu.axpy(0.5, &x, &mut y, n))?;
        results.push(Measured {
            name: "axpy".into(),
            shape: format!("{n}"),
            ms,
            bytes: (12 * n) as f64,
            flops: 0.0,
        });
    }

    if wanted("pool") {
        let dims = GruDims {
            seq_len: 50,
            batch: 48,
            hidden: 1024,
            dirs: 2,
        };
        let width = dims.dirs * dims.hidden;
        let h = random(gpu, 8, dims.seq_len * dims.batch * width, -1.0, 1.0)?;
        let lens = gpu.ids_from_host(&vec![dims.seq_len as u32; dims.batch])?;
        let mut out = gpu.zeros(dims.batch * width)?;
        let mut argmax = gpu.ids_from_host(&vec![0; dims.batch * width])?;
        let ms = time_ms(gpu, 3, 50, || {
            gpu.pool_forward(Pool::Max, &h, &lens, dims, &mut out, &mut argmax)
        })?;
        results.push(Measured {
            name: "pool_max_fwd".into(),
            shape: "50 x 48 x 2048".into(),
            ms,
            bytes: ((dims.seq_len + 2) * dims.batch * width * 4) as f64,
            flops: 0.0,
        });
    }

    // ---- recurrent layers ----------------------------------------------------------------
    if wanted("gru") {
        // The GenSen encoder layer: 48 x 50 tokens, 1024 units per direction, both ways.
        let dims = GruDims {
            seq_len: 50,
            batch: 48,
            hidden: 1024,
            dirs: 2,
        };
        let (t, b, h, d) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        let w: Vec<_> = (0..d)
            .map(|i| random(gpu, 20 + i as u64, 3 * h * h, -0.03, 0.03))
            .collect::<Result<_>>()?;
        let bias: Vec<_> = (0..d)
            .map(|i| random(gpu, 30 + i as u64, 3 * h, -0.03, 0.03))
            .collect::<Result<_>>()?;
        let weights: Vec<GruWeights<'_, Cuda>> = (0..d)
            .map(|i| GruWeights {
                w_hh: &w[i],
                b_hh: &bias[i],
                w_hh_half: None,
            })
            .collect();
        let xproj = random(gpu, 40, d * t * b * 3 * h, -1.0, 1.0)?;
        let mut out = gpu.zeros(t * b * d * h)?;
        let mut saved = gpu.zeros(d * t * b * 4 * h)?;
        let recurrent_flops = (2 * t * b * 3 * h * h * d) as f64;
        let ms = time_ms(gpu, 2, 10, || {
            gpu.gru_forward(GruForward {
                dims,
                weights: &weights,
                xproj: &xproj,
                extra: None,
                h0: None,
                lens: None,
                out: &mut out,
                saved: Some(&mut saved),
            })
        })?;
        results.push(Measured {
            name: "gru_forward (step loop)".into(),
            shape: "T50 B48 H1024 D2".into(),
            ms,
            bytes: 0.0,
            flops: recurrent_flops,
        });

        // The same layer with bf16 recurrent weights and state (fp32 accumulation).
        let w16: Vec<Bf16Buf> = w
            .iter()
            .map(|x| gpu.to_bf16(x, 3 * h * h))
            .collect::<Result<_>>()?;
        let w16_refs: Vec<&Bf16Buf> = w16.iter().collect();
        let bias_refs: Vec<_> = bias.iter().collect();
        let mut out16 = gpu.zeros(t * b * d * h)?;
        let ms = time_ms(gpu, 2, 10, || {
            gpu.gru_forward_bf16(GruForwardBf16 {
                dims,
                w_hh: &w16_refs,
                b_hh: &bias_refs,
                xproj: &xproj,
                extra: None,
                h0: None,
                lens: None,
                out: &mut out16,
            })
        })?;
        results.push(Measured {
            name: "gru_forward (bf16 step loop)".into(),
            shape: "T50 B48 H1024 D2".into(),
            ms,
            bytes: 0.0,
            flops: recurrent_flops,
        });

        let dout = random(gpu, 41, t * b * d * h, -1.0, 1.0)?;
        let mut dxproj = gpu.zeros(d * t * b * 3 * h)?;
        let mut work = gpu.zeros(d * t * b * 3 * h)?;
        let mut dw: Vec<_> = (0..d)
            .map(|_| gpu.zeros(3 * h * h))
            .collect::<Result<_>>()?;
        let mut db: Vec<_> = (0..d).map(|_| gpu.zeros(3 * h)).collect::<Result<_>>()?;
        let ms = time_ms(gpu, 2, 10, || {
            let mut dw_refs: Vec<&mut _> = dw.iter_mut().collect();
            let mut db_refs: Vec<&mut _> = db.iter_mut().collect();
            gpu.gru_backward(GruBackward {
                dims,
                weights: &weights,
                h0: None,
                lens: None,
                out: &out,
                saved: &saved,
                dout: &dout,
                dxproj: &mut dxproj,
                work: &mut work,
                dw_hh: &mut dw_refs,
                db_hh: &mut db_refs,
                dh0: None,
                dextra: None,
            })
        })?;
        // The recurrent data gradient and the weight gradient: twice the forward's GEMMs.
        results.push(Measured {
            name: "gru_backward (step loop)".into(),
            shape: "T50 B48 H1024 D2".into(),
            ms,
            bytes: 0.0,
            flops: 2.0 * recurrent_flops,
        });

        // One 20-token sentence: the low-latency path against the step loop.
        let one = GruDims {
            seq_len: 20,
            batch: 1,
            hidden: 1024,
            dirs: 2,
        };
        let xproj1 = random(gpu, 42, d * 20 * 3 * h, -1.0, 1.0)?;
        let mut out1 = gpu.zeros(20 * d * h)?;
        let flops1 = (2 * 20 * 3 * h * h * d) as f64;
        let mut run_one = |persistent: bool| {
            let args = GruForward {
                dims: one,
                weights: &weights,
                xproj: &xproj1,
                extra: None,
                h0: None,
                lens: None,
                out: &mut out1,
                saved: None,
            };
            if persistent {
                gpu.gru_forward_persistent(args)
            } else {
                gpu.gru_forward(args)
            }
        };
        let ms = time_ms(gpu, 3, 50, || run_one(false))?;
        // Bytes: the recurrent weights are re-read from memory every step.
        results.push(Measured {
            name: "gru_forward 1 sentence (step loop)".into(),
            shape: "T20 B1 H1024 D2".into(),
            ms,
            bytes: (20 * d * 3 * h * h * 4) as f64,
            flops: flops1,
        });
        match time_ms(gpu, 3, 50, || run_one(true)) {
            Ok(ms) => results.push(Measured {
                name: "gru_forward 1 sentence (persistent bf16)".into(),
                shape: "T20 B1 H1024 D2".into(),
                ms,
                bytes: (d * 3 * h * h * 2) as f64,
                flops: flops1,
            }),
            Err(e) => println!("gru persistent: not run ({e})"),
        }
    }

    // ---- report ---------------------------------------------------------------------------
    println!(
        "{:<42} {:>18} {:>10} {:>9} {:>9} {:>8} {:>8}",
        "kernel", "shape", "ms", "GB/s", "TFLOP/s", "%copy", "%sgemm"
    );
    for r in &results {
        let gbs = r.bytes / (r.ms * 1e6);
        let tflops = r.flops / (r.ms * 1e9);
        let pct = |x: f64, ceiling: f64| {
            if x > 0.0 {
                format!("{:.0}%", 100.0 * x / ceiling)
            } else {
                "-".into()
            }
        };
        println!(
            "{:<42} {:>18} {:>10.4} {:>9.1} {:>9.2} {:>8} {:>8}",
            r.name,
            r.shape,
            r.ms,
            gbs,
            tflops,
            pct(gbs, copy_gbs),
            pct(tflops, gemm_tflops)
        );
    }
    // Machine-readable copy for scripts/gpu-check.sh.
    if let Some(path) = std::env::var_os("BENCH_TSV") {
        let mut tsv = String::from("kernel\tms\tgbs\ttflops\n");
        for r in &results {
            let (gbs, tflops) = (r.bytes / (r.ms * 1e6), r.flops / (r.ms * 1e9));
            tsv.push_str(&format!(
                "{}\t{:.5}\t{:.1}\t{:.3}\n",
                r.name, r.ms, gbs, tflops
            ));
        }
        std::fs::write(&path, tsv).map_err(|e| gensen::error::Error::io(path, e))?;
    }
    Ok(())
}
