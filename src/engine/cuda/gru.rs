//! GRU layers on the device: the host walks the time steps, each step one cuBLAS GEMM per
//! direction for the recurrent product and one fused cell kernel for both directions; the
//! weight gradients run after the loop as one GEMM over all steps. A persistent kernel that
//! keeps bf16 recurrent weights in shared memory serves small-batch, low-latency encoding.

use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};

use super::device::{launched, BLOCK};
use super::{fits, launch, Cuda};
use crate::engine::backend::{Gemm, GruBackward, GruDims, GruForward, GruWeights};
use crate::error::{Error, Result};

/// The sizes and the step index of one cell launch; mirrors `GruStep` in `kernels/gru.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct GruStep {
    seq_len: u64,
    batch: u64,
    hidden: u64,
    dirs: u64,
    step: u64,
}

// SAFETY: plain old data with the C layout the kernel declares (five u64).
unsafe impl DeviceRepr for GruStep {}

impl GruStep {
    /// The launch parameters of step `step` of a layer of sizes `dims`.
    pub(super) fn new(dims: &GruDims, step: usize) -> GruStep {
        GruStep {
            seq_len: dims.seq_len as u64,
            batch: dims.batch as u64,
            hidden: dims.hidden as u64,
            dirs: dims.dirs as u64,
            step: step as u64,
        }
    }
}

/// The most sequences the persistent kernel handles (its per-lane accumulators).
pub const PERSISTENT_MAX_BATCH: usize = 8;

fn check_weights(op: &'static str, dims: &GruDims, weights: &[GruWeights<'_, Cuda>]) -> Result<()> {
    if dims.dirs != 1 && dims.dirs != 2 {
        return Err(Error::shape(op, "dirs of 1 or 2", dims.dirs.to_string()));
    }
    if weights.len() != dims.dirs {
        return Err(Error::shape(
            op,
            format!("{} weight sets", dims.dirs),
            weights.len().to_string(),
        ));
    }
    let h = dims.hidden;
    for w in weights {
        fits(op, "weight_hh", 3 * h * h, w.w_hh.len())?;
        fits(op, "bias_hh", 3 * h, w.b_hh.len())?;
    }
    Ok(())
}

impl Cuda {
    fn cell_launch(&self, dims: &GruDims) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (
                (dims.batch * dims.hidden).div_ceil(BLOCK as usize) as u32,
                dims.dirs as u32,
                1,
            ),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    pub(super) fn gru_forward_steps(&self, args: GruForward<'_, Self>) -> Result<()> {
        let dims = args.dims;
        let (t_len, b, h, d_n) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        check_weights("gru_forward", &dims, args.weights)?;
        fits(
            "gru_forward",
            "xproj",
            d_n * t_len * b * 3 * h,
            args.xproj.len(),
        )?;
        fits("gru_forward", "out", t_len * b * d_n * h, args.out.len())?;
        if let Some(saved) = args.saved.as_deref() {
            fits("gru_forward", "saved", d_n * t_len * b * 4 * h, saved.len())?;
        }
        if let Some(extra) = args.extra {
            fits("gru_forward", "extra", d_n * b * 3 * h, extra.len())?;
        }
        if let Some(h0) = args.h0 {
            fits("gru_forward", "h0", d_n * b * h, h0.len())?;
        }
        if let Some(lens) = args.lens {
            fits("gru_forward", "lens", b, lens.len())?;
        }
        if t_len * b * h == 0 {
            return Ok(());
        }

        // The running state (D, B, H) and the recurrent product of one step (D, B, 3H).
        let mut state = self.dev.scratch::<f32>(d_n * b * h)?;
        let mut gh = self.dev.scratch::<f32>(d_n * b * 3 * h)?;
        let state_p = self.dev.ptr_mut(&mut state, 0);
        let gh_p = self.dev.ptr_mut(&mut gh, 0);
        match args.h0 {
            Some(h0) => self
                .dev
                .copy_raw(self.dev.ptr(h0, 0), state_p, d_n * b * h)?,
            None => self.dev.zero_raw(state_p, d_n * b * h)?,
        }

        let w_p: Vec<u64> = args
            .weights
            .iter()
            .map(|w| self.dev.ptr(w.w_hh, 0))
            .collect();
        let b_p: Vec<u64> = args
            .weights
            .iter()
            .map(|w| self.dev.ptr(w.b_hh, 0))
            .collect();
        let (b_fwd, b_bwd) = (b_p[0], b_p[d_n - 1]);
        let xproj = self.dev.ptr(args.xproj, 0);
        let extra = args.extra.map_or(0, |e| self.dev.ptr(e, 0));
        let lens = args.lens.map_or(0, |l| self.dev.ptr(l, 0));
        let out = self.dev.ptr_mut(args.out, 0);
        let saved = args.saved.map_or(0, |s| self.dev.ptr_mut(s, 0));
        let f = self.dev.function("gru", "gru_cell_fwd_f32")?;
        let cfg = self.cell_launch(&dims);
        // gh[d] = state[d] (B, H) . W_hh[d]^T (H, 3H)
        let recurrent = Gemm::new(b, 3 * h, h, false, true);

        for s in 0..t_len {
            for (d, &w) in w_p.iter().enumerate() {
                let a = state_p + (d * b * h * 4) as u64;
                let c = gh_p + (d * b * 3 * h * 4) as u64;
                self.dev.gemm_raw(&recurrent, a, w, c)?;
            }
            let step = GruStep::new(&dims, s);
            // SAFETY: every buffer was checked against the layer's sizes above; optional
            // pointers are null when absent, as the kernel expects; grid.y = D.
            launched("gru_cell_fwd_f32", unsafe {
                launch!(
                    self.dev, f, cfg, xproj, gh_p, b_fwd, b_bwd, extra, lens, state_p, out, saved,
                    step
                )
            })?;
        }
        Ok(())
    }

