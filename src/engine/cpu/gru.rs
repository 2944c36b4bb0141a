//! GRU layers on the CPU: every step runs one GEMM of the state with the recurrent weights,
//! then one fused pass over the gates. The input projections of all steps were computed
//! before, as one large GEMM, by the layer that calls us.
//!
//! Per step and direction (PyTorch's equations, gates r, z, n):
//!   gh = h W_hh^T + b_hh                                     // (B, 3H)
//!   r  = sigmoid(xp_r + ex_r + gh_r)
//!   z  = sigmoid(xp_z + ex_z + gh_z)
//!   n  = tanh(xp_n + ex_n + r * gh_n)
//!   h' = n + z * (h - n)
//! where xp is the step's input projection (with b_ih) and ex the optional per-sequence
//! term of the conditional decoder. Backward, with dh the gradient reaching h':
//!   dn = dh (1 - z)          dz = dh (h - n)
//!   da_n = dn (1 - n^2)      da_z = dz z (1 - z)      da_r = da_n gh_n r (1 - r)
//!   dxp = (da_r, da_z, da_n)          dgh = (da_r, da_z, da_n r)
//!   dh_prev = dh z + dgh W_hh

use super::half;
use super::packed::{self, PackedB};
use super::Scratch;
use super::{as_f32, as_f32_mut, gemm, Cpu, Float};
use crate::engine::backend::{Gemm, GruBackward, GruDims, GruForward, GruWeights};
use crate::error::{Error, Result};

/// A raw pointer that may cross threads. Used for `out`, whose column blocks belong to
/// different directions and are written concurrently.
#[derive(Clone, Copy)]
struct SharedMut<F>(*mut F);
// SAFETY: each thread writes only its own direction's columns (see `forward`), so no
// element is reached from two threads.
unsafe impl<F> Send for SharedMut<F> {}
unsafe impl<F> Sync for SharedMut<F> {}

/// The recurrent weights packed for the per-step GEMMs when the element type is `f32`;
/// `f64` (gradient checks) keeps the general GEMM, whose packing preserves its precision.
fn pack_if_f32<F: Float>(
    scratch: &Scratch,
    w: &[F],
    k: usize,
    n: usize,
    transposed: bool,
) -> Option<PackedB> {
    as_f32(w).map(|w| PackedB::new_in(scratch.take(PackedB::len(k, n)), w, k, n, transposed))
}

/// Whether step `t` of sequence `b` is real.
#[inline]
fn active(lens: Option<&[u32]>, t: usize, b: usize) -> bool {
    lens.is_none_or(|l| t < l[b] as usize)
}

fn check_dims<F: Float>(
    dims: GruDims,
    weights: &[GruWeights<'_, Cpu<F>>],
    lens: Option<&Vec<u32>>,
) -> Result<()> {
    let GruDims {
        seq_len,
        batch,
        hidden,
        dirs,
    } = dims;
    if !(1..=2).contains(&dirs) || weights.len() != dirs {
        return Err(Error::shape(
            "gru",
            "1 or 2 directions with one weight set each",
            format!("{dirs} directions, {} weight sets", weights.len()),
        ));
    }
    for w in weights {
        if w.w_hh.len() < 3 * hidden * hidden || w.b_hh.len() < 3 * hidden {
            return Err(Error::shape(
                "gru",
                format!(
                    "weight_hh ({}, {hidden}) and bias_hh ({})",
                    3 * hidden,
                    3 * hidden
                ),
                format!("{} and {} elements", w.w_hh.len(), w.b_hh.len()),
            ));
        }
    }
    if let Some(lens) = lens {
        if lens.len() < batch
            || lens[..batch]
                .iter()
                .any(|&l| l == 0 || l as usize > seq_len)
        {
            return Err(Error::shape(
                "gru",
                format!("{batch} lengths in 1..={seq_len}"),
                format!("{:?}", &lens[..batch.min(lens.len())]),
            ));
        }
    }
    Ok(())
}

/// Threads for each of `dirs` concurrent directions out of `threads`.
fn split_threads(threads: usize, dirs: usize) -> (bool, usize) {
    if dirs == 2 && threads >= 2 {
        (true, threads / 2)
    } else {
        (false, threads)
    }
}

pub fn forward<F: Float>(
    threads: usize,
    scratch: &Scratch,
    args: GruForward<'_, Cpu<F>>,
) -> Result<()> {
    let GruForward {
        dims,
        weights,
        xproj,
        extra,
        h0,
        lens,
        out,
        saved,
    } = args;
    check_dims(dims, weights, lens)?;
    let GruDims {
        seq_len,
        batch,
        hidden,
        dirs,
    } = dims;
    let step = batch * 3 * hidden;
    let need = [
        (xproj.len(), dirs * seq_len * step, "xproj"),
        (out.len(), seq_len * batch * dirs * hidden, "out"),
        (extra.map_or(usize::MAX, |e| e.len()), dirs * step, "extra"),
        (
            h0.map_or(usize::MAX, |h| h.len()),
            dirs * batch * hidden,
            "h0",
        ),
    ];
    for (have, want, what) in need {
        if have < want {
            return Err(Error::shape(
                "gru_forward",
                format!("{what} of {want}"),
                format!("{have}"),
            ));
        }
    }
    for w in weights.iter().take(dirs) {
        if let Some(h) = w.w_hh_half {
            if (h.n, h.k) != (3 * hidden, hidden) {
                return Err(Error::shape(
                    "gru_forward",
                    format!("half weight_hh of ({}, {hidden})", 3 * hidden),
                    format!("({}, {})", h.n, h.k),
                ));
            }
        }
    }
    let saved_len = seq_len * batch * 4 * hidden;
    let mut saved_parts: Vec<Option<&mut [F]>> = match saved {
        Some(s) if s.len() >= dirs * saved_len => s[..dirs * saved_len]
            .chunks_mut(saved_len)
            .map(Some)
            .collect(),
        Some(s) => {
            return Err(Error::shape(
                "gru_forward",
                format!("saved of {}", dirs * saved_len),
                format!("{}", s.len()),
            ))
        }
        None => (0..dirs).map(|_| None).collect(),
    };
    let out_ptr = SharedMut(out.as_mut_ptr());
    let lens = lens.map(|l| l.as_slice());
    // A few sequences (the latency path) stream the recurrent weights at every step: the
    // directions then run one after the other, each step's product split over the
    // threads, so that one direction's weights (12.6 MB in f32 at GenSen's size) rather
    // than both compete for the L3 cache.
    let few = weights.iter().any(|w| few_weights(batch, w).is_some());
    let (concurrent, per_dir_threads) = if few {
        (false, threads)
    } else {
        split_threads(threads, dirs)
    };

    let run_dir = |d: usize, saved: Option<&mut [F]>| -> Result<()> {
        let dir = DirForward {
            dims,
            d,
            reverse: d == 1,
            w: &weights[d],
            xproj: &xproj[d * seq_len * step..(d + 1) * seq_len * step],
            extra: extra.map(|e| &e[d * step..(d + 1) * step]),
            h0: h0.map(|h| &h[d * batch * hidden..(d + 1) * batch * hidden]),
            lens,
            threads: per_dir_threads,
            scratch,
        };
        dir.run(out_ptr, saved)
    };
    if concurrent {
        let mut parts = saved_parts.drain(..);
        let (s0, s1) = (parts.next().unwrap(), parts.next().unwrap());
        let (r0, r1) = rayon::join(|| run_dir(0, s0), || run_dir(1, s1));
        r0.and(r1)
    } else {
        let sequential = || -> Result<()> {
            for (d, s) in saved_parts.into_iter().enumerate() {
                run_dir(d, s)?;
            }
            Ok(())
        };
        if few && threads >= 2 {
            // Inside the pool, each step's split joins between its workers without a
            // hand-off from this thread.
            rayon::scope(|_| sequential())
        } else {
            sequential()
        }
    }
}

/// One direction's forward pass.
struct DirForward<'a, F: Float> {
    dims: GruDims,
    d: usize,
    reverse: bool,
    w: &'a GruWeights<'a, Cpu<F>>,
    xproj: &'a [F],
    extra: Option<&'a [F]>,
    h0: Option<&'a [F]>,
    lens: Option<&'a [u32]>,
    threads: usize,
    scratch: &'a Scratch,
}

