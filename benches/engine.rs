//! Engine speed on GenSen's encoder size, against the GEMM rate measured in the same run.
//!
//! Napkin math (batch 64, 32 tokens, embedding 512, 1024 units per direction, both
//! directions): input projections 2 x 2*2048*512*3072 = 12.9 GFLOP, recurrent steps
//! 2 x 32 x 2*64*1024*3072 = 25.8 GFLOP, so 38.7 GFLOP forward; backward adds about twice
//! that. On a 2-core AVX2 machine whose f32 GEMM reaches 100-170 GFLOP/s, the forward pass
//! cannot take less than ~0.25 s. One sentence of 20 tokens is memory-bound: each step
//! reads both directions' recurrent weights (2 x 12.6 MB in f32), 0.5 GB in all, which
//! stays in a 32 MB L3 at best.
//!
//! Run: `cargo bench --bench engine` (GENSEN_BENCH_THREADS sets the thread count), or
//! `gensen bench engine`.

fn main() -> gensen::Result<()> {
    let threads: usize = std::env::var("GENSEN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    print!("{}", gensen::bench::engine_report(threads)?);
    Ok(())
}
