//! bf16 storage with fp32 accumulation, for encoding: weights and activations that feed
//! GEMMs are kept in bf16 (half the memory traffic, tensor cores), while every sum and the
//! GRU's gate math stay in fp32. These are methods of [`Cuda`] outside the `Backend` trait,
//! whose buffers are f32; training keeps using the f32 path.
//!
//! A bf16 buffer holds the raw 16 bits of each value (the upper half of an IEEE f32),
//! rounded to nearest even by [`Cuda::to_bf16`].

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::device::{launched, GemmInputs, BLOCK};
use super::{check_gemm, fits, launch, Cuda};
use crate::engine::backend::{Gemm, GruDims};
use crate::error::{Error, Result};

/// A device buffer of bf16 values (raw bits).
pub type Bf16Buf = CudaSlice<u16>;

/// Arguments of [`Cuda::gru_forward_bf16`]: as [`crate::engine::backend::GruForward`], with
/// the recurrent weights in bf16 and nothing saved for a backward pass.
pub struct GruForwardBf16<'a> {
    pub dims: GruDims,
    /// Per direction, `weight_hh` (3H, H) in bf16.
    pub w_hh: &'a [&'a Bf16Buf],
    /// Per direction, `bias_hh` (3H).
    pub b_hh: &'a [&'a CudaSlice<f32>],
    /// (D, T, B, 3H), input projections including `bias_ih`.
    pub xproj: &'a CudaSlice<f32>,
    /// Optional per-sequence gate term (D, B, 3H).
    pub extra: Option<&'a CudaSlice<f32>>,
    /// Optional initial state (D, B, H).
    pub h0: Option<&'a CudaSlice<f32>>,
    /// Optional lengths (B), each in `1..=T`.
    pub lens: Option<&'a CudaSlice<u32>>,
    /// (T, B, D*H), overwritten.
    pub out: &'a mut CudaSlice<f32>,
}

impl Cuda {
    /// The first `n` values of `src` rounded to bf16.
    pub fn to_bf16(&self, src: &CudaSlice<f32>, n: usize) -> Result<Bf16Buf> {
        fits("to_bf16", "src", n, src.len())?;
        let mut dst = self.dev.scratch::<u16>(n)?;
        let dst_p = self.dev.ptr_mut(&mut dst, 0);
        self.convert_to_bf16(self.dev.ptr(src, 0), dst_p, n)?;
        Ok(dst)
    }

    /// The first `n` values of a bf16 buffer, widened to f32 (waits for pending work).
    pub fn bf16_to_host(&self, buf: &Bf16Buf, n: usize) -> Result<Vec<f32>> {
        fits("bf16_to_host", "buffer", n, buf.len())?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let bits = self
            .dev
            .stream
            .clone_dtoh(&buf.slice(0..n))
            .map_err(|e| super::device_err("copy to host", e))?;
        Ok(bits
            .into_iter()
            .map(|b| f32::from_bits((b as u32) << 16))
            .collect())
    }

