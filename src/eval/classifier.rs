//! SentEval's probes on frozen sentence vectors, in plain Rust: multinomial logistic
//! regression trained with Adam (batch 64, summed loss, L2 as weight decay), early stopping
//! on validation accuracy (tenacity 5, epochs of 4 passes), the L2 penalty chosen on
//! validation from {1e-5, 1e-4, 1e-3, 1e-2}; (nested) stratified k-fold cross-validation
//! for tasks without a split; and the supervised relatedness protocol (a softmax over five
//! score levels fitted to the levels' interpolation of the gold score, predicting the
//! expected level).
//!
//! Everything is deterministic given the seed in [`ProbeConfig`].

use super::metrics;
use crate::engine::rng::Rng;
use crate::error::{Error, Result};

/// A row-major matrix of features.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub rows: usize,
    pub cols: usize,
    /// (rows, cols) row-major.
    pub data: Vec<f32>,
}

impl Features {
    /// Wraps `data`, checking it holds `rows * cols` values.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::shape(
                "features",
                format!("{rows} x {cols} = {} values", rows * cols),
                data.len().to_string(),
            ));
        }
        Ok(Features { rows, cols, data })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Features {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Features {
            rows: indices.len(),
            cols: self.cols,
            data,
        }
    }
}

/// SentEval's feature for a sentence pair: [|u - v|; u * v], (n, 2 * dim).
pub fn pair_features(u: &Features, v: &Features) -> Result<Features> {
    if u.rows != v.rows || u.cols != v.cols {
        return Err(Error::shape(
            "pair features",
            format!("{} x {}", u.rows, u.cols),
            format!("{} x {}", v.rows, v.cols),
        ));
    }
    let mut data = Vec::with_capacity(u.rows * u.cols * 2);
    for i in 0..u.rows {
        let (a, b) = (u.row(i), v.row(i));
        data.extend(a.iter().zip(b).map(|(x, y)| (x - y).abs()));
        data.extend(a.iter().zip(b).map(|(x, y)| x * y));
    }
    Features::new(u.rows, u.cols * 2, data)
}

/// Settings of the probes; the defaults are SentEval's.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    pub batch: usize,
    pub learning_rate: f32,
    /// Evaluations without improvement tolerated before stopping.
    pub tenacity: usize,
    /// Passes over the training set between two evaluations.
    pub epoch_size: usize,
    /// Passes after which training stops regardless.
    pub max_epoch: usize,
    /// Candidate L2 penalties, chosen on validation.
    pub l2_grid: Vec<f32>,
    /// Folds of cross-validation for tasks without a split.
    pub folds: usize,
    /// Threads fitting cross-validation folds at once (results do not depend on it).
    pub threads: usize,
    /// Relatedness: passes between two evaluations, tolerated evaluations without
    /// improvement, and the pass limit.
    pub relatedness_epoch_size: usize,
    pub relatedness_tenacity: usize,
    pub relatedness_max_epoch: usize,
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            batch: 64,
            learning_rate: 1e-3,
            tenacity: 5,
            epoch_size: 4,
            max_epoch: 200,
            l2_grid: vec![1e-5, 1e-4, 1e-3, 1e-2],
            folds: 10,
            threads: 1,
            relatedness_epoch_size: 50,
            relatedness_tenacity: 3,
            relatedness_max_epoch: 1000,
            seed: 1111,
        }
    }
}

