//! Task heads for fine-tuning, in plain Rust on the host: they sit on top of the encoder's
//! sentence vectors, compute the loss and hand back its gradient with respect to those
//! vectors.
//!
//! - single sentence, classes: dropout -> linear -> softmax cross-entropy;
//! - sentence pair, classes: [u; v; |u - v|; u * v] -> dropout -> linear (hidden) -> ReLU
//!   -> linear -> softmax cross-entropy;
//! - regression: dropout -> linear to one value -> squared error;
//! - multi-label: dropout -> linear -> sigmoid binary cross-entropy per label.
//!
//! Losses are means over the batch (and over labels for multi-label).

use super::alue_data::TaskKind;
use super::data::Target;
use crate::engine::rng::{dropout_keep, Rng};
use crate::error::{Error, Result};

/// A fully connected layer with its gradients and Adam moments.
#[derive(Clone, Debug)]
struct Linear {
    inputs: usize,
    outputs: usize,
    /// (outputs, inputs) row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    grad_weight: Vec<f32>,
    grad_bias: Vec<f32>,
    moments: [Vec<f32>; 4],
}

impl Linear {
    /// Uniform ±1/sqrt(inputs) initialisation.
    fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let bound = 1.0 / (inputs as f32).sqrt();
        let weight: Vec<f32> = (0..inputs * outputs)
            .map(|_| rng.uniform(-bound, bound))
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|_| rng.uniform(-bound, bound)).collect();
        Linear {
            inputs,
            outputs,
            grad_weight: vec![0.0; weight.len()],
            grad_bias: vec![0.0; outputs],
            moments: [
                vec![0.0; weight.len()],
                vec![0.0; weight.len()],
                vec![0.0; outputs],
                vec![0.0; outputs],
            ],
            weight,
            bias,
        }
    }

    /// y = x W^T + b: x (n, inputs) -> (n, outputs).
    fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = vec![0.0; n * self.outputs];
        for i in 0..n {
            let row = &x[i * self.inputs..(i + 1) * self.inputs];
            for o in 0..self.outputs {
                let w = &self.weight[o * self.inputs..(o + 1) * self.inputs];
                y[i * self.outputs + o] =
                    self.bias[o] + w.iter().zip(row).map(|(a, b)| a * b).sum::<f32>();
            }
        }
        y
    }

    /// Accumulates the parameter gradients for grad_y (n, outputs) and returns grad_x
    /// (n, inputs).
    fn backward(&mut self, x: &[f32], grad_y: &[f32], n: usize) -> Vec<f32> {
        let mut grad_x = vec![0.0; n * self.inputs];
        for i in 0..n {
            let row = &x[i * self.inputs..(i + 1) * self.inputs];
            let grad_row = &mut grad_x[i * self.inputs..(i + 1) * self.inputs];
            for o in 0..self.outputs {
                let g = grad_y[i * self.outputs + o];
                if g == 0.0 {
                    continue;
                }
                self.grad_bias[o] += g;
                let range = o * self.inputs..(o + 1) * self.inputs;
                for ((gw, gx), (&xv, &w)) in self.grad_weight[range.clone()]
                    .iter_mut()
                    .zip(grad_row.iter_mut())
                    .zip(row.iter().zip(&self.weight[range]))
                {
                    *gw += g * xv;
                    *gx += g * w;
                }
            }
        }
        grad_x
    }

    fn grad_norm_sq(&self) -> f64 {
        self.grad_weight
            .iter()
            .chain(&self.grad_bias)
            .map(|&g| g as f64 * g as f64)
            .sum()
    }

    /// One Adam step on `scale` times the gradients, which are then zeroed.
    fn step(&mut self, lr: f32, scale: f32, step: i32) {
        let [m_w, v_w, m_b, v_b] = &mut self.moments;
        adam(
            &mut self.weight,
            &mut self.grad_weight,
            m_w,
            v_w,
            lr,
            scale,
            step,
        );
        adam(
            &mut self.bias,
            &mut self.grad_bias,
            m_b,
            v_b,
            lr,
            scale,
            step,
        );
    }
}

/// Adam (beta 0.9/0.999, eps 1e-8) on `scale * grad`; zeroes `grad`.
fn adam(
    params: &mut [f32],
    grad: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    scale: f32,
    step: i32,
) {
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let (c1, c2) = (1.0 - beta1.powi(step), 1.0 - beta2.powi(step));
    for i in 0..params.len() {
        let g = grad[i] * scale;
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        params[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
        grad[i] = 0.0;
    }
}

/// What a head predicts for a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    Classes(Vec<usize>),
    Scores(Vec<f64>),
    Labels(Vec<Vec<bool>>),
}

