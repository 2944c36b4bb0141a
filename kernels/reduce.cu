/*
 * Reductions and pooling.
 *
 *   sq_norm_partial_f32:  partials[blk] = sum of x[i]^2 over the block's grid-stride share
 *   sum_into_f32:         out[0] += sum(partials[0..count])     (one block)
 *       Together a deterministic two-level sum: the grid size is fixed by the host, so
 *       the summation order never depends on timing (no float atomics).
 *   sum_rows_f32:         out[c] += sum_r x[r, c]               x (rows, cols), out (cols)
 *   argmax_rows_f32:      out[r] = first index of the maximum of x[r, :]   (one block a row)
 *
 * Pooling over GRU outputs h (T, B, D*H), time-major, direction d in columns d*H..(d+1)*H;
 * lens (B) with 1 <= lens[b] <= T; pooled out (B, D*H):
 *   pool_last_fwd_f32:  D = 2: out[b] = [h[0, b, H:2H]; h[lens[b]-1, b, 0:H]]
 *                       D = 1: out[b] = h[lens[b]-1, b, :]
 *   pool_max_fwd_f32:   out[b, k] = max_{t < lens[b]} h[t, b, k]; argmax[b, k] = first such t
 *   pool_mean_fwd_f32:  out[b, k] = sum_{t < lens[b]} h[t, b, k] / lens[b]
 *   pool_*_bwd_f32:     accumulate the matching gradient into dh (T, B, D*H). Each output
 *                       element of last/max feeds exactly one element of h, so these write
 *                       without conflicts; mean runs one thread per element of h.
 *
 * Launch: sq_norm_partial any grid (its size is the partial count), 256 threads;
 * sum_into one block of 256; sum_rows grid ceil(cols/32) x 1, block (32, 8);
 * argmax_rows one block per row, 256 threads; pooling 1-D grid-stride loops.
 */
#include "common.cuh"

#define GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (u64)blockDim.x * gridDim.x)

extern "C" __global__ void sq_norm_partial_f32(const float* x, u64 n, float* partials) {
    __shared__ float scratch[32];
    float acc = 0.0f;
    GRID_STRIDE(i, n) {
        float v = x[i];
        acc = fmaf(v, v, acc);
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

extern "C" __global__ void sum_into_f32(const float* partials, u64 count, float* out) {
    __shared__ float scratch[32];
    float acc = 0.0f;
    for (u64 i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[0] += acc;
}

extern "C" __global__ void sum_rows_f32(const float* x, u64 rows, u64 cols, float* out) {
    __shared__ float partial[8][33];
    u64 c = (u64)blockIdx.x * 32 + threadIdx.x;
    float acc = 0.0f;
    if (c < cols) {
        for (u64 r = threadIdx.y; r < rows; r += blockDim.y) acc += x[r * cols + c];
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = 0.0f;
        for (int k = 0; k < (int)blockDim.y; ++k) total += partial[k][threadIdx.x];
        out[c] += total;
    }
}

extern "C" __global__ void argmax_rows_f32(const float* x, u64 rows, u64 cols, u32* out) {
    __shared__ float scratch_val[32];
    __shared__ u32 scratch_idx[32];
    const float* row = x + (u64)blockIdx.x * cols;
    float best = GS_NEG_INF;
    u32 best_idx = 0xffffffffu;
    for (u64 c = threadIdx.x; c < cols; c += blockDim.x) {
        argmax_combine(best, best_idx, row[c], (u32)c);
    }
    block_argmax(best, best_idx, scratch_val, scratch_idx);
    /* A row of NaN or -inf only: answer 0, a valid index. */
    if (threadIdx.x == 0) out[blockIdx.x] = best_idx == 0xffffffffu ? 0u : best_idx;
}

/* The row of h that pooled element (b, k) of `last` reads. */
__device__ __forceinline__ u64 last_source(const u32* lens, u64 b, u64 k, u64 batch, u64 dirs,
                                           u64 hidden) {
    u64 width = dirs * hidden;
    if (dirs == 2 && k < hidden) {
        return b * width + hidden + k; /* step 0, backward direction */
    }
    u64 col = dirs == 2 ? k - hidden : k;
    u64 t = (u64)lens[b] - 1;
    return (t * batch + b) * width + col;
}

extern "C" __global__ void pool_last_fwd_f32(const float* h, const u32* lens, float* out,
                                             u64 batch, u64 dirs, u64 hidden) {
    u64 width = dirs * hidden;
    GRID_STRIDE(i, batch * width) {
        u64 b = i / width;
        out[i] = h[last_source(lens, b, i - b * width, batch, dirs, hidden)];
    }
}

extern "C" __global__ void pool_last_bwd_f32(const float* dout, const u32* lens, float* dh,
                                             u64 batch, u64 dirs, u64 hidden) {
    u64 width = dirs * hidden;
    GRID_STRIDE(i, batch * width) {
        u64 b = i / width;
        dh[last_source(lens, b, i - b * width, batch, dirs, hidden)] += dout[i];
    }
}

extern "C" __global__ void pool_max_fwd_f32(const float* h, const u32* lens, float* out,
                                            u32* argmax, u64 batch, u64 width) {
    GRID_STRIDE(i, batch * width) {
        u64 b = i / width;
        u64 k = i - b * width;
        u64 len = lens[b];
        float best = h[b * width + k];
        u32 best_t = 0;
        for (u64 t = 1; t < len; ++t) {
            float v = h[(t * batch + b) * width + k];
            if (v > best) {
                best = v;
                best_t = (u32)t;
            }
        }
        out[i] = best;
        argmax[i] = best_t;
    }
}

extern "C" __global__ void pool_max_bwd_f32(const float* dout, const u32* argmax, float* dh,
                                            u64 batch, u64 width) {
    GRID_STRIDE(i, batch * width) {
        u64 b = i / width;
        u64 k = i - b * width;
        dh[((u64)argmax[i] * batch + b) * width + k] += dout[i];
    }
}

extern "C" __global__ void pool_mean_fwd_f32(const float* h, const u32* lens, float* out,
                                             u64 batch, u64 width) {
    GRID_STRIDE(i, batch * width) {
        u64 b = i / width;
        u64 k = i - b * width;
        u64 len = lens[b];
        float acc = 0.0f;
        for (u64 t = 0; t < len; ++t) acc += h[(t * batch + b) * width + k];
        out[i] = acc / (float)len;
    }
}

extern "C" __global__ void pool_mean_bwd_f32(const float* dout, const u32* lens, float* dh,
                                             u64 seq_len, u64 batch, u64 width) {
    GRID_STRIDE(i, seq_len * batch * width) {
        u64 row = i / width;
        u64 k = i - row * width;
        u64 t = row / batch;
        u64 b = row - t * batch;
        u64 len = lens[b];
        if (t < len) dh[i] += dout[b * width + k] / (float)len;
    }
}
