/* attention_mma.cu - causal grouped-query attention on the tensor cores
 * (flash-attention-2 style), for head sizes 32, 64 and 128: bf16 operands
 * in bf16 mode; tf32 operands in fp32 mode when STRATA_CUDA_ATTN=tf32
 * (attention.cu chooses).
 *
 * Same contract and same tiling as attention.cu (a block owns 64 query rows,
 * or 64 key rows in the dk/dv kernel; lse kept; one writer per output, no
 * atomics), but the products are warp-wide mma.sync (mma.h) with fp32
 * accumulation. The fp32 inputs are rounded to the operand type as they are
 * staged into shared memory; softmax, lse, the row dots D and every output
 * stay fp32. P and dS are rounded before the products that consume them, as
 * flash-attention does.
 *
 * A block is 4 warps; warp w owns rows 16w..16w+15 of the block's 64, so a
 * 16 x 64 score tile lives in its registers as 8 accumulator fragments
 * (8 columns each) and is reused directly as the A operand of the next
 * product (bf16: two neighbouring accumulator fragments are the A layout of
 * one 16-wide k step; tf32: one fragment is one 8-wide k step once its keys
 * are renumbered, columns 2t, 2t+1 read as k = t, t+4, with B read the same
 * way). Shared-memory tiles are row-major [rows][HS + PAD] (operands read
 * along the head dimension) or transposed [HS][64 + PAD] (operands read
 * along the rows); the padding puts the 8 row groups of a fragment load on
 * different banks. The two operand types are the traits structs below. */
#include <math.h>

#include "cuda_common.h"
#include "mma.h"

enum {
  MT = 64,          /* rows of a tile */
  MT_THREADS = 128, /* 4 warps x 16 rows */
};

/* bf16 operands, mma m16n8k16; tiles of uint16 bits */
struct op_bf16 {
  typedef uint16_t T;
  enum { KS = 16, PAD = 8 };
  /* dst[0..3] = v, 8-byte aligned */
  static __device__ __forceinline__ void put4(T *dst, float4 v) {
    *(uint2 *)dst = make_uint2(bf16_pack(v.x, v.y), bf16_pack(v.z, v.w));
  }
  static __device__ __forceinline__ T put1(float x) { return bf16_bits(x); }
  /* A fragment of the 16 x 16 block at (r0, c0) of row-major tile s */
  static __device__ __forceinline__ void frag_a(uint32_t a[4], const T *s,
                                                int ld, int r0, int c0,
                                                int lane) {
    const T *p = s + (r0 + lane / 4) * ld + c0 + 2 * (lane % 4);
    a[0] = *(const uint32_t *)p;
    a[1] = *(const uint32_t *)(p + 8 * ld);
    a[2] = *(const uint32_t *)(p + 8);
    a[3] = *(const uint32_t *)(p + 8 * ld + 8);
  }
  /* B fragment (16 x 8) with B[k][n] = s[n0 + n][k0 + k] */
  static __device__ __forceinline__ void frag_b(uint32_t b[2], const T *s,
                                                int ld, int n0, int k0,
                                                int lane) {
    const T *p = s + (n0 + lane / 4) * ld + k0 + 2 * (lane % 4);
    b[0] = *(const uint32_t *)p;
    b[1] = *(const uint32_t *)(p + 8);
  }
  /* A fragment of k step kk (columns 16kk..16kk+15) from the accumulator
   * fragments 2kk and 2kk+1 of a 16 x 64 tile */
  static __device__ __forceinline__ void acc_a(uint32_t a[4],
                                               const float (*x)[4], int kk) {
    a[0] = bf16_pack(x[2 * kk][0], x[2 * kk][1]);
    a[1] = bf16_pack(x[2 * kk][2], x[2 * kk][3]);
    a[2] = bf16_pack(x[2 * kk + 1][0], x[2 * kk + 1][1]);
    a[3] = bf16_pack(x[2 * kk + 1][2], x[2 * kk + 1][3]);
  }
  /* the B fragment that pairs with acc_a: B[k][n] = st[n0 + n][16kk + k] */
  static __device__ __forceinline__ void acc_b(uint32_t b[2], const T *st,
                                               int ld, int n0, int kk,
                                               int lane) {
    frag_b(b, st, ld, n0, KS * kk, lane);
  }
  static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4],
                                             const uint32_t b[2]) {
    mma_bf16(c, a, b);
  }
};

