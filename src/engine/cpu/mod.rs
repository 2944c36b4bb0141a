//! The CPU reference backend.
//!
//! Generic over the element type so the same code runs in `f32` (training, encoding) and
//! in `f64` (finite-difference gradient checks). GEMMs go through the `gemm` crate; the
//! recurrent layers run their two directions on two threads when the backend has them.

mod gemm;
mod gru;
pub mod half;
mod loss;
pub mod packed;

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::engine::backend::{AdamStep, Backend, Gemm, GruBackward, GruDims, GruForward, Pool};
use crate::engine::rng;
use crate::error::Result;

/// The arithmetic the CPU kernels need; implemented for `f32` and `f64`.
pub trait Float:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;

    /// The logistic function.
    #[inline(always)]
    fn sigmoid(self) -> Self {
        Self::ONE / (Self::ONE + (-self).exp())
    }
    /// `exp` where a relative error of 5e-7 is enough (f32's fast polynomial; exact for f64).
    #[inline(always)]
    fn fast_exp(self) -> Self {
        self.exp()
    }

    /// The logistic function as the GRU cell computes it: exact for `f64` (the gradient
    /// checks), a branch-free approximation for `f32` that vectorizes.
    #[inline(always)]
    fn gate_sigmoid(self) -> Self {
        self.sigmoid()
    }

    /// `tanh` as the GRU cell computes it; see [`Float::gate_sigmoid`].
    #[inline(always)]
    fn gate_tanh(self) -> Self {
        self.tanh()
    }
}

/// `s` as `f32` values when `F` is `f32`, else `None` (f64, used by the gradient checks).
/// The f32-only kernels take their operands through this one checked view; the type test
/// is decided at compile time.
pub(crate) fn as_f32<F: Float>(s: &[F]) -> Option<&[f32]> {
    (std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>())
        // SAFETY: F is f32 (checked just above), so the slice reinterprets exactly.
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len()) })
}

/// The mutable form of [`as_f32`].
pub(crate) fn as_f32_mut<F: Float>(s: &mut [F]) -> Option<&mut [f32]> {
    if std::any::TypeId::of::<F>() != std::any::TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: F is f32 (checked above), so the slice reinterprets exactly.
    Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, s.len()) })
}

/// Whether the CPU runs AVX2 and FMA (detected once; the crate's baseline is SSE2, so
/// hot element-wise loops carry AVX2 copies selected with this).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Runs `f` inside a function compiled for AVX2 and FMA when the CPU has them, so that the
/// element-wise loops inlined into `f` vectorize eight lanes wide (the crate's baseline
/// target, SSE2, gives four). `f` must be `#[inline(always)]` code to benefit.
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { run(f) };
    }
    f()
}

/// `e^x` for f32 without branches or table lookups, so loops over it vectorize: the
/// argument is reduced to `n ln 2 + r` with |r| <= ln2 / 2, `e^r` comes from a degree-6
/// Taylor polynomial (relative error below 2e-7), and `2^n` is built in the exponent bits.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `t` is ROUND + n exactly, so its low mantissa bits hold n: integer arithmetic on the
    // bits gives 2^n without `n as i32`, whose saturating semantics compile to scalar
    // code with a branch per lane and would stop the loop from vectorizing.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    f32::from_bits((n_int.wrapping_add(127) << 23) as u32) * p
}

macro_rules! impl_float {
    ($t:ty, fast) => {
        impl_float!(@impl $t,
            #[inline(always)]
            fn fast_exp(self) -> Self {
                exp_f32(self)
            }
            #[inline(always)]
            fn gate_sigmoid(self) -> Self {
                1.0 / (1.0 + exp_f32(-self))
            }
            #[inline(always)]
            fn gate_tanh(self) -> Self {
                // tanh x = 1 - 2 / (e^{2x} + 1): absolute error near 1e-7, enough for f32.
                1.0 - 2.0 / (exp_f32(2.0 * self) + 1.0)
            }
        );
    };
    ($t:ty) => {
        impl_float!(@impl $t,);
    };
    (@impl $t:ty, $($extra:item)*) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            #[inline]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            $($extra)*
        }
    };
}
impl_float!(f32, fast);
impl_float!(f64);

