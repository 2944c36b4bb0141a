//! One CUDA device: its context and stream, the cuBLAS handle, the kernel module cache and
//! the small helpers every launch uses (raw pointers, launch shapes, error mapping).
//!
//! Event tracking (cudarc's per-buffer read/write events for cross-stream ordering) is
//! switched off: the backend issues everything on a single stream, where stream order
//! alone makes every launch safe, and recording two events per buffer per launch would
//! cost more than the small kernels themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::driver::sys;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DevicePtrMut,
    DriverError, LaunchConfig,
};

use crate::engine::backend::Gemm;
use crate::error::{Error, Result};

/// The kernel modules built by `build.rs`.
mod table {
    include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
}

pub(crate) use table::{KERNELS_ARE_PTX, MODULES, PTX_COMPUTE_CAP};

/// Threads per block of the element-wise and row kernels.
pub(crate) const BLOCK: u32 = 256;

/// A `Device` error for `op`, keeping the driver's message.
pub(crate) fn device_err(op: &str, err: impl std::fmt::Display) -> Error {
    Error::Device(format!("{op}: {err}"))
}

/// Everything shared by the clones of one `Cuda` backend.
pub(crate) struct Device {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    /// cuBLAS handles are not safe to use from two threads at once.
    blas: Mutex<CudaBlas>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    pub(crate) sm_count: u32,
}