/// A linear layer followed by a softmax: `p = softmax(W x + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegression {
    pub dim: usize,
    pub classes: usize,
    /// (classes, dim) row-major.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl LogisticRegression {
    /// Weights and biases uniform in ±1/sqrt(dim), as a freshly built linear layer.
    pub fn new(dim: usize, classes: usize, rng: &mut Rng) -> Self {
        let bound = 1.0 / (dim.max(1) as f32).sqrt();
        let weight = (0..classes * dim)
            .map(|_| rng.uniform(-bound, bound))
            .collect();
        let bias = (0..classes).map(|_| rng.uniform(-bound, bound)).collect();
        LogisticRegression {
            dim,
            classes,
            weight,
            bias,
        }
    }

    /// Class probabilities of one row into `out` (classes).
    fn probabilities_into(&self, x: &[f32], out: &mut [f32]) {
        for (c, logit) in out.iter_mut().enumerate() {
            let w = &self.weight[c * self.dim..(c + 1) * self.dim];
            *logit = self.bias[c] + dot(w, x);
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for p in out.iter_mut() {
            *p = (*p - max).exp();
            sum += *p;
        }
        for p in out.iter_mut() {
            *p /= sum;
        }
    }

    /// Class probabilities, (rows, classes).
    pub fn probabilities(&self, x: &Features) -> Vec<f32> {
        let mut out = vec![0.0; x.rows * self.classes];
        for i in 0..x.rows {
            self.probabilities_into(x.row(i), &mut out[i * self.classes..(i + 1) * self.classes]);
        }
        out
    }

    /// The most probable class of each row.
    pub fn predict(&self, x: &Features) -> Vec<usize> {
        self.probabilities(x)
            .chunks(self.classes)
            .map(argmax)
            .collect()
    }

    /// The probability-weighted mean of `levels` for each row (relatedness prediction).
    pub fn expected(&self, x: &Features, levels: &[f64]) -> Vec<f64> {
        self.probabilities(x)
            .chunks(self.classes)
            .map(|p| p.iter().zip(levels).map(|(&p, l)| p as f64 * l).sum())
            .collect()
    }
}