/// The CPU backend. `threads` bounds the parallelism of every operation it runs.
#[derive(Clone, Debug)]
pub struct Cpu<F: Float = f32> {
    threads: usize,
    scratch: Scratch,
    _elem: PhantomData<F>,
}

/// Large per-call work buffers (packed recurrent weights: 12.6 MB per GenSen encoder
/// direction, 50 MB per decoder) kept between calls, so a step does not pay a page fault
/// per 4 KB to touch fresh memory. Shared by the clones of one backend, never between
/// backends.
#[derive(Clone, Default)]
pub(crate) struct Scratch(std::sync::Arc<std::sync::Mutex<Vec<Vec<f32>>>>);

impl Scratch {
    /// Buffers kept at most; more are freed.
    const KEEP: usize = 8;

    /// A buffer with room for `len` values if one is kept (the smallest such), else an
    /// empty one.
    pub(crate) fn take(&self, len: usize) -> Vec<f32> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let best = kept
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| kept.swap_remove(i)).unwrap_or_default()
    }

    /// Returns a buffer for later calls.
    pub(crate) fn give(&self, buf: Vec<f32>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < Self::KEEP {
            kept.push(buf);
        }
    }
}

impl Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.lock().map_or(0, |k| k.len());
        write!(f, "Scratch({kept} buffers)")
    }
}

impl<F: Float> Cpu<F> {
    /// A backend using up to `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        Cpu {
            threads: threads.max(1),
            scratch: Scratch::default(),
            _elem: PhantomData,
        }
    }

    /// A backend using every core of the machine.
    pub fn all_cores() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// How many threads this backend uses.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl<F: Float> Default for Cpu<F> {
    fn default() -> Self {
        Self::all_cores()
    }
}

