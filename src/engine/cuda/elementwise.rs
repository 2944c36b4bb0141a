//! Element-wise operations, bias addition and column sums (bias gradients).

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::device::launched;
use super::{fits, launch, Cuda};
use crate::error::Result;

pub(super) fn fill(cuda: &Cuda, buf: &mut CudaSlice<f32>, n: usize, value: f32) -> Result<()> {
    fits("fill", "buffer", n, buf.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "fill_f32")?;
    let x = cuda.dev.ptr_mut(buf, 0);
    let n64 = n as u64;
    // SAFETY: buf holds at least n floats (checked above).
    launched("fill_f32", unsafe {
        launch!(cuda.dev, f, cuda.launch_1d(n), x, n64, value)
    })
}

pub(super) fn axpy(
    cuda: &Cuda,
    alpha: f32,
    src: &CudaSlice<f32>,
    dst: &mut CudaSlice<f32>,
    n: usize,
) -> Result<()> {
    fits("axpy", "src", n, src.len())?;
    fits("axpy", "dst", n, dst.len())?;
    let x = cuda.dev.ptr(src, 0);
    let y = cuda.dev.ptr_mut(dst, 0);
    cuda.axpy_raw(alpha, x, y, n)
}

pub(super) fn add_bias(
    cuda: &Cuda,
    x: &mut CudaSlice<f32>,
    bias: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    fits("add_bias", "x", rows * cols, x.len())?;
    fits("add_bias", "bias", cols, bias.len())?;
    if rows * cols == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "add_bias_f32")?;
    let xp = cuda.dev.ptr_mut(x, 0);
    let bp = cuda.dev.ptr(bias, 0);
    let (r, c) = (rows as u64, cols as u64);
    let cfg = cuda.launch_1d(rows * cols);
    // SAFETY: x holds rows * cols floats and bias cols floats (checked above).
    launched("add_bias_f32", unsafe {
        launch!(cuda.dev, f, cfg, xp, bp, r, c)
    })
}

pub(super) fn sum_rows(
    cuda: &Cuda,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
    out: &mut CudaSlice<f32>,
) -> Result<()> {
    fits("sum_rows", "x", rows * cols, x.len())?;
    fits("sum_rows", "out", cols, out.len())?;
    let xp = cuda.dev.ptr(x, 0);
    let op = cuda.dev.ptr_mut(out, 0);
    cuda.sum_rows_raw(xp, rows, cols, op)
}

pub(super) fn relu_forward(
    cuda: &Cuda,
    x: &CudaSlice<f32>,
    y: &mut CudaSlice<f32>,
    n: usize,
) -> Result<()> {
    fits("relu_forward", "x", n, x.len())?;
    fits("relu_forward", "y", n, y.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "relu_fwd_f32")?;
    let (xp, yp, n64) = (cuda.dev.ptr(x, 0), cuda.dev.ptr_mut(y, 0), n as u64);
    // SAFETY: x and y hold at least n floats (checked above).
    launched("relu_fwd_f32", unsafe {
        launch!(cuda.dev, f, cuda.launch_1d(n), xp, yp, n64)
    })
}

pub(super) fn relu_backward(
    cuda: &Cuda,
    y: &CudaSlice<f32>,
    dy: &CudaSlice<f32>,
    dx: &mut CudaSlice<f32>,
    n: usize,
) -> Result<()> {
    fits("relu_backward", "y", n, y.len())?;
    fits("relu_backward", "dy", n, dy.len())?;
    fits("relu_backward", "dx", n, dx.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "relu_bwd_f32")?;
    let (yp, dyp, dxp) = (
        cuda.dev.ptr(y, 0),
        cuda.dev.ptr(dy, 0),
        cuda.dev.ptr_mut(dx, 0),
    );
    let n64 = n as u64;
    let cfg = cuda.launch_1d(n);
    // SAFETY: y, dy and dx hold at least n floats (checked above).
    launched("relu_bwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, yp, dyp, dxp, n64)
    })
}

