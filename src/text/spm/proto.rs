//! The SentencePiece model file: a `ModelProto` protocol-buffer message, written and read by
//! hand. Only the few fields a trained model needs are encoded; the C++ library fills every
//! other field with its declared default when it loads the file.
//!
//! Wire format reminders: a field is a varint key `(number << 3) | wire_type`, then a varint
//! (type 0), eight bytes (type 1), a varint length and that many bytes (type 2), or four
//! little-endian bytes (type 5, `float`). Negative `int32` values are sign-extended to ten
//! varint bytes.

use crate::{Error, Result};

/// The kind of a vocabulary entry (`ModelProto.SentencePiece.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceType {
    /// A piece learned from the corpus.
    Normal = 1,
    /// The unknown-symbol piece.
    Unknown = 2,
    /// A control symbol (`<s>`, `</s>`, `<pad>`): never produced by segmentation.
    Control = 3,
    /// A symbol the user asked to keep whole.
    UserDefined = 4,
}

/// One vocabulary entry, in id order.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// The `TrainerSpec` fields written into the model (`sentencepiece_model.proto` numbers).
/// The thread count is left out so the file does not depend on it.
pub struct TrainerSpec<'a> {
    /// `TrainerSpec.ModelType`: UNIGRAM = 1, BPE = 2.
    pub model_type: u64,
    pub vocab_size: usize,
    pub character_coverage: f32,
    pub user_defined_symbols: &'a [String],
}

// Field numbers of ModelProto.
const MODEL_PIECES: u32 = 1;
const MODEL_TRAINER_SPEC: u32 = 2;
const MODEL_NORMALIZER_SPEC: u32 = 3;

// Field numbers of ModelProto.SentencePiece.
const PIECE_PIECE: u32 = 1;
const PIECE_SCORE: u32 = 2;
const PIECE_TYPE: u32 = 3;

// Field numbers of TrainerSpec.
const TS_MODEL_TYPE: u32 = 3;
const TS_VOCAB_SIZE: u32 = 4;
const TS_CHARACTER_COVERAGE: u32 = 10;
const TS_MAX_SENTENCEPIECE_LENGTH: u32 = 20;
const TS_SPLIT_BY_UNICODE_SCRIPT: u32 = 21;
const TS_SPLIT_BY_WHITESPACE: u32 = 22;
const TS_SPLIT_BY_NUMBER: u32 = 23;
const TS_USER_DEFINED_SYMBOLS: u32 = 31;
const TS_HARD_VOCAB_LIMIT: u32 = 33;
const TS_BYTE_FALLBACK: u32 = 35;
const TS_UNK_ID: u32 = 40;
const TS_BOS_ID: u32 = 41;
const TS_EOS_ID: u32 = 42;
const TS_PAD_ID: u32 = 43;
const TS_UNK_PIECE: u32 = 45;
const TS_BOS_PIECE: u32 = 46;
const TS_EOS_PIECE: u32 = 47;
const TS_PAD_PIECE: u32 = 48;

// Field numbers of NormalizerSpec.
const NS_NAME: u32 = 1;
const NS_ADD_DUMMY_PREFIX: u32 = 3;
const NS_REMOVE_EXTRA_WHITESPACES: u32 = 4;
const NS_ESCAPE_WHITESPACES: u32 = 5;

const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LEN: u32 = 2;
const WIRE_FIXED32: u32 = 5;

/// The longest piece, in characters, the trainers produce (and the spec records).
pub const MAX_PIECE_CHARS: usize = 16;

