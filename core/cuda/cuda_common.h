/* cuda_common.h - internals of the CUDA backend, shared by the files in core/cuda.
 *
 * One device, the legacy default stream for everything (kernels, cuBLAS,
 * memsets, copies), so every op is ordered after the previous one without
 * events, and a buffer freed to the caching allocator can be handed out again
 * at once: later work on the same stream runs after earlier readers.
 *
 * Errors: bad input never reaches here (callers validate shapes). A failing
 * CUDA or cuBLAS call, or a kernel that faults, is a broken device or a bug,
 * so it prints where it happened and exits 2 (CUDA_CHECK). */
#ifndef ST_CUDA_COMMON_H
#define ST_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "error.h"
}

/* prints "strata: CUDA failure: <call>: <msg> (file:line)" and exits 2 */
void cuda_fatal(const char *call, const char *msg, const char *file, int line);

#define CUDA_CHECK(x)                                                   \
  do {                                                                  \
    cudaError_t e_ = (x);                                               \
    if (e_ != cudaSuccess)                                              \
      cuda_fatal(#x, cudaGetErrorString(e_), __FILE__, __LINE__);       \
  } while (0)

#define CUBLAS_CHECK(x)                                                 \
  do {                                                                  \
    cublasStatus_t s_ = (x);                                            \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                    \
      cuda_fatal(#x, cuda_blas.status_string(s_), __FILE__, __LINE__);  \
  } while (0)

/* after every <<<...>>>: catches bad launch configurations at once (faults
 * inside a kernel surface at the next synchronising call) */
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

/* Grid for a grid-stride loop over n items: enough blocks to fill the GPU
 * several times over, never more than the loop needs. */
static inline unsigned cuda_grid(size_t n, int threads) {
  size_t g = (n + threads - 1) / threads;
  if (g > 16384) g = 16384;
  return g ? (unsigned)g : 1u;
}

/* --- warp reductions ---------------------------------------------------- */
static __device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
static __device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* --- cublas_load.cu ----------------------------------------------------- */
/* the cuBLAS calls the backend makes, resolved from the library at start
 * (the file says why it is not linked) */
typedef struct cuda_cublas_api {
  cublasStatus_t (*create)(cublasHandle_t *h);
  const char *(*status_string)(cublasStatus_t s);
  cublasStatus_t (*set_math_mode)(cublasHandle_t h, cublasMath_t mode);
  cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
  cublasStatus_t (*set_workspace)(cublasHandle_t h, void *ws, size_t bytes);
  cublasStatus_t (*gemm_ex)(cublasHandle_t h, cublasOperation_t ta,
                            cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at,
                            int lda, const void *B, cudaDataType bt, int ldb,
                            const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo);
} cuda_cublas_api;
extern cuda_cublas_api cuda_blas;
/* opens cuBLAS once; ST_OK, or ST_ERR with the reason in msg */
int cuda_cublas_load(char *msg, size_t len);

/* --- backend_cuda.cu ---------------------------------------------------- */
cublasHandle_t cuda_cublas(void);
/* the caching allocator, for scratch buffers inside ops too; memory comes
 * back zero-filled. cuda_alloc returns NULL + st_err when the device is
 * out of memory. */
void *cuda_alloc(size_t bytes);
void cuda_free(void *p);
/* 1 in bf16 mixed-precision mode (st_backend.set_bf16), else 0 */
int cuda_bf16(void);

/* --- gemm.cu ------------------------------------------------------------ */
void cuda_gemm(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);

/* --- elementwise.cu ----------------------------------------------------- */
void cuda_add_bias(float *out, const float *bias, int N, int OC, int ld);
void cuda_bias_grad(float *dbias, const float *dout, int N, int OC, int ld);
void cuda_add(float *out, const float *a, const float *b, size_t n);
void cuda_acc(float *dst, const float *src, size_t n);
void cuda_scale(float *x, float s, size_t n);
double cuda_sumsq(const float *x, size_t n);
double cuda_sum(const float *x, size_t n);

/* --- convert.cu --------------------------------------------------------- */
void cuda_widen(float *dst, int ldd, const void *src, st_dtype dt, int lds,
                int rows, int cols);
void cuda_narrow(void *dst, st_dtype dt, const float *src, size_t n);
void cuda_embed_fwd_h(float *out, const int32_t *tok, const void *wte,
                      st_dtype dt, const float *wpe, int B, int T, int C);

/* --- embed.cu ----------------------------------------------------------- */
void cuda_embed_fwd(float *out, const int32_t *tok, const float *wte,
                    const float *wpe, int B, int T, int C);
void cuda_embed_bwd(float *dwte, float *dwpe, const float *dout,
                    const int32_t *tok, int B, int T, int C);

/* --- norm.cu ------------------------------------------------------------ */
void cuda_rmsnorm_fwd(float *out, float *rstd, const float *inp,
                      const float *w, int N, int C, float eps);
void cuda_rmsnorm_bwd(float *dinp, float *dw, const float *dout,
                      const float *inp, const float *w, const float *rstd,
                      int N, int C);
void cuda_layernorm_fwd(float *out, float *mean, float *rstd,
                        const float *inp, const float *w, const float *b,
                        int N, int C, float eps);
void cuda_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int N, int C);

/* --- attention.cu ------------------------------------------------------- */
void cuda_rope(float *qkv, int B, int T, int NH, int NKV, int HS,
               const float *freq, float s, int inverse);
/* window must be 0: sliding windows are CPU-only (attn_window = 0) */
void cuda_attn_fwd(float *out, float *lse, const float *qkv, int B, int T,
                   int NH, int NKV, int HS, int window);
void cuda_attn_bwd(float *dqkv, const float *dout, const float *qkv,
                   const float *out, const float *lse, int B, int T, int NH,
                   int NKV, int HS, int window);

/* --- attention_mma.cu: the tensor-core versions ------------------------ */
/* whether they handle this shape and these pointers (head size 32, 64 or
 * 128; 16-byte aligned rows); else attention.cu runs its fp32 kernels */
int attn_mma_ok(int HS, const void *p0, const void *p1, const void *p2);
/* tf32 != 0: tf32 operands, else bf16 */
void attn_fwd_mma(int tf32, float *out, float *lse, const float *qkv, int B,
                  int T, int NH, int NKV, int HS);
/* D[B,NH,T] = rowdot(dout, out), computed by the caller */
void attn_bwd_mma(int tf32, float *dqkv, const float *dout, const float *qkv,
                  const float *lse, const float *D, int B, int T, int NH,
                  int NKV, int HS);

/* --- dropout.cu --------------------------------------------------------- */
void cuda_dropout(float *out, const float *inp, size_t n, float p,
                  uint64_t seed, uint64_t i0);

/* --- activation.cu ------------------------------------------------------ */
void cuda_gelu_fwd(float *out, const float *inp, size_t n);
void cuda_gelu_bwd(float *dinp, const float *inp, const float *dout, size_t n);
void cuda_swiglu_fwd(float *out, const float *gu, int N, int H);
void cuda_swiglu_bwd(float *dgu, const float *dout, const float *gu, int N,
                     int H);

/* --- loss.cu ------------------------------------------------------------ */
void cuda_softmax_ce(float *losses, float *logits, const int32_t *tgt, int N,
                     int V, float dscale);

/* --- adamw.cu ----------------------------------------------------------- */
void cuda_adamw(float *p, const float *g, float *m, float *v, size_t n,
                float lr, float b1, float b2, float eps, float wd, int t);

#endif
