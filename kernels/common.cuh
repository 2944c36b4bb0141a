/*
 * Helpers shared by every kernel family: block-wide reductions, bf16 storage conversions
 * and the counter-based generator of src/engine/rng.rs.
 *
 * The file needs no CUDA header, so the kernels compile unchanged with nvcc and with NVRTC
 * (which has no include path): build.rs pastes this file in place of its #include when it
 * embeds sources instead of PTX.
 *
 * Launch assumptions for the block reductions: blockDim.x is a multiple of 32 and at most
 * 1024, and every thread of the block calls them.
 */
#pragma once

#define GS_FULL_MASK 0xffffffffu
/* -inf without <math.h>, which NVRTC lacks. */
#define GS_NEG_INF __int_as_float(0xff800000)

typedef unsigned int u32;
typedef unsigned long long u64;
/* bf16 held as its raw 16 bits: the upper half of an IEEE f32. */
typedef unsigned short bf16_raw;

__device__ __forceinline__ float bf16_to_f32(bf16_raw x) {
    return __uint_as_float(((u32)x) << 16);
}

/* Round to nearest, ties to even; NaN stays NaN. */
__device__ __forceinline__ bf16_raw f32_to_bf16(float x) {
    u32 bits = __float_as_uint(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return (bf16_raw)((bits >> 16) | 0x40u);
    }
    u32 rounding = 0x7fffu + ((bits >> 16) & 1u);
    return (bf16_raw)((bits + rounding) >> 16);
}

/* SplitMix64's finaliser, bit for bit the one of rng::mix64. */
__device__ __forceinline__ u64 gs_mix64(u64 x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* rng::uniform: 24 random bits scaled to [0, 1), exact in f32. */
__device__ __forceinline__ float gs_uniform(u64 seed, u64 index) {
    u64 bits = gs_mix64(seed ^ gs_mix64(index));
    return (float)(bits >> 40) * (1.0f / 16777216.0f);
}

__device__ __forceinline__ float gs_sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int off = 16; off > 0; off >>= 1) {
        v += __shfl_xor_sync(GS_FULL_MASK, v, off);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(GS_FULL_MASK, v, off));
    }
    return v;
}

/* Sum over the block; every thread gets the result. `scratch` holds 32 floats. */
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : GS_NEG_INF;
    return warp_max(v);
}

/*
 * Keeps the larger value; on a tie the smaller index, so the block's answer is the first
 * maximum of the row, as a sequential scan finds it.
 */
__device__ __forceinline__ void argmax_combine(float& best, u32& best_idx, float v, u32 idx) {
    if (v > best || (v == best && idx < best_idx)) {
        best = v;
        best_idx = idx;
    }
}

/* Arg-max over the block; every thread gets the winner. Scratch: 32 floats + 32 u32. */
__device__ __forceinline__ void block_argmax(float& best, u32& best_idx, float* scratch_val,
                                             u32* scratch_idx) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    for (int off = 16; off > 0; off >>= 1) {
        float v = __shfl_xor_sync(GS_FULL_MASK, best, off);
        u32 i = __shfl_xor_sync(GS_FULL_MASK, best_idx, off);
        argmax_combine(best, best_idx, v, i);
    }
    __syncthreads();
    if (lane == 0) {
        scratch_val[warp] = best;
        scratch_idx[warp] = best_idx;
    }
    __syncthreads();
    best = lane < warps ? scratch_val[lane] : GS_NEG_INF;
    best_idx = lane < warps ? scratch_idx[lane] : 0xffffffffu;
    for (int off = 16; off > 0; off >>= 1) {
        float v = __shfl_xor_sync(GS_FULL_MASK, best, off);
        u32 i = __shfl_xor_sync(GS_FULL_MASK, best_idx, off);
        argmax_combine(best, best_idx, v, i);
    }
}
