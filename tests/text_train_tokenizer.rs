//! `train-tokenizer` end to end: sample a config's training text, train with the native
//! trainer, then load the written model through the `sentencepiece` crate and check the
//! reserved ids, coverage of held-out text and round-trip decoding.

use std::path::PathBuf;

use gensen::config::Config;
use gensen::data::tokenize::{tokenize_config, TokenizeOptions};
use gensen::data::vocab::train_tokenizer;
use gensen::data::TaskData;
use gensen::engine::rng::Rng;
use gensen::pipeline::native_trainer;
use gensen::text::{normalize, Language, NormalizeOptions, Tokenizer, BOS, EOS, PAD, UNK};

const ENGLISH: &[&str] = &[
    "the", "a", "man", "woman", "child", "dog", "cat", "house", "city", "river", "book", "letter",
    "walks", "reads", "writes", "sees", "loves", "opens", "big", "small", "old", "new", "happy",
    "sad", "quickly", "near", "far", "under", "over", "sun", "night", "?", ",",
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
    let len = 3 + rng.below(10);
    (0..len)
        .map(|_| words[rng.below(words.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A scratch folder with a 1500-pair ar-en task and an English classification task.
fn write_config(name: &str, model_type: &str, vocab_size: usize) -> (PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!("gensen-spm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(3);
    let (mut ar, mut en, mut cls) = (String::new(), String::new(), String::new());
    for i in 0..1500 {
        // Diacritics and capitals exercise normalization before training.
        ar.push_str(&format!("{}ُ\n", sentence(&mut rng, ARABIC)));
        en.push_str(&format!("The {}\n", sentence(&mut rng, ENGLISH)));
        if i % 3 == 0 {
            cls.push_str(&format!("{}\t{}\n", i % 2, sentence(&mut rng, ENGLISH)));
        }
    }
    std::fs::write(dir.join("train.ar"), ar).unwrap();
    std::fs::write(dir.join("train.en"), en).unwrap();
    std::fs::write(dir.join("cls.tsv"), cls).unwrap();
    std::fs::write(dir.join("labels.json"), r#"{"0": 0, "1": 1}"#).unwrap();
    let config = serde_json::json!({
        "training": {"threads": 2},
        "vocab": {"vocab_size": vocab_size, "model_type": model_type, "character_coverage": 1.0,
                  "max_num_sentences": 2500},
        "model": {"model_dir": "run"},
        "tasks": [
            {"taskname": "ar-en", "tasktype": "seq2seq", "language": "ar", "language_trg": "en",
             "train_src": "train.ar", "train_trg": "train.en"},
            {"taskname": "cls", "tasktype": "classification", "language": "en",
             "train_src": "cls.tsv", "labels_mapping": "labels.json", "num_of_classes": 2}
        ]
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    (dir.clone(), Config::load(&path).unwrap())
}

fn check_trained_model(model_type: &str, vocab_size: usize) {
    let (dir, config) = write_config(model_type, model_type, vocab_size);
    let report = train_tokenizer(&config, &native_trainer, false).unwrap();
    assert_eq!(report.stats.seen, 1500 * 2 + 500);
    assert_eq!(report.stats.kept, 2500);

    let tokenizer = Tokenizer::load(&report.model_path).unwrap();
    assert_eq!(tokenizer.vocab_size(), vocab_size);
    for (piece, id) in [("<s>", BOS), ("<pad>", PAD), ("</s>", EOS), ("<unk>", UNK)] {
        assert_eq!(tokenizer.piece_to_id(piece), Some(id));
    }
    let listing = std::fs::read_to_string(&report.vocab_path).unwrap();
    assert_eq!(listing.lines().count(), vocab_size);

    // Held-out sentences (another seed) use only known characters: no <unk>, and decoding
    // gives back the normalized text.
    let mut rng = Rng::new(77);
    let opts = NormalizeOptions::default();
    for i in 0..50 {
        let (raw, language) = if i % 2 == 0 {
            (sentence(&mut rng, ENGLISH), Language::En)
        } else {
            (sentence(&mut rng, ARABIC), Language::Ar)
        };
        let text = normalize(&raw, language, &opts);
        let ids = tokenizer.encode(&text).unwrap();
        assert!(
            ids.iter().all(|&id| id > UNK && (id as usize) < vocab_size),
            "{text:?}: {ids:?}"
        );
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }

    // The trained model tokenizes the same config into shards.
    let opts = TokenizeOptions::default();
    tokenize_config(&config, &tokenizer, &opts, None).unwrap();
    let data = TaskData::open(config.shard_dir(&config.tasks[0])).unwrap();
    assert_eq!(data.len(), 1500);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_natively_trained_bpe_model_loads_and_encodes_held_out_text() {
    check_trained_model("bpe", 150);
}

#[test]
fn a_natively_trained_unigram_model_loads_and_encodes_held_out_text() {
    // Unigram pieces are substrings of words; this small corpus supports about 110.
    check_trained_model("unigram", 100);
}