impl<F: Float> DirForward<'_, F> {
    fn run(&self, out: SharedMut<F>, mut saved: Option<&mut [F]>) -> Result<()> {
        let GruDims {
            seq_len,
            batch,
            hidden: hs,
            dirs,
        } = self.dims;
        let mut h = match self.h0 {
            Some(h0) => h0.to_vec(),
            None => vec![F::ZERO; batch * hs],
        };
        let mut gh = vec![F::ZERO; batch * 3 * hs]; // (B, 3H)
        let mut high = Vec::new(); // the latency path's side block (see `few_rows_step`)
        let no_extra = vec![F::ZERO; 3 * hs];
        let mut scratch = vec![F::ZERO; 4 * hs]; // gates when nothing is saved
        let recurrent = Gemm::new(batch, 3 * hs, hs, false, true);
        // gh = h W_hh^T: W_hh is (3H, H), so op(B) = W_hh^T is (H, 3H). The latency path
        // reads the weights in place (no packing pass); larger batches amortise packing
        // over T steps.
        let few = few_weights(batch, self.w);
        let packed = if few.is_some() {
            None
        } else {
            pack_if_f32(self.scratch, self.w.w_hh, hs, 3 * hs, true)
        };
        let b_hh = &self.w.b_hh[..3 * hs];
        let out_stride = dirs * hs;
        // The vectorized gate kernels take f32 values; f64 runs the generic loop.
        let vector = as_f32(b_hh).and(GateKernel::detect());
        let saving = saved.is_some();

        for s in 0..seq_len {
            let t = if self.reverse { seq_len - 1 - s } else { s };
            match (&packed, few) {
                (Some(p), _) => {
                    packed::gemm(&h, batch, hs, p, &mut gh, 3 * hs, false, self.threads)
                }
                (None, Some(w)) => {
                    let (h32, gh32) = (f32s(&h), f32s_mut(&mut gh));
                    few_rows_step(self.threads, h32, batch, hs, w, gh32, &mut high);
                }
                (None, None) => gemm::run(
                    &recurrent,
                    &h,
                    self.w.w_hh,
                    &mut gh,
                    self.threads,
                    self.scratch,
                )?,
            }
            for b in 0..batch {
                // SAFETY: row (t, b) of `out` has `dirs * hs` elements (checked by the
                // caller) and this direction owns columns d*hs..(d+1)*hs of it.
                let out_row = unsafe {
                    std::slice::from_raw_parts_mut(
                        out.0.add((t * batch + b) * out_stride + self.d * hs),
                        hs,
                    )
                };
                let saved_row = match saved.as_deref_mut() {
                    Some(sv) => &mut sv[(t * batch + b) * 4 * hs..(t * batch + b + 1) * 4 * hs],
                    None => &mut scratch[..],
                };
                if !active(self.lens, t, b) {
                    out_row.fill(F::ZERO);
                    saved_row.fill(F::ZERO);
                    continue;
                }
                let xp = &self.xproj[(t * batch + b) * 3 * hs..(t * batch + b + 1) * 3 * hs];
                let ex = self.extra.map(|e| &e[b * 3 * hs..(b + 1) * 3 * hs]);
                let ghb = &gh[b * 3 * hs..(b + 1) * 3 * hs];
                let hb = &mut h[b * hs..(b + 1) * hs];
                if let Some(kernel) = vector {
                    let saved = saving.then_some(saved_row);
                    // SAFETY: the kernel's instructions were detected at run time.
                    unsafe {
                        kernel.run(
                            hs,
                            f32s(xp),
                            ex.map(f32s),
                            f32s(ghb),
                            f32s(b_hh),
                            f32s_mut(hb),
                            f32s_mut(out_row),
                            saved.map(f32s_mut),
                        )
                    };
                    continue;
                }
                let ex = ex.unwrap_or(&no_extra[..]);
                super::with_avx2(|| cell_forward(hs, xp, ex, ghb, b_hh, hb, out_row, saved_row));
            }
        }
        if let Some(p) = packed {
            self.scratch.give(p.into_buf());
        }
        Ok(())
    }
}

