//! The encoder as the evaluation suites use it: frozen ([`SentenceEncoder`]) for SentEval
//! and similarity, trainable ([`FineTunable`]) for fine-tuning under a task head.

use std::path::Path;

use crate::encode::{EncodeOptions, EncoderModel, GenSen};
use crate::engine::backend::AdamStep;
use crate::engine::{Backend, Pool, Tape, Var};
use crate::error::{Error, Result};
use crate::eval::finetune::FineTunable;
use crate::eval::SentenceEncoder;
use crate::text::Language;
use crate::train::checkpoint::{save_safetensors, HostTensors};
use crate::train::extract::{write_meta, TOKENIZER_FILE, WEIGHTS_FILE};

fn options(pool: Pool, language: Language) -> EncodeOptions {
    EncodeOptions {
        pool: Some(pool),
        language: Some(language),
        ..EncodeOptions::default()
    }
}

impl SentenceEncoder for GenSen {
    fn dim(&self) -> usize {
        GenSen::dim(self)
    }

    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        Ok(self
            .get_representation(sentences, &options(pool, language))?
            .sentence)
    }
}

/// An encoder whose weights are trained by a downstream task.
pub struct TrainableEncoder<B: Backend> {
    model: EncoderModel<B>,
    tape: Tape<B>,
    /// The loaded weights, restored by [`FineTunable::reset`].
    initial: HostTensors,
    sentence: Option<Var>,
    norm_sq: B::Buf,
    steps: u64,
}

impl<B: Backend> TrainableEncoder<B> {
    /// Loads the encoder folder `dir` on `backend` with gradients enabled.
    pub fn load(dir: &Path, backend: B) -> Result<Self> {
        let mut model = EncoderModel::load(dir, backend.clone())?;
        model.params.enable_training()?;
        let initial = model.params.to_host()?;
        Ok(TrainableEncoder {
            model,
            tape: Tape::new(backend.clone()),
            initial,
            sentence: None,
            norm_sq: backend.zeros(1)?,
            steps: 0,
        })
    }
}

impl<B: Backend> FineTunable for TrainableEncoder<B> {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn forward_train(
        &mut self,
        sentences: &[String],
        pool: Pool,
        language: Language,
        _seed: u64,
    ) -> Result<Vec<f32>> {
        // GenSen's encoder has no dropout of its own; heads apply theirs.
        let opts = options(pool, language);
        let tokens = sentences
            .iter()
            .map(|s| self.model.tokenize(s, &opts).map(|t| t.ids))
            .collect::<Result<Vec<_>>>()?;
        let seqs: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        self.tape.reset();
        self.tape.set_recording(true);
        let (_, sentence) = self.model.forward(&mut self.tape, &seqs, pool)?;
        self.sentence = Some(sentence);
        self.tape.value(sentence)
    }

    fn backward(&mut self, grad_vectors: &[f32]) -> Result<()> {
        let sentence = self
            .sentence
            .take()
            .ok_or_else(|| Error::Invalid("backward without a training forward pass".into()))?;
        self.tape.add_grad(sentence, grad_vectors)?;
        self.tape.backward(&mut self.model.params)
    }

    fn grad_norm_sq(&mut self) -> Result<f64> {
        self.model.params.grad_sq_norm(&mut self.norm_sq)?;
        Ok(self.tape.backend().to_host(&self.norm_sq, 1)?[0] as f64)
    }

    fn step(&mut self, lr: f32, scale: f32) -> Result<()> {
        self.steps += 1;
        // Adam scales gradients by max_norm / (sqrt(norm_sq) + 1e-6) when below one; a
        // norm of 1/scale - 1e-6 against max_norm 1 makes that factor exactly `scale`.
        let scale = scale.clamp(1e-12, 1.0) as f64;
        let fake_norm = (1.0 / scale - 1e-6).max(0.0);
        let backend = self.tape.backend().clone();
        backend.write(&mut self.norm_sq, &[(fake_norm * fake_norm) as f32])?;
        let hp = AdamStep {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: self.steps,
            max_norm: 1.0,
        };
        self.model.params.adam_step(&hp, &self.norm_sq)?;
        self.model.params.zero_grads()
    }

    fn encode(&mut self, sentences: &[String], pool: Pool, language: Language) -> Result<Vec<f32>> {
        let rep =
            self.model
                .get_representation(&mut self.tape, sentences, &options(pool, language))?;
        Ok(rep.sentence)
    }

    fn save(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        save_safetensors(&dir.join(WEIGHTS_FILE), &self.model.params.to_host()?, None)?;
        crate::data::write_atomic(
            &dir.join(TOKENIZER_FILE),
            self.model.tokenizer.model_bytes(),
        )?;
        write_meta(dir, &self.model.meta)
    }

    fn reset(&mut self) -> Result<()> {
        for (name, (shape, data)) in &self.initial {
            self.model.params.load(name, shape, data)?;
        }
        self.model.params.reset_moments()?;
        self.model.params.zero_grads()?;
        self.steps = 0;
        self.sentence = None;
        Ok(())
    }
}
