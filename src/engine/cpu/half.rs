//! Recurrent weights in half precision (IEEE binary16) for the latency path of inference.
//!
//! Encoding one sentence is bound by memory, not arithmetic: every step multiplies a single
//! state row by the whole recurrent matrix, 12.6 MB per direction in f32. Both directions
//! together (25 MB) sit at the edge of the 32 MB L3 cache, and the input projection's
//! weights push them out between sentences. Stored as f16 the same matrices take 6.3 MB
//! each and stay cached, and each step reads half the bytes. Arithmetic stays in f32:
//! the kernel widens eight halves per instruction (`vcvtph2ps`, F16C) and accumulates with
//! FMA.
//!
//! Layout: `W` (n, k) row-major becomes `ceil(n / 64)` panels of (k, 64), k-major and
//! zero-padded, so one step reads the weights as a single sequential stream and each k
//! updates 64 outputs (eight 8-wide accumulators) from one broadcast state value.
//!
//! binary16 keeps 11 significant bits (relative rounding error 2^-11 ≈ 4.9e-4), four more
//! than bf16; GRU weights (|w| of order 1/sqrt(H) after GenSen's initialisation, rarely
//! above a few units after training) are far inside its range. Values below 6.1e-5 become
//! subnormal and lose relative precision, but their absolute error stays under 3e-8.

use half::f16;

use crate::error::{Error, Result};

/// Output columns per panel: eight AVX registers of eight lanes.
pub const PANEL: usize = 64;

/// A (n, k) weight matrix in f16, packed for [`gemm_nt`].
#[derive(Clone, Debug)]
pub struct HalfPanels {
    /// Output features (rows of W).
    pub n: usize,
    /// Input features (columns of W).
    pub k: usize,
    data: Vec<u16>,
}

impl HalfPanels {
    /// Rounds `w` (n, k) row-major to nearest-even f16 and packs it. A finite value
    /// beyond f16's range (|w| > 65504) is an error rather than a silent infinity.
    pub fn new(w: &[f32], n: usize, k: usize) -> Result<Self> {
        if w.len() < n * k {
            return Err(Error::shape(
                "half weights",
                format!("({n}, {k})"),
                format!("{} values", w.len()),
            ));
        }
        if let Some(i) = w[..n * k]
            .iter()
            .position(|v| v.is_finite() && v.abs() > f16::MAX.to_f32())
        {
            return Err(Error::Invalid(format!(
                "half weights: element ({}, {}) = {} is beyond f16's range",
                i / k.max(1),
                i % k.max(1),
                w[i]
            )));
        }
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0u16; panels * k * PANEL];
        for p in 0..panels {
            let cols = PANEL.min(n - p * PANEL);
            let panel = &mut data[p * k * PANEL..(p + 1) * k * PANEL];
            for c in 0..cols {
                let row = &w[(p * PANEL + c) * k..(p * PANEL + c + 1) * k];
                for (kk, &v) in row.iter().enumerate() {
                    panel[kk * PANEL + c] = f16::from_f32(v).to_bits();
                }
            }
        }
        Ok(HalfPanels { n, k, data })
    }

    /// The stored value of `W[j, kk]`, widened to f32.
    pub fn get(&self, j: usize, kk: usize) -> f32 {
        let (p, c) = (j / PANEL, j % PANEL);
        f16::from_bits(self.data[(p * self.k + kk) * PANEL + c]).to_f32()
    }

    /// Bytes of weight storage.
    pub fn bytes(&self) -> usize {
        self.data.len() * 2
    }
}

/// `C (m, n) = A (m, k) W^T` with W held as [`HalfPanels`]: f32 in and out, f32 sums.
/// Meant for a few rows (the state of one or a few sentences); each row pair reads the
/// weights once.
pub fn gemm_nt(a: &[f32], m: usize, lda: usize, w: &HalfPanels, c: &mut [f32], ldc: usize) {
    gemm_nt_cols(a, m, lda, w, 0..w.n, c, ldc);
}

