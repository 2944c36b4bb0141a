/*
 * GRU cells (PyTorch's formulation, gates ordered r, z, n; the reset gate multiplies
 * W_hn h + b_hn), one time step per launch, both directions at once (blockIdx.y = d).
 *
 * Forward, for direction d at its step t (d = 0: t = s; d = 1: t = T - 1 - s):
 *   a = xproj[d, t, b] (+ extra[d, b])                      input side, 3H, bias_ih included
 *   g = gh[d, b] + b_hh[d]                                   gh = h W_hh^T from cuBLAS, 3H
 *   r = sigmoid(a_r + g_r),  z = sigmoid(a_z + g_z),  n = tanh(a_n + r * g_n)
 *   h' = n + z * (h - n)
 * Shapes: xproj (D, T, B, 3H), gh (D, B, 3H), extra (D, B, 3H), state (D, B, H) updated in
 * place, out (T, B, D*H) with direction d in columns d*H..(d+1)*H, saved (D, T, B, 4H) =
 * r, z, n, g_n. With lens, step t of sequence b is real when t < lens[b]; at padded steps
 * the state is carried, out is zero and saved is zero.
 *
 * Backward, steps in the reverse order of the forward, dstate (D, B, H) carrying dL/dh:
 *   dh  = dout[t, b, d] + dstate
 *   dn  = dh (1 - z) (1 - n^2),  dz = dh (h - n) z (1 - z),  dr = dn g_n r (1 - r)
 *   dxproj[d, t, b] = (dr, dz, dn)                            input-side pre-activations
 *   work[d, t, b]   = (dr, dz, dn r)                          recurrent-side pre-activations
 *   dstate          = dh z       (the host then adds work[d, t] W_hh with cuBLAS)
 *   hprev[d, t, b]  = h          (so dW_hh = work^T hprev is one GEMM after the loop)
 * The previous state h is rebuilt from out, h0 and lens: the forward direction's step t
 * follows out[t-1] (h0 at t = 0), the backward direction's follows out[t+1] while t + 1 is
 * real, h0 otherwise. Padded steps write zeros and carry dstate unchanged.
 *
 * gru_cell_fwd_bf16 is the forward for bf16 storage: the same math in fp32, plus a bf16
 * copy of the state (D, B, H) that the next step's bf16 GEMM reads.
 *
 * Launch: grid (ceil(B*H / 256), D), block 256; one thread per (b, j) hidden unit.
 * Optional pointers (extra, h0, lens, saved) may be null.
 */
#include "common.cuh"

struct GruStep {
    u64 seq_len;
    u64 batch;
    u64 hidden;
    u64 dirs;
    u64 step;
};

__device__ __forceinline__ bool gru_real_step(const u32* lens, u64 t, u64 b) {
    return lens == nullptr || t < (u64)lens[b];
}

__device__ __forceinline__ void gru_cell_fwd(const float* xproj, const float* gh,
                                             const float* b_hh_fwd, const float* b_hh_bwd,
                                             const float* extra, const u32* lens, float* state,
                                             bf16_raw* state_bf16, float* out, float* saved,
                                             const GruStep& p) {
    u64 d = blockIdx.y;
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= p.batch * p.hidden) return;
    u64 b = idx / p.hidden;
    u64 j = idx - b * p.hidden;
    u64 H = p.hidden;
    u64 t = d == 0 ? p.step : p.seq_len - 1 - p.step;
    u64 out_at = (t * p.batch + b) * p.dirs * H + d * H + j;
    u64 row = (d * p.seq_len + t) * p.batch + b; /* (D, T, B) row index */

    if (!gru_real_step(lens, t, b)) {
        out[out_at] = 0.0f;
        if (saved != nullptr) {
            float* sv = saved + row * 4 * H;
            sv[j] = 0.0f;
            sv[H + j] = 0.0f;
            sv[2 * H + j] = 0.0f;
            sv[3 * H + j] = 0.0f;
        }
        return;
    }

    const float* a = xproj + row * 3 * H;
    const float* g = gh + (d * p.batch + b) * 3 * H;
    const float* bias = d == 0 ? b_hh_fwd : b_hh_bwd;
    float a_r = a[j];
    float a_z = a[H + j];
    float a_n = a[2 * H + j];
    if (extra != nullptr) {
        const float* e = extra + (d * p.batch + b) * 3 * H;
        a_r += e[j];
        a_z += e[H + j];
        a_n += e[2 * H + j];
    }
    float g_n = g[2 * H + j] + bias[2 * H + j];
    float r = gs_sigmoid(a_r + g[j] + bias[j]);
    float z = gs_sigmoid(a_z + g[H + j] + bias[H + j]);
    float n = tanhf(a_n + r * g_n);
    u64 state_at = (d * p.batch + b) * H + j;
    float h = state[state_at];
    float h_new = n + z * (h - n);

    state[state_at] = h_new;
    if (state_bf16 != nullptr) state_bf16[state_at] = f32_to_bf16(h_new);
    out[out_at] = h_new;
    if (saved != nullptr) {
        float* sv = saved + row * 4 * H;
        sv[j] = r;
        sv[H + j] = z;
        sv[2 * H + j] = n;
        sv[3 * H + j] = g_n;
    }
}

