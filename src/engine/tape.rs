//! A small autograd tape specialised for GenSen's graph.
//!
//! Nodes are coarse: a whole GRU layer, a whole projection-plus-loss, a pooling. Each
//! records the variables it read and what its backward needs; [`Tape::backward`] replays
//! them in reverse. Every buffer comes from a pool that [`Tape::reset`] refills, so once
//! the shapes of a step have been seen, later steps allocate nothing.
//!
//! Gradients of parameters accumulate into [`Params`]; gradients of variables are created
//! (zeroed) the first time something flows into them.

use crate::engine::backend::{
    Backend, Gemm, GruBackward, GruDims, GruForward, GruWeights, Pool, HALF_MAX_BATCH,
};
use crate::engine::params::{ParamId, Params};
use crate::error::{Error, Result};

/// A tensor produced during the current step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(usize);

/// Ids uploaded for the current step (tokens, lengths, labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdsVar(usize);

/// A loss recorded on the tape: its device sum and the number of tokens it averages over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loss {
    slot: usize,
    /// Rows that carry a target (not the ignore id).
    pub count: usize,
}

/// The parameters of one GRU layer, per direction.
#[derive(Clone, Debug)]
pub struct GruParams {
    pub w_ih: Vec<ParamId>,
    pub w_hh: Vec<ParamId>,
    pub b_ih: Vec<ParamId>,
    pub b_hh: Vec<ParamId>,
    pub input: usize,
    pub hidden: usize,
}

struct Slot<B: Backend> {
    buf: B::Buf,
    len: usize,
    grad: Option<B::Buf>,
    /// False for constants: backward computes no gradient for them.
    requires_grad: bool,
}

enum Node<B: Backend> {
    Embedding {
        table: ParamId,
        out: Var,
        ids: IdsVar,
        n: usize,
        dim: usize,
        pad_id: u32,
    },
    Linear {
        x: Var,
        w: ParamId,
        b: Option<ParamId>,
        out: Var,
        rows: usize,
        input: usize,
        output: usize,
    },
    Gru {
        layer: GruParams,
        x: Var,
        h0: Option<Var>,
        extra: Option<Var>,
        lens: Option<IdsVar>,
        dims: GruDims,
        out: Var,
        saved: B::Buf,
    },
    Pool {
        pool: Pool,
        h: Var,
        lens: IdsVar,
        argmax: B::Ids,
        dims: GruDims,
        out: Var,
    },
    Dropout {
        x: Var,
        out: Var,
        p: f32,
        seed: u64,
    },
    Relu {
        x: Var,
        out: Var,
    },
    PairFeatures {
        u: Var,
        v: Var,
        out: Var,
        batch: usize,
        dim: usize,
    },
    /// The gradient of the input was computed during the forward pass.
    ProjectionLoss {
        x: Var,
        dx: B::Buf,
        len: usize,
    },
}

/// Records one step's computation and back-propagates through it.
pub struct Tape<B: Backend> {
    backend: B,
    recording: bool,
    slots: Vec<Slot<B>>,
    ids: Vec<(B::Ids, usize)>,
    nodes: Vec<Node<B>>,
    /// Device scalars: [loss sum, correct count] per loss.
    scalars: Vec<B::Buf>,
    free: Vec<B::Buf>,
    free_ids: Vec<B::Ids>,
    free_scalars: Vec<B::Buf>,
    ones: Option<B::Buf>,
    ones_len: usize,
    /// Rows of logits materialised at once by [`Tape::projection_loss`].
    pub loss_chunk_rows: usize,
}

/// Pooled buffers are sized up to a power of two above this, so that steps whose shapes
/// differ slightly still reuse them.
const EXACT_BELOW: usize = 4096;

/// The size to allocate for a request of `len` elements: exact for small buffers, the next
/// power of two above [`EXACT_BELOW`], so that nearby shapes share pooled buffers.
fn pooled_size(len: usize) -> usize {
    let size = if len < EXACT_BELOW {
        len
    } else {
        len.next_power_of_two()
    };
    size.max(1)
}

/// Removes and returns the smallest buffer of `free` holding at least `len` elements.
fn take_best_fit<T>(free: &mut Vec<T>, len: usize, size: impl Fn(&T) -> usize) -> Option<T> {
    let best = (0..free.len())
        .filter(|&i| size(&free[i]) >= len)
        .min_by_key(|&i| size(&free[i]))?;
    Some(free.swap_remove(best))
}

