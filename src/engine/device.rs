//! Choosing a backend at run time. Code above the engine is generic over [`Backend`]; a
//! [`WithBackend`] job is instantiated for the backend the user picked.

use crate::engine::cpu::Cpu;
use crate::engine::cuda::{cuda_available, Cuda};
use crate::engine::Backend;
use crate::error::{Error, Result};

/// The `--device` choice.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU reference backend.
    Cpu,
    /// The first CUDA GPU; an error when there is none.
    Cuda,
    /// CUDA when a GPU is present, else the CPU.
    #[default]
    Auto,
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => Err(Error::Invalid(format!(
                "unknown device '{other}' (cpu, cuda or auto)"
            ))),
        }
    }
}

/// Work that runs on whichever backend is chosen.
pub trait WithBackend {
    type Output;
    fn run<B: Backend>(self, backend: B) -> Result<Self::Output>;
}

/// Runs `job` on the backend `choice` names; `threads` sizes the CPU backend.
pub fn dispatch<W: WithBackend>(choice: DeviceChoice, threads: usize, job: W) -> Result<W::Output> {
    let use_cuda = match choice {
        DeviceChoice::Cpu => false,
        DeviceChoice::Cuda => true,
        DeviceChoice::Auto => cuda_available(),
    };
    if use_cuda {
        job.run(Cuda::new(0)?)
    } else {
        job.run(Cpu::<f32>::new(threads))
    }
}