/* tf32 operands, mma m16n8k8; tiles of tf32 bits */
struct op_tf32 {
  typedef uint32_t T;
  enum { KS = 8, PAD = 4 };
  /* dst[0..3] = v, 16-byte aligned */
  static __device__ __forceinline__ void put4(T *dst, float4 v) {
    *(uint4 *)dst = make_uint4(tf32_bits(v.x), tf32_bits(v.y), tf32_bits(v.z),
                               tf32_bits(v.w));
  }
  static __device__ __forceinline__ T put1(float x) { return tf32_bits(x); }
  static __device__ __forceinline__ void frag_a(uint32_t a[4], const T *s,
                                                int ld, int r0, int c0,
                                                int lane) {
    const T *p = s + (r0 + lane / 4) * ld + c0 + lane % 4;
    a[0] = p[0];
    a[1] = p[8 * ld];
    a[2] = p[4];
    a[3] = p[8 * ld + 4];
  }
  static __device__ __forceinline__ void frag_b(uint32_t b[2], const T *s,
                                                int ld, int n0, int k0,
                                                int lane) {
    const T *p = s + (n0 + lane / 4) * ld + k0 + lane % 4;
    b[0] = p[0];
    b[1] = p[4];
  }
  /* k step kk = accumulator fragment kk, its column 2t read as k = t and
   * column 2t+1 as k = t+4 */
  static __device__ __forceinline__ void acc_a(uint32_t a[4],
                                               const float (*x)[4], int kk) {
    a[0] = tf32_bits(x[kk][0]);
    a[1] = tf32_bits(x[kk][2]);
    a[2] = tf32_bits(x[kk][1]);
    a[3] = tf32_bits(x[kk][3]);
  }
  /* the same renumbering: k = t is row 8kk+2t of M, k = t+4 row 8kk+2t+1 */
  static __device__ __forceinline__ void acc_b(uint32_t b[2], const T *st,
                                               int ld, int n0, int kk,
                                               int lane) {
    const T *p = st + (n0 + lane / 4) * ld + KS * kk + 2 * (lane % 4);
    b[0] = p[0];
    b[1] = p[1];
  }
  static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4],
                                             const uint32_t b[2]) {
    mma_tf32(c, a, b);
  }
};

/* acc[8][4] (16 x 64) = A rows r0.. of row-major sa . (rows of sb)^T, over
 * HS columns: scores S = Q K^T and friends */
template <class O, int HS>
static __device__ __forceinline__ void mma_rows(float (*acc)[4],
                                                const typename O::T *sa,
                                                const typename O::T *sb,
                                                int r0, int lane) {
  const int ld = HS + O::PAD;
#pragma unroll
  for (int nb = 0; nb < MT / 8; nb++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[nb][e] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < HS / O::KS; kk++) {
    uint32_t a[4];
    O::frag_a(a, sa, ld, r0, O::KS * kk, lane);
#pragma unroll
    for (int nb = 0; nb < MT / 8; nb++) {
      uint32_t b[2];
      O::frag_b(b, sb, ld, 8 * nb, O::KS * kk, lane);
      O::mma(acc[nb], a, b);
    }
  }
}

/* acc[HS/8][4] (16 x HS) += x (16 x 64, accumulator fragments) . M, where
 * the transposed tile st holds M^T: st[d][row] */
template <class O, int HS>
static __device__ __forceinline__ void mma_acc(float (*acc)[4],
                                               const float (*x)[4],
                                               const typename O::T *st,
                                               int lane) {
#pragma unroll
  for (int kk = 0; kk < MT / O::KS; kk++) {
    uint32_t a[4];
    O::acc_a(a, x, kk);
#pragma unroll
    for (int nd = 0; nd < HS / 8; nd++) {
      uint32_t b[2];
      O::acc_b(b, st, MT + O::PAD, 8 * nd, kk, lane);
      O::mma(acc[nd], a, b);
    }
  }
}

/* Stages rows r0..r0+63 of src (row stride rs, HS floats each; zero past T)
 * in operand type: row-major into dst[r][HS + PAD] when dst != NULL,
 * transposed into dstT[d][64 + PAD] when dstT != NULL. 16-byte loads
 * (attn_mma_ok checked the alignment). Neighbouring threads take
 * neighbouring columns (coalesced loads), except for a transposed tile:
 * there they take neighbouring rows, so their 2- or 4-byte stores land in
 * consecutive words instead of 16-way bank conflicts. */
