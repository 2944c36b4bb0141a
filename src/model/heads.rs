//! Classification heads on sentence vectors.

use crate::engine::rng::Rng;
use crate::engine::{Backend, Init, Loss, ParamId, Params, Tape, Var};
use crate::error::Result;

/// Hidden size of the sentence-pair head, as GenSen's NLI classifier.
pub const PAIR_HIDDEN: usize = 512;

/// Single sentence: dropout -> linear -> classes.
#[derive(Clone, Debug)]
pub struct Classifier {
    pub w: ParamId,
    pub b: ParamId,
    pub dim: usize,
    pub classes: usize,
}

/// Sentence pair: [u; v; |u - v|; u * v] -> dropout -> 512 -> ReLU -> classes.
#[derive(Clone, Debug)]
pub struct PairClassifier {
    pub hidden_w: ParamId,
    pub hidden_b: ParamId,
    pub out_w: ParamId,
    pub out_b: ParamId,
    pub dim: usize,
    pub classes: usize,
}

/// PyTorch's default `nn.Linear` initialisation bound.
fn linear_bound(fan_in: usize) -> Init {
    Init::Uniform(1.0 / (fan_in as f32).sqrt())
}

impl Classifier {
    /// Creates `heads.<task>.{weight,bias}`.
    pub fn init<B: Backend>(
        params: &mut Params<B>,
        task: &str,
        dim: usize,
        classes: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        let w = params.add(
            &format!("heads.{task}.weight"),
            &[classes, dim],
            linear_bound(dim),
            rng,
        )?;
        let b = params.add(
            &format!("heads.{task}.bias"),
            &[classes],
            linear_bound(dim),
            rng,
        )?;
        Ok(Classifier { w, b, dim, classes })
    }

    /// Logits (B, classes) of sentence vectors `u` (B, dim).
    pub fn logits<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &Params<B>,
        u: Var,
        batch: usize,
        dropout: f32,
        seed: u64,
    ) -> Result<Var> {
        let u = tape.dropout(u, dropout, seed)?;
        tape.linear(params, self.w, Some(self.b), u, batch)
    }

    /// The mean cross-entropy against `labels`.
    #[allow(clippy::too_many_arguments)]
    pub fn loss<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &mut Params<B>,
        u: Var,
        labels: &[u32],
        dropout: f32,
        seed: u64,
    ) -> Result<Loss> {
        let u = tape.dropout(u, dropout, seed)?;
        tape.projection_loss(params, self.w, Some(self.b), u, labels, u32::MAX)
    }
}

impl PairClassifier {
    /// Creates `heads.<task>.hidden.*` and `heads.<task>.out.*`.
    pub fn init<B: Backend>(
        params: &mut Params<B>,
        task: &str,
        dim: usize,
        classes: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        let p = |part: &str| format!("heads.{task}.{part}");
        let features = 4 * dim;
        Ok(PairClassifier {
            hidden_w: params.add(
                &p("hidden.weight"),
                &[PAIR_HIDDEN, features],
                linear_bound(features),
                rng,
            )?,
            hidden_b: params.add(
                &p("hidden.bias"),
                &[PAIR_HIDDEN],
                linear_bound(features),
                rng,
            )?,
            out_w: params.add(
                &p("out.weight"),
                &[classes, PAIR_HIDDEN],
                linear_bound(PAIR_HIDDEN),
                rng,
            )?,
            out_b: params.add(&p("out.bias"), &[classes], linear_bound(PAIR_HIDDEN), rng)?,
            dim,
            classes,
        })
    }

    /// The hidden layer's output (B, 512) for the pair (u, v).
    #[allow(clippy::too_many_arguments)]
    fn hidden<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &Params<B>,
        u: Var,
        v: Var,
        batch: usize,
        dropout: f32,
        seed: u64,
    ) -> Result<Var> {
        let f = tape.pair_features(u, v, batch, self.dim)?;
        let f = tape.dropout(f, dropout, seed)?;
        let h = tape.linear(params, self.hidden_w, Some(self.hidden_b), f, batch)?;
        tape.relu(h)
    }

    /// Logits (B, classes) for the pairs (u, v).
    #[allow(clippy::too_many_arguments)]
    pub fn logits<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &Params<B>,
        u: Var,
        v: Var,
        batch: usize,
        dropout: f32,
        seed: u64,
    ) -> Result<Var> {
        let h = self.hidden(tape, params, u, v, batch, dropout, seed)?;
        tape.linear(params, self.out_w, Some(self.out_b), h, batch)
    }

    /// The mean cross-entropy against `labels`.
    #[allow(clippy::too_many_arguments)]
    pub fn loss<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &mut Params<B>,
        u: Var,
        v: Var,
        labels: &[u32],
        dropout: f32,
        seed: u64,
    ) -> Result<Loss> {
        let h = self.hidden(tape, params, u, v, labels.len(), dropout, seed)?;
        tape.projection_loss(params, self.out_w, Some(self.out_b), h, labels, u32::MAX)
    }
}
