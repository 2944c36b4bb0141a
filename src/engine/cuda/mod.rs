//! The CUDA backend: hand-written kernels (`kernels/*.cu`, compiled to PTX by `build.rs`)
//! and cuBLAS GEMMs, all enqueued on one stream per device.
//!
//! Kernels are looked up by name (`<op>_<fwd|bwd>_f32`) in modules loaded once per device.
//! Nothing here waits for the device except the memory transfers to the host and
//! [`Backend::synchronize`]; scalars such as loss sums stay on the device. Scratch memory
//! comes from the driver's stream-ordered pool, which keeps freed blocks cached, so a
//! training step allocates nothing from the driver after the first one.
//!
//! Without a CUDA driver [`Cuda::new`] returns [`Error::Device`]; it never panics.

mod bf16;
mod device;
mod elementwise;
mod embedding;
mod gru;
mod loss;
mod optim;
mod pool;

use std::sync::Arc;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use crate::engine::backend::{AdamStep, Backend, Gemm, GruBackward, GruDims, GruForward, Pool};
use crate::error::{Error, Result};
pub use bf16::{Bf16Buf, GruForwardBf16};
use device::{device_err, grid_1d, launched, Device, BLOCK};
pub use gru::PERSISTENT_MAX_BATCH;

/// Pushes every argument (locals, borrowed) and launches `func` with `cfg`.
/// Callers wrap it in an `unsafe` block whose `// SAFETY:` line says why the launch is sound.
macro_rules! launch {
    ($dev:expr, $func:expr, $cfg:expr, $($arg:expr),+ $(,)?) => {{
        let mut builder = $dev.stream.launch_builder(&$func);
        $( builder.arg(&$arg); )+
        builder.launch($cfg)
    }};
}
pub(crate) use launch;

/// Whether a CUDA driver is installed and reports at least one device.
pub fn cuda_available() -> bool {
    // SAFETY: only probes whether the driver's shared library can be opened.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return false;
    }
    cudarc::driver::CudaContext::device_count()
        .map(|n| n > 0)
        .unwrap_or(false)
}

/// The CUDA backend for one device. Cloning is cheap and shares the device state.
#[derive(Clone)]
pub struct Cuda {
    dev: Arc<Device>,
    ordinal: usize,
}