/// Serializes a complete model: pieces in id order, the trainer spec, and an identity
/// normalizer that still adds the dummy prefix and escapes spaces as U+2581.
pub fn encode_model(pieces: &[Piece], spec: &TrainerSpec, reserved: &super::Reserved) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        let mut msg = Vec::new();
        put_bytes(&mut msg, PIECE_PIECE, piece.piece.as_bytes());
        put_float(&mut msg, PIECE_SCORE, piece.score);
        // NORMAL is the declared default; writing it anyway keeps the file explicit.
        put_varint_field(&mut msg, PIECE_TYPE, piece.kind as u64);
        put_bytes(&mut out, MODEL_PIECES, &msg);
    }

    let mut trainer = Vec::new();
    put_varint_field(&mut trainer, TS_MODEL_TYPE, spec.model_type);
    put_int32(&mut trainer, TS_VOCAB_SIZE, spec.vocab_size as i64);
    put_float(&mut trainer, TS_CHARACTER_COVERAGE, spec.character_coverage);
    put_int32(
        &mut trainer,
        TS_MAX_SENTENCEPIECE_LENGTH,
        MAX_PIECE_CHARS as i64,
    );
    put_varint_field(&mut trainer, TS_SPLIT_BY_UNICODE_SCRIPT, 1);
    put_varint_field(&mut trainer, TS_SPLIT_BY_WHITESPACE, 1);
    put_varint_field(&mut trainer, TS_SPLIT_BY_NUMBER, 1);
    for symbol in spec.user_defined_symbols {
        put_bytes(&mut trainer, TS_USER_DEFINED_SYMBOLS, symbol.as_bytes());
    }
    put_varint_field(&mut trainer, TS_HARD_VOCAB_LIMIT, 1);
    put_varint_field(&mut trainer, TS_BYTE_FALLBACK, 0);
    put_int32(&mut trainer, TS_UNK_ID, reserved.unk as i64);
    put_int32(&mut trainer, TS_BOS_ID, reserved.bos as i64);
    put_int32(&mut trainer, TS_EOS_ID, reserved.eos as i64);
    put_int32(&mut trainer, TS_PAD_ID, reserved.pad as i64);
    put_bytes(&mut trainer, TS_UNK_PIECE, super::UNK.as_bytes());
    put_bytes(&mut trainer, TS_BOS_PIECE, super::BOS.as_bytes());
    put_bytes(&mut trainer, TS_EOS_PIECE, super::EOS.as_bytes());
    put_bytes(&mut trainer, TS_PAD_PIECE, super::PAD.as_bytes());
    put_bytes(&mut out, MODEL_TRAINER_SPEC, &trainer);

    // The caller normalizes text itself, so no character map is stored: the C++ normalizer
    // then only trims and collapses spaces, adds the leading space and escapes spaces.
    let mut normalizer = Vec::new();
    put_bytes(&mut normalizer, NS_NAME, b"identity");
    put_varint_field(&mut normalizer, NS_ADD_DUMMY_PREFIX, 1);
    put_varint_field(&mut normalizer, NS_REMOVE_EXTRA_WHITESPACES, 1);
    put_varint_field(&mut normalizer, NS_ESCAPE_WHITESPACES, 1);
    put_bytes(&mut out, MODEL_NORMALIZER_SPEC, &normalizer);
    out
}

/// Reads the pieces (string, score, type) of a serialized `ModelProto`, skipping every other
/// field.
pub fn decode_pieces(bytes: &[u8]) -> Result<Vec<(String, f32, u64)>> {
    let mut pieces = Vec::new();
    let mut reader = Reader { bytes, pos: 0 };
    while !reader.done() {
        let (field, wire) = reader.key()?;
        if field == MODEL_PIECES && wire == WIRE_LEN {
            let msg = reader.len_delimited()?;
            pieces.push(decode_piece(msg)?);
        } else {
            reader.skip(wire)?;
        }
    }
    Ok(pieces)
}

fn decode_piece(bytes: &[u8]) -> Result<(String, f32, u64)> {
    let mut reader = Reader { bytes, pos: 0 };
    let (mut piece, mut score, mut kind) = (None, 0.0f32, PieceType::Normal as u64);
    while !reader.done() {
        match reader.key()? {
            (PIECE_PIECE, WIRE_LEN) => {
                let raw = reader.len_delimited()?;
                let text =
                    std::str::from_utf8(raw).map_err(|_| invalid("a piece is not valid UTF-8"))?;
                piece = Some(text.to_string());
            }
            (PIECE_SCORE, WIRE_FIXED32) => {
                let raw = reader.take(4)?;
                score = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            }
            (PIECE_TYPE, WIRE_VARINT) => kind = reader.varint()?,
            (_, wire) => reader.skip(wire)?,
        }
    }
    let piece = piece.ok_or_else(|| invalid("a piece has no string"))?;
    Ok((piece, score, kind))
}

fn invalid(msg: &str) -> Error {
    Error::Invalid(format!("SentencePiece model: {msg}"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or_else(|| invalid("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(invalid("varint longer than ten bytes"))
    }

    fn key(&mut self) -> Result<(u32, u32)> {
        let key = self.varint()?;
        Ok(((key >> 3) as u32, (key & 7) as u32))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| invalid("truncated field"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| invalid("field too long"))?)
    }

    fn skip(&mut self, wire: u32) -> Result<()> {
        match wire {
            WIRE_VARINT => self.varint().map(|_| ()),
            WIRE_FIXED64 => self.take(8).map(|_| ()),
            WIRE_LEN => self.len_delimited().map(|_| ()),
            WIRE_FIXED32 => self.take(4).map(|_| ()),
            _ => Err(invalid("unsupported wire type")),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from((field << 3) | wire));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_key(out, field, WIRE_VARINT);
    put_varint(out, value);
}

/// An `int32` field: negative values are sign-extended to 64 bits, as protobuf requires.
fn put_int32(out: &mut Vec<u8>, field: u32, value: i64) {
    put_varint_field(out, field, value as u64);
}

fn put_float(out: &mut Vec<u8>, field: u32, value: f32) {
    put_key(out, field, WIRE_FIXED32);
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_through_the_reader() {
        for value in [0u64, 1, 127, 128, 300, u32::MAX as u64, (-1i64) as u64] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.varint().unwrap(), value);
            assert!(reader.done());
        }
    }

    #[test]
    fn truncated_model_is_an_error() {
        let mut out = Vec::new();
        put_bytes(&mut out, MODEL_PIECES, b"\x0a\x05ab");
        assert!(decode_pieces(&out).is_err());
        assert!(decode_pieces(&out[..3]).is_err());
    }
}
