//! Tokenization throughput: sentences per second through `gensen tokenize`'s pipeline
//! (read, normalize, encode, write shards) with 1 and N workers, on a generated bilingual
//! seq2seq corpus, beside the single-thread cost of normalization and encoding alone.
//!
//! Napkin math: a sentence of ~10 words is ~60 bytes; normalization is a few passes over
//! those bytes (~100 ns), SentencePiece BPE encoding of ~12 pieces costs a few µs, so one
//! core should reach a few hundred thousand sentences per second and N workers scale until
//! the single reader/writer thread (~µs per sentence of I/O and copying) becomes the limit.
//!
//! Run with `cargo bench --bench tokenize [-- SENTENCES]`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gensen::config::Config;
use gensen::data::tokenize::{tokenize_config, TokenizeOptions};
use gensen::engine::rng::Rng;
use gensen::text::{normalize, Language, NormalizeOptions, Tokenizer};

const ENGLISH: &[&str] = &[
    "the", "a", "man", "woman", "child", "dog", "cat", "house", "city", "river", "book", "letter",
    "walks", "reads", "writes", "sees", "loves", "opens", "big", "small", "old", "new", "happy",
    "sad", "quickly", "near", "far", "under", "over", "Sun", "Night", "?",
];
const ARABIC: &[&str] = &[
    "الرجل",
    "المرأة",
    "الطفل",
    "الكلب",
    "القط",
    "البيت",
    "المدينة",
    "النهر",
    "الكتاب",
    "الرسالة",
    "يمشي",
    "يقرأ",
    "يكتب",
    "يرى",
    "يحب",
    "كبير",
    "صغير",
    "قديم",
    "جديد",
    "سعيد",
    "بسرعة",
    "قريب",
    "بعيد",
    "تحت",
    "فوق",
    "؟",
    "،",
];

fn sentence(rng: &mut Rng, words: &[&str]) -> String {
    let len = 4 + rng.below(12);
    (0..len)
        .map(|_| words[rng.below(words.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a seq2seq corpus of `n` sentence pairs and its config; returns the config path.
fn write_corpus(dir: &Path, n: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(1);
    let (mut ar, mut en) = (String::new(), String::new());
    for _ in 0..n {
        ar.push_str(&sentence(&mut rng, ARABIC));
        ar.push('\n');
        en.push_str(&sentence(&mut rng, ENGLISH));
        en.push('\n');
    }
    std::fs::write(dir.join("train.ar"), ar).unwrap();
    std::fs::write(dir.join("train.en"), en).unwrap();
    let config = serde_json::json!({
        "training": {},
        "vocab": {"vocab_size": 400},
        "model": {"model_dir": "run"},
        "tasks": [{"taskname": "ar-en", "tasktype": "seq2seq", "language": "ar",
                   "language_trg": "en", "train_src": "train.ar", "train_trg": "train.en"}]
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn main() {
    let sentences: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = std::env::temp_dir().join(format!("gensen-bench-tokenize-{}", std::process::id()));
    let config = Config::load(write_corpus(&dir, sentences)).unwrap();
    let model =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text/tiny_bpe.model");
    let tokenizer = Tokenizer::load(&model).unwrap();
    // Each example is two sentences (source and target).
    let total = 2 * sentences;
    println!("corpus: {sentences} sentence pairs ({total} sentences), {cores} cores");
    println!("tokenizer: tests/fixtures/text/tiny_bpe.model (400 pieces)");

    // Reference: the per-sentence work alone, one thread, no I/O.
    let ar = std::fs::read_to_string(dir.join("train.ar")).unwrap();
    let en = std::fs::read_to_string(dir.join("train.en")).unwrap();
    let opts = NormalizeOptions::default();
    let started = Instant::now();
    let normalized: Vec<String> = ar
        .lines()
        .map(|s| normalize(s, Language::Ar, &opts))
        .chain(en.lines().map(|s| normalize(s, Language::En, &opts)))
        .collect();
    let normalize_rate = total as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let pieces: usize = normalized
        .iter()
        .map(|s| tokenizer.encode(s).unwrap().len())
        .sum();
    let encode_rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "normalize only, 1 thread     | {:>10.0} sentences/s",
        normalize_rate
    );
    println!(
        "encode only, 1 thread        | {:>10.0} sentences/s ({:.1} pieces/sentence)",
        encode_rate,
        pieces as f64 / total as f64
    );
    let work_rate = 1.0 / (1.0 / normalize_rate + 1.0 / encode_rate);

    let mut single = 0.0;
    let mut workers_list = vec![1, 2, 4];
    if cores > 4 {
        workers_list.push(cores);
    }
    for workers in workers_list {
        let opts = TokenizeOptions {
            workers,
            skip_bad_lines: false,
            force: true,
        };
        let started = Instant::now();
        tokenize_config(&config, &tokenizer, &opts, None).unwrap();
        let rate = total as f64 / started.elapsed().as_secs_f64();
        if workers == 1 {
            single = rate;
        }
        println!(
            "tokenize, {workers:>2} worker(s)        | {rate:>10.0} sentences/s | x{:.2} vs 1 worker | {:.0}% of normalize+encode on 1 thread x workers",
            rate / single,
            100.0 * rate / (work_rate * workers.min(cores) as f64)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
