//! Every op's backward against central finite differences, in f64 on the CPU backend.
//!
//! Each case builds a small graph on the tape, seeds the output gradient with fixed
//! random weights R (so the loss is L = sum(R * out)), runs backward, and compares every
//! parameter's analytic gradient with (L(p + e) - L(p - e)) / 2e.

use approx::assert_relative_eq;
use gensen::engine::cpu::Cpu;
use gensen::engine::rng::Rng;
use gensen::engine::{GruDims, GruParams, Init, ParamId, Params, Pool, Tape, Var};

type B = Cpu<f64>;

/// Builds the graph; returns the output variable.
type Build<'a> = dyn Fn(&mut Tape<B>, &mut Params<B>) -> Var + 'a;

fn loss_of(tape: &mut Tape<B>, params: &mut Params<B>, build: &Build, weights: &[f64]) -> f64 {
    tape.reset();
    let out = build(tape, params);
    let v = tape.value(out).unwrap();
    // The host copy is f32; recompute in f64 from the device buffer for precision.
    let exact: &Vec<f64> = tape.buf(out);
    assert_eq!(v.len(), weights.len());
    exact.iter().zip(weights).map(|(a, b)| a * b).sum()
}

/// Checks the gradients of every parameter of `params` against finite differences.
fn check(params: &mut Params<B>, build: &Build, seed: u64) {
    check_except(params, build, seed, &|_, _| false);
}

/// Like [`check`], leaving out elements for which `skip(name, index)` holds.
fn check_except(
    params: &mut Params<B>,
    build: &Build,
    seed: u64,
    skip: &dyn Fn(&str, usize) -> bool,
) {
    let mut tape = Tape::new(Cpu::<f64>::new(2));
    params.enable_training().unwrap();
    params.zero_grads().unwrap();
    let out = build(&mut tape, params);
    let n = tape.len(out);
    let mut rng = Rng::new(seed);
    let weights: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
    let w32: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    // Seed with the f32 weights but keep the exact f64 values for the finite differences.
    let weights: Vec<f64> = w32.iter().map(|&w| w as f64).collect();
    tape.add_grad(out, &w32).unwrap();
    tape.backward(params).unwrap();

    let ids: Vec<ParamId> = params.iter().map(|(id, _)| id).collect();
    let eps = 1e-6;
    let mut checked = 0;
    for id in ids {
        let analytic: Vec<f64> = params.get(id).grad.clone().unwrap();
        let name = params.get(id).name.clone();
        let numel = params.get(id).numel();
        // Every element of small tensors, a spread sample of larger ones.
        let stride = (numel / 40).max(1);
        for i in (0..numel).step_by(stride) {
            if skip(&name, i) {
                continue;
            }
            let orig = params.get(id).value[i];
            params.get_mut(id).value[i] = orig + eps;
            let plus = loss_of(&mut tape, params, build, &weights);
            params.get_mut(id).value[i] = orig - eps;
            let minus = loss_of(&mut tape, params, build, &weights);
            params.get_mut(id).value[i] = orig;
            let numeric = (plus - minus) / (2.0 * eps);
            assert_relative_eq!(analytic[i], numeric, epsilon = 1e-7, max_relative = 1e-5);
            checked += 1;
        }
    }
    assert!(checked > 0);
}

fn gru_params(
    params: &mut Params<B>,
    rng: &mut Rng,
    prefix: &str,
    input: usize,
    hs: usize,
    dirs: usize,
) -> GruParams {
    let mut layer = GruParams {
        w_ih: vec![],
        w_hh: vec![],
        b_ih: vec![],
        b_hh: vec![],
        input,
        hidden: hs,
    };
    let a = 1.0 / (hs as f32).sqrt();
    for d in 0..dirs {
        let sfx = if d == 1 { "_reverse" } else { "" };
        let init = Init::Uniform(a);
        layer.w_ih.push(
            params
                .add(&format!("{prefix}w_ih{sfx}"), &[3 * hs, input], init, rng)
                .unwrap(),
        );
        layer.w_hh.push(
            params
                .add(&format!("{prefix}w_hh{sfx}"), &[3 * hs, hs], init, rng)
                .unwrap(),
        );
        layer.b_ih.push(
            params
                .add(&format!("{prefix}b_ih{sfx}"), &[3 * hs], init, rng)
                .unwrap(),
        );
        layer.b_hh.push(
            params
                .add(&format!("{prefix}b_hh{sfx}"), &[3 * hs], init, rng)
                .unwrap(),
        );
    }
    layer
}

