//! The tokenizer's training text (sampling, labels excluded, normalization) and the writing
//! of a trained model, with a stand-in trainer returning a fixture model.

use std::path::{Path, PathBuf};

use gensen::config::{Config, VocabModel};
use gensen::data::vocab::{sample_sentences, train_tokenizer, VocabSpec};
use gensen::text::Tokenizer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> (PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!("gensen-vocab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("tests/fixtures/data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.join("config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, value.to_string()).unwrap();
    let config = Config::load(&path).unwrap();
    (dir, config)
}

fn fixture_model(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/text").join(name)).unwrap()
}

#[test]
fn every_sentence_of_every_task_is_sampled_without_labels() {
    let (dir, config) = scratch("all", |_| {});
    let (sentences, stats) = sample_sentences(&config, false).unwrap();
    // ar-en: 10 sources + 10 targets; NLI: 7 pairs (one `-` dropped); dialects: 6.
    assert_eq!(stats.seen, 10 + 10 + 2 * 7 + 6);
    assert_eq!(sentences.len() as u64, stats.kept);
    assert_eq!(stats.kept, stats.seen);
    for label in ["entailment", "neutral", "contradiction", "msa", "egy"] {
        assert!(
            !sentences.iter().any(|s| s.split(' ').any(|w| w == label)),
            "{label}"
        );
    }
    // Normalized by language: lowercase English, Arabic as is.
    assert!(sentences.contains(&"the small child runs quickly".to_string()));
    assert!(sentences.contains(&"الراجل بيقرا الكتاب".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sampling_is_capped_and_seeded() {
    let sample = |seed: u64| {
        let (dir, config) = scratch(&format!("cap-{seed}"), |v| {
            v["vocab"]["max_num_sentences"] = 5.into();
            v["training"]["seed"] = seed.into();
        });
        let result = sample_sentences(&config, false).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        result
    };
    let (a, stats) = sample(1);
    assert_eq!((a.len(), stats.seen), (5, 40));
    assert_eq!(sample(1).0, a);
    assert_ne!(sample(2).0, a);
}

#[test]
fn a_trained_model_is_checked_and_written_with_its_listing() {
    let (dir, config) = scratch("write", |v| {
        v["vocab"]["model_type"] = "unigram".into();
        v["vocab"]["special_tokens"] = serde_json::json!(["<sep>"]);
    });
    let model = fixture_model("tiny_bpe.model");
    let trainer = |sentences: &mut dyn Iterator<Item = String>, spec: &VocabSpec| {
        assert_eq!(sentences.count(), 40);
        assert_eq!(spec.vocab_size, 400);
        assert_eq!(spec.model_type, VocabModel::Unigram);
        assert_eq!(spec.user_defined_symbols, vec!["<sep>".to_string()]);
        assert_eq!(spec.seed, 90);
        Ok(model.clone())
    };
    let report = train_tokenizer(&config, &trainer, false).unwrap();
    assert_eq!(report.model_path, config.tokenizer_path());
    assert_eq!(std::fs::read(&report.model_path).unwrap(), model);
    let listing = std::fs::read_to_string(&report.vocab_path).unwrap();
    assert_eq!(listing.lines().count(), 400);
    assert!(
        listing.starts_with("<s>\t0\n<pad>\t0\n</s>\t0\n<unk>\t0\n"),
        "{listing:.40}"
    );
    assert_eq!(
        Tokenizer::load(&report.model_path).unwrap().vocab_size(),
        400
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn models_with_other_reserved_ids_are_refused_and_not_written() {
    let (dir, config) = scratch("refuse", |_| {});
    let bad = fixture_model("default_ids.model");
    let err = train_tokenizer(&config, &|_, _| Ok(bad.clone()), false).unwrap_err();
    assert!(err.to_string().contains("<s> must have id 0"), "{err}");
    let err = train_tokenizer(&config, &|_, _| Ok(b"junk".to_vec()), false).unwrap_err();
    assert!(
        err.to_string().contains("not a SentencePiece model"),
        "{err}"
    );
    assert!(!config.tokenizer_path().exists());
    assert!(!Path::new(&config.tokenizer_path().with_extension("vocab")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