    pub(super) fn gru_backward_steps(&self, args: GruBackward<'_, Self>) -> Result<()> {
        let dims = args.dims;
        let (t_len, b, h, d_n) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        let gates = d_n * t_len * b * 3 * h;
        check_weights("gru_backward", &dims, args.weights)?;
        fits("gru_backward", "out", t_len * b * d_n * h, args.out.len())?;
        fits(
            "gru_backward",
            "saved",
            d_n * t_len * b * 4 * h,
            args.saved.len(),
        )?;
        fits("gru_backward", "dout", t_len * b * d_n * h, args.dout.len())?;
        fits("gru_backward", "dxproj", gates, args.dxproj.len())?;
        fits("gru_backward", "work", gates, args.work.len())?;
        if args.dw_hh.len() != d_n || args.db_hh.len() != d_n {
            return Err(Error::shape(
                "gru_backward",
                format!("{d_n} weight and bias gradients"),
                format!("{} and {}", args.dw_hh.len(), args.db_hh.len()),
            ));
        }
        for dw in args.dw_hh.iter() {
            fits("gru_backward", "dweight_hh", 3 * h * h, dw.len())?;
        }
        for db in args.db_hh.iter() {
            fits("gru_backward", "dbias_hh", 3 * h, db.len())?;
        }
        if let Some(h0) = args.h0 {
            fits("gru_backward", "h0", d_n * b * h, h0.len())?;
        }
        if let Some(dh0) = args.dh0.as_deref() {
            fits("gru_backward", "dh0", d_n * b * h, dh0.len())?;
        }
        if let Some(dextra) = args.dextra.as_deref() {
            fits("gru_backward", "dextra", d_n * b * 3 * h, dextra.len())?;
        }
        if let Some(lens) = args.lens {
            fits("gru_backward", "lens", b, lens.len())?;
        }
        if t_len * b * h == 0 {
            return Ok(());
        }

        // dL/dh carried between steps (D, B, H), and every step's previous state
        // (D, T, B, H) for the weight gradient after the loop.
        let mut dstate = self.dev.scratch::<f32>(d_n * b * h)?;
        let mut hprev = self.dev.scratch::<f32>(d_n * t_len * b * h)?;
        let dstate_p = self.dev.ptr_mut(&mut dstate, 0);
        let hprev_p = self.dev.ptr_mut(&mut hprev, 0);
        self.dev.zero_raw(dstate_p, d_n * b * h)?;

        let w_p: Vec<u64> = args
            .weights
            .iter()
            .map(|w| self.dev.ptr(w.w_hh, 0))
            .collect();
        let saved = self.dev.ptr(args.saved, 0);
        let out = self.dev.ptr(args.out, 0);
        let h0 = args.h0.map_or(0, |x| self.dev.ptr(x, 0));
        let lens = args.lens.map_or(0, |l| self.dev.ptr(l, 0));
        let dout = self.dev.ptr(args.dout, 0);
        let dxproj = self.dev.ptr_mut(args.dxproj, 0);
        let work = self.dev.ptr_mut(args.work, 0);
        let f = self.dev.function("gru", "gru_cell_bwd_f32")?;
        let cfg = self.cell_launch(&dims);
        // dstate[d] (B, H) += work[d, t] (B, 3H) . W_hh[d] (3H, H)
        let recurrent = Gemm::new(b, h, 3 * h, false, false).accumulate();
        let want_dh0 = args.dh0.is_some();

        for s in (0..t_len).rev() {
            let step = GruStep::new(&dims, s);
            // SAFETY: every buffer was checked against the layer's sizes above; h0 and lens
            // are null when absent; grid.y = D.
            launched("gru_cell_bwd_f32", unsafe {
                launch!(
                    self.dev, f, cfg, saved, out, h0, lens, dout, dstate_p, dxproj, work, hprev_p,
                    step
                )
            })?;
            // After the first step the carried gradient only matters for dh0.
            if s == 0 && !want_dh0 {
                break;
            }
            for (d, &w) in w_p.iter().enumerate() {
                let t = if d == 0 { s } else { t_len - 1 - s };
                let a = work + (((d * t_len + t) * b * 3 * h) * 4) as u64;
                let c = dstate_p + (d * b * h * 4) as u64;
                self.dev.gemm_raw(&recurrent, a, w, c)?;
            }
        }

        // dW_hh[d] (3H, H) += work[d]^T (3H, T*B) . hprev[d] (T*B, H); db_hh[d] += colsum.
        let weight_grad = Gemm::new(3 * h, h, t_len * b, true, false).accumulate();
        for d in 0..d_n {
            let work_d = work + (d * t_len * b * 3 * h * 4) as u64;
            let hprev_d = hprev_p + (d * t_len * b * h * 4) as u64;
            let dw = self.dev.ptr_mut(args.dw_hh[d], 0);
            self.dev.gemm_raw(&weight_grad, work_d, hprev_d, dw)?;
            let db = self.dev.ptr_mut(args.db_hh[d], 0);
            self.sum_rows_raw(work_d, t_len * b, 3 * h, db)?;
        }
        if let Some(dh0) = args.dh0 {
            let dh0 = self.dev.ptr_mut(dh0, 0);
            self.axpy_raw(1.0, dstate_p, dh0, d_n * b * h)?;
        }
        if let Some(dextra) = args.dextra {
            // extra enters every step's input-side gates: its gradient sums dxproj over T.
            let dextra = self.dev.ptr_mut(dextra, 0);
            for d in 0..d_n {
                let dx_d = dxproj + (d * t_len * b * 3 * h * 4) as u64;
                let de_d = dextra + (d * b * 3 * h * 4) as u64;
                self.sum_rows_raw(dx_d, t_len, b * 3 * h, de_d)?;
            }
        }
        Ok(())
    }

