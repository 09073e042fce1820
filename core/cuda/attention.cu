/* attention.cu - RoPE and causal grouped-query attention, flash style.
 *
 * qkv[B,T,(NH+2*NKV)*HS]: per token the NH query heads, then NKV key heads,
 * then NKV value heads; query head h reads kv head h / (NH/NKV).
 *
 * No T x T matrix is stored. Forward: a block owns 64 query rows of one
 * (b, h) and walks the key tiles up to the diagonal with an online softmax,
 * keeping lse[B,NH,T]. Backward recomputes P = exp(S - lse) tile by tile:
 * one kernel accumulates dq per query tile, another accumulates dk and dv per
 * key tile over the query rows of every query head in its GQA group, so
 * every output element has one writer (no atomics).
 *
 * Tiles: 64 x 64 scores, 256 threads as 16 x 16; a thread owns rows
 * ty + 16i (i < 4) and columns tx + 16j of a tile. NJ = ceil(HS/16) head
 * columns per thread is a template parameter so the accumulators stay in
 * registers (HS <= 128). Plain fp32 on the CUDA cores; the tensor-core
 * kernels of attention_mma.cu take over where they apply (attn_impl). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"

enum {
  AT = 64,          /* query and key rows per tile */
  AT_THREADS = 256, /* 16 x 16 */
  SP = AT + 1,      /* row stride of score tiles (odd: no bank conflicts) */
};

/* Row stride of a [64][HS] tile in shared memory: at least the 16*NJ
 * columns the threads read, and odd, so the 16 lanes that read one column of
 * 16 different rows hit 16 different banks. */
template <int NJ>
static __host__ __device__ int tile_ld() {
  return (16 * NJ) | 1;
}

/* dst[r][d] = src[(r0 + r) * rs + d] for d < HS; zero for rows >= T and for
 * the padding columns HS..16*NJ-1, so every value a thread reads is set. */
template <int NJ>
static __device__ void load_tile(float *dst, const float *src, size_t rs,
                                 int r0, int T, int HS) {
  const int W = 16 * NJ, ld = tile_ld<NJ>();
  for (int idx = threadIdx.x; idx < AT * W; idx += AT_THREADS) {
    int r = idx / W, d = idx - r * W;
    dst[r * ld + d] =
        (r0 + r < T && d < HS) ? src[(size_t)(r0 + r) * rs + d] : 0.0f;
  }
}

static int nj_for(int HS) {
  if (HS <= 16) return 1;
  if (HS <= 32) return 2;
  if (HS <= 64) return 4;
  if (HS <= 128) return 8;
  /* model loading is expected to refuse this for the cuda backend */
  cuda_fatal("attention", "head size > 128 is not supported", __FILE__,
             __LINE__);
  return 0;
}

/* dynamic shared memory above 48 KiB must be allowed per kernel, once */
static void allow_smem(const void *kernel, size_t bytes, int *done) {
  if (*done) return;
  CUDA_CHECK(cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  *done = 1;
}

/* ------------------------------------------------------------------------ */
/* RoPE */

/* One thread per (b, t, i < HS/2) rotates pair (i, i + HS/2) of every q and
 * k head. The angle t * freq[i] is rounded in float as transformers (and
 * the CPU backend) compute it; the IEEE-rounded intrinsics and the double
 * sincos keep --use_fast_math's approximations out, which at angles of
 * thousands of radians would be wrong in the first digit. cos and sin are
 * rounded to float, then multiplied by the factor s (yarn's
 * attention_scaling; 1 otherwise). */
__global__ void rope_kernel(float *qkv, int T, int nrot, int HS, size_t rs,
                            const float *freq, float s, float sgn,
                            size_t total) {
  int half = HS / 2;
  for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
       idx < total; idx += (size_t)gridDim.x * blockDim.x) {
    size_t bt = idx / half;
    int i = (int)(idx - bt * half);
    float t = (float)(bt % T);
    double sd, cd;
    sincos((double)__fmul_rn(t, freq[i]), &sd, &cd);
    float cs = __fmul_rn((float)cd, s), sn = sgn * __fmul_rn((float)sd, s);
    float *row = qkv + bt * rs;
    for (int h = 0; h < nrot; h++) {
      float *x = row + (size_t)h * HS + i, *y = x + half;
      float a = *x, b = *y;
      *x = a * cs - b * sn;
      *y = b * cs + a * sn;
    }
  }
}