/// Dot product with eight independent partial sums, which the compiler keeps in one
/// vector register (a single running sum would serialise on the additions).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += ca[k] * cb[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Index of the largest value (the first on ties).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// What a training pass fits the probabilities to.
enum Objective<'a> {
    /// Cross-entropy with these classes.
    Classes(&'a [usize]),
    /// Squared error to these distributions, (rows, classes).
    Distributions(&'a [f32]),
}

/// Adam's moment estimates for one model.
struct Adam {
    m_weight: Vec<f32>,
    v_weight: Vec<f32>,
    m_bias: Vec<f32>,
    v_bias: Vec<f32>,
    step: i32,
}

impl Adam {
    fn new(model: &LogisticRegression) -> Self {
        Adam {
            m_weight: vec![0.0; model.weight.len()],
            v_weight: vec![0.0; model.weight.len()],
            m_bias: vec![0.0; model.bias.len()],
            v_bias: vec![0.0; model.bias.len()],
            step: 0,
        }
    }

    /// One Adam update (beta 0.9/0.999, eps 1e-8) of `params` with gradient `grad`.
    fn update(params: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, step: i32) {
        let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let correction1 = 1.0 - beta1.powi(step);
        let correction2 = 1.0 - beta2.powi(step);
        for i in 0..params.len() {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            let m_hat = m[i] / correction1;
            let v_hat = v[i] / correction2;
            params[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
}

/// One pass over `x` in shuffled batches, summing the loss over each batch (as SentEval
/// does) and adding `l2 * param` to every gradient (Adam's weight decay).
fn train_pass(
    model: &mut LogisticRegression,
    adam: &mut Adam,
    x: &Features,
    objective: &Objective,
    l2: f32,
    config: &ProbeConfig,
    rng: &mut Rng,
) {
    let (dim, classes) = (model.dim, model.classes);
    let mut order: Vec<usize> = (0..x.rows).collect();
    rng.shuffle(&mut order);
    let mut grad_weight = vec![0.0f32; classes * dim];
    let mut grad_bias = vec![0.0f32; classes];
    let mut probs = vec![0.0f32; classes];
    let mut grad_logits = vec![0.0f32; classes];
    for batch in order.chunks(config.batch.max(1)) {
        grad_weight.fill(0.0);
        grad_bias.fill(0.0);
        for &i in batch {
            let row = x.row(i);
            model.probabilities_into(row, &mut probs);
            match objective {
                Objective::Classes(y) => {
                    grad_logits.copy_from_slice(&probs);
                    grad_logits[y[i]] -= 1.0;
                }
                Objective::Distributions(target) => {
                    // d/dz of sum_k (p_k - t_k)^2 through the softmax:
                    // g_k = 2 (p_k - t_k); dz_j = p_j (g_j - sum_k p_k g_k).
                    let t = &target[i * classes..(i + 1) * classes];
                    let dot: f32 = (0..classes)
                        .map(|k| probs[k] * 2.0 * (probs[k] - t[k]))
                        .sum();
                    for j in 0..classes {
                        grad_logits[j] = probs[j] * (2.0 * (probs[j] - t[j]) - dot);
                    }
                }
            }
            for c in 0..classes {
                let g = grad_logits[c];
                grad_bias[c] += g;
                let w = &mut grad_weight[c * dim..(c + 1) * dim];
                for (gw, &xv) in w.iter_mut().zip(row) {
                    *gw += g * xv;
                }
            }
        }
        if l2 != 0.0 {
            for (g, &w) in grad_weight.iter_mut().zip(&model.weight) {
                *g += l2 * w;
            }
            for (g, &b) in grad_bias.iter_mut().zip(&model.bias) {
                *g += l2 * b;
            }
        }
        adam.step += 1;
        let lr = config.learning_rate;
        Adam::update(
            &mut model.weight,
            &grad_weight,
            &mut adam.m_weight,
            &mut adam.v_weight,
            lr,
            adam.step,
        );
        Adam::update(
            &mut model.bias,
            &grad_bias,
            &mut adam.m_bias,
            &mut adam.v_bias,
            lr,
            adam.step,
        );
    }
}

/// A trained probe and how it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub model: LogisticRegression,
    /// The best validation score (accuracy, or Pearson for relatedness).
    pub valid_score: f64,
    /// Passes over the training set at which that score was reached.
    pub best_epoch: usize,
    /// The L2 penalty used.
    pub l2: f32,
}

/// Checks labels against the feature rows and the class count.
fn check_labels(op: &'static str, x: &Features, y: &[usize], classes: usize) -> Result<()> {
    if x.rows != y.len() {
        return Err(Error::shape(
            op,
            format!("{} labels", x.rows),
            y.len().to_string(),
        ));
    }
    if x.rows == 0 {
        return Err(Error::Invalid(format!("{op}: no examples")));
    }
    if let Some(&bad) = y.iter().find(|&&c| c >= classes) {
        return Err(Error::Invalid(format!(
            "{op}: label {bad} with {classes} classes"
        )));
    }
    Ok(())
}

/// Trains logistic regression with early stopping on validation accuracy: every
/// `epoch_size` passes the validation accuracy is measured; the best model is kept and
/// training stops after `tenacity` evaluations more without improvement.
pub fn fit(
    train: (&Features, &[usize]),
    valid: (&Features, &[usize]),
    classes: usize,
    l2: f32,
    config: &ProbeConfig,
) -> Result<Fitted> {
    check_labels("fit (train)", train.0, train.1, classes)?;
    check_labels("fit (valid)", valid.0, valid.1, classes)?;
    if train.0.cols != valid.0.cols {
        return Err(Error::shape(
            "fit",
            format!("{} features", train.0.cols),
            valid.0.cols.to_string(),
        ));
    }
    let mut rng = Rng::new(config.seed);
    let mut model = LogisticRegression::new(train.0.cols, classes, &mut rng);
    let mut adam = Adam::new(&model);
    let objective = Objective::Classes(train.1);
    let mut best: Option<Fitted> = None;
    let (mut passes, mut stale) = (0, 0);
    while passes <= config.max_epoch {
        for _ in 0..config.epoch_size.max(1) {
            train_pass(
                &mut model, &mut adam, train.0, &objective, l2, config, &mut rng,
            );
        }
        passes += config.epoch_size.max(1);
        let score = metrics::accuracy(valid.1, &model.predict(valid.0))?;
        if best.as_ref().is_none_or(|b| score > b.valid_score) {
            best = Some(Fitted {
                model: model.clone(),
                valid_score: score,
                best_epoch: passes,
                l2,
            });
        } else {
            if stale >= config.tenacity {
                break;
            }
            stale += 1;
        }
    }
    Ok(best.expect("at least one evaluation ran"))
}

/// Trains logistic regression for exactly `passes` passes with no validation: the model
/// the optimiser converges to, for comparison with a full-batch solver.
pub fn fit_passes(
    train: (&Features, &[usize]),
    classes: usize,
    l2: f32,
    passes: usize,
    config: &ProbeConfig,
) -> Result<LogisticRegression> {
    check_labels("fit (train)", train.0, train.1, classes)?;
    let mut rng = Rng::new(config.seed);
    let mut model = LogisticRegression::new(train.0.cols, classes, &mut rng);
    let mut adam = Adam::new(&model);
    let objective = Objective::Classes(train.1);
    for _ in 0..passes {
        train_pass(
            &mut model, &mut adam, train.0, &objective, l2, config, &mut rng,
        );
    }
    Ok(model)
}

/// Fits one model per penalty of the grid and keeps the best on validation (the first of
/// equals, so smaller penalties win ties).
pub fn fit_choosing_l2(
    train: (&Features, &[usize]),
    valid: (&Features, &[usize]),
    classes: usize,
    config: &ProbeConfig,
) -> Result<Fitted> {
    let mut best: Option<Fitted> = None;
    for &l2 in &config.l2_grid {
        let fitted = fit(train, valid, classes, l2, config)?;
        if best
            .as_ref()
            .is_none_or(|b| fitted.valid_score > b.valid_score)
        {
            best = Some(fitted);
        }
    }
    best.ok_or_else(|| Error::Invalid("the L2 grid is empty".into()))
}

/// Assigns each example to one of `k` folds so every class is spread evenly: each class's
/// examples are shuffled and dealt in turn, continuing where the previous class stopped.
pub fn stratified_folds(labels: &[usize], k: usize, rng: &mut Rng) -> Result<Vec<usize>> {
    if k < 2 || labels.len() < k {
        return Err(Error::Invalid(format!(
            "cannot split {} examples into {k} folds",
            labels.len()
        )));
    }
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut fold_of = vec![0; labels.len()];
    let mut next = 0;
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut members);
        for i in members {
            fold_of[i] = next % k;
            next += 1;
        }
    }
    Ok(fold_of)
}

/// The indices in and out of fold `fold`.
fn fold_split(fold_of: &[usize], fold: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, &f) in fold_of.iter().enumerate() {
        if f == fold {
            held.push(i);
        } else {
            train.push(i);
        }
    }
    (train, held)
}