    /// The low-latency GRU forward: one cooperative kernel steps through the whole sequence
    /// with the recurrent weights held on chip in bf16 (fp32 accumulation), for batches of
    /// at most [`PERSISTENT_MAX_BATCH`] sequences. Same arguments and result as
    /// [`Backend::gru_forward`] up to bf16 rounding of `W_hh`, except that nothing is saved
    /// for a backward pass (`saved` must be `None`).
    pub fn gru_forward_persistent(&self, args: GruForward<'_, Self>) -> Result<()> {
        let dims = args.dims;
        let (t_len, b, h, d_n) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        if args.saved.is_some() {
            return Err(Error::Invalid(
                "gru_forward_persistent saves nothing for backward; pass saved: None".into(),
            ));
        }
        if b > PERSISTENT_MAX_BATCH || h % 2 == 1 {
            return Err(Error::Invalid(format!(
                "gru_forward_persistent needs batch <= {PERSISTENT_MAX_BATCH} and an even hidden \
                 size, got batch {b}, hidden {h}"
            )));
        }
        check_weights("gru_forward_persistent", &dims, args.weights)?;
        fits(
            "gru_forward_persistent",
            "xproj",
            d_n * t_len * b * 3 * h,
            args.xproj.len(),
        )?;
        fits(
            "gru_forward_persistent",
            "out",
            t_len * b * d_n * h,
            args.out.len(),
        )?;
        if let Some(extra) = args.extra {
            fits(
                "gru_forward_persistent",
                "extra",
                d_n * b * 3 * h,
                extra.len(),
            )?;
        }
        if let Some(h0) = args.h0 {
            fits("gru_forward_persistent", "h0", d_n * b * h, h0.len())?;
        }
        if let Some(lens) = args.lens {
            fits("gru_forward_persistent", "lens", b, lens.len())?;
        }
        if t_len * b * h == 0 {
            return Ok(());
        }

        // One block per SM: each block of a direction owns `units` hidden units.
        let blocks_per_dir = (self.dev.sm_count as usize / d_n).clamp(1, h);
        let units = h.div_ceil(blocks_per_dir);
        let grid = d_n * h.div_ceil(units);
        let smem = 3 * units * h * 2 + b * h * 4 + 3 * units * b * 4;
        let smem_limit = self
            .dev
            .ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
            .map_err(|e| super::device_err("querying shared memory", e))?
            as usize;
        if smem > smem_limit {
            return Err(Error::Invalid(format!(
                "gru_forward_persistent: {smem} bytes of shared memory per block needed for \
                 hidden {h}, batch {b}; the device offers {smem_limit}"
            )));
        }
        let f = self
            .dev
            .function("gru_persistent", "gru_persistent_fwd_bf16")?;
        f.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            smem as i32,
        )
        .map_err(|e| super::device_err("raising the shared memory limit", e))?;
        let resident =
            f.occupancy_max_active_blocks_per_multiprocessor(BLOCK, smem, None)
                .map_err(|e| super::device_err("querying occupancy", e))? as usize
                * self.dev.sm_count as usize;
        if resident < grid {
            return Err(Error::Invalid(format!(
                "gru_forward_persistent: {grid} blocks must be resident at once, the device \
                 holds {resident} of this size"
            )));
        }