pub(super) fn dropout_forward(
    cuda: &Cuda,
    x: &CudaSlice<f32>,
    y: &mut CudaSlice<f32>,
    n: usize,
    p: f32,
    seed: u64,
) -> Result<()> {
    fits("dropout_forward", "x", n, x.len())?;
    fits("dropout_forward", "y", n, y.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "dropout_fwd_f32")?;
    let scale = 1.0 / (1.0 - p);
    let (xp, yp, n64) = (cuda.dev.ptr(x, 0), cuda.dev.ptr_mut(y, 0), n as u64);
    let cfg = cuda.launch_1d(n);
    // SAFETY: x and y hold at least n floats (checked above).
    launched("dropout_fwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, xp, yp, n64, p, scale, seed)
    })
}

pub(super) fn dropout_backward(
    cuda: &Cuda,
    dy: &CudaSlice<f32>,
    dx: &mut CudaSlice<f32>,
    n: usize,
    p: f32,
    seed: u64,
) -> Result<()> {
    fits("dropout_backward", "dy", n, dy.len())?;
    fits("dropout_backward", "dx", n, dx.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "dropout_bwd_f32")?;
    let scale = 1.0 / (1.0 - p);
    let (dyp, dxp, n64) = (cuda.dev.ptr(dy, 0), cuda.dev.ptr_mut(dx, 0), n as u64);
    let cfg = cuda.launch_1d(n);
    // SAFETY: dy and dx hold at least n floats (checked above).
    launched("dropout_bwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, dyp, dxp, n64, p, scale, seed)
    })
}

pub(super) fn pair_features_forward(
    cuda: &Cuda,
    u: &CudaSlice<f32>,
    v: &CudaSlice<f32>,
    out: &mut CudaSlice<f32>,
    batch: usize,
    dim: usize,
) -> Result<()> {
    let n = batch * dim;
    fits("pair_features_forward", "u", n, u.len())?;
    fits("pair_features_forward", "v", n, v.len())?;
    fits("pair_features_forward", "out", 4 * n, out.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "pair_features_fwd_f32")?;
    let (up, vp, op) = (
        cuda.dev.ptr(u, 0),
        cuda.dev.ptr(v, 0),
        cuda.dev.ptr_mut(out, 0),
    );
    let (b, d) = (batch as u64, dim as u64);
    let cfg = cuda.launch_1d(n);
    // SAFETY: u and v hold batch * dim floats, out 4 * batch * dim (checked above).
    launched("pair_features_fwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, up, vp, op, b, d)
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn pair_features_backward(
    cuda: &Cuda,
    u: &CudaSlice<f32>,
    v: &CudaSlice<f32>,
    dout: &CudaSlice<f32>,
    du: &mut CudaSlice<f32>,
    dv: &mut CudaSlice<f32>,
    batch: usize,
    dim: usize,
) -> Result<()> {
    let n = batch * dim;
    fits("pair_features_backward", "u", n, u.len())?;
    fits("pair_features_backward", "v", n, v.len())?;
    fits("pair_features_backward", "dout", 4 * n, dout.len())?;
    fits("pair_features_backward", "du", n, du.len())?;
    fits("pair_features_backward", "dv", n, dv.len())?;
    if n == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("elementwise", "pair_features_bwd_f32")?;
    let (up, vp, gp) = (
        cuda.dev.ptr(u, 0),
        cuda.dev.ptr(v, 0),
        cuda.dev.ptr(dout, 0),
    );
    let (dup, dvp) = (cuda.dev.ptr_mut(du, 0), cuda.dev.ptr_mut(dv, 0));
    let (b, d) = (batch as u64, dim as u64);
    let cfg = cuda.launch_1d(n);
    // SAFETY: every buffer holds what batch and dim require (checked above).
    launched("pair_features_bwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, up, vp, gp, dup, dvp, b, d)
    })
}
