//! The device interface. Everything above the engine (layers, tape, trainer, encoder) is
//! generic over [`Backend`]; the CPU backend is the numerical reference and the CUDA
//! backend implements the same contract with hand-written kernels.
//!
//! Contract shared by every method:
//! - Buffers are flat, row-major and may be longer than the tensor they hold: every
//!   operation receives its sizes explicitly and touches only the first elements.
//! - Operations are enqueued in order on the backend's stream and may run asynchronously;
//!   only [`Backend::to_host`], [`Backend::ids_to_host`] and [`Backend::synchronize`] wait.
//! - "accumulate" means `dst += result`; otherwise the destination is overwritten.
//! - Scalars that feed later device work (loss sums, squared gradient norms) stay on the
//!   device in one-element buffers, so a training step needs no host round trip.
//! - Sizes are validated by the layers above; a backend may assume them consistent.

use crate::error::Result;

/// Which pooling turns per-token states into one sentence vector.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Backward direction's final state, then the forward direction's final state.
    #[default]
    Last,
    /// Maximum over the sequence's real positions.
    Max,
    /// Mean over the sequence's real positions.
    Mean,
}

impl std::str::FromStr for Pool {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last" => Ok(Pool::Last),
            "max" => Ok(Pool::Max),
            "mean" => Ok(Pool::Mean),
            other => Err(crate::error::Error::Invalid(format!(
                "unknown pooling '{other}' (expected last, max or mean)"
            ))),
        }
    }
}

/// One row-major GEMM: `C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C`.
///
/// `A` is stored `(m, k)` with row stride `lda`, or `(k, m)` when `trans_a`; likewise `B`
/// is `(k, n)` or `(n, k)` when `trans_b`. Offsets are in elements from the buffers' starts.
/// With `beta == 0` the previous content of `C` is ignored (it may hold NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
    pub a_off: usize,
    pub lda: usize,
    pub b_off: usize,
    pub ldb: usize,
    pub c_off: usize,
    pub ldc: usize,
}

impl Gemm {
    /// Dense `C = op(A) op(B)` with packed leading dimensions and zero offsets.
    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Self {
        Gemm {
            m,
            n,
            k,
            trans_a,
            trans_b,
            alpha: 1.0,
            beta: 0.0,
            a_off: 0,
            lda: if trans_a { m } else { k },
            b_off: 0,
            ldb: if trans_b { k } else { n },
            c_off: 0,
            ldc: n,
        }
    }

    /// The same product accumulated into `C` (`beta = 1`).
    pub fn accumulate(mut self) -> Self {
        self.beta = 1.0;
        self
    }
}

/// Adam hyper-parameters for one update. `step` counts from 1 (bias correction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub step: u64,
    /// Global-norm clipping threshold; `0` disables clipping.
    pub max_norm: f32,
}

/// Inference on at most this many sequences reads the reduced-precision weight copies
/// (see [`Backend::half_weights`]) where a parameter has one; larger batches are bound by
/// arithmetic rather than memory and keep the f32 weights.
pub const HALF_MAX_BATCH: usize = 4;

/// The recurrent weights of one GRU direction (PyTorch layout, gates r, z, n).
pub struct GruWeights<'a, B: Backend> {
    /// `weight_hh`: (3H, H).
    pub w_hh: &'a B::Buf,
    /// `bias_hh`: (3H).
    pub b_hh: &'a B::Buf,
    /// A reduced-precision copy of `w_hh` (see [`Backend::half_weights`]). When present,
    /// the forward pass reads it instead of `w_hh`; callers pass it only for inference on
    /// at most [`HALF_MAX_BATCH`] sequences. Backward passes ignore it.
    pub w_hh_half: Option<&'a B::Half>,
}