void cuda_rope(float *qkv, int B, int T, int NH, int NKV, int HS,
               const float *freq, float s, int inverse) {
  size_t total = (size_t)B * T * (HS / 2);
  if (!total) return;
  size_t rs = (size_t)(NH + 2 * NKV) * HS;
  rope_kernel<<<cuda_grid(total, 256), 256>>>(qkv, T, NH + NKV, HS, rs, freq,
                                              s, inverse ? -1.0f : 1.0f, total);
  LAUNCH_CHECK();
}

/* ------------------------------------------------------------------------ */
/* forward */

/* grid (query tiles, NH, B); heaviest tiles (most keys) first */
template <int NJ>
__global__ void __launch_bounds__(AT_THREADS)
    attn_fwd_kernel(float *out, float *lse, const float *qkv, int T, int NH,
                    int NKV, int HS, float scale) {
  extern __shared__ float sm[];
  const int ld = tile_ld<NJ>();
  float *sQ = sm, *sK = sQ + AT * ld, *sV = sK + AT * ld, *sP = sV + AT * ld;
  float *sM = sP + AT * SP; /* running max per row */
  float *sL = sM + AT;      /* running sum of exp per row */
  float *sA = sL + AT;      /* this tile's rescale factor per row */
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int warp = tid / 32, lane = tid % 32;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int g = h / (NH / NKV), q0 = qt * AT;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS;
  const float *base = qkv + (size_t)b * T * rs;

  load_tile<NJ>(sQ, base + (size_t)h * HS, rs, q0, T, HS);
  if (tid < AT) {
    sM[tid] = -INFINITY;
    sL[tid] = 0.0f;
  }
  float o[4][NJ];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < NJ; j++) o[i][j] = 0.0f;

  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * AT;
    __syncthreads(); /* the previous tile's sK, sV, sP are no longer read */
    load_tile<NJ>(sK, base + (size_t)(NH + g) * HS, rs, k0, T, HS);
    load_tile<NJ>(sV, base + (size_t)(NH + NKV + g) * HS, rs, k0, T, HS);
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[i][j] = 0.0f;
#pragma unroll 4
    for (int d = 0; d < HS; d++) {
      float a[4], c[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = sQ[(ty + 16 * i) * ld + d];
#pragma unroll
      for (int j = 0; j < 4; j++) c[j] = sK[(tx + 16 * j) * ld + d];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) s[i][j] += a[i] * c[j];
    }
    /* causal mask; every row keeps at least key k0 <= q (rows past T see
     * zero keys and are never written) */
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) {
        int r = ty + 16 * i, c = tx + 16 * j;
        sP[r * SP + c] = k0 + c <= q0 + r ? s[i][j] * scale : -INFINITY;
      }
    __syncthreads();

    /* online softmax: warp w owns rows 8w..8w+7, a lane two columns */
    for (int rr = 0; rr < AT / 8; rr++) {
      int r = warp * (AT / 8) + rr;
      float x0 = sP[r * SP + lane], x1 = sP[r * SP + lane + 32];
      float mo = sM[r];
      float mn = fmaxf(mo, warp_max(fmaxf(x0, x1)));
      float p0 = __expf(x0 - mn), p1 = __expf(x1 - mn);
      sP[r * SP + lane] = p0;
      sP[r * SP + lane + 32] = p1;
      float ps = warp_sum(p0 + p1);
      if (lane == 0) {
        float a = __expf(mo - mn); /* 0 on the first tile (mo = -inf) */
        sA[r] = a;
        sL[r] = sL[r] * a + ps;
        sM[r] = mn;
      }
    }
    __syncthreads();

    /* o = o * a + P V */