template <class O, int HS>
static __device__ void stage(typename O::T *dst, typename O::T *dstT,
                             const float *src, size_t rs, int r0, int T) {
  const int Q = HS / 4, LDT = MT + O::PAD;
  for (int idx = threadIdx.x; idx < MT * Q; idx += MT_THREADS) {
    int r = dstT ? idx % MT : idx / Q;
    int d = 4 * (dstT ? idx / MT : idx - r * Q);
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r0 + r < T) v = *(const float4 *)(src + (size_t)(r0 + r) * rs + d);
    if (dst) O::put4(dst + r * (HS + O::PAD) + d, v);
    if (dstT) {
      dstT[(d + 0) * LDT + r] = O::put1(v.x);
      dstT[(d + 1) * LDT + r] = O::put1(v.y);
      dstT[(d + 2) * LDT + r] = O::put1(v.z);
      dstT[(d + 3) * LDT + r] = O::put1(v.w);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* forward: grid (query tiles, NH, B), heaviest tiles first. Thread (g, t)
 * of warp w holds rows 16w+g and 16w+g+8, columns 8nb+2t and 8nb+2t+1. */

template <class O, int HS>
__global__ void __launch_bounds__(MT_THREADS)
    attn_fwd_mma_kernel(float *out, float *lse, const float *qkv, int T,
                        int NH, int NKV, float scale) {
  typedef typename O::T T_;
  extern __shared__ float sm[];
  T_ *sQ = (T_ *)sm, *sK = sQ + MT * (HS + O::PAD), *sVt = sK + MT * (HS + O::PAD);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (NH / NKV), q0 = qt * MT;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS;
  const float *base = qkv + (size_t)b * T * rs;
  const int r0 = 16 * warp;
  const int qa = q0 + r0 + g, qb = qa + 8; /* this thread's two rows */

  stage<O, HS>(sQ, NULL, base + (size_t)h * HS, rs, q0, T);
  float o[HS / 8][4];
#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++)
#pragma unroll
    for (int e = 0; e < 4; e++) o[nd][e] = 0.0f;
  /* running max and this thread's share of the running sum, per row; the
   * four threads of a row agree on the max, the sums are added at the end */
  float ma = -INFINITY, mb = -INFINITY, la = 0.0f, lb = 0.0f;

  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * MT;
    __syncthreads(); /* the previous sK, sVt are no longer read */
    stage<O, HS>(sK, NULL, base + (size_t)(NH + kvh) * HS, rs, k0, T);
    stage<O, HS>(NULL, sVt, base + (size_t)(NH + NKV + kvh) * HS, rs, k0, T);
    __syncthreads();

    float s[MT / 8][4];
    mma_rows<O, HS>(s, sQ, sK, r0, lane);
    /* scale and causal mask; key k0 <= every row of the tile, so each row
     * keeps a finite maximum (rows past T see zero keys, never written) */
    float xa = -INFINITY, xb = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < MT / 8; nb++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int k = k0 + 8 * nb + 2 * t + (e & 1), q = e < 2 ? qa : qb;
        float v = k <= q ? s[nb][e] * scale : -INFINITY;
        s[nb][e] = v;
        if (e < 2) xa = fmaxf(xa, v);
        else xb = fmaxf(xb, v);
      }
    xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, 1));
    xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, 2));
    xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, 1));
    xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, 2));
    float na = fmaxf(ma, xa), nbm = fmaxf(mb, xb);
    float aa = __expf(ma - na), ab = __expf(mb - nbm); /* 0 on the first tile */
    ma = na;
    mb = nbm;
    float sa = 0.0f, sb = 0.0f;
#pragma unroll
    for (int nb = 0; nb < MT / 8; nb++) {
      s[nb][0] = __expf(s[nb][0] - ma);
      s[nb][1] = __expf(s[nb][1] - ma);
      s[nb][2] = __expf(s[nb][2] - mb);
      s[nb][3] = __expf(s[nb][3] - mb);
      sa += s[nb][0] + s[nb][1];
      sb += s[nb][2] + s[nb][3];
    }
    la = la * aa + sa;
    lb = lb * ab + sb;
#pragma unroll
    for (int nd = 0; nd < HS / 8; nd++) {
      o[nd][0] *= aa;
      o[nd][1] *= aa;
      o[nd][2] *= ab;
      o[nd][3] *= ab;
    }
    mma_acc<O, HS>(o, s, sVt, lane); /* o += P V */
  }

  la += __shfl_xor_sync(0xffffffffu, la, 1);
  la += __shfl_xor_sync(0xffffffffu, la, 2);
  lb += __shfl_xor_sync(0xffffffffu, lb, 1);
  lb += __shfl_xor_sync(0xffffffffu, lb, 2);
  const float ia = 1.0f / la, ib = 1.0f / lb;
