//! The engine: device buffers, the backend interface, the CPU reference backend, the CUDA
//! backend, parameters, the autograd tape and the optimiser. Nothing here knows about
//! tasks, files or tokenizers.

pub mod backend;
pub mod cpu;
pub mod cuda;
pub mod device;
pub mod rng;

pub use backend::{Backend, Gemm, GruDims, Pool};
pub mod params;
pub mod tape;

pub use params::{Init, ParamId, Params};
pub use tape::{GruParams, IdsVar, Loss, Tape, Var};