/// The recurrent weights as the latency path reads them each step, in place.
#[derive(Clone, Copy)]
enum FewWeights<'a> {
    /// `W_hh` (3H, H) row-major.
    F32(&'a [f32]),
    Half(&'a half::HalfPanels),
}

/// `gh (batch, 3H) = h W_hh^T` for a few sequences. With two or more threads the columns
/// are split in two, so that each thread streams half of the weights; `high` is the side
/// block of [`packed::split_columns`], kept by the caller across steps.
fn few_rows_step(
    threads: usize,
    h: &[f32],
    batch: usize,
    hs: usize,
    w: FewWeights<'_>,
    gh: &mut [f32],
    high: &mut Vec<f32>,
) {
    let n = 3 * hs;
    let product = |cols: std::ops::Range<usize>, out: &mut [f32], ld: usize| match w {
        FewWeights::F32(w) => {
            let w = &w[cols.start * hs..];
            packed::gemm_nt_small(h, batch, hs, w, cols.len(), hs, out, ld)
        }
        FewWeights::Half(w) => half::gemm_nt_cols(h, batch, hs, w, cols, out, ld),
    };
    let mid = match w {
        FewWeights::F32(_) => n / 2,
        FewWeights::Half(_) => n.div_ceil(half::PANEL) / 2 * half::PANEL,
    };
    // Below a few hundred KB of weights a thread hand-off costs more than it saves.
    if threads >= 2 && n * hs >= 1 << 16 {
        packed::split_columns(batch, n, mid, gh, n, high, product);
    } else {
        product(0..n, gh, n);
    }
}

/// The weights of the latency path, read in place each step, where it applies: f32 values
/// and at most [`packed::SMALL_M`] sequences, or f16 copies (which the tape passes only
/// then; see `GruWeights::w_hh_half`).
fn few_weights<'a, F: Float>(batch: usize, w: &GruWeights<'a, Cpu<F>>) -> Option<FewWeights<'a>> {
    let w_hh = as_f32(w.w_hh)?;
    match w.w_hh_half {
        Some(half) => Some(FewWeights::Half(half)),
        None => (batch <= packed::SMALL_M).then_some(FewWeights::F32(w_hh)),
    }
}

/// `s` as f32, on paths that run only when `F` is f32 (the latency path, the vectorized
/// gate kernels); anything else is a bug in the caller's choice of path.
fn f32s<F: Float>(s: &[F]) -> &[f32] {
    as_f32(s).expect("an f32-only GRU path ran on f64 values")
}

/// The mutable form of [`f32s`].
fn f32s_mut<F: Float>(s: &mut [F]) -> &mut [f32] {
    as_f32_mut(s).expect("an f32-only GRU path ran on f64 values")
}

/// The fused gate pass of one sequence at one step; updates `h` in place and writes the
/// gates to `saved` (r, z, n, W_hn h + b_hn). Branch-free over `j`, so it vectorizes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cell_forward<F: Float>(
    hs: usize,
    xp: &[F],
    ex: &[F],
    gh: &[F],
    b_hh: &[F],
    h: &mut [F],
    out: &mut [F],
    saved: &mut [F],
) {
    let (xr, xz, xn) = (&xp[..hs], &xp[hs..2 * hs], &xp[2 * hs..3 * hs]);
    let (er, ez, en) = (&ex[..hs], &ex[hs..2 * hs], &ex[2 * hs..3 * hs]);
    let (gr, gz, gn) = (&gh[..hs], &gh[hs..2 * hs], &gh[2 * hs..3 * hs]);
    let (br, bz, bn) = (&b_hh[..hs], &b_hh[hs..2 * hs], &b_hh[2 * hs..3 * hs]);
    let (sr, rest) = saved[..4 * hs].split_at_mut(hs);
    let (sz, rest) = rest.split_at_mut(hs);
    let (sn, shn) = rest.split_at_mut(hs);
    let (h, out) = (&mut h[..hs], &mut out[..hs]);
    for j in 0..hs {
        let r = (xr[j] + er[j] + gr[j] + br[j]).gate_sigmoid();
        let z = (xz[j] + ez[j] + gz[j] + bz[j]).gate_sigmoid();
        let hn = gn[j] + bn[j];
        let n = (xn[j] + en[j] + r * hn).gate_tanh();
        let next = n + z * (h[j] - n);
        h[j] = next;
        out[j] = next;
        sr[j] = r;
        sz[j] = z;
        sn[j] = n;
        shn[j] = hn;
    }
}

/// The explicitly vectorized forms of [`cell_forward`] for f32.
#[derive(Clone, Copy, Debug, PartialEq)]
enum GateKernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl GateKernel {
    /// The widest form this CPU runs, if any.
    fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(GateKernel::Avx512);
            }
            if super::has_avx2_fma() {
                return Some(GateKernel::Avx2);
            }
        }
        None
    }

    /// # Safety
    /// The kernel must come from [`GateKernel::detect`] (its instructions available);
    /// the slices as [`cell_forward_avx512`] requires.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        self,
        hs: usize,
        xp: &[f32],
        ex: Option<&[f32]>,
        gh: &[f32],
        b_hh: &[f32],
        h: &mut [f32],
        out: &mut [f32],
        saved: Option<&mut [f32]>,
    ) {
        match self {
            #[cfg(target_arch = "x86_64")]
            GateKernel::Avx512 => cell_forward_avx512(hs, xp, ex, gh, b_hh, h, out, saved),
            #[cfg(target_arch = "x86_64")]
            GateKernel::Avx2 => cell_forward_avx2(hs, xp, ex, gh, b_hh, h, out, saved),
        }
    }
}

