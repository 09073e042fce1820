/* dropout.c - inverted dropout with a counter-hash mask (backend.h), so
 * LoRA's backward redraws the forward's mask instead of storing it. */
#include "backend.h"
#include "cpu.h"

void st_cpu_dropout(float *out, const float *inp, size_t n, float p,
                    uint64_t seed, uint64_t i0) {
  float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++)
    out[i] = st_dropout_keep(seed, i0 + i, p) ? inp[i] * s : 0.0f;
}
