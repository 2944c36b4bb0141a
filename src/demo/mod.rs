//! The bundled English/Arabic demo corpus: a small bilingual lexicon and grammar generate
//! translation pairs (ar-en, en-ar), short stories for skip-thought in each language, NLI
//! triples whose labels follow from how the hypothesis was derived, and a sentiment task,
//! then a `config.json` that trains a small GenSen model on them in a few minutes.
//!
//! Everything is a pure function of the seed; every file is written under a temporary
//! name and renamed, so an interrupted run leaves no half-written file behind.

pub mod generate;
pub mod grammar;
pub mod lexicon;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::engine::rng::Rng;
use crate::{Error, Result};
use generate::{Label, TRANSLATION_ODDS};
use grammar::{Lang, Object, Predicate, Sentence, Subject};

/// How many examples of each task to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusSizes {
    /// Translation pairs, train and validation together (ar-en and en-ar share them).
    pub translation_pairs: usize,
    /// Stories per language, each of 5-8 sentences (4-7 skip-thought pairs).
    pub stories: usize,
    /// NLI triples: train, validation and test together.
    pub nli_pairs: usize,
    /// Sentiment sentences, train and validation together.
    pub classification: usize,
    /// Fraction held out for validation (and, for NLI, again for test).
    pub val_fraction: f32,
}

impl CorpusSizes {
    /// Sized for the out-of-the-box demo: a small model learns it in a few minutes on two
    /// CPU cores.
    pub fn demo() -> Self {
        CorpusSizes {
            translation_pairs: 20_000,
            stories: 3_000,
            nli_pairs: 10_000,
            classification: 5_000,
            val_fraction: 0.05,
        }
    }

    /// A few hundred examples per task, for tests.
    pub fn tiny() -> Self {
        CorpusSizes {
            translation_pairs: 300,
            stories: 60,
            nli_pairs: 600,
            classification: 300,
            val_fraction: 0.1,
        }
    }
}

/// Batch size of the demo config: small batches keep a step short on two CPU cores.
const BATCH_SIZE: usize = 32;
/// The largest tokenizer vocabulary the demo asks for.
const MAX_VOCAB: usize = 4000;

