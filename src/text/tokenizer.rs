//! The SentencePiece tokenizer shared by every task's sources and targets.
//!
//! A thin wrapper over the `sentencepiece` crate's processor (the reference C++
//! implementation), so ids match Python's sentencepiece exactly. The processor is
//! thread-safe (`Send + Sync`): one [`Tokenizer`] behind an `Arc` serves every worker.

use std::path::{Path, PathBuf};

use sentencepiece::SentencePieceProcessor;

use crate::text::{BOS, EOS, PAD, UNK};
use crate::{Error, Result};

/// A loaded SentencePiece model whose reserved ids are GenSen's (`<s>` 0, `<pad>` 1,
/// `</s>` 2, `<unk>` 3).
pub struct Tokenizer {
    processor: SentencePieceProcessor,
    /// The serialized model, kept to checksum it and to save it beside checkpoints.
    bytes: Vec<u8>,
    vocab_size: usize,
    origin: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("origin", &self.origin)
            .field("vocab_size", &self.vocab_size)
            .finish()
    }
}

impl Tokenizer {
    /// Loads a `.model` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Tokenizer::from_bytes_at(bytes, path)
    }

    /// Loads a serialized model (the content of a `.model` file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Tokenizer> {
        Tokenizer::from_bytes_at(bytes.to_vec(), Path::new("<memory>"))
    }

    fn from_bytes_at(bytes: Vec<u8>, origin: &Path) -> Result<Tokenizer> {
        let bad = |msg: String| Error::parse(origin, 0, msg);
        let processor = SentencePieceProcessor::from_serialized_proto(&bytes)
            .map_err(|e| bad(format!("not a SentencePiece model: {e}")))?;
        let vocab_size = processor.len();

        // The model and the trainer agree on ids only if the reserved pieces sit where
        // GenSen puts them.
        let reserved = [
            ("<s>", BOS, processor.bos_id()),
            ("<pad>", PAD, processor.pad_id()),
            ("</s>", EOS, processor.eos_id()),
            ("<unk>", UNK, Some(processor.unk_id())),
        ];
        for (piece, want, got) in reserved {
            if got != Some(want) {
                return Err(bad(format!(
                    "{piece} must have id {want}, the model gives {got:?}; train it with \
                     bos_id=0 pad_id=1 eos_id=2 unk_id=3"
                )));
            }
        }
        Ok(Tokenizer {
            processor,
            bytes,
            vocab_size,
            origin: origin.to_path_buf(),
        })
    }

    /// Number of pieces, reserved ones included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The serialized model.
    pub fn model_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// CRC-32 of the serialized model: identifies the vocabulary in shard manifests.
    pub fn checksum(&self) -> u32 {
        crc32fast::hash(&self.bytes)
    }

    /// Encodes already normalized text into piece ids (no `<s>` / `</s>`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let pieces = self.processor.encode(text).map_err(|e| {
            Error::Invalid(format!("{}: encoding failed: {e}", self.origin.display()))
        })?;
        Ok(pieces.into_iter().map(|p| p.id).collect())
    }

    /// Decodes ids into text; reserved ids (`<s>`, `<pad>`, `</s>`) are skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(Error::Invalid(format!(
                "id {bad} is outside the vocabulary of {} pieces",
                self.vocab_size
            )));
        }
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| id != BOS && id != PAD && id != EOS)
            .collect();
        self.processor
            .decode_piece_ids(&kept)
            .map_err(|e| Error::Invalid(format!("{}: decoding failed: {e}", self.origin.display())))
    }

    /// The id of a piece, if the vocabulary has it.
    pub fn piece_to_id(&self, piece: &str) -> Option<u32> {
        // A piece with an interior NUL cannot be in the vocabulary.
        let id = self.processor.piece_to_id(piece).ok().flatten()?;
        // The crate reports <unk>'s id for unknown pieces in some versions; only <unk>
        // itself maps to UNK.
        (id != UNK || piece == "<unk>").then_some(id)
    }
}

/// One entry of a model's vocabulary, read from its protobuf.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// The piece's text (`▁` marks a preceding space).
    pub piece: String,
    /// Its score (log probability for unigram, negative merge rank for BPE).
    pub score: f32,
}

/// Lists the pieces of a serialized SentencePiece model, in id order.
///
/// Reads the two fields needed (`ModelProto.pieces`, and each piece's text and score)
/// straight from the protobuf wire format, so no protobuf crate is needed.
pub fn model_pieces(bytes: &[u8]) -> Result<Vec<Piece>> {
    let bad = |msg: &str| Error::Invalid(format!("SentencePiece model: {msg}"));
    let mut pieces = Vec::new();
    let mut reader = Wire { bytes, pos: 0 };
    while !reader.done() {
        let (field, kind) = reader.key().ok_or_else(|| bad("truncated key"))?;
        if field == 1 && kind == 2 {
            let body = reader
                .len_delimited()
                .ok_or_else(|| bad("truncated piece"))?;
            pieces.push(parse_piece(body).ok_or_else(|| bad("malformed piece"))?);
        } else {
            reader.skip(kind).ok_or_else(|| bad("malformed field"))?;
        }
    }
    Ok(pieces)
}

fn parse_piece(bytes: &[u8]) -> Option<Piece> {
    let mut reader = Wire { bytes, pos: 0 };
    let mut piece = Piece {
        piece: String::new(),
        score: 0.0,
    };
    while !reader.done() {
        let (field, kind) = reader.key()?;
        match (field, kind) {
            (1, 2) => piece.piece = String::from_utf8(reader.len_delimited()?.to_vec()).ok()?,
            (2, 5) => piece.score = f32::from_le_bytes(reader.take(4)?.try_into().ok()?),
            _ => reader.skip(kind)?,
        }
    }
    Some(piece)
}

/// A cursor over protobuf wire-format bytes.
struct Wire<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn key(&mut self) -> Option<(u64, u8)> {
        let key = self.varint()?;
        Some((key >> 3, (key & 7) as u8))
    }

    fn len_delimited(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn skip(&mut self, kind: u8) -> Option<()> {
        match kind {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.len_delimited().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            _ => None,
        }
    }
}

/// Writes the `.vocab` listing of a model: one `piece<TAB>score` line per id.
pub fn vocab_listing(bytes: &[u8]) -> Result<String> {
    let mut out = String::new();
    for p in model_pieces(bytes)? {
        out.push_str(&p.piece);
        out.push('\t');
        out.push_str(&format!("{}\n", p.score));
    }
    Ok(out)
}
