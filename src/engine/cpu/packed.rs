//! A GEMM for the GRU's per-step products, with the weight operand packed once per layer
//! call instead of once per step.
//!
//! Every step multiplies a small state (B, H) by the same recurrent weights. A general GEMM
//! repacks the 12.6 MB weight matrix into its panel layout on each of the T calls; here it
//! is packed once into panels of 16 columns, k-major, and a 6 x 16 AVX2/FMA micro-kernel
//! (twelve 8-wide accumulators, two weight loads and six broadcasts per k) streams through
//! them. The state rows are read in place (six sequential streams). Without AVX2 and FMA
//! the same layout runs through a portable loop.

use super::Float;
#[cfg(target_arch = "x86_64")]
use super::{as_f32, as_f32_mut};

/// Columns per packed panel (two AVX registers).
const NR: usize = 16;
/// Rows per micro-kernel call.
const MR: usize = 6;

/// `op(B)` (k, n) packed into `ceil(n / 16)` panels of (k, 16), zero-padded.
pub struct PackedB {
    pub k: usize,
    pub n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Values the packed (k, n) operand occupies: whole panels, zero-padded.
    pub fn len(k: usize, n: usize) -> usize {
        n.div_ceil(NR) * k * NR
    }

    /// Packs `op(B)` where `B` is stored row-major as (n, k) when `transposed`, else (k, n).
    pub fn new<F: Float>(b: &[F], k: usize, n: usize, transposed: bool) -> Self {
        Self::new_in(Vec::new(), b, k, n, transposed)
    }

    /// As [`PackedB::new`], reusing the allocation of `data` (a fresh allocation of this
    /// size costs a page fault per 4 KB on first touch).
    pub fn new_in<F: Float>(
        mut data: Vec<f32>,
        b: &[F],
        k: usize,
        n: usize,
        transposed: bool,
    ) -> Self {
        let panels = n.div_ceil(NR);
        // Every value is overwritten below, so a reused buffer is not cleared first (a
        // 12.6 MB fill costs as much as the packing itself); only a partial last panel
        // needs its padding zeroed.
        let len = Self::len(k, n);
        data.truncate(len);
        data.resize(len, 0.0);
        for p in 0..panels {
            let panel = &mut data[p * k * NR..(p + 1) * k * NR];
            let cols = NR.min(n - p * NR);
            if cols < NR {
                panel.fill(0.0);
            }
            if transposed {
                // Column j of the panel is row p*16+j of B. Tiles of 16 x 16 go through a
                // small transpose on the stack: sixteen short sequential reads, then one
                // contiguous 1 KB write, instead of scattered single-value stores.
                for k0 in (0..k).step_by(NR) {
                    let kb = NR.min(k - k0);
                    let mut tile = [[0.0f32; NR]; NR]; // tile[kk][j]
                    for j in 0..cols {
                        let row = &b[(p * NR + j) * k + k0..(p * NR + j) * k + k0 + kb];
                        for (kk, &v) in row.iter().enumerate() {
                            tile[kk][j] = v.to_f32();
                        }
                    }
                    for (kk, t) in tile.iter().take(kb).enumerate() {
                        panel[(k0 + kk) * NR..(k0 + kk + 1) * NR].copy_from_slice(t);
                    }
                }
            } else {
                // Each k gives one contiguous row segment of B.
                for kk in 0..k {
                    let src = &b[kk * n + p * NR..kk * n + p * NR + cols];
                    for (d, &v) in panel[kk * NR..kk * NR + cols].iter_mut().zip(src) {
                        *d = v.to_f32();
                    }
                }
            }
        }
        PackedB { k, n, data }
    }

    /// The storage, for reuse by [`PackedB::new_in`].
    pub fn into_buf(self) -> Vec<f32> {
        self.data
    }
}

/// A pointer to C shared by threads that write disjoint column ranges of it.
#[derive(Clone, Copy)]
struct SharedC<F>(*mut F, usize);
// SAFETY: each thread writes only the columns of its own panels (see `gemm`).
unsafe impl<F> Send for SharedC<F> {}
unsafe impl<F> Sync for SharedC<F> {}

/// Below this many multiply-adds the product stays on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 22;

