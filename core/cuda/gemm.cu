/* gemm.cu - the one place matrix products happen (bf16 will be added here).
 *
 * cuBLAS is column-major. A row-major matrix X with row stride ld is, read
 * column-major, X^T with leading dimension ld. So the row-major product
 * C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
 * swap the operands, swap M and N, keep each transpose flag. */
#include "cuda_common.h"

/* C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C, row-major, fp32 storage,
 * TF32 tensor-core multiplies with fp32 accumulation. */
void cuda_gemm(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), opB, opA, N, M, K, &alpha, B,
                            CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                            CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_TF32,
                            CUBLAS_GEMM_DEFAULT));
}
