/* convert.cu - fp32 <-> bf16/f16 for weight storage (backend.h: widen,
 * narrow, embed_fwd_h): frozen matrices held on the device in half
 * precision are widened into the model's scratch before the existing fp32
 * GEMM (weights.h). The simplest correct form of the CPU's storage rule;
 * untested on a GPU when written (none was available). */
#include <cuda_fp16.h>

#include "cuda_common.h"
#include "mma.h"

static __device__ __forceinline__ float half_to_f32(uint16_t h, int bf16) {
  if (bf16) return __uint_as_float((uint32_t)h << 16);
  return __half2float(__ushort_as_half(h));
}

/* dst[r*ldd + c] = widen(src[r*lds + c]) */
__global__ void widen_kernel(float *dst, int ldd, const void *src, int dt,
                             int lds, int rows, int cols) {
  size_t total = (size_t)rows * cols;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t r = i / cols, c = i - r * cols, at = r * lds + c;
    dst[r * ldd + c] = dt == ST_DT_F32 ? ((const float *)src)[at]
                       : half_to_f32(((const uint16_t *)src)[at], dt == ST_DT_BF16);
  }
}

void cuda_widen(float *dst, int ldd, const void *src, st_dtype dt, int lds,
                int rows, int cols) {
  size_t total = (size_t)rows * cols;
  if (!total) return;
  widen_kernel<<<cuda_grid(total, 256), 256>>>(dst, ldd, src, (int)dt, lds,
                                                rows, cols);
  LAUNCH_CHECK();
}

__global__ void narrow_kernel(uint16_t *dst, int bf16, const float *src,
                              size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    dst[i] = bf16 ? bf16_bits(src[i]) : __half_as_ushort(__float2half_rn(src[i]));
}

void cuda_narrow(void *dst, st_dtype dt, const float *src, size_t n) {
  if (!n) return;
  if (dt == ST_DT_F32) {
    if (dst != src)
      CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice));
    return;
  }
  narrow_kernel<<<cuda_grid(n, 256), 256>>>((uint16_t *)dst, dt == ST_DT_BF16,
                                            src, n);
  LAUNCH_CHECK();
}

/* out[b,t,:] = widen(wte[tok[b,t],:]) (+ wpe[t,:]) */
__global__ void embed_fwd_h_kernel(float *out, const int32_t *tok,
                                   const uint16_t *wte, int bf16,
                                   const float *wpe, int T, int C, size_t total) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C;
    int c = (int)(i - bt * C);
    float v = half_to_f32(wte[(size_t)tok[bt] * C + c], bf16);
    if (wpe) v += wpe[(bt % T) * C + c];
    out[i] = v;
  }
}

void cuda_embed_fwd_h(float *out, const int32_t *tok, const void *wte,
                      st_dtype dt, const float *wpe, int B, int T, int C) {
  size_t total = (size_t)B * T * C;
  if (!total) return;
  embed_fwd_h_kernel<<<cuda_grid(total, 256), 256>>>(
      out, tok, (const uint16_t *)wte, dt == ST_DT_BF16, wpe, T, C, total);
  LAUNCH_CHECK();
}
