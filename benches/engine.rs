//! Engine speed on GenSen's encoder size, against the GEMM rate measured in the same run.
//!
//! Napkin math (batch 64, 32 tokens, embedding 512, 1024 units per direction, both
//! directions): input projections 2 x 2*2048*512*3072 = 12.9 GFLOP, recurrent steps
//! 2 x 32 x 2*64*1024*3072 = 25.8 GFLOP, so 38.7 GFLOP forward; backward adds about twice
//! that. On a 2-core AVX2 machine whose f32 GEMM peaks near 100-170 GFLOP/s, the forward
//! pass cannot take less than ~0.25 s. One sentence of 20 tokens is memory-bound: each
//! step reads both directions' recurrent weights (2 x 12.6 MB, f32) once: 20 x 25 MB =
//! 0.5 GB, about 25 ms at 20 GB/s from DRAM, less while the weights stay in a 32 MB L3.
//!
//! Run: `cargo bench --bench engine` (GENSEN_BENCH_THREADS to change the thread count).

use gensen::bench;
use gensen::engine::cpu::Cpu;

fn main() -> gensen::Result<()> {
    let threads: usize = std::env::var("GENSEN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("threads: {threads}");

    // The reference ceiling: a large square GEMM on the same backend and threads.
    let square = bench::gemm_gflops(threads, 1536, 1536, 1536, 5)?;
    println!("gemm 1536^3 (reference)               {square:7.1} GFLOP/s");
    for (what, m, n, k) in [
        ("recurrent step 64x3072x1024", 64, 3072, 1024),
        ("input projection 2048x3072x512", 2048, 3072, 512),
        ("vocabulary 1536x20000x2048", 1536, 20000, 2048),
    ] {
        let rate = bench::gemm_gflops(threads, m, n, k, 3)?;
        println!(
            "gemm {what:34} {rate:7.1} GFLOP/s  ({:.2} of reference)",
            rate / square
        );
    }

    let config = bench::gensen_encoder_config(20000);
    let cpu = Cpu::<f32>::new(threads);
    let t = bench::encoder(cpu.clone(), &config, 64, 32, 3, true)?;
    let fwd = t.forward_flops / t.forward_s / 1e9;
    let fwd_bwd = 3.0 * t.forward_flops / t.forward_backward_s / 1e9;
    println!(
        "encoder forward  64x32       {:8.1} ms {fwd:7.1} GFLOP/s  ratio {:.2} (goal >= 0.90)",
        t.forward_s * 1e3,
        fwd / square
    );
    println!(
        "encoder fwd+bwd  64x32       {:8.1} ms {fwd_bwd:7.1} GFLOP/s  ratio {:.2} (goal >= 0.80)",
        t.forward_backward_s * 1e3,
        fwd_bwd / square
    );
    let one = bench::encoder(cpu, &config, 1, 20, 10, false)?;
    let weight_bytes = 2.0 * 3.0 * 1024.0 * 1024.0 * 4.0;
    println!(
        "encoder one sentence, 20 tokens {:6.2} ms  (reads {:.0} MB of recurrent weights per step: {:.1} GB/s)",
        one.forward_s * 1e3,
        weight_bytes / 1e6,
        20.0 * weight_bytes / one.forward_s / 1e9
    );
    Ok(())
}