/// `C (m, n) = A (m, k) op(B)`, or `C += …` when `accumulate`; A and C row-major with row
/// strides `lda` and `ldc`. Large products split their column panels over `threads`.
#[allow(clippy::too_many_arguments)]
pub fn gemm<F: Float>(
    a: &[F],
    m: usize,
    lda: usize,
    b: &PackedB,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    let k = b.k;
    assert!(m == 0 || (a.len() >= (m - 1) * lda + k && c.len() >= (m - 1) * ldc + b.n));
    let panels = b.n.div_ceil(NR);
    let parts = threads.min(panels).max(1);
    if parts == 1 || m * b.n * k < PARALLEL_MIN_MACS {
        return gemm_panels(a, m, lda, b, 0..panels, c, ldc, accumulate);
    }
    let shared = SharedC(c.as_mut_ptr(), c.len());
    let per = panels.div_ceil(parts);
    std::thread::scope(|scope| {
        for t in 0..parts {
            let range = t * per..((t + 1) * per).min(panels);
            scope.spawn(move || {
                let shared = shared;
                // SAFETY: the threads' panel ranges are disjoint, so no element of C is
                // written by two threads; the length is C's own.
                let c = unsafe { std::slice::from_raw_parts_mut(shared.0, shared.1) };
                gemm_panels(a, m, lda, b, range, c, ldc, accumulate);
            });
        }
    });
}

/// The product restricted to the column panels in `panels`.
#[allow(clippy::too_many_arguments)]
fn gemm_panels<F: Float>(
    a: &[F],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    // The vector kernel works on f32 only; f64 (gradient checks) takes the portable path.
    #[cfg(target_arch = "x86_64")]
    if let (true, Some(a32), Some(c32)) = (super::has_avx2_fma(), as_f32(a), as_f32_mut(c)) {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F (and AVX2/FMA) were detected at run time; bounds were
            // asserted by the caller.
            unsafe { gemm_avx512(a32, m, lda, b, panels, c32, ldc, accumulate) };
            return;
        }
        // SAFETY: AVX2 and FMA were detected at run time; bounds were asserted above.
        unsafe { gemm_avx2(a32, m, lda, b, panels, c32, ldc, accumulate) };
        return;
    }
    gemm_portable(a, m, lda, b, panels, c, ldc, accumulate);
}

#[allow(clippy::too_many_arguments)]
fn gemm_portable<F: Float>(
    a: &[F],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    let k = b.k;
    for p in panels {
        let panel = &b.data[p * k * NR..(p + 1) * k * NR];
        let cols = NR.min(b.n - p * NR);
        for i in 0..m {
            let mut acc = [F::ZERO; NR];
            let row = &a[i * lda..i * lda + k];
            for (kk, &av) in row.iter().enumerate() {
                let bp = &panel[kk * NR..(kk + 1) * NR];
                for j in 0..NR {
                    acc[j] += av * F::from_f32(bp[j]);
                }
            }
            let out = &mut c[i * ldc + p * NR..i * ldc + p * NR + cols];
            for j in 0..cols {
                out[j] = if accumulate { out[j] + acc[j] } else { acc[j] };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx2(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let k = b.k;
    for p in panels {
        let panel = b.data.as_ptr().add(p * k * NR);
        let cols = NR.min(b.n - p * NR);
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            // Rows past the end repeat the last real row; their results are not stored.
            let mut row_ptr = [a.as_ptr(); MR];
            for (r, ptr) in row_ptr.iter_mut().enumerate() {
                *ptr = a.as_ptr().add((i0 + r.min(rows - 1)) * lda);
            }
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for kk in 0..k {
                let b0 = _mm256_loadu_ps(panel.add(kk * NR));
                let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
                for r in 0..MR {
                    let av = _mm256_broadcast_ss(&*row_ptr[r].add(kk));
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                let mut tmp = [0.0f32; NR];
                _mm256_storeu_ps(tmp.as_mut_ptr(), acc_r[0]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc_r[1]);
                let out = &mut c[(i0 + r) * ldc + p * NR..(i0 + r) * ldc + p * NR + cols];
                for (o, &v) in out.iter_mut().zip(&tmp) {
                    *o = if accumulate { *o + v } else { v };
                }
            }
            i0 += rows;
        }
    }
}

/// Rows per AVX-512 micro-kernel call: 8 rows x 32 columns is sixteen 16-wide
/// accumulators, two weight loads and eight broadcasts per k, within 32 registers.
const MR512: usize = 8;

/// The AVX-512 form of [`gemm_avx2`]: two adjacent 16-column panels per call, one 16-wide
/// load from each per k, so the packed layout is the same. A trailing odd panel goes
/// through the AVX2 kernel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx512(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let k = b.k;
    let mut p = panels.start;
    while p + 2 <= panels.end {
        let panel0 = b.data.as_ptr().add(p * k * NR);
        let panel1 = b.data.as_ptr().add((p + 1) * k * NR);
        let cols = (2 * NR).min(b.n - p * NR);
        let mut i0 = 0;
        while i0 < m {
            let rows = MR512.min(m - i0);
            // Rows past the end repeat the last real row; their results are not stored.
            let mut row_ptr = [a.as_ptr(); MR512];
            for (r, ptr) in row_ptr.iter_mut().enumerate() {
                *ptr = a.as_ptr().add((i0 + r.min(rows - 1)) * lda);
            }
            let mut acc = [[_mm512_setzero_ps(); 2]; MR512];
            for kk in 0..k {
                let b0 = _mm512_loadu_ps(panel0.add(kk * NR));
                let b1 = _mm512_loadu_ps(panel1.add(kk * NR));
                for r in 0..MR512 {
                    let av = _mm512_set1_ps(*row_ptr[r].add(kk));
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            // Masked stores write the `cols` real columns straight into C.
            let mask = |lo: usize| -> __mmask16 {
                let n = cols.saturating_sub(lo).min(NR);
                ((1u32 << n) - 1) as __mmask16
            };
            let (m0, m1) = (mask(0), mask(NR));
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                let out = &mut c[(i0 + r) * ldc + p * NR..(i0 + r) * ldc + p * NR + cols];
                // With `cols <= 16` the second half is masked off entirely and its address
                // (past the slice) is never dereferenced.
                let (o0, o1) = (out.as_mut_ptr(), out.as_mut_ptr().wrapping_add(NR));
                let (mut v0, mut v1) = (acc_r[0], acc_r[1]);
                if accumulate {
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, o0));
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, o1));
                }
                _mm512_mask_storeu_ps(o0, m0, v0);
                _mm512_mask_storeu_ps(o1, m1, v1);
            }
            i0 += rows;
        }
        p += 2;
    }
    if p < panels.end {
        gemm_avx2(a, m, lda, b, p..panels.end, c, ldc, accumulate);
    }
}