/// The rows of `x` and `y` at `indices`.
fn subset(x: &Features, y: &[usize], indices: &[usize]) -> (Features, Vec<usize>) {
    (x.select(indices), indices.iter().map(|&i| y[i]).collect())
}

/// Chooses the L2 penalty by k-fold cross-validation on (x, y): each fold is the
/// validation set of a model trained on the others; returns (penalty, mean accuracy).
fn cross_validate_l2(
    x: &Features,
    y: &[usize],
    classes: usize,
    config: &ProbeConfig,
    rng: &mut Rng,
) -> Result<(f32, f64)> {
    let fold_of = stratified_folds(y, config.folds, rng)?;
    let folds: Vec<_> = (0..config.folds)
        .map(|fold| {
            let (train_idx, held_idx) = fold_split(&fold_of, fold);
            (subset(x, y, &train_idx), subset(x, y, &held_idx))
        })
        .collect();

    // Every (penalty, fold) fit is independent and seeded alike, so they run on
    // `threads` workers and the scores do not depend on the schedule.
    let jobs: Vec<(usize, usize)> = (0..config.l2_grid.len())
        .flat_map(|r| (0..config.folds).map(move |f| (r, f)))
        .collect();
    let workers = config.threads.clamp(1, jobs.len().max(1));
    let run_job = |&(r, f): &(usize, usize)| {
        let ((tx, ty), (hx, hy)) = &folds[f];
        fit((tx, ty), (hx, hy), classes, config.l2_grid[r], config).map(|fit| fit.valid_score)
    };
    let scores: Vec<Result<f64>> = if workers == 1 {
        jobs.iter().map(run_job).collect()
    } else {
        let mut scores: Vec<Option<Result<f64>>> = (0..jobs.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (jobs, run_job) = (&jobs, &run_job);
                    scope.spawn(move || {
                        (w..jobs.len())
                            .step_by(workers)
                            .map(|j| (j, run_job(&jobs[j])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for handle in handles {
                for (j, score) in handle.join().expect("a probe worker panicked") {
                    scores[j] = Some(score);
                }
            }
        });
        scores
            .into_iter()
            .map(|s| s.expect("every job ran"))
            .collect()
    };

    let scores: Vec<f64> = scores.into_iter().collect::<Result<_>>()?;
    let mut best: Option<(f32, f64)> = None;
    for (r, &l2) in config.l2_grid.iter().enumerate() {
        let total: f64 = scores[r * config.folds..(r + 1) * config.folds]
            .iter()
            .sum();
        let mean = total / config.folds as f64;
        if best.is_none_or(|(_, b)| mean > b) {
            best = Some((l2, mean));
        }
    }
    best.ok_or_else(|| Error::Invalid("the L2 grid is empty".into()))
}

/// Fits on (x, y) with 5% of it held out (shuffled) for early stopping, as SentEval does
/// once the penalty is chosen.
fn fit_with_holdout(
    x: &Features,
    y: &[usize],
    classes: usize,
    l2: f32,
    config: &ProbeConfig,
    rng: &mut Rng,
) -> Result<Fitted> {
    let mut order: Vec<usize> = (0..x.rows).collect();
    rng.shuffle(&mut order);
    let held = ((x.rows as f64 * 0.05) as usize).clamp(1, x.rows.saturating_sub(1).max(1));
    let (hx, hy) = subset(x, y, &order[..held]);
    let (tx, ty) = subset(x, y, &order[held..]);
    fit((&tx, &ty), (&hx, &hy), classes, l2, config)
}

/// The result of one probe protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeOutcome {
    /// Accuracy on validation data (the mean over folds for cross-validation).
    pub valid_accuracy: f64,
    /// Accuracy on the test data (the mean over folds for cross-validation).
    pub test_accuracy: f64,
    /// Predictions for the test rows (in fold order concatenated for cross-validation:
    /// `test_gold` holds the matching gold labels).
    pub test_predictions: Vec<usize>,
    pub test_gold: Vec<usize>,
    /// Passes at the chosen model (the mean over folds, rounded, for cross-validation).
    pub best_epoch: usize,
    pub l2: f32,
}

/// Train/valid/test protocol (SST, SICK-E): penalty chosen on the validation set.
pub fn split_protocol(
    train: (&Features, &[usize]),
    valid: (&Features, &[usize]),
    test: (&Features, &[usize]),
    classes: usize,
    config: &ProbeConfig,
) -> Result<ProbeOutcome> {
    check_labels("test", test.0, test.1, classes)?;
    let fitted = fit_choosing_l2(train, valid, classes, config)?;
    let predictions = fitted.model.predict(test.0);
    Ok(ProbeOutcome {
        valid_accuracy: fitted.valid_score,
        test_accuracy: metrics::accuracy(test.1, &predictions)?,
        test_predictions: predictions,
        test_gold: test.1.to_vec(),
        best_epoch: fitted.best_epoch,
        l2: fitted.l2,
    })
}

/// Train/test protocol (TREC, MRPC): penalty chosen by k-fold cross-validation on the
/// training set, then one model on all of it.
pub fn kfold_protocol(
    train: (&Features, &[usize]),
    test: (&Features, &[usize]),
    classes: usize,
    config: &ProbeConfig,
) -> Result<ProbeOutcome> {
    check_labels("train", train.0, train.1, classes)?;
    check_labels("test", test.0, test.1, classes)?;
    let mut rng = Rng::new(config.seed).fork(1);
    let (l2, valid_accuracy) = cross_validate_l2(train.0, train.1, classes, config, &mut rng)?;
    let fitted = fit_with_holdout(train.0, train.1, classes, l2, config, &mut rng)?;
    let predictions = fitted.model.predict(test.0);
    Ok(ProbeOutcome {
        valid_accuracy,
        test_accuracy: metrics::accuracy(test.1, &predictions)?,
        test_predictions: predictions,
        test_gold: test.1.to_vec(),
        best_epoch: fitted.best_epoch,
        l2,
    })
}

/// Whole-corpus protocol (MR, CR, SUBJ, MPQA): k outer folds; in each, the penalty is chosen
/// by an inner k-fold cross-validation on the other folds, a model is fitted on them and
/// scored on the outer fold.
pub fn nested_kfold_protocol(
    x: &Features,
    y: &[usize],
    classes: usize,
    config: &ProbeConfig,
) -> Result<ProbeOutcome> {
    check_labels("corpus", x, y, classes)?;
    let mut rng = Rng::new(config.seed).fork(2);
    let fold_of = stratified_folds(y, config.folds, &mut rng)?;
    let (mut valid_total, mut test_total, mut epochs) = (0.0, 0.0, 0);
    let (mut predictions, mut gold) = (Vec::new(), Vec::new());
    let mut l2_last = 0.0;
    for fold in 0..config.folds {
        let (train_idx, held_idx) = fold_split(&fold_of, fold);
        let (tx, ty) = subset(x, y, &train_idx);
        let (hx, hy) = subset(x, y, &held_idx);
        let (l2, valid) = cross_validate_l2(&tx, &ty, classes, config, &mut rng)?;
        let fitted = fit_with_holdout(&tx, &ty, classes, l2, config, &mut rng)?;
        let fold_predictions = fitted.model.predict(&hx);
        valid_total += valid;
        test_total += metrics::accuracy(&hy, &fold_predictions)?;
        epochs += fitted.best_epoch;
        predictions.extend(fold_predictions);
        gold.extend(hy);
        l2_last = l2;
    }
    let k = config.folds as f64;
    Ok(ProbeOutcome {
        valid_accuracy: valid_total / k,
        test_accuracy: test_total / k,
        test_predictions: predictions,
        test_gold: gold,
        best_epoch: (epochs as f64 / k).round() as usize,
        l2: l2_last,
    })
}

/// The five levels of a relatedness score, 1..=5.
pub const LEVELS: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];

/// A score in [1, 5] as a distribution over the five levels: the weight is split between
/// the two levels around it in proportion to closeness (Tai, Socher and Manning, 2015).
pub fn score_distribution(score: f64) -> [f32; 5] {
    let score = score.clamp(1.0, 5.0);
    let floor = score.floor();
    let mut target = [0.0f32; 5];
    let low = floor as usize - 1;
    target[low] = (floor - score + 1.0) as f32;
    if low + 1 < 5 {
        target[low + 1] = (score - floor) as f32;
    }
    target
}

/// The result of the relatedness protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct RelatednessOutcome {
    /// Pearson correlation on the validation set at the chosen model.
    pub valid_pearson: f64,
    /// Predicted test scores, mapped back to the gold scale.
    pub test_predictions: Vec<f64>,
    pub best_epoch: usize,
}