#pragma unroll
    for (int i = 0; i < 4; i++) {
      float a = sA[ty + 16 * i];
#pragma unroll
      for (int j = 0; j < NJ; j++) o[i][j] *= a;
    }
#pragma unroll 4
    for (int c = 0; c < AT; c++) {
      float p[4], v[NJ];
#pragma unroll
      for (int i = 0; i < 4; i++) p[i] = sP[(ty + 16 * i) * SP + c];
#pragma unroll
      for (int j = 0; j < NJ; j++) v[j] = sV[c * ld + tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++) o[i][j] += p[i] * v[j];
    }
  }

#pragma unroll
  for (int i = 0; i < 4; i++) {
    int r = ty + 16 * i, q = q0 + r;
    if (q >= T) continue;
    float inv = 1.0f / sL[r];
    float *orow = out + ((size_t)(b * T + q) * NH + h) * HS;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
      int d = tx + 16 * j;
      if (d < HS) orow[d] = o[i][j] * inv;
    }
  }
  if (lse && tid < AT && q0 + tid < T)
    lse[((size_t)b * NH + h) * T + q0 + tid] = sM[tid] + logf(sL[tid]);
}

template <int NJ>
static void attn_fwd_launch(float *out, float *lse, const float *qkv, int B,
                            int T, int NH, int NKV, int HS) {
  static int smem_set;
  size_t smem = (3 * AT * tile_ld<NJ>() + AT * SP + 3 * AT) * sizeof(float);
  allow_smem((const void *)attn_fwd_kernel<NJ>, smem, &smem_set);
  dim3 grid((T + AT - 1) / AT, NH, B);
  attn_fwd_kernel<NJ><<<grid, AT_THREADS, smem>>>(out, lse, qkv, T, NH, NKV,
                                                  HS, 1.0f / sqrtf((float)HS));
  LAUNCH_CHECK();
}

/* Which kernels run: 0 the fp32 ones below; 1 attention_mma.cu with bf16
 * operands (bf16 mode); 2 attention_mma.cu with tf32 operands (fp32 mode,
 * opt-in while it is new: STRATA_CUDA_ATTN=tf32). STRATA_CUDA_ATTN=simple
 * keeps the fp32 kernels in every mode. Read per call, so tests can switch. */
static int attn_impl(int HS, const void *p0, const void *p1, const void *p2) {
  const char *e = getenv("STRATA_CUDA_ATTN");
  if ((e && !strcmp(e, "simple")) || !attn_mma_ok(HS, p0, p1, p2)) return 0;
  if (cuda_bf16()) return 1;
  return e && !strcmp(e, "tf32") ? 2 : 0;
}

/* Sliding windows are not implemented here (the backend's attn_window is
 * 0, so st_model_new refuses a windowed model on cuda); a window reaching
 * these kernels anyway is a bug, not a model to compute differently. */
static void no_window(int window) {
  if (window > 0)
    cuda_fatal("attention", "sliding_window attention is not implemented on "
               "the cuda backend", __FILE__, __LINE__);
}

void cuda_attn_fwd(float *out, float *lse, const float *qkv, int B, int T,
                   int NH, int NKV, int HS, int window) {
  no_window(window);
  if (B <= 0 || T <= 0 || NH <= 0) return;
  int impl = attn_impl(HS, out, qkv, qkv);
  if (impl) {
    attn_fwd_mma(impl == 2, out, lse, qkv, B, T, NH, NKV, HS);
    return;
  }
  switch (nj_for(HS)) {
    case 1: attn_fwd_launch<1>(out, lse, qkv, B, T, NH, NKV, HS); break;
    case 2: attn_fwd_launch<2>(out, lse, qkv, B, T, NH, NKV, HS); break;
    case 4: attn_fwd_launch<4>(out, lse, qkv, B, T, NH, NKV, HS); break;
    default: attn_fwd_launch<8>(out, lse, qkv, B, T, NH, NKV, HS); break;
  }
}

