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

mod device;
mod gru;

use std::sync::Arc;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use crate::engine::backend::{AdamStep, Backend, Gemm, GruBackward, GruDims, GruForward, Pool};
use crate::error::{Error, Result};
use device::{device_err, grid_1d, launched, Device, BLOCK};

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

    fn fill(&self, buf: &mut Self::Buf, n: usize, value: f32) -> Result<()> {
        fits("fill", "buffer", n, buf.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "fill_f32")?;
        let x = self.dev.ptr_mut(buf, 0);
        let n64 = n as u64;
        // SAFETY: buf holds at least n floats (checked above).
        launched("fill_f32", unsafe {
            launch!(self.dev, f, self.launch_1d(n), x, n64, value)
        })
    }

    fn copy(&self, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()> {
        self.copy_within(src, 0, dst, 0, n)
    }

    fn axpy(&self, alpha: f32, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()> {
        fits("axpy", "src", n, src.len())?;
        fits("axpy", "dst", n, dst.len())?;
        let x = self.dev.ptr(src, 0);
        let y = self.dev.ptr_mut(dst, 0);
        self.axpy_raw(alpha, x, y, n)
    }

    fn add_bias(
        &self,
        x: &mut Self::Buf,
        bias: &Self::Buf,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        fits("add_bias", "x", rows * cols, x.len())?;
        fits("add_bias", "bias", cols, bias.len())?;
        if rows * cols == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "add_bias_f32")?;
        let xp = self.dev.ptr_mut(x, 0);
        let bp = self.dev.ptr(bias, 0);
        let (r, c) = (rows as u64, cols as u64);
        let cfg = self.launch_1d(rows * cols);
        // SAFETY: x holds rows * cols floats and bias cols floats (checked above).
        launched("add_bias_f32", unsafe {
            launch!(self.dev, f, cfg, xp, bp, r, c)
        })
    }

    fn sum_rows(&self, x: &Self::Buf, rows: usize, cols: usize, out: &mut Self::Buf) -> Result<()> {
        fits("sum_rows", "x", rows * cols, x.len())?;
        fits("sum_rows", "out", cols, out.len())?;
        let xp = self.dev.ptr(x, 0);
        let op = self.dev.ptr_mut(out, 0);
        self.sum_rows_raw(xp, rows, cols, op)
    }

    fn relu_forward(&self, x: &Self::Buf, y: &mut Self::Buf, n: usize) -> Result<()> {
        fits("relu_forward", "x", n, x.len())?;
        fits("relu_forward", "y", n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "relu_fwd_f32")?;
        let (xp, yp, n64) = (self.dev.ptr(x, 0), self.dev.ptr_mut(y, 0), n as u64);
        // SAFETY: x and y hold at least n floats (checked above).
        launched("relu_fwd_f32", unsafe {
            launch!(self.dev, f, self.launch_1d(n), xp, yp, n64)
        })
    }

    fn relu_backward(
        &self,
        y: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
    ) -> Result<()> {
        fits("relu_backward", "y", n, y.len())?;
        fits("relu_backward", "dy", n, dy.len())?;
        fits("relu_backward", "dx", n, dx.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "relu_bwd_f32")?;
        let (yp, dyp, dxp) = (
            self.dev.ptr(y, 0),
            self.dev.ptr(dy, 0),
            self.dev.ptr_mut(dx, 0),
        );
        let n64 = n as u64;
        let cfg = self.launch_1d(n);
        // SAFETY: y, dy and dx hold at least n floats (checked above).
        launched("relu_bwd_f32", unsafe {
            launch!(self.dev, f, cfg, yp, dyp, dxp, n64)
        })
    }

    fn dropout_forward(
        &self,
        x: &Self::Buf,
        y: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        fits("dropout_forward", "x", n, x.len())?;
        fits("dropout_forward", "y", n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "dropout_fwd_f32")?;
        let scale = 1.0 / (1.0 - p);
        let (xp, yp, n64) = (self.dev.ptr(x, 0), self.dev.ptr_mut(y, 0), n as u64);
        let cfg = self.launch_1d(n);
        // SAFETY: x and y hold at least n floats (checked above).
        launched("dropout_fwd_f32", unsafe {
            launch!(self.dev, f, cfg, xp, yp, n64, p, scale, seed)
        })
    }

    fn dropout_backward(
        &self,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        fits("dropout_backward", "dy", n, dy.len())?;
        fits("dropout_backward", "dx", n, dx.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "dropout_bwd_f32")?;
        let scale = 1.0 / (1.0 - p);
        let (dyp, dxp, n64) = (self.dev.ptr(dy, 0), self.dev.ptr_mut(dx, 0), n as u64);
        let cfg = self.launch_1d(n);
        // SAFETY: dy and dx hold at least n floats (checked above).
        launched("dropout_bwd_f32", unsafe {
            launch!(self.dev, f, cfg, dyp, dxp, n64, p, scale, seed)
        })
    }

    fn pair_features_forward(
        &self,
        u: &Self::Buf,
        v: &Self::Buf,
        out: &mut Self::Buf,
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
        let f = self.dev.function("elementwise", "pair_features_fwd_f32")?;
        let (up, vp, op) = (
            self.dev.ptr(u, 0),
            self.dev.ptr(v, 0),
            self.dev.ptr_mut(out, 0),
        );
        let (b, d) = (batch as u64, dim as u64);
        let cfg = self.launch_1d(n);
        // SAFETY: u and v hold batch * dim floats, out 4 * batch * dim (checked above).
        launched("pair_features_fwd_f32", unsafe {
            launch!(self.dev, f, cfg, up, vp, op, b, d)
        })
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
        let n = batch * dim;
        fits("pair_features_backward", "u", n, u.len())?;
        fits("pair_features_backward", "v", n, v.len())?;
        fits("pair_features_backward", "dout", 4 * n, dout.len())?;
        fits("pair_features_backward", "du", n, du.len())?;
        fits("pair_features_backward", "dv", n, dv.len())?;
        if n == 0 {
            return Ok(());
        }
        let f = self.dev.function("elementwise", "pair_features_bwd_f32")?;
        let (up, vp, gp) = (
            self.dev.ptr(u, 0),
            self.dev.ptr(v, 0),
            self.dev.ptr(dout, 0),
        );
        let (dup, dvp) = (self.dev.ptr_mut(du, 0), self.dev.ptr_mut(dv, 0));
        let (b, d) = (batch as u64, dim as u64);
        let cfg = self.launch_1d(n);
        // SAFETY: every buffer holds what batch and dim require (checked above).
        launched("pair_features_bwd_f32", unsafe {
            launch!(self.dev, f, cfg, up, vp, gp, dup, dvp, b, d)
        })
    }

    fn gemm(&self, g: &Gemm, a: &Self::Buf, b: &Self::Buf, c: &mut Self::Buf) -> Result<()> {
        let (a_rows, a_cols) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
        let (b_rows, b_cols) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
        if g.lda < a_cols || g.ldb < b_cols || g.ldc < g.n {
            return Err(Error::shape(
                "gemm",
                format!("leading dimensions >= ({a_cols}, {b_cols}, {})", g.n),
                format!("({}, {}, {})", g.lda, g.ldb, g.ldc),
            ));
        }
        fits("gemm", "A", span(g.a_off, a_rows, a_cols, g.lda), a.len())?;
        fits("gemm", "B", span(g.b_off, b_rows, b_cols, g.ldb), b.len())?;
        fits("gemm", "C", span(g.c_off, g.m, g.n, g.ldc), c.len())?;
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
        fits("embedding_forward", "ids", n, ids.len())?;
        fits("embedding_forward", "out", n * dim, out.len())?;
        if n * dim == 0 {
            return Ok(());
        }
        let f = self.dev.function("embedding", "embedding_fwd_f32")?;
        let (tp, ip, op) = (
            self.dev.ptr(table, 0),
            self.dev.ptr(ids, 0),
            self.dev.ptr_mut(out, 0),
        );
        let (n64, d64) = (n as u64, dim as u64);
        let cfg = self.launch_1d(n * dim);
        // SAFETY: ids holds n ids, out n * dim floats; ids index rows of the table, whose
        // range the layers above validate against the vocabulary.
        launched("embedding_fwd_f32", unsafe {
            launch!(self.dev, f, cfg, tp, ip, n64, d64, op)
        })
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
        let f = self.dev.function("embedding", "embedding_bwd_f32")?;
        let (gp, ip) = (self.dev.ptr(dout, 0), self.dev.ptr(ids, 0));
        let tp = self.dev.ptr_mut(dtable, 0);
        let (n64, d64) = (n as u64, dim as u64);
        let cfg = LaunchConfig {
            grid_dim: (n as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: ids holds n ids, dout n * dim floats; ids index rows of dtable (validated
        // above this layer); one block per id position as the kernel expects.
        launched("embedding_bwd_f32", unsafe {
            launch!(self.dev, f, cfg, gp, ip, n64, d64, pad_id, tp)
        })
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
        let width = dims.dirs * dims.hidden;
        let n = dims.batch * width;
        fits("pool_forward", "h", dims.seq_len * n, h.len())?;
        fits("pool_forward", "lens", dims.batch, lens.len())?;
        fits("pool_forward", "out", n, out.len())?;
        if n == 0 {
            return Ok(());
        }
        let (hp, lp, op) = (
            self.dev.ptr(h, 0),
            self.dev.ptr(lens, 0),
            self.dev.ptr_mut(out, 0),
        );
        let (batch, dirs, hidden, w) = (
            dims.batch as u64,
            dims.dirs as u64,
            dims.hidden as u64,
            width as u64,
        );
        let cfg = self.launch_1d(n);
        match pool {
            Pool::Last => {
                let f = self.dev.function("reduce", "pool_last_fwd_f32")?;
                // SAFETY: h is (T, B, D*H), lens (B) with values in 1..=T, out (B, D*H).
                launched("pool_last_fwd_f32", unsafe {
                    launch!(self.dev, f, cfg, hp, lp, op, batch, dirs, hidden)
                })
            }
            Pool::Max => {
                fits("pool_forward", "argmax", n, argmax.len())?;
                let f = self.dev.function("reduce", "pool_max_fwd_f32")?;
                let ap = self.dev.ptr_mut(argmax, 0);
                // SAFETY: as for last, and argmax holds B*D*H ids (checked above).
                launched("pool_max_fwd_f32", unsafe {
                    launch!(self.dev, f, cfg, hp, lp, op, ap, batch, w)
                })
            }
            Pool::Mean => {
                let f = self.dev.function("reduce", "pool_mean_fwd_f32")?;
                // SAFETY: h is (T, B, D*H), lens (B) with values in 1..=T, out (B, D*H).
                launched("pool_mean_fwd_f32", unsafe {
                    launch!(self.dev, f, cfg, hp, lp, op, batch, w)
                })
            }
        }
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
        let width = dims.dirs * dims.hidden;
        let n = dims.batch * width;
        fits("pool_backward", "dout", n, dout.len())?;
        fits("pool_backward", "lens", dims.batch, lens.len())?;
        fits("pool_backward", "dh", dims.seq_len * n, dh.len())?;
        if n == 0 {
            return Ok(());
        }
        let (gp, lp, dp) = (
            self.dev.ptr(dout, 0),
            self.dev.ptr(lens, 0),
            self.dev.ptr_mut(dh, 0),
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
                let f = self.dev.function("reduce", "pool_last_bwd_f32")?;
                let cfg = self.launch_1d(n);
                // SAFETY: dout is (B, D*H), lens (B) in 1..=T, dh (T, B, D*H).
                launched("pool_last_bwd_f32", unsafe {
                    launch!(self.dev, f, cfg, gp, lp, dp, batch, dirs, hidden)
                })
            }
            Pool::Max => {
                fits("pool_backward", "argmax", n, argmax.len())?;
                let f = self.dev.function("reduce", "pool_max_bwd_f32")?;
                let ap = self.dev.ptr(argmax, 0);
                let cfg = self.launch_1d(n);
                // SAFETY: argmax holds steps < T written by pool_forward; dh is (T, B, D*H).
                launched("pool_max_bwd_f32", unsafe {
                    launch!(self.dev, f, cfg, gp, ap, dp, batch, w)
                })
            }
            Pool::Mean => {
                let f = self.dev.function("reduce", "pool_mean_bwd_f32")?;
                let cfg = self.launch_1d(dims.seq_len * n);
                // SAFETY: dout is (B, D*H), lens (B) in 1..=T, dh (T, B, D*H).
                launched("pool_mean_bwd_f32", unsafe {
                    launch!(self.dev, f, cfg, gp, lp, dp, seq, batch, w)
                })
            }
        }
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
        let mut per_row = self.dev.scratch::<f32>(2 * rows)?;
        let (loss_rows, correct_rows) = (
            self.dev.ptr_mut(&mut per_row, 0),
            self.dev.ptr_mut(&mut per_row, rows),
        );
        let (xp, tp) = (
            self.dev.ptr_mut(logits, 0),
            self.dev.ptr(targets, target_off),
        );
        let v64 = vocab as u64;
        let name = if vocab.is_multiple_of(4) {
            "softmax_xent_fwd_v4_f32"
        } else {
            "softmax_xent_fwd_f32"
        };
        let f = self.dev.function("softmax_xent", name)?;
        let cfg = LaunchConfig {
            grid_dim: (rows as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: logits holds rows * vocab floats starting at a pool allocation (256-byte
        // aligned, so float4 rows are aligned when vocab % 4 == 0); targets holds rows ids
        // from target_off; per_row holds 2 * rows floats.
        launched(name, unsafe {
            launch!(
                self.dev,
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

        let (lp, cp) = (self.dev.ptr_mut(loss_sum, 0), self.dev.ptr_mut(correct, 0));
        self.sum_into(loss_rows, rows, lp)?;
        self.sum_into(correct_rows, rows, cp)
    }

    fn argmax_rows(
        &self,
        x: &Self::Buf,
        rows: usize,
        cols: usize,
        out: &mut Self::Ids,
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
        let f = self.dev.function("reduce", "argmax_rows_f32")?;
        let (xp, op) = (self.dev.ptr(x, 0), self.dev.ptr_mut(out, 0));
        let (r, c) = (rows as u64, cols as u64);
        let cfg = LaunchConfig {
            grid_dim: (rows as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: x holds rows * cols floats, out rows ids (checked above).
        launched("argmax_rows_f32", unsafe {
            launch!(self.dev, f, cfg, xp, r, c, op)
        })
    }

    fn sq_norm(&self, x: &Self::Buf, n: usize, out: &mut Self::Buf) -> Result<()> {
        fits("sq_norm", "x", n, x.len())?;
        fits("sq_norm", "out", 1, out.len())?;
        if n == 0 {
            return Ok(());
        }
        // The partial count depends on n alone, so the sum's order is reproducible.
        let blocks = n.div_ceil(BLOCK as usize).min(1024);
        let mut partials = self.dev.scratch::<f32>(blocks)?;
        let pp = self.dev.ptr_mut(&mut partials, 0);
        let (xp, n64) = (self.dev.ptr(x, 0), n as u64);
        let f = self.dev.function("reduce", "sq_norm_partial_f32")?;
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: x holds n floats, partials one float per block.
        launched("sq_norm_partial_f32", unsafe {
            launch!(self.dev, f, cfg, xp, n64, pp)
        })?;
        let op = self.dev.ptr_mut(out, 0);
        self.sum_into(pp, blocks, op)
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
        let f = self.dev.function("adam", "adam_f32")?;
        let (pp, gp) = (self.dev.ptr_mut(param, 0), self.dev.ptr(grad, 0));
        let (mp, vp, np) = (
            self.dev.ptr_mut(m, 0),
            self.dev.ptr_mut(v, 0),
            self.dev.ptr(norm_sq, 0),
        );
        let n64 = n as u64;
        let (beta1, beta2, eps, max_norm) = (hp.beta1, hp.beta2, hp.eps, hp.max_norm);
        let cfg = self.launch_1d(n);
        // SAFETY: param, grad, m and v hold n floats, norm_sq one (checked above).
        launched("adam_f32", unsafe {
            launch!(
                self.dev,
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
}
