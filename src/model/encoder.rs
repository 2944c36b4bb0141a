//! The shared sentence encoder: a source embedding and a stack of (bi)directional GRU
//! layers, with PyTorch's parameter names so weights load into `torch.nn.GRU` unchanged.

use serde::{Deserialize, Serialize};

use crate::engine::rng::Rng;
use crate::engine::{Backend, GruDims, GruParams, IdsVar, Init, ParamId, Params, Pool, Tape, Var};
use crate::error::{Error, Result};

/// GenSen's padding id.
pub const PAD_ID: u32 = 1;

/// The encoder's dimensions, as stored in `encoder.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// Source vocabulary size.
    pub vocab: usize,
    /// Word embedding size (`dim_word_src`).
    pub dim_word: usize,
    /// Units per direction (`dim_src / 2` when bidirectional).
    pub hidden: usize,
    /// Stacked GRU layers (`n_layers_src`).
    pub layers: usize,
    pub bidirectional: bool,
    /// The padding id, whose embedding row gets no gradient.
    pub pad_id: u32,
}

impl EncoderConfig {
    /// Number of directions.
    pub fn dirs(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Size of per-token states and sentence vectors.
    pub fn dim(&self) -> usize {
        self.dirs() * self.hidden
    }
}

/// A batch of token ids, time-major: `ids[t * batch + b]`.
#[derive(Clone, Copy, Debug)]
pub struct SeqInput<'a> {
    pub ids: &'a [u32],
    pub lens: &'a [u32],
    pub seq_len: usize,
    pub batch: usize,
}

impl SeqInput<'_> {
    /// Checks that the ids and lengths agree with the declared shape.
    pub fn validate(&self, what: &'static str) -> Result<()> {
        if self.ids.len() != self.seq_len * self.batch || self.lens.len() != self.batch {
            return Err(Error::shape(
                what,
                format!(
                    "({}, {}) ids and {} lengths",
                    self.seq_len, self.batch, self.batch
                ),
                format!("{} ids and {} lengths", self.ids.len(), self.lens.len()),
            ));
        }
        if let Some(&bad) = self
            .lens
            .iter()
            .find(|&&l| l == 0 || l as usize > self.seq_len)
        {
            return Err(Error::shape(
                what,
                format!("lengths in 1..={}", self.seq_len),
                format!("{bad}"),
            ));
        }
        Ok(())
    }
}

/// The encoder's output for one batch.
#[derive(Clone, Copy, Debug)]
pub struct Encoded {
    /// Per-token states of the top layer: (T, B, D*H), zero past each sequence's end.
    pub hidden: Var,
    pub lens: IdsVar,
    pub dims: GruDims,
}

/// Parameter handles of the encoder inside a [`Params`].
#[derive(Clone, Debug)]
pub struct Encoder {
    pub config: EncoderConfig,
    pub embedding: crate::engine::ParamId,
    pub layers: Vec<GruParams>,
}

/// PyTorch's name of a GRU parameter, e.g. `weight_ih_l0_reverse`.
pub fn gru_param_name(kind: &str, layer: usize, dir: usize) -> String {
    let suffix = if dir == 1 { "_reverse" } else { "" };
    format!("{kind}_l{layer}{suffix}")
}

impl Encoder {
    /// Name of the source embedding.
    pub const EMBEDDING: &'static str = "src_embedding.weight";
    /// Prefix of the GRU's parameters.
    pub const PREFIX: &'static str = "encoder.";