/// Checks the lengths the vectorized gate kernels read and write.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn check_cell(
    hs: usize,
    xp: &[f32],
    ex: Option<&[f32]>,
    gh: &[f32],
    b_hh: &[f32],
    h: &[f32],
    out: &[f32],
    saved: Option<&[f32]>,
) {
    assert!(xp.len() >= 3 * hs && gh.len() >= 3 * hs && b_hh.len() >= 3 * hs);
    assert!(h.len() >= hs && out.len() >= hs);
    assert!(ex.is_none_or(|e| e.len() >= 3 * hs));
    assert!(saved.is_none_or(|s| s.len() >= 4 * hs));
}

/// [`cell_forward`] eight lanes at a time with AVX2 and FMA, as [`cell_forward_avx512`]
/// (reciprocals by a 12-bit estimate and one Newton step), the last `hs % 8` values
/// through the scalar formulas.
///
/// # Safety
/// AVX2 and FMA must be available; the slices as [`cell_forward_avx512`] requires.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn cell_forward_avx2(
    hs: usize,
    xp: &[f32],
    ex: Option<&[f32]>,
    gh: &[f32],
    b_hh: &[f32],
    h: &mut [f32],
    out: &mut [f32],
    mut saved: Option<&mut [f32]>,
) {
    use std::arch::x86_64::*;
    check_cell(hs, xp, ex, gh, b_hh, h, out, saved.as_deref());
    let full = hs / 8 * 8;
    {
        let (xp, gh, b_hh) = (xp.as_ptr(), gh.as_ptr(), b_hh.as_ptr());
        let ex = ex.map(|e| e.as_ptr());
        let sv = saved.as_deref_mut().map(|s| s.as_mut_ptr());
        let (hp, op) = (h.as_mut_ptr(), out.as_mut_ptr());
        let one = _mm256_set1_ps(1.0);
        let two = _mm256_set1_ps(2.0);
        let recip = |d: __m256| {
            let y = _mm256_rcp_ps(d);
            _mm256_mul_ps(y, _mm256_fnmadd_ps(d, y, two))
        };
        let sigmoid = |x: __m256| {
            recip(_mm256_add_ps(
                one,
                exp8(_mm256_sub_ps(_mm256_setzero_ps(), x)),
            ))
        };
        let tanh = |x: __m256| {
            let e = exp8(_mm256_add_ps(x, x));
            _mm256_fnmadd_ps(two, recip(_mm256_add_ps(e, one)), one)
        };
        for j in (0..full).step_by(8) {
            let ld = |p: *const f32, off: usize| _mm256_loadu_ps(p.add(off + j));
            let mut ar = _mm256_add_ps(_mm256_add_ps(ld(xp, 0), ld(gh, 0)), ld(b_hh, 0));
            let mut az = _mm256_add_ps(_mm256_add_ps(ld(xp, hs), ld(gh, hs)), ld(b_hh, hs));
            let hn = _mm256_add_ps(ld(gh, 2 * hs), ld(b_hh, 2 * hs));
            let mut an = ld(xp, 2 * hs);
            if let Some(e) = ex {
                ar = _mm256_add_ps(ar, ld(e, 0));
                az = _mm256_add_ps(az, ld(e, hs));
                an = _mm256_add_ps(an, ld(e, 2 * hs));
            }
            let r = sigmoid(ar);
            let z = sigmoid(az);
            let n = tanh(_mm256_fmadd_ps(r, hn, an));
            let next = _mm256_fmadd_ps(z, _mm256_sub_ps(ld(hp, 0), n), n);
            _mm256_storeu_ps(hp.add(j), next);
            _mm256_storeu_ps(op.add(j), next);
            if let Some(s) = sv {
                _mm256_storeu_ps(s.add(j), r);
                _mm256_storeu_ps(s.add(hs + j), z);
                _mm256_storeu_ps(s.add(2 * hs + j), n);
                _mm256_storeu_ps(s.add(3 * hs + j), hn);
            }
        }
    }
    for j in full..hs {
        let e = |g: usize| ex.map_or(0.0, |e| e[g * hs + j]);
        let r = (xp[j] + e(0) + gh[j] + b_hh[j]).gate_sigmoid();
        let z = (xp[hs + j] + e(1) + gh[hs + j] + b_hh[hs + j]).gate_sigmoid();
        let hn = gh[2 * hs + j] + b_hh[2 * hs + j];
        let n = (xp[2 * hs + j] + e(2) + r * hn).gate_tanh();
        let next = n + z * (h[j] - n);
        h[j] = next;
        out[j] = next;
        if let Some(s) = saved.as_deref_mut() {
            s[j] = r;
            s[hs + j] = z;
            s[2 * hs + j] = n;
            s[3 * hs + j] = hn;
        }
    }
}

/// `e^x` on eight lanes: the reduction and polynomial of [`super::exp_f32`], with `2^n`
/// built in the exponent bits (n stays in -126..=127 after the clamp).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
        _mm256_set1_ps(88.0),
    );
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
    let mut p = _mm256_set1_ps(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    _mm256_mul_ps(p, _mm256_castsi256_ps(bits))
}