impl<B: Backend> Tape<B> {
    /// An empty tape on `backend` that records for backward.
    pub fn new(backend: B) -> Self {
        Tape {
            backend,
            recording: true,
            slots: Vec::new(),
            ids: Vec::new(),
            nodes: Vec::new(),
            scalars: Vec::new(),
            free: Vec::new(),
            free_ids: Vec::new(),
            free_scalars: Vec::new(),
            ones: None,
            ones_len: 0,
            loss_chunk_rows: 1024,
        }
    }

    /// The backend the tape runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether operations are recorded for backward (training) or not (inference).
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Whether operations are recorded for backward.
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Starts a new step: forgets the graph and returns every buffer to the pool.
    pub fn reset(&mut self) {
        for slot in self.slots.drain(..) {
            self.free.push(slot.buf);
            if let Some(g) = slot.grad {
                self.free.push(g);
            }
        }
        for node in self.nodes.drain(..) {
            match node {
                Node::Gru { saved, .. } => self.free.push(saved),
                Node::ProjectionLoss { dx, .. } => self.free.push(dx),
                Node::Pool { argmax, .. } => self.free_ids.push(argmax),
                _ => {}
            }
        }
        self.free_ids.extend(self.ids.drain(..).map(|(b, _)| b));
        self.free_scalars.append(&mut self.scalars);
    }

    // ---- buffers ------------------------------------------------------------------------

    fn alloc(&mut self, len: usize) -> Result<B::Buf> {
        let backend = &self.backend;
        match take_best_fit(&mut self.free, len, |b| backend.buf_len(b)) {
            Some(buf) => Ok(buf),
            None => self.backend.zeros(pooled_size(len)),
        }
    }

    fn alloc_zeroed(&mut self, len: usize) -> Result<B::Buf> {
        let mut buf = self.alloc(len)?;
        self.backend.fill(&mut buf, len, 0.0)?;
        Ok(buf)
    }

    fn alloc_ids(&mut self, len: usize) -> Result<B::Ids> {
        let backend = &self.backend;
        match take_best_fit(&mut self.free_ids, len, |b| backend.ids_len(b)) {
            Some(buf) => Ok(buf),
            None => self.backend.ids_from_host(&vec![0; pooled_size(len)]),
        }
    }

    fn push_var(&mut self, buf: B::Buf, len: usize) -> Var {
        self.slots.push(Slot {
            buf,
            len,
            grad: None,
            requires_grad: true,
        });
        Var(self.slots.len() - 1)
    }

    fn check_len(&self, op: &'static str, var: Var, want: usize) -> Result<()> {
        let have = self.slots[var.0].len;
        if have != want {
            return Err(Error::shape(
                op,
                format!("{want} elements"),
                format!("{have}"),
            ));
        }
        Ok(())
    }

    /// Number of elements of `var`.
    pub fn len(&self, var: Var) -> usize {
        self.slots[var.0].len
    }

    /// The device buffer holding `var`.
    pub fn buf(&self, var: Var) -> &B::Buf {
        &self.slots[var.0].buf
    }

    /// `var`'s values on the host.
    pub fn value(&self, var: Var) -> Result<Vec<f32>> {
        let slot = &self.slots[var.0];
        self.backend.to_host(&slot.buf, slot.len)
    }

    /// `var`'s gradient on the host (zeros when nothing flowed into it).
    pub fn grad(&self, var: Var) -> Result<Vec<f32>> {
        let slot = &self.slots[var.0];
        match slot.grad.as_ref() {
            Some(g) => self.backend.to_host(g, slot.len),
            None => Ok(vec![0.0; slot.len]),
        }
    }

    /// Takes `var`'s gradient out (zeroed on first use) to write it while reading others.
    fn take_grad(&mut self, var: Var) -> Result<B::Buf> {
        match self.slots[var.0].grad.take() {
            Some(g) => Ok(g),
            None => self.alloc_zeroed(self.slots[var.0].len),
        }
    }

    fn put_grad(&mut self, var: Var, grad: B::Buf) {
        self.slots[var.0].grad = Some(grad);
    }

