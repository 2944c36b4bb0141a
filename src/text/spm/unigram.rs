//! Unigram language-model training: start from many frequent substrings, fit piece
//! probabilities by EM over the segmentation lattice of each word, and prune the pieces whose
//! removal costs the corpus likelihood least, until the vocabulary is slightly above the
//! target; the best-scoring pieces then form the vocabulary, scored by log-probability.
//!
//! EM runs over distinct words weighted by their counts. Work is split into a fixed number of
//! shards whose partial sums are added in shard order, so results do not depend on the
//! number of threads.

use std::collections::HashSet;
use std::ops::Range;

use super::count::{Corpus, FxHashMap};
use super::proto::MAX_PIECE_CHARS;
use super::script::PieceShape;
use super::{Scored, UNK_CHAR};

/// Largest seed vocabulary, as the reference trainer's default.
const SEED_SIZE: usize = 1_000_000;
/// Distinct substrings counted while mining seeds; words are visited most frequent first,
/// so a huge corpus fills the table with the substrings of its common words and memory
/// stays bounded (about 100 MB).
const MAX_SUBSTRINGS: usize = 2_000_000;
/// EM rounds between two prunings.
const SUB_ITERATIONS: usize = 2;
/// Share of pieces kept by one pruning round.
const SHRINKING_FACTOR: f64 = 0.75;
/// EM stops pruning at this multiple of the target size; the final cut picks by score.
const DESIRED_OVERSHOOT: f64 = 1.1;
/// How much less likely than the rarest piece an unknown character is.
const UNK_PENALTY: f64 = 10.0;
/// Pieces whose expected count falls below this are dropped in the M-step.
const MIN_EXPECTED_COUNT: f64 = 0.5;
/// Work shards; fixed so sums are added in the same order whatever the thread count.
const SHARDS: usize = 8;

/// A word prepared for lattice lookups.
struct Word {
    text: String,
    /// Byte offset of each character, then the text length.
    offsets: Vec<usize>,
    count: u64,
}

impl Word {
    fn new(text: String, count: u64) -> Word {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        Word {
            text,
            offsets,
            count,
        }
    }

