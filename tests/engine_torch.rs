//! The encoder against `torch.nn.GRU` (2 layers, bidirectional, unequal lengths through
//! `pack_padded_sequence`): outputs, final states, input and weight gradients. The numbers
//! come from tests/fixtures/engine/make_gru_fixture.py, run in float64.

use gensen::engine::cpu::{Cpu, Float};
use gensen::engine::rng::Rng;
use gensen::engine::{Backend, Params, Pool, Tape};
use gensen::model::{Encoder, EncoderConfig, SeqInput};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Asserts |got - want| <= atol + rtol |want| everywhere, reporting the worst element.
fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0, 0.0f64);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (atol + rtol * w.abs());
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    let i = worst.0;
    assert!(
        worst.1 <= 0.0,
        "{what}: worst index {i}: got {} want {} (first pairs: {:?})",
        got[i],
        want[i],
        got.iter().zip(want).take(4).collect::<Vec<_>>()
    );
}

fn run<F: Float>(atol: f64, rtol: f64)
where
    Cpu<F>: Backend<Buf = Vec<F>>,
{
    let text = std::fs::read_to_string("tests/fixtures/engine/gru_torch.json").unwrap();
    let fx: Value = serde_json::from_str(&text).unwrap();
    let get = |k: &str| fx[k].as_u64().unwrap() as usize;
    let (t, batch, input, hidden, layers) = (
        get("seq_len"),
        get("batch"),
        get("input"),
        get("hidden"),
        get("layers"),
    );
    let lens: Vec<u32> = fx["lens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();

    // The input enters as an embedding table with one row per (t, b) position, so the
    // table's gradient is the input's gradient.
    let config = EncoderConfig {
        vocab: t * batch,
        dim_word: input,
        hidden,
        layers,
        bidirectional: true,
        pad_id: u32::MAX,
    };
    let backend = Cpu::<F>::new(2);
    let mut params = Params::new(backend.clone());
    let encoder = Encoder::init(&mut params, config, &mut Rng::new(0)).unwrap();
    let x = floats(&fx["x"]);
    let as_f32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
    params
        .load(Encoder::EMBEDDING, &[t * batch, input], &as_f32(&x))
        .unwrap();
    for (name, p) in fx["params"].as_object().unwrap() {
        let shape: Vec<usize> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        params
            .load(
                &format!("encoder.{name}"),
                &shape,
                &as_f32(&floats(&p["value"])),
            )
            .unwrap();
    }
    // Loading through f32 rounds the inputs; overwrite with the exact values in f64 runs.
    if std::mem::size_of::<F>() == 8 {
        for (id, p) in params
            .iter()
            .map(|(id, p)| (id, p.name.clone()))
            .collect::<Vec<_>>()
        {
            let exact = if p == Encoder::EMBEDDING {
                x.clone()
            } else {
                floats(&fx["params"][p.trim_start_matches("encoder.")]["value"])
            };
            params
                .get_mut(id)
                .value
                .iter_mut()
                .zip(&exact)
                .for_each(|(d, &s)| *d = F::from_f64(s));
        }
    }
    params.enable_training().unwrap();
    params.zero_grads().unwrap();

    let mut tape = Tape::new(backend);
    let ids: Vec<u32> = (0..(t * batch) as u32).collect();
    let input = SeqInput {
        ids: &ids,
        lens: &lens,
        seq_len: t,
        batch,
    };
    let encoded = encoder.forward(&mut tape, &params, input).unwrap();
    let last = encoder.sentence(&mut tape, &encoded, Pool::Last).unwrap();

    let exact = |v: &Vec<F>| v.iter().map(|a| a.to_f64()).collect::<Vec<_>>();
    let out: Vec<f64> = exact(tape.buf(encoded.hidden))[..t * batch * 2 * hidden].to_vec();
    assert_close("output", &out, &floats(&fx["out"]), atol, rtol);

    // h_n is (layers * 2, B, H); `last` is [backward final; forward final] of the top layer.
    let h_n = floats(&fx["h_n"]);
    let top = |d: usize, b: usize| &h_n[((2 * (layers - 1) + d) * batch + b) * hidden..][..hidden];
    let want_last: Vec<f64> = (0..batch)
        .flat_map(|b| [top(1, b), top(0, b)].concat())
        .collect();
    let got_last = exact(tape.buf(last))[..batch * 2 * hidden].to_vec();
    assert_close("final states", &got_last, &want_last, atol, rtol);

    // Loss = sum(out * R) + sum(h_n[top] * S): seed both gradients.
    tape.add_grad(encoded.hidden, &as_f32(&floats(&fx["R"])))
        .unwrap();
    let s = floats(&fx["S"]);
    let s_at = |d: usize, b: usize| s[(d * batch + b) * hidden..][..hidden].to_vec();
    let seed_last: Vec<f64> = (0..batch)
        .flat_map(|b| [s_at(1, b), s_at(0, b)].concat())
        .collect();
    tape.add_grad(last, &as_f32(&seed_last)).unwrap();
    tape.backward(&mut params).unwrap();

    let grad_of = |name: &str| exact(params.get(params.id(name).unwrap()).grad.as_ref().unwrap());
    assert_close(
        "input gradient",
        &grad_of(Encoder::EMBEDDING),
        &floats(&fx["x_grad"]),
        atol,
        rtol,
    );
    for (name, p) in fx["params"].as_object().unwrap() {
        assert_close(
            &format!("{name} gradient"),
            &grad_of(&format!("encoder.{name}")),
            &floats(&p["grad"]),
            atol,
            rtol,
        );
    }
}

#[test]
fn matches_torch_in_f64() {
    // R and S enter through f32 seeds; that rounding bounds the agreement of gradients.
    run::<f64>(1e-6, 1e-6);
}

#[test]
fn matches_torch_in_f32() {
    run::<f32>(2e-5, 1e-4);
}