        // bf16 recurrent weights (D, 3H, H) and packed biases (D, 3H).
        let mut w_bf16 = self.dev.scratch::<u16>(d_n * 3 * h * h)?;
        let mut bias = self.dev.scratch::<f32>(d_n * 3 * h)?;
        let w_bf16_p = self.dev.ptr_mut(&mut w_bf16, 0);
        let bias_p = self.dev.ptr_mut(&mut bias, 0);
        let convert = self.dev.function("elementwise", "f32_to_bf16")?;
        let per_dir = (3 * h * h) as u64;
        for (d, w) in args.weights.iter().enumerate() {
            let src = self.dev.ptr(w.w_hh, 0);
            let dst = w_bf16_p + d as u64 * per_dir * 2;
            let cfg = self.launch_1d(3 * h * h);
            // SAFETY: src holds 3H*H floats (checked), dst 3H*H bf16 of the scratch.
            launched("f32_to_bf16", unsafe {
                launch!(self.dev, convert, cfg, src, dst, per_dir)
            })?;
            self.dev.copy_raw(
                self.dev.ptr(w.b_hh, 0),
                bias_p + (d * 3 * h * 4) as u64,
                3 * h,
            )?;
        }

        // Ping-pong states (2, D, B, H) and the grid barrier's counter and generation.
        let mut hbuf = self.dev.scratch::<f32>(2 * d_n * b * h)?;
        let mut barrier = self.dev.scratch::<u32>(2)?;
        let hbuf_p = self.dev.ptr_mut(&mut hbuf, 0);
        let barrier_p = self.dev.ptr_mut(&mut barrier, 0);
        self.dev.zero_raw(barrier_p, 2)?;

        let xproj = self.dev.ptr(args.xproj, 0);
        let extra = args.extra.map_or(0, |e| self.dev.ptr(e, 0));
        let h0 = args.h0.map_or(0, |x| self.dev.ptr(x, 0));
        let lens = args.lens.map_or(0, |l| self.dev.ptr(l, 0));
        let out = self.dev.ptr_mut(args.out, 0);
        let (t64, b64, h64, d64, u64_units) =
            (t_len as u64, b as u64, h as u64, d_n as u64, units as u64);
        let cfg = LaunchConfig {
            grid_dim: (grid as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: smem as u32,
        };
        let pointers = [
            xproj, w_bf16_p, bias_p, extra, h0, lens, out, hbuf_p, barrier_p,
        ];
        let mut builder = self.dev.stream.launch_builder(&f);
        for pointer in &pointers {
            builder.arg(pointer);
        }
        builder
            .arg(&t64)
            .arg(&b64)
            .arg(&h64)
            .arg(&d64)
            .arg(&u64_units);
        // SAFETY: sizes were checked above; the grid fits on the device at once (occupancy
        // checked) and is launched cooperatively, as the kernel's grid barrier requires;
        // the barrier words were zeroed in stream order before the launch.
        launched("gru_persistent_fwd_bf16", unsafe {
            builder.launch_cooperative(cfg)
        })
    }
}
