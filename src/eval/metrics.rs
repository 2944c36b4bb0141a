//! Scores of the transfer tasks, defined as scikit-learn and SciPy define them so that
//! numbers compare with published tables: accuracy, F1 of one class, macro-F1, sample-averaged
//! Jaccard, Pearson, Spearman (average ranks for ties) and Matthews correlation.
//!
//! Where a score is undefined (a class never predicted nor present, a constant series) the
//! value is 0, as scikit-learn's `zero_division=0` and SentEval's NaN handling report it.

use crate::error::{Error, Result};

/// Checks that two series have the same, non-zero length.
fn check_lengths(op: &'static str, gold: usize, pred: usize) -> Result<()> {
    if gold != pred {
        return Err(Error::shape(
            op,
            format!("{gold} predictions"),
            pred.to_string(),
        ));
    }
    if gold == 0 {
        return Err(Error::Invalid(format!("{op}: no examples to score")));
    }
    Ok(())
}

/// Fraction of predictions equal to the gold label.
pub fn accuracy(gold: &[usize], pred: &[usize]) -> Result<f64> {
    check_lengths("accuracy", gold.len(), pred.len())?;
    let correct = gold.iter().zip(pred).filter(|(g, p)| g == p).count();
    Ok(correct as f64 / gold.len() as f64)
}

/// F1 of one class from its true positives, false positives and false negatives.
fn f1_from_counts(tp: usize, fp: usize, fn_: usize) -> f64 {
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    }
}

/// F1 of the class `positive` (scikit-learn's `f1_score(average='binary', pos_label=...)`).
pub fn f1_binary(gold: &[usize], pred: &[usize], positive: usize) -> Result<f64> {
    check_lengths("f1", gold.len(), pred.len())?;
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (&g, &p) in gold.iter().zip(pred) {
        match (g == positive, p == positive) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
    }
    Ok(f1_from_counts(tp, fp, fn_))
}

/// Unweighted mean of the per-class F1 over every class that occurs in `gold` or `pred`
/// (scikit-learn's `f1_score(average='macro')`).
pub fn macro_f1(gold: &[usize], pred: &[usize]) -> Result<f64> {
    check_lengths("macro-F1", gold.len(), pred.len())?;
    let classes = gold.iter().chain(pred).max().map_or(0, |&m| m + 1);
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fn_ = vec![0usize; classes];
    for (&g, &p) in gold.iter().zip(pred) {
        if g == p {
            tp[g] += 1;
        } else {
            fp[p] += 1;
            fn_[g] += 1;
        }
    }
    let present: Vec<usize> = (0..classes)
        .filter(|&c| tp[c] + fp[c] + fn_[c] > 0)
        .collect();
    let sum: f64 = present
        .iter()
        .map(|&c| f1_from_counts(tp[c], fp[c], fn_[c]))
        .sum();
    Ok(sum / present.len() as f64)
}

/// Multi-label Jaccard index averaged over examples: |gold ∩ pred| / |gold ∪ pred| per
/// example, 0 for an example with no gold and no predicted label (scikit-learn's
/// `jaccard_score(average='samples', zero_division=0)`, the SemEval E-c score).
pub fn jaccard_samples(gold: &[Vec<bool>], pred: &[Vec<bool>]) -> Result<f64> {
    check_lengths("jaccard", gold.len(), pred.len())?;
    let mut sum = 0.0;
    for (row, (g, p)) in gold.iter().zip(pred).enumerate() {
        if g.len() != p.len() {
            return Err(Error::shape(
                "jaccard",
                format!("{} labels in row {row}", g.len()),
                p.len().to_string(),
            ));
        }
        let both = g.iter().zip(p).filter(|(a, b)| **a && **b).count();
        let either = g.iter().zip(p).filter(|(a, b)| **a || **b).count();
        if either > 0 {
            sum += both as f64 / either as f64;
        }
    }
    Ok(sum / gold.len() as f64)
}

/// Pearson's correlation coefficient, computed in f64; 0 when either series is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_lengths("pearson", x.len(), y.len())?;
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut cov, mut var_x, mut var_y) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        cov += dx * dy;
        var_x += dx * dx;
        var_y += dy * dy;
    }
    if var_x == 0.0 || var_y == 0.0 {
        return Ok(0.0);
    }
    Ok((cov / (var_x.sqrt() * var_y.sqrt())).clamp(-1.0, 1.0))
}

/// Ranks starting at 1, tied values sharing the average of their ranks.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ties; they share the mean of ranks start+1..=end.
        let shared = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = shared;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation: Pearson's on average ranks (SciPy's `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_lengths("spearman", x.len(), y.len())?;
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Matthews correlation coefficient for any number of classes (scikit-learn's
/// `matthews_corrcoef`, the K-category generalisation by Gorodkin).
pub fn matthews(gold: &[usize], pred: &[usize]) -> Result<f64> {
    check_lengths("matthews", gold.len(), pred.len())?;
    let classes = gold.iter().chain(pred).max().map_or(0, |&m| m + 1);
    let mut true_count = vec![0f64; classes];
    let mut pred_count = vec![0f64; classes];
    let mut correct = 0f64;
    for (&g, &p) in gold.iter().zip(pred) {
        true_count[g] += 1.0;
        pred_count[p] += 1.0;
        if g == p {
            correct += 1.0;
        }
    }
    let samples = gold.len() as f64;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_true_pred = correct * samples - dot(&true_count, &pred_count);
    let cov_pred = samples * samples - dot(&pred_count, &pred_count);
    let cov_true = samples * samples - dot(&true_count, &true_count);
    if cov_pred == 0.0 || cov_true == 0.0 {
        return Ok(0.0);
    }
    Ok(cov_true_pred / (cov_pred * cov_true).sqrt())
}

/// Mean squared error between predictions and gold values.
pub fn mse(gold: &[f64], pred: &[f64]) -> Result<f64> {
    check_lengths("mse", gold.len(), pred.len())?;
    let sum: f64 = gold.iter().zip(pred).map(|(g, p)| (g - p) * (g - p)).sum();
    Ok(sum / gold.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_average_rank() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn mismatched_lengths_are_shape_errors() {
        assert!(matches!(accuracy(&[0, 1], &[0]), Err(Error::Shape { .. })));
        assert!(matches!(pearson(&[], &[]), Err(Error::Invalid(_))));
    }
}
