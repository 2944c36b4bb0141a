//! GenSen's conditional GRU decoder: the sentence vector c is the initial state and an
//! extra input to every gate at every step; a projection to the vocabulary follows.
//!
//!   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr + W_pr c + b_pr)
//!   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz + W_pz c + b_pz)
//!   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn) + W_pn c + b_pn)
//!   h' = n + z * (h - n),   h_0 = c
//!
//! Teacher forcing: the input is `<s> w1..wn`, the target `w1..wn </s>`; padded target
//! positions carry no loss. Without masking the decoder keeps running past a sentence's
//! end, which cannot change the loss of earlier, real positions.

use crate::engine::rng::Rng;
use crate::engine::{Backend, GruParams, Init, Loss, ParamId, Params, Tape, Var};
use crate::error::{Error, Result};
use crate::model::encoder::SeqInput;

/// Parameter handles of one task's decoder.
#[derive(Clone, Debug)]
pub struct Decoder {
    pub embedding: ParamId,
    pub gru: GruParams,
    pub peep_w: ParamId,
    pub peep_b: ParamId,
    pub out_w: ParamId,
    pub out_b: ParamId,
    pub vocab: usize,
    pub pad_id: u32,
}

impl Decoder {
    /// Creates a decoder named `decoders.<task>.*` in `params`. Its hidden size equals the
    /// context size, since the context is its initial state.
    pub fn init<B: Backend>(
        params: &mut Params<B>,
        task: &str,
        vocab: usize,
        dim_word: usize,
        hidden: usize,
        pad_id: u32,
        rng: &mut Rng,
    ) -> Result<Self> {
        let p = |part: &str| format!("decoders.{task}.{part}");
        let a = Init::Uniform(1.0 / (hidden as f32).sqrt());
        let embedding = params.add(
            &p("embedding.weight"),
            &[vocab, dim_word],
            Init::Uniform(0.1),
            rng,
        )?;
        let w_ih = params.add(&p("input_weights.weight"), &[3 * hidden, dim_word], a, rng)?;
        let b_ih = params.add(&p("input_weights.bias"), &[3 * hidden], a, rng)?;
        let w_hh = params.add(&p("hidden_weights.weight"), &[3 * hidden, hidden], a, rng)?;
        let b_hh = params.add(&p("hidden_weights.bias"), &[3 * hidden], a, rng)?;
        let peep_w = params.add(&p("peep_weights.weight"), &[3 * hidden, hidden], a, rng)?;
        let peep_b = params.add(&p("peep_weights.bias"), &[3 * hidden], a, rng)?;
        let out_w = params.add(&p("decoder2vocab.weight"), &[vocab, hidden], a, rng)?;
        let out_b = params.add(&p("decoder2vocab.bias"), &[vocab], Init::Zeros, rng)?;
        Ok(Decoder {
            embedding,
            gru: GruParams {
                w_ih: vec![w_ih],
                w_hh: vec![w_hh],
                b_ih: vec![b_ih],
                b_hh: vec![b_hh],
                input: dim_word,
                hidden,
            },
            peep_w,
            peep_b,
            out_w,
            out_b,
            vocab,
            pad_id,
        })
    }

    /// The teacher-forced loss of `target_out` given `target_in` and the context `ctx`
    /// (B, H); both targets are time-major (T, B) with the same shape.
    pub fn loss<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &mut Params<B>,
        ctx: Var,
        target_in: SeqInput<'_>,
        target_out: &[u32],
    ) -> Result<Loss> {
        target_in.validate("decoder")?;
        if target_out.len() != target_in.ids.len() {
            return Err(Error::shape(
                "decoder",
                format!("{} targets", target_in.ids.len()),
                target_out.len().to_string(),
            ));
        }
        let (seq_len, batch) = (target_in.seq_len, target_in.batch);
        let ids = tape.ids(target_in.ids)?;
        let x = tape.embedding(params, self.embedding, ids, self.pad_id)?; // (T, B, E)
        let extra = tape.linear(params, self.peep_w, Some(self.peep_b), ctx, batch)?; // (B, 3H)
        let states = tape.gru(
            params,
            &self.gru,
            x,
            seq_len,
            batch,
            None,
            Some(ctx),
            Some(extra),
        )?;
        tape.projection_loss(
            params,
            self.out_w,
            Some(self.out_b),
            states,
            target_out,
            self.pad_id,
        )
    }
}