/// The columns `cols` of [`gemm_nt`]'s C, written to `c` whose column 0 is `cols.start`;
/// `cols.start` must be a multiple of [`PANEL`] and `cols.end` one too or `n`.
pub fn gemm_nt_cols(
    a: &[f32],
    m: usize,
    lda: usize,
    w: &HalfPanels,
    cols: std::ops::Range<usize>,
    c: &mut [f32],
    ldc: usize,
) {
    let (n, k) = (w.n, w.k);
    assert!(cols.start.is_multiple_of(PANEL) && (cols.end.is_multiple_of(PANEL) || cols.end == n));
    assert!(cols.start <= cols.end && cols.end <= n);
    let width = cols.len();
    if m == 0 || width == 0 {
        return;
    }
    assert!(a.len() >= (m - 1) * lda + k && c.len() >= (m - 1) * ldc + width);
    let panels = cols.start / PANEL..cols.end.div_ceil(PANEL);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // SAFETY: AVX2, FMA and F16C were detected at run time; the bounds of `a` and `c`
        // were asserted above and the panels hold ceil(n / 64) * k * 64 values.
        unsafe {
            match m {
                1 => one_row(a, w, panels, c),
                2 => two_rows(a, lda, w, panels, c, ldc),
                _ => many_rows(a, m, lda, w, panels, c, ldc),
            }
        }
        return;
    }
    for i in 0..m {
        for j in cols.clone() {
            c[i * ldc + j - cols.start] = (0..k).map(|kk| a[i * lda + kk] * w.get(j, kk)).sum();
        }
    }
}

/// One state row against every panel: eight accumulators of eight outputs each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)]
unsafe fn one_row(a: &[f32], w: &HalfPanels, panels: std::ops::Range<usize>, c: &mut [f32]) {
    use std::arch::x86_64::*;
    let (n, k) = (w.n, w.k);
    let wp = w.data.as_ptr();
    let base = panels.start * PANEL;
    for p in panels {
        let panel = wp.add(p * k * PANEL);
        let mut acc = [_mm256_setzero_ps(); 8];
        for kk in 0..k {
            let av = _mm256_set1_ps(*a.get_unchecked(kk));
            let row = panel.add(kk * PANEL);
            for v in 0..8 {
                let wv = _mm256_cvtph_ps(_mm_loadu_si128(row.add(v * 8) as *const __m128i));
                acc[v] = _mm256_fmadd_ps(av, wv, acc[v]);
            }
        }
        store(&acc, &mut c[p * PANEL - base..], n - p * PANEL);
    }
}

/// Two state rows against each half panel (32 outputs): the widened weights serve both.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)]
unsafe fn two_rows(
    a: &[f32],
    lda: usize,
    w: &HalfPanels,
    panels: std::ops::Range<usize>,
    c: &mut [f32],
    ldc: usize,
) {
    use std::arch::x86_64::*;
    let (n, k) = (w.n, w.k);
    let wp = w.data.as_ptr();
    let base = panels.start * PANEL;
    for p in panels {
        for half in 0..2 {
            let col0 = p * PANEL + half * 32;
            if col0 >= n {
                break;
            }
            let panel = wp.add(p * k * PANEL + half * 32);
            let mut acc0 = [_mm256_setzero_ps(); 4];
            let mut acc1 = [_mm256_setzero_ps(); 4];
            for kk in 0..k {
                let a0 = _mm256_set1_ps(*a.get_unchecked(kk));
                let a1 = _mm256_set1_ps(*a.get_unchecked(lda + kk));
                let row = panel.add(kk * PANEL);
                for v in 0..4 {
                    let wv = _mm256_cvtph_ps(_mm_loadu_si128(row.add(v * 8) as *const __m128i));
                    acc0[v] = _mm256_fmadd_ps(a0, wv, acc0[v]);
                    acc1[v] = _mm256_fmadd_ps(a1, wv, acc1[v]);
                }
            }
            store(&acc0, &mut c[col0 - base..], n - col0);
            store(&acc1, &mut c[ldc + col0 - base..], n - col0);
        }
    }
}

/// Three or more rows (an input projection over a sentence's tokens, a batch of a few
/// sentences): blocks of four rows by 16 columns, eight accumulators, two widened weight
/// vectors per k shared by four rows. A 16-column strip of a panel (32 KB for k = 1024)
/// stays in L1 while the row blocks pass over it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn many_rows(
    a: &[f32],
    m: usize,
    lda: usize,
    w: &HalfPanels,
    panels: std::ops::Range<usize>,
    c: &mut [f32],
    ldc: usize,
) {
    let n = w.n;
    let base = panels.start * PANEL;
    for p in panels {
        for strip in 0..PANEL / 16 {
            let col0 = p * PANEL + strip * 16;
            if col0 >= n {
                break;
            }
            let mut i = 0;
            while i < m {
                let (ai, ci) = (&a[i * lda..], &mut c[i * ldc + col0 - base..]);
                match m - i {
                    1 => strip_rows::<1>(ai, lda, w, p, strip, ci, ldc, n - col0),
                    2 => strip_rows::<2>(ai, lda, w, p, strip, ci, ldc, n - col0),
                    3 => strip_rows::<3>(ai, lda, w, p, strip, ci, ldc, n - col0),
                    _ => strip_rows::<4>(ai, lda, w, p, strip, ci, ldc, n - col0),
                }
                i += 4;
            }
        }
    }
}