/// Sizes shared by a GRU layer's forward and backward calls.
///
/// Time-major layout throughout. `xproj` holds, per direction, the input projection of
/// every step with `bias_ih` already added: (D, T, B, 3H). `out` is (T, B, D*H) with
/// direction `d` in columns `d*H..(d+1)*H`; direction 1, when present, runs backwards in
/// time. `saved` keeps what backward needs: (D, T, B, 4H) = r, z, n and `W_hn h + b_hn`.
///
/// Variable lengths follow `pack_padded_sequence`: with `lens`, step `t` of sequence `b`
/// is real when `t < lens[b]`; at padded steps the state is carried unchanged and the
/// output is zero, so the forward direction's final state is its state at its own end and
/// the backward direction starts from `h0` at its own last token. Without `lens` every
/// step is real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GruDims {
    pub seq_len: usize,
    pub batch: usize,
    pub hidden: usize,
    /// 1 (forward only) or 2 (forward, then backward).
    pub dirs: usize,
}

/// Arguments of [`Backend::gru_forward`].
pub struct GruForward<'a, B: Backend> {
    pub dims: GruDims,
    pub weights: &'a [GruWeights<'a, B>],
    /// (D, T, B, 3H), input projections including `bias_ih`.
    pub xproj: &'a B::Buf,
    /// Optional per-sequence term added to every step's gates: (D, B, 3H). The conditional
    /// GRU decoder passes `W_p c + b_p` here.
    pub extra: Option<&'a B::Buf>,
    /// Optional initial state (D, B, H); zero when absent.
    pub h0: Option<&'a B::Buf>,
    /// Optional lengths (B), each in `1..=T`.
    pub lens: Option<&'a B::Ids>,
    /// (T, B, D*H), overwritten.
    pub out: &'a mut B::Buf,
    /// (D, T, B, 4H), overwritten; may be skipped by passing `None` when no backward follows.
    pub saved: Option<&'a mut B::Buf>,
}

/// Arguments of [`Backend::gru_backward`].
pub struct GruBackward<'a, B: Backend> {
    pub dims: GruDims,
    pub weights: &'a [GruWeights<'a, B>],
    pub h0: Option<&'a B::Buf>,
    pub lens: Option<&'a B::Ids>,
    /// The forward's `out` and `saved`.
    pub out: &'a B::Buf,
    pub saved: &'a B::Buf,
    /// Gradient of the loss with respect to `out`: (T, B, D*H).
    pub dout: &'a B::Buf,
    /// Overwritten with the gradient of the pre-activation gates from the input side:
    /// (D, T, B, 3H). The layer turns it into input and `weight_ih` gradients with GEMMs.
    pub dxproj: &'a mut B::Buf,
    /// Scratch of (D, T, B, 3H) for the recurrent-side gate gradients.
    pub work: &'a mut B::Buf,
    /// Per direction, accumulated: `weight_hh` (3H, H) and `bias_hh` (3H) gradients.
    pub dw_hh: &'a mut [&'a mut B::Buf],
    pub db_hh: &'a mut [&'a mut B::Buf],
    /// Accumulated gradient of `h0` (D, B, H), when `h0` was given and is wanted.
    pub dh0: Option<&'a mut B::Buf>,
    /// Accumulated gradient of `extra` (D, B, 3H), when `extra` was given and is wanted.
    pub dextra: Option<&'a mut B::Buf>,
}

