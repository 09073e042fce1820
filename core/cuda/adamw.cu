/* adamw.cu - AdamW with decoupled weight decay. */
#include <math.h>

#include "cuda_common.h"

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (m c1 / (sqrt(v c2) + eps) + wd p) with the bias corrections
 * c1 = 1/(1-b1^t), c2 = 1/(1-b2^t) computed once on the host in double */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v,
                             size_t n, float lr, float b1, float b2, float eps,
                             float wd, float c1, float c2) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi * c1 / (sqrtf(vi * c2) + eps) + wd * p[i]);
  }
}

void cuda_adamw(float *p, const float *g, float *m, float *v, size_t n,
                float lr, float b1, float b2, float eps, float wd, int t) {
  if (!n) return;
  float c1 = (float)(1.0 / (1.0 - pow(b1, t)));
  float c2 = (float)(1.0 / (1.0 - pow(b2, t)));
  adamw_kernel<<<cuda_grid(n, 256), 256>>>(p, g, m, v, n, lr, b1, b2, eps, wd,
                                           c1, c2);
  LAUNCH_CHECK();
}
