//! The logistic-regression probe: the optimum on separable data, scikit-learn's accuracy on
//! a fixed non-separable problem (tests/fixtures/eval/make_classifier.py), determinism, and
//! the cross-validation and relatedness protocols on synthetic data.

use gensen::engine::rng::Rng;
use gensen::eval::classifier::{self, Features, ProbeConfig};
use gensen::eval::metrics;

/// Two classes of Gaussian points in `dim` dimensions whose means are far apart.
fn blobs(n: usize, dim: usize, separation: f32, rng: &mut Rng) -> (Features, Vec<usize>) {
    let mut data = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 2;
        for d in 0..dim {
            // Sum of uniforms: a bounded, roughly normal spread.
            let noise: f32 = (0..4).map(|_| rng.uniform(-0.5, 0.5)).sum();
            let centre = if d == 0 {
                separation * class as f32
            } else {
                0.0
            };
            data.push(centre + noise);
        }
        labels.push(class);
    }
    (Features::new(n, dim, data).unwrap(), labels)
}

#[test]
fn separable_problem_is_learned_perfectly() {
    let mut rng = Rng::new(5);
    let (train_x, train_y) = blobs(2000, 8, 6.0, &mut rng);
    let (valid_x, valid_y) = blobs(60, 8, 6.0, &mut rng);
    let config = ProbeConfig::default();

    // Trained to convergence, every training point is on the right side.
    let model = classifier::fit_passes((&train_x, &train_y), 2, 0.0, 200, &config).unwrap();
    assert_eq!(
        metrics::accuracy(&train_y, &model.predict(&train_x)).unwrap(),
        1.0
    );
    assert_eq!(
        metrics::accuracy(&valid_y, &model.predict(&valid_x)).unwrap(),
        1.0
    );

    // SentEval's protocol (penalty grid, early stopping) finds a perfect validation score.
    let fitted =
        classifier::fit_choosing_l2((&train_x, &train_y), (&valid_x, &valid_y), 2, &config)
            .unwrap();
    assert_eq!(fitted.valid_score, 1.0);
}

fn matrix(value: &serde_json::Value) -> Features {
    let rows: Vec<Vec<f32>> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let cols = rows[0].len();
    Features::new(rows.len(), cols, rows.concat()).unwrap()
}

fn labels(value: &serde_json::Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn non_separable_problem_matches_scikit_learn() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eval/classifier.json"
    );
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (train_x, train_y) = (matrix(&fixture["x_train"]), labels(&fixture["y_train"]));
    let (test_x, test_y) = (matrix(&fixture["x_test"]), labels(&fixture["y_test"]));

    // No penalty and no early stopping: run to convergence, as scikit-learn's solver does.
    let config = ProbeConfig {
        seed: 3,
        ..ProbeConfig::default()
    };
    let model = classifier::fit_passes((&train_x, &train_y), 3, 0.0, 1500, &config).unwrap();
    let probabilities = model.probabilities(&train_x);
    let log_loss = -train_y
        .iter()
        .enumerate()
        .map(|(i, &y)| (probabilities[i * 3 + y] as f64).ln())
        .sum::<f64>()
        / train_y.len() as f64;
    let train_accuracy = metrics::accuracy(&train_y, &model.predict(&train_x)).unwrap();
    let test_accuracy = metrics::accuracy(&test_y, &model.predict(&test_x)).unwrap();
    let expected = |key: &str| fixture[key].as_f64().unwrap();
    eprintln!("log loss {log_loss} train {train_accuracy} test {test_accuracy}");
    assert!(
        (log_loss - expected("train_log_loss")).abs() < 0.01,
        "log loss {log_loss}"
    );
    assert!(
        (train_accuracy - expected("train_accuracy")).abs() <= 0.02,
        "train {train_accuracy}"
    );
    assert!(
        (test_accuracy - expected("test_accuracy")).abs() <= 0.02,
        "test {test_accuracy}"
    );
}

#[test]
fn training_is_deterministic_given_the_seed() {
    let mut rng = Rng::new(11);
    let (x, y) = blobs(120, 6, 1.0, &mut rng);
    let config = ProbeConfig::default();
    let a = classifier::fit((&x, &y), (&x, &y), 2, 1e-4, &config).unwrap();
    let b = classifier::fit((&x, &y), (&x, &y), 2, 1e-4, &config).unwrap();
    assert_eq!(a, b);
    let other = ProbeConfig { seed: 12, ..config };
    let c = classifier::fit((&x, &y), (&x, &y), 2, 1e-4, &other).unwrap();
    assert_ne!(a.model.weight, c.model.weight);
}

#[test]
fn cross_validation_protocols_score_held_out_folds() {
    let mut rng = Rng::new(21);
    let (x, y) = blobs(1000, 6, 3.0, &mut rng);
    let config = ProbeConfig {
        folds: 5,
        ..ProbeConfig::default()
    };

    // Nested k-fold: every example is predicted exactly once, by a model that never saw it.
    let nested = classifier::nested_kfold_protocol(&x, &y, 2, &config).unwrap();
    assert_eq!(nested.test_predictions.len(), 1000);
    let mut gold_sorted = nested.test_gold.clone();
    gold_sorted.sort();
    let mut all_sorted = y.clone();
    all_sorted.sort();
    assert_eq!(gold_sorted, all_sorted);
    assert!(nested.test_accuracy > 0.85, "{}", nested.test_accuracy);
    let pooled = metrics::accuracy(&nested.test_gold, &nested.test_predictions).unwrap();
    assert!((pooled - nested.test_accuracy).abs() < 0.02);

    // Train/test with the penalty chosen by cross-validation on train.
    let (test_x, test_y) = blobs(80, 6, 3.0, &mut rng);
    let outcome = classifier::kfold_protocol((&x, &y), (&test_x, &test_y), 2, &config).unwrap();
    assert!(outcome.test_accuracy > 0.85, "{}", outcome.test_accuracy);
    assert!(config.l2_grid.contains(&outcome.l2));

    // Fitting folds on several threads changes nothing.
    let threaded = ProbeConfig {
        threads: 2,
        ..config.clone()
    };
    let again = classifier::kfold_protocol((&x, &y), (&test_x, &test_y), 2, &threaded).unwrap();
    assert_eq!(again, outcome);
}

#[test]
fn relatedness_protocol_recovers_a_linear_score() {
    // Scores in [0, 5] that depend linearly on the first two features.
    let mut rng = Rng::new(31);
    let mut make = |n: usize| {
        let mut data = Vec::new();
        let mut scores = Vec::new();
        for _ in 0..n {
            let row: Vec<f32> = (0..6).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let score = (2.5 + 1.6 * row[0] as f64 + 0.8 * row[1] as f64).clamp(0.0, 5.0);
            data.extend(row);
            scores.push(score);
        }
        (Features::new(n, 6, data).unwrap(), scores)
    };
    let (train_x, train_s) = make(400);
    let (valid_x, valid_s) = make(100);
    let (test_x, test_s) = make(100);
    let config = ProbeConfig {
        relatedness_epoch_size: 10,
        ..ProbeConfig::default()
    };
    let outcome = classifier::relatedness_protocol(
        (&train_x, &train_s),
        (&valid_x, &valid_s),
        &test_x,
        (0.0, 5.0),
        &config,
    )
    .unwrap();
    let pearson = metrics::pearson(&outcome.test_predictions, &test_s).unwrap();
    assert!(pearson > 0.9, "test Pearson {pearson}");
    assert!(outcome.valid_pearson > 0.9);
    assert!(outcome
        .test_predictions
        .iter()
        .all(|p| (0.0..=5.0).contains(p)));
}