/* ------------------------------------------------------------------------ */
/* backward
 * With P = exp(S*scale - lse), D_t = dout_t . out_t, dS = P (dout v - D):
 *   dq_t = scale sum_s dS_ts k_s, dk_s = scale sum_t dS_ts q_t,
 *   dv_s = sum_t P_ts dout_t. */

/* D[b,h,t] = dout[b,t,h,:] . out[b,t,h,:], one warp per row */
__global__ void attn_rowdot_kernel(float *D, const float *dout,
                                   const float *out, int T, int NH, int HS,
                                   size_t rows) {
  size_t row = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float *a = dout + row * HS, *o = out + row * HS;
  float s = 0.0f;
  for (int d = lane; d < HS; d += 32) s += a[d] * o[d];
  s = warp_sum(s);
  if (lane == 0) {
    size_t bt = row / NH;
    int h = (int)(row - bt * NH);
    size_t b = bt / T, t = bt - b * T;
    D[(b * NH + h) * T + t] = s;
  }
}

/* dq for 64 query rows of one (b, h); grid (query tiles, NH, B) */
template <int NJ>
__global__ void __launch_bounds__(AT_THREADS)
    attn_bwd_dq_kernel(float *dqkv, const float *dout, const float *qkv,
                       const float *lse, const float *D, int T, int NH,
                       int NKV, int HS, float scale) {
  extern __shared__ float sm[];
  const int ld = tile_ld<NJ>();
  float *sQ = sm, *sO = sQ + AT * ld, *sK = sO + AT * ld, *sV = sK + AT * ld;
  float *sS = sV + AT * ld, *sLse = sS + AT * SP, *sD = sLse + AT;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int g = h / (NH / NKV), q0 = qt * AT;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS, ors = (size_t)NH * HS;
  const float *base = qkv + (size_t)b * T * rs;

  load_tile<NJ>(sQ, base + (size_t)h * HS, rs, q0, T, HS);
  load_tile<NJ>(sO, dout + (size_t)b * T * ors + (size_t)h * HS, ors, q0, T,
                HS);
  if (tid < AT) {
    size_t li = ((size_t)b * NH + h) * T + q0 + tid;
    bool ok = q0 + tid < T;
    sLse[tid] = ok ? lse[li] : 0.0f;
    sD[tid] = ok ? D[li] : 0.0f;
  }
  float dq[4][NJ];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < NJ; j++) dq[i][j] = 0.0f;

  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * AT;
    __syncthreads();
    load_tile<NJ>(sK, base + (size_t)(NH + g) * HS, rs, k0, T, HS);
    load_tile<NJ>(sV, base + (size_t)(NH + NKV + g) * HS, rs, k0, T, HS);
    __syncthreads();

    float s[4][4], dp[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[i][j] = dp[i][j] = 0.0f;
#pragma unroll 4
    for (int d = 0; d < HS; d++) {
      float a[4], e[4], kk[4], vv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        a[i] = sQ[(ty + 16 * i) * ld + d];
        e[i] = sO[(ty + 16 * i) * ld + d];
      }
#pragma unroll
      for (int j = 0; j < 4; j++) {
        kk[j] = sK[(tx + 16 * j) * ld + d];
        vv[j] = sV[(tx + 16 * j) * ld + d];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
          s[i][j] += a[i] * kk[j];
          dp[i][j] += e[i] * vv[j];
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) {
        int r = ty + 16 * i, c = tx + 16 * j;
        float ds = 0.0f;
        if (k0 + c <= q0 + r && q0 + r < T) {
          float p = __expf(s[i][j] * scale - sLse[r]);
          ds = p * (dp[i][j] - sD[r]);
        }
        sS[r * SP + c] = ds;
      }
    __syncthreads();

#pragma unroll 4
    for (int c = 0; c < AT; c++) {
      float ds[4], kk[NJ];
#pragma unroll
      for (int i = 0; i < 4; i++) ds[i] = sS[(ty + 16 * i) * SP + c];
#pragma unroll
      for (int j = 0; j < NJ; j++) kk[j] = sK[c * ld + tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++) dq[i][j] += ds[i] * kk[j];
    }
  }

