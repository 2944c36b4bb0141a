//! Every CUDA operation against the CPU reference backend: one generic test body per op runs
//! on both backends and the named outputs are compared with |a - b| <= atol + rtol * |ref|.
//! Without a CUDA device each test still runs its body on the CPU (so the bodies stay
//! valid) and reports itself skipped for the comparison.

use gensen::engine::backend::{
    AdamStep, Backend, Gemm, GruBackward, GruDims, GruForward, GruWeights, Pool,
};
use gensen::engine::cpu::Cpu;
use gensen::engine::cuda::{cuda_available, Bf16Buf, Cuda, GruForwardBf16};
use gensen::engine::rng::Rng;
use gensen::error::{Error, Result};

/// Named outputs of one test body, ids converted to f32 (exact below 2^24).
type Outputs = Vec<(&'static str, Vec<f32>)>;

fn device() -> Option<Cuda> {
    if !cuda_available() {
        eprintln!("skipped: no CUDA device (no driver or no GPU on this machine)");
        return None;
    }
    match Cuda::new(0) {
        Ok(cuda) => Some(cuda),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

fn random(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform(lo, hi)).collect()
}

fn ids_as_f32(ids: Vec<u32>) -> Vec<f32> {
    ids.into_iter().map(|i| i as f32).collect()
}

/// Fails with the worst element, the first mismatches and the largest difference.
fn compare(test: &str, want: &Outputs, got: &Outputs, atol: f32, rtol: f32) {
    assert_eq!(want.len(), got.len(), "{test}: output count");
    for ((name, a), (_, b)) in want.iter().zip(got) {
        assert_eq!(a.len(), b.len(), "{test}/{name}: length");
        let excess = |i: usize| (a[i] - b[i]).abs() - (atol + rtol * a[i].abs());
        // A NaN difference counts as a mismatch unless both sides are NaN.
        let ok = |i: usize| excess(i) <= 0.0 || (a[i].is_nan() && b[i].is_nan());
        let bad: Vec<usize> = (0..a.len()).filter(|&i| !ok(i)).collect();
        if let Some(&worst) = bad
            .iter()
            .max_by(|&&i, &&j| excess(i).total_cmp(&excess(j)))
        {
            let first: Vec<String> = bad
                .iter()
                .take(5)
                .map(|&i| format!("[{i}] cpu {} cuda {}", a[i], b[i]))
                .collect();
            panic!(
                "{test}/{name}: {} of {} elements differ; worst [{worst}] cpu {} cuda {} \
                 (|diff| {}); first: {}",
                bad.len(),
                a.len(),
                a[worst],
                b[worst],
                (a[worst] - b[worst]).abs(),
                first.join(", ")
            );
        }
    }
}

/// A `#[test]` running `$body` on the CPU, then on CUDA when present, comparing outputs.
macro_rules! cpu_vs_cuda {
    ($test:ident, $body:ident, $atol:expr, $rtol:expr) => {
        #[test]
        fn $test() {
            let want = $body(&Cpu::<f32>::new(2)).expect("cpu run");
            let Some(gpu) = device() else { return };
            let got = $body(&gpu).expect("cuda run");
            compare(stringify!($test), &want, &got, $atol, $rtol);
        }
    };
}

// ---- element-wise ------------------------------------------------------------------------

fn elementwise<B: Backend>(be: &B) -> Result<Outputs> {
    let n = 1000;
    let x = be.from_host(&random(1, n, -1.0, 1.0))?;
    let mut y = be.zeros(n + 7)?;
    be.fill(&mut y, n + 7, 0.25)?;
    be.axpy(-1.5, &x, &mut y, n)?;
    let mut copied = be.zeros(n)?;
    be.copy(&y, &mut copied, n)?;
    let mut relu = be.zeros(n)?;
    be.relu_forward(&x, &mut relu, n)?;
    let mut drelu = be.from_host(&vec![0.5; n])?;
    be.relu_backward(&relu, &copied, &mut drelu, n)?;
    Ok(vec![
        ("fill_axpy", be.to_host(&y, n + 7)?),
        ("copy", be.to_host(&copied, n)?),
        ("relu", be.to_host(&relu, n)?),
        ("relu_grad", be.to_host(&drelu, n)?),
    ])
}
cpu_vs_cuda!(elementwise_ops, elementwise, 1e-6, 1e-6);

fn bias_and_column_sums<B: Backend>(be: &B) -> Result<Outputs> {
    let (rows, cols) = (37, 75);
    let mut x = be.from_host(&random(2, rows * cols, -1.0, 1.0))?;
    let bias = be.from_host(&random(3, cols, -1.0, 1.0))?;
    be.add_bias(&mut x, &bias, rows, cols)?;
    let mut sums = be.from_host(&vec![1.0; cols])?;
    be.sum_rows(&x, rows, cols, &mut sums)?;
    Ok(vec![
        ("biased", be.to_host(&x, rows * cols)?),
        ("sums", be.to_host(&sums, cols)?),
    ])
}
cpu_vs_cuda!(add_bias_and_sum_rows, bias_and_column_sums, 1e-5, 1e-5);

fn dropout<B: Backend>(be: &B) -> Result<Outputs> {
    let n = 4099;
    let x = be.from_host(&random(4, n, -1.0, 1.0))?;
    let mut y = be.zeros(n)?;
    be.dropout_forward(&x, &mut y, n, 0.3, 77)?;
    let mut dx = be.from_host(&vec![0.1; n])?;
    be.dropout_backward(&x, &mut dx, n, 0.3, 77)?;
    Ok(vec![("y", be.to_host(&y, n)?), ("dx", be.to_host(&dx, n)?)])
}
// The masks come from the same counter-based generator: equal bit for bit.
cpu_vs_cuda!(dropout_masks_match, dropout, 0.0, 0.0);

fn pair_features<B: Backend>(be: &B) -> Result<Outputs> {
    let (batch, dim) = (5, 33);
    let mut uh = random(5, batch * dim, -1.0, 1.0);
    let vh = random(6, batch * dim, -1.0, 1.0);
    uh[3] = vh[3]; // u == v: the |u - v| gradient is taken as 0 there
    let (u, v) = (be.from_host(&uh)?, be.from_host(&vh)?);
    let mut out = be.zeros(4 * batch * dim)?;
    be.pair_features_forward(&u, &v, &mut out, batch, dim)?;
    let dout = be.from_host(&random(7, 4 * batch * dim, -1.0, 1.0))?;
    let (mut du, mut dv) = (be.zeros(batch * dim)?, be.zeros(batch * dim)?);
    be.pair_features_backward(&u, &v, &dout, &mut du, &mut dv, batch, dim)?;
    Ok(vec![
        ("features", be.to_host(&out, 4 * batch * dim)?),
        ("du", be.to_host(&du, batch * dim)?),
        ("dv", be.to_host(&dv, batch * dim)?),
    ])
}
cpu_vs_cuda!(pair_features_forward_backward, pair_features, 1e-6, 1e-6);

// ---- GEMM --------------------------------------------------------------------------------

fn gemms<B: Backend>(be: &B) -> Result<Outputs> {
    let (m, n, k) = (19, 23, 17);
    let a = be.from_host(&random(8, 40 * 40, -1.0, 1.0))?;
    let b = be.from_host(&random(9, 40 * 40, -1.0, 1.0))?;
    let mut outputs = Vec::new();
    let names = ["nn", "nt", "tn", "tt"];
    for (case, name) in names.iter().enumerate() {
        let (ta, tb) = (case & 2 != 0, case & 1 != 0);
        // Offsets and padded leading dimensions, accumulated into a non-zero C.
        let mut g = Gemm::new(m, n, k, ta, tb).accumulate();
        g.alpha = 0.75;
        g.a_off = 3;
        g.lda += 5;
        g.b_off = 11;
        g.ldb += 2;
        g.c_off = 1;
        g.ldc = n + 4;
        let mut c = be.from_host(&random(10, 1 + m * (n + 4), -1.0, 1.0))?;
        be.gemm(&g, &a, &b, &mut c)?;
        outputs.push((*name, be.to_host(&c, 1 + m * (n + 4))?));
    }
    Ok(outputs)
}
cpu_vs_cuda!(
    gemm_all_transposes_offsets_and_accumulation,
    gemms,
    1e-5,
    1e-5
);

// ---- embeddings --------------------------------------------------------------------------

fn embedding<B: Backend>(be: &B) -> Result<Outputs> {
    let (vocab, dim, pad) = (50, 300, 1u32);
    let table = be.from_host(&random(11, vocab * dim, -0.1, 0.1))?;
    // Repeated ids, the pad id, and more positions than one block's tile.
    let mut rng = Rng::new(12);
    let ids_host: Vec<u32> = (0..600).map(|_| rng.below(vocab) as u32).collect();
    let n = ids_host.len();
    let ids = be.ids_from_host(&ids_host)?;
    let mut out = be.zeros(n * dim)?;
    be.embedding_forward(&table, &ids, n, dim, &mut out)?;
    let dout = be.from_host(&random(13, n * dim, -1.0, 1.0))?;
    let mut dtable = be.from_host(&vec![0.5; vocab * dim])?;
    be.embedding_backward(&dout, &ids, n, dim, pad, &mut dtable)?;
    Ok(vec![
        ("rows", be.to_host(&out, n * dim)?),
        ("dtable", be.to_host(&dtable, vocab * dim)?),
    ])
}
cpu_vs_cuda!(embedding_forward_backward, embedding, 1e-5, 1e-5);

// ---- GRU ---------------------------------------------------------------------------------

struct GruCase {
    dims: GruDims,
    lens: Option<Vec<u32>>,
    with_h0: bool,
    with_extra: bool,
}

fn gru_layer<B: Backend>(be: &B, case: &GruCase) -> Result<Outputs> {
    let GruDims {
        seq_len: t,
        batch: b,
        hidden: h,
        dirs: d,
    } = case.dims;
    let w: Vec<B::Buf> = (0..d)
        .map(|i| be.from_host(&random(20 + i as u64, 3 * h * h, -0.3, 0.3)))
        .collect::<Result<_>>()?;
    let bias: Vec<B::Buf> = (0..d)
        .map(|i| be.from_host(&random(30 + i as u64, 3 * h, -0.3, 0.3)))
        .collect::<Result<_>>()?;
    let weights: Vec<GruWeights<'_, B>> = (0..d)
        .map(|i| GruWeights {
            w_hh: &w[i],
            b_hh: &bias[i],
            w_hh_half: None,
        })
        .collect();
    let xproj = be.from_host(&random(40, d * t * b * 3 * h, -1.0, 1.0))?;
    let h0 = be.from_host(&random(41, d * b * h, -0.5, 0.5))?;
    let extra = be.from_host(&random(42, d * b * 3 * h, -0.5, 0.5))?;
    let lens = case
        .lens
        .as_ref()
        .map(|l| be.ids_from_host(l))
        .transpose()?;
    let mut out = be.zeros(t * b * d * h)?;
    let mut saved = be.zeros(d * t * b * 4 * h)?;
    be.gru_forward(GruForward {
        dims: case.dims,
        weights: &weights,
        xproj: &xproj,
        extra: case.with_extra.then_some(&extra),
        h0: case.with_h0.then_some(&h0),
        lens: lens.as_ref(),
        out: &mut out,
        saved: Some(&mut saved),
    })?;

    let dout = be.from_host(&random(43, t * b * d * h, -1.0, 1.0))?;
    let mut dxproj = be.zeros(d * t * b * 3 * h)?;
    let mut work = be.zeros(d * t * b * 3 * h)?;
    let mut dw: Vec<B::Buf> = (0..d)
        .map(|_| be.from_host(&vec![0.1; 3 * h * h]))
        .collect::<Result<_>>()?;
    let mut db: Vec<B::Buf> = (0..d)
        .map(|_| be.from_host(&vec![0.1; 3 * h]))
        .collect::<Result<_>>()?;
    let mut dh0 = be.from_host(&vec![0.2; d * b * h])?;
    let mut dextra = be.from_host(&vec![0.3; d * b * 3 * h])?;
    {
        let mut dw_refs: Vec<&mut B::Buf> = dw.iter_mut().collect();
        let mut db_refs: Vec<&mut B::Buf> = db.iter_mut().collect();
        be.gru_backward(GruBackward {
            dims: case.dims,
            weights: &weights,
            h0: case.with_h0.then_some(&h0),
            lens: lens.as_ref(),
            out: &out,
            saved: &saved,
            dout: &dout,
            dxproj: &mut dxproj,
            work: &mut work,
            dw_hh: &mut dw_refs,
            db_hh: &mut db_refs,
            dh0: case.with_h0.then_some(&mut dh0),
            dextra: case.with_extra.then_some(&mut dextra),
        })?;
    }
    let mut outputs = vec![
        ("out", be.to_host(&out, t * b * d * h)?),
        ("saved", be.to_host(&saved, d * t * b * 4 * h)?),
        ("dxproj", be.to_host(&dxproj, d * t * b * 3 * h)?),
        ("dh0", be.to_host(&dh0, d * b * h)?),
        ("dextra", be.to_host(&dextra, d * b * 3 * h)?),
    ];
    for i in 0..d {
        outputs.push(("dw_hh", be.to_host(&dw[i], 3 * h * h)?));
        outputs.push(("db_hh", be.to_host(&db[i], 3 * h)?));
    }
    Ok(outputs)
}

fn gru_bidirectional_packed<B: Backend>(be: &B) -> Result<Outputs> {
    let case = GruCase {
        dims: GruDims {
            seq_len: 7,
            batch: 4,
            hidden: 40,
            dirs: 2,
        },
        lens: Some(vec![7, 3, 1, 5]),
        with_h0: true,
        with_extra: false,
    };
    gru_layer(be, &case)
}
cpu_vs_cuda!(
    gru_bidirectional_with_lengths_and_h0,
    gru_bidirectional_packed,
    2e-5,
    1e-4
);

fn gru_conditional<B: Backend>(be: &B) -> Result<Outputs> {
    let case = GruCase {
        dims: GruDims {
            seq_len: 6,
            batch: 3,
            hidden: 48,
            dirs: 1,
        },
        lens: None,
        with_h0: true,
        with_extra: true,
    };
    gru_layer(be, &case)
}
cpu_vs_cuda!(
    gru_conditional_decoder_with_extra,
    gru_conditional,
    2e-5,
    1e-4
);

#[test]
fn gru_persistent_matches_step_by_step_within_bf16() {
    let dims = GruDims {
        seq_len: 9,
        batch: 3,
        hidden: 64,
        dirs: 2,
    };
    let lens = vec![9u32, 4, 6];
    let run = |be: &dyn Fn(GruForward<'_, Cuda>) -> Result<()>, gpu: &Cuda| -> Result<Vec<f32>> {
        let (t, b, h, d) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        let w: Vec<_> = (0..d)
            .map(|i| gpu.from_host(&random(50 + i as u64, 3 * h * h, -0.3, 0.3)))
            .collect::<Result<_>>()?;
        let bias: Vec<_> = (0..d)
            .map(|i| gpu.from_host(&random(60 + i as u64, 3 * h, -0.3, 0.3)))
            .collect::<Result<_>>()?;
        let weights: Vec<GruWeights<'_, Cuda>> = (0..d)
            .map(|i| GruWeights {
                w_hh: &w[i],
                b_hh: &bias[i],
                w_hh_half: None,
            })
            .collect();
        let xproj = gpu.from_host(&random(70, d * t * b * 3 * h, -1.0, 1.0))?;
        let h0 = gpu.from_host(&random(71, d * b * h, -0.5, 0.5))?;
        let lens = gpu.ids_from_host(&lens)?;
        let mut out = gpu.zeros(t * b * d * h)?;
        be(GruForward {
            dims,
            weights: &weights,
            xproj: &xproj,
            extra: None,
            h0: Some(&h0),
            lens: Some(&lens),
            out: &mut out,
            saved: None,
        })?;
        gpu.to_host(&out, t * b * d * h)
    };
    let Some(gpu) = device() else { return };
    let want = run(&|args| gpu.gru_forward(args), &gpu).expect("step-by-step forward");
    let got = run(&|args| gpu.gru_forward_persistent(args), &gpu).expect("persistent forward");
    compare(
        "gru_persistent",
        &vec![("out", want)],
        &vec![("out", got)],
        1e-2,
        1e-2,
    );
}

#[test]
fn bf16_encoding_path_matches_f32_within_bf16() {
    let Some(gpu) = device() else { return };
    let run = || -> Result<()> {
        // GEMM with bf16 inputs against the f32 GEMM on the same values.
        let (m, n, k) = (33, 70, 129);
        let a = gpu.from_host(&random(120, m * k, -1.0, 1.0))?;
        let b = gpu.from_host(&random(121, n * k, -1.0, 1.0))?;
        let g = Gemm::new(m, n, k, false, true);
        let mut want = gpu.zeros(m * n)?;
        gpu.gemm(&g, &a, &b, &mut want)?;
        let (a16, b16) = (gpu.to_bf16(&a, m * k)?, gpu.to_bf16(&b, n * k)?);
        let mut got = gpu.zeros(m * n)?;
        gpu.gemm_bf16(&g, &a16, &b16, &mut got)?;
        let pair = |name, w: Vec<f32>, g: Vec<f32>| (vec![(name, w)], vec![(name, g)]);
        let (w, g) = pair(
            "gemm",
            gpu.to_host(&want, m * n)?,
            gpu.to_host(&got, m * n)?,
        );
        compare("bf16", &w, &g, 5e-2, 1e-2);

        // Embedding rows from a bf16 table.
        let (vocab, dim) = (40, 24);
        let table = gpu.from_host(&random(122, vocab * dim, -0.1, 0.1))?;
        let ids = gpu.ids_from_host(&[3, 0, 39, 3, 17])?;
        let table16 = gpu.to_bf16(&table, vocab * dim)?;
        let mut rows16 = gpu.to_bf16(&gpu.zeros(5 * dim)?, 5 * dim)?;
        gpu.embedding_forward_bf16(&table16, &ids, 5, dim, &mut rows16)?;
        let mut rows = gpu.zeros(5 * dim)?;
        gpu.embedding_forward(&table, &ids, 5, dim, &mut rows)?;
        let (w, g) = pair(
            "embedding",
            gpu.to_host(&rows, 5 * dim)?,
            gpu.bf16_to_host(&rows16, 5 * dim)?,
        );
        compare("bf16", &w, &g, 1e-3, 1e-2);

        // A bidirectional GRU layer with lengths and h0.
        let dims = GruDims {
            seq_len: 6,
            batch: 3,
            hidden: 32,
            dirs: 2,
        };
        let (t, bt, h, d) = (dims.seq_len, dims.batch, dims.hidden, dims.dirs);
        let w: Vec<_> = (0..d)
            .map(|i| gpu.from_host(&random(130 + i as u64, 3 * h * h, -0.3, 0.3)))
            .collect::<Result<_>>()?;
        let bias: Vec<_> = (0..d)
            .map(|i| gpu.from_host(&random(140 + i as u64, 3 * h, -0.3, 0.3)))
            .collect::<Result<_>>()?;
        let weights: Vec<GruWeights<'_, Cuda>> = (0..d)
            .map(|i| GruWeights {
                w_hh: &w[i],
                b_hh: &bias[i],
                w_hh_half: None,
            })
            .collect();
        let xproj = gpu.from_host(&random(150, d * t * bt * 3 * h, -1.0, 1.0))?;
        let h0 = gpu.from_host(&random(151, d * bt * h, -0.5, 0.5))?;
        let lens = gpu.ids_from_host(&[6, 2, 4])?;
        let mut want = gpu.zeros(t * bt * d * h)?;
        gpu.gru_forward(GruForward {
            dims,
            weights: &weights,
            xproj: &xproj,
            extra: None,
            h0: Some(&h0),
            lens: Some(&lens),
            out: &mut want,
            saved: None,
        })?;
        let w16: Vec<_> = w
            .iter()
            .map(|x| gpu.to_bf16(x, 3 * h * h))
            .collect::<Result<_>>()?;
        let w16_refs: Vec<&Bf16Buf> = w16.iter().collect();
        let bias_refs: Vec<_> = bias.iter().collect();
        let mut got = gpu.zeros(t * bt * d * h)?;
        gpu.gru_forward_bf16(GruForwardBf16 {
            dims,
            w_hh: &w16_refs,
            b_hh: &bias_refs,
            xproj: &xproj,
            extra: None,
            h0: Some(&h0),
            lens: Some(&lens),
            out: &mut got,
        })?;
        let (w, g) = pair(
            "gru",
            gpu.to_host(&want, t * bt * d * h)?,
            gpu.to_host(&got, t * bt * d * h)?,
        );
        compare("bf16", &w, &g, 3e-2, 2e-2);
        Ok(())
    };
    run().expect("bf16 path on CUDA");
}

// ---- pooling, loss, arg-max ----------------------------------------------------------------

fn pooling<B: Backend>(be: &B) -> Result<Outputs> {
    let dims = GruDims {
        seq_len: 6,
        batch: 3,
        hidden: 10,
        dirs: 2,
    };
    let width = dims.dirs * dims.hidden;
    let n = dims.seq_len * dims.batch * width;
    let h = be.from_host(&random(80, n, -1.0, 1.0))?;
    let lens = be.ids_from_host(&[6, 2, 4])?;
    let dout = be.from_host(&random(81, dims.batch * width, -1.0, 1.0))?;
    let mut outputs = Vec::new();
    for (pool, name, grad_name) in [
        (Pool::Last, "last", "dlast"),
        (Pool::Max, "max", "dmax"),
        (Pool::Mean, "mean", "dmean"),
    ] {
        let mut out = be.zeros(dims.batch * width)?;
        let mut argmax = be.ids_from_host(&vec![0; dims.batch * width])?;
        be.pool_forward(pool, &h, &lens, dims, &mut out, &mut argmax)?;
        let mut dh = be.from_host(&vec![0.5; n])?;
        be.pool_backward(pool, &dout, &lens, &argmax, dims, &mut dh)?;
        outputs.push((name, be.to_host(&out, dims.batch * width)?));
        outputs.push((grad_name, be.to_host(&dh, n)?));
    }
    Ok(outputs)
}
cpu_vs_cuda!(pooling_last_max_mean, pooling, 1e-6, 1e-5);

fn softmax_xent<B: Backend>(be: &B) -> Result<Outputs> {
    let mut outputs = Vec::new();
    // Multiples of 4 take the float4 path; 8192 and wider get 1024-thread blocks.
    let cases = [
        (1000usize, "grad_v4"),
        (999, "grad"),
        (8200, "grad_wide_v4"),
        (8193, "grad_wide"),
    ];
    for (vocab, name) in cases {
        let rows = 9;
        let mut logits = be.from_host(&random(90 + vocab as u64, rows * vocab, -4.0, 4.0))?;
        let mut targets_host: Vec<u32> = (0..rows as u32 + 2)
            .map(|i| (i * 97) % vocab as u32)
            .collect();
        targets_host[2 + 3] = 1; // the pad id: ignored
        let targets = be.ids_from_host(&targets_host)?;
        let mut loss = be.from_host(&[0.5])?;
        let mut correct = be.from_host(&[2.0])?;
        be.softmax_xent(
            &mut logits,
            &targets,
            2,
            rows,
            vocab,
            1,
            0.25,
            &mut loss,
            &mut correct,
        )?;
        outputs.push((name, be.to_host(&logits, rows * vocab)?));
        outputs.push(("loss", be.to_host(&loss, 1)?));
        outputs.push(("correct", be.to_host(&correct, 1)?));
    }
    // A row whose maximum is its target counts as correct.
    let mut logits = be.from_host(&[0.0, 3.0, 1.0, 3.0, 0.0, -1.0])?;
    let targets = be.ids_from_host(&[1, 2])?;
    let (mut loss, mut correct) = (be.zeros(1)?, be.zeros(1)?);
    be.softmax_xent(
        &mut logits,
        &targets,
        0,
        2,
        3,
        99,
        1.0,
        &mut loss,
        &mut correct,
    )?;
    outputs.push(("correct_small", be.to_host(&correct, 1)?));
    Ok(outputs)
}
cpu_vs_cuda!(softmax_cross_entropy, softmax_xent, 1e-6, 1e-5);

fn argmax<B: Backend>(be: &B) -> Result<Outputs> {
    let (rows, cols) = (7, 513);
    let mut x = random(100, rows * cols, -1.0, 1.0);
    x[cols + 5] = 2.0; // a tie in row 1: the first index wins
    x[cols + 400] = 2.0;
    let x = be.from_host(&x)?;
    let mut out = be.ids_from_host(&vec![0; rows])?;
    be.argmax_rows(&x, rows, cols, &mut out)?;
    Ok(vec![("argmax", ids_as_f32(be.ids_to_host(&out, rows)?))])
}
cpu_vs_cuda!(argmax_rows_first_maximum, argmax, 0.0, 0.0);

// ---- optimisation --------------------------------------------------------------------------

fn adam_with_clipping<B: Backend>(be: &B) -> Result<Outputs> {
    let n = 3001;
    let grad = be.from_host(&random(110, n, -1.0, 1.0))?;
    let mut norm_sq = be.from_host(&[0.0])?;
    be.sq_norm(&grad, n, &mut norm_sq)?;
    let mut param = be.from_host(&random(111, n, -1.0, 1.0))?;
    let mut m = be.from_host(&random(112, n, -0.1, 0.1))?;
    let mut v = be.from_host(&random(113, n, 0.0, 0.1))?;
    let hp = AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 3,
        max_norm: 1.0,
    };
    be.adam(&mut param, &grad, &mut m, &mut v, n, &hp, &norm_sq)?;
    Ok(vec![
        ("norm_sq", be.to_host(&norm_sq, 1)?),
        ("param", be.to_host(&param, n)?),
        ("m", be.to_host(&m, n)?),
        ("v", be.to_host(&v, n)?),
    ])
}
cpu_vs_cuda!(
    sq_norm_and_adam_with_clipping,
    adam_with_clipping,
    1e-6,
    1e-5
);

// ---- device handling -----------------------------------------------------------------------

#[test]
fn opening_a_missing_device_is_an_error_not_a_panic() {
    if !cuda_available() {
        let err = Cuda::new(0)
            .err()
            .expect("no device, so Cuda::new must fail");
        assert!(matches!(err, Error::Device(_)), "{err}");
        eprintln!("no CUDA device: Cuda::new(0) -> {err}");
    }
    let err = Cuda::new(10_000).err().expect("no machine has 10000 GPUs");
    assert!(matches!(err, Error::Device(_)), "{err}");
}
