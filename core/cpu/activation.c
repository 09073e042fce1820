/* activation.c - GELU (tanh approximation) and SwiGLU.
 * tanh and the sigmoid go through st_expf so the loops vectorise. */
#include "cpu.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* tanh(u) = 1 - 2/(1 + e^{2u}); st_expf saturates instead of overflowing,
 * so the result stays in [-1, 1] */
static inline float tanh_fast(float u) {
  return 1.0f - 2.0f / (1.0f + st_expf(2.0f * u));
}

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void st_cpu_gelu_fwd(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    float th = tanh_fast(GELU_K * (x + GELU_C * x * x * x));
    out[i] = 0.5f * x * (1.0f + th);
  }
}

/* dinp = dout * (0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3c x^2)) */
void st_cpu_gelu_bwd(float *dinp, const float *inp, const float *dout,
                     size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    float th = tanh_fast(GELU_K * (x + GELU_C * x * x * x));
    float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
  }
}

/* gu[N,2H] = [gate | up]: out[N,H] = silu(gate) * up */
void st_cpu_swiglu_fwd(float *out, const float *gu, int N, int H) {
#pragma omp parallel for schedule(static) if ((size_t)N * H >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * H, *u = g + H;
    float *o = out + (size_t)n * H;
#pragma omp simd
    for (int i = 0; i < H; i++)
      o[i] = g[i] / (1.0f + st_expf(-g[i])) * u[i];
  }
}

/* with s = sigmoid(gate): dgate = dout up s (1 + gate (1 - s));
 * dup = dout gate s. dgu is overwritten; it may be gu (each gate and up is
 * read before either is written). */
void st_cpu_swiglu_bwd(float *dgu, const float *dout, const float *gu, int N,
                       int H) {
#pragma omp parallel for schedule(static) if ((size_t)N * H >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * H, *u = g + H;
    const float *d = dout + (size_t)n * H;
    float *dg = dgu + (size_t)n * 2 * H, *du = dg + H;
#pragma omp simd
    for (int i = 0; i < H; i++) {
      float gi = g[i], ui = u[i], s = 1.0f / (1.0f + st_expf(-gi));
      dg[i] = d[i] * ui * s * (1.0f + gi * (1.0f - s));
      du[i] = d[i] * gi * s;
    }
  }
}