/// [`cell_forward`] sixteen lanes at a time with AVX-512 (a masked tail covers any
/// `hs`), the reciprocals of the sigmoid and tanh as a 14-bit estimate refined by one
/// Newton step instead of a division, and nothing written for `extra` or `saved` when
/// they are absent (inference).
///
/// # Safety
/// AVX-512F must be available; the slices must hold what [`cell_forward`] reads and
/// writes (`xp`, `gh`, `b_hh`, `ex`: 3 `hs`; `saved`: 4 `hs`; `h`, `out`: `hs`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn cell_forward_avx512(
    hs: usize,
    xp: &[f32],
    ex: Option<&[f32]>,
    gh: &[f32],
    b_hh: &[f32],
    h: &mut [f32],
    out: &mut [f32],
    saved: Option<&mut [f32]>,
) {
    use std::arch::x86_64::*;
    check_cell(hs, xp, ex, gh, b_hh, h, out, saved.as_deref());
    let (xp, gh, b_hh) = (xp.as_ptr(), gh.as_ptr(), b_hh.as_ptr());
    let ex = ex.map(|e| e.as_ptr());
    let saved = saved.map(|s| s.as_mut_ptr());
    let (h, out) = (h.as_mut_ptr(), out.as_mut_ptr());
    let one = _mm512_set1_ps(1.0);
    let two = _mm512_set1_ps(2.0);
    // 1 / d: the 14-bit estimate, then one Newton step (y (2 - d y)).
    let recip = |d: __m512| {
        let y = _mm512_rcp14_ps(d);
        _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, two))
    };
    let sigmoid = |x: __m512| {
        recip(_mm512_add_ps(
            one,
            exp16(_mm512_sub_ps(_mm512_setzero_ps(), x)),
        ))
    };
    let tanh = |x: __m512| {
        let e = exp16(_mm512_add_ps(x, x));
        _mm512_fnmadd_ps(two, recip(_mm512_add_ps(e, one)), one)
    };
    let mut j = 0;
    while j < hs {
        let m: __mmask16 = if hs - j >= 16 {
            0xffff
        } else {
            (1u16 << (hs - j)) - 1
        };
        let ld = |p: *const f32, off: usize| _mm512_maskz_loadu_ps(m, p.add(off + j));
        let mut ar = _mm512_add_ps(_mm512_add_ps(ld(xp, 0), ld(gh, 0)), ld(b_hh, 0));
        let mut az = _mm512_add_ps(_mm512_add_ps(ld(xp, hs), ld(gh, hs)), ld(b_hh, hs));
        let hn = _mm512_add_ps(ld(gh, 2 * hs), ld(b_hh, 2 * hs));
        let mut an = ld(xp, 2 * hs);
        if let Some(e) = ex {
            ar = _mm512_add_ps(ar, ld(e, 0));
            az = _mm512_add_ps(az, ld(e, hs));
            an = _mm512_add_ps(an, ld(e, 2 * hs));
        }
        let r = sigmoid(ar);
        let z = sigmoid(az);
        let n = tanh(_mm512_fmadd_ps(r, hn, an));
        let next = _mm512_fmadd_ps(z, _mm512_sub_ps(ld(h, 0), n), n);
        _mm512_mask_storeu_ps(h.add(j), m, next);
        _mm512_mask_storeu_ps(out.add(j), m, next);
        if let Some(s) = saved {
            _mm512_mask_storeu_ps(s.add(j), m, r);
            _mm512_mask_storeu_ps(s.add(hs + j), m, z);
            _mm512_mask_storeu_ps(s.add(2 * hs + j), m, n);
            _mm512_mask_storeu_ps(s.add(3 * hs + j), m, hn);
        }
        j += 16;
    }
}

/// `e^x` on sixteen lanes: the reduction and polynomial of [`super::exp_f32`], with `2^n`
/// applied by `vscalefps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn exp16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
    let c = |v: f32| _mm512_set1_ps(v);
    let mut p = c(1.0 / 720.0);
    for k in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, c(k));
    }
    _mm512_scalef_ps(p, n)
}

pub fn backward<F: Float>(
    threads: usize,
    scratch: &Scratch,
    args: GruBackward<'_, Cpu<F>>,
) -> Result<()> {
    let GruBackward {
        dims,
        weights,
        h0,
        lens,
        out,
        saved,
        dout,
        dxproj,
        work,
        dw_hh,
        db_hh,
        dh0,
        dextra,
    } = args;
    check_dims(dims, weights, lens)?;
    let GruDims {
        seq_len,
        batch,
        hidden: hs,
        dirs,
    } = dims;
    let gates_len = seq_len * batch * 3 * hs;
    let saved_len = seq_len * batch * 4 * hs;
    let need = [
        (out.len(), seq_len * batch * dirs * hs, "out"),
        (dout.len(), seq_len * batch * dirs * hs, "dout"),
        (saved.len(), dirs * saved_len, "saved"),
        (dxproj.len(), dirs * gates_len, "dxproj"),
        (work.len(), dirs * gates_len, "work"),
        (dw_hh.len().min(db_hh.len()), dirs, "gradient sets"),
        (h0.map_or(usize::MAX, |h| h.len()), dirs * batch * hs, "h0"),
    ];
    for (have, want, what) in need {
        if have < want {
            return Err(Error::shape(
                "gru_backward",
                format!("{what} of {want}"),
                format!("{have}"),
            ));
        }
    }
    let lens = lens.map(|l| l.as_slice());
    let mut dh0_parts: Vec<Option<&mut [F]>> = match dh0 {
        Some(g) => g[..dirs * batch * hs]
            .chunks_mut(batch * hs)
            .map(Some)
            .collect(),
        None => (0..dirs).map(|_| None).collect(),
    };
    let mut dextra_parts: Vec<Option<&mut [F]>> = match dextra {
        Some(g) => g[..dirs * batch * 3 * hs]
            .chunks_mut(batch * 3 * hs)
            .map(Some)
            .collect(),
        None => (0..dirs).map(|_| None).collect(),
    };
    let mut jobs = Vec::with_capacity(dirs);
    let dx_parts = dxproj[..dirs * gates_len].chunks_mut(gates_len);
    let work_parts = work[..dirs * gates_len].chunks_mut(gates_len);
    let grads = dw_hh.iter_mut().zip(db_hh.iter_mut());
    for (d, ((dx, wk), (dw, db))) in dx_parts.zip(work_parts).zip(grads).enumerate() {
        jobs.push(DirBackward {
            dims,
            d,
            reverse: d == 1,
            w: &weights[d],
            h0: h0.map(|h| &h[d * batch * hs..(d + 1) * batch * hs]),
            lens,
            out,
            saved: &saved[d * saved_len..(d + 1) * saved_len],
            dout,
            dxproj: dx,
            work: wk,
            dw_hh: &mut dw[..],
            db_hh: &mut db[..],
            dh0: dh0_parts[d].take(),
            dextra: dextra_parts[d].take(),
            threads: 1,
            scratch,
        });
    }
    let (concurrent, per_dir_threads) = split_threads(threads, dirs);
    for job in &mut jobs {
        job.threads = per_dir_threads;
    }
    if concurrent {
        let mut it = jobs.into_iter();
        let (mut j0, mut j1) = (it.next().unwrap(), it.next().unwrap());
        std::thread::scope(|scope| {
            let h = scope.spawn(move || j1.run());
            let r0 = j0.run();
            r0.and(h.join().expect("GRU direction thread panicked"))
        })
    } else {
        for mut job in jobs {
            job.run()?;
        }
        Ok(())
    }
}

