/* elementwise.c - vector add/accumulate/scale and the double-precision
 * reductions used for gradient norms and losses. */
#include "cpu.h"

/* out = a + b (out may alias a or b) */
void st_cpu_add(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

/* dst += src */
void st_cpu_acc(float *dst, const float *src, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    dst[i] += src[i];
}

/* x *= s */
void st_cpu_scale(float *x, float s, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    x[i] *= s;
}

/* Sums in double: over ~10^8 parameters a float sum loses digits. */
double st_cpu_sumsq(const float *x, size_t n) {
  double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return s;
}

double st_cpu_sum(const float *x, size_t n) {
  double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    s += x[i];
  return s;
}