impl Predictions {
    /// Number of predicted examples.
    pub fn len(&self) -> usize {
        match self {
            Predictions::Classes(p) => p.len(),
            Predictions::Scores(p) => p.len(),
            Predictions::Labels(p) => p.len(),
        }
    }

    /// Whether there are no predictions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `other` (of the same kind).
    pub fn extend(&mut self, other: Predictions) {
        match (self, other) {
            (Predictions::Classes(a), Predictions::Classes(b)) => a.extend(b),
            (Predictions::Scores(a), Predictions::Scores(b)) => a.extend(b),
            (Predictions::Labels(a), Predictions::Labels(b)) => a.extend(b),
            _ => unreachable!("one head always predicts one kind"),
        }
    }
}

/// A task head with its own parameters and optimiser state.
#[derive(Clone, Debug)]
pub struct Head {
    kind: TaskKind,
    dim: usize,
    dropout: f32,
    /// Decision threshold on each label's probability (multi-label).
    threshold: f32,
    first: Linear,
    /// The second layer of the pair head.
    second: Option<Linear>,
    step: i32,
}

/// Activations of one training forward pass, kept for the backward pass.
struct Cache {
    /// Head input after dropout, (n, first.inputs).
    input: Vec<f32>,
    /// Dropout mask scaled by 1/(1-p), (n, first.inputs); empty when dropout is off.
    mask: Vec<f32>,
    /// Hidden activations after ReLU, (n, hidden), pair head only.
    hidden: Vec<f32>,
    /// Pair features before dropout, pair head only.
    features: Vec<f32>,
}

impl Head {
    /// A head for `kind` on vectors of `dim` values: `outputs` classes or labels (1 for
    /// regression), `hidden` units for the pair head.
    pub fn new(
        kind: TaskKind,
        dim: usize,
        outputs: usize,
        hidden: usize,
        dropout: f32,
        threshold: f32,
        seed: u64,
    ) -> Result<Self> {
        if dim == 0 || outputs == 0 || !(0.0..1.0).contains(&dropout) {
            return Err(Error::Invalid(format!(
                "head: dim {dim}, outputs {outputs}, dropout {dropout} out of range"
            )));
        }
        let mut rng = Rng::new(seed);
        let (first, second) = match kind {
            TaskKind::Pair => (
                Linear::new(4 * dim, hidden, &mut rng),
                Some(Linear::new(hidden, outputs, &mut rng)),
            ),
            _ => (Linear::new(dim, outputs, &mut rng), None),
        };
        Ok(Head {
            kind,
            dim,
            dropout,
            threshold,
            first,
            second,
            step: 0,
        })
    }

    /// Sentences per example: 2 for pairs.
    pub fn sentences_per_example(&self) -> usize {
        if self.kind == TaskKind::Pair {
            2
        } else {
            1
        }
    }

    /// The head's input for `n` examples: the vectors, or for pairs (first n rows u, next
    /// n rows v) the features [u; v; |u - v|; u * v], (n, 4 dim).
    fn input(&self, vectors: &[f32], n: usize) -> Vec<f32> {
        if self.kind != TaskKind::Pair {
            return vectors.to_vec();
        }
        let d = self.dim;
        let mut out = Vec::with_capacity(n * 4 * d);
        for i in 0..n {
            let u = &vectors[i * d..(i + 1) * d];
            let v = &vectors[(n + i) * d..(n + i + 1) * d];
            out.extend_from_slice(u);
            out.extend_from_slice(v);
            out.extend(u.iter().zip(v).map(|(a, b)| (a - b).abs()));
            out.extend(u.iter().zip(v).map(|(a, b)| a * b));
        }
        out
    }