#[test]
fn embedding_and_linear_gradients() {
    let mut rng = Rng::new(1);
    let mut params = Params::new(Cpu::<f64>::new(1));
    let table = params
        .add("emb", &[6, 4], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let w = params
        .add("w", &[3, 4], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let b = params.add("b", &[3], Init::Uniform(0.5), &mut rng).unwrap();
    let build = move |tape: &mut Tape<B>, params: &mut Params<B>| {
        // Id 1 is padding: its row must get no gradient (checked below).
        let ids = tape.ids(&[0, 2, 1, 5, 2]).unwrap();
        let x = tape.embedding(params, table, ids, 1).unwrap();
        tape.linear(params, w, Some(b), x, 5).unwrap()
    };
    // The padding row is used by the forward pass but, as PyTorch's padding_idx, gets no
    // gradient; leave it out of the comparison and check that separately.
    check_except(&mut params, &build, 7, &|name, i| {
        name == "emb" && (4..8).contains(&i)
    });
    let g = params.get(table).grad.clone().unwrap();
    assert!(
        g[4..8].iter().all(|&v| v == 0.0),
        "padding row got a gradient"
    );
    assert!(g[8..12].iter().any(|&v| v != 0.0));
}

#[test]
fn bidirectional_gru_with_lengths() {
    let (t, batch, input, hs) = (5, 3, 4, 3);
    let mut rng = Rng::new(2);
    let mut params = Params::new(Cpu::<f64>::new(2));
    // Distinct ids per position make the embedding gradient equal the GRU input gradient.
    let table = params
        .add("emb", &[t * batch, input], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let layer = gru_params(&mut params, &mut rng, "gru.", input, hs, 2);
    let build = move |tape: &mut Tape<B>, params: &mut Params<B>| {
        let ids: Vec<u32> = (0..(t * batch) as u32).collect();
        let ids = tape.ids(&ids).unwrap();
        let x = tape.embedding(params, table, ids, u32::MAX).unwrap();
        let lens = tape.ids(&[5, 2, 4]).unwrap();
        tape.gru(params, &layer, x, t, batch, Some(lens), None, None)
            .unwrap()
    };
    check(&mut params, &build, 8);
}

#[test]
fn conditional_gru_with_initial_state_and_extra_term() {
    let (t, batch, input, hs) = (4, 2, 3, 3);
    let mut rng = Rng::new(3);
    let mut params = Params::new(Cpu::<f64>::new(1));
    let table = params
        .add("emb", &[t * batch, input], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let ctx = params
        .add("ctx", &[batch, hs], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let peep = params
        .add("peep.w", &[3 * hs, hs], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let peep_b = params
        .add("peep.b", &[3 * hs], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let layer = gru_params(&mut params, &mut rng, "dec.", input, hs, 1);
    let build = move |tape: &mut Tape<B>, params: &mut Params<B>| {
        let ids: Vec<u32> = (0..(t * batch) as u32).collect();
        let ids = tape.ids(&ids).unwrap();
        let x = tape.embedding(params, table, ids, u32::MAX).unwrap();
        // The context reaches the decoder as a parameter-derived variable: h0 = c, and
        // extra = c W_p^T + b_p.
        let cids = tape.ids(&[0, 1]).unwrap();
        let c = tape.embedding(params, ctx, cids, u32::MAX).unwrap();
        let extra = tape.linear(params, peep, Some(peep_b), c, batch).unwrap();
        tape.gru(params, &layer, x, t, batch, None, Some(c), Some(extra))
            .unwrap()
    };
    check(&mut params, &build, 9);
}

#[test]
fn pooling_gradients() {
    for pool in [Pool::Last, Pool::Max, Pool::Mean] {
        let (t, batch, input, hs) = (4, 3, 2, 2);
        let mut rng = Rng::new(4);
        let mut params = Params::new(Cpu::<f64>::new(1));
        let table = params
            .add("emb", &[t * batch, input], Init::Uniform(0.8), &mut rng)
            .unwrap();
        let layer = gru_params(&mut params, &mut rng, "gru.", input, hs, 2);
        let build = move |tape: &mut Tape<B>, params: &mut Params<B>| {
            let ids: Vec<u32> = (0..(t * batch) as u32).collect();
            let ids = tape.ids(&ids).unwrap();
            let x = tape.embedding(params, table, ids, u32::MAX).unwrap();
            let lens = tape.ids(&[4, 1, 3]).unwrap();
            let h = tape
                .gru(params, &layer, x, t, batch, Some(lens), None, None)
                .unwrap();
            let dims = GruDims {
                seq_len: t,
                batch,
                hidden: hs,
                dirs: 2,
            };
            tape.pool(pool, h, lens, dims).unwrap()
        };
        check(&mut params, &build, 10);
    }
}

#[test]
fn pair_head_with_dropout_and_relu() {
    let (batch, dim) = (3, 4);
    let mut rng = Rng::new(5);
    let mut params = Params::new(Cpu::<f64>::new(1));
    let table = params
        .add("emb", &[2 * batch, dim], Init::Uniform(0.8), &mut rng)
        .unwrap();
    let w1 = params
        .add("w1", &[5, 4 * dim], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let b1 = params
        .add("b1", &[5], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let build = move |tape: &mut Tape<B>, params: &mut Params<B>| {
        let u_ids = tape.ids(&[0, 1, 2]).unwrap();
        let v_ids = tape.ids(&[3, 4, 5]).unwrap();
        let u = tape.embedding(params, table, u_ids, u32::MAX).unwrap();
        let v = tape.embedding(params, table, v_ids, u32::MAX).unwrap();
        let f = tape.pair_features(u, v, batch, dim).unwrap();
        let f = tape.dropout(f, 0.25, 42).unwrap();
        let h = tape.linear(params, w1, Some(b1), f, batch).unwrap();
        tape.relu(h).unwrap()
    };
    check(&mut params, &build, 11);
}

#[test]
fn projection_loss_gradients_and_value() {
    let (rows, hidden, vocab) = (7, 3, 6);
    let mut rng = Rng::new(6);
    let mut params = Params::new(Cpu::<f64>::new(2));
    let table = params
        .add("emb", &[rows, hidden], Init::Uniform(1.0), &mut rng)
        .unwrap();
    let w = params
        .add("out.w", &[vocab, hidden], Init::Uniform(1.0), &mut rng)
        .unwrap();
    let b = params
        .add("out.b", &[vocab], Init::Uniform(1.0), &mut rng)
        .unwrap();
    params.enable_training().unwrap();
    // Pad (1) rows are ignored; chunks of 3 rows exercise the chunked path.
    let targets = [4u32, 1, 0, 5, 2, 1, 3];

    let loss_at = |params: &mut Params<B>, tape: &mut Tape<B>| -> (f64, usize) {
        tape.reset();
        tape.loss_chunk_rows = 3;
        let ids: Vec<u32> = (0..rows as u32).collect();
        let ids = tape.ids(&ids).unwrap();
        let x = tape.embedding(params, table, ids, u32::MAX).unwrap();
        let loss = tape
            .projection_loss(params, w, Some(b), x, &targets, 1)
            .unwrap();
        let (mean, correct) = tape.loss_value(loss).unwrap();
        (mean as f64, correct)
    };

    // Straightforward reference: softmax cross-entropy in f64 from the parameters.
    let reference = |params: &Params<B>| -> f64 {
        let (e, wv, bv) = (
            &params.get(table).value,
            &params.get(w).value,
            &params.get(b).value,
        );
        let mut total = 0.0;
        let mut count = 0;
        for (r, &t) in targets.iter().enumerate() {
            if t == 1 {
                continue;
            }
            let logits: Vec<f64> = (0..vocab)
                .map(|v| {
                    bv[v]
                        + (0..hidden)
                            .map(|k| e[r * hidden + k] * wv[v * hidden + k])
                            .sum::<f64>()
                })
                .collect();
            let max = logits.iter().cloned().fold(f64::MIN, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            total += lse - logits[t as usize];
            count += 1;
        }
        total / count as f64
    };

    let mut tape = Tape::new(Cpu::<f64>::new(2));
    params.zero_grads().unwrap();
    tape.set_recording(true);
    let (mean, _) = loss_at(&mut params, &mut tape);
    assert_relative_eq!(mean, reference(&params), max_relative = 1e-6);
    tape.backward(&mut params).unwrap();

    let eps = 1e-6;
    for id in [table, w, b] {
        let grad = params.get(id).grad.clone().unwrap();
        for (i, &analytic) in grad.iter().enumerate() {
            let orig = params.get(id).value[i];
            params.get_mut(id).value[i] = orig + eps;
            let plus = reference(&params);
            params.get_mut(id).value[i] = orig - eps;
            let minus = reference(&params);
            params.get_mut(id).value[i] = orig;
            assert_relative_eq!(
                analytic,
                (plus - minus) / (2.0 * eps),
                epsilon = 1e-7,
                max_relative = 1e-5
            );
        }
    }
    // Rows of the padding target carry no gradient into the input.
    let g = params.get(table).grad.clone().unwrap();
    assert!(g[hidden..2 * hidden].iter().all(|&v| v == 0.0));
}

#[test]
fn bad_shapes_are_typed_errors() {
    let mut rng = Rng::new(7);
    let mut params = Params::new(Cpu::<f32>::new(1));
    let w = params
        .add("w", &[3, 4], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let mut tape = Tape::new(Cpu::<f32>::new(1));
    let x = tape.input(&[0.0; 10]).unwrap();
    let err = tape.linear(&params, w, None, x, 2).unwrap_err();
    assert!(err.to_string().contains("linear"), "{err}");
    let table = params
        .add("emb", &[4, 2], Init::Uniform(0.5), &mut rng)
        .unwrap();
    let ids = tape.ids(&[0, 9]).unwrap();
    let err = tape.embedding(&params, table, ids, 1).unwrap_err();
    assert!(err.to_string().contains("embedding"), "{err}");
}
