/* cpu.h - internals of the CPU backend, shared by the files in core/cpu.
 *
 * Each op lives in the file named after its concept; backend_cpu.c puts them
 * in the st_backend table. The signatures are those documented in
 * core/backend.h. All loops but GEMM are OpenMP; GEMM is OpenBLAS, always
 * called from outside any parallel region. */
#ifndef ST_CPU_H
#define ST_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Loops shorter than this run on one thread: starting a parallel region
 * costs a few microseconds, more than the loop itself. */
#define ST_CPU_PAR_MIN 32768

/* e^x in float, vectorisable (libm's expf is a call GCC cannot vectorise
 * without -ffast-math). Cephes' range reduction and polynomial, about 1 ulp;
 * exactly 0 below -87 and capped at e^88 (no inf). Ternaries instead of
 * fminf/fmaxf, whose NaN rules block vectorisation. */
static inline float st_expf(float x) {
  /* written so NaN lands on -87 (no float->int conversion of NaN, which
   * is undefined) and is passed through at the end */
  float xc = x >= -87.0f ? (x > 88.0f ? 88.0f : x) : -87.0f;
  /* round-to-nearest of x*log2(e) by the 1.5*2^23 trick (|n| < 2^22) */
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f; /* x - n ln2, split */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    int32_t i;
    float f;
  } s = {.i = ((int32_t)n + 127) << 23};
  return x != x ? x : (x < -87.0f ? 0.0f : p * s.f);
}

/* backend_cpu.c */
void st_cpu_threads_init(void);

/* gemm.c */
void st_cpu_gemm(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);
void st_cpu_add_bias(float *out, const float *bias, int N, int OC, int ld);
void st_cpu_bias_grad(float *dbias, const float *dout, int N, int OC, int ld);

/* elementwise.c */
void st_cpu_add(float *out, const float *a, const float *b, size_t n);
void st_cpu_acc(float *dst, const float *src, size_t n);
void st_cpu_scale(float *x, float s, size_t n);
double st_cpu_sumsq(const float *x, size_t n);
double st_cpu_sum(const float *x, size_t n);

/* convert.c */
void st_cpu_widen(float *dst, int ldd, const void *src, st_dtype dt, int lds,
                  int rows, int cols);
void st_cpu_narrow(void *dst, st_dtype dt, const float *src, size_t n);
void st_cpu_embed_fwd_h(float *out, const int32_t *tok, const void *wte,
                        st_dtype dt, const float *wpe, int B, int T, int C);

/* embed.c */
void st_cpu_embed_fwd(float *out, const int32_t *tok, const float *wte,
                      const float *wpe, int B, int T, int C);
void st_cpu_embed_bwd(float *dwte, float *dwpe, const float *dout,
                      const int32_t *tok, int B, int T, int C);

/* norm.c */
void st_cpu_rmsnorm_fwd(float *out, float *rstd, const float *inp,
                        const float *w, int N, int C, float eps);
void st_cpu_rmsnorm_bwd(float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, const float *rstd,
                        int N, int C);
void st_cpu_layernorm_fwd(float *out, float *mean, float *rstd,
                          const float *inp, const float *w, const float *b,
                          int N, int C, float eps);
void st_cpu_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const float *mean,
                          const float *rstd, int N, int C);

/* attention.c */
void st_cpu_rope(float *qkv, int B, int T, int NH, int NKV, int HS,
                 const float *freq, float scale, int inverse);
void st_cpu_attn_fwd(float *out, float *lse, const float *qkv, int B, int T,
                     int NH, int NKV, int HS, int window);
void st_cpu_attn_bwd(float *dqkv, const float *dout, const float *qkv,
                     const float *out, const float *lse, int B, int T, int NH,
                     int NKV, int HS, int window);

/* activation.c */
void st_cpu_gelu_fwd(float *out, const float *inp, size_t n);
void st_cpu_gelu_bwd(float *dinp, const float *inp, const float *dout,
                     size_t n);
void st_cpu_swiglu_fwd(float *out, const float *gu, int N, int H);
void st_cpu_swiglu_bwd(float *dgu, const float *dout, const float *gu, int N,
                       int H);

/* loss.c */
void st_cpu_softmax_ce(float *losses, float *logits, const int32_t *tgt, int N,
                       int V, float dscale);

/* adamw.c */
void st_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n,
                  float lr, float b1, float b2, float eps, float wd, int t);

/* dropout.c */
void st_cpu_dropout(float *out, const float *inp, size_t n, float p,
                    uint64_t seed, uint64_t i0);

#endif