/// Writes the corpus under `dir/data/` and `dir/config.json`, and returns the config's path.
/// Paths inside the config are relative to `dir`.
pub fn write_corpus(dir: &Path, seed: u64, sizes: &CorpusSizes) -> Result<PathBuf> {
    if !(0.0..0.5).contains(&sizes.val_fraction) {
        return Err(Error::Invalid(format!(
            "val_fraction must be in [0, 0.5), got {}",
            sizes.val_fraction
        )));
    }
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| Error::io(&data, e))?;
    let rng = Rng::new(seed);
    let held_out = |n: usize| ((n as f64 * sizes.val_fraction as f64).round() as usize).min(n);
    let mut stats = TextStats::default();

    // Translation pairs, never repeating a sentence and never using an example sentence.
    let mut seen: HashSet<String> = example_sentences().into_iter().map(|(en, _)| en).collect();
    let mut pairs = Vec::with_capacity(sizes.translation_pairs);
    let mut translation = rng.fork(1);
    let mut attempts = 0;
    while pairs.len() < sizes.translation_pairs {
        let s = generate::sentence(&mut translation, &TRANSLATION_ODDS);
        let en = s.english();
        attempts += 1;
        // The sentence space is far larger than any corpus asked of it; the bound only
        // guards against an absurd request.
        if seen.insert(en.clone()) || attempts > 50 * sizes.translation_pairs {
            pairs.push((s.arabic(), en));
        }
    }
    let n_val = held_out(pairs.len());
    let (train, val) = pairs.split_at(pairs.len() - n_val);
    for (split, rows) in [("train", train), ("val", val)] {
        let ar: Vec<&str> = rows.iter().map(|(ar, _)| ar.as_str()).collect();
        let en: Vec<&str> = rows.iter().map(|(_, en)| en.as_str()).collect();
        if split == "train" {
            ar.iter().chain(&en).for_each(|line| stats.add(line));
        }
        write_lines(&data.join(format!("ar-en.{split}.ar")), &ar)?;
        write_lines(&data.join(format!("ar-en.{split}.en")), &en)?;
    }

    // Stories: each line of `cur` is followed in its story by the same line of `next`.
    for (lang, code, stream) in [(Lang::En, "en", 2), (Lang::Ar, "ar", 3)] {
        let mut story_rng = rng.fork(stream);
        let stories: Vec<Vec<String>> = (0..sizes.stories)
            .map(|_| {
                generate::story(&mut story_rng)
                    .iter()
                    .map(|s| s.render(lang))
                    .collect()
            })
            .collect();
        let n_val = held_out(stories.len());
        let (train, val) = stories.split_at(stories.len() - n_val);
        for (split, part) in [("train", train), ("val", val)] {
            let cur: Vec<&str> = part
                .iter()
                .flat_map(|s| s[..s.len() - 1].iter().map(String::as_str))
                .collect();
            let next: Vec<&str> = part
                .iter()
                .flat_map(|s| s[1..].iter().map(String::as_str))
                .collect();
            if split == "train" {
                part.iter().flatten().for_each(|line| stats.add(line));
            }
            write_lines(&data.join(format!("stories.{split}.cur.{code}")), &cur)?;
            write_lines(&data.join(format!("stories.{split}.next.{code}")), &next)?;
        }
    }

    // NLI: premise and hypothesis each in either language.
    let mut nli = rng.fork(4);
    let rows: Vec<String> = (0..sizes.nli_pairs)
        .map(|_| {
            let (label, premise, hypothesis) = generate::nli_pair(&mut nli);
            let p = premise.render(random_lang(&mut nli));
            let h = hypothesis.render(random_lang(&mut nli));
            format!("{}\t{p}\t{h}", label.name())
        })
        .collect();
    let n_val = held_out(rows.len());
    let n_test = held_out(rows.len()).min(rows.len() - n_val);
    let n_train = rows.len() - n_val - n_test;
    for row in &rows[..n_train] {
        row.split('\t').skip(1).for_each(|s| stats.add(s));
    }
    write_rows(&data.join("nli.train.tsv"), &rows[..n_train])?;
    write_rows(&data.join("nli.val.tsv"), &rows[n_train..n_train + n_val])?;
    write_rows(&data.join("nli.test.tsv"), &rows[n_train + n_val..])?;
    let nli_labels: Vec<&str> = Label::ALL.iter().map(|l| l.name()).collect();
    write_atomic(&data.join("nli_labels.json"), &labels_json(&nli_labels))?;

    // Sentiment classification, sentences in either language.
    let mut sentiment = rng.fork(5);
    let rows: Vec<String> = (0..sizes.classification)
        .map(|_| {
            let (positive, s) = generate::sentiment_example(&mut sentiment);
            let label = if positive { "positive" } else { "negative" };
            format!("{label}\t{}", s.render(random_lang(&mut sentiment)))
        })
        .collect();
    let n_val = held_out(rows.len());
    let n_train = rows.len() - n_val;
    for row in &rows[..n_train] {
        row.split('\t').skip(1).for_each(|s| stats.add(s));
    }
    write_rows(&data.join("sentiment.train.tsv"), &rows[..n_train])?;
    write_rows(&data.join("sentiment.val.tsv"), &rows[n_train..])?;
    write_atomic(
        &data.join("sentiment_labels.json"),
        &labels_json(&["positive", "negative"]),
    )?;

    let config_path = dir.join("config.json");
    let config = demo_config(seed, stats.vocab_size(), stats.sentences);
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Invalid(format!("serialising the demo config: {e}")))?;
    write_atomic(&config_path, &(text + "\n"))?;
    Ok(config_path)
}

