/*
 * Fused Adam update with global-norm clipping, fp32 master weights.
 *
 *   clip = max_norm > 0 ? min(1, max_norm / (sqrt(norm_sq[0]) + 1e-6)) : 1   (PyTorch's rule)
 *   g    = clip * grad[i]
 *   m[i] = beta1 * m[i] + (1 - beta1) * g
 *   v[i] = beta2 * v[i] + (1 - beta2) * g^2
 *   param[i] -= step_size * m[i] / (sqrt(v[i]) * inv_sqrt_bias2 + eps)
 * with step_size = lr / (1 - beta1^step) and inv_sqrt_bias2 = 1 / sqrt(1 - beta2^step)
 * computed by the host in f64, the same arithmetic as the CPU backend.
 *
 * norm_sq is the one-element device buffer that sq_norm accumulated, read here so the
 * step needs no host round trip. All arrays have n elements.
 *
 * Launch: 1-D grid-stride loop, any grid, 256 threads.
 */
#include "common.cuh"

extern "C" __global__ void adam_f32(float* param, const float* grad, float* m, float* v, u64 n,
                                    float step_size, float beta1, float beta2, float eps,
                                    float inv_sqrt_bias2, float max_norm, const float* norm_sq) {
    float clip = 1.0f;
    if (max_norm > 0.0f) clip = fminf(1.0f, max_norm / (sqrtf(norm_sq[0]) + 1e-6f));
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (u64)blockDim.x * gridDim.x) {
        float g = clip * grad[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= step_size * mi / (sqrtf(vi) * inv_sqrt_bias2 + eps);
    }
}