impl Cuda {
    /// Opens device `ordinal`: a context, a stream and a cuBLAS handle. Fails with
    /// [`Error::Device`] when no driver is installed or the device does not exist.
    pub fn new(ordinal: usize) -> Result<Cuda> {
        // SAFETY: only probes whether the driver's shared library can be opened; cudarc
        // panics on the first driver call when it cannot.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::Device(
                "no CUDA driver found (libcuda could not be loaded); use the CPU backend".into(),
            ));
        }
        let count = cudarc::driver::CudaContext::device_count()
            .map_err(|e| device_err("counting CUDA devices", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "CUDA device {ordinal} requested but {count} device(s) present"
            )));
        }
        Ok(Cuda {
            dev: Arc::new(Device::new(ordinal)?),
            ordinal,
        })
    }

    /// The device's name as the driver reports it, e.g. "NVIDIA H200".
    pub fn device_name(&self) -> Result<String> {
        self.dev
            .ctx
            .name()
            .map_err(|e| device_err("querying the device name", e))
    }

    /// The number of streaming multiprocessors.
    pub fn sm_count(&self) -> u32 {
        self.dev.sm_count
    }

    /// A timing event recorded on the backend's stream now (for benchmarks).
    pub fn record_event(&self) -> Result<cudarc::driver::CudaEvent> {
        let event = self
            .dev
            .ctx
            .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| device_err("creating an event", e))?;
        event
            .record(&self.dev.stream)
            .map_err(|e| device_err("recording an event", e))?;
        Ok(event)
    }

    /// Copies `n` floats from `src[src_off..]` to `dst[dst_off..]` on the device.
    pub fn copy_within(
        &self,
        src: &CudaSlice<f32>,
        src_off: usize,
        dst: &mut CudaSlice<f32>,
        dst_off: usize,
        n: usize,
    ) -> Result<()> {
        fits("copy_within", "src", src_off + n, src.len())?;
        fits("copy_within", "dst", dst_off + n, dst.len())?;
        let s = self.dev.ptr(src, src_off);
        let d = self.dev.ptr_mut(dst, dst_off);
        self.dev.copy_raw(s, d, n)
    }

    fn launch_1d(&self, n: usize) -> LaunchConfig {
        grid_1d(n, self.dev.sm_count)
    }

    /// Adds `sum(values[..count])` to `out[0]` with one block, in a fixed order.
    fn sum_into(&self, values: u64, count: usize, out: u64) -> Result<()> {
        let f = self.dev.function("reduce", "sum_into_f32")?;
        let count = count as u64;
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `values` holds `count` floats and `out` at least one (callers' buffers).
        launched("sum_into_f32", unsafe {
            launch!(self.dev, f, cfg, values, count, out)
        })
    }

    /// `out[c] += sum_r x[r, c]` on raw addresses.
    fn sum_rows_raw(&self, x: u64, rows: usize, cols: usize, out: u64) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let f = self.dev.function("reduce", "sum_rows_f32")?;
        let cfg = LaunchConfig {
            grid_dim: (cols.div_ceil(32) as u32, 1, 1),
            block_dim: (32, 8, 1),
            shared_mem_bytes: 0,
        };
        let (rows, cols) = (rows as u64, cols as u64);
        // SAFETY: x holds rows * cols floats and out cols floats (checked by callers).
        launched("sum_rows_f32", unsafe {
            launch!(self.dev, f, cfg, x, rows, cols, out)
        })
    }

    /// `y[..n] += alpha * x[..n]` on raw addresses.
    fn axpy_raw(&self, alpha: f32, x: u64, y: u64, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "axpy_f32")?;
        let n64 = n as u64;
        // SAFETY: x and y hold at least n floats (checked by callers).
        launched("axpy_f32", unsafe {
            launch!(self.dev, f, self.launch_1d(n), alpha, x, y, n64)
        })
    }
}

/// Fails with a shape error when `need` elements do not fit in a buffer of `have`.
fn fits(op: &'static str, what: &str, need: usize, have: usize) -> Result<()> {
    if need > have {
        return Err(Error::shape(
            op,
            format!("{what} of at least {need} elements"),
            have.to_string(),
        ));
    }
    Ok(())
}

/// Checks that the matrices `g` describes fit in buffers of the given lengths.
fn check_gemm(op: &'static str, g: &Gemm, a_len: usize, b_len: usize, c_len: usize) -> Result<()> {
    let (a_rows, a_cols) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
    let (b_rows, b_cols) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
    if g.lda < a_cols || g.ldb < b_cols || g.ldc < g.n {
        return Err(Error::shape(
            op,
            format!("leading dimensions >= ({a_cols}, {b_cols}, {})", g.n),
            format!("({}, {}, {})", g.lda, g.ldb, g.ldc),
        ));
    }
    fits(op, "A", span(g.a_off, a_rows, a_cols, g.lda), a_len)?;
    fits(op, "B", span(g.b_off, b_rows, b_cols, g.ldb), b_len)?;
    fits(op, "C", span(g.c_off, g.m, g.n, g.ldc), c_len)
}

/// Elements spanned by a row-major matrix view: the last row's start plus its width.
fn span(off: usize, rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        off
    } else {
        off + (rows - 1) * ld + cols
    }
}

impl Backend for Cuda {
    type Buf = CudaSlice<f32>;
    type Ids = CudaSlice<u32>;
    /// Never constructed: the CUDA backend's reduced-precision path is
    /// [`Cuda::gru_forward_bf16`], outside the layer API.
    type Half = std::convert::Infallible;

    fn name(&self) -> String {
        format!("cuda:{}", self.ordinal)
    }

    fn zeros(&self, len: usize) -> Result<Self::Buf> {
        self.dev
            .stream
            .alloc_zeros::<f32>(len.max(1))
            .map_err(|e| device_err("allocation", e))
    }

