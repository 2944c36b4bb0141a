//! Tokenizer training time: the native SentencePiece trainer against Python's sentencepiece
//! trainer on the same generated corpus (1M sentences by default, BPE, vocabulary 8000;
//! optionally unigram, vocabulary 4000).
//!
//! `cargo bench --bench spm_train` ; environment: SPM_BENCH_SENTENCES (default 1000000),
//! SPM_BENCH_THREADS (default 2), SPM_BENCH_WORD_TYPES (default 4000), SPM_BENCH_UNIGRAM=1 to time unigram as well,
//! SPM_BENCH_PYTHON (default /work/pyenv/bin/python; the reference is skipped when absent).
//!
//! Napkin math: 1M sentences of 5-25 words are ~15M words and ~100 MB of text. Counting
//! hashes each word once (~50 ns), ~0.4 s per core; reading the file is ~0.1 s. The merges
//! touch only the words holding the merged pair: with ~4k word types the 8k merges cost
//! milliseconds. The reference trainer instead loads every sentence into memory and
//! normalizes each before counting, so it should be several times slower.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gensen::engine::rng::Rng;
use gensen::text::spm::{self, ModelType, TrainOptions};
use sentencepiece::SentencePieceProcessor;

/// Vocabulary sizes. A unigram model keeps only pieces used in the best segmentations, which
/// on 4000 word types is fewer than 8000 (both trainers), hence the smaller unigram size.
const BPE_VOCAB: usize = 8000;
const UNIGRAM_VOCAB: usize = 4000;

fn vocab_size(model_type: ModelType) -> usize {
    match model_type {
        ModelType::Bpe => BPE_VOCAB,
        ModelType::Unigram => UNIGRAM_VOCAB,
    }
}

/// Synthetic word types: 1 to 4 syllables of consonant + vowel (+ optional coda).
fn word_types(rng: &mut Rng, count: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "th", "st",
        "pr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
    const CODAS: &[&str] = &["", "", "", "n", "r", "s", "t", "ng"];
    let mut words = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    while words.len() < count {
        let syllables = 1 + (rng.next_u64() % 4) as usize;
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[(rng.next_u64() % ONSETS.len() as u64) as usize]);
            word.push_str(VOWELS[(rng.next_u64() % VOWELS.len() as u64) as usize]);
            word.push_str(CODAS[(rng.next_u64() % CODAS.len() as u64) as usize]);
        }
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Writes `count` sentences of 5-25 Zipf-distributed (exponent 1) `words` to `path`.
fn write_corpus(path: &Path, words: &[String], count: usize, seed: u64) -> std::io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut cumulative = Vec::with_capacity(words.len());
    let mut total = 0.0;
    for rank in 0..words.len() {
        total += 1.0 / (rank + 1) as f64;
        cumulative.push(total);
    }
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let mut bytes = 0u64;
    let mut line = String::new();
    for _ in 0..count {
        line.clear();
        let length = 5 + (rng.next_u64() % 21) as usize;
        for i in 0..length {
            let u = rng.next_f64() * total;
            let rank = cumulative.partition_point(|&c| c < u).min(words.len() - 1);
            if i > 0 {
                line.push(' ');
            }
            line.push_str(&words[rank]);
        }
        line.push('\n');
        bytes += line.len() as u64;
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(bytes)
}

fn lines(path: &Path) -> impl Iterator<Item = String> {
    let file = std::fs::File::open(path).expect("corpus written above");
    std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .map_while(Result::ok)
}

/// Trains with Python's sentencepiece; returns (seconds, model bytes), or None when Python
/// or its sentencepiece is missing.
fn python_train(
    python: &str,
    corpus: &Path,
    prefix: &Path,
    model_type: ModelType,
    threads: usize,
) -> Option<(f64, Vec<u8>)> {
    let script = format!(
        "import sentencepiece as spm, time\n\
         t = time.time()\n\
         spm.SentencePieceTrainer.train(input={corpus:?}, model_prefix={prefix:?}, \
         model_type='{model_type}', vocab_size={vocab}, character_coverage=0.9995, \
         normalization_rule_name='identity', bos_id=0, pad_id=1, eos_id=2, unk_id=3, \
         num_threads={threads}, input_sentence_size=0, minloglevel=2)\n\
         print(time.time() - t)\n",
        corpus = corpus.display().to_string(),
        prefix = prefix.display().to_string(),
        vocab = vocab_size(model_type),
    );
    let output = Command::new(python).arg("-c").arg(script).output().ok()?;
    if !output.status.success() {
        eprintln!(
            "reference trainer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let seconds: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    let model = std::fs::read(prefix.with_extension("model")).ok()?;
    Some((seconds, model))
}

/// Mean pieces per sentence over `sample`, a check that both models are equally compact.
fn pieces_per_sentence(model: &[u8], sample: &[String]) -> f64 {
    let processor = SentencePieceProcessor::from_serialized_proto(model).expect("model loads");
    let pieces: usize = sample
        .iter()
        .map(|s| processor.encode(s).map_or(0, |p| p.len()))
        .sum();
    pieces as f64 / sample.len() as f64
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sentences: usize = env_or("SPM_BENCH_SENTENCES", 1_000_000);
    let word_type_count: usize = env_or("SPM_BENCH_WORD_TYPES", 4000);
    let threads: usize = env_or("SPM_BENCH_THREADS", 2);
    let python: String = env_or("SPM_BENCH_PYTHON", "/work/pyenv/bin/python".to_string());
    let with_unigram = std::env::var("SPM_BENCH_UNIGRAM").is_ok_and(|v| v == "1");

    let dir = std::env::temp_dir().join(format!("gensen-spm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let corpus = dir.join("corpus.txt");
    let words = word_types(&mut Rng::new(41), word_type_count);
    let start = Instant::now();
    let bytes = write_corpus(&corpus, &words, sentences, 42).expect("write corpus");
    println!(
        "corpus: {sentences} sentences, {:.1} MB, {word_type_count} word types (Zipf), written in {:.2} s",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let held_out_path = dir.join("heldout.txt");
    write_corpus(&held_out_path, &words, 10_000, 43).expect("write held-out");
    let held_out: Vec<String> = lines(&held_out_path).collect();

    let mut model_types = vec![ModelType::Bpe];
    if with_unigram {
        model_types.push(ModelType::Unigram);
    }
    println!("model   | trainer              | threads | seconds | sentences/s | pieces/sentence");
    for model_type in model_types {
        let opts = TrainOptions {
            vocab_size: vocab_size(model_type),
            model_type,
            threads,
            ..TrainOptions::default()
        };
        let start = Instant::now();
        let model = spm::train(&mut lines(&corpus), &opts).expect("native training");
        let native = start.elapsed().as_secs_f64();
        println!(
            "{model_type:<7} | gensen (Rust)        | {threads:>7} | {native:>7.2} | {:>11.0} | {:.2}",
            sentences as f64 / native,
            pieces_per_sentence(&model, &held_out)
        );

        let prefix = dir.join(format!("ref_{model_type}"));
        match python_train(&python, &corpus, &prefix, model_type, threads) {
            Some((reference, ref_model)) => {
                println!(
                    "{model_type:<7} | python sentencepiece | {threads:>7} | {reference:>7.2} | {:>11.0} | {:.2}",
                    sentences as f64 / reference,
                    pieces_per_sentence(&ref_model, &held_out)
                );
                println!(
                    "{model_type:<7} | speed-up over reference: {:.1}x",
                    reference / native
                );
            }
            None => println!(
                "{model_type:<7} | reference skipped: {python} with sentencepiece not found"
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
