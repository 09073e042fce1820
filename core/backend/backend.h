/* backend.h - the compute dispatch table.
 *
 * Model code calls only these functions, on pointers the backend allocated
 * ("device pointers": host memory for cpu, GPU memory for cuda). Shapes use
 * llm.c's names: N rows (= B*T tokens), C channels, OC output channels,
 * NH query heads, NKV key/value heads, HS head size. Everything is row-major
 * float32; token ids are int32.
 *
 * Gradient conventions: every "d*" weight/bias output ACCUMULATES (+=) so
 * gradient accumulation and shared (tied) weights work; a NULL weight-gradient
 * pointer means "frozen: skip that work". Input-gradient outputs are marked
 * per function (+= or =). */
#ifndef ST_BACKEND_H
#define ST_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Storage precision of a weight matrix (model.h: frozen matrices may be held
 * in bf16 or f16 and are widened to fp32 before they are multiplied). */
typedef enum { ST_DT_F32 = 0, ST_DT_BF16 = 1, ST_DT_F16 = 2 } st_dtype;
static inline size_t st_dtype_size(st_dtype d) { return d == ST_DT_F32 ? 4 : 2; }

typedef struct st_backend {
  const char *name;
  /* device pointers are host pointers (cpu): memory the backend did not
   * allocate, such as a read-only file mapping, may be handed to its ops */
  int host;

  /* --- memory ---------------------------------------------------------- */
  void *(*alloc)(size_t bytes); /* zero-filled; NULL + st_err on failure */
  void (*free)(void *p);
  void (*upload)(void *dst, const void *host_src, size_t bytes);
  void (*download)(void *host_dst, const void *src, size_t bytes);
  void (*copy)(void *dst, const void *src, size_t bytes);
  void (*zero)(void *p, size_t bytes);
  void (*sync)(void);

  /* --- dense algebra --------------------------------------------------- */
  /* C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C, row-major,
   * op(X) = X^T when transX. lda/ldb/ldc are row strides of the stored
   * matrices. CPU: cblas_sgemm. CUDA: cuBLAS. */
  void (*gemm)(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);
  /* out[n,oc] += bias[oc] for rows with stride ld (ld >= OC) */
  void (*add_bias)(float *out, const float *bias, int N, int OC, int ld);
  /* dbias[oc] += sum_n dout[n*ld + oc] */
  void (*bias_grad)(float *dbias, const float *dout, int N, int OC, int ld);
  void (*add)(float *out, const float *a, const float *b, size_t n); /* out=a+b */
  void (*acc)(float *dst, const float *src, size_t n);               /* dst+=src */
  void (*scale)(float *x, float s, size_t n);                        /* x*=s */
  double (*sumsq)(const float *x, size_t n); /* sum x^2 in double; syncs */
  double (*sum)(const float *x, size_t n);   /* sum x in double; syncs */

  /* --- embedding ------------------------------------------------------- */
  /* out[b,t,:] = wte[tok[b,t],:] (+ wpe[t,:] when wpe != NULL) */
  void (*embed_fwd)(float *out, const int32_t *tok, const float *wte,
                    const float *wpe, int B, int T, int C);
  /* the same from a half-precision table (dt bf16 or f16), each row widened
   * to fp32 as it is read; wpe stays fp32 */
  void (*embed_fwd_h)(float *out, const int32_t *tok, const void *wte,
                      st_dtype dt, const float *wpe, int B, int T, int C);
  /* dwte[tok] += dout; dwpe[t] += dout; either may be NULL */
  void (*embed_bwd)(float *dwte, float *dwpe, const float *dout,
                    const int32_t *tok, int B, int T, int C);

  /* --- normalisation --------------------------------------------------- */
  /* RMSNorm: out = x * rstd * w, rstd[n] = 1/sqrt(mean(x^2) + eps) */
  void (*rmsnorm_fwd)(float *out, float *rstd, const float *inp,
                      const float *w, int N, int C, float eps);
  /* dinp += ..., dw += ... (dw may be NULL) */
  void (*rmsnorm_bwd)(float *dinp, float *dw, const float *dout,
                      const float *inp, const float *w, const float *rstd,
                      int N, int C);
  /* LayerNorm: out = (x - mean) * rstd * w + b */
  void (*layernorm_fwd)(float *out, float *mean, float *rstd,
                        const float *inp, const float *w, const float *b,
                        int N, int C, float eps);
  /* dinp += ..., dw += ..., db += ... (dw, db may be NULL) */
  void (*layernorm_bwd)(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int N, int C);

  /* --- attention ------------------------------------------------------- */
  /* qkv[B,T,(NH+2*NKV)*HS] holds q heads, then k heads, then v heads.
   * RoPE, Hugging Face half-split convention, in place on the q and k heads
   * at positions t = 0..T-1: with i < HS/2, f_i = freq[i] (a device array
   * of HS/2 inverse frequencies, st_rope_freqs), a = t f_i rounded to
   * float as transformers computes it, c = s cos a, d = s sin a:
   *   x'[i]      = x[i] c - x[i+HS/2] d
   *   x'[i+HS/2] = x[i+HS/2] c + x[i] d.
   * Plain RoPE has f_i = theta^(-2i/HS) and s = 1; yarn scales by s.
   * inverse != 0 applies the transpose (used by backward on dqkv). */
  void (*rope)(float *qkv, int B, int T, int NH, int NKV, int HS,
               const float *freq, float s, int inverse);
  /* Causal softmax attention with grouped-query heads (query head h reads
   * kv head h / (NH/NKV)), scale 1/sqrt(HS). window > 0: query t sees keys
   * t-window+1..t only (sliding window); 0: keys 0..t.
   * out[B,T,NH*HS]; lse[B,NH,T] = log-sum-exp of the scaled scores per row,
   * kept for backward (flash-attention style: no T x T matrix is stored). */
  void (*attn_fwd)(float *out, float *lse, const float *qkv, int B, int T,
                   int NH, int NKV, int HS, int window);
  /* dqkv (=, same layout as qkv) from dout[B,T,NH*HS]. */
  void (*attn_bwd)(float *dqkv, const float *dout, const float *qkv,
                   const float *out, const float *lse, int B, int T, int NH,
                   int NKV, int HS, int window);
  /* 1 when attn_fwd/attn_bwd implement window > 0; a backend without it
   * (cuda) gets window 0 only: st_model_new refuses a windowed model there */
  int attn_window;

  /* --- activations ----------------------------------------------------- */
  /* GELU, tanh approximation: out = gelu(inp); dinp (=) from dout; dinp
   * may be inp (the backward writes the gradient over the pre-activation) */
  void (*gelu_fwd)(float *out, const float *inp, size_t n);
  void (*gelu_bwd)(float *dinp, const float *inp, const float *dout, size_t n);
  /* SwiGLU: gu[N,2H] = [gate | up]; out[N,H] = silu(gate) * up;
   * dgu (=) [N,2H] from dout[N,H]; dgu may be gu (in place, as gelu_bwd) */
  void (*swiglu_fwd)(float *out, const float *gu, int N, int H);
  void (*swiglu_bwd)(float *dgu, const float *dout, const float *gu, int N,
                     int H);

  /* --- dropout (LoRA) -------------------------------------------------- */
  /* out[i] = keep(seed, i0 + i) ? inp[i] / (1 - p) : 0, keep(seed, j) =
   * st_dropout_keep(seed, j, p) below: a counter hash, so backward redraws
   * the forward's mask and every backend draws the same one. i0 is the
   * first element's index in the whole batch (a data-parallel rank holds
   * rows further down it), so masks belong to global rows. out may alias
   * inp. */
  void (*dropout)(float *out, const float *inp, size_t n, float p,
                  uint64_t seed, uint64_t i0);

  /* --- loss ------------------------------------------------------------ */
  /* Fused softmax + cross-entropy over logits[N,V]. losses[n] = -log p(tgt)
   * (0 where tgt[n] < 0: ignored). If dscale != 0, logits is overwritten in
   * place with dscale * (softmax - onehot(tgt)) (zero rows where ignored). */
  void (*softmax_ce)(float *losses, float *logits, const int32_t *tgt, int N,
                     int V, float dscale);

  /* --- optimiser ------------------------------------------------------- */
  /* AdamW with decoupled weight decay, step t >= 1 (bias correction):
   * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p) */
  void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
                float lr, float b1, float b2, float eps, float wd, int t);

  /* --- storage precision ----------------------------------------------- */
  /* dst[r*ldd + c] = src[r*lds + c] widened from dt to fp32 (exact), for
   * r < rows, c < cols: a block of a stored matrix into a GEMM's scratch */
  void (*widen)(float *dst, int ldd, const void *src, st_dtype dt, int lds,
                int rows, int cols);
  /* dst[i] = src[i] narrowed to dt, rounding to nearest even (NaN stays
   * NaN, f16 overflows to inf); dt F32 copies */
  void (*narrow)(void *dst, st_dtype dt, const float *src, size_t n);

  /* --- precision ------------------------------------------------------- */
  /* bf16 mixed precision; NULL where the backend has only fp32 (cpu).
   * on != 0: gemm and attention multiply bf16-rounded inputs with fp32
   * accumulation; every buffer stays fp32 (activations, master weights,
   * gradients, optimiser state), so nothing else changes. Default off. */
  void (*set_bf16)(int on);
} st_backend;