/// Rows of A handled by [`gemm_nt_small`] at once.
pub const SMALL_M: usize = 4;

/// `C (m, n) = A (m, k) W^T` for W stored row-major (n, k) and m <= [`SMALL_M`], without
/// packing: each output is a dot product of a contiguous weight row with the state rows, so
/// the weights stream once from memory. This is the latency path of single sentences.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt_small(
    a: &[f32],
    m: usize,
    lda: usize,
    w: &[f32],
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    assert!(m <= SMALL_M && w.len() >= n * k);
    assert!(m == 0 || (a.len() >= (m - 1) * lda + k && c.len() >= (m - 1) * ldc + n));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected at run time; bounds were asserted above.
        unsafe { gemm_nt_small_avx2(a, m, lda, w, n, k, c, ldc) };
        return;
    }
    for i in 0..m {
        for j in 0..n {
            c[i * ldc + j] = (0..k).map(|kk| a[i * lda + kk] * w[j * k + kk]).sum();
        }
    }
}

/// `C (m, n) = A (m, k) W^T` for W stored row-major (n, k) and any `m`, without packing:
/// W streams from memory once, in chunks of rows that stay in L2 while every block of
/// [`SMALL_M`] rows of A passes over them. For the input projections of a few sentences,
/// where a general GEMM would spend most of its time packing W.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt_rows(
    a: &[f32],
    m: usize,
    lda: usize,
    w: &[f32],
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    /// Weight rows per chunk: 64 KB to 256 KB for k of 256 to 1024.
    const CHUNK: usize = 64;
    assert!(w.len() >= n * k);
    assert!(m == 0 || (a.len() >= (m - 1) * lda + k && c.len() >= (m - 1) * ldc + n));
    for j0 in (0..n).step_by(CHUNK) {
        let nj = CHUNK.min(n - j0);
        for i0 in (0..m).step_by(SMALL_M) {
            let mi = SMALL_M.min(m - i0);
            let (ai, ci) = (&a[i0 * lda..], &mut c[i0 * ldc + j0..]);
            gemm_nt_small(ai, mi, lda, &w[j0 * k..], nj, k, ci, ldc);
        }
    }
}