    /// Outputs (logits or values), (n, outputs), and the cache for backward.
    fn forward(&self, vectors: &[f32], n: usize, dropout_seed: Option<u64>) -> (Vec<f32>, Cache) {
        let features = self.input(vectors, n);
        let (mut input, mut mask) = (features.clone(), Vec::new());
        if let Some(seed) = dropout_seed.filter(|_| self.dropout > 0.0) {
            let keep_scale = 1.0 / (1.0 - self.dropout);
            mask = (0..input.len())
                .map(|i| {
                    if dropout_keep(seed, i as u64, self.dropout) {
                        keep_scale
                    } else {
                        0.0
                    }
                })
                .collect();
            input.iter_mut().zip(&mask).for_each(|(x, m)| *x *= m);
        }
        let first = self.first.forward(&input, n);
        let (outputs, hidden) = match &self.second {
            Some(second) => {
                let hidden: Vec<f32> = first.iter().map(|&h| h.max(0.0)).collect();
                (second.forward(&hidden, n), hidden)
            }
            None => (first, Vec::new()),
        };
        let cache = Cache {
            input,
            mask,
            hidden,
            features: if self.kind == TaskKind::Pair {
                features
            } else {
                Vec::new()
            },
        };
        (outputs, cache)
    }

    /// One training step's forward and backward through the head: returns the mean loss
    /// and d loss / d vectors (same shape as `vectors`). Parameter gradients accumulate
    /// until [`Head::step`].
    pub fn forward_backward(
        &mut self,
        vectors: &[f32],
        targets: &[Target],
        dropout_seed: u64,
    ) -> Result<(f64, Vec<f32>)> {
        let n = targets.len();
        let rows = n * self.sentences_per_example();
        if vectors.len() != rows * self.dim {
            return Err(Error::shape(
                "head",
                format!("{rows} x {} values", self.dim),
                vectors.len().to_string(),
            ));
        }
        let (outputs, cache) = self.forward(vectors, n, Some(dropout_seed));
        let width = self.outputs();
        let (loss, grad_outputs) = loss_and_gradient(self.kind, &outputs, width, targets)?;

        // Back through the layers to the (dropped-out) input.
        let mut grad_input = match &mut self.second {
            Some(second) => {
                let mut grad_hidden = second.backward(&cache.hidden, &grad_outputs, n);
                for (g, &h) in grad_hidden.iter_mut().zip(&cache.hidden) {
                    if h <= 0.0 {
                        *g = 0.0;
                    }
                }
                self.first.backward(&cache.input, &grad_hidden, n)
            }
            None => self.first.backward(&cache.input, &grad_outputs, n),
        };
        if !cache.mask.is_empty() {
            grad_input
                .iter_mut()
                .zip(&cache.mask)
                .for_each(|(g, m)| *g *= m);
        }
        let grad_vectors = if self.kind == TaskKind::Pair {
            self.pair_feature_backward(&cache.features, &grad_input, vectors, n)
        } else {
            grad_input
        };
        Ok((loss, grad_vectors))
    }

    /// Gradient of [u; v; |u - v|; u * v] back to u (first n rows) and v (next n rows).
    fn pair_feature_backward(
        &self,
        _features: &[f32],
        grad_features: &[f32],
        vectors: &[f32],
        n: usize,
    ) -> Vec<f32> {
        let d = self.dim;
        let mut grad = vec![0.0; 2 * n * d];
        for i in 0..n {
            let g = &grad_features[i * 4 * d..(i + 1) * 4 * d];
            for k in 0..d {
                let (u, v) = (vectors[i * d + k], vectors[(n + i) * d + k]);
                let sign = if u > v {
                    1.0
                } else if u < v {
                    -1.0
                } else {
                    0.0
                };
                grad[i * d + k] = g[k] + sign * g[2 * d + k] + v * g[3 * d + k];
                grad[(n + i) * d + k] = g[d + k] - sign * g[2 * d + k] + u * g[3 * d + k];
            }
        }
        grad
    }

    /// Number of outputs of the last layer.
    fn outputs(&self) -> usize {
        self.second.as_ref().unwrap_or(&self.first).outputs
    }

    /// Sum of squares of the accumulated gradients.
    pub fn grad_norm_sq(&self) -> f64 {
        self.first.grad_norm_sq() + self.second.as_ref().map_or(0.0, Linear::grad_norm_sq)
    }

    /// One Adam step on `scale` times the accumulated gradients; zeroes them.
    pub fn step(&mut self, lr: f32, scale: f32) {
        self.step += 1;
        self.first.step(lr, scale, self.step);
        if let Some(second) = &mut self.second {
            second.step(lr, scale, self.step);
        }
    }