    fn convert_to_bf16(&self, src: u64, dst: u64, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "f32_to_bf16")?;
        let n64 = n as u64;
        // SAFETY: callers pass a source of n floats and a destination of n bf16.
        launched("f32_to_bf16", unsafe {
            launch!(self.dev, f, self.launch_1d(n), src, dst, n64)
        })
    }

    /// `C = alpha op(A) op(B) + beta C` with A and B in bf16 and C in f32, accumulating in
    /// fp32; the layout rules are those of [`Backend::gemm`](crate::engine::Backend::gemm).
    pub fn gemm_bf16(
        &self,
        g: &Gemm,
        a: &Bf16Buf,
        b: &Bf16Buf,
        c: &mut CudaSlice<f32>,
    ) -> Result<()> {
        check_gemm("gemm_bf16", g, a.len(), b.len(), c.len())?;
        let (ap, bp) = (self.dev.ptr(a, g.a_off), self.dev.ptr(b, g.b_off));
        let cp = self.dev.ptr_mut(c, g.c_off);
        self.dev.gemm_typed(g, ap, bp, cp, GemmInputs::Bf16)
    }

    /// `out[i, :] = table[ids[i], :]` with a bf16 table and bf16 output, ready to be the A
    /// operand of the input projection's [`Cuda::gemm_bf16`].
    pub fn embedding_forward_bf16(
        &self,
        table: &Bf16Buf,
        ids: &CudaSlice<u32>,
        n: usize,
        dim: usize,
        out: &mut Bf16Buf,
    ) -> Result<()> {
        fits("embedding_forward_bf16", "ids", n, ids.len())?;
        fits("embedding_forward_bf16", "out", n * dim, out.len())?;
        if n * dim == 0 {
            return Ok(());
        }
        let f = self.dev.function("embedding", "embedding_fwd_bf16")?;
        let (tp, ip) = (self.dev.ptr(table, 0), self.dev.ptr(ids, 0));
        let op = self.dev.ptr_mut(out, 0);
        let (n64, d64) = (n as u64, dim as u64);
        let cfg = self.launch_1d(n * dim);
        // SAFETY: ids holds n ids, out n * dim bf16; ids index rows of the table, whose
        // range the layers above validate against the vocabulary.
        launched("embedding_fwd_bf16", unsafe {
            launch!(self.dev, f, cfg, tp, ip, n64, d64, op)
        })
    }

    /// A GRU layer forward with bf16 recurrent weights: per step, one bf16 GEMM per
    /// direction (fp32 accumulation) and the fused cell, which also keeps a bf16 copy of
    /// the state for the next step. Matches [`Backend::gru_forward`](crate::engine::Backend::gru_forward)
    /// up to bf16 rounding of the weights and of the state fed to the GEMM.
    pub fn gru_forward_bf16(&self, args: GruForwardBf16<'_>) -> Result<()> {
        let dims = args.dims;
        let (t_len, b, h, d_n) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        let op = "gru_forward_bf16";
        if (d_n != 1 && d_n != 2) || args.w_hh.len() != d_n || args.b_hh.len() != d_n {
            return Err(Error::shape(
                op,
                "1 or 2 directions with one weight and bias each",
                format!(
                    "{d_n} directions, {} weights, {} biases",
                    args.w_hh.len(),
                    args.b_hh.len()
                ),
            ));
        }
        for (w, bias) in args.w_hh.iter().zip(args.b_hh) {
            fits(op, "weight_hh", 3 * h * h, w.len())?;
            fits(op, "bias_hh", 3 * h, bias.len())?;
        }
        fits(op, "xproj", d_n * t_len * b * 3 * h, args.xproj.len())?;
        fits(op, "out", t_len * b * d_n * h, args.out.len())?;
        if let Some(extra) = args.extra {
            fits(op, "extra", d_n * b * 3 * h, extra.len())?;
        }
        if let Some(h0) = args.h0 {
            fits(op, "h0", d_n * b * h, h0.len())?;
        }
        if let Some(lens) = args.lens {
            fits(op, "lens", b, lens.len())?;
        }
        if t_len * b * h == 0 {
            return Ok(());
        }

        // The state in f32 (D, B, H) and its bf16 copy, and one step's gh (D, B, 3H).
        let mut state = self.dev.scratch::<f32>(d_n * b * h)?;
        let mut state_bf16 = self.dev.scratch::<u16>(d_n * b * h)?;
        let mut gh = self.dev.scratch::<f32>(d_n * b * 3 * h)?;
        let state_p = self.dev.ptr_mut(&mut state, 0);
        let state_bf16_p = self.dev.ptr_mut(&mut state_bf16, 0);
        let gh_p = self.dev.ptr_mut(&mut gh, 0);
        match args.h0 {
            Some(h0) => self
                .dev
                .copy_raw(self.dev.ptr(h0, 0), state_p, d_n * b * h)?,
            None => self.dev.zero_raw(state_p, d_n * b * h)?,
        }
        self.convert_to_bf16(state_p, state_bf16_p, d_n * b * h)?;

        let w_p: Vec<u64> = args.w_hh.iter().map(|w| self.dev.ptr(*w, 0)).collect();
        let b_fwd = self.dev.ptr(args.b_hh[0], 0);
        let b_bwd = self.dev.ptr(args.b_hh[d_n - 1], 0);
        let xproj = self.dev.ptr(args.xproj, 0);
        let extra = args.extra.map_or(0, |e| self.dev.ptr(e, 0));
        let lens = args.lens.map_or(0, |l| self.dev.ptr(l, 0));
        let out = self.dev.ptr_mut(args.out, 0);
        let f = self.dev.function("gru", "gru_cell_fwd_bf16")?;
        let cfg = LaunchConfig {
            grid_dim: ((b * h).div_ceil(BLOCK as usize) as u32, d_n as u32, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // gh[d] = state[d] (B, H) . W_hh[d]^T (H, 3H), bf16 in, f32 out.
        let recurrent = Gemm::new(b, 3 * h, h, false, true);

        for s in 0..t_len {
            for (d, &w) in w_p.iter().enumerate() {
                let a = state_bf16_p + (d * b * h * 2) as u64;
                let c = gh_p + (d * b * 3 * h * 4) as u64;
                self.dev.gemm_typed(&recurrent, a, w, c, GemmInputs::Bf16)?;
            }
            let step = super::gru::GruStep::new(&dims, s);
            // SAFETY: every buffer was checked against the layer's sizes above; optional
            // pointers are null when absent; grid.y = D.
            launched("gru_cell_fwd_bf16", unsafe {
                launch!(
                    self.dev,
                    f,
                    cfg,
                    xproj,
                    gh_p,
                    b_fwd,
                    b_bwd,
                    extra,
                    lens,
                    state_p,
                    state_bf16_p,
                    out,
                    step
                )
            })?;
        }
        Ok(())
    }
}
