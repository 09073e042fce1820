/* embed.cu - token (+ learned position) embedding. */
#include "cuda_common.h"

/* out[b,t,:] = wte[tok[b,t],:] (+ wpe[t,:]) */
__global__ void embed_fwd_kernel(float *out, const int32_t *tok,
                                 const float *wte, const float *wpe, int T,
                                 int C, size_t total) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C;
    int c = (int)(i - bt * C);
    float v = wte[(size_t)tok[bt] * C + c];
    if (wpe) v += wpe[(bt % T) * C + c];
    out[i] = v;
  }
}

void cuda_embed_fwd(float *out, const int32_t *tok, const float *wte,
                    const float *wpe, int B, int T, int C) {
  size_t total = (size_t)B * T * C;
  if (!total) return;
  embed_fwd_kernel<<<cuda_grid(total, 256), 256>>>(out, tok, wte, wpe, T, C,
                                                   total);
  LAUNCH_CHECK();
}

/* dwte[tok[b,t],:] += dout[b,t,:]. A token can repeat within the batch, so
 * rows collide: atomicAdd (the order of the adds varies run to run, within
 * float rounding). */
__global__ void embed_bwd_wte_kernel(float *dwte, const float *dout,
                                     const int32_t *tok, int C, size_t total) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C;
    int c = (int)(i - bt * C);
    atomicAdd(&dwte[(size_t)tok[bt] * C + c], dout[i]);
  }
}

/* dwpe[t,:] += sum_b dout[b,t,:]: one thread per (t, c) walks the batch,
 * so no two threads write the same element. */
__global__ void embed_bwd_wpe_kernel(float *dwpe, const float *dout, int B,
                                     int T, int C) {
  size_t total = (size_t)T * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int b = 0; b < B; b++) s += dout[(size_t)b * total + i];
    dwpe[i] += s;
  }
}

void cuda_embed_bwd(float *dwte, float *dwpe, const float *dout,
                    const int32_t *tok, int B, int T, int C) {
  size_t total = (size_t)B * T * C;
  if (!total) return;
  if (dwte) {
    embed_bwd_wte_kernel<<<cuda_grid(total, 256), 256>>>(dwte, dout, tok, C,
                                                         total);
    LAUNCH_CHECK();
  }
  if (dwpe) {
    embed_bwd_wpe_kernel<<<cuda_grid((size_t)T * C, 256), 256>>>(dwpe, dout,
                                                                 B, T, C);
    LAUNCH_CHECK();
  }
}