/// Supervised relatedness (SICK-R, STS Benchmark): gold scores in `[low, high]` are mapped
/// linearly onto [1, 5], spread over five levels, and a softmax layer is fitted to those
/// distributions by squared error; a prediction is the expected level, mapped back.
/// Training stops when the validation Pearson correlation has not improved for
/// `relatedness_tenacity` evaluations.
pub fn relatedness_protocol(
    train: (&Features, &[f64]),
    valid: (&Features, &[f64]),
    test: &Features,
    range: (f64, f64),
    config: &ProbeConfig,
) -> Result<RelatednessOutcome> {
    let (low, high) = range;
    if high.partial_cmp(&low) != Some(std::cmp::Ordering::Greater) {
        return Err(Error::Invalid(format!(
            "score range [{low}, {high}] is empty"
        )));
    }
    for (op, x, y) in [
        ("relatedness (train)", train.0, train.1),
        ("relatedness (valid)", valid.0, valid.1),
    ] {
        if x.rows != y.len() || x.rows == 0 {
            return Err(Error::shape(
                op,
                format!("{} scores", x.rows),
                y.len().to_string(),
            ));
        }
    }
    let to_levels = |s: f64| 1.0 + 4.0 * (s - low) / (high - low);
    let from_levels = |l: f64| low + (l - 1.0) * (high - low) / 4.0;
    let targets: Vec<f32> = train
        .1
        .iter()
        .flat_map(|&s| score_distribution(to_levels(s)))
        .collect();

    let mut rng = Rng::new(config.seed).fork(3);
    let mut model = LogisticRegression::new(train.0.cols, LEVELS.len(), &mut rng);
    let mut adam = Adam::new(&model);
    let objective = Objective::Distributions(&targets);
    let mut best: Option<(LogisticRegression, f64, usize)> = None;
    let (mut passes, mut stale) = (0, 0);
    while passes <= config.relatedness_max_epoch {
        for _ in 0..config.relatedness_epoch_size.max(1) {
            train_pass(
                &mut model, &mut adam, train.0, &objective, 0.0, config, &mut rng,
            );
        }
        passes += config.relatedness_epoch_size.max(1);
        let predicted = model.expected(valid.0, &LEVELS);
        let pearson = metrics::pearson(&predicted, valid.1)?;
        if best.as_ref().is_none_or(|b| pearson > b.1) {
            best = Some((model.clone(), pearson, passes));
        } else {
            if stale >= config.relatedness_tenacity {
                break;
            }
            stale += 1;
        }
    }
    let (model, valid_pearson, best_epoch) = best.expect("at least one evaluation ran");
    Ok(RelatednessOutcome {
        valid_pearson,
        test_predictions: model
            .expected(test, &LEVELS)
            .into_iter()
            .map(from_levels)
            .collect(),
        best_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_distribution_interpolates_between_levels() {
        assert_eq!(score_distribution(3.0), [0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(score_distribution(5.0), [0.0, 0.0, 0.0, 0.0, 1.0]);
        let d = score_distribution(2.25);
        assert!((d[1] - 0.75).abs() < 1e-6 && (d[2] - 0.25).abs() < 1e-6);
        let expected: f64 = d.iter().zip(LEVELS).map(|(&p, l)| p as f64 * l).sum();
        assert!((expected - 2.25).abs() < 1e-6);
    }

    #[test]
    fn folds_are_stratified() {
        let labels: Vec<usize> = (0..40).map(|i| (i % 4 == 0) as usize).collect();
        let folds = stratified_folds(&labels, 10, &mut Rng::new(1)).unwrap();
        for fold in 0..10 {
            let members: Vec<usize> = (0..40).filter(|&i| folds[i] == fold).collect();
            assert_eq!(members.len(), 4);
            assert_eq!(members.iter().filter(|&&i| labels[i] == 1).count(), 1);
        }
    }
}
