/* dropout.cu - inverted dropout with the counter-hash mask of backend.h,
 * the same mask the CPU backend draws. */
#include "cuda_common.h"

__global__ void dropout_kernel(float *out, const float *inp, size_t n,
                               float p, float s, uint64_t seed, uint64_t i0) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    out[i] = st_dropout_keep(seed, i0 + i, p) ? inp[i] * s : 0.0f;
}

void cuda_dropout(float *out, const float *inp, size_t n, float p,
                  uint64_t seed, uint64_t i0) {
  if (!n) return;
  dropout_kernel<<<cuda_grid(n, 256), 256>>>(out, inp, n, p, 1.0f / (1.0f - p),
                                             seed, i0);
  LAUNCH_CHECK();
}