#pragma unroll
  for (int i = 0; i < 4; i++) {
    int q = q0 + ty + 16 * i;
    if (q >= T) continue;
    float *row = dqkv + (size_t)(b * T + q) * rs + (size_t)h * HS;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
      int d = tx + 16 * j;
      if (d < HS) row[d] = dq[i][j] * scale;
    }
  }
}

/* dk, dv for 64 key rows of one (b, kv head g), over the query tiles at or
 * below the diagonal of every query head in the group; grid (key tiles,
 * NKV, B). Here a thread's rows are keys and its columns queries. */
template <int NJ>
__global__ void __launch_bounds__(AT_THREADS)
    attn_bwd_dkv_kernel(float *dqkv, const float *dout, const float *qkv,
                        const float *lse, const float *D, int T, int NH,
                        int NKV, int HS, float scale) {
  extern __shared__ float sm[];
  const int ld = tile_ld<NJ>();
  float *sK = sm, *sV = sK + AT * ld, *sQ = sV + AT * ld, *sO = sQ + AT * ld;
  float *sP = sO + AT * ld, *sS = sP + AT * SP, *sLse = sS + AT * SP;
  float *sD = sLse + AT;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int kt = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
  const int k0 = kt * AT, nqt = (T + AT - 1) / AT, grp = NH / NKV;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS, ors = (size_t)NH * HS;
  const float *base = qkv + (size_t)b * T * rs;

  load_tile<NJ>(sK, base + (size_t)(NH + g) * HS, rs, k0, T, HS);
  load_tile<NJ>(sV, base + (size_t)(NH + NKV + g) * HS, rs, k0, T, HS);
  float dk[4][NJ], dv[4][NJ];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < NJ; j++) dk[i][j] = dv[i][j] = 0.0f;

  for (int h = g * grp; h < (g + 1) * grp; h++)
    for (int qt = kt; qt < nqt; qt++) {
      const int q0 = qt * AT;
      __syncthreads(); /* the previous sQ, sO, sP, sS are no longer read */
      load_tile<NJ>(sQ, base + (size_t)h * HS, rs, q0, T, HS);
      load_tile<NJ>(sO, dout + (size_t)b * T * ors + (size_t)h * HS, ors, q0,
                    T, HS);
      if (tid < AT) {
        size_t li = ((size_t)b * NH + h) * T + q0 + tid;
        bool ok = q0 + tid < T;
        sLse[tid] = ok ? lse[li] : 0.0f;
        sD[tid] = ok ? D[li] : 0.0f;
      }
      __syncthreads();

      float s[4][4], dp[4][4];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) s[i][j] = dp[i][j] = 0.0f;
