//! gensen: general-purpose sentence representations learned by multi-task training
//! (GenSen), with a CPU reference backend and hand-written CUDA kernels.
//!
//! Layers, bottom to top: [`engine`] (backends, tape, optimiser) -> [`model`] (encoder,
//! decoders, heads) -> [`text`] and [`data`] (normalisation, tokenizer, shards, batches) ->
//! [`train`] (multi-task trainer, checkpoints) -> [`encode`] (GenSen encoders) ->
//! [`eval`] (transfer tasks). [`demo`] generates the bundled corpus.

pub mod bench;
pub mod config;
pub mod data;
pub mod demo;
pub mod encode;
pub mod engine;
pub mod error;
pub mod eval;
pub mod model;
pub mod pipeline;
pub mod text;
pub mod train;

pub use error::{Error, Result};
