//! A few training steps of a small GenSen model (a translation-like seq2seq task and an NLI
//! pair task) on the CPU backend and on CUDA from the same seed: the losses of every step
//! must agree within f32 tolerance. Each loss after the first depends on every earlier
//! update, so this checks gradients and Adam end to end. (Weights are not compared one by
//! one: Adam scales a noise-level gradient to a full step of either sign.) Skipped without a CUDA device
//! (the CPU run still happens, so the body stays valid).

use gensen::engine::backend::{AdamStep, Backend, Pool};
use gensen::engine::cpu::Cpu;
use gensen::engine::cuda::{cuda_available, Cuda};
use gensen::engine::rng::{mix64, Rng};
use gensen::engine::tape::Tape;
use gensen::error::Result;
use gensen::model::{EncoderConfig, ModelSpec, MultiTask, SeqInput, TaskBatch, TaskKind, TaskSpec};

const STEPS: u64 = 6;

/// Time-major ids and lengths for `batch` random sentences of at most `seq_len` tokens.
fn sentences(rng: &mut Rng, seq_len: usize, batch: usize, vocab: usize) -> (Vec<u32>, Vec<u32>) {
    let lens: Vec<u32> = (0..batch).map(|_| 1 + rng.below(seq_len) as u32).collect();
    let mut ids = vec![1u32; seq_len * batch];
    for b in 0..batch {
        for t in 0..lens[b] as usize {
            ids[t * batch + b] = 4 + rng.below(vocab - 4) as u32;
        }
    }
    (ids, lens)
}

/// The loss of every step.
fn train<B: Backend>(backend: B) -> Result<Vec<f32>> {
    let spec = ModelSpec {
        encoder: EncoderConfig {
            vocab: 60,
            dim_word: 16,
            hidden: 24,
            layers: 1,
            bidirectional: true,
            pad_id: 1,
        },
        dim_word_trg: 12,
        dropout: 0.3,
        pool: Pool::Last,
        tasks: vec![
            TaskSpec {
                name: "en-fr".into(),
                kind: TaskKind::Seq2seq { vocab: 50 },
            },
            TaskSpec {
                name: "nli".into(),
                kind: TaskKind::PairClassification { classes: 3 },
            },
        ],
    };
    let mut model = MultiTask::new(backend.clone(), spec, 7)?;
    model.params.enable_training()?;
    let mut tape = Tape::new(backend.clone());
    let mut norm_sq = backend.zeros(1)?;
    let (seq_len, batch) = (7, 5);
    let mut data = Rng::new(11);
    let mut losses = Vec::new();
    for step in 1..=STEPS {
        let (src, src_lens) = sentences(&mut data, seq_len, batch, 60);
        let (trg_in, trg_lens) = sentences(&mut data, seq_len, batch, 50);
        // Targets are the inputs shifted by one step, padded where the input is.
        let mut trg_out = vec![1u32; seq_len * batch];
        for b in 0..batch {
            for t in 0..trg_lens[b] as usize {
                trg_out[t * batch + b] = (trg_in[t * batch + b] * 3) % 50;
            }
        }
        let (second, second_lens) = sentences(&mut data, seq_len, batch, 60);
        let labels: Vec<u32> = (0..batch).map(|_| data.below(3) as u32).collect();
        let src_in = SeqInput {
            ids: &src,
            lens: &src_lens,
            seq_len,
            batch,
        };
        let task_batch = if step % 2 == 1 {
            TaskBatch::Seq2seq {
                src: src_in,
                trg_in: SeqInput {
                    ids: &trg_in,
                    lens: &trg_lens,
                    seq_len,
                    batch,
                },
                trg_out: &trg_out,
            }
        } else {
            TaskBatch::Pair {
                first: src_in,
                second: SeqInput {
                    ids: &second,
                    lens: &second_lens,
                    seq_len,
                    batch,
                },
                labels: &labels,
            }
        };
        let task = if step % 2 == 1 { 0 } else { 1 };

        tape.reset();
        model.params.zero_grads()?;
        let loss = model.loss(&mut tape, task, task_batch, mix64(step))?;
        tape.backward(&mut model.params)?;
        backend.fill(&mut norm_sq, 1, 0.0)?;
        model.params.grad_sq_norm(&mut norm_sq)?;
        let hp = AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step,
            max_norm: 1.0,
        };
        model.params.adam_step(&hp, &norm_sq)?;
        losses.push(tape.loss_value(loss)?.0);
    }
    Ok(losses)
}

#[test]
fn a_few_training_steps_agree_with_the_cpu() {
    let cpu_losses = train(Cpu::<f32>::new(2)).expect("cpu training");
    assert!(cpu_losses.iter().all(|l| l.is_finite()), "{cpu_losses:?}");
    if !cuda_available() {
        eprintln!("skipped: no CUDA device (no driver or no GPU on this machine)");
        return;
    }
    let gpu = match Cuda::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            return;
        }
    };
    let gpu_losses = train(gpu).expect("cuda training");
    for (step, (a, b)) in cpu_losses.iter().zip(&gpu_losses).enumerate() {
        // Adam can turn a rounding-level gradient into a full step of
        // either sign: allow for a few such weights.
        assert!(
            (a - b).abs() <= 1e-4 + 2e-3 * a.abs(),
            "step {}: cpu loss {a}, cuda {b}",
            step + 1
        );
    }
}
