/*
 * Embedding lookup and its gradient.
 *
 *   embedding_fwd_f32:  out[i, :] = table[ids[i], :]           table (V, dim), ids (n), out (n, dim)
 *   embedding_fwd_bf16: the same with a bf16 table and bf16 output (encoding with bf16 storage)
 *   embedding_bwd_f32:  dtable[w, :] += sum over i with ids[i] == w != pad_id of dout[i, :]
 *
 * The backward is deterministic without sorting and without float atomics: block i owns
 * position i. If an earlier position holds the same id the block exits; otherwise it is the
 * id's first occurrence and the block alone sums, in increasing position order, every row of
 * dout with that id, then adds the total to the table row. Finding the matches scans the
 * ids in tiles of blockDim (ballot compaction into shared memory), so the cost is
 * O(n) id reads per block, O(n^2) in all: a few microseconds for the few thousand tokens of
 * a batch. Only distinct ids write, so no two blocks touch the same table row.
 *
 * Launch: fwd any 1-D grid (grid-stride), bwd grid = n blocks, blockDim = 256 (a multiple
 * of 32, at most 1024).
 */
#include "common.cuh"

extern "C" __global__ void embedding_fwd_f32(const float* table, const u32* ids, u64 n, u64 dim,
                                             float* out) {
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n * dim;
         i += (u64)blockDim.x * gridDim.x) {
        u64 row = i / dim;
        out[i] = table[(u64)ids[row] * dim + (i - row * dim)];
    }
}

extern "C" __global__ void embedding_fwd_bf16(const bf16_raw* table, const u32* ids, u64 n,
                                              u64 dim, bf16_raw* out) {
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n * dim;
         i += (u64)blockDim.x * gridDim.x) {
        u64 row = i / dim;
        out[i] = table[(u64)ids[row] * dim + (i - row * dim)];
    }
}

extern "C" __global__ void embedding_bwd_f32(const float* dout, const u32* ids, u64 n, u64 dim,
                                             u32 pad_id, float* dtable) {
    __shared__ u32 matches[1024];
    __shared__ u32 warp_counts[32];
    u64 pos = blockIdx.x;
    u32 id = ids[pos];
    if (id == pad_id) return;

    /* Is this the id's first occurrence? */
    int seen = 0;
    for (u64 j = threadIdx.x; j < pos; j += blockDim.x) seen |= ids[j] == id;
    if (__syncthreads_or(seen)) return;

    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    for (u64 c0 = 0; c0 < dim; c0 += blockDim.x) {
        u64 c = c0 + threadIdx.x;
        float acc = 0.0f;
        for (u64 tile = pos; tile < n; tile += blockDim.x) {
            /* Compact this tile's matching positions, in order, into `matches`. */
            u64 j = tile + threadIdx.x;
            bool hit = j < n && ids[j] == id;
            u32 ballot = __ballot_sync(GS_FULL_MASK, hit);
            if (lane == 0) warp_counts[warp] = __popc(ballot);
            __syncthreads();
            u32 offset = 0;
            u32 total = 0;
            for (int w = 0; w < warps; ++w) {
                offset += w < warp ? warp_counts[w] : 0;
                total += warp_counts[w];
            }
            if (hit) matches[offset + __popc(ballot & ((1u << lane) - 1u))] = (u32)(j - tile);
            __syncthreads();
            if (c < dim) {
                for (u32 k = 0; k < total; ++k) acc += dout[(tile + matches[k]) * dim + c];
            }
            __syncthreads();
        }
        if (c < dim) dtable[(u64)id * dim + c] += acc;
    }
}
