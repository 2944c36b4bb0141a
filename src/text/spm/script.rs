//! Which pieces are allowed: SentencePiece's rules, so that a model trained here segments
//! like one trained by the reference trainer. A piece has at most [`MAX_PIECE_CHARS`]
//! characters, carries the word-boundary marker only as its first character, never holds the
//! unknown placeholder, and never mixes Unicode scripts (so "a1" or "a." are not pieces, while
//! "12" and ".." are).
//!
//! Scripts are resolved from a table of Unicode blocks rather than the full Scripts.txt: exact
//! for Latin, Arabic and the other alphabets listed, approximate (one script per block) for
//! the rest.

use super::proto::MAX_PIECE_CHARS;
use super::{UNK_CHAR, WORD_BOUNDARY};

/// A script class; pieces may only join characters of one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Script {
    /// No script yet: the piece is only the boundary marker or combining marks.
    Any,
    /// Digits, punctuation, symbols and spaces shared by all scripts.
    Common,
    /// Combining marks, which take the script of the character before them.
    Inherited,
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Hebrew,
    Arabic,
    /// Han with Hiragana and Katakana: Japanese words mix them freely.
    Han,
    Hangul,
    Thai,
    Devanagari,
    /// Any other block, identified by its first code point divided by 128.
    Block(u32),
}

/// The script of one character.
pub fn script_of(c: char) -> Script {
    let cp = c as u32;
    match cp {
        0x30..=0x39 => Script::Common,
        0x41..=0x5a | 0x61..=0x7a | 0xaa | 0xba => Script::Latin,
        0x00..=0xbf | 0xd7 | 0xf7 => Script::Common,
        0xc0..=0x24f | 0x1e00..=0x1eff | 0x2c60..=0x2c7f | 0xa720..=0xa7ff => Script::Latin,
        0xff21..=0xff3a | 0xff41..=0xff5a => Script::Latin,
        0x250..=0x2af | 0x1d00..=0x1dbf => Script::Latin,
        0x2b0..=0x2ff => Script::Common,
        0x300..=0x36f | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff | 0x20d0..=0x20ff | 0xfe00..=0xfe0f => {
            Script::Inherited
        }
        0xfe20..=0xfe2f => Script::Inherited,
        0x370..=0x3ff | 0x1f00..=0x1fff => Script::Greek,
        0x400..=0x52f | 0x2de0..=0x2dff | 0xa640..=0xa69f | 0x1c80..=0x1c8f => Script::Cyrillic,
        0x530..=0x58f => Script::Armenian,
        0x590..=0x5ff | 0xfb1d..=0xfb4f => Script::Hebrew,
        // Arabic punctuation shared with other scripts, and the tatweel.
        0x60c | 0x61b | 0x61f | 0x640 | 0x6dd => Script::Common,
        // Arabic vowel marks are combining characters.
        0x64b..=0x655 | 0x670 => Script::Inherited,
        0x600..=0x6ff | 0x750..=0x77f | 0x870..=0x8ff | 0xfb50..=0xfdff | 0xfe70..=0xfeff => {
            Script::Arabic
        }
        0x900..=0x97f | 0xa8e0..=0xa8ff => Script::Devanagari,
        0xe00..=0xe7f => Script::Thai,
        0x1100..=0x11ff | 0x3130..=0x318f | 0xa960..=0xa97f | 0xac00..=0xd7ff => Script::Hangul,
        0x2e80..=0x2fdf | 0x3005 | 0x3007 | 0x3021..=0x3029 | 0x3038..=0x303b => Script::Han,
        0x3040..=0x30ff | 0x31f0..=0x31ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff => Script::Han,
        0xf900..=0xfaff | 0xff66..=0xff9f | 0x20000..=0x3134f => Script::Han,
        0x2000..=0x2bff | 0x3000..=0x303f | 0xfe30..=0xfe6f | 0xff00..=0xff65 => Script::Common,
        0xfff0..=0xffff | 0x1f000..=0x1faff => Script::Common,
        _ => Script::Block(cp / 128),
    }
}

/// The facts about a valid piece that decide whether it can join another piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceShape {
    /// Length in characters.
    pub chars: usize,
    /// Whether the piece starts with the word-boundary marker.
    pub starts_word: bool,
    /// The piece's script, `Any` when it has none yet.
    pub script: Script,
    /// The piece is the unknown placeholder.
    pub unknown: bool,
}

impl PieceShape {
    /// The shape of a single character.
    pub fn of_char(c: char) -> PieceShape {
        let script = match script_of(c) {
            _ if c == WORD_BOUNDARY => Script::Any,
            Script::Inherited => Script::Any,
            s => s,
        };
        PieceShape {
            chars: 1,
            starts_word: c == WORD_BOUNDARY,
            script,
            unknown: c == UNK_CHAR,
        }
    }

    /// The shape of `self` followed by `right`, or `None` when SentencePiece would reject the
    /// joined piece.
    pub fn join(&self, right: &PieceShape) -> Option<PieceShape> {
        if self.unknown || right.unknown || right.starts_word {
            return None;
        }
        let chars = self.chars + right.chars;
        if chars > MAX_PIECE_CHARS {
            return None;
        }
        let script = match (self.script, right.script) {
            (Script::Any, s) | (s, Script::Any) => s,
            (a, b) if a == b => a,
            _ => return None,
        };
        Some(PieceShape {
            chars,
            starts_word: self.starts_word,
            script,
            unknown: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `piece` is a valid SentencePiece piece under the rules above.
    pub fn is_valid_piece(piece: &[char]) -> bool {
        let mut chars = piece.iter();
        let Some(&first) = chars.next() else {
            return false;
        };
        let mut shape = PieceShape::of_char(first);
        if shape.unknown {
            return false;
        }
        for &c in chars {
            match shape.join(&PieceShape::of_char(c)) {
                Some(joined) => shape = joined,
                None => return false,
            }
        }
        true
    }

    fn valid(s: &str) -> bool {
        is_valid_piece(&s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn pieces_follow_sentencepiece_rules() {
        assert!(valid("▁the"));
        assert!(valid("12"));
        assert!(valid(".."));
        assert!(valid("▁كتاب"));
        assert!(valid("▁كُتُب"));
        assert!(!valid("a1"));
        assert!(!valid("a."));
        assert!(!valid("a▁"));
        assert!(!valid("aب"));
        assert!(!valid(""));
        assert!(!valid("abcdefghijklmnopq"));
        assert!(valid("abcdefghijklmnop"));
    }
}
