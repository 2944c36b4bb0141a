//! The conditional GRU decoder and pooling against straightforward implementations.

use gensen::engine::cpu::Cpu;
use gensen::engine::rng::Rng;
use gensen::engine::{Params, Pool, Tape};
use gensen::model::{Decoder, Encoder, EncoderConfig, SeqInput};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// y = W x + b for W (rows, cols).
fn affine(w: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let cols = x.len();
    b.iter()
        .enumerate()
        .map(|(r, &bias)| bias + (0..cols).map(|c| w[r * cols + c] * x[c]).sum::<f64>())
        .collect()
}

#[test]
fn conditional_gru_matches_its_equations() {
    let (t, batch, vocab, dim_word, hs) = (5, 2, 9, 3, 4);
    let mut rng = Rng::new(11);
    let mut params = Params::new(Cpu::<f64>::new(1));
    let dec = Decoder::init(&mut params, "task", vocab, dim_word, hs, 1, &mut rng).unwrap();
    let value =
        |params: &Params<Cpu<f64>>, name: &str| params.get(params.id(name).unwrap()).value.clone();
    let p = |part: &str| value(&params, &format!("decoders.task.{part}"));
    let (emb, w_ih, b_ih) = (
        p("embedding.weight"),
        p("input_weights.weight"),
        p("input_weights.bias"),
    );
    let (w_hh, b_hh) = (p("hidden_weights.weight"), p("hidden_weights.bias"));
    let (w_p, b_p) = (p("peep_weights.weight"), p("peep_weights.bias"));

    let ctx_host: Vec<f32> = (0..batch * hs).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let ids: Vec<u32> = (0..t * batch).map(|i| (i * 7 % vocab) as u32).collect();

    // Reference, one sequence at a time.
    let mut want = vec![0.0; t * batch * hs];
    for b in 0..batch {
        let c: Vec<f64> = ctx_host[b * hs..(b + 1) * hs]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let pc = affine(&w_p, &b_p, &c);
        let mut h = c.clone();
        for step in 0..t {
            let id = ids[step * batch + b] as usize;
            let xi = affine(&w_ih, &b_ih, &emb[id * dim_word..(id + 1) * dim_word]);
            let gh = affine(&w_hh, &b_hh, &h);
            let mut next = vec![0.0; hs];
            for j in 0..hs {
                let r = sigmoid(xi[j] + gh[j] + pc[j]);
                let z = sigmoid(xi[hs + j] + gh[hs + j] + pc[hs + j]);
                let n = (xi[2 * hs + j] + r * gh[2 * hs + j] + pc[2 * hs + j]).tanh();
                next[j] = n + z * (h[j] - n);
            }
            h = next;
            want[(step * batch + b) * hs..][..hs].copy_from_slice(&h);
        }
    }

    // The decoder's states: run its GRU exactly as `Decoder::loss` does.
    let mut tape = Tape::new(Cpu::<f64>::new(1));
    tape.set_recording(false);
    let ctx = tape.input(&ctx_host).unwrap();
    let id_var = tape.ids(&ids).unwrap();
    let x = tape.embedding(&params, dec.embedding, id_var, 1).unwrap();
    let extra = tape
        .linear(&params, dec.peep_w, Some(dec.peep_b), ctx, batch)
        .unwrap();
    let states = tape
        .gru(&params, &dec.gru, x, t, batch, None, Some(ctx), Some(extra))
        .unwrap();
    let got = &tape.buf(states)[..t * batch * hs];
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-12, "state {i}: {g} vs {w}");
    }

    // And its loss is finite and positive on real targets.
    let lens = vec![t as u32; batch];
    let input = SeqInput {
        ids: &ids,
        lens: &lens,
        seq_len: t,
        batch,
    };
    let targets: Vec<u32> = ids.iter().map(|&i| (i + 1) % vocab as u32).collect();
    tape.reset();
    let ctx = tape.input(&ctx_host).unwrap();
    let loss = dec
        .loss(&mut tape, &mut params, ctx, input, &targets)
        .unwrap();
    let (mean, _) = tape.loss_value(loss).unwrap();
    assert!(mean.is_finite() && mean > 0.0);
}

#[test]
fn pooling_matches_straightforward_versions_on_unequal_lengths() {
    let (t, batch, hs) = (5, 3, 2);
    let lens = [5u32, 2, 3];
    let config = EncoderConfig {
        vocab: 20,
        dim_word: 3,
        hidden: hs,
        layers: 1,
        bidirectional: true,
        pad_id: 1,
    };
    let mut rng = Rng::new(12);
    let mut params = Params::new(Cpu::<f64>::new(1));
    let encoder = Encoder::init(&mut params, config, &mut rng).unwrap();
    let ids: Vec<u32> = (0..(t * batch) as u32).map(|i| i % 20).collect();
    let mut tape = Tape::new(Cpu::<f64>::new(1));
    tape.set_recording(false);
    let enc = encoder
        .forward(
            &mut tape,
            &params,
            SeqInput {
                ids: &ids,
                lens: &lens,
                seq_len: t,
                batch,
            },
        )
        .unwrap();
    let h = tape.buf(enc.hidden).clone();
    let width = 2 * hs;
    let at = |tt: usize, b: usize, j: usize| h[(tt * batch + b) * width + j];

    // Padded positions are zero.
    for (b, &len) in lens.iter().enumerate() {
        for tt in len as usize..t {
            assert!(
                (0..width).all(|j| at(tt, b, j) == 0.0),
                "padded output at t={tt} b={b}"
            );
        }
    }
    for pool in [Pool::Last, Pool::Max, Pool::Mean] {
        let v = encoder.sentence(&mut tape, &enc, pool).unwrap();
        let got = tape.buf(v)[..batch * width].to_vec();
        for b in 0..batch {
            let len = lens[b] as usize;
            for j in 0..width {
                let want = match pool {
                    Pool::Last if j < hs => at(0, b, hs + j),
                    Pool::Last => at(len - 1, b, j - hs),
                    Pool::Max => (0..len).map(|tt| at(tt, b, j)).fold(f64::MIN, f64::max),
                    Pool::Mean => (0..len).map(|tt| at(tt, b, j)).sum::<f64>() / len as f64,
                };
                let g = got[b * width + j];
                assert!(
                    (g - want).abs() < 1e-14,
                    "{pool:?} b={b} j={j}: {g} vs {want}"
                );
            }
        }
    }
}
