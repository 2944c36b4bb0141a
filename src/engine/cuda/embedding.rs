//! Embedding lookup and its deterministic gradient.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::device::{launched, BLOCK};
use super::{fits, launch, Cuda};
use crate::error::{Error, Result};

pub(super) fn embedding_forward(
    cuda: &Cuda,
    table: &CudaSlice<f32>,
    ids: &CudaSlice<u32>,
    n: usize,
    dim: usize,
    out: &mut CudaSlice<f32>,
) -> Result<()> {
    fits("embedding_forward", "ids", n, ids.len())?;
    fits("embedding_forward", "out", n * dim, out.len())?;
    if n * dim == 0 {
        return Ok(());
    }
    let f = cuda.dev.function("embedding", "embedding_fwd_f32")?;
    let (tp, ip, op) = (
        cuda.dev.ptr(table, 0),
        cuda.dev.ptr(ids, 0),
        cuda.dev.ptr_mut(out, 0),
    );
    let (n64, d64) = (n as u64, dim as u64);
    let cfg = cuda.launch_1d(n * dim);
    // SAFETY: ids holds n ids, out n * dim floats; ids index rows of the table, whose
    // range the layers above validate against the vocabulary.
    launched("embedding_fwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, tp, ip, n64, d64, op)
    })
}

pub(super) fn embedding_backward(
    cuda: &Cuda,
    dout: &CudaSlice<f32>,
    ids: &CudaSlice<u32>,
    n: usize,
    dim: usize,
    pad_id: u32,
    dtable: &mut CudaSlice<f32>,
) -> Result<()> {
    fits("embedding_backward", "ids", n, ids.len())?;
    fits("embedding_backward", "dout", n * dim, dout.len())?;
    if n * dim == 0 {
        return Ok(());
    }
    if n > i32::MAX as usize {
        return Err(Error::Invalid(format!(
            "embedding_backward: {n} ids exceed one grid"
        )));
    }
    let f = cuda.dev.function("embedding", "embedding_bwd_f32")?;
    let (gp, ip) = (cuda.dev.ptr(dout, 0), cuda.dev.ptr(ids, 0));
    let tp = cuda.dev.ptr_mut(dtable, 0);
    let (n64, d64) = (n as u64, dim as u64);
    let cfg = LaunchConfig {
        grid_dim: (n as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: ids holds n ids, dout n * dim floats; ids index rows of dtable (validated
    // above this layer); one block per id position as the kernel expects.
    launched("embedding_bwd_f32", unsafe {
        launch!(cuda.dev, f, cfg, gp, ip, n64, d64, pad_id, tp)
    })
}