#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++) {
    int d = 8 * nd + 2 * t;
    if (qa < T)
      *(float2 *)(out + ((size_t)(b * T + qa) * NH + h) * HS + d) =
          make_float2(o[nd][0] * ia, o[nd][1] * ia);
    if (qb < T)
      *(float2 *)(out + ((size_t)(b * T + qb) * NH + h) * HS + d) =
          make_float2(o[nd][2] * ib, o[nd][3] * ib);
  }
  if (lse && t == 0) {
    float *l = lse + ((size_t)b * NH + h) * T;
    if (qa < T) l[qa] = ma + logf(la);
    if (qb < T) l[qb] = mb + logf(lb);
  }
}

/* ------------------------------------------------------------------------ */
/* backward, as attention.cu: P = exp(S scale - lse), dS = P (dP - D),
 * dq = scale dS K, dk = scale dS^T Q, dv = P^T dout */

/* dq for 64 query rows of one (b, h); grid (query tiles, NH, B) */
template <class O, int HS>
__global__ void __launch_bounds__(MT_THREADS)
    attn_dq_mma_kernel(float *dqkv, const float *dout, const float *qkv,
                       const float *lse, const float *D, int T, int NH,
                       int NKV, float scale) {
  typedef typename O::T T_;
  extern __shared__ float sm[];
  const int LD = HS + O::PAD;
  T_ *sQ = (T_ *)sm, *sO = sQ + MT * LD, *sK = sO + MT * LD;
  T_ *sV = sK + MT * LD, *sKt = sV + MT * LD;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (NH / NKV), q0 = qt * MT;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS, ors = (size_t)NH * HS;
  const float *base = qkv + (size_t)b * T * rs;
  const int r0 = 16 * warp, qa = q0 + r0 + g, qb = qa + 8;

  stage<O, HS>(sQ, NULL, base + (size_t)h * HS, rs, q0, T);
  stage<O, HS>(sO, NULL, dout + (size_t)b * T * ors + (size_t)h * HS, ors, q0, T);
  const float *lrow = lse + ((size_t)b * NH + h) * T;
  const float *drow = D + ((size_t)b * NH + h) * T;
  const float lsa = qa < T ? lrow[qa] : 0.0f, lsb = qb < T ? lrow[qb] : 0.0f;
  const float Da = qa < T ? drow[qa] : 0.0f, Db = qb < T ? drow[qb] : 0.0f;
  float dq[HS / 8][4];
#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++)
#pragma unroll
    for (int e = 0; e < 4; e++) dq[nd][e] = 0.0f;

  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * MT;
    __syncthreads();
    stage<O, HS>(sK, sKt, base + (size_t)(NH + kvh) * HS, rs, k0, T);
    stage<O, HS>(sV, NULL, base + (size_t)(NH + NKV + kvh) * HS, rs, k0, T);
    __syncthreads();

    float s[MT / 8][4], dp[MT / 8][4];
    mma_rows<O, HS>(s, sQ, sK, r0, lane);  /* S = Q K^T */
    mma_rows<O, HS>(dp, sO, sV, r0, lane); /* dP = dout V^T */
#pragma unroll
    for (int nb = 0; nb < MT / 8; nb++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int k = k0 + 8 * nb + 2 * t + (e & 1), q = e < 2 ? qa : qb;
        float ds = 0.0f;
        if (k <= q && q < T) {
          float p = __expf(s[nb][e] * scale - (e < 2 ? lsa : lsb));
          ds = p * (dp[nb][e] - (e < 2 ? Da : Db));
        }
        s[nb][e] = ds;
      }
    mma_acc<O, HS>(dq, s, sKt, lane); /* dq += dS K */
  }

#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++) {
    int d = h * HS + 8 * nd + 2 * t;
    if (qa < T)
      *(float2 *)(dqkv + (size_t)(b * T + qa) * rs + d) =
          make_float2(dq[nd][0] * scale, dq[nd][1] * scale);
    if (qb < T)
      *(float2 *)(dqkv + (size_t)(b * T + qb) * rs + d) =
          make_float2(dq[nd][2] * scale, dq[nd][3] * scale);
  }
}

/* dk, dv for 64 key rows of one (b, kv head), over the query tiles at or
 * below the diagonal of every query head of its group; grid (key tiles,
 * NKV, B). A warp's rows are keys, its score columns queries: it computes
 * S^T = K Q^T and dP^T = V dout^T. */
