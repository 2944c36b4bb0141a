/*
 * Fused softmax cross-entropy, forward and backward, over one chunk of logits rows.
 *
 * For row r with logits x (vocab) and target y != ignore_id:
 *   m = max_c x[c],  s = sum_c exp(x[c] - m)
 *   loss[r]    = log(s) + m - x[y]
 *   correct[r] = 1 if the first arg-max of x is y, else 0
 *   x[c]      <- grad_scale * (exp(x[c] - m) / s - [c == y])     (gradient, in place)
 * Rows whose target is ignore_id (or out of range) get loss 0, correct 0 and a zero row.
 *
 * Layout: logits (rows, vocab) row-major, targets (rows) already offset by the host,
 * row_loss and row_correct (rows) scratch that the host then sums with sum_into_f32 in a
 * fixed order, so the totals do not depend on scheduling.
 *
 * One block per row. Pass 1 reads the row once keeping a running (max, sum) pair per
 * thread (the online softmax), merged across the block; pass 2 reads it again and writes
 * the gradient: 3 * vocab * 4 bytes of traffic per row, 2 * vocab * 4 from memory when the
 * row is still in L2 for the second pass. The _v4 variant uses float4 accesses and needs
 * vocab % 4 == 0 (rows then start 16-byte aligned).
 *
 * Launch: grid = rows, blockDim a multiple of 32 up to 1024 (the host uses 1024 for wide
 * vocabularies so that few rows are in flight and each stays in L2 between passes).
 */
#include "common.cuh"

__device__ __forceinline__ void online_add(float& m, float& s, float x) {
    if (x > m) {
        s = s * expf(m - x) + 1.0f;
        m = x;
    } else {
        s += expf(x - m);
    }
}

template <bool VEC4>
__device__ void softmax_xent_row(float* logits, const u32* targets, u64 vocab, u32 ignore_id,
                                 float grad_scale, float* row_loss, float* row_correct) {
    __shared__ float scratch[32];
    __shared__ u32 scratch_idx[32];
    u64 row = blockIdx.x;
    float* x = logits + row * vocab;
    u32 target = targets[row];
    bool ignored = target == ignore_id || (u64)target >= vocab;

    if (ignored) {
        for (u64 c = threadIdx.x; c < vocab; c += blockDim.x) x[c] = 0.0f;
        if (threadIdx.x == 0) {
            row_loss[row] = 0.0f;
            row_correct[row] = 0.0f;
        }
        return;
    }

    /* Pass 1: running max and sum of exponentials, and the first arg-max. */
    float m = GS_NEG_INF;
    float s = 0.0f;
    float best = GS_NEG_INF;
    u32 best_idx = 0xffffffffu;
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (u64 q = threadIdx.x; q < vocab / 4; q += blockDim.x) {
            float4 v = x4[q];
            u32 c = (u32)(4 * q);
            online_add(m, s, v.x);
            online_add(m, s, v.y);
            online_add(m, s, v.z);
            online_add(m, s, v.w);
            argmax_combine(best, best_idx, v.x, c);
            argmax_combine(best, best_idx, v.y, c + 1);
            argmax_combine(best, best_idx, v.z, c + 2);
            argmax_combine(best, best_idx, v.w, c + 3);
        }
    } else {
        for (u64 c = threadIdx.x; c < vocab; c += blockDim.x) {
            float v = x[c];
            online_add(m, s, v);
            argmax_combine(best, best_idx, v, (u32)c);
        }
    }
    float row_max = block_max(m, scratch);
    float rescaled = m == GS_NEG_INF ? 0.0f : s * expf(m - row_max);
    float row_sum = block_sum(rescaled, scratch);
    block_argmax(best, best_idx, scratch, scratch_idx);
    float target_logit = x[target];
    /* Every thread has read what it needs from x before any gradient is written. */
    __syncthreads();

    if (threadIdx.x == 0) {
        row_loss[row] = logf(row_sum) + row_max - target_logit;
        row_correct[row] = best_idx == target ? 1.0f : 0.0f;
    }

    /* Pass 2: the gradient, in place. */
    float inv_sum = 1.0f / row_sum;
    if (VEC4) {
        float4* x4 = reinterpret_cast<float4*>(x);
        for (u64 q = threadIdx.x; q < vocab / 4; q += blockDim.x) {
            float4 v = x4[q];
            u64 c = 4 * q;
            v.x = grad_scale * (expf(v.x - row_max) * inv_sum - (c == target ? 1.0f : 0.0f));
            v.y = grad_scale * (expf(v.y - row_max) * inv_sum - (c + 1 == target ? 1.0f : 0.0f));
            v.z = grad_scale * (expf(v.z - row_max) * inv_sum - (c + 2 == target ? 1.0f : 0.0f));
            v.w = grad_scale * (expf(v.w - row_max) * inv_sum - (c + 3 == target ? 1.0f : 0.0f));
            x4[q] = v;
        }
    } else {
        for (u64 c = threadIdx.x; c < vocab; c += blockDim.x) {
            float onehot = c == target ? 1.0f : 0.0f;
            x[c] = grad_scale * (expf(x[c] - row_max) * inv_sum - onehot);
        }
    }
}

extern "C" __global__ void softmax_xent_fwd_f32(float* logits, const u32* targets, u64 vocab,
                                                u32 ignore_id, float grad_scale, float* row_loss,
                                                float* row_correct) {
    softmax_xent_row<false>(logits, targets, vocab, ignore_id, grad_scale, row_loss, row_correct);
}

extern "C" __global__ void softmax_xent_fwd_v4_f32(float* logits, const u32* targets, u64 vocab,
                                                   u32 ignore_id, float grad_scale,
                                                   float* row_loss, float* row_correct) {
    softmax_xent_row<true>(logits, targets, vocab, ignore_id, grad_scale, row_loss, row_correct);
}
