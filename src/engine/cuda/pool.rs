//! Pooling GRU outputs into sentence vectors, and its gradient.

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::device::launched;
use super::{fits, launch, Cuda};
use crate::engine::backend::{GruDims, Pool};
use crate::error::Result;

pub(super) fn pool_forward(
    cuda: &Cuda,
    pool: Pool,
    h: &CudaSlice<f32>,
    lens: &CudaSlice<u32>,
    dims: GruDims,
    out: &mut CudaSlice<f32>,
    argmax: &mut CudaSlice<u32>,
) -> Result<()> {
    let width = dims.dirs * dims.hidden;
    let n = dims.batch * width;
    fits("pool_forward", "h", dims.seq_len * n, h.len())?;
    fits("pool_forward", "lens", dims.batch, lens.len())?;
    fits("pool_forward", "out", n, out.len())?;
    if n == 0 {
        return Ok(());
    }
    let (hp, lp, op) = (
        cuda.dev.ptr(h, 0),
        cuda.dev.ptr(lens, 0),
        cuda.dev.ptr_mut(out, 0),
    );
    let (batch, dirs, hidden, w) = (
        dims.batch as u64,
        dims.dirs as u64,
        dims.hidden as u64,
        width as u64,
    );
    let cfg = cuda.launch_1d(n);
    match pool {
        Pool::Last => {
            let f = cuda.dev.function("reduce", "pool_last_fwd_f32")?;
            // SAFETY: h is (T, B, D*H), lens (B) with values in 1..=T, out (B, D*H).
            launched("pool_last_fwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, hp, lp, op, batch, dirs, hidden)
            })
        }
        Pool::Max => {
            fits("pool_forward", "argmax", n, argmax.len())?;
            let f = cuda.dev.function("reduce", "pool_max_fwd_f32")?;
            let ap = cuda.dev.ptr_mut(argmax, 0);
            // SAFETY: as for last, and argmax holds B*D*H ids (checked above).
            launched("pool_max_fwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, hp, lp, op, ap, batch, w)
            })
        }
        Pool::Mean => {
            let f = cuda.dev.function("reduce", "pool_mean_fwd_f32")?;
            // SAFETY: h is (T, B, D*H), lens (B) with values in 1..=T, out (B, D*H).
            launched("pool_mean_fwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, hp, lp, op, batch, w)
            })
        }
    }
}

pub(super) fn pool_backward(
    cuda: &Cuda,
    pool: Pool,
    dout: &CudaSlice<f32>,
    lens: &CudaSlice<u32>,
    argmax: &CudaSlice<u32>,
    dims: GruDims,
    dh: &mut CudaSlice<f32>,
) -> Result<()> {
    let width = dims.dirs * dims.hidden;
    let n = dims.batch * width;
    fits("pool_backward", "dout", n, dout.len())?;
    fits("pool_backward", "lens", dims.batch, lens.len())?;
    fits("pool_backward", "dh", dims.seq_len * n, dh.len())?;
    if n == 0 {
        return Ok(());
    }
    let (gp, lp, dp) = (
        cuda.dev.ptr(dout, 0),
        cuda.dev.ptr(lens, 0),
        cuda.dev.ptr_mut(dh, 0),
    );
    let (seq, batch, dirs, hidden, w) = (
        dims.seq_len as u64,
        dims.batch as u64,
        dims.dirs as u64,
        dims.hidden as u64,
        width as u64,
    );
    match pool {
        Pool::Last => {
            let f = cuda.dev.function("reduce", "pool_last_bwd_f32")?;
            let cfg = cuda.launch_1d(n);
            // SAFETY: dout is (B, D*H), lens (B) in 1..=T, dh (T, B, D*H).
            launched("pool_last_bwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, gp, lp, dp, batch, dirs, hidden)
            })
        }
        Pool::Max => {
            fits("pool_backward", "argmax", n, argmax.len())?;
            let f = cuda.dev.function("reduce", "pool_max_bwd_f32")?;
            let ap = cuda.dev.ptr(argmax, 0);
            let cfg = cuda.launch_1d(n);
            // SAFETY: argmax holds steps < T written by pool_forward; dh is (T, B, D*H).
            launched("pool_max_bwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, gp, ap, dp, batch, w)
            })
        }
        Pool::Mean => {
            let f = cuda.dev.function("reduce", "pool_mean_bwd_f32")?;
            let cfg = cuda.launch_1d(dims.seq_len * n);
            // SAFETY: dout is (B, D*H), lens (B) in 1..=T, dh (T, B, D*H).
            launched("pool_mean_bwd_f32", unsafe {
                launch!(cuda.dev, f, cfg, gp, lp, dp, seq, batch, w)
            })
        }
    }
}
