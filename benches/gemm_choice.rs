//! The measurement behind the CPU backend's GEMM crate: `gemm` against `matrixmultiply` on
//! GenSen's shapes, f32, 1 and 2 threads, best of 5 (GFLOP/s = 2 m n k / seconds).
//!
//! Run: `cargo bench --bench gemm_choice`. matrixmultiply reads its thread count from
//! MATMUL_NUM_THREADS once per process, so each thread count runs in its own process:
//! this program re-executes itself.

use std::time::Instant;

fn best<F: FnMut()>(mut f: F) -> f64 {
    f();
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let threads: usize = std::env::var("GEMM_CHOICE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if threads == 0 {
        // Parent: run once per thread count, each in a fresh process.
        for t in [1, 2] {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .env("GEMM_CHOICE_THREADS", t.to_string())
                .env("MATMUL_NUM_THREADS", t.to_string())
                .status()
                .expect("re-run");
            assert!(status.success());
        }
        return;
    }
    let shapes = [
        ("square 1024^3", 1024, 1024, 1024),
        ("recurrent step 64x3072x1024", 64, 3072, 1024),
        ("input projection 2048x3072x512", 2048, 3072, 512),
        ("vocabulary 1536x20000x2048", 1536, 20000, 2048),
    ];
    for (name, m, n, k) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64 / 1e9;
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        let g = best(|| unsafe {
            // SAFETY: a (m, k), b (k, n) and c (m, n) are dense row-major buffers of those
            // sizes.
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            );
        });
        let mm = best(|| unsafe {
            // SAFETY: as above.
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        });
        println!(
            "{threads} thread(s) | {name:32} | gemm {:6.1} GFLOP/s | matrixmultiply {:6.1} GFLOP/s",
            flops / g,
            flops / mm
        );
    }
}