#pragma unroll 4
      for (int d = 0; d < HS; d++) {
        float kk[4], vv[4], a[4], e[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
          kk[i] = sK[(ty + 16 * i) * ld + d];
          vv[i] = sV[(ty + 16 * i) * ld + d];
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
          a[j] = sQ[(tx + 16 * j) * ld + d];
          e[j] = sO[(tx + 16 * j) * ld + d];
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
          for (int j = 0; j < 4; j++) {
            s[i][j] += kk[i] * a[j];
            dp[i][j] += vv[i] * e[j];
          }
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
          int r = ty + 16 * i, c = tx + 16 * j; /* key row, query column */
          float p = 0.0f, ds = 0.0f;
          if (k0 + r <= q0 + c && q0 + c < T) {
            p = __expf(s[i][j] * scale - sLse[c]);
            ds = p * (dp[i][j] - sD[c]);
          }
          sP[r * SP + c] = p;
          sS[r * SP + c] = ds;
        }
      __syncthreads();

#pragma unroll 4
      for (int c = 0; c < AT; c++) {
        float p[4], ds[4], o[NJ], a[NJ];
#pragma unroll
        for (int i = 0; i < 4; i++) {
          p[i] = sP[(ty + 16 * i) * SP + c];
          ds[i] = sS[(ty + 16 * i) * SP + c];
        }
#pragma unroll
        for (int j = 0; j < NJ; j++) {
          o[j] = sO[c * ld + tx + 16 * j];
          a[j] = sQ[c * ld + tx + 16 * j];
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
          for (int j = 0; j < NJ; j++) {
            dv[i][j] += p[i] * o[j];
            dk[i][j] += ds[i] * a[j];
          }
      }
    }

#pragma unroll
  for (int i = 0; i < 4; i++) {
    int k = k0 + ty + 16 * i;
    if (k >= T) continue;
    float *row = dqkv + (size_t)(b * T + k) * rs;
    float *rk = row + (size_t)(NH + g) * HS, *rv = row + (size_t)(NH + NKV + g) * HS;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
      int d = tx + 16 * j;
      if (d < HS) {
        rk[d] = dk[i][j] * scale;
        rv[d] = dv[i][j];
      }
    }
  }
}

template <int NJ>
static void attn_bwd_launch(float *dqkv, const float *dout, const float *qkv,
                            const float *lse, const float *D, int B, int T,
                            int NH, int NKV, int HS) {
  static int dq_set, dkv_set;
  const int ld = tile_ld<NJ>(), nt = (T + AT - 1) / AT;
  const float scale = 1.0f / sqrtf((float)HS);
  size_t smem_dq = (4 * AT * ld + AT * SP + 2 * AT) * sizeof(float);
  size_t smem_dkv = (4 * AT * ld + 2 * AT * SP + 2 * AT) * sizeof(float);
  allow_smem((const void *)attn_bwd_dq_kernel<NJ>, smem_dq, &dq_set);
  allow_smem((const void *)attn_bwd_dkv_kernel<NJ>, smem_dkv, &dkv_set);
  attn_bwd_dq_kernel<NJ><<<dim3(nt, NH, B), AT_THREADS, smem_dq>>>(
      dqkv, dout, qkv, lse, D, T, NH, NKV, HS, scale);
  LAUNCH_CHECK();
  attn_bwd_dkv_kernel<NJ><<<dim3(nt, NKV, B), AT_THREADS, smem_dkv>>>(
      dqkv, dout, qkv, lse, D, T, NH, NKV, HS, scale);
  LAUNCH_CHECK();
}

void cuda_attn_bwd(float *dqkv, const float *dout, const float *qkv,
                   const float *out, const float *lse, int B, int T, int NH,
                   int NKV, int HS, int window) {
  no_window(window);
  if (B <= 0 || T <= 0 || NH <= 0) return;
  int nj = nj_for(HS);
  size_t rows = (size_t)B * T * NH;
  float *D = (float *)cuda_alloc(rows * sizeof(float));
  if (!D) cuda_fatal("cuda_alloc", st_errmsg(), __FILE__, __LINE__);
  attn_rowdot_kernel<<<(unsigned)((rows + 7) / 8), 256>>>(D, dout, out, T, NH,
                                                          HS, rows);
  LAUNCH_CHECK();
  int impl = attn_impl(HS, dqkv, dout, qkv);
  if (impl)
    attn_bwd_mma(impl == 2, dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS);
  else switch (nj) {
    case 1: attn_bwd_launch<1>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS); break;
    case 2: attn_bwd_launch<2>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS); break;
    case 4: attn_bwd_launch<4>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS); break;
    default: attn_bwd_launch<8>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS); break;
  }
  cuda_free(D); /* reused only by work queued after the kernels above */
}