/// Fills C (m, n) through `f(cols, out, ld)`, which writes the columns `cols` of C into
/// `out` (row stride `ld`, its column 0 being `cols.start`), with the columns split at
/// `mid` over two threads. The first half goes straight into `c`; the second, whose rows
/// interleave with the first, into `high` (grown as needed, so a caller that keeps it
/// allocates once) and is copied into place afterwards; a single row is split in place.
/// For products that stream their weights once, so that each thread reads half of them.
pub(crate) fn split_columns(
    m: usize,
    n: usize,
    mid: usize,
    c: &mut [f32],
    ldc: usize,
    high: &mut Vec<f32>,
    f: impl Fn(std::ops::Range<usize>, &mut [f32], usize) + Sync,
) {
    assert!(mid <= n && (m == 0 || c.len() >= (m - 1) * ldc + n));
    if m == 1 {
        let (lo, hi) = c.split_at_mut(mid);
        rayon::join(|| f(0..mid, lo, ldc), || f(mid..n, hi, ldc));
        return;
    }
    if high.len() < m * (n - mid) {
        high.resize(m * (n - mid), 0.0);
    }
    let high = &mut high[..m * (n - mid)];
    rayon::join(|| f(0..mid, c, ldc), || f(mid..n, high, n - mid));
    if n > mid {
        for (i, row) in high.chunks_exact(n - mid).enumerate() {
            c[i * ldc + mid..i * ldc + n].copy_from_slice(row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_nt_small_avx2(
    a: &[f32],
    m: usize,
    lda: usize,
    w: &[f32],
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    // Several weight rows at once give independent FMA chains, so the loop is bound by
    // memory rather than by FMA latency.
    match m {
        1 => rows_block::<1, 8>(a, lda, w, n, k, c, ldc),
        2 => rows_block::<2, 4>(a, lda, w, n, k, c, ldc),
        3 => rows_block::<3, 2>(a, lda, w, n, k, c, ldc),
        _ => rows_block::<4, 2>(a, lda, w, n, k, c, ldc),
    }
}

/// C (M, n) = A (M, k) W^T, J weight rows per iteration, M * J accumulators. Index loops
/// over the const bounds unroll into straight register code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn rows_block<const M: usize, const J: usize>(
    a: &[f32],
    lda: usize,
    w: &[f32],
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
) {
    use std::arch::x86_64::*;
    let full = k / 8 * 8;
    let blocks = n / J * J;
    let wp = w.as_ptr();
    let ap = a.as_ptr();
    for j0 in (0..blocks).step_by(J) {
        let mut acc = [[_mm256_setzero_ps(); J]; M];
        for kk in (0..full).step_by(8) {
            let mut wv = [_mm256_setzero_ps(); J];
            for jj in 0..J {
                wv[jj] = _mm256_loadu_ps(wp.add((j0 + jj) * k + kk));
            }
            for i in 0..M {
                let av = _mm256_loadu_ps(ap.add(i * lda + kk));
                for jj in 0..J {
                    acc[i][jj] = _mm256_fmadd_ps(av, wv[jj], acc[i][jj]);
                }
            }
        }
        for i in 0..M {
            for jj in 0..J {
                // Horizontal sum of the 8 lanes.
                let v = acc[i][jj];
                let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
                let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
                let mut sum = _mm_cvtss_f32(s1);
                for t in full..k {
                    sum += a[i * lda + t] * w[(j0 + jj) * k + t];
                }
                c[i * ldc + j0 + jj] = sum;
            }
        }
    }
    // Leftover weight rows.
    for j in blocks..n {
        for i in 0..M {
            c[i * ldc + j] = (0..k).map(|t| a[i * lda + t] * w[j * k + t]).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;

    #[test]
    fn small_batch_dot_kernel_matches_a_triple_loop() {
        let mut rng = Rng::new(4);
        for &(m, n, k) in &[(1, 7, 13), (3, 20, 64), (4, 5, 100)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut c = vec![0.0f32; m * n];
            gemm_nt_small(&a, m, k, &w, n, k, &mut c, n);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|kk| a[i * k + kk] as f64 * w[j * k + kk] as f64)
                        .sum();
                    assert!((c[i * n + j] as f64 - want).abs() < 1e-4);
                }
            }
        }
    }

    /// Both per-step kernels (AVX2 6 x 16 and AVX-512 8 x 32) against the triple loop,
    /// on the same inputs.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_avx512_kernels_match_a_triple_loop() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("skipped: this CPU lacks AVX-512F, AVX2 or FMA");
            return;
        }
        let mut rng = Rng::new(9);
        // n = 80: two full panel pairs and an odd panel (AVX2); n = 24 and 20: one pair
        // with a partial second panel (masked stores); with and without accumulation into
        // a C whose rows are padded (whose padding must stay untouched).
        for (m, n, k) in [(13, 80, 33), (9, 24, 17), (3, 20, 5)] {
            let ldc = n + 3;
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let c0: Vec<f32> = (0..m * ldc).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let packed = PackedB::new(&b, k, n, true);
            let all = 0..n.div_ceil(NR);
            for accumulate in [false, true] {
                let (mut c2, mut c5) = (c0.clone(), c0.clone());
                // SAFETY: the features were detected above; the buffers hold (m, ldc) and
                // (m, k).
                unsafe {
                    gemm_avx2(&a, m, k, &packed, all.clone(), &mut c2, ldc, accumulate);
                    gemm_avx512(&a, m, k, &packed, all.clone(), &mut c5, ldc, accumulate);
                }
                for (i, (x, y)) in c2.iter().zip(&c5).enumerate() {
                    let (r, j) = (i / ldc, i % ldc);
                    if j >= n {
                        assert_eq!((*x, *y), (c0[i], c0[i]), "padding element {i} was written");
                        continue;
                    }
                    let dot: f64 = (0..k)
                        .map(|kk| a[r * k + kk] as f64 * b[j * k + kk] as f64)
                        .sum();
                    let want = dot + if accumulate { c0[i] as f64 } else { 0.0 };
                    for (kernel, got) in [("avx2", x), ("avx512", y)] {
                        assert!(
                            (*got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{kernel} ({m}, {n}, {k}) accumulate {accumulate}, c[{r}, {j}]: \
                             {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn packing_into_a_used_buffer_equals_a_fresh_pack() {
        let mut rng = Rng::new(5);
        let (k, n) = (7, 37); // the last panel is padded
        let b: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        for transposed in [false, true] {
            let fresh = PackedB::new(&b, k, n, transposed);
            let used = PackedB::new_in(vec![f32::NAN; 5000], &b, k, n, transposed);
            assert_eq!(fresh.data, used.data);
        }
    }

    #[test]
    fn packed_gemm_matches_a_triple_loop_for_both_layouts() {
        let mut rng = Rng::new(3);
        // The last shape is large enough to split its panels over two threads.
        for &(m, n, k) in &[
            (1, 16, 5),
            (7, 37, 19),
            (13, 48, 64),
            (64, 96, 33),
            (65, 80, 1024),
        ] {
            for transposed in [false, true] {
                let lda = k + 3;
                let ldc = n + 2;
                let a: Vec<f32> = (0..m * lda).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let b: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let c0: Vec<f32> = (0..m * ldc).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let packed = PackedB::new(&b, k, n, transposed);
                for accumulate in [false, true] {
                    let mut c = c0.clone();
                    gemm(&a, m, lda, &packed, &mut c, ldc, accumulate, 1 + m % 3);
                    let mut c64 = c0.iter().map(|&v| v as f64).collect::<Vec<_>>();
                    let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
                    let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
                    let p64 = PackedB::new(&b64, k, n, transposed);
                    let all = 0..n.div_ceil(NR);
                    gemm_portable(&a64, m, lda, &p64, all, &mut c64, ldc, accumulate);
                    for i in 0..m {
                        for j in 0..n {
                            let want: f64 = (0..k)
                                .map(|kk| {
                                    let bv = if transposed {
                                        b[j * k + kk]
                                    } else {
                                        b[kk * n + j]
                                    };
                                    a[i * lda + kk] as f64 * bv as f64
                                })
                                .sum::<f64>()
                                + if accumulate {
                                    c0[i * ldc + j] as f64
                                } else {
                                    0.0
                                };
                            let got = c[i * ldc + j] as f64;
                            assert!(
                                (got - want).abs() < 1e-4,
                                "({m},{n},{k}) t={transposed} [{i},{j}] {got} vs {want}"
                            );
                            assert!((c64[i * ldc + j] - want).abs() < 1e-4);
                        }
                        // Padding columns of C are untouched.
                        for j in n..ldc {
                            assert_eq!(c[i * ldc + j], c0[i * ldc + j]);
                        }
                    }
                }
            }
        }
    }
}
