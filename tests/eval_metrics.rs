//! Every metric against the values scikit-learn and SciPy computed on the same inputs
//! (tests/fixtures/eval/make_metrics.py wrote metrics.json).

use gensen::eval::metrics;
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eval/metrics.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn labels(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn rows(value: &Value) -> Vec<Vec<bool>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| labels(row).into_iter().map(|v| v == 1).collect())
        .collect()
}

fn assert_close(name: &str, got: f64, expected: f64) {
    assert!(
        (got - expected).abs() <= 1e-12 + 1e-9 * expected.abs(),
        "{name}: got {got}, scikit-learn/SciPy {expected}"
    );
}

#[test]
fn metrics_match_scikit_learn_and_scipy() {
    let fixture = fixture();
    let mut checked = 0;
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        match case["kind"].as_str().unwrap() {
            "classes" => {
                let (gold, pred) = (labels(&case["gold"]), labels(&case["pred"]));
                let expect = |key: &str| case[key].as_f64();
                assert_close(
                    name,
                    metrics::accuracy(&gold, &pred).unwrap(),
                    expect("accuracy").unwrap(),
                );
                assert_close(
                    name,
                    metrics::macro_f1(&gold, &pred).unwrap(),
                    expect("macro_f1").unwrap(),
                );
                assert_close(
                    name,
                    metrics::matthews(&gold, &pred).unwrap(),
                    expect("matthews").unwrap(),
                );
                if let Some(f1) = expect("f1_pos1") {
                    assert_close(name, metrics::f1_binary(&gold, &pred, 1).unwrap(), f1);
                    let f1_neg = expect("f1_pos0").unwrap();
                    assert_close(name, metrics::f1_binary(&gold, &pred, 0).unwrap(), f1_neg);
                }
                checked += 1;
            }
            "multilabel" => {
                let got = metrics::jaccard_samples(&rows(&case["gold"]), &rows(&case["pred"]));
                assert_close(name, got.unwrap(), case["jaccard"].as_f64().unwrap());
                checked += 1;
            }
            "correlation" => {
                let (x, y) = (floats(&case["x"]), floats(&case["y"]));
                assert_close(
                    name,
                    metrics::pearson(&x, &y).unwrap(),
                    case["pearson"].as_f64().unwrap(),
                );
                assert_close(
                    name,
                    metrics::spearman(&x, &y).unwrap(),
                    case["spearman"].as_f64().unwrap(),
                );
                checked += 1;
            }
            other => panic!("unknown case kind {other}"),
        }
    }
    assert_eq!(checked, 5);
}

#[test]
fn undefined_scores_are_zero() {
    // A constant prediction has no correlation with anything.
    assert_eq!(
        metrics::pearson(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]).unwrap(),
        0.0
    );
    assert_eq!(metrics::matthews(&[0, 1, 1], &[1, 1, 1]).unwrap(), 0.0);
    assert_eq!(metrics::f1_binary(&[0, 0], &[0, 0], 1).unwrap(), 0.0);
}