    /// Seeds the gradient of `var` with `grad` (added to what is there).
    pub fn add_grad(&mut self, var: Var, grad: &[f32]) -> Result<()> {
        self.check_len("add_grad", var, grad.len())?;
        let mut g = self.take_grad(var)?;
        let src = self.backend.from_host(grad)?;
        self.backend.axpy(1.0, &src, &mut g, grad.len())?;
        self.put_grad(var, g);
        Ok(())
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Uploads ids for this step.
    pub fn ids(&mut self, data: &[u32]) -> Result<IdsVar> {
        let mut buf = self.alloc_ids(data.len())?;
        self.backend.write_ids(&mut buf, data)?;
        self.ids.push((buf, data.len()));
        Ok(IdsVar(self.ids.len() - 1))
    }

    /// Number of ids in `ids`.
    pub fn ids_len(&self, ids: IdsVar) -> usize {
        self.ids[ids.0].1
    }

    /// Uploads a constant: backward computes no gradient for it.
    pub fn input(&mut self, data: &[f32]) -> Result<Var> {
        let mut buf = self.alloc(data.len())?;
        self.backend.write(&mut buf, data)?;
        let var = self.push_var(buf, data.len());
        self.slots[var.0].requires_grad = false;
        Ok(var)
    }

    // ---- layers -------------------------------------------------------------------------

    /// Rows of `table` for each id: (n, dim). Rows for `pad_id` get no gradient.
    pub fn embedding(
        &mut self,
        params: &Params<B>,
        table: ParamId,
        ids: IdsVar,
        pad_id: u32,
    ) -> Result<Var> {
        let p = params.get(table);
        let (vocab, dim) = (p.shape[0], p.shape[1]);
        let n = self.ids_len(ids);
        let host_ids = self.backend.ids_to_host(&self.ids[ids.0].0, n)?;
        if let Some(&bad) = host_ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(Error::shape(
                "embedding",
                format!("ids below {vocab}"),
                format!("id {bad}"),
            ));
        }
        let mut ob = self.alloc(n * dim)?;
        self.backend
            .embedding_forward(&p.value, &self.ids[ids.0].0, n, dim, &mut ob)?;
        let out = self.push_var(ob, n * dim);
        if self.recording {
            self.nodes.push(Node::Embedding {
                table,
                out,
                ids,
                n,
                dim,
                pad_id,
            });
        }
        Ok(out)
    }

    /// `x W^T + b` for `x` of (rows, input) and `W` of (output, input).
    pub fn linear(
        &mut self,
        params: &Params<B>,
        w: ParamId,
        b: Option<ParamId>,
        x: Var,
        rows: usize,
    ) -> Result<Var> {
        let (output, input) = {
            let s = &params.get(w).shape;
            (s[0], s[1])
        };
        self.check_len("linear", x, rows * input)?;
        let mut ob = self.alloc(rows * output)?;
        let g = Gemm::new(rows, output, input, false, true);
        self.backend
            .gemm(&g, &self.slots[x.0].buf, &params.get(w).value, &mut ob)?;
        if let Some(b) = b {
            self.backend
                .add_bias(&mut ob, &params.get(b).value, rows, output)?;
        }
        let out = self.push_var(ob, rows * output);
        if self.recording {
            self.nodes.push(Node::Linear {
                x,
                w,
                b,
                out,
                rows,
                input,
                output,
            });
        }
        Ok(out)
    }