impl Device {
    pub(crate) fn new(ordinal: usize) -> Result<Device> {
        let ctx = CudaContext::new(ordinal).map_err(|e| device_err("opening the device", e))?;
        // SAFETY: every buffer of this backend is used on the one stream created below, so
        // stream order replaces the cross-stream events that tracking would record.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| device_err("creating a stream", e))?;
        // SAFETY: only probes whether the shared library can be opened; cudarc panics on
        // the first cuBLAS call when it cannot.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(Error::Device(
                "the CUDA driver is present but cuBLAS is not (looked for libcublas.so and \
                 libcublas.so.12 on the library path): install the CUDA 12 runtime, or point \
                 LD_LIBRARY_PATH at a folder holding libcublas.so (a link to libcublas.so.13 \
                 works)"
                    .into(),
            ));
        }
        let blas = CudaBlas::new(stream.clone()).map_err(|e| device_err("loading cuBLAS", e))?;
        let sm_count = ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| device_err("querying the device", e))? as u32;
        keep_freed_memory(&ctx)?;
        Ok(Device {
            ctx,
            stream,
            blas: Mutex::new(blas),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            sm_count,
        })
    }

    /// The kernel `name` of module `module`, loading (and if needed compiling) the module
    /// on first use.
    pub(crate) fn function(
        &self,
        module: &'static str,
        name: &'static str,
    ) -> Result<CudaFunction> {
        if let Some(f) = lock(&self.functions)?.get(name) {
            return Ok(f.clone());
        }
        let module_handle = self.module(module)?;
        let f = module_handle
            .load_function(name)
            .map_err(|e| device_err(&format!("kernel {name} in module {module}"), e))?;
        lock(&self.functions)?.insert(name, f.clone());
        Ok(f)
    }

    fn module(&self, name: &'static str) -> Result<Arc<CudaModule>> {
        let mut modules = lock(&self.modules)?;
        if let Some(m) = modules.get(name) {
            return Ok(m.clone());
        }
        let text = MODULES
            .iter()
            .find(|(module, _)| *module == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| Error::Device(format!("no kernel module named {name}")))?;
        let ptx = if KERNELS_ARE_PTX {
            cudarc::nvrtc::Ptx::from_src(text)
        } else {
            self.compile_with_nvrtc(name, text)?
        };
        let module = self.ctx.load_module(ptx).map_err(|e| {
            let what = if KERNELS_ARE_PTX {
                format!("loading kernel module {name} (PTX for compute {PTX_COMPUTE_CAP}; a driver older than the nvcc that built it rejects it)")
            } else {
                format!("loading kernel module {name}")
            };
            device_err(&what, e)
        })?;
        modules.insert(name, module.clone());
        Ok(module)
    }

    fn compile_with_nvrtc(&self, name: &str, source: &str) -> Result<cudarc::nvrtc::Ptx> {
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(Error::Device(format!(
                "kernel module {name}: this build embedded CUDA sources (no nvcc at build time) \
                 and NVRTC is not installed; rebuild with nvcc (scripts/install-nvcc.sh)"
            )));
        }
        let (major, minor) = self
            .ctx
            .compute_capability()
            .map_err(|e| device_err("querying the compute capability", e))?;
        let opts = cudarc::nvrtc::CompileOptions {
            options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
            ..Default::default()
        };
        cudarc::nvrtc::compile_ptx_with_opts(source, opts)
            .map_err(|e| device_err(&format!("compiling kernel module {name} with NVRTC"), e))
    }

    /// Makes the context current on the calling thread: raw driver and cuBLAS calls need
    /// it (cudarc's own calls bind it themselves).
    fn bind(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| device_err("binding the context", e))
    }

    /// A buffer of `len` elements whose content is undefined: for scratch that is fully
    /// written before it is read. Allocations come from the device's stream-ordered pool.
    pub(crate) fn scratch<T: cudarc::driver::DeviceRepr>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>> {
        // SAFETY: callers write every element they later read.
        unsafe { self.stream.alloc::<T>(len.max(1)) }.map_err(|e| device_err("allocation", e))
    }

    /// The raw address of `buf`'s element `offset`, for kernel arguments.
    pub(crate) fn ptr<T>(&self, buf: &CudaSlice<T>, offset: usize) -> u64 {
        let (base, _no_event) = buf.device_ptr(&self.stream);
        base + (offset * std::mem::size_of::<T>()) as u64
    }

    /// The raw address of `buf`'s element `offset`, for a kernel that writes it.
    pub(crate) fn ptr_mut<T>(&self, buf: &mut CudaSlice<T>, offset: usize) -> u64 {
        let (base, _no_event) = buf.device_ptr_mut(&self.stream);
        base + (offset * std::mem::size_of::<T>()) as u64
    }

    /// Copies `n` elements of f32 between raw addresses, in stream order.
    pub(crate) fn copy_raw(&self, src: u64, dst: u64, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: callers pass addresses of live buffers holding at least n elements.
        unsafe {
            cudarc::driver::result::memcpy_dtod_async(dst, src, n * 4, self.stream.cu_stream())
        }
        .map_err(|e| device_err("device copy", e))
    }

    /// Zeroes `n` f32 elements at a raw address, in stream order.
    pub(crate) fn zero_raw(&self, dst: u64, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: callers pass the address of a live buffer holding at least n elements.
        unsafe { cudarc::driver::result::memset_d8_async(dst, 0, n * 4, self.stream.cu_stream()) }
            .map_err(|e| device_err("device memset", e))
    }

    /// One row-major f32 GEMM through cuBLAS on raw addresses (offsets already applied).
    pub(crate) fn gemm_raw(&self, g: &Gemm, a: u64, b: u64, c: u64) -> Result<()> {
        self.gemm_typed(g, a, b, c, GemmInputs::F32)
    }

    /// One row-major GEMM with f32 output and `inputs` storage for A and B, accumulating
    /// in fp32 either way.
    ///
    /// cuBLAS is column-major; a row-major matrix is its transpose, so the row-major
    /// `C = op(A) op(B)` is computed as the column-major `C^T = op(B)^T op(A)^T` by
    /// swapping the operands and m with n.
    pub(crate) fn gemm_typed(
        &self,
        g: &Gemm,
        a: u64,
        b: u64,
        c: u64,
        inputs: GemmInputs,
    ) -> Result<()> {
        if g.m == 0 || g.n == 0 {
            return Ok(());
        }
        let dims = [g.m, g.n, g.k, g.lda, g.ldb, g.ldc];
        if dims.iter().any(|&d| d > i32::MAX as usize) {
            return Err(Error::Invalid(format!(
                "gemm: dimensions {dims:?} exceed cuBLAS's i32"
            )));
        }
        let op = |t: bool| {
            if t {
                sys_blas::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys_blas::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (m, n, k) = (g.m as i32, g.n as i32, g.k as i32);
        let (lda, ldb, ldc) = (
            g.lda.max(1) as i32,
            g.ldb.max(1) as i32,
            g.ldc.max(1) as i32,
        );
        self.bind()?;
        let blas = lock(&self.blas)?;
        let handle = *blas.handle();
        match inputs {
            // SAFETY: the caller checked that a, b and c hold the matrices that m, n, k, the
            // leading dimensions and the offsets describe; alpha and beta live on the host
            // stack for the duration of the call (host pointer mode, cuBLAS's default).
            GemmInputs::F32 => unsafe {
                cudarc::cublas::result::sgemm(
                    handle,
                    op(g.trans_b),
                    op(g.trans_a),
                    n,
                    m,
                    k,
                    &g.alpha,
                    b as *const f32,
                    ldb,
                    a as *const f32,
                    lda,
                    &g.beta,
                    c as *mut f32,
                    ldc,
                )
            }
            .map_err(|e| device_err("cuBLAS sgemm", e)),
            // SAFETY: as above, with A and B holding bf16 (2-byte) elements and C f32.
            GemmInputs::Bf16 => unsafe {
                cudarc::cublas::result::gemm_ex(
                    handle,
                    op(g.trans_b),
                    op(g.trans_a),
                    n,
                    m,
                    k,
                    &g.alpha as *const f32 as *const std::ffi::c_void,
                    b as *const std::ffi::c_void,
                    sys_blas::cudaDataType::CUDA_R_16BF,
                    ldb,
                    a as *const std::ffi::c_void,
                    sys_blas::cudaDataType::CUDA_R_16BF,
                    lda,
                    &g.beta as *const f32 as *const std::ffi::c_void,
                    c as *mut std::ffi::c_void,
                    sys_blas::cudaDataType::CUDA_R_32F,
                    ldc,
                    sys_blas::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    sys_blas::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
                )
            }
            .map_err(|e| device_err("cuBLAS gemm_ex (bf16)", e)),
        }
    }
}

/// The storage of a GEMM's A and B operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GemmInputs {
    F32,
    /// bf16 inputs, fp32 accumulation and output.
    Bf16,
}

