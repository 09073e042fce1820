/* mma.h - bf16 and tf32 values and the warp-wide tensor-core products used
 * by attention_mma.cu, isolated here so a CPU emulator of the kernels can stand in
 * for the inline assembly (it shadows this header with its own).
 *
 * bf16 values are kept as raw uint16 bits: shared-memory tiles are arrays of
 * them and a 32-bit register holds two, the lower column in the low half. */
#ifndef ST_CUDA_MMA_H
#define ST_CUDA_MMA_H

#include <cuda_bf16.h>
#include <stdint.h>

/* round to nearest even */
static __device__ __forceinline__ uint16_t bf16_bits(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

/* two bf16 in one register: lo in bits 0..15, hi in 16..31 */
static __device__ __forceinline__ uint32_t bf16_pack(float lo, float hi) {
  return (uint32_t)bf16_bits(lo) | ((uint32_t)bf16_bits(hi) << 16);
}

/* c[16x8] += a[16x16] b[16x8]: mma.sync m16n8k16, bf16 inputs, fp32
 * accumulators. Fragments (PTX ISA, "matrix fragments for mma.m16n8k16"),
 * with g = lane / 4 and t = lane % 4:
 *   a[0] = A[g][2t, 2t+1]    a[1] = A[g+8][2t, 2t+1]
 *   a[2] = A[g][2t+8, 2t+9]  a[3] = A[g+8][2t+8, 2t+9]
 *   b[0] = B[2t, 2t+1][g]    b[1] = B[2t+8, 2t+9][g]
 *   c[0], c[1] = C[g][2t, 2t+1]   c[2], c[3] = C[g+8][2t, 2t+1]
 * All 32 lanes of the warp must take part. */
static __device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4],
                                                const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* tf32: fp32 rounded to 10 mantissa bits (nearest, ties away), as the
 * bits of a float */
static __device__ __forceinline__ uint32_t tf32_bits(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

/* c[16x8] += a[16x8] b[8x8]: mma.sync m16n8k8, tf32 inputs, fp32
 * accumulators; one element per register:
 *   a[0] = A[g][t]  a[1] = A[g+8][t]  a[2] = A[g][t+4]  a[3] = A[g+8][t+4]
 *   b[0] = B[t][g]  b[1] = B[t+4][g]
 *   c as for mma_bf16. */
static __device__ __forceinline__ void mma_tf32(float c[4], const uint32_t a[4],
                                                const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#endif