    /// Predictions for `n` examples from their vectors (no dropout).
    pub fn predict(&self, vectors: &[f32], n: usize) -> Predictions {
        let (outputs, _) = self.forward(vectors, n, None);
        let width = self.outputs();
        let rows = outputs.chunks(width);
        match self.kind {
            TaskKind::Regression => {
                Predictions::Scores(outputs.iter().map(|&v| v as f64).collect())
            }
            TaskKind::MultiLabel => Predictions::Labels(
                rows.map(|r| r.iter().map(|&z| sigmoid(z) >= self.threshold).collect())
                    .collect(),
            ),
            TaskKind::Single | TaskKind::Pair => Predictions::Classes(
                rows.map(|r| (0..r.len()).fold(0, |best, c| if r[c] > r[best] { c } else { best }))
                    .collect(),
            ),
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The mean loss of `outputs` (n, width) against `targets` and its gradient.
fn loss_and_gradient(
    kind: TaskKind,
    outputs: &[f32],
    width: usize,
    targets: &[Target],
) -> Result<(f64, Vec<f32>)> {
    let n = targets.len();
    let mut grad = vec![0.0f32; outputs.len()];
    let mut loss = 0.0f64;
    for (i, target) in targets.iter().enumerate() {
        let out = &outputs[i * width..(i + 1) * width];
        let g = &mut grad[i * width..(i + 1) * width];
        match (kind, target) {
            (TaskKind::Single | TaskKind::Pair, Target::Class(c)) if *c < width => {
                let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = out.iter().map(|&z| (z - max).exp()).sum();
                for (k, gk) in g.iter_mut().enumerate() {
                    *gk = (out[k] - max).exp() / sum / n as f32;
                }
                g[*c] -= 1.0 / n as f32;
                loss += (sum.ln() + max - out[*c]) as f64;
            }
            (TaskKind::Regression, Target::Score(s)) => {
                let diff = out[0] - *s as f32;
                g[0] = 2.0 * diff / n as f32;
                loss += (diff * diff) as f64;
            }
            (TaskKind::MultiLabel, Target::Labels(flags)) if flags.len() == width => {
                let scale = 1.0 / (n * width) as f32;
                for (k, &flag) in flags.iter().enumerate() {
                    let (z, y) = (out[k], if flag { 1.0 } else { 0.0 });
                    g[k] = (sigmoid(z) - y) * scale;
                    // Stable BCE with logits: max(z, 0) - z y + log(1 + e^-|z|).
                    loss += ((z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) / width as f32) as f64;
                }
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "target {target:?} does not fit a {kind:?} head with {width} outputs"
                )))
            }
        }
    }
    Ok((loss / n as f64, grad))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite-difference check of d loss / d vectors for every head kind.
    #[test]
    fn head_gradients_match_finite_differences() {
        let cases = [
            (
                TaskKind::Single,
                3,
                vec![Target::Class(2), Target::Class(0)],
            ),
            (TaskKind::Pair, 3, vec![Target::Class(1), Target::Class(2)]),
            (
                TaskKind::Regression,
                1,
                vec![Target::Score(0.3), Target::Score(-1.0)],
            ),
            (
                TaskKind::MultiLabel,
                2,
                vec![
                    Target::Labels(vec![true, false]),
                    Target::Labels(vec![true, true]),
                ],
            ),
        ];
        for (kind, outputs, targets) in cases {
            let dim = 4;
            // No dropout so the loss is a smooth function of the vectors.
            let mut head = Head::new(kind, dim, outputs, 5, 0.0, 0.5, 9).unwrap();
            let rows = targets.len() * head.sentences_per_example();
            let mut rng = Rng::new(4);
            let vectors: Vec<f32> = (0..rows * dim).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let (_, grad) = head.forward_backward(&vectors, &targets, 0).unwrap();
            let eps = 1e-2f32;
            for k in 0..vectors.len() {
                let mut plus = vectors.clone();
                plus[k] += eps;
                let mut minus = vectors.clone();
                minus[k] -= eps;
                let (lp, _) = head.clone().forward_backward(&plus, &targets, 0).unwrap();
                let (lm, _) = head.clone().forward_backward(&minus, &targets, 0).unwrap();
                let numeric = (lp - lm) / (2.0 * eps as f64);
                assert!(
                    (numeric - grad[k] as f64).abs() < 2e-3 + 2e-2 * numeric.abs(),
                    "{kind:?} element {k}: analytic {} numeric {numeric}",
                    grad[k]
                );
            }
        }
    }
}