/// One direction's backward pass.
struct DirBackward<'a, F: Float> {
    dims: GruDims,
    d: usize,
    reverse: bool,
    w: &'a GruWeights<'a, Cpu<F>>,
    h0: Option<&'a [F]>,
    lens: Option<&'a [u32]>,
    out: &'a [F],
    saved: &'a [F],
    dout: &'a [F],
    dxproj: &'a mut [F],
    work: &'a mut [F],
    dw_hh: &'a mut [F],
    db_hh: &'a mut [F],
    dh0: Option<&'a mut [F]>,
    dextra: Option<&'a mut [F]>,
    threads: usize,
    scratch: &'a Scratch,
}

impl<F: Float> DirBackward<'_, F> {
    fn run(&mut self) -> Result<()> {
        let GruDims {
            seq_len,
            batch,
            hidden: hs,
            dirs,
        } = self.dims;
        let out_stride = dirs * hs;
        let col = self.d * hs;
        let mut dh = vec![F::ZERO; batch * hs]; // gradient reaching the current state
        let zeros = vec![F::ZERO; hs];
        // dh_prev += dgh W_hh: op(B) = W_hh, (3H, H).
        let packed = pack_if_f32(self.scratch, self.w.w_hh, 3 * hs, hs, false);

        // Walk the steps in the opposite order of the forward pass.
        for s in 0..seq_len {
            let t = if self.reverse { s } else { seq_len - 1 - s };
            for b in 0..batch {
                let gates = (t * batch + b) * 3 * hs..(t * batch + b + 1) * 3 * hs;
                let dhb = &mut dh[b * hs..(b + 1) * hs];
                if !active(self.lens, t, b) {
                    // The state passed through unchanged: its gradient does too.
                    self.dxproj[gates.clone()].fill(F::ZERO);
                    self.work[gates].fill(F::ZERO);
                    continue;
                }
                let row = (t * batch + b) * out_stride + col;
                for (g, &o) in dhb.iter_mut().zip(&self.dout[row..row + hs]) {
                    *g += o;
                }
                let h_prev = prev_state(self.dims, self.d, self.lens, self.out, self.h0, t, b)
                    .unwrap_or(&zeros);
                let sv = &self.saved[(t * batch + b) * 4 * hs..(t * batch + b + 1) * 4 * hs];
                let (dxp, dgh) = (&mut self.dxproj[gates.clone()], &mut self.work[gates]);
                super::with_avx2(|| backward_gates(hs, sv, h_prev, dhb, dxp, dgh));
            }
            // dh_prev += dgh W_hh: (B, 3H) x (3H, H).
            let step_work = &self.work[t * batch * 3 * hs..(t + 1) * batch * 3 * hs];
            match &packed {
                Some(p) => {
                    packed::gemm(step_work, batch, 3 * hs, p, &mut dh, hs, true, self.threads)
                }
                None => {
                    let g = Gemm::new(batch, hs, 3 * hs, false, false).accumulate();
                    gemm::run(
                        &g,
                        step_work,
                        self.w.w_hh,
                        &mut dh,
                        self.threads,
                        self.scratch,
                    )?;
                }
            }
        }
        if let Some(dh0) = self.dh0.as_deref_mut() {
            for (a, &g) in dh0.iter_mut().zip(&dh) {
                *a += g;
            }
        }
        if let Some(p) = packed {
            self.scratch.give(p.into_buf());
        }
        self.weight_gradients()
    }

    /// dW_hh = sum_t dgh_t^T h_prev_t as one GEMM over all steps, plus the first steps'
    /// contribution from h0; db_hh and dextra as column sums.
    fn weight_gradients(&mut self) -> Result<()> {
        let GruDims {
            seq_len,
            batch,
            hidden: hs,
            dirs,
        } = self.dims;
        let rows = (seq_len - 1) * batch;
        if rows > 0 {
            // Forward: steps 1..T against outputs 0..T-1; backward: steps 0..T-1 against
            // outputs 1..T. Padded outputs are zero, matching a zero starting state.
            let (work_t0, out_t0) = if self.reverse { (0, 1) } else { (1, 0) };
            let g = Gemm {
                a_off: work_t0 * batch * 3 * hs,
                b_off: out_t0 * batch * dirs * hs + self.d * hs,
                ldb: dirs * hs,
                ..Gemm::new(3 * hs, hs, rows, true, false).accumulate()
            };
            gemm::run(
                &g,
                self.work,
                self.out,
                self.dw_hh,
                self.threads,
                self.scratch,
            )?;
        }
        if let Some(h0) = self.h0 {
            // Steps that started from h0: t = 0 forward; t = lens[b] - 1 backward. For the
            // backward direction the GEMM above paired them with a zero output instead.
            for b in 0..batch {
                let t = if self.reverse {
                    self.lens.map_or(seq_len, |l| l[b] as usize) - 1
                } else {
                    0
                };
                let dgh = &self.work[(t * batch + b) * 3 * hs..(t * batch + b + 1) * 3 * hs];
                let hb = &h0[b * hs..(b + 1) * hs];
                for (i, &g) in dgh.iter().enumerate() {
                    let row = &mut self.dw_hh[i * hs..(i + 1) * hs];
                    for (w, &h) in row.iter_mut().zip(hb) {
                        *w += g * h;
                    }
                }
            }
        }
        let (work, db) = (&*self.work, &mut *self.db_hh);
        for row in work[..seq_len * batch * 3 * hs].chunks_exact(3 * hs) {
            for (acc, &g) in db.iter_mut().zip(row) {
                *acc += g;
            }
        }
        if let Some(dextra) = self.dextra.as_deref_mut() {
            for (i, row) in self.dxproj[..seq_len * batch * 3 * hs]
                .chunks_exact(3 * hs)
                .enumerate()
            {
                let b = i % batch;
                for (acc, &g) in dextra[b * 3 * hs..(b + 1) * 3 * hs].iter_mut().zip(row) {
                    *acc += g;
                }
            }
        }
        Ok(())
    }
}

