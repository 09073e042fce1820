/* activation.cu - GELU (tanh approximation) and SwiGLU.
 *
 * tanh is written through exp (tanh u = 1 - 2/(e^{2u}+1)) so its accuracy
 * does not depend on whether --use_fast_math maps tanhf to the hardware
 * approximation (relative error ~2^-11). */
#include "cuda_common.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* |u| >= 10 gives +-1 in float anyway; the clamp keeps e^{2u} finite */
static __device__ __forceinline__ float tanh_exp(float u) {
  u = fminf(fmaxf(u, -10.0f), 10.0f);
  return 1.0f - 2.0f / (__expf(2.0f * u) + 1.0f);
}

/* out = 0.5 x (1 + tanh(k (x + 0.044715 x^3))) */
__global__ void gelu_fwd_kernel(float *out, const float *inp, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float x = inp[i];
    float t = tanh_exp(GELU_K * (x + 0.044715f * x * x * x));
    out[i] = 0.5f * x * (1.0f + t);
  }
}

void cuda_gelu_fwd(float *out, const float *inp, size_t n) {
  if (!n) return;
  gelu_fwd_kernel<<<cuda_grid(n, 256), 256>>>(out, inp, n);
  LAUNCH_CHECK();
}

/* dinp = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3*0.044715 x^2)) */
__global__ void gelu_bwd_kernel(float *dinp, const float *inp,
                                const float *dout, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float x = inp[i];
    float t = tanh_exp(GELU_K * (x + 0.044715f * x * x * x));
    float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
}

void cuda_gelu_bwd(float *dinp, const float *inp, const float *dout,
                   size_t n) {
  if (!n) return;
  gelu_bwd_kernel<<<cuda_grid(n, 256), 256>>>(dinp, inp, dout, n);
  LAUNCH_CHECK();
}

/* gu[N,2H] = [gate | up]; out[N,H] = silu(gate) * up */
__global__ void swiglu_fwd_kernel(float *out, const float *gu, int H,
                                  size_t total) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t n = i / H;
    int j = (int)(i - n * H);
    float g = gu[n * 2 * H + j], u = gu[n * 2 * H + H + j];
    out[i] = g / (1.0f + __expf(-g)) * u;
  }
}

void cuda_swiglu_fwd(float *out, const float *gu, int N, int H) {
  size_t total = (size_t)N * H;
  if (!total) return;
  swiglu_fwd_kernel<<<cuda_grid(total, 256), 256>>>(out, gu, H, total);
  LAUNCH_CHECK();
}

/* with s = sigmoid(g): dgate = dout * up * s (1 + g (1 - s)),
 * dup = dout * g s */
__global__ void swiglu_bwd_kernel(float *dgu, const float *dout,
                                  const float *gu, int H, size_t total) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t n = i / H;
    int j = (int)(i - n * H);
    float g = gu[n * 2 * H + j], u = gu[n * 2 * H + H + j];
    float s = 1.0f / (1.0f + __expf(-g));
    float d = dout[i];
    dgu[n * 2 * H + j] = d * u * s * (1.0f + g * (1.0f - s));
    dgu[n * 2 * H + H + j] = d * g * s;
  }
}

void cuda_swiglu_bwd(float *dgu, const float *dout, const float *gu, int N,
                     int H) {
  size_t total = (size_t)N * H;
  if (!total) return;
  swiglu_bwd_kernel<<<cuda_grid(total, 256), 256>>>(dgu, dout, gu, H, total);
  LAUNCH_CHECK();
}
