//! Named parameters with their gradients and Adam moments, stored on one backend.
//!
//! Names follow PyTorch's `state_dict` (`encoder.weight_ih_l0_reverse`, ...), so weights
//! can be exchanged with PyTorch through safetensors files unchanged.

use std::collections::{BTreeMap, HashMap};

use crate::engine::backend::{AdamStep, Backend};
use crate::engine::rng::Rng;
use crate::error::{Error, Result};

/// Tensors on the host by name: (shape, values).
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Adam's moments on the host by parameter name: (first, second).
pub type HostMoments = BTreeMap<String, (Vec<f32>, Vec<f32>)>;

/// Handle of one parameter inside a [`Params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub(crate) usize);

/// One parameter tensor.
pub struct Param<B: Backend> {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: B::Buf,
    /// Present once training is enabled; accumulated by backward, zeroed every step.
    pub grad: Option<B::Buf>,
    /// Adam's first and second moments.
    pub moments: Option<(B::Buf, B::Buf)>,
    /// Frozen parameters get no gradient and no update.
    pub trainable: bool,
    /// Whether backward wrote a gradient since the last [`Params::zero_grads`]. Adam skips
    /// untouched parameters (a decoder whose task sat out the step), as PyTorch skips
    /// parameters whose gradient is `None`.
    pub touched: bool,
    /// Adam updates applied to this parameter (its own bias-correction count).
    pub steps: u64,
    /// A reduced-precision copy of `value` for inference (see [`Params::make_half`]);
    /// dropped whenever the value may change.
    pub half: Option<B::Half>,
}

impl<B: Backend> Param<B> {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// How a parameter is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in [-a, a].
    Uniform(f32),
    /// All zeros.
    Zeros,
}

/// A set of named parameters on one backend.
pub struct Params<B: Backend> {
    backend: B,
    params: Vec<Param<B>>,
    by_name: HashMap<String, ParamId>,
}

impl<B: Backend> Params<B> {
    /// An empty set on `backend`.
    pub fn new(backend: B) -> Self {
        Params {
            backend,
            params: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// The backend the parameters live on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Adds a parameter initialised from `rng`. Names must be unique.
    pub fn add(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
        rng: &mut Rng,
    ) -> Result<ParamId> {
        let numel = shape.iter().product();
        let host: Vec<f32> = match init {
            Init::Uniform(a) => (0..numel).map(|_| rng.uniform(-a, a)).collect(),
            Init::Zeros => vec![0.0; numel],
        };
        self.add_from_host(name, shape, &host)
    }

    /// Adds a parameter with the given values.
    pub fn add_from_host(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<ParamId> {
        let numel: usize = shape.iter().product();
        if data.len() != numel {
            return Err(Error::shape(
                "param",
                format!("{name} {shape:?}"),
                format!("{} values", data.len()),
            ));
        }
        if self.by_name.contains_key(name) {
            return Err(Error::Invalid(format!("parameter '{name}' defined twice")));
        }
        let id = ParamId(self.params.len());
        self.params.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            value: self.backend.from_host(data)?,
            grad: None,
            moments: None,
            trainable: true,
            touched: false,
            steps: 0,
            half: None,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// The parameter called `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).copied()
    }

    /// Parameter `id`.
    pub fn get(&self, id: ParamId) -> &Param<B> {
        &self.params[id.0]
    }

    /// Parameter `id`, mutably. Its half-precision copy, if any, is dropped: the caller
    /// may change the value.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Param<B> {
        let p = &mut self.params[id.0];
        p.half = None;
        p
    }

    /// Keeps a half-precision copy of matrix parameter `id` beside its value (the layout
    /// of [`Backend::half_weights`]), which inference's small-batch GRU steps read instead
    /// of the f32 weights. Any later change of the value (Adam, loading, [`Params::get_mut`])
    /// drops the copy, so it never goes stale.
    pub fn make_half(&mut self, id: ParamId) -> Result<()> {
        let p = &mut self.params[id.0];
        let (rows, cols) = match p.shape[..] {
            [rows, cols] => (rows, cols),
            _ => {
                return Err(Error::shape(
                    "make_half",
                    format!("{} as a matrix", p.name),
                    format!("{:?}", p.shape),
                ))
            }
        };
        p.half = Some(self.backend.half_weights(&p.value, rows, cols)?);
        Ok(())
    }

    /// Drops every half-precision copy.
    pub fn drop_half(&mut self) {
        for p in &mut self.params {
            p.half = None;
        }
    }

    /// Every parameter in creation order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Param<B>)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i), p))
    }

    /// Number of parameters tensors.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.params.iter().map(Param::numel).sum()
    }

    /// Freezes or unfreezes every parameter whose name starts with `prefix`.
    pub fn set_trainable(&mut self, prefix: &str, trainable: bool) {
        for p in &mut self.params {
            if p.name.starts_with(prefix) {
                p.trainable = trainable;
            }
        }
    }

    /// Allocates gradients (and Adam moments) for the trainable parameters.
    pub fn enable_training(&mut self) -> Result<()> {
        for p in &mut self.params {
            if p.trainable && p.grad.is_none() {
                let n = p.numel();
                p.grad = Some(self.backend.zeros(n)?);
                p.moments = Some((self.backend.zeros(n)?, self.backend.zeros(n)?));
            }
        }
        Ok(())
    }

