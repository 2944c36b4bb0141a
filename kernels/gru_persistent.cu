/*
 * Low-latency GRU forward for small batches: one cooperative launch runs every time step of
 * both directions, keeping the recurrent weights on chip instead of re-reading them from
 * memory (and launching two kernels) each step.
 *
 * Math as gru_cell_fwd_f32 (gates r, z, n; h' = n + z (h - n); lens carry the state and
 * zero the output at padded steps). Inputs:
 *   xproj (D, T, B, 3H) f32 with bias_ih, w_hh (D, 3H, H) bf16 (raw bits), b_hh (D, 3H)
 *   f32, extra (D, B, 3H) or null, h0 (D, B, H) or null, lens (B) or null,
 *   out (T, B, D*H) f32, hbuf (2, D, B, H) f32 ping-pong states, barrier (2) u32 zeroed by
 *   the host before the launch.
 *
 * Work split: block k of direction d owns hidden units j0 = k*units .. j0+units-1 and
 * keeps their 3*units rows of W_hh (bf16) in shared memory for the whole sequence, with
 * the B previous states staged in shared memory each step. A warp computes whole rows:
 * each lane multiplies a bf16 pair of the row with the B states (fp32 accumulation), the
 * warp sums; then one thread per (unit, b) applies the gates and writes the new state.
 * A grid-wide barrier separates steps, so all blocks must be resident at once: the host
 * launches cooperatively with grid = D * ceil(H / units) <= co-resident blocks.
 *
 * Dynamic shared memory: 3*units*H*2 bytes of weights + B*H*4 bytes of states
 * + 3*units*B*4 bytes of recurrent pre-activations. B <= GRU_PERSISTENT_MAX_BATCH, H even.
 * Launch: block 256 threads.
 */
#include "common.cuh"

#define GRU_PERSISTENT_MAX_BATCH 8

/*
 * Sense-free grid barrier for a cooperative launch: the last block to arrive resets the
 * counter and advances the generation that the others spin on. Memory written before the
 * barrier is visible after it (fences on both sides).
 */
__device__ void grid_barrier(u32* count, volatile u32* generation) {
    __syncthreads();
    if (threadIdx.x == 0) {
        u32 gen = *generation;
        __threadfence();
        if (atomicAdd(count, 1u) == gridDim.x - 1) {
            *count = 0;
            __threadfence();
            atomicAdd((u32*)generation, 1u);
        } else {
            while (*generation == gen) {
            }
        }
        __threadfence();
    }
    __syncthreads();
}