/// The backward gate pass of one sequence at one step (see the module's equations):
/// writes dxp and dgh (3H each) and turns `dh` into the gradient reaching the previous
/// state through `z` (the `W_hh` part is added by the caller's GEMM).
#[inline(always)]
fn backward_gates<F: Float>(
    hs: usize,
    sv: &[F],
    h_prev: &[F],
    dh: &mut [F],
    dxp: &mut [F],
    dgh: &mut [F],
) {
    // Per-gate slices of equal length, so the loop runs without bounds checks and
    // vectorizes.
    let (sr, sz, sn, shn) = (
        &sv[..hs],
        &sv[hs..2 * hs],
        &sv[2 * hs..3 * hs],
        &sv[3 * hs..4 * hs],
    );
    let (h_prev, dh) = (&h_prev[..hs], &mut dh[..hs]);
    let (dxr, rest) = dxp[..3 * hs].split_at_mut(hs);
    let (dxz, dxn) = rest.split_at_mut(hs);
    let (dgr, rest) = dgh[..3 * hs].split_at_mut(hs);
    let (dgz, dgn) = rest.split_at_mut(hs);
    for j in 0..hs {
        let (r, z, n, hn) = (sr[j], sz[j], sn[j], shn[j]);
        let g = dh[j];
        let dn = g * (F::ONE - z);
        let dz = g * (h_prev[j] - n);
        let da_n = dn * (F::ONE - n * n);
        let da_z = dz * z * (F::ONE - z);
        let da_r = da_n * hn * r * (F::ONE - r);
        dxr[j] = da_r;
        dxz[j] = da_z;
        dxn[j] = da_n;
        dgr[j] = da_r;
        dgz[j] = da_z;
        dgn[j] = da_n * r;
        dh[j] = g * z;
    }
}

