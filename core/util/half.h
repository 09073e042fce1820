/* half.h - fp32 <-> bf16 / f16 bit conversions, the portable ones: what
 * safetensors reads and writes, and what the CPU backend falls back to
 * without F16C. Narrowing rounds to nearest even, as torch's .to(bfloat16)
 * and .to(float16) do: NaN stays NaN, f16 overflow becomes inf, values
 * below f16's normal range become subnormals or zero. */
#ifndef ST_HALF_H
#define ST_HALF_H

#include <stdint.h>
#include <string.h>

static inline float st_half_bf16_to_f32(uint16_t h) { /* the top half of an f32 */
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static inline uint16_t st_half_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40);
  u += 0x7fffu + (u >> 16 & 1);
  return (uint16_t)(u >> 16);
}

static inline float st_half_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f,
           man = h & 0x3ff, u;
  if (e == 0x1f) {
    u = sign | 0x7f800000u | man << 13; /* inf / nan */
  } else if (e) {
    u = sign | (e + 112) << 23 | man << 13; /* rebias 15 -> 127 */
  } else if (man) { /* subnormal: normalise the mantissa */
    e = 113;
    while (!(man & 0x400)) { man <<= 1; e--; }
    u = sign | e << 23 | (man & 0x3ff) << 13;
  } else {
    u = sign;
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static inline uint16_t st_half_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = u >> 16 & 0x8000, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00); /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504 */
  if (a < 0x38800000u) { /* below 2^-14: an f16 subnormal (or zero) */
    if (a < 0x33000000u) return (uint16_t)sign; /* under half the smallest */
    uint32_t e = a >> 23, man = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e; /* 14..24: man >> shift is in units of 2^-24 */
    uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
  }
  return (uint16_t)(sign | (a + 0xfffu + (a >> 13 & 1) - (112u << 23)) >> 13);
}

#endif
