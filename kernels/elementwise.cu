/*
 * Element-wise kernels. All buffers are flat f32 arrays; n counts elements.
 *
 *   fill_f32:               x[i] = value
 *   axpy_f32:               y[i] += alpha * x[i]
 *   add_bias_f32:           x[r, c] += bias[c]                x (rows, cols), bias (cols)
 *   relu_fwd_f32:           y[i] = max(x[i], 0)
 *   relu_bwd_f32:           dx[i] += dy[i] * (y[i] > 0)
 *   dropout_fwd_f32:        y[i] = keep(i) ? x[i] * scale : 0
 *   dropout_bwd_f32:        dx[i] += keep(i) ? dy[i] * scale : 0
 *       scale = 1 / (1 - p) rounded to f32 by the host, as the CPU backend does.
 *       keep(i) = uniform(seed, i) >= p, the generator of src/engine/rng.rs, so masks equal
 *       the CPU backend's bit for bit.
 *   pair_features_fwd_f32:  out[b] = [u[b]; v[b]; |u[b] - v[b]|; u[b] * v[b]]
 *                           u, v (B, D), out (B, 4D)
 *   pair_features_bwd_f32:  du += g0 + sign(u - v) g2 + v g3;  dv += g1 - sign(u - v) g2 + u g3
 *                           with dout[b] = [g0; g1; g2; g3]; sign(0) = 0, as PyTorch's abs.
 *   f32_to_bf16:            y[i] = bf16(x[i]), round to nearest even
 *
 * Launch: 1-D grid-stride loops, any grid and block size (the host uses 256 threads and
 * enough blocks to cover n, capped).
 */
#include "common.cuh"

#define GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (u64)blockDim.x * gridDim.x)

extern "C" __global__ void fill_f32(float* x, u64 n, float value) {
    GRID_STRIDE(i, n) { x[i] = value; }
}

extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, u64 n) {
    GRID_STRIDE(i, n) { y[i] += alpha * x[i]; }
}

extern "C" __global__ void add_bias_f32(float* x, const float* bias, u64 rows, u64 cols) {
    GRID_STRIDE(i, rows * cols) { x[i] += bias[i % cols]; }
}

extern "C" __global__ void relu_fwd_f32(const float* x, float* y, u64 n) {
    GRID_STRIDE(i, n) { y[i] = fmaxf(x[i], 0.0f); }
}

extern "C" __global__ void relu_bwd_f32(const float* y, const float* dy, float* dx, u64 n) {
    GRID_STRIDE(i, n) {
        if (y[i] > 0.0f) dx[i] += dy[i];
    }
}

extern "C" __global__ void dropout_fwd_f32(const float* x, float* y, u64 n, float p, float scale,
                                           u64 seed) {
    GRID_STRIDE(i, n) { y[i] = gs_uniform(seed, i) >= p ? x[i] * scale : 0.0f; }
}

extern "C" __global__ void dropout_bwd_f32(const float* dy, float* dx, u64 n, float p, float scale,
                                           u64 seed) {
    GRID_STRIDE(i, n) {
        if (gs_uniform(seed, i) >= p) dx[i] += dy[i] * scale;
    }
}

extern "C" __global__ void pair_features_fwd_f32(const float* u, const float* v, float* out,
                                                 u64 batch, u64 dim) {
    GRID_STRIDE(i, batch * dim) {
        u64 b = i / dim;
        u64 j = i - b * dim;
        float a = u[i];
        float c = v[i];
        float* row = out + b * 4 * dim;
        row[j] = a;
        row[dim + j] = c;
        row[2 * dim + j] = fabsf(a - c);
        row[3 * dim + j] = a * c;
    }
}

extern "C" __global__ void pair_features_bwd_f32(const float* u, const float* v, const float* dout,
                                                 float* du, float* dv, u64 batch, u64 dim) {
    GRID_STRIDE(i, batch * dim) {
        u64 b = i / dim;
        u64 j = i - b * dim;
        float a = u[i];
        float c = v[i];
        const float* g = dout + b * 4 * dim;
        float sign = a > c ? 1.0f : (a < c ? -1.0f : 0.0f);
        float g_abs = sign * g[2 * dim + j];
        float g_prod = g[3 * dim + j];
        du[i] += g[j] + g_abs + c * g_prod;
        dv[i] += g[dim + j] - g_abs + a * g_prod;
    }
}

extern "C" __global__ void f32_to_bf16(const float* x, bf16_raw* y, u64 n) {
    GRID_STRIDE(i, n) { y[i] = f32_to_bf16(x[i]); }
}
