//! Word counting and the training alphabet. Sentences stream through once; only the table of
//! distinct words and their counts is kept, so memory follows the vocabulary of the corpus,
//! not its length.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::mpsc;

use super::{UNK_CHAR, WORD_BOUNDARY};
use crate::{Error, Result};

/// Sentences handed to a counting thread at a time: large enough that channel traffic is
/// negligible, small enough that the chunks in flight stay a few megabytes.
const CHUNK_SENTENCES: usize = 4096;

/// A multiplicative hasher (the Fx hash of the Rust compiler): word tables are hashed tens of
/// millions of times and need no protection against adversarial keys.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The training corpus reduced to what the trainers need.
pub struct Corpus {
    /// Distinct words (boundary marker first, characters outside the alphabet replaced by
    /// the unknown placeholder) with their counts, most frequent first, ties by text.
    pub words: Vec<(Vec<char>, u64)>,
    /// The alphabet: characters every model must contain, most frequent first, ties by
    /// code point.
    pub required: Vec<(char, u64)>,
}

/// Counts the words of `sentences` on `threads` threads. Words are split on whitespace and
/// marked with U+2581 at their start; user-defined symbols are cut out of words, since they
/// are segmented whole before any learned piece applies.
pub fn count_words(
    sentences: &mut dyn Iterator<Item = String>,
    user_symbols: &[String],
    threads: usize,
) -> FxHashMap<String, u64> {
    let mut symbols: Vec<&str> = user_symbols.iter().map(String::as_str).collect();
    // Longest first, so a match is always the longest one, as the encoder's prefix matcher.
    symbols.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));

    if threads <= 1 {
        let mut counts = FxHashMap::default();
        let mut buffer = String::new();
        for sentence in sentences {
            count_sentence(&sentence, &symbols, &mut counts, &mut buffer);
        }
        return counts;
    }

    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            // Two chunks queued per worker bound the sentences held in memory.
            let (sender, receiver) = mpsc::sync_channel::<Vec<String>>(2);
            senders.push(sender);
            let symbols = &symbols;
            workers.push(scope.spawn(move || {
                let mut counts = FxHashMap::default();
                let mut buffer = String::new();
                for chunk in receiver {
                    for sentence in &chunk {
                        count_sentence(sentence, symbols, &mut counts, &mut buffer);
                    }
                }
                counts
            }));
        }

        let mut next = 0;
        loop {
            let chunk: Vec<String> = (&mut *sentences).take(CHUNK_SENTENCES).collect();
            if chunk.is_empty() {
                break;
            }
            // A worker only stops receiving by panicking, which the join below reports.
            if senders[next].send(chunk).is_err() {
                break;
            }
            next = (next + 1) % threads;
        }
        drop(senders);

        let mut total: FxHashMap<String, u64> = FxHashMap::default();
        for worker in workers {
            let counts = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if counts.len() > total.len() {
                let smaller = std::mem::replace(&mut total, counts);
                merge_into(&mut total, smaller);
            } else {
                merge_into(&mut total, counts);
            }
        }
        total
    })
}

fn merge_into(total: &mut FxHashMap<String, u64>, counts: FxHashMap<String, u64>) {
    for (word, count) in counts {
        *total.entry(word).or_insert(0) += count;
    }
}

fn count_sentence(
    sentence: &str,
    symbols: &[&str],
    counts: &mut FxHashMap<String, u64>,
    buffer: &mut String,
) {
    for word in sentence.split_whitespace() {
        if symbols.is_empty() {
            buffer.clear();
            buffer.push(WORD_BOUNDARY);
            buffer.push_str(word);
            add_word(counts, buffer);
        } else {
            count_word_around_symbols(word, symbols, counts, buffer);
        }
    }
}