/* the dropout hash runs in CUDA kernels too */
#if defined(__CUDACC__)
#define ST_HOSTDEV __host__ __device__
#else
#define ST_HOSTDEV
#endif
/* splitmix64's finaliser: a 64-bit mix with full avalanche */
static inline ST_HOSTDEV uint64_t st_mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* element i survives dropout p: a uniform 24-bit draw >= p */
static inline ST_HOSTDEV int st_dropout_keep(uint64_t seed, uint64_t i, float p) {
  return (float)(st_mix64(seed ^ st_mix64(i)) >> 40) * (1.0f / 16777216.0f) >= p;
}

/* The CPU backend (always present) and the CUDA backend (NULL + st_err when
 * not built or no device). */
const st_backend *st_backend_cpu(void);
const st_backend *st_backend_cuda(void);
/* Opens cuBLAS the way the CUDA backend does on its first use (it is not
 * linked: core/cuda/cublas_load.cu), without needing a device: ST_OK, or
 * ST_ERR + st_err when it cannot be found or the build has no CUDA. */
int st_cuda_cublas_check(void);
/* "cpu" | "cuda"; NULL + st_err on an unknown name or missing device */
const st_backend *st_backend_get(const char *name);

/* Threads for the CPU backend: OpenMP and OpenBLAS use the same count and
 * OpenBLAS is never called inside an OpenMP region. n <= 0: all cores. */
void st_set_threads(int n);
int st_get_threads(void);

#endif
