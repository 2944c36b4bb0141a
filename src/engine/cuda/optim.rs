//! The global squared gradient norm and the fused Adam update.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::device::{launched, BLOCK};
use super::{fits, launch, Cuda};
use crate::engine::backend::AdamStep;
use crate::error::{Error, Result};

pub(super) fn sq_norm(
    cuda: &Cuda,
    x: &CudaSlice<f32>,
    n: usize,
    out: &mut CudaSlice<f32>,
) -> Result<()> {
    fits("sq_norm", "x", n, x.len())?;
    fits("sq_norm", "out", 1, out.len())?;
    if n == 0 {
        return Ok(());
    }
    // The partial count depends on n alone, so the sum's order is reproducible.
    let blocks = n.div_ceil(BLOCK as usize).min(1024);
    let mut partials = cuda.dev.scratch::<f32>(blocks)?;
    let pp = cuda.dev.ptr_mut(&mut partials, 0);
    let (xp, n64) = (cuda.dev.ptr(x, 0), n as u64);
    let f = cuda.dev.function("reduce", "sq_norm_partial_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: x holds n floats, partials one float per block.
    launched("sq_norm_partial_f32", unsafe {
        launch!(cuda.dev, f, cfg, xp, n64, pp)
    })?;
    let op = cuda.dev.ptr_mut(out, 0);
    cuda.sum_into(pp, blocks, op)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn adam(
    cuda: &Cuda,
    param: &mut CudaSlice<f32>,
    grad: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
    n: usize,
    hp: &AdamStep,
    norm_sq: &CudaSlice<f32>,
) -> Result<()> {
    for (what, len) in [("param", param.len()), ("grad", grad.len()), ("m", m.len())] {
        fits("adam", what, n, len)?;
    }
    fits("adam", "v", n, v.len())?;
    fits("adam", "norm_sq", 1, norm_sq.len())?;
    if n == 0 {
        return Ok(());
    }
    if hp.step == 0 {
        return Err(Error::Invalid("adam: step counts from 1".into()));
    }
    // Bias corrections in f64, folded into two factors as the CPU backend does.
    let step = hp.step.min(i32::MAX as u64) as i32;
    let bias1 = 1.0 - (hp.beta1 as f64).powi(step);
    let bias2 = 1.0 - (hp.beta2 as f64).powi(step);
    let step_size = (hp.lr as f64 / bias1) as f32;
    let inv_sqrt_bias2 = (1.0 / bias2.sqrt()) as f32;
    let f = cuda.dev.function("adam", "adam_f32")?;
    let (pp, gp) = (cuda.dev.ptr_mut(param, 0), cuda.dev.ptr(grad, 0));
    let (mp, vp, np) = (
        cuda.dev.ptr_mut(m, 0),
        cuda.dev.ptr_mut(v, 0),
        cuda.dev.ptr(norm_sq, 0),
    );
    let n64 = n as u64;
    let (beta1, beta2, eps, max_norm) = (hp.beta1, hp.beta2, hp.eps, hp.max_norm);
    let cfg = cuda.launch_1d(n);
    // SAFETY: param, grad, m and v hold n floats, norm_sq one (checked above).
    launched("adam_f32", unsafe {
        launch!(
            cuda.dev,
            f,
            cfg,
            pp,
            gp,
            mp,
            vp,
            n64,
            step_size,
            beta1,
            beta2,
            eps,
            inv_sqrt_bias2,
            max_norm,
            np
        )
    })
}