/// Counts the fragments of `word` between occurrences of user-defined symbols; only the first
/// fragment carries the boundary marker, and it is counted even when the word starts with a
/// symbol, because the encoder then emits the marker alone.
fn count_word_around_symbols(
    word: &str,
    symbols: &[&str],
    counts: &mut FxHashMap<String, u64>,
    buffer: &mut String,
) {
    buffer.clear();
    buffer.push(WORD_BOUNDARY);
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        if let Some(symbol) = symbols.iter().find(|s| rest.starts_with(**s)) {
            if !buffer.is_empty() {
                add_word(counts, buffer);
            }
            buffer.clear();
            rest = &rest[symbol.len()..];
        } else {
            buffer.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !buffer.is_empty() {
        add_word(counts, buffer);
    }
}

fn add_word(counts: &mut FxHashMap<String, u64>, word: &str) {
    match counts.get_mut(word) {
        Some(count) => *count += 1,
        None => {
            counts.insert(word.to_string(), 1);
        }
    }
}

impl Corpus {
    /// Chooses the alphabet covering `character_coverage` of all characters (counting the
    /// boundary marker), replaces the other characters by the unknown placeholder, and sorts
    /// the words.
    pub fn new(counts: FxHashMap<String, u64>, character_coverage: f32) -> Result<Corpus> {
        if counts.is_empty() {
            return Err(Error::Invalid(
                "tokenizer training: the corpus has no words".to_string(),
            ));
        }

        let mut char_counts: FxHashMap<char, u64> = FxHashMap::default();
        let mut all_chars = 0u64;
        for (word, &count) in &counts {
            for c in word.chars() {
                *char_counts.entry(c).or_insert(0) += count;
                all_chars += count;
            }
        }
        char_counts.remove(&UNK_CHAR);
        let mut chars: Vec<(char, u64)> = char_counts.into_iter().collect();
        chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

        // Characters are taken, most frequent first, until the covered share reaches the
        // target; the one that crosses it is still taken.
        let mut required = Vec::new();
        let mut covered = 0u64;
        for (c, count) in chars {
            let coverage = (covered as f64 / all_chars as f64) as f32;
            if coverage >= character_coverage {
                break;
            }
            covered += count;
            required.push((c, count));
        }

        let alphabet: FxHashMap<char, ()> = required.iter().map(|&(c, _)| (c, ())).collect();
        let mut merged: FxHashMap<Vec<char>, u64> = FxHashMap::default();
        for (word, count) in counts {
            let chars: Vec<char> = word
                .chars()
                .map(|c| {
                    if alphabet.contains_key(&c) {
                        c
                    } else {
                        UNK_CHAR
                    }
                })
                .collect();
            *merged.entry(chars).or_insert(0) += count;
        }
        let mut words: Vec<(Vec<char>, u64)> = merged.into_iter().collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Corpus { words, required })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(lines: &[&str], symbols: &[&str], threads: usize) -> Vec<(String, u64)> {
        let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        let mut lines = lines.iter().map(|s| s.to_string());
        let mut counts: Vec<_> = count_words(&mut lines, &symbols, threads)
            .into_iter()
            .collect();
        counts.sort();
        counts
    }

    #[test]
    fn words_are_marked_and_counted_alike_on_any_thread_count() {
        let lines = ["the cat  sat", "the\tdog", "", "cat"];
        let one = count(&lines, &[], 1);
        assert_eq!(
            one,
            vec![
                ("▁cat".to_string(), 2),
                ("▁dog".to_string(), 1),
                ("▁sat".to_string(), 1),
                ("▁the".to_string(), 2)
            ]
        );
        assert_eq!(count(&lines, &[], 3), one);
    }

    #[test]
    fn user_symbols_split_words() {
        let counts = count(&["a<sep>bc <sep> x<sep>"], &["<sep>"], 1);
        assert_eq!(
            counts,
            vec![
                ("bc".to_string(), 1),
                ("▁".to_string(), 1),
                ("▁a".to_string(), 1),
                ("▁x".to_string(), 1)
            ]
        );
    }

    #[test]
    fn coverage_keeps_frequent_characters() {
        let mut counts = FxHashMap::default();
        counts.insert("▁aaaa".to_string(), 100);
        counts.insert("▁z".to_string(), 1);
        let corpus = Corpus::new(counts, 0.99).unwrap();
        let alphabet: Vec<char> = corpus.required.iter().map(|&(c, _)| c).collect();
        assert_eq!(alphabet, vec!['a', '▁']);
        assert_eq!(corpus.words[1].0, vec!['▁', UNK_CHAR]);
    }
}