    fn from_host(&self, data: &[f32]) -> Result<Self::Buf> {
        if data.is_empty() {
            return self.zeros(0);
        }
        self.dev
            .stream
            .clone_htod(data)
            .map_err(|e| device_err("copy to device", e))
    }

    fn to_host(&self, buf: &Self::Buf, len: usize) -> Result<Vec<f32>> {
        fits("to_host", "buffer", len, buf.len())?;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.dev
            .stream
            .clone_dtoh(&buf.slice(0..len))
            .map_err(|e| device_err("copy to host", e))
    }

    fn write(&self, buf: &mut Self::Buf, data: &[f32]) -> Result<()> {
        fits("write", "buffer", data.len(), buf.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.dev
            .stream
            .memcpy_htod(data, &mut buf.slice_mut(0..data.len()))
            .map_err(|e| device_err("copy to device", e))
    }

    fn buf_len(&self, buf: &Self::Buf) -> usize {
        buf.len()
    }

    fn ids_from_host(&self, data: &[u32]) -> Result<Self::Ids> {
        let stream = &self.dev.stream;
        let copied = if data.is_empty() {
            stream.alloc_zeros::<u32>(1)
        } else {
            stream.clone_htod(data)
        };
        copied.map_err(|e| device_err("copy to device", e))
    }

    fn write_ids(&self, buf: &mut Self::Ids, data: &[u32]) -> Result<()> {
        fits("write_ids", "buffer", data.len(), buf.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.dev
            .stream
            .memcpy_htod(data, &mut buf.slice_mut(0..data.len()))
            .map_err(|e| device_err("copy to device", e))
    }

    fn ids_to_host(&self, buf: &Self::Ids, len: usize) -> Result<Vec<u32>> {
        fits("ids_to_host", "buffer", len, buf.len())?;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.dev
            .stream
            .clone_dtoh(&buf.slice(0..len))
            .map_err(|e| device_err("copy to host", e))
    }

    fn ids_len(&self, buf: &Self::Ids) -> usize {
        buf.len()
    }

    fn synchronize(&self) -> Result<()> {
        self.dev
            .stream
            .synchronize()
            .map_err(|e| device_err("synchronize", e))
    }

    fn half_weights(&self, _w: &Self::Buf, _rows: usize, _cols: usize) -> Result<Self::Half> {
        Err(Error::Device(
            "half-precision recurrent weights are a CPU inference option; on CUDA the \
             bf16 encoder path (Cuda::gru_forward_bf16) plays that role"
                .into(),
        ))
    }

    fn project_half(
        &self,
        _x: &Self::Buf,
        _rows: usize,
        w: &[&Self::Half],
        _out: &mut Self::Buf,
    ) -> Result<()> {
        match w.first() {
            // `Half` is uninhabited: no weights can reach here.
            Some(&&never) => match never {},
            None => Ok(()),
        }
    }

    fn fill(&self, buf: &mut Self::Buf, n: usize, value: f32) -> Result<()> {
        elementwise::fill(self, buf, n, value)
    }

    fn copy(&self, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()> {
        self.copy_within(src, 0, dst, 0, n)
    }

    fn axpy(&self, alpha: f32, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()> {
        elementwise::axpy(self, alpha, src, dst, n)
    }

    fn add_bias(
        &self,
        x: &mut Self::Buf,
        bias: &Self::Buf,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        elementwise::add_bias(self, x, bias, rows, cols)
    }

    fn sum_rows(&self, x: &Self::Buf, rows: usize, cols: usize, out: &mut Self::Buf) -> Result<()> {
        elementwise::sum_rows(self, x, rows, cols, out)
    }

    fn relu_forward(&self, x: &Self::Buf, y: &mut Self::Buf, n: usize) -> Result<()> {
        elementwise::relu_forward(self, x, y, n)
    }

    fn relu_backward(
        &self,
        y: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
    ) -> Result<()> {
        elementwise::relu_backward(self, y, dy, dx, n)
    }

    fn dropout_forward(
        &self,
        x: &Self::Buf,
        y: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        elementwise::dropout_forward(self, x, y, n, p, seed)
    }

    fn dropout_backward(
        &self,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        elementwise::dropout_backward(self, dy, dx, n, p, seed)
    }

    fn pair_features_forward(
        &self,
        u: &Self::Buf,
        v: &Self::Buf,
        out: &mut Self::Buf,
        batch: usize,
        dim: usize,
    ) -> Result<()> {
        elementwise::pair_features_forward(self, u, v, out, batch, dim)
    }

    fn pair_features_backward(
        &self,
        u: &Self::Buf,
        v: &Self::Buf,
        dout: &Self::Buf,
        du: &mut Self::Buf,
        dv: &mut Self::Buf,
        batch: usize,
        dim: usize,
    ) -> Result<()> {
        elementwise::pair_features_backward(self, u, v, dout, du, dv, batch, dim)
    }

    fn gemm(&self, g: &Gemm, a: &Self::Buf, b: &Self::Buf, c: &mut Self::Buf) -> Result<()> {
        check_gemm("gemm", g, a.len(), b.len(), c.len())?;
        let (ap, bp) = (self.dev.ptr(a, g.a_off), self.dev.ptr(b, g.b_off));
        let cp = self.dev.ptr_mut(c, g.c_off);
        self.dev.gemm_raw(g, ap, bp, cp)
    }

    fn embedding_forward(
        &self,
        table: &Self::Buf,
        ids: &Self::Ids,
        n: usize,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()> {
        embedding::embedding_forward(self, table, ids, n, dim, out)
    }

    fn embedding_backward(
        &self,
        dout: &Self::Buf,
        ids: &Self::Ids,
        n: usize,
        dim: usize,
        pad_id: u32,
        dtable: &mut Self::Buf,
    ) -> Result<()> {
        embedding::embedding_backward(self, dout, ids, n, dim, pad_id, dtable)
    }

    fn gru_forward(&self, args: GruForward<'_, Self>) -> Result<()> {
        self.gru_forward_steps(args)
    }

    fn gru_backward(&self, args: GruBackward<'_, Self>) -> Result<()> {
        self.gru_backward_steps(args)
    }

    fn pool_forward(
        &self,
        pool: Pool,
        h: &Self::Buf,
        lens: &Self::Ids,
        dims: GruDims,
        out: &mut Self::Buf,
        argmax: &mut Self::Ids,
    ) -> Result<()> {
        pool::pool_forward(self, pool, h, lens, dims, out, argmax)
    }

    fn pool_backward(
        &self,
        pool: Pool,
        dout: &Self::Buf,
        lens: &Self::Ids,
        argmax: &Self::Ids,
        dims: GruDims,
        dh: &mut Self::Buf,
    ) -> Result<()> {
        pool::pool_backward(self, pool, dout, lens, argmax, dims, dh)
    }

    fn softmax_xent(
        &self,
        logits: &mut Self::Buf,
        targets: &Self::Ids,
        target_off: usize,
        rows: usize,
        vocab: usize,
        ignore_id: u32,
        grad_scale: f32,
        loss_sum: &mut Self::Buf,
        correct: &mut Self::Buf,
    ) -> Result<()> {
        loss::softmax_xent(
            self, logits, targets, target_off, rows, vocab, ignore_id, grad_scale, loss_sum,
            correct,
        )
    }

    fn argmax_rows(
        &self,
        x: &Self::Buf,
        rows: usize,
        cols: usize,
        out: &mut Self::Ids,
    ) -> Result<()> {
        loss::argmax_rows(self, x, rows, cols, out)
    }

    fn sq_norm(&self, x: &Self::Buf, n: usize, out: &mut Self::Buf) -> Result<()> {
        optim::sq_norm(self, x, n, out)
    }

    fn adam(
        &self,
        param: &mut Self::Buf,
        grad: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        n: usize,
        hp: &AdamStep,
        norm_sq: &Self::Buf,
    ) -> Result<()> {
        optim::adam(self, param, grad, m, v, n, hp, norm_sq)
    }
}