use cudarc::cublas::sys as sys_blas;

/// A 1-D launch covering `n` elements with grid-stride loops, capped so that huge arrays
/// reuse threads instead of launching millions of blocks.
pub(crate) fn grid_1d(n: usize, sm_count: u32) -> LaunchConfig {
    let blocks = n
        .div_ceil(BLOCK as usize)
        .clamp(1, (sm_count.max(1) * 32) as usize);
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Raises the release threshold of the device's default memory pool so freed blocks stay
/// cached: after the first training step, allocations are served from the pool without
/// calls into the driver's allocator.
fn keep_freed_memory(ctx: &Arc<CudaContext>) -> Result<()> {
    if !ctx.has_async_alloc() {
        return Ok(());
    }
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold: u64 = u64::MAX;
    // SAFETY: `pool` receives the device's default pool handle; the attribute value is a
    // u64 as the driver's documentation for the release threshold requires.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device())
            .result()
            .map_err(|e| device_err("querying the memory pool", e))?;
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            &mut threshold as *mut u64 as *mut std::ffi::c_void,
        )
        .result()
        .map_err(|e| device_err("configuring the memory pool", e))?;
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| Error::Device("a previous CUDA call panicked while holding a lock".into()))
}

/// Maps a launch result to the crate's error.
pub(crate) fn launched<T>(kernel: &str, result: std::result::Result<T, DriverError>) -> Result<()> {
    result
        .map(|_| ())
        .map_err(|e| device_err(&format!("launching {kernel}"), e))
}
