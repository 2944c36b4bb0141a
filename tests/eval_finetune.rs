//! Fine-tuning through the `FineTunable` boundary with the trainable hashed-words encoder:
//! a learnable task is learned, runs are reproducible, and ALUE and the bilingual benchmark
//! run end to end on the fixtures, writing leaderboard files.

use std::path::{Path, PathBuf};

use gensen::engine::rng::Rng;
use gensen::eval::alue::{self, AlueOptions, Progress};
use gensen::eval::alue_data::{AlueTask, Metric, TaskKind};
use gensen::eval::baseline::TrainableHashedWords;
use gensen::eval::bilingual::{self, BilingualTasks};
use gensen::eval::data::{Example, Target};
use gensen::eval::finetune::{self, FinetuneConfig, Splits, TaskSpec};
use gensen::eval::heads::Predictions;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval")
}

/// Sentences whose class is carried by one of two word lists, amid shared filler.
fn toy_task(n: usize, rng: &mut Rng) -> Vec<Example> {
    let filler = ["the", "a", "was", "it", "very", "film", "so", "and"];
    let words = [["bad", "awful", "dull"], ["good", "great", "fine"]];
    (0..n)
        .map(|i| {
            let class = i % 2;
            let mut tokens: Vec<&str> = (0..5).map(|_| filler[rng.below(filler.len())]).collect();
            tokens.insert(rng.below(6), words[class][rng.below(3)]);
            Example::single(i.to_string(), tokens.join(" "), Target::Class(class))
        })
        .collect()
}

fn small_config() -> FinetuneConfig {
    FinetuneConfig {
        epochs: 6,
        hidden: 32,
        ..FinetuneConfig::default()
    }
}

#[test]
fn fine_tuning_learns_a_learnable_task_reproducibly() {
    let mut rng = Rng::new(1);
    let (train, valid, test) = (
        toy_task(240, &mut rng),
        toy_task(40, &mut rng),
        toy_task(60, &mut rng),
    );
    let spec = TaskSpec {
        name: "toy".into(),
        kind: TaskKind::Single,
        outputs: 2,
        metric: Metric::Accuracy,
    };
    let sets = [test.as_slice()];
    let splits = Splits {
        train: &train,
        valid: &valid,
        eval_sets: &sets,
    };
    // A larger step than the default so a few hundred examples suffice.
    let config = FinetuneConfig {
        learning_rate: 1e-2,
        ..small_config()
    };
    let mut epochs = Vec::new();
    let mut encoder = TrainableHashedWords::new(16, 512, 3);
    let outcome = finetune::finetune(&mut encoder, &spec, splits, &config, None, |log| {
        epochs.push(log.clone())
    })
    .unwrap();
    assert_eq!(epochs.len(), 6);
    assert!(epochs.last().unwrap().train_loss < epochs[0].train_loss);
    assert!((1..=6).contains(&outcome.best_epoch));
    let score = finetune::score(Metric::Accuracy, &test, &outcome.predictions[0]).unwrap();
    assert!(score.value > 0.9, "test accuracy {}", score.value);

    // The same seed from the same weights gives the same run.
    let mut again = TrainableHashedWords::new(16, 512, 3);
    let repeat = finetune::finetune(&mut again, &spec, splits, &config, None, |_| {}).unwrap();
    assert_eq!(repeat.predictions, outcome.predictions);
    assert_eq!(repeat.best_epoch, outcome.best_epoch);
}

