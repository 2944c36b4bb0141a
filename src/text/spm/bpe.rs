//! BPE training: repeatedly merge the most frequent adjacent pair of symbols inside words.
//!
//! Pair counts are kept incrementally. Each pair records the words it occurs in; a merge
//! rewrites only those words, subtracting their old pairs and adding their new ones. The best
//! pair comes from a max-heap whose entries may be stale: a popped entry whose count no longer
//! matches is pushed back with its current count (counts of existing pairs only fall, so a
//! stale entry is never below the truth). A merge thus costs time in the words it touches,
//! not in the corpus.
//!
//! Counting follows the reference trainer (measured against Python's sentencepiece 0.2):
//! every adjacent occurrence counts, so "aaa" holds "aa" twice though a merge rewrites it
//! once, ties go to the shorter, then the lexicographically (UTF-8) smaller piece, a piece already produced by another pair of symbols ("aa"+"a" vs
//! "a"+"aa") is never merged twice, and the score of the i-th merge is -i, which the encoder
//! reads as the merge order.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};

use super::count::{Corpus, FxHashMap};
use super::script::PieceShape;
use super::Scored;

type Pair = (u32, u32);

struct Symbol {
    text: String,
    shape: PieceShape,
}

#[derive(Default)]
struct PairStat {
    /// Occurrences weighted by word count.
    count: u64,
    /// Words the pair occurs (or once occurred) in; may hold duplicates and stale entries.
    words: Vec<u32>,
}

/// A heap entry: the best pair has the highest count, then the fewest characters, then the
/// smallest text, then the smallest symbol ids.
#[derive(PartialEq, Eq)]
struct Candidate {
    count: u64,
    chars: usize,
    text: String,
    pair: Pair,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| Reverse(self.chars).cmp(&Reverse(other.chars)))
            .then_with(|| other.text.cmp(&self.text))
            .then_with(|| Reverse(self.pair).cmp(&Reverse(other.pair)))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Vocab {
    symbols: Vec<Symbol>,
    /// Pairs never to merge: their text repeats an earlier piece or a user-defined symbol.
    dead: FxHashMap<Pair, ()>,
}

impl Vocab {
    /// The shape of the merged piece, if the pair may be merged at all.
    fn join(&self, pair: Pair) -> Option<PieceShape> {
        let shape = self.symbols[pair.0 as usize]
            .shape
            .join(&self.symbols[pair.1 as usize].shape)?;
        if !self.dead.is_empty() && self.dead.contains_key(&pair) {
            return None;
        }
        Some(shape)
    }

    fn candidate(&self, pair: Pair, count: u64) -> Candidate {
        let (left, right) = (
            &self.symbols[pair.0 as usize],
            &self.symbols[pair.1 as usize],
        );
        Candidate {
            count,
            chars: left.shape.chars + right.shape.chars,
            text: format!("{}{}", left.text, right.text),
            pair,
        }
    }

    /// The mergeable adjacent pairs of `word`, overlapping repeats included.
    fn pairs_of(&self, word: &[u32], out: &mut Vec<Pair>) {
        out.clear();
        for window in word.windows(2) {
            let pair = (window[0], window[1]);
            if self.join(pair).is_some() {
                out.push(pair);
            }
        }
    }
}

