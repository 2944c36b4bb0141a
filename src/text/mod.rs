//! Text: normalization of Arabic, English and bilingual sentences, and the SentencePiece
//! tokenizer shared by every task.

pub mod normalize;
pub mod spm;
pub mod tokenizer;

pub use normalize::{normalize, Language, NormalizeOptions};
pub use tokenizer::Tokenizer;

/// Id of `<s>`, the start-of-sentence piece.
pub const BOS: u32 = 0;
/// Id of `<pad>`, the padding piece.
pub const PAD: u32 = 1;
/// Id of `</s>`, the end-of-sentence piece.
pub const EOS: u32 = 2;
/// Id of `<unk>`, the unknown piece.
pub const UNK: u32 = 3;
