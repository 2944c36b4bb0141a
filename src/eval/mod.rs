//! Evaluation of sentence encoders on transfer tasks.
pub mod alue_data;
pub mod bilingual_data;
pub mod classifier;
pub mod data;
pub mod files;
pub mod metrics;
pub mod senteval_data;