/// Learns `n_pieces` pieces (merges first, then the alphabet), scored by merge order.
/// Returns fewer when the corpus runs out of pairs.
pub fn train(corpus: &Corpus, n_pieces: usize, taken: &HashSet<String>) -> Vec<Scored> {
    let n_merges = n_pieces.saturating_sub(corpus.required.len());

    // Symbols start as the characters of the corpus, in code point order.
    let mut chars: Vec<char> = corpus
        .words
        .iter()
        .flat_map(|(w, _)| w.iter().copied())
        .collect();
    chars.sort_unstable();
    chars.dedup();
    let char_ids: FxHashMap<char, u32> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u32))
        .collect();
    let mut vocab = Vocab {
        symbols: chars
            .iter()
            .map(|&c| Symbol {
                text: c.to_string(),
                shape: PieceShape::of_char(c),
            })
            .collect(),
        dead: FxHashMap::default(),
    };
    let mut words: Vec<Vec<u32>> = corpus
        .words
        .iter()
        .map(|(w, _)| w.iter().map(|c| char_ids[c]).collect())
        .collect();
    let counts: Vec<u64> = corpus.words.iter().map(|&(_, count)| count).collect();

    let mut pairs: FxHashMap<Pair, PairStat> = FxHashMap::default();
    let mut scratch = Vec::new();
    for (index, word) in words.iter().enumerate() {
        vocab.pairs_of(word, &mut scratch);
        for &pair in &scratch {
            let stat = pairs.entry(pair).or_default();
            stat.count += counts[index];
            if stat.words.last() != Some(&(index as u32)) {
                stat.words.push(index as u32);
            }
        }
    }
    let mut heap: BinaryHeap<Candidate> = pairs
        .iter()
        .map(|(&pair, stat)| vocab.candidate(pair, stat.count))
        .collect();

    let mut produced: HashSet<String> = taken.clone();
    let mut merges: Vec<String> = Vec::with_capacity(n_merges);
    let (mut old_pairs, mut new_pairs) = (Vec::new(), Vec::new());
    let mut delta: FxHashMap<Pair, i64> = FxHashMap::default();
    while merges.len() < n_merges {
        let Some(best) = heap.pop() else { break };
        let Some(stat) = pairs.get(&best.pair) else {
            continue;
        };
        if stat.count != best.count {
            if stat.count > 0 {
                heap.push(vocab.candidate(best.pair, stat.count));
            }
            continue;
        }
        if produced.contains(&best.text) {
            vocab.dead.insert(best.pair, ());
            pairs.remove(&best.pair);
            continue;
        }

        // Record the merge and give the new piece a symbol id.
        let Some(shape) = vocab.join(best.pair) else {
            continue;
        };
        let merged = vocab.symbols.len() as u32;
        vocab.symbols.push(Symbol {
            text: best.text.clone(),
            shape,
        });
        produced.insert(best.text.clone());
        merges.push(best.text);

        // Rewrite every word holding the pair, collecting the change in pair counts.
        let mut touched = pairs
            .remove(&best.pair)
            .map(|s| s.words)
            .unwrap_or_default();
        touched.sort_unstable();
        touched.dedup();
        delta.clear();
        for &index in &touched {
            let word = &mut words[index as usize];
            if !word.windows(2).any(|w| (w[0], w[1]) == best.pair) {
                continue;
            }
            vocab.pairs_of(word, &mut old_pairs);
            merge_in_word(word, best.pair, merged);
            vocab.pairs_of(word, &mut new_pairs);

            let count = counts[index as usize] as i64;
            for &pair in &old_pairs {
                *delta.entry(pair).or_insert(0) -= count;
            }
            for &pair in &new_pairs {
                *delta.entry(pair).or_insert(0) += count;
                if !old_pairs.contains(&pair) {
                    let stat = pairs.entry(pair).or_default();
                    if stat.words.last() != Some(&index) {
                        stat.words.push(index);
                    }
                }
            }
        }

        // Apply the changes; pairs that gained occurrences need a fresh heap entry.
        for (&pair, &change) in &delta {
            if pair == best.pair || change == 0 {
                continue;
            }
            let stat = pairs.entry(pair).or_default();
            stat.count = (stat.count as i64 + change).max(0) as u64;
            if stat.count == 0 {
                pairs.remove(&pair);
            } else if change > 0 {
                heap.push(vocab.candidate(pair, stat.count));
            }
        }
    }

    let mut pieces: Vec<Scored> = Vec::with_capacity(merges.len() + corpus.required.len());
    for text in merges {
        let order = pieces.len() as f32;
        pieces.push((text, -order));
    }
    for &(c, _) in &corpus.required {
        let order = pieces.len() as f32;
        pieces.push((c.to_string(), -order));
    }
    pieces
}