/// The config driving the demo; frequencies count examples and scale with the corpus so the
/// demo logs often and evaluates a few times in its few minutes.
fn demo_config(seed: u64, vocab_size: usize, train_sentences: usize) -> serde_json::Value {
    let steps_per_pass = (train_sentences / BATCH_SIZE).max(1);
    let monitor_loss = BATCH_SIZE * (steps_per_pass / 40).clamp(5, 50);
    let eval_freq = BATCH_SIZE * (steps_per_pass / 2).clamp(50, 1000);
    let seq2seq = |name: &str, language: &str, language_trg: &str, src: &str, trg: &str| {
        serde_json::json!({
            "taskname": name, "tasktype": "seq2seq", "language": language,
            "language_trg": language_trg,
            "train_src": format!("data/{}", src.replace("{}", "train")),
            "train_trg": format!("data/{}", trg.replace("{}", "train")),
            "val_src": format!("data/{}", src.replace("{}", "val")),
            "val_trg": format!("data/{}", trg.replace("{}", "val")),
        })
    };
    serde_json::json!({
        "training": {
            "optimizer": "adam", "lrate": 0.002, "clip_c": 1.0, "batch_size": BATCH_SIZE,
            "seed": seed,
        },
        "management": {
            "monitor_loss": monitor_loss, "checkpoint_freq": eval_freq, "eval_freq": eval_freq,
        },
        "vocab": {
            "model_prefix": "tokenizer", "vocab_size": vocab_size, "model_type": "bpe",
            "max_num_sentences": 1_000_000, "special_tokens": [], "lowercase": false,
        },
        "model": {
            "dim_src": 256, "dim_trg": 256, "dim_word_src": 64, "dim_word_trg": 64,
            "n_layers_src": 1, "bidirectional": true, "dropout": 0.1,
            "max_src_length": 32, "max_trg_length": 32, "pooling_strategy": "last",
            "model_dir": "runs/demo", "vocab_dir": "runs/demo/vocab",
        },
        "tasks": [
            seq2seq("ar-en", "ar", "en", "ar-en.{}.ar", "ar-en.{}.en"),
            seq2seq("en-ar", "en", "ar", "ar-en.{}.en", "ar-en.{}.ar"),
            seq2seq("en-skipthought", "en", "en", "stories.{}.cur.en", "stories.{}.next.en"),
            seq2seq("ar-skipthought", "ar", "ar", "stories.{}.cur.ar", "stories.{}.next.ar"),
            {
                "taskname": "bi-nli", "tasktype": "pair-classification", "language": "bi",
                "train_src": "data/nli.train.tsv", "val_src": "data/nli.val.tsv",
                "labels_mapping": "data/nli_labels.json", "num_of_classes": 3,
            },
            {
                "taskname": "sentiment", "tasktype": "classification", "language": "bi",
                "train_src": "data/sentiment.train.tsv", "val_src": "data/sentiment.val.tsv",
                "labels_mapping": "data/sentiment_labels.json", "num_of_classes": 2,
            },
        ],
    })
}

/// English/Arabic translation pairs for showing that translations encode close together.
/// `write_corpus` keeps them out of the translation data, so the demo shows generalisation
/// rather than recall.
pub fn example_sentences() -> Vec<(String, String)> {
    let sentences = example_frames().unwrap_or_default();
    sentences
        .iter()
        .map(|s| (s.english(), s.arabic()))
        .collect()
}

/// The example sentences as slots; `None` only if a word left the lexicon.
fn example_frames() -> Option<Vec<Sentence>> {
    use generate::{adjective_index, noun_index, place_index, time_index, verb_index};
    let the = |noun: &str, adj: Option<&str>| -> Option<Subject> {
        let adj = match adj {
            Some(a) => Some(adjective_index(a)?),
            None => None,
        };
        Some(Subject::Noun {
            noun: noun_index(noun)?,
            adj,
        })
    };
    let act = |subject: Subject, verb: &str, noun: &str, adj: Option<&str>| -> Option<Sentence> {
        let adj = match adj {
            Some(a) => Some(adjective_index(a)?),
            None => None,
        };
        let object = Object {
            noun: noun_index(noun)?,
            adj,
            definite: false,
        };
        Some(Sentence::new(
            subject,
            Predicate::Act {
                verb: verb_index(verb)?,
                object,
            },
        ))
    };
    let name = |en: &str| {
        lexicon::NAMES
            .iter()
            .position(|n| n.en == en)
            .map(Subject::Name)
    };

    let mut go = Sentence::new(
        name("Sara")?,
        Predicate::GoTo {
            place: place_index("market")?,
        },
    );
    go.time = time_index("in the evening");
    let sleeps = Predicate::Intransitive {
        verb: verb_index("sleeps")?,
    };
    let has = Predicate::Has {
        number: 3,
        noun: noun_index("pen")?,
    };
    Some(vec![
        Sentence {
            place: place_index("library"),
            ..act(the("boy", Some("tall"))?, "reads", "book", Some("red"))?
        },
        Sentence {
            time: time_index("in the morning"),
            ..act(the("girl", None)?, "drinks", "milk", Some("cold"))?
        },
        act(the("doctor", None)?, "drives", "car", Some("new"))?,
        go,
        Sentence {
            place: place_index("garden"),
            ..Sentence::new(the("cat", Some("small"))?, sleeps)
        },
        Sentence::new(the("teacher", None)?, has),
        Sentence::new(
            the("bus", Some("yellow"))?,
            Predicate::At {
                place: place_index("street")?,
            },
        ),
        Sentence {
            place: place_index("farm"),
            ..act(the("farmer", None)?, "feeds", "horse", Some("white"))?
        },
        Sentence::new(
            the("coffee", None)?,
            Predicate::Is {
                adj: adjective_index("hot")?,
            },
        ),
        Sentence {
            negated: true,
            ..act(name("Omar")?, "eats", "fish", None)?
        },
    ])
}