    /// A (bi)directional GRU layer over `x` (T, B, input), time-major; returns (T, B, D*H).
    /// `h0` (D, B, H) and `extra` (D, B, 3H) are optional; see [`GruForward`].
    #[allow(clippy::too_many_arguments)]
    pub fn gru(
        &mut self,
        params: &Params<B>,
        layer: &GruParams,
        x: Var,
        seq_len: usize,
        batch: usize,
        lens: Option<IdsVar>,
        h0: Option<Var>,
        extra: Option<Var>,
    ) -> Result<Var> {
        let dirs = layer.w_ih.len();
        let (hs, input) = (layer.hidden, layer.input);
        let dims = GruDims {
            seq_len,
            batch,
            hidden: hs,
            dirs,
        };
        self.check_len("gru", x, seq_len * batch * input)?;
        if let Some(h0) = h0 {
            self.check_len("gru h0", h0, dirs * batch * hs)?;
        }
        if let Some(e) = extra {
            self.check_len("gru extra", e, dirs * batch * 3 * hs)?;
        }
        if let Some(l) = lens {
            if self.ids_len(l) != batch {
                return Err(Error::shape(
                    "gru",
                    format!("{batch} lengths"),
                    self.ids_len(l).to_string(),
                ));
            }
        }
        let rows = seq_len * batch;
        let step = rows * 3 * hs;

        // Input projections of every step at once: (D, T*B, 3H). Inference on a few
        // sequences reads half-precision weights where the parameters carry them.
        let mut xproj = self.alloc(dirs * step)?;
        // The one place that decides: a recorded forward must be the one its backward
        // differentiates, and large batches are bound by arithmetic, not weight traffic.
        let use_half = !self.recording && batch <= HALF_MAX_BATCH;
        let half: Option<Vec<&B::Half>> = if use_half {
            (0..dirs)
                .map(|d| params.get(layer.w_ih[d]).half.as_ref())
                .collect()
        } else {
            None
        };
        if let Some(half) = &half {
            self.backend
                .project_half(&self.slots[x.0].buf, rows, half, &mut xproj)?;
        }
        for d in (0..dirs).filter(|_| half.is_none()) {
            let g = Gemm {
                c_off: d * step,
                ..Gemm::new(rows, 3 * hs, input, false, true)
            };
            self.backend.gemm(
                &g,
                &self.slots[x.0].buf,
                &params.get(layer.w_ih[d]).value,
                &mut xproj,
            )?;
        }
        self.add_bias_blocks(&mut xproj, params, &layer.b_ih, rows, 3 * hs)?;

        let mut saved = if self.recording {
            Some(self.alloc(dirs * rows * 4 * hs)?)
        } else {
            None
        };
        let weights: Vec<GruWeights<'_, B>> = (0..dirs)
            .map(|d| GruWeights {
                w_hh: &params.get(layer.w_hh[d]).value,
                b_hh: &params.get(layer.b_hh[d]).value,
                w_hh_half: if use_half {
                    params.get(layer.w_hh[d]).half.as_ref()
                } else {
                    None
                },
            })
            .collect();
        let mut out_buf = self.alloc(rows * dirs * hs)?;
        self.backend.gru_forward(GruForward {
            dims,
            weights: &weights,
            xproj: &xproj,
            extra: extra.map(|e| &self.slots[e.0].buf),
            h0: h0.map(|h| &self.slots[h.0].buf),
            lens: lens.map(|l| &self.ids[l.0].0),
            out: &mut out_buf,
            saved: saved.as_mut(),
        })?;
        let out = self.push_var(out_buf, rows * dirs * hs);
        self.free.push(xproj);
        if let Some(saved) = saved {
            self.nodes.push(Node::Gru {
                layer: layer.clone(),
                x,
                h0,
                extra,
                lens,
                dims,
                out,
                saved,
            });
        }
        Ok(out)
    }

    /// A device vector of at least `n` ones, for bias sums expressed as GEMMs.
    fn ones(&mut self, n: usize) -> Result<B::Buf> {
        if self.ones_len < n {
            let len = n.next_power_of_two();
            self.ones = Some(self.backend.from_host(&vec![1.0; len])?);
            self.ones_len = len;
        }
        let ones = self.ones.take().expect("ones buffer exists");
        Ok(ones)
    }

    /// Adds `biases[d]` to every row of block `d` of `buf` (D blocks of (rows, cols)), as
    /// rank-one GEMMs `ones (rows, 1) x bias (1, cols)`, which work at any offset.
    fn add_bias_blocks(
        &mut self,
        buf: &mut B::Buf,
        params: &Params<B>,
        biases: &[ParamId],
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        let ones = self.ones(rows)?;
        for (d, &b) in biases.iter().enumerate() {
            let g = Gemm {
                c_off: d * rows * cols,
                ..Gemm::new(rows, cols, 1, false, false).accumulate()
            };
            self.backend.gemm(&g, &ones, &params.get(b).value, buf)?;
        }
        self.ones = Some(ones);
        Ok(())
    }

    /// Accumulates the column sums of block `block` (rows, cols) of `src` into `out`.
    fn sum_rows_block(
        &mut self,
        src: &B::Buf,
        block: usize,
        rows: usize,
        cols: usize,
        out: &mut B::Buf,
    ) -> Result<()> {
        let ones = self.ones(rows)?;
        let g = Gemm {
            b_off: block * rows * cols,
            ..Gemm::new(1, cols, rows, false, false).accumulate()
        };
        let result = self.backend.gemm(&g, &ones, src, out);
        self.ones = Some(ones);
        result
    }
}