/// Replaces, left to right, each non-overlapping occurrence of `pair` in `word` by `merged`.
fn merge_in_word(word: &mut Vec<u32>, pair: Pair, merged: u32) {
    let mut write = 0;
    let mut read = 0;
    while read < word.len() {
        if read + 1 < word.len() && (word[read], word[read + 1]) == pair {
            word[write] = merged;
            read += 2;
        } else {
            word[write] = word[read];
            read += 1;
        }
        write += 1;
    }
    word.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(words: &[(&str, u64)]) -> Corpus {
        let mut counts = FxHashMap::default();
        for &(w, c) in words {
            counts.insert(w.to_string(), c);
        }
        Corpus::new(counts, 1.0).unwrap()
    }

    #[test]
    fn merges_follow_frequency_then_length_then_text() {
        let corpus = corpus(&[("▁low", 5), ("▁lower", 2), ("▁newest", 6), ("▁widest", 3)]);
        let pieces = train(&corpus, corpus.required.len() + 4, &HashSet::new());
        let texts: Vec<&str> = pieces.iter().map(|(t, _)| t.as_str()).collect();
        // "es" and "st" both occur 9 times; "es" wins on text. Then "est" (9), then "lo"
        // among the pairs seen 7 times (UTF-8 order puts "▁l" last), then "low" over "▁lo".
        assert_eq!(&texts[..4], &["es", "est", "lo", "low"][..]);
        assert_eq!(pieces[0].1, 0.0);
        assert_eq!(pieces[3].1, -3.0);
    }

    #[test]
    fn overlapping_repeats_count_twice() {
        // The reference trainer merges "aa" (2 x 10) before "xb" (15) here.
        let corpus = corpus(&[("▁qaaa", 10), ("▁xb", 15)]);
        let pieces = train(&corpus, corpus.required.len() + 3, &HashSet::new());
        let texts: Vec<&str> = pieces.iter().take(3).map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["aa", "xb", "▁xb"]);
    }

    /// The same rules, recounting every pair before each merge.
    fn train_by_recounting(corpus: &Corpus, n_merges: usize) -> Vec<String> {
        let mut chars: Vec<char> = corpus.words.iter().flat_map(|(w, _)| w.clone()).collect();
        chars.sort_unstable();
        chars.dedup();
        let mut vocab = Vocab {
            symbols: chars
                .iter()
                .map(|&c| Symbol {
                    text: c.to_string(),
                    shape: PieceShape::of_char(c),
                })
                .collect(),
            dead: FxHashMap::default(),
        };
        let mut words: Vec<Vec<u32>> = corpus
            .words
            .iter()
            .map(|(w, _)| {
                w.iter()
                    .map(|c| chars.binary_search(c).unwrap() as u32)
                    .collect()
            })
            .collect();
        let mut merges = Vec::new();
        let mut scratch = Vec::new();
        while merges.len() < n_merges {
            let mut counts: FxHashMap<Pair, u64> = FxHashMap::default();
            for (word, &(_, count)) in words.iter().zip(&corpus.words) {
                vocab.pairs_of(word, &mut scratch);
                for &pair in &scratch {
                    *counts.entry(pair).or_insert(0) += count;
                }
            }
            let Some(best) = counts.iter().map(|(&p, &c)| vocab.candidate(p, c)).max() else {
                break;
            };
            if merges.contains(&best.text) {
                vocab.dead.insert(best.pair, ());
                continue;
            }
            let shape = vocab.join(best.pair).unwrap();
            let merged = vocab.symbols.len() as u32;
            vocab.symbols.push(Symbol {
                text: best.text.clone(),
                shape,
            });
            for word in &mut words {
                merge_in_word(word, best.pair, merged);
            }
            merges.push(best.text);
        }
        merges
    }

    #[test]
    fn incremental_counts_agree_with_recounting() {
        let mut rng = crate::engine::rng::Rng::new(11);
        let mut counts = FxHashMap::default();
        for _ in 0..300 {
            let len = 1 + rng.next_u64() % 9;
            let mut word = String::from("▁");
            for _ in 0..len {
                // A small alphabet with a digit and an Arabic letter makes repeats, runs
                // ("aaa") and script boundaries common.
                word.push(['a', 'b', 'c', 'a', 'b', '1', 'ب'][(rng.next_u64() % 7) as usize]);
            }
            *counts.entry(word).or_insert(0) += 1 + rng.next_u64() % 5;
        }
        let corpus = Corpus::new(counts, 1.0).unwrap();
        let expected = train_by_recounting(&corpus, 200);
        let pieces = train(
            &corpus,
            expected.len() + corpus.required.len(),
            &HashSet::new(),
        );
        let merges: Vec<String> = pieces[..expected.len()]
            .iter()
            .map(|p| p.0.clone())
            .collect();
        assert_eq!(merges, expected);
    }

    #[test]
    fn merge_in_word_is_left_to_right() {
        let mut word = vec![1, 1, 1, 2, 1, 1];
        merge_in_word(&mut word, (1, 1), 9);
        assert_eq!(word, vec![9, 1, 2, 9]);
    }
}
