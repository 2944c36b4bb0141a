//! GenSen's model: the shared encoder, one conditional-GRU decoder per seq2seq task and
//! classification heads, all built on the engine's tape.

pub mod decoder;
pub mod encoder;
pub mod heads;
pub mod multitask;

pub use decoder::Decoder;
pub use encoder::{Encoded, Encoder, EncoderConfig, SeqInput};
pub use heads::{Classifier, PairClassifier};
pub use multitask::{Head, ModelSpec, MultiTask, TaskBatch, TaskKind, TaskSpec};