    fn chars(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// One edge of a segmentation lattice: characters `start..end` as piece `id` (-1: unknown).
#[derive(Clone, Copy)]
struct Node {
    start: usize,
    end: usize,
    id: i32,
    score: f64,
}

struct Model {
    pieces: Vec<(String, f64)>,
    index: FxHashMap<String, u32>,
    min_score: f64,
}

impl Model {
    fn new(pieces: Vec<(String, f64)>) -> Model {
        let index = pieces
            .iter()
            .enumerate()
            .map(|(i, (text, _))| (text.clone(), i as u32))
            .collect();
        let min_score = pieces.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        Model {
            pieces,
            index,
            min_score,
        }
    }

    /// All pieces matching inside `word`, ordered by start; a character no single-character
    /// piece covers gets an unknown node so every word has a segmentation.
    fn lattice(&self, word: &Word, nodes: &mut Vec<Node>) {
        nodes.clear();
        let n = word.chars();
        for start in 0..n {
            let mut has_single = false;
            for end in start + 1..=n.min(start + MAX_PIECE_CHARS) {
                let text = &word.text[word.offsets[start]..word.offsets[end]];
                if let Some(&id) = self.index.get(text) {
                    has_single |= end == start + 1;
                    nodes.push(Node {
                        start,
                        end,
                        id: id as i32,
                        score: self.pieces[id as usize].1,
                    });
                }
            }
            if !has_single {
                nodes.push(Node {
                    start,
                    end: start + 1,
                    id: -1,
                    score: self.min_score - UNK_PENALTY,
                });
            }
        }
    }
}

/// log(exp(a) + exp(b)) without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// Adds `count` times the posterior of each node to `expected`; returns log Z.
fn forward_backward(nodes: &[Node], n: usize, count: f64, expected: &mut [f64]) -> f64 {
    let mut alpha = vec![f64::NEG_INFINITY; n + 1];
    alpha[0] = 0.0;
    for node in nodes {
        alpha[node.end] = log_add(alpha[node.end], alpha[node.start] + node.score);
    }
    let mut beta = vec![f64::NEG_INFINITY; n + 1];
    beta[n] = 0.0;
    for node in nodes.iter().rev() {
        beta[node.start] = log_add(beta[node.start], node.score + beta[node.end]);
    }
    let log_z = alpha[n];
    for node in nodes {
        if node.id >= 0 {
            let posterior = (alpha[node.start] + node.score + beta[node.end] - log_z).exp();
            expected[node.id as usize] += count * posterior;
        }
    }
    log_z
}

/// The best segmentation's node indices, or `None` without one. `skip` removes one node.
fn viterbi(nodes: &[Node], n: usize, skip: Option<usize>) -> Option<Vec<usize>> {
    let mut best = vec![f64::NEG_INFINITY; n + 1];
    let mut back = vec![usize::MAX; n + 1];
    best[0] = 0.0;
    for (i, node) in nodes.iter().enumerate() {
        if Some(i) == skip || best[node.start] == f64::NEG_INFINITY {
            continue;
        }
        let score = best[node.start] + node.score;
        if score > best[node.end] {
            best[node.end] = score;
            back[node.end] = i;
        }
    }
    if best[n] == f64::NEG_INFINITY {
        return None;
    }
    let mut path = Vec::new();
    let mut pos = n;
    while pos > 0 {
        let i = back[pos];
        path.push(i);
        pos = nodes[i].start;
    }
    path.reverse();
    Some(path)
}

/// Runs `work` on [`SHARDS`] contiguous ranges of `0..len` on up to `threads` threads and
/// returns the results in shard order.
fn sharded<T: Send>(len: usize, threads: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let ranges: Vec<Range<usize>> = (0..SHARDS)
        .map(|s| s * len / SHARDS..(s + 1) * len / SHARDS)
        .collect();
    if threads <= 1 {
        return ranges.into_iter().map(work).collect();
    }
    let workers = threads.min(SHARDS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|first| {
                let (ranges, work) = (&ranges, &work);
                scope.spawn(move || {
                    (first..SHARDS)
                        .step_by(workers)
                        .map(|s| (s, work(ranges[s].clone())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut results: Vec<Option<T>> = (0..SHARDS).map(|_| None).collect();
        for handle in handles {
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (shard, result) in done {
                results[shard] = Some(result);
            }
        }
        results.into_iter().flatten().collect()
    })
}

/// Learns `n_pieces` pieces with log-probability scores; fewer when the corpus is too small.
pub fn train(
    corpus: &Corpus,
    n_pieces: usize,
    taken: &HashSet<String>,
    threads: usize,
) -> Vec<Scored> {
    let words: Vec<Word> = corpus
        .words
        .iter()
        .map(|(chars, count)| Word::new(chars.iter().collect(), *count))
        .collect();
    let desired = (n_pieces as f64 * DESIRED_OVERSHOOT) as usize;

    let mut pieces = seed_pieces(corpus, taken);
    loop {
        for _ in 0..SUB_ITERATIONS {
            let model = Model::new(pieces);
            let expected = e_step(&model, &words, threads);
            pieces = m_step(model, &expected);
        }
        if pieces.len() <= desired {
            break;
        }
        let before = pieces.len();
        pieces = prune(Model::new(pieces), &words, desired, threads);
        if pieces.len() >= before {
            break;
        }
    }
    finalize(Model::new(pieces), corpus, n_pieces)
}

/// The alphabet plus the most frequent valid substrings (2 to 16 characters, seen at least
/// twice), ranked by count times length, scored by their log share of that total.
fn seed_pieces(corpus: &Corpus, taken: &HashSet<String>) -> Vec<(String, f64)> {
    let mut substrings: FxHashMap<String, u64> = FxHashMap::default();
    let mut text = String::new();
    for (chars, count) in &corpus.words {
        for start in 0..chars.len() {
            let mut shape = PieceShape::of_char(chars[start]);
            if shape.unknown {
                continue;
            }
            text.clear();
            text.push(chars[start]);
            for &c in &chars[start + 1..] {
                let Some(joined) = shape.join(&PieceShape::of_char(c)) else {
                    break;
                };
                shape = joined;
                text.push(c);
                if let Some(total) = substrings.get_mut(text.as_str()) {
                    *total += count;
                } else if substrings.len() < MAX_SUBSTRINGS {
                    substrings.insert(text.clone(), *count);
                }
            }
        }
    }

    let mut ranked: Vec<(String, f64)> = substrings
        .into_iter()
        .filter(|(text, count)| *count >= 2 && !taken.contains(text))
        .map(|(text, count)| {
            let score = count as f64 * text.chars().count() as f64;
            (text, score)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(SEED_SIZE.saturating_sub(corpus.required.len()));

    let mut seeds: Vec<(String, f64)> = corpus
        .required
        .iter()
        .filter(|(c, _)| *c != UNK_CHAR)
        .map(|&(c, count)| (c.to_string(), count as f64))
        .collect();
    seeds.extend(ranked);
    let log_total = seeds.iter().map(|s| s.1).sum::<f64>().ln();
    for seed in &mut seeds {
        seed.1 = seed.1.ln() - log_total;
    }
    seeds
}

/// Expected piece counts under the current model.
fn e_step(model: &Model, words: &[Word], threads: usize) -> Vec<f64> {
    let partials = sharded(words.len(), threads, |range| {
        let mut expected = vec![0.0; model.pieces.len()];
        let mut nodes = Vec::new();
        for word in &words[range] {
            model.lattice(word, &mut nodes);
            forward_backward(&nodes, word.chars(), word.count as f64, &mut expected);
        }
        expected
    });
    let mut total = vec![0.0; model.pieces.len()];
    for partial in partials {
        for (sum, value) in total.iter_mut().zip(partial) {
            *sum += value;
        }
    }
    total
}

/// Re-estimates scores from expected counts with a sparse (digamma) prior, dropping pieces
/// expected less than half an occurrence.
fn m_step(model: Model, expected: &[f64]) -> Vec<(String, f64)> {
    let kept: Vec<(String, f64)> = model
        .pieces
        .into_iter()
        .zip(expected)
        .filter(|(_, &count)| count >= MIN_EXPECTED_COUNT)
        .map(|((text, _), &count)| (text, count))
        .collect();
    let log_total = digamma(kept.iter().map(|p| p.1).sum());
    kept.into_iter()
        .map(|(text, count)| (text, digamma(count) - log_total))
        .collect()
}

/// Keeps the pieces whose removal would cost the most likelihood, down to
/// max(`desired`, 0.75 x current size).
fn prune(model: Model, words: &[Word], desired: usize, threads: usize) -> Vec<(String, f64)> {
    let n = model.pieces.len();

    // How each piece would be segmented without itself: its second-best segmentation.
    // A piece whose best segmentation is already split is never used and can go.
    let analyses: Vec<(bool, Vec<u32>)> = sharded(n, threads, |range| {
        let mut nodes = Vec::new();
        range
            .map(|i| {
                let word = Word::new(model.pieces[i].0.clone(), 1);
                model.lattice(&word, &mut nodes);
                let best = viterbi(&nodes, word.chars(), None).unwrap_or_default();
                if best.len() != 1 {
                    return (false, Vec::new());
                }
                match viterbi(&nodes, word.chars(), Some(best[0])) {
                    Some(path) => (
                        true,
                        path.iter()
                            .filter(|&&k| nodes[k].id >= 0)
                            .map(|&k| nodes[k].id as u32)
                            .collect(),
                    ),
                    None => (true, Vec::new()),
                }
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();

    // Piece frequencies in the Viterbi segmentation of the corpus.
    let partials = sharded(words.len(), threads, |range| {
        let mut freq = vec![0.0; n];
        let mut nodes = Vec::new();
        for word in &words[range] {
            model.lattice(word, &mut nodes);
            for k in viterbi(&nodes, word.chars(), None).unwrap_or_default() {
                if nodes[k].id >= 0 {
                    freq[nodes[k].id as usize] += word.count as f64;
                }
            }
        }
        freq
    });
    let mut freq = vec![0.0; n];
    for partial in partials {
        for (sum, value) in freq.iter_mut().zip(partial) {
            *sum += value;
        }
    }
    let word_total: f64 = words.iter().map(|w| w.count as f64).sum();
    let sum: f64 = freq.iter().sum();
    let log_sum = sum.ln();

    // Loss of removing piece i: its share of the corpus times the drop in log-likelihood
    // when its occurrences are re-spelled with its alternatives.
    let mut kept = Vec::new();
    let mut candidates: Vec<(usize, f64)> = Vec::new();
    for (i, (keep, alternatives)) in analyses.iter().enumerate() {
        if freq[i] == 0.0 || !keep {
            continue;
        }
        if alternatives.is_empty() {
            kept.push(i);
            continue;
        }
        let share = freq[i] / word_total;
        let log_prob = freq[i].ln() - log_sum;
        let log_sum_alt = (sum + freq[i] * (alternatives.len() as f64 - 1.0)).ln();
        let log_prob_alt: f64 = alternatives
            .iter()
            .map(|&a| (freq[a as usize] + freq[i]).ln() - log_sum_alt)
            .sum();
        candidates.push((i, share * (log_prob - log_prob_alt)));
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let target = desired.max((SHRINKING_FACTOR * n as f64) as usize);
    for (i, _) in candidates {
        if kept.len() >= target {
            break;
        }
        kept.push(i);
    }
    kept.sort_unstable();
    let mut pieces = model.pieces;
    let mut keep_mask = vec![false; n];
    for i in kept {
        keep_mask[i] = true;
    }
    let mut mask = keep_mask.into_iter();
    pieces.retain(|_| mask.next().unwrap_or(false));
    pieces
}

/// The alphabet first (characters the model lost get scores just below the rarest piece),
/// then the best-scoring pieces up to `n_pieces`, sorted by score.
fn finalize(model: Model, corpus: &Corpus, n_pieces: usize) -> Vec<Scored> {
    let mut chosen: FxHashMap<String, f64> = FxHashMap::default();
    let mut penalty = 0.0;
    for &(c, _) in &corpus.required {
        let text = c.to_string();
        let score = match model.index.get(&text) {
            Some(&id) => model.pieces[id as usize].1,
            None => {
                // Rarer characters score lower, so their order stays meaningful.
                penalty += 1e-4;
                model.min_score - penalty
            }
        };
        chosen.insert(text, score);
    }
    let mut ranked: Vec<&(String, f64)> = model.pieces.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (text, score) in ranked {
        if chosen.len() >= n_pieces {
            break;
        }
        chosen.entry(text.clone()).or_insert(*score);
    }
    let mut pieces: Vec<(String, f64)> = chosen.into_iter().collect();
    pieces.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pieces
        .into_iter()
        .map(|(text, score)| (text, score as f32))
        .collect()
}

/// The digamma function: recurrence up to 6, then its asymptotic series.
fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 6.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    let series =
        f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))));
    result + x.ln() - 0.5 / x - series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_matches_known_values() {
        // psi(1) = -Euler-Mascheroni; psi(x + 1) = psi(x) + 1 / x.
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-10);
        assert!((digamma(10.5) - digamma(9.5) - 1.0 / 9.5).abs() < 1e-10);
    }

    #[test]
    fn forward_backward_posteriors_sum_to_one_per_position() {
        let model = Model::new(vec![
            ("a".to_string(), -1.0),
            ("b".to_string(), -2.0),
            ("ab".to_string(), -1.5),
        ]);
        let word = Word::new("ab".to_string(), 1);
        let mut nodes = Vec::new();
        model.lattice(&word, &mut nodes);
        let mut expected = vec![0.0; 3];
        let log_z = forward_backward(&nodes, 2, 1.0, &mut expected);
        assert!((log_z - ((-3.0f64).exp() + (-1.5f64).exp()).ln()).abs() < 1e-12);
        // Character "a" is covered either by "a" or by "ab".
        assert!((expected[0] + expected[2] - 1.0).abs() < 1e-12);
        let best = viterbi(&nodes, 2, None).unwrap();
        assert_eq!(best.len(), 1);
        assert_eq!(nodes[best[0]].id, 2);
    }
}