    /// Each parameter's Adam update count, by name (for checkpoints).
    pub fn adam_steps(&self) -> BTreeMap<String, u64> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.steps))
            .collect()
    }

    /// Restores Adam update counts saved by [`Params::adam_steps`].
    pub fn set_adam_steps(&mut self, steps: &BTreeMap<String, u64>) {
        for p in &mut self.params {
            if let Some(&s) = steps.get(&p.name) {
                p.steps = s;
            }
        }
    }

    /// Sets every Adam moment to zero (a fresh optimiser).
    pub fn reset_moments(&mut self) -> Result<()> {
        for p in &mut self.params {
            p.steps = 0;
            let n = p.numel();
            if let Some((m, v)) = p.moments.as_mut() {
                self.backend.fill(m, n, 0.0)?;
                self.backend.fill(v, n, 0.0)?;
            }
        }
        Ok(())
    }

    /// Marks every parameter as having a gradient this step (for gradients written
    /// outside the tape).
    pub fn touch_all(&mut self) {
        for p in &mut self.params {
            p.touched = p.grad.is_some();
        }
    }

    /// Sets every gradient to zero.
    pub fn zero_grads(&mut self) -> Result<()> {
        for p in &mut self.params {
            p.touched = false;
            let n = p.numel();
            if let Some(g) = p.grad.as_mut() {
                self.backend.fill(g, n, 0.0)?;
            }
        }
        Ok(())
    }

    /// Takes parameter `id`'s gradient out, so it can be written while other parameters are
    /// read; give it back with [`Params::put_grad`]. `None` for frozen parameters.
    pub(crate) fn take_grad(&mut self, id: ParamId) -> Option<B::Buf> {
        self.params[id.0].grad.take()
    }

    pub(crate) fn put_grad(&mut self, id: ParamId, grad: Option<B::Buf>) {
        if grad.is_some() {
            self.params[id.0].grad = grad;
            self.params[id.0].touched = true;
        }
    }

    /// The global squared gradient norm of the parameters touched since the last
    /// [`Params::zero_grads`] (see [`Params::touch_all`]), left on the device in `out[0]`
    /// (overwritten).
    pub fn grad_sq_norm(&self, out: &mut B::Buf) -> Result<()> {
        self.backend.fill(out, 1, 0.0)?;
        // Untouched gradients are zero since the last `zero_grads` (a decoder whose task
        // sat out the step): they add nothing.
        for p in self.params.iter().filter(|p| p.touched) {
            if let Some(g) = p.grad.as_ref() {
                self.backend.sq_norm(g, p.numel(), out)?;
            }
        }
        Ok(())
    }

    /// One Adam update of every parameter that received a gradient this step, clipping the
    /// global gradient norm to `hp.max_norm` using the squared norm already in
    /// `norm_sq[0]`. Each parameter counts its own updates for bias correction, as PyTorch
    /// does; `hp.step` is ignored.
    pub fn adam_step(&mut self, hp: &AdamStep, norm_sq: &B::Buf) -> Result<()> {
        for p in self.params.iter_mut().filter(|p| p.touched) {
            let n = p.numel();
            if let (Some(g), Some((m, v))) = (p.grad.as_ref(), p.moments.as_mut()) {
                p.steps += 1;
                p.half = None;
                let hp = AdamStep {
                    step: p.steps,
                    ..*hp
                };
                self.backend.adam(&mut p.value, g, m, v, n, &hp, norm_sq)?;
            }
        }
        Ok(())
    }

    /// Every parameter's values on the host, by name.
    pub fn to_host(&self) -> Result<HostTensors> {
        let mut out = BTreeMap::new();
        for p in &self.params {
            let data = self.backend.to_host(&p.value, p.numel())?;
            out.insert(p.name.clone(), (p.shape.clone(), data));
        }
        Ok(out)
    }

    /// Adam moments on the host, by name (`m` then `v`), for checkpoints.
    pub fn moments_to_host(&self) -> Result<HostMoments> {
        let mut out = BTreeMap::new();
        for p in &self.params {
            if let Some((m, v)) = p.moments.as_ref() {
                let n = p.numel();
                out.insert(
                    p.name.clone(),
                    (self.backend.to_host(m, n)?, self.backend.to_host(v, n)?),
                );
            }
        }
        Ok(out)
    }

    /// Overwrites parameter `name` with `data`, checking the shape.
    pub fn load(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let id = self
            .id(name)
            .ok_or_else(|| Error::Invalid(format!("unknown parameter '{name}'")))?;
        let p = &mut self.params[id.0];
        if p.shape != shape || data.len() != p.numel() {
            return Err(Error::shape(
                "load",
                format!("{name} {:?}", p.shape),
                format!("{shape:?}"),
            ));
        }
        p.half = None;
        self.backend.write(&mut p.value, data)
    }

    /// Overwrites the Adam moments of parameter `name`.
    pub fn load_moments(&mut self, name: &str, m: &[f32], v: &[f32]) -> Result<()> {
        let id = self
            .id(name)
            .ok_or_else(|| Error::Invalid(format!("unknown parameter '{name}'")))?;
        let p = &mut self.params[id.0];
        let n = p.numel();
        if m.len() != n || v.len() != n {
            return Err(Error::shape(
                "load_moments",
                format!("{name}: {n}"),
                format!("{}, {}", m.len(), v.len()),
            ));
        }
        let (bm, bv) = p
            .moments
            .as_mut()
            .ok_or_else(|| Error::Invalid(format!("'{name}' has no optimiser state")))?;
        self.backend.write(bm, m)?;
        self.backend.write(bv, v)
    }
}
