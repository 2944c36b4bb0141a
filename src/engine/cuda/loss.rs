//! Softmax cross-entropy and arg-max over rows.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::device::{launched, BLOCK};
use super::{fits, launch, Cuda};
use crate::error::{Error, Result};

#[allow(clippy::too_many_arguments)]
pub(super) fn softmax_xent(
    cuda: &Cuda,
    logits: &mut CudaSlice<f32>,
    targets: &CudaSlice<u32>,
    target_off: usize,
    rows: usize,
    vocab: usize,
    ignore_id: u32,
    grad_scale: f32,
    loss_sum: &mut CudaSlice<f32>,
    correct: &mut CudaSlice<f32>,
) -> Result<()> {
    fits("softmax_xent", "logits", rows * vocab, logits.len())?;
    fits("softmax_xent", "targets", target_off + rows, targets.len())?;
    fits("softmax_xent", "loss_sum", 1, loss_sum.len())?;
    fits("softmax_xent", "correct", 1, correct.len())?;
    if rows == 0 || vocab == 0 {
        return Ok(());
    }
    if rows > i32::MAX as usize {
        return Err(Error::Invalid(format!(
            "softmax_xent: {rows} rows exceed one grid"
        )));
    }

    // Per-row loss and hit, summed afterwards in a fixed order: (2, rows).
    let mut per_row = cuda.dev.scratch::<f32>(2 * rows)?;
    let (loss_rows, correct_rows) = (
        cuda.dev.ptr_mut(&mut per_row, 0),
        cuda.dev.ptr_mut(&mut per_row, rows),
    );
    let (xp, tp) = (
        cuda.dev.ptr_mut(logits, 0),
        cuda.dev.ptr(targets, target_off),
    );
    let v64 = vocab as u64;
    let name = if vocab.is_multiple_of(4) {
        "softmax_xent_fwd_v4_f32"
    } else {
        "softmax_xent_fwd_f32"
    };
    let f = cuda.dev.function("softmax_xent", name)?;
    // Wide rows get 1024 threads: fewer rows in flight keeps each row in L2 between the
    // kernel's two passes (264 rows of 32k logits on 132 SMs is about 34 MB), so memory
    // traffic approaches one read and one write per logit.
    let threads = if vocab >= 8192 { 1024 } else { BLOCK };
    let cfg = LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: logits holds rows * vocab floats starting at a pool allocation (256-byte
    // aligned, so float4 rows are aligned when vocab % 4 == 0); targets holds rows ids
    // from target_off; per_row holds 2 * rows floats.
    launched(name, unsafe {
        launch!(
            cuda.dev,
            f,
            cfg,
            xp,
            tp,
            v64,
            ignore_id,
            grad_scale,
            loss_rows,
            correct_rows
        )
    })?;

    let (lp, cp) = (cuda.dev.ptr_mut(loss_sum, 0), cuda.dev.ptr_mut(correct, 0));
    cuda.sum_into(loss_rows, rows, lp)?;
    cuda.sum_into(correct_rows, rows, cp)
}

pub(super) fn argmax_rows(
    cuda: &Cuda,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
    out: &mut CudaSlice<u32>,
) -> Result<()> {
    fits("argmax_rows", "x", rows * cols, x.len())?;
    fits("argmax_rows", "out", rows, out.len())?;
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if rows > i32::MAX as usize {
        return Err(Error::Invalid(format!(
            "argmax_rows: {rows} rows exceed one grid"
        )));
    }
    let f = cuda.dev.function("reduce", "argmax_rows_f32")?;
    let (xp, op) = (cuda.dev.ptr(x, 0), cuda.dev.ptr_mut(out, 0));
    let (r, c) = (rows as u64, cols as u64);
    let cfg = LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: x holds rows * cols floats, out rows ids (checked above).
    launched("argmax_rows_f32", unsafe {
        launch!(cuda.dev, f, cfg, xp, r, c, op)
    })
}