impl<B: Backend> Tape<B> {
    /// Pools `h` (T, B, D*H) over each sequence's real steps: (B, D*H).
    pub fn pool(&mut self, pool: Pool, h: Var, lens: IdsVar, dims: GruDims) -> Result<Var> {
        let GruDims {
            seq_len,
            batch,
            hidden,
            dirs,
        } = dims;
        let width = dirs * hidden;
        self.check_len("pool", h, seq_len * batch * width)?;
        if self.ids_len(lens) != batch {
            return Err(Error::shape(
                "pool",
                format!("{batch} lengths"),
                self.ids_len(lens).to_string(),
            ));
        }
        let mut argmax = self.alloc_ids(batch * width)?;
        let mut ob = self.alloc(batch * width)?;
        self.backend.pool_forward(
            pool,
            &self.slots[h.0].buf,
            &self.ids[lens.0].0,
            dims,
            &mut ob,
            &mut argmax,
        )?;
        let out = self.push_var(ob, batch * width);
        if self.recording {
            self.nodes.push(Node::Pool {
                pool,
                h,
                lens,
                argmax,
                dims,
                out,
            });
        } else {
            self.free_ids.push(argmax);
        }
        Ok(out)
    }

    /// Inverted dropout with probability `p`; the identity when not recording or `p == 0`.
    pub fn dropout(&mut self, x: Var, p: f32, seed: u64) -> Result<Var> {
        if !self.recording || p <= 0.0 {
            return Ok(x);
        }
        if p >= 1.0 {
            return Err(Error::Invalid(format!(
                "dropout probability {p} must be below 1"
            )));
        }
        let n = self.len(x);
        let out_len = n;
        let mut ob = self.alloc(out_len)?;
        self.backend
            .dropout_forward(&self.slots[x.0].buf, &mut ob, n, p, seed)?;
        let out = self.push_var(ob, out_len);
        self.nodes.push(Node::Dropout { x, out, p, seed });
        Ok(out)
    }