/// The state that step `t` of sequence `b` started from in direction `d`, or `None` for
/// zero: the previous step's output, or `h0` at the sequence's first step.
fn prev_state<'s, F: Float>(
    dims: GruDims,
    d: usize,
    lens: Option<&[u32]>,
    out: &'s [F],
    h0: Option<&'s [F]>,
    t: usize,
    b: usize,
) -> Option<&'s [F]> {
    let GruDims {
        seq_len,
        batch,
        hidden: hs,
        dirs,
    } = dims;
    let from_out = if d == 1 {
        (t + 1 < seq_len && active(lens, t + 1, b)).then_some(t + 1)
    } else {
        t.checked_sub(1)
    };
    match from_out {
        Some(tp) => {
            let row = (tp * batch + b) * dirs * hs + d * hs;
            Some(&out[row..row + hs])
        }
        None => h0.map(|h| &h[b * hs..(b + 1) * hs]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;

    /// The gate pass in f64 with exact functions, for one sequence.
    #[allow(clippy::too_many_arguments)]
    fn reference_cell(
        hs: usize,
        xp: &[f32],
        ex: &[f32],
        gh: &[f32],
        b: &[f32],
        h: &[f32],
    ) -> (Vec<f64>, Vec<f64>) {
        let (mut next, mut saved) = (vec![0.0; hs], vec![0.0; 4 * hs]);
        let f = |v: f32| v as f64;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        for j in 0..hs {
            let r = sig(f(xp[j]) + f(ex[j]) + f(gh[j]) + f(b[j]));
            let z = sig(f(xp[hs + j]) + f(ex[hs + j]) + f(gh[hs + j]) + f(b[hs + j]));
            let hn = f(gh[2 * hs + j]) + f(b[2 * hs + j]);
            let n = (f(xp[2 * hs + j]) + f(ex[2 * hs + j]) + r * hn).tanh();
            next[j] = n + z * (f(h[j]) - n);
            saved[j..]
                .iter_mut()
                .step_by(hs)
                .zip([r, z, n, hn])
                .for_each(|(s, v)| *s = v);
        }
        (next, saved)
    }

    /// Forward of both directions over `batch` sequences (hidden `hs`, lengths `lens`,
    /// time-major xproj (D, T, B, 3H)) on `threads` threads; returns `out`.
    #[allow(clippy::too_many_arguments)]
    fn run_forward(
        threads: usize,
        seq_len: usize,
        batch: usize,
        hs: usize,
        w_hh: &[Vec<f32>],
        b_hh: &Vec<f32>,
        half: Option<&[half::HalfPanels]>,
        xproj: &[f32],
        lens: &[u32],
    ) -> Vec<f32> {
        let weights: Vec<GruWeights<'_, Cpu<f32>>> = (0..2)
            .map(|d| GruWeights {
                w_hh: &w_hh[d],
                b_hh,
                w_hh_half: half.map(|h| &h[d]),
            })
            .collect();
        let mut out = vec![f32::NAN; seq_len * batch * 2 * hs];
        let xproj = xproj.to_vec();
        let lens = lens.to_vec();
        let args = GruForward {
            dims: GruDims {
                seq_len,
                batch,
                hidden: hs,
                dirs: 2,
            },
            weights: &weights,
            xproj: &xproj,
            extra: None,
            h0: None,
            lens: Some(&lens),
            out: &mut out,
            saved: None,
        };
        forward(threads, &Scratch::default(), args).unwrap();
        out
    }

    /// The latency path (a few sequences: directions one after the other, each step's
    /// product split over two threads, f32 or f16 weights read in place) gives what the
    /// batched path (directions concurrent, packed weights) gives for the same sequences.
    #[test]
    fn few_sequence_path_matches_the_batched_path() {
        let mut rng = Rng::new(12);
        // 3H x H = 76800 weights: large enough for the per-step split.
        let (seq_len, hs, big, few) = (4, 160, 6, 3);
        let w_hh: Vec<Vec<f32>> = (0..2)
            .map(|_| (0..3 * hs * hs).map(|_| rng.uniform(-0.1, 0.1)).collect())
            .collect();
        let b_hh: Vec<f32> = (0..3 * hs).map(|_| rng.uniform(-0.1, 0.1)).collect();
        // xproj for `big` sequences, and the same values for the first `few` of them.
        let step = 3 * hs;
        let xp_big: Vec<f32> = (0..2 * seq_len * big * step)
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let mut xp_few = Vec::new();
        for d in 0..2 {
            for t in 0..seq_len {
                let row = (d * seq_len + t) * big * step;
                xp_few.extend_from_slice(&xp_big[row..row + few * step]);
            }
        }
        let lens_big = [4, 2, 3, 4, 1, 4];
        let batched = run_forward(2, seq_len, big, hs, &w_hh, &b_hh, None, &xp_big, &lens_big);
        let halves: Vec<half::HalfPanels> = w_hh
            .iter()
            .map(|w| half::HalfPanels::new(w, 3 * hs, hs).unwrap())
            .collect();
        for threads in [1, 2] {
            for half in [None, Some(&halves[..])] {
                let got = run_forward(
                    threads,
                    seq_len,
                    few,
                    hs,
                    &w_hh,
                    &b_hh,
                    half,
                    &xp_few,
                    &lens_big[..few],
                );
                // f16 weights round each to 11 significant bits.
                let tol = if half.is_some() { 2e-3 } else { 1e-5 };
                for t in 0..seq_len {
                    for b in 0..few {
                        for j in 0..2 * hs {
                            let g = got[(t * few + b) * 2 * hs + j];
                            let w = batched[(t * big + b) * 2 * hs + j];
                            assert!(
                                (g - w).abs() <= tol,
                                "threads {threads} half {}: out[{t}, {b}, {j}] = {g}, want {w}",
                                half.is_some()
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every form of the gate pass this CPU runs (portable; AVX2 with its scalar tail and
    /// AVX-512 with its masked one where available) against exact arithmetic, with and
    /// without the decoder's extra term and the saved gates.
    #[test]
    fn gate_pass_matches_exact_arithmetic_with_and_without_extra_and_saved() {
        let mut rng = Rng::new(11);
        for hs in [1, 8, 16, 37] {
            let mut v =
                |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s)).collect() };
            let (xp, ex, gh, b, h) = (
                v(3 * hs, 4.0),
                v(3 * hs, 1.0),
                v(3 * hs, 4.0),
                v(3 * hs, 0.5),
                v(hs, 1.0),
            );
            let zeros = vec![0.0f32; 3 * hs];
            for with_extra in [false, true] {
                let exr = if with_extra { &ex } else { &zeros };
                let (want, want_saved) = reference_cell(hs, &xp, exr, &gh, &b, &h);
                let check = |what: &str, got: &[f32], saved: Option<&[f32]>| {
                    for (j, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g as f64 - w).abs() < 2e-6,
                            "{what} hs {hs} h[{j}]: {g} vs {w}"
                        );
                    }
                    for (j, (&g, &w)) in saved.unwrap_or(&[]).iter().zip(&want_saved).enumerate() {
                        assert!(
                            (g as f64 - w).abs() < 2e-6,
                            "{what} hs {hs} saved[{j}]: {g} vs {w}"
                        );
                    }
                };
                let (mut hh, mut out, mut saved) = (h.clone(), vec![0.0; hs], vec![0.0; 4 * hs]);
                cell_forward(hs, &xp, exr, &gh, &b, &mut hh, &mut out, &mut saved);
                check("portable", &hh, Some(&saved));
                assert_eq!(hh, out);
                #[cfg(target_arch = "x86_64")]
                let kernels = [
                    (
                        GateKernel::Avx512,
                        std::arch::is_x86_feature_detected!("avx512f"),
                    ),
                    (GateKernel::Avx2, crate::engine::cpu::has_avx2_fma()),
                ];
                #[cfg(not(target_arch = "x86_64"))]
                let kernels: [(GateKernel, bool); 0] = [];
                for (kernel, _) in kernels.into_iter().filter(|k| k.1) {
                    for save in [false, true] {
                        let (mut hh, mut out) = (h.clone(), vec![0.0; hs + 1]);
                        let mut saved = vec![7.0f32; 4 * hs + 1];
                        // SAFETY: the kernel's features were detected; the lengths are
                        // those required.
                        unsafe {
                            kernel.run(
                                hs,
                                &xp,
                                with_extra.then_some(&ex[..]),
                                &gh,
                                &b,
                                &mut hh,
                                &mut out,
                                save.then_some(&mut saved[..]),
                            )
                        };
                        let what = format!("{kernel:?}");
                        check(&what, &hh, save.then_some(&saved[..4 * hs]));
                        assert_eq!(&hh[..], &out[..hs]);
                        // Nothing past the lengths, and nothing saved unless asked.
                        assert_eq!(out[hs], 0.0);
                        assert_eq!(saved[4 * hs], 7.0);
                        if !save {
                            assert!(saved.iter().all(|&s| s == 7.0));
                        }
                    }
                }
            }
        }
    }
}
