/* norm.cu - RMSNorm and LayerNorm, forward and backward.
 *
 * One warp per row (rows are C floats, 64..8192): the row statistics are a
 * warp reduction, no shared memory or block barrier. Weight and bias
 * gradients are column sums over all rows, done by a second kernel that owns
 * 32 columns per block (as bias_grad does), so there are no atomics. */
#include "cuda_common.h"

enum { ROWS_PER_BLOCK = 8 }; /* warps per 256-thread block */

static unsigned row_blocks(int N) {
  return (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

/* out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) */
__global__ void rmsnorm_fwd_kernel(float *out, float *rstd, const float *inp,
                                   const float *w, int N, int C, float eps) {
  int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const float *x = inp + (size_t)row * C;
  float *o = out + (size_t)row * C;
  float ss = 0.0f;
  for (int c = lane; c < C; c += 32) ss += x[c] * x[c];
  ss = warp_sum(ss);
  float r = rsqrtf(ss / C + eps);
  for (int c = lane; c < C; c += 32) o[c] = x[c] * r * w[c];
  if (rstd && lane == 0) rstd[row] = r;
}

void cuda_rmsnorm_fwd(float *out, float *rstd, const float *inp,
                      const float *w, int N, int C, float eps) {
  if (N <= 0 || C <= 0) return;
  rmsnorm_fwd_kernel<<<row_blocks(N), 256>>>(out, rstd, inp, w, N, C, eps);
  LAUNCH_CHECK();
}

/* dinp += r (w*dout) - r^3/C * x * sum(w*dout*x) */
__global__ void rmsnorm_bwd_kernel(float *dinp, const float *dout,
                                   const float *inp, const float *w,
                                   const float *rstd, int N, int C) {
  int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
  float *dx = dinp + (size_t)row * C;
  float r = rstd[row];
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += w[c] * d[c] * x[c];
  s = warp_sum(s);
  float k = r * r * r * s / C;
  for (int c = lane; c < C; c += 32) dx[c] += r * w[c] * d[c] - k * x[c];
}

/* Column sums over the rows, 32 columns per block:
 * dw[c] += sum_n dout[n,c] * xn[n,c], db[c] += sum_n dout[n,c], where
 * xn = (x - mean) * rstd (LayerNorm) or x * rstd (RMSNorm: mean == NULL). */
__global__ void norm_param_grad_kernel(float *dw, float *db, const float *dout,
                                       const float *inp, const float *mean,
                                       const float *rstd, int N, int C) {
  __shared__ float pw[32][33], pb[32][33];
  int tx = threadIdx.x, ty = threadIdx.y;
  int c = blockIdx.x * 32 + tx;
  float sw = 0.0f, sb = 0.0f;
  if (c < C)
    for (int n = ty; n < N; n += 32) {
      size_t i = (size_t)n * C + c;
      float m = mean ? mean[n] : 0.0f;
      sw += dout[i] * (inp[i] - m) * rstd[n];
      sb += dout[i];
    }
  pw[ty][tx] = sw;
  pb[ty][tx] = sb;
  __syncthreads();
  if (ty == 0 && c < C) {
    float tw = 0.0f, tb = 0.0f;
    for (int i = 0; i < 32; i++) {
      tw += pw[i][tx];
      tb += pb[i][tx];
    }
    if (dw) dw[c] += tw;
    if (db) db[c] += tb;
  }
}

static void norm_param_grad(float *dw, float *db, const float *dout,
                            const float *inp, const float *mean,
                            const float *rstd, int N, int C) {
  if (!dw && !db) return;
  norm_param_grad_kernel<<<(C + 31) / 32, dim3(32, 32)>>>(dw, db, dout, inp,
                                                          mean, rstd, N, C);
  LAUNCH_CHECK();
}

void cuda_rmsnorm_bwd(float *dinp, float *dw, const float *dout,
                      const float *inp, const float *w, const float *rstd,
                      int N, int C) {
  if (N <= 0 || C <= 0) return;
  rmsnorm_bwd_kernel<<<row_blocks(N), 256>>>(dinp, dout, inp, w, rstd, N, C);
  LAUNCH_CHECK();
  norm_param_grad(dw, NULL, dout, inp, NULL, rstd, N, C);
}

/* out = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps); two passes
 * over the row (mean, then variance about it): E[x^2] - mean^2 cancels
 * badly when |mean| >> std. */
__global__ void layernorm_fwd_kernel(float *out, float *mean, float *rstd,
                                     const float *inp, const float *w,
                                     const float *b, int N, int C, float eps) {
  int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const float *x = inp + (size_t)row * C;
  float *o = out + (size_t)row * C;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += x[c];
  float m = warp_sum(s) / C;
  float v = 0.0f;
  for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
  float r = rsqrtf(warp_sum(v) / C + eps);
  for (int c = lane; c < C; c += 32)
    o[c] = (x[c] - m) * r * w[c] + (b ? b[c] : 0.0f);
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

void cuda_layernorm_fwd(float *out, float *mean, float *rstd,
                        const float *inp, const float *w, const float *b,
                        int N, int C, float eps) {
  if (N <= 0 || C <= 0) return;
  layernorm_fwd_kernel<<<row_blocks(N), 256>>>(out, mean, rstd, inp, w, b, N,
                                               C, eps);
  LAUNCH_CHECK();
}

/* With xn = (x - mean) rstd and g = w*dout:
 * dinp += rstd (g - mean(g) - xn mean(g xn)) */
__global__ void layernorm_bwd_kernel(float *dinp, const float *dout,
                                     const float *inp, const float *w,
                                     const float *mean, const float *rstd,
                                     int N, int C) {
  int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
  float *dx = dinp + (size_t)row * C;
  float m = mean[row], r = rstd[row];
  float sg = 0.0f, sgx = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float g = w[c] * d[c];
    sg += g;
    sgx += g * (x[c] - m) * r;
  }
  sg = warp_sum(sg) / C;
  sgx = warp_sum(sgx) / C;
  for (int c = lane; c < C; c += 32)
    dx[c] += r * (w[c] * d[c] - sg - (x[c] - m) * r * sgx);
}

void cuda_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int N, int C) {
  if (N <= 0 || C <= 0) return;
  layernorm_bwd_kernel<<<row_blocks(N), 256>>>(dinp, dout, inp, w, mean, rstd,
                                               N, C);
  LAUNCH_CHECK();
  norm_param_grad(dw, db, dout, inp, mean, rstd, N, C);
}