    /// `max(x, 0)`.
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let n = self.len(x);
        let out_len = n;
        let mut ob = self.alloc(out_len)?;
        self.backend
            .relu_forward(&self.slots[x.0].buf, &mut ob, n)?;
        let out = self.push_var(ob, out_len);
        if self.recording {
            self.nodes.push(Node::Relu { x, out });
        }
        Ok(out)
    }

    /// `[u; v; |u - v|; u * v]` for u, v of (batch, dim): (batch, 4 dim).
    pub fn pair_features(&mut self, u: Var, v: Var, batch: usize, dim: usize) -> Result<Var> {
        self.check_len("pair_features u", u, batch * dim)?;
        self.check_len("pair_features v", v, batch * dim)?;
        let out_len = batch * 4 * dim;
        let mut ob = self.alloc(out_len)?;
        self.backend.pair_features_forward(
            &self.slots[u.0].buf,
            &self.slots[v.0].buf,
            &mut ob,
            batch,
            dim,
        )?;
        let out = self.push_var(ob, out_len);
        if self.recording {
            self.nodes.push(Node::PairFeatures {
                u,
                v,
                out,
                batch,
                dim,
            });
        }
        Ok(out)
    }

    /// Projects `x` (rows, H) to `W` (V, H)'s vocabulary and takes the mean softmax
    /// cross-entropy against `targets`, ignoring `ignore_id`, in chunks of
    /// [`Tape::loss_chunk_rows`] rows so the (rows, V) logits never exist at once.
    ///
    /// When recording, the gradients of `W`, `b` and `x` are computed here, chunk by
    /// chunk, while each chunk's logits are at hand: the loss is the last node of a step,
    /// so its upstream gradient is known to be one.
    pub fn projection_loss(
        &mut self,
        params: &mut Params<B>,
        w: ParamId,
        b: Option<ParamId>,
        x: Var,
        targets: &[u32],
        ignore_id: u32,
    ) -> Result<Loss> {
        let (vocab, hidden) = {
            let s = &params.get(w).shape;
            (s[0], s[1])
        };
        let rows = targets.len();
        self.check_len("projection_loss", x, rows * hidden)?;
        if let Some(&bad) = targets
            .iter()
            .find(|&&t| t != ignore_id && t as usize >= vocab)
        {
            return Err(Error::shape(
                "projection_loss",
                format!("targets below {vocab}"),
                format!("target {bad}"),
            ));
        }
        let count = targets.iter().filter(|&&t| t != ignore_id).count();
        let scale = if count > 0 { 1.0 / count as f32 } else { 0.0 };
        let target_ids = self.ids(targets)?;

        let mut sums = match self.free_scalars.pop() {
            Some(s) => s,
            None => self.backend.zeros(2)?,
        };
        let mut correct = match self.free_scalars.pop() {
            Some(s) => s,
            None => self.backend.zeros(2)?,
        };
        self.backend.fill(&mut sums, 1, 0.0)?;
        self.backend.fill(&mut correct, 1, 0.0)?;

        let chunk = self.loss_chunk_rows.max(1).min(rows.max(1));
        let mut logits = self.alloc(chunk * vocab)?;
        let mut dx = if self.recording && self.slots[x.0].requires_grad {
            Some(self.alloc_zeroed(rows * hidden)?)
        } else {
            None
        };
        let mut dw = if self.recording {
            params.take_grad(w)
        } else {
            None
        };
        let mut db = match (self.recording, b) {
            (true, Some(b)) => params.take_grad(b),
            _ => None,
        };
        let ones = self.ones(chunk)?;
        let mut start = 0;
        while start < rows {
            let n = chunk.min(rows - start);
            // logits = x_chunk W^T + b: (n, V).
            let g = Gemm {
                a_off: start * hidden,
                ..Gemm::new(n, vocab, hidden, false, true)
            };
            self.backend
                .gemm(&g, &self.slots[x.0].buf, &params.get(w).value, &mut logits)?;
            if let Some(b) = b {
                let g = Gemm::new(n, vocab, 1, false, false).accumulate();
                self.backend
                    .gemm(&g, &ones, &params.get(b).value, &mut logits)?;
            }
            self.backend.softmax_xent(
                &mut logits,
                &self.ids[target_ids.0].0,
                start,
                n,
                vocab,
                ignore_id,
                scale,
                &mut sums,
                &mut correct,
            )?;
            // `logits` now holds d loss / d logits.
            if let Some(dx) = dx.as_mut() {
                let g = Gemm {
                    c_off: start * hidden,
                    ..Gemm::new(n, hidden, vocab, false, false)
                };
                self.backend.gemm(&g, &logits, &params.get(w).value, dx)?;
            }
            if let Some(dw) = dw.as_mut() {
                let g = Gemm {
                    b_off: start * hidden,
                    ..Gemm::new(vocab, hidden, n, true, false).accumulate()
                };
                self.backend.gemm(&g, &logits, &self.slots[x.0].buf, dw)?;
            }
            if let Some(db) = db.as_mut() {
                let g = Gemm::new(1, vocab, n, false, false).accumulate();
                self.backend.gemm(&g, &ones, &logits, db)?;
            }
            start += n;
        }
        self.ones = Some(ones);
        params.put_grad(w, dw);
        if let Some(b) = b {
            params.put_grad(b, db);
        }
        self.free.push(logits);
        if let Some(dx) = dx {
            self.nodes.push(Node::ProjectionLoss {
                x,
                dx,
                len: rows * hidden,
            });
        }
        self.scalars.push(sums);
        self.scalars.push(correct);
        Ok(Loss {
            slot: self.scalars.len() - 2,
            count,
        })
    }

    /// The mean loss and the number of correctly predicted rows of `loss` (waits for the
    /// device).
    pub fn loss_value(&self, loss: Loss) -> Result<(f32, usize)> {
        let sum = self.backend.to_host(&self.scalars[loss.slot], 1)?[0];
        let correct = self.backend.to_host(&self.scalars[loss.slot + 1], 1)?[0];
        let mean = if loss.count > 0 {
            sum / loss.count as f32
        } else {
            0.0
        };
        Ok((mean, correct.round() as usize))
    }

    /// Row-wise argmax of `x` (rows, cols) on the host.
    pub fn argmax(&mut self, x: Var, rows: usize, cols: usize) -> Result<Vec<u32>> {
        self.check_len("argmax", x, rows * cols)?;
        let mut out = self.alloc_ids(rows)?;
        self.backend
            .argmax_rows(&self.slots[x.0].buf, rows, cols, &mut out)?;
        let host = self.backend.ids_to_host(&out, rows)?;
        self.free_ids.push(out);
        Ok(host)
    }

    // ---- backward -----------------------------------------------------------------------

    /// Back-propagates through every recorded node, newest first, accumulating parameter
    /// gradients into `params`. Call once per step, after the losses.
    pub fn backward(&mut self, params: &mut Params<B>) -> Result<()> {
        let nodes = std::mem::take(&mut self.nodes);
        let mut result = Ok(());
        for node in nodes.iter().rev() {
            result = self.backward_node(node, params);
            if result.is_err() {
                break;
            }
        }
        self.nodes = nodes;
        result
    }

    fn has_grad(&self, var: Var) -> bool {
        self.slots[var.0].grad.is_some()
    }

    fn wants_grad(&self, var: Var) -> bool {
        self.slots[var.0].requires_grad
    }

    fn backward_node(&mut self, node: &Node<B>, params: &mut Params<B>) -> Result<()> {
        match *node {
            Node::Embedding {
                table,
                out,
                ids,
                n,
                dim,
                pad_id,
            } => {
                let Some(mut dt) = params.take_grad(table) else {
                    return Ok(());
                };
                let result = match self.slots[out.0].grad.as_ref() {
                    Some(g) => self.backend.embedding_backward(
                        g,
                        &self.ids[ids.0].0,
                        n,
                        dim,
                        pad_id,
                        &mut dt,
                    ),
                    None => Ok(()),
                };
                params.put_grad(table, Some(dt));
                result
            }
            Node::Linear {
                x,
                w,
                b,
                out,
                rows,
                input,
                output,
            } => {
                if !self.has_grad(out) {
                    return Ok(());
                }
                if let Some(mut dw) = params.take_grad(w) {
                    let g = Gemm::new(output, input, rows, true, false).accumulate();
                    let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                    self.backend.gemm(&g, dout, &self.slots[x.0].buf, &mut dw)?;
                    params.put_grad(w, Some(dw));
                }
                if let Some(b) = b {
                    if let Some(mut db) = params.take_grad(b) {
                        let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                        self.backend.sum_rows(dout, rows, output, &mut db)?;
                        params.put_grad(b, Some(db));
                    }
                }
                if self.wants_grad(x) {
                    let mut dx = self.take_grad(x)?;
                    let g = Gemm::new(rows, input, output, false, false).accumulate();
                    let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                    self.backend.gemm(&g, dout, &params.get(w).value, &mut dx)?;
                    self.put_grad(x, dx);
                }
                Ok(())
            }
            Node::Gru {
                ref layer,
                x,
                h0,
                extra,
                lens,
                dims,
                out,
                ref saved,
            } => self.gru_backward(params, layer, x, h0, extra, lens, dims, out, saved),
            Node::Pool {
                pool,
                h,
                lens,
                ref argmax,
                dims,
                out,
            } => {
                if !self.has_grad(out) || !self.wants_grad(h) {
                    return Ok(());
                }
                let mut dh = self.take_grad(h)?;
                let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                self.backend.pool_backward(
                    pool,
                    dout,
                    &self.ids[lens.0].0,
                    argmax,
                    dims,
                    &mut dh,
                )?;
                self.put_grad(h, dh);
                Ok(())
            }
            Node::Dropout { x, out, p, seed } => {
                if !self.has_grad(out) || !self.wants_grad(x) {
                    return Ok(());
                }
                let n = self.len(x);
                let mut dx = self.take_grad(x)?;
                let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                self.backend.dropout_backward(dout, &mut dx, n, p, seed)?;
                self.put_grad(x, dx);
                Ok(())
            }
            Node::Relu { x, out } => {
                if !self.has_grad(out) || !self.wants_grad(x) {
                    return Ok(());
                }
                let n = self.len(x);
                let mut dx = self.take_grad(x)?;
                let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                self.backend
                    .relu_backward(&self.slots[out.0].buf, dout, &mut dx, n)?;
                self.put_grad(x, dx);
                Ok(())
            }
            Node::PairFeatures {
                u,
                v,
                out,
                batch,
                dim,
            } => {
                if !self.has_grad(out) {
                    return Ok(());
                }
                let mut du = self.take_grad(u)?;
                let mut dv = self.take_grad(v)?;
                let dout = self.slots[out.0].grad.as_ref().expect("checked above");
                self.backend.pair_features_backward(
                    &self.slots[u.0].buf,
                    &self.slots[v.0].buf,
                    dout,
                    &mut du,
                    &mut dv,
                    batch,
                    dim,
                )?;
                self.put_grad(u, du);
                self.put_grad(v, dv);
                Ok(())
            }
            Node::ProjectionLoss { x, ref dx, len } => {
                let mut g = self.take_grad(x)?;
                self.backend.axpy(1.0, dx, &mut g, len)?;
                self.put_grad(x, g);
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gru_backward(
        &mut self,
        params: &mut Params<B>,
        layer: &GruParams,
        x: Var,
        h0: Option<Var>,
        extra: Option<Var>,
        lens: Option<IdsVar>,
        dims: GruDims,
        out: Var,
        saved: &B::Buf,
    ) -> Result<()> {
        if !self.has_grad(out) {
            return Ok(());
        }
        let GruDims {
            seq_len,
            batch,
            hidden: hs,
            dirs,
        } = dims;
        let rows = seq_len * batch;
        let step = rows * 3 * hs;
        let mut dxproj = self.alloc(dirs * step)?;
        let mut work = self.alloc(dirs * step)?;

        // Recurrent weight gradients; frozen layers back-propagate into scratch.
        let mut dw_hh = Vec::with_capacity(dirs);
        let mut db_hh = Vec::with_capacity(dirs);
        for d in 0..dirs {
            dw_hh.push(match params.take_grad(layer.w_hh[d]) {
                Some(g) => (g, true),
                None => (self.alloc_zeroed(3 * hs * hs)?, false),
            });
            db_hh.push(match params.take_grad(layer.b_hh[d]) {
                Some(g) => (g, true),
                None => (self.alloc_zeroed(3 * hs)?, false),
            });
        }
        let mut dh0 = match h0 {
            Some(h) if self.wants_grad(h) => Some(self.take_grad(h)?),
            _ => None,
        };
        let mut dextra = match extra {
            Some(e) if self.wants_grad(e) => Some(self.take_grad(e)?),
            _ => None,
        };
        {
            let weights: Vec<GruWeights<'_, B>> = (0..dirs)
                .map(|d| GruWeights {
                    w_hh: &params.get(layer.w_hh[d]).value,
                    b_hh: &params.get(layer.b_hh[d]).value,
                    w_hh_half: None,
                })
                .collect();
            let mut dw_refs: Vec<&mut B::Buf> = dw_hh.iter_mut().map(|(g, _)| g).collect();
            let mut db_refs: Vec<&mut B::Buf> = db_hh.iter_mut().map(|(g, _)| g).collect();
            self.backend.gru_backward(GruBackward {
                dims,
                weights: &weights,
                h0: h0.map(|h| &self.slots[h.0].buf),
                lens: lens.map(|l| &self.ids[l.0].0),
                out: &self.slots[out.0].buf,
                saved,
                dout: self.slots[out.0].grad.as_ref().expect("checked above"),
                dxproj: &mut dxproj,
                work: &mut work,
                dw_hh: &mut dw_refs,
                db_hh: &mut db_refs,
                dh0: dh0.as_mut(),
                dextra: dextra.as_mut(),
            })?;
        }
        for (d, ((dw, kept_w), (db, kept_b))) in dw_hh.into_iter().zip(db_hh).enumerate() {
            if kept_w {
                params.put_grad(layer.w_hh[d], Some(dw));
            } else {
                self.free.push(dw);
            }
            if kept_b {
                params.put_grad(layer.b_hh[d], Some(db));
            } else {
                self.free.push(db);
            }
        }
        if let (Some(h), Some(g)) = (h0, dh0) {
            self.put_grad(h, g);
        }
        if let (Some(e), Some(g)) = (extra, dextra) {
            self.put_grad(e, g);
        }

        // Input side: dW_ih += dxproj^T x, db_ih += column sums, dx += dxproj W_ih.
        let input = layer.input;
        for d in 0..dirs {
            if let Some(mut dw) = params.take_grad(layer.w_ih[d]) {
                let g = Gemm {
                    a_off: d * step,
                    ..Gemm::new(3 * hs, input, rows, true, false).accumulate()
                };
                self.backend
                    .gemm(&g, &dxproj, &self.slots[x.0].buf, &mut dw)?;
                params.put_grad(layer.w_ih[d], Some(dw));
            }
            if let Some(mut db) = params.take_grad(layer.b_ih[d]) {
                self.sum_rows_block(&dxproj, d, rows, 3 * hs, &mut db)?;
                params.put_grad(layer.b_ih[d], Some(db));
            }
        }
        if self.wants_grad(x) {
            let mut dx = self.take_grad(x)?;
            for d in 0..dirs {
                let g = Gemm {
                    a_off: d * step,
                    ..Gemm::new(rows, input, 3 * hs, false, false).accumulate()
                };
                self.backend
                    .gemm(&g, &dxproj, &params.get(layer.w_ih[d]).value, &mut dx)?;
            }
            self.put_grad(x, dx);
        }
        self.free.push(dxproj);
        self.free.push(work);
        Ok(())
    }
}