/// Splits `0..rows` into at most `threads` contiguous ranges and runs `work` on each,
/// handing it the matching rows of `data` (each row `width` long). Results come back in
/// range order, so reductions over them are deterministic.
fn par_rows<F: Send, R: Send>(
    threads: usize,
    data: &mut [F],
    rows: usize,
    width: usize,
    work: impl Fn(usize, &mut [F]) -> R + Sync,
) -> Vec<R> {
    let parts = threads.min(rows).max(1);
    if parts == 1 {
        return vec![work(0, &mut data[..rows * width])];
    }
    let per = rows.div_ceil(parts);
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(parts);
        let mut rest = &mut data[..rows * width];
        let mut start = 0;
        while start < rows {
            let take = per.min(rows - start);
            let (chunk, tail) = rest.split_at_mut(take * width);
            rest = tail;
            let work = &work;
            handles.push(scope.spawn(move || work(start, chunk)));
            start += take;
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

impl<F: Float> Backend for Cpu<F> {
    type Buf = Vec<F>;
    type Ids = Vec<u32>;
    type Half = half::HalfPanels;

    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn zeros(&self, len: usize) -> Result<Vec<F>> {
        Ok(vec![F::ZERO; len])
    }

    fn from_host(&self, data: &[f32]) -> Result<Vec<F>> {
        Ok(data.iter().map(|&x| F::from_f32(x)).collect())
    }

    fn to_host(&self, buf: &Vec<F>, len: usize) -> Result<Vec<f32>> {
        Ok(buf[..len].iter().map(|x| x.to_f32()).collect())
    }

    fn write(&self, buf: &mut Vec<F>, data: &[f32]) -> Result<()> {
        for (dst, &src) in buf.iter_mut().zip(data) {
            *dst = F::from_f32(src);
        }
        Ok(())
    }

    fn buf_len(&self, buf: &Vec<F>) -> usize {
        buf.len()
    }

    fn ids_from_host(&self, data: &[u32]) -> Result<Vec<u32>> {
        Ok(data.to_vec())
    }

    fn write_ids(&self, buf: &mut Vec<u32>, data: &[u32]) -> Result<()> {
        buf[..data.len()].copy_from_slice(data);
        Ok(())
    }

    fn ids_to_host(&self, buf: &Vec<u32>, len: usize) -> Result<Vec<u32>> {
        Ok(buf[..len].to_vec())
    }

    fn ids_len(&self, buf: &Vec<u32>) -> usize {
        buf.len()
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn half_weights(&self, w: &Vec<F>, rows: usize, cols: usize) -> Result<half::HalfPanels> {
        let n = (rows * cols).min(w.len());
        let w32: Vec<f32> = w[..n].iter().map(|v| v.to_f64() as f32).collect();
        half::HalfPanels::new(&w32, rows, cols)
    }

    fn project_half(
        &self,
        x: &Vec<F>,
        rows: usize,
        w: &[&half::HalfPanels],
        out: &mut Vec<F>,
    ) -> Result<()> {
        let Some(first) = w.first() else {
            return Ok(());
        };
        let k = first.k;
        let total: usize = w.iter().map(|h| rows * h.n).sum();
        if w.iter().any(|h| h.k != k) || x.len() < rows * k || out.len() < total {
            return Err(crate::error::Error::shape(
                "project_half",
                format!("x of {rows} x {k} and out of {total}"),
                format!("x of {} and out of {}", x.len(), out.len()),
            ));
        }
        let x32: Vec<f32> = x[..rows * k].iter().map(|v| v.to_f64() as f32).collect();
        // f32 results go straight into `out`; f64 (gradient checks) through a copy.
        let mut widened = Vec::new();
        let out32: &mut [f32] = match as_f32_mut(&mut out[..total]) {
            Some(out32) => out32,
            None => {
                widened.resize(total, 0.0f32);
                &mut widened
            }
        };
        let run =
            |h: &half::HalfPanels, block: &mut [f32]| half::gemm_nt(&x32, rows, k, h, block, h.n);
        if self.threads >= 2 && w.len() == 2 {
            let (b0, b1) = out32.split_at_mut(rows * w[0].n);
            rayon::join(|| run(w[0], b0), || run(w[1], b1));
        } else {
            let mut rest = out32;
            for h in w {
                let (block, tail) = rest.split_at_mut(rows * h.n);
                run(h, block);
                rest = tail;
            }
        }
        for (o, &v) in out.iter_mut().zip(&widened) {
            *o = F::from_f32(v);
        }
        Ok(())
    }

    fn fill(&self, buf: &mut Vec<F>, n: usize, value: f32) -> Result<()> {
        buf[..n].fill(F::from_f32(value));
        Ok(())
    }

    fn copy(&self, src: &Vec<F>, dst: &mut Vec<F>, n: usize) -> Result<()> {
        dst[..n].copy_from_slice(&src[..n]);
        Ok(())
    }

    fn axpy(&self, alpha: f32, src: &Vec<F>, dst: &mut Vec<F>, n: usize) -> Result<()> {
        let alpha = F::from_f32(alpha);
        for (d, &s) in dst[..n].iter_mut().zip(&src[..n]) {
            *d += alpha * s;
        }
        Ok(())
    }

    fn add_bias(&self, x: &mut Vec<F>, bias: &Vec<F>, rows: usize, cols: usize) -> Result<()> {
        for row in x[..rows * cols].chunks_exact_mut(cols) {
            for (v, &b) in row.iter_mut().zip(&bias[..cols]) {
                *v += b;
            }
        }
        Ok(())
    }

    fn sum_rows(&self, x: &Vec<F>, rows: usize, cols: usize, out: &mut Vec<F>) -> Result<()> {
        for row in x[..rows * cols].chunks_exact(cols) {
            for (o, &v) in out[..cols].iter_mut().zip(row) {
                *o += v;
            }
        }
        Ok(())
    }

    fn relu_forward(&self, x: &Vec<F>, y: &mut Vec<F>, n: usize) -> Result<()> {
        for (o, &v) in y[..n].iter_mut().zip(&x[..n]) {
            *o = if v > F::ZERO { v } else { F::ZERO };
        }
        Ok(())
    }

    fn relu_backward(&self, y: &Vec<F>, dy: &Vec<F>, dx: &mut Vec<F>, n: usize) -> Result<()> {
        for ((d, &g), &v) in dx[..n].iter_mut().zip(&dy[..n]).zip(&y[..n]) {
            if v > F::ZERO {
                *d += g;
            }
        }
        Ok(())
    }

    fn dropout_forward(
        &self,
        x: &Vec<F>,
        y: &mut Vec<F>,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        let scale = F::from_f32(1.0 / (1.0 - p));
        for (i, (o, &v)) in y[..n].iter_mut().zip(&x[..n]).enumerate() {
            *o = if rng::dropout_keep(seed, i as u64, p) {
                v * scale
            } else {
                F::ZERO
            };
        }
        Ok(())
    }

    fn dropout_backward(
        &self,
        dy: &Vec<F>,
        dx: &mut Vec<F>,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        let scale = F::from_f32(1.0 / (1.0 - p));
        for (i, (d, &g)) in dx[..n].iter_mut().zip(&dy[..n]).enumerate() {
            if rng::dropout_keep(seed, i as u64, p) {
                *d += g * scale;
            }
        }
        Ok(())
    }

    fn pair_features_forward(
        &self,
        u: &Vec<F>,
        v: &Vec<F>,
        out: &mut Vec<F>,
        batch: usize,
        dim: usize,
    ) -> Result<()> {
        for b in 0..batch {
            let (ub, vb) = (&u[b * dim..(b + 1) * dim], &v[b * dim..(b + 1) * dim]);
            let row = &mut out[b * 4 * dim..(b + 1) * 4 * dim];
            for j in 0..dim {
                row[j] = ub[j];
                row[dim + j] = vb[j];
                row[2 * dim + j] = (ub[j] - vb[j]).abs();
                row[3 * dim + j] = ub[j] * vb[j];
            }
        }
        Ok(())
    }

    fn pair_features_backward(
        &self,
        u: &Vec<F>,
        v: &Vec<F>,
        dout: &Vec<F>,
        du: &mut Vec<F>,
        dv: &mut Vec<F>,
        batch: usize,
        dim: usize,
    ) -> Result<()> {
        for b in 0..batch {
            let row = &dout[b * 4 * dim..(b + 1) * 4 * dim];
            for j in 0..dim {
                let i = b * dim + j;
                let diff = u[i] - v[i];
                // d|u - v| / du is sign(u - v), taken as 0 at u == v like PyTorch's abs.
                let sign = if diff > F::ZERO {
                    F::ONE
                } else if diff < F::ZERO {
                    -F::ONE
                } else {
                    F::ZERO
                };
                let g_abs = row[2 * dim + j] * sign;
                du[i] += row[j] + g_abs + row[3 * dim + j] * v[i];
                dv[i] += row[dim + j] - g_abs + row[3 * dim + j] * u[i];
            }
        }
        Ok(())
    }

    fn gemm(&self, g: &Gemm, a: &Vec<F>, b: &Vec<F>, c: &mut Vec<F>) -> Result<()> {
        gemm::run(g, a, b, c, self.threads, &self.scratch)
    }

    fn embedding_forward(
        &self,
        table: &Vec<F>,
        ids: &Vec<u32>,
        n: usize,
        dim: usize,
        out: &mut Vec<F>,
    ) -> Result<()> {
        for (row, &id) in out[..n * dim].chunks_exact_mut(dim).zip(&ids[..n]) {
            let id = id as usize;
            row.copy_from_slice(&table[id * dim..(id + 1) * dim]);
        }
        Ok(())
    }

    fn embedding_backward(
        &self,
        dout: &Vec<F>,
        ids: &Vec<u32>,
        n: usize,
        dim: usize,
        pad_id: u32,
        dtable: &mut Vec<F>,
    ) -> Result<()> {
        for (row, &id) in dout[..n * dim].chunks_exact(dim).zip(&ids[..n]) {
            if id == pad_id {
                continue;
            }
            let id = id as usize;
            for (d, &g) in dtable[id * dim..(id + 1) * dim].iter_mut().zip(row) {
                *d += g;
            }
        }
        Ok(())
    }

    fn gru_forward(&self, args: GruForward<'_, Self>) -> Result<()> {
        gru::forward(self.threads, &self.scratch, args)
    }

    fn gru_backward(&self, args: GruBackward<'_, Self>) -> Result<()> {
        gru::backward(self.threads, &self.scratch, args)
    }

    fn pool_forward(
        &self,
        pool: Pool,
        h: &Vec<F>,
        lens: &Vec<u32>,
        dims: GruDims,
        out: &mut Vec<F>,
        argmax: &mut Vec<u32>,
    ) -> Result<()> {
        loss::pool_forward(pool, h, lens, dims, out, argmax);
        Ok(())
    }

    fn pool_backward(
        &self,
        pool: Pool,
        dout: &Vec<F>,
        lens: &Vec<u32>,
        argmax: &Vec<u32>,
        dims: GruDims,
        dh: &mut Vec<F>,
    ) -> Result<()> {
        loss::pool_backward(pool, dout, lens, argmax, dims, dh);
        Ok(())
    }

    fn softmax_xent(
        &self,
        logits: &mut Vec<F>,
        targets: &Vec<u32>,
        target_off: usize,
        rows: usize,
        vocab: usize,
        ignore_id: u32,
        grad_scale: f32,
        loss_sum: &mut Vec<F>,
        correct: &mut Vec<F>,
    ) -> Result<()> {
        let targets = &targets[target_off..target_off + rows];
        let (loss, hits) = loss::softmax_xent(
            self.threads,
            logits,
            targets,
            vocab,
            ignore_id,
            F::from_f32(grad_scale),
        );
        loss_sum[0] += loss;
        correct[0] += F::from_f64(hits as f64);
        Ok(())
    }

    fn argmax_rows(&self, x: &Vec<F>, rows: usize, cols: usize, out: &mut Vec<u32>) -> Result<()> {
        for (o, row) in out[..rows]
            .iter_mut()
            .zip(x[..rows * cols].chunks_exact(cols))
        {
            *o = loss::argmax(row) as u32;
        }
        Ok(())
    }

    fn sq_norm(&self, x: &Vec<F>, n: usize, out: &mut Vec<F>) -> Result<()> {
        // Sixteen partial sums (a fixed order, so the result is deterministic) let the
        // loop vectorize; a serial sum is one dependent add per element.
        let mut lanes = [F::ZERO; 16];
        let mut chunks = x[..n].chunks_exact(16);
        for c in chunks.by_ref() {
            for (acc, &v) in lanes.iter_mut().zip(c) {
                *acc += v * v;
            }
        }
        for &v in chunks.remainder() {
            lanes[0] += v * v;
        }
        out[0] += lanes.iter().fold(F::ZERO, |a, &b| a + b);
        Ok(())
    }

    fn adam(
        &self,
        param: &mut Vec<F>,
        grad: &Vec<F>,
        m: &mut Vec<F>,
        v: &mut Vec<F>,
        n: usize,
        hp: &AdamStep,
        norm_sq: &Vec<F>,
    ) -> Result<()> {
        let scale = clip_scale(norm_sq[0].to_f64(), hp.max_norm as f64);
        let (b1, b2) = (hp.beta1 as f64, hp.beta2 as f64);
        let bias1 = 1.0 - b1.powi(hp.step as i32);
        let bias2 = 1.0 - b2.powi(hp.step as i32);
        let step_size = F::from_f64(hp.lr as f64 / bias1);
        let inv_sqrt_bias2 = F::from_f64(1.0 / bias2.sqrt());
        let (b1, b2, eps) = (F::from_f64(b1), F::from_f64(b2), F::from_f32(hp.eps));
        let scale = F::from_f64(scale);
        let update = |p: &mut [F], g: &[F], m: &mut [F], v: &mut [F]| {
            for i in 0..p.len() {
                let g = g[i] * scale;
                m[i] = b1 * m[i] + (F::ONE - b1) * g;
                v[i] = b2 * v[i] + (F::ONE - b2) * g * g;
                p[i] -= step_size * m[i] / (v[i].sqrt() * inv_sqrt_bias2 + eps);
            }
        };
        // Element-wise, so splitting over threads changes no result.
        let (p, g, m, v) = (&mut param[..n], &grad[..n], &mut m[..n], &mut v[..n]);
        if self.threads >= 2 && n >= 1 << 20 {
            let half = n / 2;
            let (p0, p1) = p.split_at_mut(half);
            let (g0, g1) = g.split_at(half);
            let (m0, m1) = m.split_at_mut(half);
            let (v0, v1) = v.split_at_mut(half);
            rayon::join(|| update(p0, g0, m0, v0), || update(p1, g1, m1, v1));
        } else {
            update(p, g, m, v);
        }
        Ok(())
    }
}

/// The factor that global-norm clipping applies to every gradient, as PyTorch's
/// `clip_grad_norm_`: `max_norm / (norm + 1e-6)` when that is below one.
pub fn clip_scale(norm_sq: f64, max_norm: f64) -> f64 {
    if max_norm <= 0.0 {
        return 1.0;
    }
    let coef = max_norm / (norm_sq.sqrt() + 1e-6);
    coef.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_projection_fills_each_direction_block_on_any_float_and_thread_count() {
        let mut rng = rng::Rng::new(8);
        let (rows, k, n) = (5, 12, 36);
        let x: Vec<f32> = (0..rows * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let ws: Vec<Vec<f32>> = (0..2)
            .map(|_| (0..n * k).map(|_| rng.uniform(-0.5, 0.5)).collect())
            .collect();
        let panels: Vec<half::HalfPanels> = ws
            .iter()
            .map(|w| half::HalfPanels::new(w, n, k).unwrap())
            .collect();
        let refs: Vec<&half::HalfPanels> = panels.iter().collect();
        // Reference: each block by the kernel alone.
        let mut want = vec![0.0f32; 2 * rows * n];
        for (d, p) in panels.iter().enumerate() {
            half::gemm_nt(&x, rows, k, p, &mut want[d * rows * n..], n);
        }
        for threads in [1, 2] {
            let mut out = vec![f32::NAN; 2 * rows * n];
            Cpu::<f32>::new(threads)
                .project_half(&x, rows, &refs, &mut out)
                .unwrap();
            assert_eq!(out, want, "f32, {threads} threads");
            let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let mut out64 = vec![f64::NAN; 2 * rows * n];
            Cpu::<f64>::new(threads)
                .project_half(&x64, rows, &refs, &mut out64)
                .unwrap();
            assert!(out64.iter().zip(&want).all(|(&a, &b)| a == b as f64));
        }
        let mut short = vec![0.0f32; rows * n];
        assert!(Cpu::<f32>::new(1)
            .project_half(&x, rows, &refs, &mut short)
            .is_err());
    }

    #[test]
    fn scratch_hands_out_the_smallest_buffer_that_fits() {
        let scratch = Scratch::default();
        scratch.give(Vec::with_capacity(100));
        scratch.give(Vec::with_capacity(10));
        assert!(scratch.take(50).capacity() >= 100);
        assert!(scratch.take(5).capacity() >= 10);
        assert_eq!(
            scratch.take(5).capacity(),
            0,
            "nothing left: a fresh buffer"
        );
        for _ in 0..Scratch::KEEP + 3 {
            scratch.give(Vec::with_capacity(1));
        }
        let kept = scratch.0.lock().unwrap().len();
        assert_eq!(kept, Scratch::KEEP);
        // Clones of a backend share their scratch.
        let cpu = Cpu::<f32>::new(1);
        cpu.clone().scratch.give(vec![1.0; 4]);
        assert_eq!(cpu.scratch.take(4).capacity(), 4);
    }

    #[test]
    fn fast_exp_and_gates_are_accurate_over_the_useful_range() {
        let mut worst_exp = 0.0f64;
        let mut worst_gate = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3 * 4.0; // [-80, 80]
            let exact = (x as f64).exp();
            worst_exp = worst_exp.max(((exp_f32(x) as f64 - exact) / exact).abs());
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            worst_gate = worst_gate.max((x.gate_sigmoid() as f64 - s).abs());
            worst_gate = worst_gate.max((x.gate_tanh() as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_gate < 5e-7, "gate absolute error {worst_gate}");
    }
}
