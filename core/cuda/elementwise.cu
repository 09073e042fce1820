/* elementwise.cu - bias add and gradient, vector add/accumulate/scale and
 * the double-precision reductions behind gradient norms. */
#include "cuda_common.h"

/* out[n*ld + oc] += bias[oc] */
__global__ void add_bias_kernel(float *out, const float *bias, int N, int OC,
                                int ld) {
  size_t total = (size_t)N * OC;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t n = i / OC;
    int oc = (int)(i - n * OC);
    out[n * ld + oc] += bias[oc];
  }
}

void cuda_add_bias(float *out, const float *bias, int N, int OC, int ld) {
  if (N <= 0 || OC <= 0) return;
  add_bias_kernel<<<cuda_grid((size_t)N * OC, 256), 256>>>(out, bias, N, OC,
                                                           ld);
  LAUNCH_CHECK();
}

/* dbias[oc] += sum_n dout[n*ld + oc]. A block owns 32 columns: its 32x32
 * threads walk the rows 32 apart (a warp reads 32 adjacent floats of one
 * row), then fold the 32 partial sums per column. No atomics, so the result
 * does not depend on scheduling. */
__global__ void bias_grad_kernel(float *dbias, const float *dout, int N,
                                 int OC, int ld) {
  __shared__ float part[32][33];
  int tx = threadIdx.x, ty = threadIdx.y;
  int c = blockIdx.x * 32 + tx;
  float s = 0.0f;
  if (c < OC)
    for (int n = ty; n < N; n += 32) s += dout[(size_t)n * ld + c];
  part[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && c < OC) {
    float t = 0.0f;
    for (int i = 0; i < 32; i++) t += part[i][tx];
    dbias[c] += t;
  }
}

void cuda_bias_grad(float *dbias, const float *dout, int N, int OC, int ld) {
  if (N <= 0 || OC <= 0) return;
  bias_grad_kernel<<<(OC + 31) / 32, dim3(32, 32)>>>(dbias, dout, N, OC, ld);
  LAUNCH_CHECK();
}

/* out = a + b (out may alias a or b) */
__global__ void add_kernel(float *out, const float *a, const float *b,
                           size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    out[i] = a[i] + b[i];
}

void cuda_add(float *out, const float *a, const float *b, size_t n) {
  if (!n) return;
  add_kernel<<<cuda_grid(n, 256), 256>>>(out, a, b, n);
  LAUNCH_CHECK();
}

__global__ void acc_kernel(float *dst, const float *src, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    dst[i] += src[i];
}

void cuda_acc(float *dst, const float *src, size_t n) {
  if (!n) return;
  acc_kernel<<<cuda_grid(n, 256), 256>>>(dst, src, n);
  LAUNCH_CHECK();
}

__global__ void scale_kernel(float *x, float s, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    x[i] *= s;
}

void cuda_scale(float *x, float s, size_t n) {
  if (!n) return;
  scale_kernel<<<cuda_grid(n, 256), 256>>>(x, s, n);
  LAUNCH_CHECK();
}

/* Partial sums in double, one per block (fixed grid, fixed order, so the
 * result is reproducible); the host adds the partials. */
enum { RED_THREADS = 256, RED_BLOCKS = 1024 };

template <int SQUARE>
__global__ void reduce_kernel(double *partial, const float *x, size_t n) {
  __shared__ double warp_part[RED_THREADS / 32];
  double s = 0.0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    double v = x[i];
    s += SQUARE ? v * v : v;
  }
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_part[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0.0;
    for (int w = 0; w < RED_THREADS / 32; w++) t += warp_part[w];
    partial[blockIdx.x] = t;
  }
}

template <int SQUARE>
static double reduce(const float *x, size_t n) {
  if (!n) return 0.0;
  unsigned g = (unsigned)((n + RED_THREADS - 1) / RED_THREADS);
  if (g > RED_BLOCKS) g = RED_BLOCKS;
  double *partial = (double *)cuda_alloc(RED_BLOCKS * sizeof(double));
  if (!partial)
    cuda_fatal("cuda_alloc", st_errmsg(), __FILE__, __LINE__);
  reduce_kernel<SQUARE><<<g, RED_THREADS>>>(partial, x, n);
  LAUNCH_CHECK();
  double host[RED_BLOCKS];
  CUDA_CHECK(cudaMemcpy(host, partial, g * sizeof(double),
                        cudaMemcpyDeviceToHost));
  cuda_free(partial);
  double s = 0.0;
  for (unsigned i = 0; i < g; i++) s += host[i];
  return s;
}

double cuda_sumsq(const float *x, size_t n) { return reduce<1>(x, n); }
double cuda_sum(const float *x, size_t n) { return reduce<0>(x, n); }
