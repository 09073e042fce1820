/* embed.c - token (+ learned position) embedding. */
#include <omp.h>
#include <string.h>

#include "cpu.h"

/* out[b,t,:] = wte[tok[b,t],:] (+ wpe[t,:]) */
void st_cpu_embed_fwd(float *out, const int32_t *tok, const float *wte,
                      const float *wpe, int B, int T, int C) {
#pragma omp parallel for schedule(static) if ((size_t)B * T * C >=             \
                                              ST_CPU_PAR_MIN)
  for (int bt = 0; bt < B * T; bt++) {
    float *o = out + (size_t)bt * C;
    const float *e = wte + (size_t)tok[bt] * C;
    if (wpe) {
      const float *p = wpe + (size_t)(bt % T) * C;
#pragma omp simd
      for (int c = 0; c < C; c++)
        o[c] = e[c] + p[c];
    } else {
      memcpy(o, e, (size_t)C * sizeof *o);
    }
  }
}

/* dwte[tok[b,t],:] += dout[b,t,:]; dwpe[t,:] += dout[b,t,:].
 * A token may repeat, so rows cannot be split among threads; channels can:
 * each thread owns a slice of columns (whole cache lines) for all rows. */
void st_cpu_embed_bwd(float *dwte, float *dwpe, const float *dout,
                      const int32_t *tok, int B, int T, int C) {
#pragma omp parallel if ((size_t)B * T * C >= ST_CPU_PAR_MIN)
  {
    int nth = omp_get_num_threads(), tid = omp_get_thread_num();
    int per = ((C + nth - 1) / nth + 15) / 16 * 16;
    int c0 = tid * per, c1 = c0 + per < C ? c0 + per : C;
    for (int bt = 0; c0 < c1 && bt < B * T; bt++) {
      const float *d = dout + (size_t)bt * C;
      if (dwte) {
        float *w = dwte + (size_t)tok[bt] * C;
#pragma omp simd
        for (int c = c0; c < c1; c++)
          w[c] += d[c];
      }
      if (dwpe) {
        float *p = dwpe + (size_t)(bt % T) * C;
#pragma omp simd
        for (int c = c0; c < c1; c++)
          p[c] += d[c];
      }
    }
  }
}
