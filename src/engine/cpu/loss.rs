//! Pooling and the fused softmax cross-entropy on the CPU.

use super::{par_rows, Float};
use crate::engine::backend::{GruDims, Pool};

/// Index of the first maximum of `row`.
pub fn argmax<F: Float>(row: &[F]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Pools `h` (T, B, D*H) into `out` (B, D*H); see [`crate::engine::Backend::pool_forward`].
pub fn pool_forward<F: Float>(
    pool: Pool,
    h: &[F],
    lens: &[u32],
    dims: GruDims,
    out: &mut [F],
    argmax: &mut [u32],
) {
    let GruDims {
        batch,
        hidden: hs,
        dirs,
        ..
    } = dims;
    let width = dirs * hs;
    let at = |t: usize, b: usize| (t * batch + b) * width;
    for b in 0..batch {
        let len = lens[b] as usize;
        let row = &mut out[b * width..(b + 1) * width];
        match pool {
            Pool::Last => {
                let fwd_end = at(len - 1, b);
                if dirs == 2 {
                    row[..hs].copy_from_slice(&h[at(0, b) + hs..at(0, b) + 2 * hs]);
                    row[hs..].copy_from_slice(&h[fwd_end..fwd_end + hs]);
                } else {
                    row.copy_from_slice(&h[fwd_end..fwd_end + hs]);
                }
            }
            Pool::Max => {
                let winners = &mut argmax[b * width..(b + 1) * width];
                row.copy_from_slice(&h[at(0, b)..at(0, b) + width]);
                winners.fill(0);
                for t in 1..len {
                    let src = &h[at(t, b)..at(t, b) + width];
                    for j in 0..width {
                        if src[j] > row[j] {
                            row[j] = src[j];
                            winners[j] = t as u32;
                        }
                    }
                }
            }
            Pool::Mean => {
                row.fill(F::ZERO);
                for t in 0..len {
                    for (o, &v) in row.iter_mut().zip(&h[at(t, b)..at(t, b) + width]) {
                        *o += v;
                    }
                }
                let inv = F::ONE / F::from_f64(len as f64);
                for o in row.iter_mut() {
                    *o *= inv;
                }
            }
        }
    }
}

/// Accumulates the gradient of `h` from that of the pooled vectors.
pub fn pool_backward<F: Float>(
    pool: Pool,
    dout: &[F],
    lens: &[u32],
    argmax: &[u32],
    dims: GruDims,
    dh: &mut [F],
) {
    let GruDims {
        batch,
        hidden: hs,
        dirs,
        ..
    } = dims;
    let width = dirs * hs;
    let at = |t: usize, b: usize| (t * batch + b) * width;
    for b in 0..batch {
        let len = lens[b] as usize;
        let g = &dout[b * width..(b + 1) * width];
        match pool {
            Pool::Last => {
                let fwd_end = at(len - 1, b);
                if dirs == 2 {
                    for j in 0..hs {
                        dh[at(0, b) + hs + j] += g[j];
                        dh[fwd_end + j] += g[hs + j];
                    }
                } else {
                    for j in 0..hs {
                        dh[fwd_end + j] += g[j];
                    }
                }
            }
            Pool::Max => {
                for j in 0..width {
                    let t = argmax[b * width + j] as usize;
                    dh[at(t, b) + j] += g[j];
                }
            }
            Pool::Mean => {
                let inv = F::ONE / F::from_f64(len as f64);
                for t in 0..len {
                    for (d, &v) in dh[at(t, b)..at(t, b) + width].iter_mut().zip(g) {
                        *d += v * inv;
                    }
                }
            }
        }
    }
}

/// Softmax cross-entropy over rows of `logits` (rows, vocab); writes the scaled gradient in
/// place and returns (summed loss, rows predicted correctly) over non-ignored rows.
///
/// Three vectorized passes per row (see [`xent_row`]). Rows are split across threads and
/// the per-thread sums are added in a fixed order.
pub fn softmax_xent<F: Float>(
    threads: usize,
    logits: &mut [F],
    targets: &[u32],
    vocab: usize,
    ignore_id: u32,
    grad_scale: F,
) -> (F, usize) {
    let rows = targets.len();
    let parts = par_rows(threads, logits, rows, vocab, |first, chunk| {
        let mut loss = F::ZERO;
        let mut hits = 0;
        for (i, row) in chunk.chunks_exact_mut(vocab).enumerate() {
            let target = targets[first + i];
            if target == ignore_id {
                row.fill(F::ZERO);
                continue;
            }
            let (l, hit) = super::with_avx2(|| xent_row(row, target as usize, grad_scale));
            loss += l;
            hits += usize::from(hit);
        }
        (loss, hits)
    });
    parts
        .into_iter()
        .fold((F::ZERO, 0), |(l, h), (pl, ph)| (l + pl, h + ph))
}

/// One row's loss `log sum exp(x) - x[target]` and whether the target is the first maximal
/// index; the row becomes `grad_scale * (softmax(x) - onehot(target))`.
#[inline(always)]
fn xent_row<F: Float>(row: &mut [F], target: usize, grad_scale: F) -> (F, bool) {
    // Three passes over the row (it stays in L2), each branch-free so it vectorizes: the
    // maximum, exp(x - max) written in place with its sum, then the scaled probabilities.
    let target_logit = row[target];
    let max = row_max(row);
    let best = row.iter().position(|&x| x == max).unwrap_or(0);
    let mut sums = [F::ZERO; 8];
    let mut rest = row.chunks_exact_mut(8);
    for lane in rest.by_ref() {
        for (s, x) in sums.iter_mut().zip(lane.iter_mut()) {
            *x = (*x - max).fast_exp();
            *s += *x;
        }
    }
    for x in rest.into_remainder() {
        *x = (*x - max).fast_exp();
        sums[0] += *x;
    }
    let sum = sums.iter().fold(F::ZERO, |a, &b| a + b);
    let scale = grad_scale / sum;
    for x in row.iter_mut() {
        *x *= scale;
    }
    row[target] -= grad_scale;
    (sum.ln() + max - target_logit, best == target)
}

/// The largest element of a non-empty row, eight lanes at a time.
#[inline(always)]
fn row_max<F: Float>(row: &[F]) -> F {
    let mut lanes = [row[0]; 8];
    let mut chunks = row.chunks_exact(8);
    for c in chunks.by_ref() {
        for (m, &x) in lanes.iter_mut().zip(c) {
            if x > *m {
                *m = x;
            }
        }
    }
    let mut max = lanes[0];
    for &x in lanes.iter().chain(chunks.remainder()) {
        if x > max {
            max = x;
        }
    }
    max
}
