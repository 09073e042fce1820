/* gemm.cu - the one place matrix products happen.
 *
 * cuBLAS is column-major. A row-major matrix X with row stride ld is, read
 * column-major, X^T with leading dimension ld. So the row-major product
 * C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
 * swap the operands, swap M and N, keep each transpose flag.
 *
 * fp32 mode: TF32 tensor cores on the fp32 buffers. bf16 mode: both operands
 * are rounded to bf16 into scratch copies (same row strides) and multiplied
 * with fp32 accumulation into the fp32 C. Converting on every call, rather
 * than caching bf16 copies of the weights, keeps every buffer's meaning
 * unchanged (no copy can go stale when an optimiser step, an upload or a
 * checkpoint load writes the fp32 master), at the price of one extra read
 * of the operands: about 6 bytes per element against a product that does
 * 2 K flops per output. */
#include "cuda_common.h"
#include "mma.h"

/* dst[i] = bf16(src[i]), i < n; four at a time where both are aligned */
__global__ void to_bf16_kernel(uint16_t *dst, const float *src, size_t n) {
  size_t n4 = ((uintptr_t)src % 16 == 0 && (uintptr_t)dst % 8 == 0) ? n / 4 : 0;
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    float4 v = ((const float4 *)src)[i];
    ((uint2 *)dst)[i] = make_uint2(bf16_pack(v.x, v.y), bf16_pack(v.z, v.w));
  }
  for (size_t i = 4 * n4 + blockIdx.x * (size_t)blockDim.x + threadIdx.x;
       i < n; i += stride)
    dst[i] = bf16_bits(src[i]);
}

/* scratch for the bf16 copies, grown on demand and kept: every call is on
 * the one stream, so the next call's conversion runs after this product */
static uint16_t *scratch[2];
static size_t scratch_n[2];

/* the bf16 copy of a stored row-major matrix with `rows` rows of stride ld,
 * `cols` of them used: (rows-1) ld + cols elements */
static const uint16_t *as_bf16(int which, const float *X, int rows, int cols,
                               int ld) {
  size_t n = (size_t)(rows - 1) * ld + cols;
  if (scratch_n[which] < n) {
    cuda_free(scratch[which]);
    scratch[which] = (uint16_t *)cuda_alloc(n * sizeof(uint16_t));
    if (!scratch[which]) cuda_fatal("cuda_alloc", st_errmsg(), __FILE__, __LINE__);
    scratch_n[which] = n;
  }
  to_bf16_kernel<<<cuda_grid(n / 4 + 1, 256), 256>>>(scratch[which], X, n);
  LAUNCH_CHECK();
  return scratch[which];
}

/* C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C, row-major, fp32 storage */
void cuda_gemm(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (cuda_bf16() && K > 0) {
    const uint16_t *Ah = as_bf16(0, A, transA ? K : M, transA ? M : K, lda);
    const uint16_t *Bh = as_bf16(1, B, transB ? N : K, transB ? K : N, ldb);
    CUBLAS_CHECK(cuda_blas.gemm_ex(cuda_cublas(), opB, opA, N, M, K, &alpha,
                                   Bh, CUDA_R_16BF, ldb, Ah, CUDA_R_16BF, lda,
                                   &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    return;
  }
  CUBLAS_CHECK(cuda_blas.gemm_ex(cuda_cublas(), opB, opA, N, M, K, &alpha, B,
                                 CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                                 CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_TF32,
                                 CUBLAS_GEMM_DEFAULT));
}