/// R rows (R <= 4) by one 16-column strip of panel `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn strip_rows<const R: usize>(
    a: &[f32],
    lda: usize,
    w: &HalfPanels,
    p: usize,
    strip: usize,
    c: &mut [f32],
    ldc: usize,
    cols: usize,
) {
    use std::arch::x86_64::*;
    let k = w.k;
    let base = w.data.as_ptr().add(p * k * PANEL + strip * 16);
    let ap = a.as_ptr();
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for kk in 0..k {
        let row = base.add(kk * PANEL);
        let w0 = _mm256_cvtph_ps(_mm_loadu_si128(row as *const __m128i));
        let w1 = _mm256_cvtph_ps(_mm_loadu_si128(row.add(8) as *const __m128i));
        for r in 0..R {
            let av = _mm256_set1_ps(*ap.add(r * lda + kk));
            acc[r][0] = _mm256_fmadd_ps(av, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, w1, acc[r][1]);
        }
    }
    for r in 0..R {
        store(&acc[r], &mut c[r * ldc..], cols);
    }
}

/// Writes the first `min(cols, 8 * ACC)` lanes of `acc` to `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn store<const ACC: usize>(
    acc: &[std::arch::x86_64::__m256; ACC],
    out: &mut [f32],
    cols: usize,
) {
    use std::arch::x86_64::*;
    if cols >= 8 * ACC {
        for (v, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(v * 8), *a);
        }
    } else {
        let mut tmp = [0.0f32; 64];
        for (v, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(tmp.as_mut_ptr().add(v * 8), *a);
        }
        out[..cols].copy_from_slice(&tmp[..cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;

    #[test]
    fn half_panels_round_to_nearest_f16() {
        let w = [1.0f32, 1.0 + 1.0 / 4096.0, -2.71, 1e-6, 60000.0, 0.1];
        let p = HalfPanels::new(&w, 2, 3).unwrap();
        for (i, &v) in w.iter().enumerate() {
            assert_eq!(p.get(i / 3, i % 3), f16::from_f32(v).to_f32());
        }
        // 1 + 2^-12 is halfway between two f16 values and rounds to the even one, 1.0.
        assert_eq!(p.get(0, 1), 1.0);
        assert_eq!(p.get(1, 1), 60000.0);
        assert_eq!(p.bytes(), 64 * 3 * 2);
        let err = HalfPanels::new(&[0.5, 70000.0], 1, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(0, 1) = 70000"), "{err}");
        assert!(HalfPanels::new(&[0.5], 1, 2).is_err());
    }

    #[test]
    fn half_gemm_matches_a_triple_loop_over_the_rounded_weights() {
        let mut rng = Rng::new(11);
        // n not a multiple of 64 (tail panel and tail half panel), odd k, and row counts
        // that exercise the one-row and two-row kernels.
        for &(m, n, k) in &[
            (1, 100, 37),
            (2, 64, 16),
            (3, 130, 9),
            (5, 96, 40),
            (4, 3072, 64),
            (22, 200, 33),
        ] {
            let lda = k + 3;
            let ldc = n + 5;
            let a: Vec<f32> = (0..m * lda).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.uniform(-0.5, 0.5)).collect();
            let p = HalfPanels::new(&w, n, k).unwrap();
            let mut c = vec![f32::NAN; m * ldc];
            gemm_nt(&a, m, lda, &p, &mut c, ldc);
            // Any panel-aligned column range gives the same columns, written from its
            // own column 0.
            for cols in [0..n.min(PANEL), n.min(PANEL)..n, (n / PANEL * PANEL)..n] {
                let mut part = vec![f32::NAN; m * ldc];
                gemm_nt_cols(&a, m, lda, &p, cols.clone(), &mut part, ldc);
                for i in 0..m {
                    let got = &part[i * ldc..i * ldc + cols.len()];
                    assert_eq!(got, &c[i * ldc + cols.start..i * ldc + cols.end]);
                    if cols.len() < ldc {
                        assert!(part[i * ldc + cols.len()].is_nan(), "wrote past the range");
                    }
                }
            }
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|kk| {
                            a[i * lda + kk] as f64 * f16::from_f32(w[j * k + kk]).to_f32() as f64
                        })
                        .sum();
                    let got = c[i * ldc + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 + 1e-5 * want.abs(),
                        "m {m} n {n} k {k}: c[{i}, {j}] = {got}, want {want}"
                    );
                }
                // Padding columns between rows are left alone.
                if i + 1 < m {
                    assert!(c[i * ldc + n].is_nan());
                }
            }
        }
    }
}
