/* loss.c - fused softmax + cross-entropy over the vocabulary. */
#include <math.h>
#include <string.h>

#include "cpu.h"

/* sum_v e^(x[v] - m) over a row, also stored to e (which may be x) when e
 * is not NULL. Float partial sums over short chunks, added up in double:
 * GCC 12 does not vectorise a double reduction around st_expf, and a chunk
 * of 1024 split across the vector lanes loses nothing a double would keep. */
static double sum_exp(float *e, const float *x, int V, float m) {
  enum { CH = 1024 };
  double s = 0.0;
  for (int v0 = 0; v0 < V; v0 += CH) {
    int n = V - v0 < CH ? V - v0 : CH;
    const float *xc = x + v0;
    float cs = 0.0f;
    if (e) {
      float *ec = e + v0;
#pragma omp simd reduction(+ : cs)
      for (int j = 0; j < n; j++) {
        ec[j] = st_expf(xc[j] - m);
        cs += ec[j];
      }
    } else {
#pragma omp simd reduction(+ : cs)
      for (int j = 0; j < n; j++)
        cs += st_expf(xc[j] - m);
    }
    s += cs;
  }
  return s;
}

/* losses[n] = logsumexp(logits[n]) - logits[n, tgt[n]] (0 when ignored).
 * With dscale != 0 the row becomes dscale (softmax - onehot(tgt)) in place,
 * which is d(dscale * losses[n]) / dlogits[n]. Rows are independent; the
 * max is subtracted before exp. */
void st_cpu_softmax_ce(float *losses, float *logits, const int32_t *tgt, int N,
                       int V, float dscale) {
#pragma omp parallel for schedule(static) if ((size_t)N * V >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    float *x = logits + (size_t)n * V;
    int y = tgt[n];
    /* a target >= V is a caller bug; treating it as ignored keeps memory
     * safe, and the model code validates targets before they get here */
    if (y < 0 || y >= V) {
      losses[n] = 0.0f;
      if (dscale != 0.0f)
        memset(x, 0, (size_t)V * sizeof *x);
      continue;
    }
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int v = 0; v < V; v++)
      m = x[v] > m ? x[v] : m;
    float xy = x[y];
    double s = sum_exp(dscale != 0.0f ? x : NULL, x, V, m);
    if (dscale != 0.0f) {
      float k = (float)(dscale / s);
#pragma omp simd
      for (int v = 0; v < V; v++)
        x[v] *= k;
      x[y] -= dscale;
    }
    losses[n] = (float)(log(s) + m - xy);
  }
}
