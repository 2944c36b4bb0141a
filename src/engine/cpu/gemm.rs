//! Row-major GEMM on top of the `gemm` crate, which takes arbitrary row and column strides
//! and so handles transposed operands and sub-matrices without copies.

use gemm::Parallelism;

use super::{as_f32, as_f32_mut, packed, Float, Scratch};
use crate::engine::backend::Gemm;
use crate::error::{Error, Result};

/// Below this many multiply-adds a GEMM runs on one thread: spawning costs more.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The last element (exclusive) an operand stored `(rows, cols)` with leading dimension
/// `ld` reaches from `off`.
fn extent(off: usize, rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        off
    } else {
        off + (rows - 1) * ld + cols
    }
}

/// `C = alpha * op(A) op(B) + beta * C` as described by `g`. `scratch` lends the side
/// buffer of a product over a few rows split over threads.
pub fn run<F: Float>(
    g: &Gemm,
    a: &[F],
    b: &[F],
    c: &mut [F],
    threads: usize,
    scratch: &Scratch,
) -> Result<()> {
    let (a_rows, a_cols) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
    let (b_rows, b_cols) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
    let fits = a_cols <= g.lda.max(1)
        && b_cols <= g.ldb.max(1)
        && g.n <= g.ldc.max(1)
        && extent(g.a_off, a_rows, a_cols, g.lda) <= a.len()
        && extent(g.b_off, b_rows, b_cols, g.ldb) <= b.len()
        && extent(g.c_off, g.m, g.n, g.ldc) <= c.len();
    if !fits {
        return Err(Error::shape(
            "gemm",
            format!("operands covering {g:?}"),
            format!("buffers of {}, {}, {} elements", a.len(), b.len(), c.len()),
        ));
    }
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    if g.k == 0 {
        // An empty sum: C = beta * C.
        for row in 0..g.m {
            let start = g.c_off + row * g.ldc;
            for v in &mut c[start..start + g.n] {
                *v = if g.beta == 0.0 {
                    F::ZERO
                } else {
                    *v * F::from_f32(g.beta)
                };
            }
        }
        return Ok(());
    }

    if let Some((a, w, c)) = few_rows_f32(g, a, b, c) {
        let (m, n, k, lda, ldc) = (g.m, g.n, g.k, g.lda, g.ldc);
        let product = |cols: std::ops::Range<usize>, out: &mut [f32], ld: usize| {
            let w = &w[cols.start * k..];
            packed::gemm_nt_rows(a, m, lda, w, cols.len(), k, out, ld)
        };
        if threads > 1 && m * n * k >= PARALLEL_MIN_MACS {
            let mut high = scratch.take(m * (n - n / 2));
            packed::split_columns(m, n, n / 2, c, ldc, &mut high, product);
            scratch.give(high);
        } else {
            product(0..n, c, ldc);
        }
        return Ok(());
    }

    // Element (i, p) of op(A) sits at i * rs + p * cs.
    let (a_rs, a_cs) = if g.trans_a { (1, g.lda) } else { (g.lda, 1) };
    let (b_rs, b_cs) = if g.trans_b { (1, g.ldb) } else { (g.ldb, 1) };
    let parallelism = if threads > 1 && g.m * g.n * g.k >= PARALLEL_MIN_MACS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };

    // SAFETY: the extents checked above keep every strided access of A, B and C inside
    // their slices; C is borrowed mutably, so it cannot alias A or B.
    unsafe {
        gemm::gemm(
            g.m,
            g.n,
            g.k,
            c.as_mut_ptr().add(g.c_off),
            1,
            g.ldc as isize,
            g.beta != 0.0,
            a.as_ptr().add(g.a_off),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr().add(g.b_off),
            b_cs as isize,
            b_rs as isize,
            F::from_f32(g.beta),
            F::from_f32(g.alpha),
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// Rows of A up to which a linear layer's product (`A W^T`, W stored (n, k)) streams W in
/// place ([`packed::gemm_nt_rows`]) instead of going through the `gemm` crate, whose
/// packing of W costs more than the arithmetic for so few rows. Measured on (m, 3072, 512),
/// one thread, in ms: m = 28: 1.4 against 4.0; m = 48: 2.2 against 4.5; m = 128: 6.6
/// against 7.1, where two threads of the crate (3.5) win over one of this kernel.
const FEW_ROWS: usize = 48;

/// The operands of `g` as f32 slices starting at their offsets, when `g` is a plain
/// `C = A W^T` in f32 with at most [`FEW_ROWS`] rows and W's rows contiguous. The offsets
/// were checked against the lengths by the caller.
fn few_rows_f32<'a, F: Float>(
    g: &Gemm,
    a: &'a [F],
    b: &'a [F],
    c: &'a mut [F],
) -> Option<(&'a [f32], &'a [f32], &'a mut [f32])> {
    let plain = !g.trans_a && g.trans_b && g.alpha == 1.0 && g.beta == 0.0 && g.ldb == g.k;
    if !plain || g.m > FEW_ROWS {
        return None;
    }
    Some((
        as_f32(&a[g.a_off..])?,
        as_f32(&b[g.b_off..])?,
        as_f32_mut(&mut c[g.c_off..])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward triple loop on the same strided conventions.
    fn naive(g: &Gemm, a: &[f64], b: &[f64], c: &mut [f64]) {
        for i in 0..g.m {
            for j in 0..g.n {
                let mut acc = 0.0;
                for p in 0..g.k {
                    let av = if g.trans_a {
                        a[g.a_off + p * g.lda + i]
                    } else {
                        a[g.a_off + i * g.lda + p]
                    };
                    let bv = if g.trans_b {
                        b[g.b_off + j * g.ldb + p]
                    } else {
                        b[g.b_off + p * g.ldb + j]
                    };
                    acc += av * bv;
                }
                let cv = &mut c[g.c_off + i * g.ldc + j];
                *cv = g.alpha as f64 * acc + g.beta as f64 * *cv;
            }
        }
    }

    #[test]
    fn matches_naive_for_every_transpose_and_offset() {
        let mut rng = crate::engine::rng::Rng::new(1);
        for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (7, 5, 9);
            let mut g = Gemm::new(m, n, k, ta, tb);
            g.lda += 2;
            g.ldb += 3;
            g.ldc += 1;
            g.a_off = 4;
            g.b_off = 1;
            g.c_off = 2;
            g.alpha = 0.5;
            g.beta = 1.5;
            let len = 200;
            let a: Vec<f64> = (0..len).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
            let b: Vec<f64> = (0..len).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
            let c0: Vec<f64> = (0..len).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
            let mut want = c0.clone();
            naive(&g, &a, &b, &mut want);
            let mut got = c0.clone();
            run(&g, &a, &b, &mut got, 2, &Scratch::default()).unwrap();
            for (w, x) in want.iter().zip(&got) {
                assert!((w - x).abs() < 1e-12, "trans ({ta}, {tb}): {w} vs {x}");
            }
        }
    }

    /// Linear layers over a few rows in f32 stream W in place, on one thread or split
    /// over two (one row split in place, several through a side block): the results,
    /// with offsets and padded leading dimensions, equal the triple loop.
    #[test]
    fn few_row_products_match_naive_on_one_and_two_threads() {
        let mut rng = crate::engine::rng::Rng::new(2);
        // (m, n, k): 20 x 2100 x 40 is past the two-thread threshold; 49 rows go through
        // the `gemm` crate.
        for &(m, n, k) in &[
            (1, 2100, 500),
            (5, 70, 33),
            (20, 2100, 40),
            (48, 30, 17),
            (49, 30, 17),
        ] {
            let mut g = Gemm::new(m, n, k, false, true);
            g.lda += 3;
            g.ldc += 2;
            g.a_off = 5;
            g.b_off = 7;
            g.c_off = 1;
            let a: Vec<f32> = (0..g.a_off + m * g.lda)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let b: Vec<f32> = (0..g.b_off + n * k)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let c0: Vec<f32> = (0..g.c_off + m * g.ldc)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            let mut want = widen(&c0);
            naive(&g, &widen(&a), &widen(&b), &mut want);
            for threads in [1, 2] {
                let mut got = c0.clone();
                run(&g, &a, &b, &mut got, threads, &Scratch::default()).unwrap();
                for (i, (w, x)) in want.iter().zip(&got).enumerate() {
                    assert!(
                        (w - *x as f64).abs() < 1e-4,
                        "({m}, {n}, {k}) on {threads} threads, element {i}: {w} vs {x}"
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_bounds_operands_are_a_shape_error() {
        let g = Gemm::new(4, 4, 4, false, false);
        let err = run(
            &g,
            &[0.0f32; 15],
            &[0.0; 16],
            &mut [0.0; 16],
            1,
            &Scratch::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gemm"), "{err}");
    }
}
