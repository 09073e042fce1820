/* norm.c - RMSNorm and LayerNorm, forward and backward.
 *
 * Backward runs in two sweeps inside one parallel region: rows for the input
 * gradient, then column blocks for the weight/bias gradients, so every
 * output element has one writer (no races, no per-thread partial buffers,
 * and the same result whatever the thread count). */
#include <math.h>
#include <string.h>

#include "cpu.h"

enum { CB = 64 }; /* columns per block in the weight-gradient sweep */

/* out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) */
void st_cpu_rmsnorm_fwd(float *out, float *rstd, const float *inp,
                        const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++)
      ss += (double)x[c] * x[c];
    float r = (float)(1.0 / sqrt(ss / C + eps));
#pragma omp simd
    for (int c = 0; c < C; c++)
      o[c] = x[c] * r * w[c];
    if (rstd)
      rstd[n] = r;
  }
}

/* dinp += r (w*dout) - r^3/C * x * sum(w*dout*x);  dw += sum_n dout*x*r */
void st_cpu_rmsnorm_bwd(float *dinp, float *dw, const float *dout,
                        const float *inp, const float *w, const float *rstd,
                        int N, int C) {
  int nblk = (C + CB - 1) / CB;
#pragma omp parallel if ((size_t)N * C >= ST_CPU_PAR_MIN)
  {
#pragma omp for schedule(static) nowait
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float r = rstd[n];
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int c = 0; c < C; c++)
        s += w[c] * d[c] * x[c];
      float k = r * r * r * s / C;
#pragma omp simd
      for (int c = 0; c < C; c++)
        dx[c] += r * w[c] * d[c] - k * x[c];
    }
    if (dw) {
#pragma omp for schedule(static)
      for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, nc = C - c0 < CB ? C - c0 : CB;
        double acc[CB];
        memset(acc, 0, sizeof acc);
        for (int n = 0; n < N; n++) {
          const float *x = inp + (size_t)n * C + c0;
          const float *d = dout + (size_t)n * C + c0;
          float r = rstd[n];
#pragma omp simd
          for (int j = 0; j < nc; j++)
            acc[j] += d[j] * x[j] * r;
        }
        for (int j = 0; j < nc; j++)
          dw[c0 + j] += (float)acc[j];
      }
    }
  }
}

/* out = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps) */
void st_cpu_layernorm_fwd(float *out, float *mean, float *rstd,
                          const float *inp, const float *w, const float *b,
                          int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= ST_CPU_PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++)
      s += x[c];
    float m = (float)(s / C);
    /* two passes: E[x^2] - m^2 cancels badly when |mean| >> std */
    double v = 0.0;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++)
      v += (double)(x[c] - m) * (x[c] - m);
    float r = (float)(1.0 / sqrt(v / C + eps));
#pragma omp simd
    for (int c = 0; c < C; c++)
      o[c] = (x[c] - m) * r * w[c] + b[c];
    if (mean)
      mean[n] = m;
    if (rstd)
      rstd[n] = r;
  }
}

/* With xn = (x - mean) rstd and g = w*dout:
 * dinp += rstd (g - mean(g) - xn mean(g xn)); dw += sum_n dout xn;
 * db += sum_n dout */
void st_cpu_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const float *mean,
                          const float *rstd, int N, int C) {
  int nblk = (C + CB - 1) / CB;
#pragma omp parallel if ((size_t)N * C >= ST_CPU_PAR_MIN)
  {
#pragma omp for schedule(static) nowait
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float m = mean[n], r = rstd[n];
      float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
      for (int c = 0; c < C; c++) {
        float g = w[c] * d[c];
        sg += g;
        sgx += g * (x[c] - m) * r;
      }
      sg /= C;
      sgx /= C;
#pragma omp simd
      for (int c = 0; c < C; c++)
        dx[c] += r * (w[c] * d[c] - sg - (x[c] - m) * r * sgx);
    }
    if (dw || db) {
#pragma omp for schedule(static)
      for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, nc = C - c0 < CB ? C - c0 : CB;
        double aw[CB], ab[CB];
        memset(aw, 0, sizeof aw);
        memset(ab, 0, sizeof ab);
        for (int n = 0; n < N; n++) {
          const float *x = inp + (size_t)n * C + c0;
          const float *d = dout + (size_t)n * C + c0;
          float m = mean[n], r = rstd[n];
#pragma omp simd
          for (int j = 0; j < nc; j++) {
            aw[j] += d[j] * (x[j] - m) * r;
            ab[j] += d[j];
          }
        }
        for (int j = 0; j < nc; j++) {
          if (dw)
            dw[c0 + j] += (float)aw[j];
          if (db)
            db[c0 + j] += (float)ab[j];
        }
      }
    }
  }
}