/// A compute device. Implementations: [`crate::engine::cpu::Cpu`] (reference) and
/// [`crate::engine::cuda::Cuda`].
pub trait Backend: Clone + Send + Sync + 'static {
    /// A device buffer of floats.
    type Buf: Send + Sync;
    /// A device buffer of `u32` (token ids, lengths, targets, argmax indices).
    type Ids: Send + Sync;
    /// Recurrent weights kept at reduced precision for memory-bound inference.
    type Half: Send + Sync;

    /// A short name for logs: "cpu", "cuda:0".
    fn name(&self) -> String;

    // ---- memory -------------------------------------------------------------------------

    /// A buffer of `len` zeros.
    fn zeros(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer holding `data`.
    #[allow(clippy::wrong_self_convention)]
    fn from_host(&self, data: &[f32]) -> Result<Self::Buf>;
    /// The first `len` elements of `buf` (waits for pending work).
    fn to_host(&self, buf: &Self::Buf, len: usize) -> Result<Vec<f32>>;
    /// Overwrites the first `data.len()` elements of `buf`.
    fn write(&self, buf: &mut Self::Buf, data: &[f32]) -> Result<()>;
    /// Capacity of `buf` in elements.
    fn buf_len(&self, buf: &Self::Buf) -> usize;
    /// An id buffer holding `data`.
    fn ids_from_host(&self, data: &[u32]) -> Result<Self::Ids>;
    /// Overwrites the first `data.len()` ids of `buf`.
    fn write_ids(&self, buf: &mut Self::Ids, data: &[u32]) -> Result<()>;
    /// The first `len` ids of `buf` (waits for pending work).
    fn ids_to_host(&self, buf: &Self::Ids, len: usize) -> Result<Vec<u32>>;
    /// Capacity of an id buffer in elements.
    fn ids_len(&self, buf: &Self::Ids) -> usize;
    /// Waits until all enqueued work is done.
    fn synchronize(&self) -> Result<()>;
    /// A reduced-precision copy of the (rows, cols) row-major matrix `w`, laid out for the
    /// backend's small-batch GRU step (see [`GruWeights::w_hh_half`]). Backends without
    /// such a path return an error saying so.
    fn half_weights(&self, w: &Self::Buf, rows: usize, cols: usize) -> Result<Self::Half>;
    /// Input projections with reduced-precision weights, for inference on a few sequences:
    /// block `d` of `out` (rows, N_d), blocks back to back, is `x (rows, K) w[d]^T`.
    fn project_half(
        &self,
        x: &Self::Buf,
        rows: usize,
        w: &[&Self::Half],
        out: &mut Self::Buf,
    ) -> Result<()>;

    // ---- element-wise -------------------------------------------------------------------

    /// `buf[..n] = value`.
    fn fill(&self, buf: &mut Self::Buf, n: usize, value: f32) -> Result<()>;
    /// `dst[..n] = src[..n]`.
    fn copy(&self, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()>;
    /// `dst[..n] += alpha * src[..n]`.
    fn axpy(&self, alpha: f32, src: &Self::Buf, dst: &mut Self::Buf, n: usize) -> Result<()>;
    /// `x[r, c] += bias[c]` for a (rows, cols) matrix.
    fn add_bias(&self, x: &mut Self::Buf, bias: &Self::Buf, rows: usize, cols: usize)
        -> Result<()>;
    /// Accumulates column sums of a (rows, cols) matrix into `out` (cols): bias gradients.
    fn sum_rows(&self, x: &Self::Buf, rows: usize, cols: usize, out: &mut Self::Buf) -> Result<()>;
    /// `y = max(x, 0)` over n elements.
    fn relu_forward(&self, x: &Self::Buf, y: &mut Self::Buf, n: usize) -> Result<()>;
    /// Accumulates `dx += dy * (y > 0)`.
    fn relu_backward(
        &self,
        y: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
    ) -> Result<()>;
    /// Inverted dropout: `y = x * keep / (1 - p)` with `keep` drawn from a counter-based
    /// generator keyed by `(seed, index)`, identical on every backend (see
    /// [`crate::engine::rng::dropout_keep`]).
    fn dropout_forward(
        &self,
        x: &Self::Buf,
        y: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()>;
    /// Accumulates `dx += dy * keep / (1 - p)` with the same mask as the forward.
    fn dropout_backward(
        &self,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()>;
    /// Pair features `[u; v; |u - v|; u * v]`: u, v (B, D) -> out (B, 4D).
    fn pair_features_forward(
        &self,
        u: &Self::Buf,
        v: &Self::Buf,
        out: &mut Self::Buf,
        batch: usize,
        dim: usize,
    ) -> Result<()>;
    /// Accumulates the gradients of u and v from the gradient of the pair features.
    #[allow(clippy::too_many_arguments)]
    fn pair_features_backward(
        &self,
        u: &Self::Buf,
        v: &Self::Buf,
        dout: &Self::Buf,
        du: &mut Self::Buf,
        dv: &mut Self::Buf,
        batch: usize,
        dim: usize,
    ) -> Result<()>;

    // ---- linear algebra -----------------------------------------------------------------

    /// One GEMM as described by `g`. `a`, `b` and `c` are distinct buffers.
    fn gemm(&self, g: &Gemm, a: &Self::Buf, b: &Self::Buf, c: &mut Self::Buf) -> Result<()>;

    // ---- embeddings ---------------------------------------------------------------------

    /// `out[i, :] = table[ids[i], :]` for `n` ids; out is (n, dim).
    fn embedding_forward(
        &self,
        table: &Self::Buf,
        ids: &Self::Ids,
        n: usize,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// Accumulates `dtable[ids[i], :] += dout[i, :]`, skipping `pad_id`; deterministic.
    fn embedding_backward(
        &self,
        dout: &Self::Buf,
        ids: &Self::Ids,
        n: usize,
        dim: usize,
        pad_id: u32,
        dtable: &mut Self::Buf,
    ) -> Result<()>;

    // ---- recurrent layers ---------------------------------------------------------------

    /// Runs every step of a (bi)directional GRU layer given its input projections.
    fn gru_forward(&self, args: GruForward<'_, Self>) -> Result<()>;
    /// Back-propagates through every step of a GRU layer.
    fn gru_backward(&self, args: GruBackward<'_, Self>) -> Result<()>;

    // ---- pooling ------------------------------------------------------------------------

    /// Pools `h` (T, B, D*H) over each sequence's real steps into `out` (B, D*H).
    /// `Last` takes the backward direction's state at step 0, then the forward direction's
    /// state at step `lens[b] - 1` (for D = 1, the forward final state alone).
    /// `Max` records the winning step of every (b, j) in `argmax` (B*D*H ids).
    #[allow(clippy::too_many_arguments)]
    fn pool_forward(
        &self,
        pool: Pool,
        h: &Self::Buf,
        lens: &Self::Ids,
        dims: GruDims,
        out: &mut Self::Buf,
        argmax: &mut Self::Ids,
    ) -> Result<()>;
    /// Accumulates the gradient of `h` from the gradient of the pooled vectors.
    #[allow(clippy::too_many_arguments)]
    fn pool_backward(
        &self,
        pool: Pool,
        dout: &Self::Buf,
        lens: &Self::Ids,
        argmax: &Self::Ids,
        dims: GruDims,
        dh: &mut Self::Buf,
    ) -> Result<()>;

    // ---- loss ---------------------------------------------------------------------------

    /// Softmax cross-entropy over a chunk of `rows` logits rows of width `vocab`.
    ///
    /// Adds the summed loss of rows whose target is not `ignore_id` to `loss_sum[0]`, adds
    /// the number of those rows whose argmax equals the target to `correct[0]`, and
    /// overwrites `logits` with `grad_scale * (softmax - onehot)` (zero rows for ignored
    /// targets). No probability tensor is kept.
    #[allow(clippy::too_many_arguments)]
    fn softmax_xent(
        &self,
        logits: &mut Self::Buf,
        targets: &Self::Ids,
        target_off: usize,
        rows: usize,
        vocab: usize,
        ignore_id: u32,
        grad_scale: f32,
        loss_sum: &mut Self::Buf,
        correct: &mut Self::Buf,
    ) -> Result<()>;

    /// Writes the index of each row's maximum into `out` (rows).
    fn argmax_rows(
        &self,
        x: &Self::Buf,
        rows: usize,
        cols: usize,
        out: &mut Self::Ids,
    ) -> Result<()>;

    // ---- optimisation -------------------------------------------------------------------

    /// Accumulates `sum(x[..n]^2)` into `out[0]`.
    fn sq_norm(&self, x: &Self::Buf, n: usize, out: &mut Self::Buf) -> Result<()>;
    /// One Adam update of `n` parameters. The gradient is first scaled by
    /// `min(1, max_norm / sqrt(norm_sq[0]))` when `max_norm > 0` (global-norm clipping).
    #[allow(clippy::too_many_arguments)]
    fn adam(
        &self,
        param: &mut Self::Buf,
        grad: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        n: usize,
        hp: &AdamStep,
        norm_sq: &Self::Buf,
    ) -> Result<()>;
}