extern "C" __global__ void gru_cell_fwd_f32(const float* xproj, const float* gh,
                                            const float* b_hh_fwd, const float* b_hh_bwd,
                                            const float* extra, const u32* lens, float* state,
                                            float* out, float* saved, GruStep p) {
    gru_cell_fwd(xproj, gh, b_hh_fwd, b_hh_bwd, extra, lens, state, nullptr, out, saved, p);
}

/* As gru_cell_fwd_f32, also keeping a bf16 copy of the state for the next step's bf16
 * recurrent GEMM (gh comes from bf16 W_hh and state with fp32 accumulation). */
extern "C" __global__ void gru_cell_fwd_bf16(const float* xproj, const float* gh,
                                             const float* b_hh_fwd, const float* b_hh_bwd,
                                             const float* extra, const u32* lens, float* state,
                                             bf16_raw* state_bf16, float* out, GruStep p) {
    gru_cell_fwd(xproj, gh, b_hh_fwd, b_hh_bwd, extra, lens, state, state_bf16, out, nullptr,
                 p);
}

extern "C" __global__ void gru_cell_bwd_f32(const float* saved, const float* out, const float* h0,
                                            const u32* lens, const float* dout, float* dstate,
                                            float* dxproj, float* work, float* hprev,
                                            GruStep p) {
    u64 d = blockIdx.y;
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= p.batch * p.hidden) return;
    u64 b = idx / p.hidden;
    u64 j = idx - b * p.hidden;
    u64 H = p.hidden;
    u64 width = p.dirs * H;
    u64 t = d == 0 ? p.step : p.seq_len - 1 - p.step;
    u64 row = (d * p.seq_len + t) * p.batch + b;
    float* dx = dxproj + row * 3 * H;
    float* wk = work + row * 3 * H;

    if (!gru_real_step(lens, t, b)) {
        dx[j] = 0.0f;
        dx[H + j] = 0.0f;
        dx[2 * H + j] = 0.0f;
        wk[j] = 0.0f;
        wk[H + j] = 0.0f;
        wk[2 * H + j] = 0.0f;
        hprev[row * H + j] = 0.0f;
        return;
    }

    /* The state this step started from. */
    u64 len = lens == nullptr ? p.seq_len : (u64)lens[b];
    float h_init = h0 == nullptr ? 0.0f : h0[(d * p.batch + b) * H + j];
    float h;
    if (d == 0) {
        h = t > 0 ? out[((t - 1) * p.batch + b) * width + j] : h_init;
    } else {
        h = t + 1 < len ? out[((t + 1) * p.batch + b) * width + H + j] : h_init;
    }

    const float* sv = saved + row * 4 * H;
    float r = sv[j];
    float z = sv[H + j];
    float n = sv[2 * H + j];
    float g_n = sv[3 * H + j];
    u64 state_at = (d * p.batch + b) * H + j;
    float dh = dout[(t * p.batch + b) * width + d * H + j] + dstate[state_at];

    float dn = dh * (1.0f - z) * (1.0f - n * n);
    float dz = dh * (h - n) * z * (1.0f - z);
    float dr = dn * g_n * r * (1.0f - r);
    dx[j] = dr;
    dx[H + j] = dz;
    dx[2 * H + j] = dn;
    wk[j] = dr;
    wk[H + j] = dz;
    wk[2 * H + j] = dn * r;
    dstate[state_at] = dh * z;
    hprev[row * H + j] = h;
}