#[test]
fn alue_runs_end_to_end_and_writes_leaderboard_files() {
    let out = std::env::temp_dir().join(format!("gensen-alue-{}", std::process::id()));
    let options = AlueOptions {
        tasks: AlueTask::ALL.to_vec(),
        finetune: FinetuneConfig {
            epochs: 3,
            ..small_config()
        },
        finetuning_output: Some(out.join("finetuned")),
        predict_dir: Some(out.join("predictions")),
    };
    let mut encoder = TrainableHashedWords::new(16, 256, 5);
    let mut written = Vec::new();
    let report = alue::run(&mut encoder, &fixtures().join("alue"), &options, |p| {
        if let Progress::Predictions(path) = p {
            written.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    })
    .unwrap();

    let names: Vec<&str> = report.rows.iter().map(|r| r.task.as_str()).collect();
    assert_eq!(
        names,
        ["MQ2Q", "MDD", "SVREG", "SEC", "FID", "OOLD", "OHSD", "XNLI", "DIAG"]
    );
    let metrics: Vec<&str> = report.rows.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(
        metrics,
        ["F1", "macro-F1", "Pearson", "Jaccard", "F1", "F1", "F1", "accuracy", "Matthews"]
    );
    for row in &report.rows {
        assert!(
            (-100.0..=100.0).contains(&row.value),
            "{}: {}",
            row.task,
            row.value
        );
        assert!(row.best_epoch.is_some_and(|e| (1..=3).contains(&e)));
    }
    assert_eq!(report.averages.len(), 2);

    written.sort();
    assert_eq!(
        written,
        [
            "E_c.tsv",
            "diagnostic.tsv",
            "hate.tsv",
            "irony.tsv",
            "madar.tsv",
            "offensive.tsv",
            "q2q.tsv",
            "v_reg.tsv"
        ]
    );
    let read = |name: &str| std::fs::read_to_string(out.join("predictions").join(name)).unwrap();
    let q2q = read("q2q.tsv");
    assert_eq!(q2q.lines().next(), Some("QuestionPairID\tprediction"));
    assert_eq!(q2q.lines().count(), 7);
    assert!(q2q
        .lines()
        .skip(1)
        .all(|l| l.ends_with("\t0") || l.ends_with("\t1")));
    let offensive = read("offensive.tsv");
    assert_eq!(offensive.lines().count(), 5);
    assert!(offensive.lines().all(|l| l == "OFF" || l == "NOT_OFF"));
    let emotions = read("E_c.tsv");
    assert!(emotions.starts_with("ID\tanger\tanticipation\t"));
    assert_eq!(emotions.lines().nth(1).unwrap().split('\t').count(), 12);
    assert!(read("diagnostic.tsv").starts_with("pairID\tprediction\n0\t"));
    assert_eq!(read("madar.tsv").lines().count(), 6);

    // Each task's best encoder was saved in its own folder.
    assert!(out.join("finetuned/mq2q").is_dir() && out.join("finetuned/xnli").is_dir());

    // Every task restarts from the pretrained weights, so a second run is identical.
    let mut fresh = TrainableHashedWords::new(16, 256, 5);
    let options = AlueOptions {
        finetuning_output: None,
        predict_dir: None,
        ..options
    };
    let again = alue::run(&mut fresh, &fixtures().join("alue"), &options, |_| {}).unwrap();
    for (a, b) in report.rows.iter().zip(&again.rows) {
        assert_eq!(
            (a.value, a.best_epoch),
            (b.value, b.best_epoch),
            "{}",
            a.task
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn diag_alone_is_scored_with_an_xnli_model() {
    let options = AlueOptions {
        tasks: vec![AlueTask::Diag],
        finetune: FinetuneConfig {
            epochs: 2,
            ..small_config()
        },
        finetuning_output: None,
        predict_dir: None,
    };
    let mut encoder = TrainableHashedWords::new(8, 128, 5);
    let report = alue::run(&mut encoder, &fixtures().join("alue"), &options, |_| {}).unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(
        (report.rows[0].task.as_str(), report.rows[0].metric.as_str()),
        ("DIAG", "Matthews")
    );
}

#[test]
fn bilingual_benchmark_runs_end_to_end() {
    let mut encoder = TrainableHashedWords::new(16, 256, 5);
    let tasks = BilingualTasks {
        sts: true,
        nli: true,
    };
    let config = FinetuneConfig {
        epochs: 3,
        ..small_config()
    };
    let report = bilingual::run(
        &mut encoder,
        &fixtures().join("bilingual"),
        tasks,
        &config,
        None,
        |_| {},
    )
    .unwrap();
    let names: Vec<&str> = report.rows.iter().map(|r| r.task.as_str()).collect();
    assert_eq!(names, ["STS-bi", "NLI-bi"]);
    // Identical pairs carry the highest gold scores: cosine 1 correlates with them.
    assert!(
        report.rows[0].value > 50.0,
        "STS-bi Pearson {}",
        report.rows[0].value
    );
    assert!(report.rows[1].accuracy.is_some());
}

#[test]
fn leaderboard_rows_must_match_predictions() {
    let examples = vec![Example::single("1", "x", Target::Unlabelled)];
    let err =
        gensen::eval::predict::render(AlueTask::Mdd, &examples, &Predictions::Classes(vec![]));
    assert!(err.is_err());
}
