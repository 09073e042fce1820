/* convert.c - fp32 <-> bf16/f16 for weight storage (backend.h: widen,
 * narrow, embed_fwd_h).
 *
 * Widening is exact and runs before every GEMM on a half-precision frozen
 * matrix, so it is written to vectorise: bf16 is the top half of an fp32,
 * and f16 goes through the F16C instructions (-march=native on any x86-64
 * since 2012); without F16C a portable bit-level conversion is used.
 * Narrowing (a layer freezing again, a write into a frozen matrix) rounds
 * to nearest even, as torch's .to(bfloat16) and .to(float16) do. */
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "backend.h"
#include "cpu.h"
#include "half.h"

#define f32_to_bf16 st_half_f32_to_bf16
#if defined(__F16C__)
static inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t f32_to_f16(float f) {
  return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#else
#define f16_to_f32 st_half_f16_to_f32
#define f32_to_f16 st_half_f32_to_f16
#endif

/* one row: dst[0..n) = widen(src[0..n)) */
static void widen_row(float *dst, const uint16_t *src, st_dtype dt, int n) {
  int i = 0;
  if (dt == ST_DT_BF16) {
#pragma omp simd
    for (int j = 0; j < n; j++) {
      uint32_t u = (uint32_t)src[j] << 16;
      memcpy(dst + j, &u, 4);
    }
    return;
  }
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
  for (; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

void st_cpu_widen(float *dst, int ldd, const void *src, st_dtype dt, int lds,
                  int rows, int cols) {
  if (rows <= 0 || cols <= 0) return;
  if (dt == ST_DT_F32) {
    const float *s = src;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= ST_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++)
      memcpy(dst + (size_t)r * ldd, s + (size_t)r * lds, (size_t)cols * 4);
    return;
  }
  const uint16_t *s = src;
  /* one long row (an embedding row, a bias) is split so both cores work */
  if (rows == 1 && (size_t)cols >= ST_CPU_PAR_MIN) {
    enum { PIECE = 8192 };
    int np = (cols + PIECE - 1) / PIECE;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < np; p++) {
      int c0 = p * PIECE, n = cols - c0 < PIECE ? cols - c0 : PIECE;
      widen_row(dst + c0, s + c0, dt, n);
    }
    return;
  }
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= ST_CPU_PAR_MIN)
  for (int r = 0; r < rows; r++)
    widen_row(dst + (size_t)r * ldd, s + (size_t)r * lds, dt, cols);
}

void st_cpu_narrow(void *dst, st_dtype dt, const float *src, size_t n) {
  if (dt == ST_DT_F32) {
    if (n && dst != src) memcpy(dst, src, n * 4);
    return;
  }
  uint16_t *d = dst;
  if (dt == ST_DT_BF16) {
#pragma omp parallel for simd schedule(static) if (n >= ST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
    return;
  }
#pragma omp parallel for schedule(static) if (n >= ST_CPU_PAR_MIN)
  for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
}

void st_cpu_embed_fwd_h(float *out, const int32_t *tok, const void *wte,
                        st_dtype dt, const float *wpe, int B, int T, int C) {
  const uint16_t *w = wte;
#pragma omp parallel for schedule(static) if ((size_t)B * T * C >= ST_CPU_PAR_MIN)
  for (int bt = 0; bt < B * T; bt++) {
    float *o = out + (size_t)bt * C;
    widen_row(o, w + (size_t)tok[bt] * C, dt, C);
    if (!wpe) continue;
    const float *p = wpe + (size_t)(bt % T) * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] += p[c];
  }
}