fn random_lang(rng: &mut Rng) -> Lang {
    if rng.below(2) == 0 {
        Lang::En
    } else {
        Lang::Ar
    }
}

/// `{"a":0,"b":1}` in the given order (a JSON map would sort the keys).
fn labels_json(labels: &[&str]) -> String {
    let entries: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(id, label)| format!("\"{label}\":{id}"))
        .collect();
    format!("{{{}}}\n", entries.join(","))
}

/// What the tokenizer will see: the training text's words and their counts.
#[derive(Default)]
struct TextStats {
    words: HashMap<String, usize>,
    sentences: usize,
}

impl TextStats {
    fn add(&mut self, line: &str) {
        self.sentences += 1;
        for word in line.split_whitespace() {
            match self.words.get_mut(word) {
                Some(count) => *count += 1,
                None => {
                    self.words.insert(word.to_string(), 1);
                }
            }
        }
    }

    /// A BPE vocabulary the corpus fills comfortably: 60% of the most pieces BPE can make
    /// on this text, rounded down to a hundred and capped. A BPE trainer asked for more
    /// pieces than merges exist fails, and trainers differ in detail, hence the margin.
    fn vocab_size(&self) -> usize {
        let ceiling = RESERVED_IDS + bpe_ceiling(&self.words);
        let size = ceiling * 6 / 10;
        if size < 200 {
            size
        } else {
            (size / 100 * 100).min(MAX_VOCAB)
        }
    }
}

/// Ids 0..3 of the tokenizer (`<s>`, `<pad>`, `</s>`, `<unk>`).
const RESERVED_IDS: usize = 4;

/// How many pieces byte-pair merging creates on `words` before every word is one piece:
/// its characters (with the word-boundary mark) plus one piece per merge. Merges go by
/// count, ties by piece id, so the figure is deterministic.
fn bpe_ceiling(words: &HashMap<String, usize>) -> usize {
    let mut sorted: Vec<(&String, &usize)> = words.iter().collect();
    sorted.sort();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut corpus: Vec<(Vec<u32>, usize)> = Vec::with_capacity(sorted.len());
    for (word, &count) in sorted {
        let pieces = std::iter::once('\u{2581}')
            .chain(word.chars())
            .map(|c| {
                let next = ids.len() as u32;
                *ids.entry(c.to_string()).or_insert(next)
            })
            .collect();
        corpus.push((pieces, count));
    }
    let mut n_pieces = ids.len();

    loop {
        let mut pairs: HashMap<(u32, u32), usize> = HashMap::new();
        for (pieces, count) in &corpus {
            for pair in pieces.windows(2) {
                *pairs.entry((pair[0], pair[1])).or_default() += count;
            }
        }
        let Some((&(a, b), _)) = pairs
            .iter()
            .max_by_key(|&(&pair, &count)| (count, std::cmp::Reverse(pair)))
        else {
            return n_pieces;
        };
        let merged = n_pieces as u32;
        n_pieces += 1;
        for (pieces, _) in &mut corpus {
            let mut out = Vec::with_capacity(pieces.len());
            let mut i = 0;
            while i < pieces.len() {
                if i + 1 < pieces.len() && pieces[i] == a && pieces[i + 1] == b {
                    out.push(merged);
                    i += 2;
                } else {
                    out.push(pieces[i]);
                    i += 1;
                }
            }
            *pieces = out;
        }
    }
}

fn write_lines(path: &Path, lines: &[&str]) -> Result<()> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    write_atomic(path, &text)
}

fn write_rows(path: &Path, rows: &[String]) -> Result<()> {
    let lines: Vec<&str> = rows.iter().map(String::as_str).collect();
    write_lines(path, &lines)
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