extern "C" __global__ void gru_persistent_fwd_bf16(const float* xproj, const bf16_raw* w_hh,
                                                   const float* b_hh, const float* extra,
                                                   const float* h0, const u32* lens, float* out,
                                                   float* hbuf, u32* barrier, u64 seq_len,
                                                   u64 batch, u64 hidden, u64 dirs,
                                                   u64 units) {
    extern __shared__ unsigned char smem_raw[];
    u64 H = hidden;
    u64 blocks_per_dir = (H + units - 1) / units;
    u64 d = blockIdx.x / blocks_per_dir;
    u64 j0 = (blockIdx.x - d * blocks_per_dir) * units;
    u64 my_units = H - j0 < units ? H - j0 : units;
    u64 rows = 3 * my_units;

    bf16_raw* w_s = reinterpret_cast<bf16_raw*>(smem_raw);           /* (3*units, H) */
    float* h_s = reinterpret_cast<float*>(smem_raw + 3 * units * H * 2); /* (B, H) */
    float* g_s = h_s + batch * H;                                      /* (3*units, B) */
    u64 state_stride = dirs * batch * H;

    /* Load this block's weight rows once: local row q = gate * my_units + u. */
    for (u64 e = threadIdx.x; e < rows * H; e += blockDim.x) {
        u64 q = e / H;
        u64 gate = q / my_units;
        u64 unit = q - gate * my_units;
        w_s[e] = w_hh[(d * 3 * H + gate * H + j0 + unit) * H + (e - q * H)];
    }
    /* Initial state of the units this block owns. */
    for (u64 e = threadIdx.x; e < batch * my_units; e += blockDim.x) {
        u64 b = e / my_units;
        u64 at = (d * batch + b) * H + j0 + (e - b * my_units);
        hbuf[at] = h0 == nullptr ? 0.0f : h0[at];
    }
    grid_barrier(&barrier[0], &barrier[1]);

    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    for (u64 s = 0; s < seq_len; ++s) {
        u64 t = d == 0 ? s : seq_len - 1 - s;
        const volatile float* h_cur = hbuf + (s & 1) * state_stride + d * batch * H;
        float* h_next = hbuf + ((s + 1) & 1) * state_stride + d * batch * H;

        /* Stage the previous states (written by other blocks: bypass L1 via volatile). */
        for (u64 e = threadIdx.x; e < batch * H; e += blockDim.x) h_s[e] = h_cur[e];
        __syncthreads();

        /* Recurrent pre-activations of the owned rows: g_s[q, b] = W_hh[q] . h[b]. */
        for (u64 q = warp; q < rows; q += warps) {
            const u32* w_row = reinterpret_cast<const u32*>(w_s + q * H);
            float acc[GRU_PERSISTENT_MAX_BATCH];
#pragma unroll
            for (int b = 0; b < GRU_PERSISTENT_MAX_BATCH; ++b) acc[b] = 0.0f;
            for (u64 k2 = lane; k2 < H / 2; k2 += 32) {
                u32 pair = w_row[k2];
                float w_lo = bf16_to_f32((bf16_raw)(pair & 0xffffu));
                float w_hi = bf16_to_f32((bf16_raw)(pair >> 16));
#pragma unroll
                for (int b = 0; b < GRU_PERSISTENT_MAX_BATCH; ++b) {
                    if ((u64)b < batch) {
                        const float* hb = h_s + b * H + 2 * k2;
                        acc[b] = fmaf(w_lo, hb[0], fmaf(w_hi, hb[1], acc[b]));
                    }
                }
            }
#pragma unroll
            for (int b = 0; b < GRU_PERSISTENT_MAX_BATCH; ++b) {
                float total = warp_sum(acc[b]);
                if (lane == 0 && (u64)b < batch) g_s[q * batch + b] = total;
            }
        }
        __syncthreads();

        /* Gates and the new state, one thread per (unit, b). */
        for (u64 e = threadIdx.x; e < batch * my_units; e += blockDim.x) {
            u64 b = e / my_units;
            u64 u = e - b * my_units;
            u64 j = j0 + u;
            float h = h_s[b * H + j];
            u64 out_at = (t * batch + b) * dirs * H + d * H + j;
            if (lens != nullptr && t >= (u64)lens[b]) {
                h_next[b * H + j] = h;
                out[out_at] = 0.0f;
                continue;
            }
            const float* a = xproj + ((d * seq_len + t) * batch + b) * 3 * H;
            const float* bias = b_hh + d * 3 * H;
            float a_r = a[j];
            float a_z = a[H + j];
            float a_n = a[2 * H + j];
            if (extra != nullptr) {
                const float* ex = extra + (d * batch + b) * 3 * H;
                a_r += ex[j];
                a_z += ex[H + j];
                a_n += ex[2 * H + j];
            }
            float g_r = g_s[u * batch + b] + bias[j];
            float g_z = g_s[(my_units + u) * batch + b] + bias[H + j];
            float g_n = g_s[(2 * my_units + u) * batch + b] + bias[2 * H + j];
            float r = gs_sigmoid(a_r + g_r);
            float z = gs_sigmoid(a_z + g_z);
            float n = tanhf(a_n + r * g_n);
            float h_new = n + z * (h - n);
            h_next[b * H + j] = h_new;
            out[out_at] = h_new;
        }
        grid_barrier(&barrier[0], &barrier[1]);
    }
}
