/* gemm.c - matrix multiply (OpenBLAS) and the bias ops that go with it. */
#include <cblas.h>
#include <string.h>

#include "cpu.h"

/* C[M,N] = alpha op(A) op(B) + beta C, row-major. Called between parallel
 * regions only: OpenBLAS runs its own thread pool. */
void st_cpu_gemm(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc) {
  if (M <= 0 || N <= 0)
    return;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
              ldb, beta, C, ldc);
}

/* out[n, oc] += bias[oc], rows ld apart */
void st_cpu_add_bias(float *out, const float *bias, int N, int OC, int ld) {
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    float *o = out + (size_t)n * ld;
#pragma omp simd
    for (int c = 0; c < OC; c++)
      o[c] += bias[c];
  }
}

/* dbias[oc] += sum_n dout[n, oc]. Each thread owns a block of columns and
 * walks every row, so there are no races and the summation order does not
 * depend on the thread count; sums are kept in double. */
void st_cpu_bias_grad(float *dbias, const float *dout, int N, int OC, int ld) {
  enum { CB = 64 };
  int nblk = (OC + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= ST_CPU_PAR_MIN)
  for (int blk = 0; blk < nblk; blk++) {
    int c0 = blk * CB, nc = OC - c0 < CB ? OC - c0 : CB;
    double acc[CB];
    memset(acc, 0, sizeof acc);
    for (int n = 0; n < N; n++) {
      const float *row = dout + (size_t)n * ld + c0;
#pragma omp simd
      for (int j = 0; j < nc; j++)
        acc[j] += row[j];
    }
    for (int j = 0; j < nc; j++)
      dbias[c0 + j] += (float)acc[j];
  }
}