    /// Creates freshly initialised encoder parameters in `params`: embeddings uniform in
    /// +-0.1, GRU weights uniform in +-1/sqrt(H), as GenSen.
    pub fn init<B: Backend>(
        params: &mut Params<B>,
        config: EncoderConfig,
        rng: &mut Rng,
    ) -> Result<Self> {
        params.add(
            Self::EMBEDDING,
            &[config.vocab, config.dim_word],
            Init::Uniform(0.1),
            rng,
        )?;
        let a = 1.0 / (config.hidden as f32).sqrt();
        for layer in 0..config.layers {
            let input = Self::layer_input(&config, layer);
            for d in 0..config.dirs() {
                let hs = config.hidden;
                let name = |kind| format!("{}{}", Self::PREFIX, gru_param_name(kind, layer, d));
                params.add(&name("weight_ih"), &[3 * hs, input], Init::Uniform(a), rng)?;
                params.add(&name("weight_hh"), &[3 * hs, hs], Init::Uniform(a), rng)?;
                params.add(&name("bias_ih"), &[3 * hs], Init::Uniform(a), rng)?;
                params.add(&name("bias_hh"), &[3 * hs], Init::Uniform(a), rng)?;
            }
        }
        Self::bind(params, config)
    }

    fn layer_input(config: &EncoderConfig, layer: usize) -> usize {
        if layer == 0 {
            config.dim_word
        } else {
            config.dim()
        }
    }

    /// Every GRU weight matrix (input and recurrent, all layers and directions): the
    /// parameters that get f16 copies for low-latency inference.
    pub fn gru_matrices(&self) -> impl Iterator<Item = ParamId> + '_ {
        self.layers
            .iter()
            .flat_map(|l| l.w_ih.iter().chain(&l.w_hh).copied())
    }

    /// Finds the encoder's parameters in `params` by name and checks their shapes.
    pub fn bind<B: Backend>(params: &Params<B>, config: EncoderConfig) -> Result<Self> {
        let find = |name: &str, shape: &[usize]| {
            let id = params
                .id(name)
                .ok_or_else(|| Error::Invalid(format!("encoder parameter '{name}' is missing")))?;
            if params.get(id).shape != shape {
                return Err(Error::shape(
                    "encoder",
                    format!("{name} {shape:?}"),
                    format!("{:?}", params.get(id).shape),
                ));
            }
            Ok(id)
        };
        let embedding = find(Self::EMBEDDING, &[config.vocab, config.dim_word])?;
        let hs = config.hidden;
        let mut layers = Vec::with_capacity(config.layers);
        for layer in 0..config.layers {
            let input = Self::layer_input(&config, layer);
            let mut p = GruParams {
                w_ih: vec![],
                w_hh: vec![],
                b_ih: vec![],
                b_hh: vec![],
                input,
                hidden: hs,
            };
            for d in 0..config.dirs() {
                let name = |kind| format!("{}{}", Self::PREFIX, gru_param_name(kind, layer, d));
                p.w_ih.push(find(&name("weight_ih"), &[3 * hs, input])?);
                p.w_hh.push(find(&name("weight_hh"), &[3 * hs, hs])?);
                p.b_ih.push(find(&name("bias_ih"), &[3 * hs])?);
                p.b_hh.push(find(&name("bias_hh"), &[3 * hs])?);
            }
            layers.push(p);
        }
        Ok(Encoder {
            config,
            embedding,
            layers,
        })
    }

    /// Runs the embedding and every layer; sequences may come in any order and length.
    pub fn forward<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        params: &Params<B>,
        input: SeqInput<'_>,
    ) -> Result<Encoded> {
        input.validate("encoder")?;
        let ids = tape.ids(input.ids)?;
        let lens = tape.ids(input.lens)?;
        let mut x = tape.embedding(params, self.embedding, ids, self.config.pad_id)?;
        for layer in &self.layers {
            x = tape.gru(
                params,
                layer,
                x,
                input.seq_len,
                input.batch,
                Some(lens),
                None,
                None,
            )?;
        }
        Ok(Encoded {
            hidden: x,
            lens,
            dims: GruDims {
                seq_len: input.seq_len,
                batch: input.batch,
                hidden: self.config.hidden,
                dirs: self.config.dirs(),
            },
        })
    }

    /// Pools the encoder's states into sentence vectors: (B, D*H).
    pub fn sentence<B: Backend>(
        &self,
        tape: &mut Tape<B>,
        encoded: &Encoded,
        pool: Pool,
    ) -> Result<Var> {
        tape.pool(pool, encoded.hidden, encoded.lens, encoded.dims)
    }
}
