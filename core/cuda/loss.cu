/* loss.cu - fused softmax + cross-entropy, one block per row of logits.
 *
 * Each thread keeps an online (max, sum of exp) pair over its strided share
 * of the row, so the row is read once for the statistics and once more to
 * write the gradient in place. */
#include <math.h>

#include "cuda_common.h"

enum { CE_THREADS = 512 };

/* merges (m2, s2) into (m, s): both are sums of exp(x - max) */
static __device__ __forceinline__ void lse_merge(float &m, float &s, float m2,
                                                 float s2) {
  if (m2 == -INFINITY) return;
  if (m == -INFINITY) {
    m = m2;
    s = s2;
    return;
  }
  float mx = fmaxf(m, m2);
  s = s * __expf(m - mx) + s2 * __expf(m2 - mx);
  m = mx;
}

/* losses[n] = logsumexp(x) - x[tgt] (0 when tgt < 0 or >= V: ignored, as
 * the CPU backend does). dscale != 0: x = dscale (softmax(x) - onehot). */
__global__ void __launch_bounds__(CE_THREADS)
    softmax_ce_kernel(float *losses, float *logits, const int32_t *tgt, int V,
                      float dscale) {
  __shared__ float sm_m[CE_THREADS / 32], sm_s[CE_THREADS / 32];
  __shared__ float row_m, row_s;
  int n = blockIdx.x, tid = threadIdx.x;
  float *x = logits + (size_t)n * V;
  int y = tgt[n];
  if (y < 0 || y >= V) { /* the whole block takes this branch */
    if (tid == 0) losses[n] = 0.0f;
    if (dscale != 0.0f)
      for (int v = tid; v < V; v += CE_THREADS) x[v] = 0.0f;
    return;
  }
  float m = -INFINITY, s = 0.0f;
  for (int v = tid; v < V; v += CE_THREADS) {
    float xv = x[v];
    if (xv > m) {
      s = (m == -INFINITY ? 0.0f : s * __expf(m - xv)) + 1.0f;
      m = xv;
    } else if (m != -INFINITY) { /* else xv = m = -inf: adds 0 */
      s += __expf(xv - m);
    }
  }
  /* read before any thread overwrites the row below */
  float xy = tid == 0 ? x[y] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    lse_merge(m, s, m2, s2);
  }
  int warp = tid / 32, lane = tid % 32;
  if (lane == 0) {
    sm_m[warp] = m;
    sm_s[warp] = s;
  }
  __syncthreads();
  if (tid == 0) {
    float M = -INFINITY, S = 0.0f;
    for (int w = 0; w < CE_THREADS / 32; w++) lse_merge(M, S, sm_m[w], sm_s[w]);
    row_m = M;
    row_s = S;
    losses[n] = logf(S) + M - xy;
  }
  __syncthreads();
  if (dscale == 0.0f) return;
  float M = row_m, k = dscale / row_s;
  for (int v = tid; v < V; v += CE_THREADS) {
    float g = __expf(x[v] - M) * k;
    x[v] = v == y ? g - dscale : g;
  }
}

void cuda_softmax_ce(float *losses, float *logits, const int32_t *tgt, int N,
                     int V, float dscale) {
  if (N <= 0 || V <= 0) return;
  softmax_ce_kernel<<<N, CE_THREADS>>>(losses, logits, tgt, V, dscale);
  LAUNCH_CHECK();
}
