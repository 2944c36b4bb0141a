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
/// Two passes per row: an online max/sum of exponentials, then the gradient. Rows are split
/// across threads and the per-thread sums are added in a fixed order.
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
            let target = target as usize;

            // Online max and sum of exp(x - max): one read of the row.
            let mut max = row[0];
            let mut best = 0;
            let mut sum = F::ZERO;
            for (j, &x) in row.iter().enumerate() {
                if x > max {
                    sum *= (max - x).exp();
                    max = x;
                    best = j;
                }
                sum += (x - max).exp();
            }
            loss += sum.ln() + max - row[target];
            hits += usize::from(best == target);

            let inv_sum = F::ONE / sum;
            for x in row.iter_mut() {
                *x = (*x - max).exp() * inv_sum * grad_scale;
            }
            row[target] -= grad_scale;
        }
        (loss, hits)
    });
    parts
        .into_iter()
        .fold((F::ZERO, 0), |(l, h), (pl, ph)| (l + pl, h + ph))
}
