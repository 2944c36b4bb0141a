//! config.json loading: the example config, defaults, path resolution, and each kind of
//! error naming the file and the key.

use std::path::{Path, PathBuf};

use gensen::config::{Config, LrDecay, Pooling, TaskType, VocabModel};
use gensen::text::Language;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data")
}

/// A fresh copy of the data fixtures in a scratch folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gensen-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn example() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("config.json")).unwrap()).unwrap()
}

/// Loads `value` written as config.json into a scratch copy of the fixtures.
fn load(name: &str, value: &serde_json::Value) -> Result<Config, String> {
    let dir = scratch(name);
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    let result = Config::load(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn expect_error(name: &str, value: &serde_json::Value, fragments: &[&str]) {
    let err = load(name, value).expect_err("the config should be rejected");
    assert!(
        err.contains("config.json"),
        "error does not name the file: {err}"
    );
    for fragment in fragments {
        assert!(err.contains(fragment), "error lacks {fragment:?}: {err}");
    }
}

#[test]
fn example_config_loads_with_resolved_paths_and_labels() {
    let config = Config::load(fixtures().join("config.json")).unwrap();
    let dir = fixtures();
    assert_eq!(config.training.batch_size, 4);
    assert_eq!(config.training.seed, 90);
    assert_eq!(config.training.lr_decay, LrDecay::None);
    assert_eq!(config.training.warmup_steps, 0);
    assert_eq!(config.training.keep_checkpoints, 3);
    assert_eq!(config.training.max_steps, None);
    assert_eq!(config.vocab.model_type, VocabModel::Bpe);
    assert_eq!(config.model.pooling_strategy, Pooling::Last);
    assert!(config.model.normalize);
    assert_eq!(config.model.model_dir, dir.join("runs/base"));
    assert_eq!(
        config.tokenizer_path(),
        dir.join("runs/base/vocab/tokenizer.model")
    );
    assert_eq!(
        config.shard_dir(&config.tasks[1]),
        dir.join("runs/base/data/bi-nli")
    );

    let [s2s, nli, dialects] = &config.tasks[..] else {
        panic!("three tasks expected");
    };
    assert_eq!(s2s.tasktype, TaskType::Seq2seq);
    assert_eq!(s2s.train_src, dir.join("ar-en.train.ar"));
    assert_eq!(
        (s2s.language, s2s.target_language()),
        (Language::Ar, Language::En)
    );
    assert_eq!(nli.language, Language::Bi);
    assert_eq!(nli.label_id("contradiction"), Some(2));
    assert_eq!(nli.weight, 1.0);
    // A list mapping gives ids by position.
    assert_eq!(dialects.label_id("lev"), Some(2));
    assert_eq!(dialects.labels.len(), 7);
}

#[test]
fn optional_training_keys_are_read() {
    let mut value = example();
    let training = value["training"].as_object_mut().unwrap();
    training.insert("warmup_steps".into(), 100.into());
    training.insert("lr_decay".into(), "inverse_sqrt".into());
    training.insert("threads".into(), 2.into());
    training.insert("classification_every".into(), 10.into());
    training.insert("keep_checkpoints".into(), 5.into());
    training.insert("max_steps".into(), 1000.into());
    value["tasks"][0]["weight"] = 2.5.into();
    value["vocab"]["character_coverage"] = 0.98.into();
    value["model"]["normalize"] = false.into();
    let config = load("optional", &value).unwrap();
    assert_eq!(config.training.lr_decay, LrDecay::InverseSqrt);
    assert_eq!(config.threads(), 2);
    assert_eq!(config.training.classification_every, Some(10));
    assert_eq!(config.training.keep_checkpoints, 5);
    assert_eq!(config.training.max_steps, Some(1000));
    assert_eq!(config.tasks[0].weight, 2.5);
    assert!((config.vocab.character_coverage - 0.98).abs() < 1e-6);
    assert!(config.normalize_options().is_none());
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let mut value = example();
    value["model"]["dim_sorce"] = 5.into();
    expect_error("unknown-model", &value, &["model", "dim_sorce"]);
    let mut value = example();
    value["tasks"][2]["lables_mapping"] = "x.json".into();
    expect_error("unknown-task", &value, &["tasks[2]", "lables_mapping"]);
    let mut value = example();
    value["extra"] = 1.into();
    expect_error("unknown-top", &value, &["extra"]);
}

#[test]
fn wrong_types_and_bad_values_are_rejected() {
    let mut value = example();
    value["training"]["batch_size"] = "48".into();
    expect_error("type", &value, &["training.batch_size", "invalid type"]);
    let mut value = example();
    value["tasks"][1]["num_of_classes"] = (-3).into();
    expect_error("negative", &value, &["tasks[1].num_of_classes"]);
    let mut value = example();
    value["model"]["dropout"] = 1.5.into();
    expect_error("dropout", &value, &["model.dropout"]);
    let mut value = example();
    value["training"]["lr_decay"] = "linear".into();
    expect_error("linear", &value, &["training.lr_decay", "max_steps"]);
    let mut value = example();
    value["tasks"][1]["taskname"] = "ar-en".into();
    expect_error("duplicate", &value, &["tasks[1].taskname", "two tasks"]);
    let mut value = example();
    value["tasks"][0]["taskname"] = "../escape".into();
    expect_error("taskname", &value, &["tasks[0].taskname"]);
    let err = load("not-json", &serde_json::Value::String("x".into())).unwrap_err();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn task_types_and_languages_are_checked() {
    let mut value = example();
    value["tasks"][0]["tasktype"] = "translation".into();
    expect_error("tasktype", &value, &["tasks[0].tasktype", "seq2seq"]);
    let mut value = example();
    value["tasks"][0]["language"] = "fr".into();
    expect_error("language", &value, &["tasks[0].language", "ar"]);
    let mut value = example();
    value["tasks"][0]
        .as_object_mut()
        .unwrap()
        .remove("train_trg");
    expect_error("no-trg", &value, &["tasks[0].train_trg", "seq2seq"]);
    let mut value = example();
    value["tasks"][2]
        .as_object_mut()
        .unwrap()
        .remove("labels_mapping");
    expect_error(
        "no-mapping",
        &value,
        &["tasks[2].labels_mapping", "required"],
    );
}

#[test]
fn missing_files_are_named() {
    let mut value = example();
    value["tasks"][1]["train_src"] = "nowhere/nli.tsv".into();
    expect_error(
        "missing",
        &value,
        &["tasks[1].train_src", "nli.tsv", "does not exist"],
    );
    let err = Config::load(Path::new("/no/such/config.json")).unwrap_err();
    assert!(err.to_string().contains("/no/such/config.json"), "{err}");
}

#[test]
fn class_count_must_agree_with_the_mapping() {
    let mut value = example();
    value["tasks"][1]["num_of_classes"] = 4.into();
    expect_error(
        "classes",
        &value,
        &["tasks[1].num_of_classes", "is 4", "3 labels"],
    );

    // Ids that skip a class cannot index a classifier's outputs.
    let dir = scratch("gap");
    std::fs::write(
        dir.join("nli_labels.json"),
        r#"{"entailment": 0, "neutral": 2}"#,
    )
    .unwrap();
    let mut value = example();
    value["tasks"][1]["num_of_classes"] = 2.into();
    let path = dir.join("config.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("nli_labels.json") && err.contains("0..2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
