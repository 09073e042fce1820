/* adamw.c - AdamW with decoupled weight decay. */
#include <math.h>

#include "cpu.h"

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (mhat / (sqrt(vhat) + eps) + wd p), mhat = m/(1-b1^t),
 * vhat = v/(1-b2^t). The bias corrections are computed once, in double.
 * Built with -fno-math-errno (core/CMakeLists.txt) so sqrtf vectorises. */
void st_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n,
                  float lr, float b1, float b2, float eps, float wd, int t) {
  float c1 = (float)(1.0 / (1.0 - pow(b1, t)));
  float c2 = (float)(1.0 / (1.0 - pow(b2, t)));
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    float mi = b1 * m[i] + (1.0f - b1) * g[i];
    float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi * c1 / (sqrtf(vi * c2) + eps) + wd * p[i]);
  }
}