template <class O, int HS>
__global__ void __launch_bounds__(MT_THREADS)
    attn_dkv_mma_kernel(float *dqkv, const float *dout, const float *qkv,
                        const float *lse, const float *D, int T, int NH,
                        int NKV, float scale) {
  typedef typename O::T T_;
  extern __shared__ float sm[];
  const int LD = HS + O::PAD, LDT = MT + O::PAD;
  T_ *sK = (T_ *)sm, *sV = sK + MT * LD, *sQ = sV + MT * LD;
  T_ *sO = sQ + MT * LD, *sQt = sO + MT * LD, *sOt = sQt + HS * LDT;
  float *sLse = (float *)(sOt + HS * LDT), *sD = sLse + MT;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int kt = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int k0 = kt * MT, nqt = (T + MT - 1) / MT, grp = NH / NKV;
  const size_t rs = (size_t)(NH + 2 * NKV) * HS, ors = (size_t)NH * HS;
  const float *base = qkv + (size_t)b * T * rs;
  const int r0 = 16 * warp, ka = k0 + r0 + g, kb = ka + 8;

  stage<O, HS>(sK, NULL, base + (size_t)(NH + kvh) * HS, rs, k0, T);
  stage<O, HS>(sV, NULL, base + (size_t)(NH + NKV + kvh) * HS, rs, k0, T);
  float dk[HS / 8][4], dv[HS / 8][4];
#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++)
#pragma unroll
    for (int e = 0; e < 4; e++) dk[nd][e] = dv[nd][e] = 0.0f;

  for (int h = kvh * grp; h < (kvh + 1) * grp; h++)
    for (int qt = kt; qt < nqt; qt++) {
      const int q0 = qt * MT;
      __syncthreads(); /* the previous sQ, sO, sQt, sOt, sLse, sD are read */
      stage<O, HS>(sQ, sQt, base + (size_t)h * HS, rs, q0, T);
      stage<O, HS>(sO, sOt, dout + (size_t)b * T * ors + (size_t)h * HS, ors, q0,
                T);
      if (threadIdx.x < MT) {
        size_t li = ((size_t)b * NH + h) * T + q0 + threadIdx.x;
        bool ok = q0 + (int)threadIdx.x < T;
        sLse[threadIdx.x] = ok ? lse[li] : 0.0f;
        sD[threadIdx.x] = ok ? D[li] : 0.0f;
      }
      __syncthreads();

      float p[MT / 8][4], ds[MT / 8][4];
      mma_rows<O, HS>(p, sK, sQ, r0, lane);  /* S^T = K Q^T */
      mma_rows<O, HS>(ds, sV, sO, r0, lane); /* dP^T = V dout^T */
#pragma unroll
      for (int nb = 0; nb < MT / 8; nb++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int c = 8 * nb + 2 * t + (e & 1), q = q0 + c;
          int k = e < 2 ? ka : kb;
          float pv = 0.0f, dsv = 0.0f;
          if (k <= q && q < T) {
            pv = __expf(p[nb][e] * scale - sLse[c]);
            dsv = pv * (ds[nb][e] - sD[c]);
          }
          p[nb][e] = pv;
          ds[nb][e] = dsv;
        }
      mma_acc<O, HS>(dv, p, sOt, lane);  /* dv += P^T dout */
      mma_acc<O, HS>(dk, ds, sQt, lane); /* dk += dS^T Q */
    }

#pragma unroll
  for (int nd = 0; nd < HS / 8; nd++) {
    int d = 8 * nd + 2 * t;
    size_t ok = (size_t)(NH + kvh) * HS + d, ov = (size_t)(NH + NKV + kvh) * HS + d;
    if (ka < T) {
      float *row = dqkv + (size_t)(b * T + ka) * rs;
      *(float2 *)(row + ok) = make_float2(dk[nd][0] * scale, dk[nd][1] * scale);
      *(float2 *)(row + ov) = make_float2(dv[nd][0], dv[nd][1]);
    }
    if (kb < T) {
      float *row = dqkv + (size_t)(b * T + kb) * rs;
      *(float2 *)(row + ok) = make_float2(dk[nd][2] * scale, dk[nd][3] * scale);
      *(float2 *)(row + ov) = make_float2(dv[nd][2], dv[nd][3]);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* launches */

int attn_mma_ok(int HS, const void *p0, const void *p1, const void *p2) {
  if (HS != 32 && HS != 64 && HS != 128) return 0;
  return (((uintptr_t)p0 | (uintptr_t)p1 | (uintptr_t)p2) & 15) == 0;
}

/* dynamic shared memory above 48 KiB must be allowed per kernel, once */
static void allow_smem(const void *kernel, size_t bytes, int *done) {
  if (*done) return;
  CUDA_CHECK(cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  *done = 1;
}

template <class O, int HS>
static void fwd_launch(float *out, float *lse, const float *qkv, int B, int T,
                       int NH, int NKV) {
  static int set;
  size_t smem =
      (2 * MT * (HS + O::PAD) + HS * (MT + O::PAD)) * sizeof(typename O::T);
  void (*k)(float *, float *, const float *, int, int, int, float) =
      attn_fwd_mma_kernel<O, HS>;
  allow_smem((const void *)k, smem, &set);
  dim3 grid((T + MT - 1) / MT, NH, B);
  k<<<grid, MT_THREADS, smem>>>(out, lse, qkv, T, NH, NKV,
                                1.0f / sqrtf((float)HS));
  LAUNCH_CHECK();
}

template <class O>
static void fwd_hs(float *out, float *lse, const float *qkv, int B, int T,
                   int NH, int NKV, int HS) {
  switch (HS) {
    case 32: fwd_launch<O, 32>(out, lse, qkv, B, T, NH, NKV); break;
    case 64: fwd_launch<O, 64>(out, lse, qkv, B, T, NH, NKV); break;
    default: fwd_launch<O, 128>(out, lse, qkv, B, T, NH, NKV); break;
  }
}

void attn_fwd_mma(int tf32, float *out, float *lse, const float *qkv, int B,
                  int T, int NH, int NKV, int HS) {
  if (tf32) fwd_hs<op_tf32>(out, lse, qkv, B, T, NH, NKV, HS);
  else fwd_hs<op_bf16>(out, lse, qkv, B, T, NH, NKV, HS);
}

template <class O, int HS>
static void bwd_launch(float *dqkv, const float *dout, const float *qkv,
                       const float *lse, const float *D, int B, int T, int NH,
                       int NKV) {
  static int dq_set, dkv_set;
  const int nt = (T + MT - 1) / MT, LD = HS + O::PAD, LDT = MT + O::PAD;
  const float scale = 1.0f / sqrtf((float)HS);
  size_t smem_dq = (4 * MT * LD + HS * LDT) * sizeof(typename O::T);
  size_t smem_dkv = (4 * MT * LD + 2 * HS * LDT) * sizeof(typename O::T) +
                    2 * MT * sizeof(float);
  void (*kq)(float *, const float *, const float *, const float *,
             const float *, int, int, int, float) = attn_dq_mma_kernel<O, HS>;
  void (*kkv)(float *, const float *, const float *, const float *,
              const float *, int, int, int, float) = attn_dkv_mma_kernel<O, HS>;
  allow_smem((const void *)kq, smem_dq, &dq_set);
  allow_smem((const void *)kkv, smem_dkv, &dkv_set);
  kq<<<dim3(nt, NH, B), MT_THREADS, smem_dq>>>(dqkv, dout, qkv, lse, D, T, NH,
                                               NKV, scale);
  LAUNCH_CHECK();
  kkv<<<dim3(nt, NKV, B), MT_THREADS, smem_dkv>>>(dqkv, dout, qkv, lse, D, T,
                                                  NH, NKV, scale);
  LAUNCH_CHECK();
}

template <class O>
static void bwd_hs(float *dqkv, const float *dout, const float *qkv,
                   const float *lse, const float *D, int B, int T, int NH,
                   int NKV, int HS) {
  switch (HS) {
    case 32: bwd_launch<O, 32>(dqkv, dout, qkv, lse, D, B, T, NH, NKV); break;
    case 64: bwd_launch<O, 64>(dqkv, dout, qkv, lse, D, B, T, NH, NKV); break;
    default: bwd_launch<O, 128>(dqkv, dout, qkv, lse, D, B, T, NH, NKV); break;
  }
}

void attn_bwd_mma(int tf32, float *dqkv, const float *dout, const float *qkv,
                  const float *lse, const float *D, int B, int T, int NH,
                  int NKV, int HS) {
  if (tf32) bwd_hs<op_tf32>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS);
  else bwd_hs<op_bf16>(dqkv, dout, qkv, lse, D, B, T, NH, NKV, HS);
}
