//! SentEval end to end on the fixture layout with the bag-of-hashed-words encoder, and the
//! report in every format.

use std::path::{Path, PathBuf};

use gensen::eval::baseline::HashedWords;
use gensen::eval::report::Report;
use gensen::eval::senteval::{self, SentevalOptions};
use gensen::eval::senteval_data::SentevalTask;
use gensen::eval::{sts, Concatenated, Language, Pool, SentenceEncoder};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval")
}

fn run_all() -> Report {
    let mut encoder = HashedWords::new(48, 7);
    let options = SentevalOptions::default();
    let mut seen = Vec::new();
    let report = senteval::run(&mut encoder, &fixtures().join("senteval"), &options, |r| {
        seen.push(r.task.clone())
    })
    .unwrap();
    assert_eq!(seen.len(), 16);
    report
}

#[test]
fn every_senteval_task_runs_and_is_reproducible() {
    let report = run_all();
    eprintln!("{}", report.to_table());
    let names: Vec<&str> = report.rows.iter().map(|r| r.task.as_str()).collect();
    let expected: Vec<&str> = SentevalTask::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, expected);
    for row in &report.rows {
        assert!(
            (-100.0..=100.0).contains(&row.value),
            "{}: {}",
            row.task,
            row.value
        );
        let expected_metric = match row.task.as_str() {
            "MRPC" => "F1",
            "SICKRelatedness" | "STSBenchmark" | "STS12" | "STS13" | "STS14" | "STS15"
            | "STS16" => "Pearson",
            _ => "accuracy",
        };
        assert_eq!(row.metric, expected_metric, "{}", row.task);
        assert_eq!(
            row.accuracy.is_some(),
            row.metric != "Pearson",
            "{}",
            row.task
        );
    }

    // STS pairs of identical sentences carry the highest gold scores, so even a bag of
    // words correlates strongly with them.
    let sts12 = report.rows.iter().find(|r| r.task == "STS12").unwrap();
    assert!(sts12.value > 50.0, "STS12 Pearson {}", sts12.value);

    // The same seed gives the same scores.
    let again = run_all();
    for (a, b) in report.rows.iter().zip(&again.rows) {
        assert_eq!(
            (a.value, a.accuracy, a.best_epoch),
            (b.value, b.accuracy, b.best_epoch),
            "{}",
            a.task
        );
    }
}

#[test]
fn cosine_similarity_of_identical_sentences_is_one() {
    let mut encoder = HashedWords::new(32, 1);
    let s = vec![
        "a small test".to_string(),
        "A small TEST".to_string(),
        "other words".to_string(),
    ];
    let v = encoder.encode(&s, Pool::Mean, Language::En).unwrap();
    assert!((sts::cosine(&v[0..32], &v[32..64]) - 1.0).abs() < 1e-6);
    assert!(sts::cosine(&v[0..32], &v[64..96]).abs() < 0.9);
}

#[test]
fn ensembles_concatenate_their_members() {
    let mut ensemble = Concatenated {
        members: vec![
            Box::new(HashedWords::new(8, 1)),
            Box::new(HashedWords::new(4, 2)),
        ],
    };
    assert_eq!(ensemble.dim(), 12);
    let s = vec!["one two".to_string(), "three".to_string()];
    let joined = ensemble.encode(&s, Pool::Max, Language::En).unwrap();
    let first = HashedWords::new(8, 1)
        .encode(&s, Pool::Max, Language::En)
        .unwrap();
    let second = HashedWords::new(4, 2)
        .encode(&s, Pool::Max, Language::En)
        .unwrap();
    assert_eq!(&joined[0..8], &first[0..8]);
    assert_eq!(&joined[8..12], &second[0..4]);
    assert_eq!(&joined[12..20], &first[8..16]);
}
