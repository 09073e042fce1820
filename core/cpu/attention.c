/* attention.c - RoPE and causal grouped-query attention (optionally in a
 * sliding window), flash style.
 *
 * qkv[B,T,(NH+2*NKV)*HS] holds the NH query heads, then the NKV key heads,
 * then the NKV value heads of each token; query head h reads kv head
 * h / (NH/NKV). No T x T matrix is ever stored: forward keeps only the
 * log-sum-exp of each row's scaled scores, backward recomputes the
 * probabilities from it. */
#include <math.h>
#include <string.h>

#include "cpu.h"

static inline float dot(const float *a, const float *b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* four dot products of a with rows x, x+ld, x+2ld, x+3ld in one sweep:
 * independent chains and a quarter of the loads of a */
static inline void dot4(float *out, const float *a, const float *x, size_t ld,
                        int n) {
  const float *x1 = x + ld, *x2 = x1 + ld, *x3 = x2 + ld;
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (int i = 0; i < n; i++) {
    s0 += a[i] * x[i];
    s1 += a[i] * x1[i];
    s2 += a[i] * x2[i];
    s3 += a[i] * x3[i];
  }
  out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
}

/* out[j] = a . x_j for the ns rows x_j = x + j*ld */
static inline void dots(float *out, const float *a, const float *x, size_t ld,
                        int ns, int n) {
  int j = 0;
  for (; j + 4 <= ns; j += 4)
    dot4(out + j, a, x + j * ld, ld, n);
  for (; j < ns; j++)
    out[j] = dot(a, x + j * ld, n);
}

static inline void axpy(float *y, float a, const float *x, int n) {
#pragma omp simd
  for (int i = 0; i < n; i++)
    y[i] += a * x[i];
}

/* y += sum_j c[j] x_j over the ns rows x_j = x + j*ld, four rows per sweep
 * of y */
static inline void axpys(float *y, const float *c, const float *x, size_t ld,
                         int ns, int n) {
  int j = 0;
  for (; j + 4 <= ns; j += 4) {
    const float *x0 = x + j * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
    float c0 = c[j], c1 = c[j + 1], c2 = c[j + 2], c3 = c[j + 3];
#pragma omp simd
    for (int i = 0; i < n; i++)
      y[i] += c0 * x0[i] + c1 * x1[i] + c2 * x2[i] + c3 * x3[i];
  }
  for (; j < ns; j++)
    axpy(y, c[j], x + j * ld, n);
}

/* Hugging Face half-split RoPE on the q and k heads, in place; with i < HS/2,
 * angle a = t * freq[i] (rounded in float, as transformers computes it) and
 * the factor s:
 *   x'[i] = s (x[i] cos a - x[i+HS/2] sin a),
 *   x'[i+HS/2] = s (x[i+HS/2] cos a + x[i] sin a).
 * inverse applies the transpose (sin negated). cos and sin are rounded to
 * float and then scaled, as transformers' cos * attention_scaling. */
void st_cpu_rope(float *qkv, int B, int T, int NH, int NKV, int HS,
                 const float *freq, float scale, int inverse) {
  enum { CH = 128 }; /* frequencies per chunk: bounded stack for any HS */
  int half = HS / 2, nrot = NH + NKV;
  size_t C3 = (size_t)(NH + 2 * NKV) * HS;
  float sgn = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if ((size_t)B * T * nrot * HS >=     \
                                              ST_CPU_PAR_MIN)
  for (int bt = 0; bt < B * T; bt++) {
    float t = (float)(bt % T);
    float *row = qkv + (size_t)bt * C3;
    float cs[CH], sn[CH];
    for (int i0 = 0; i0 < half; i0 += CH) {
      int ni = half - i0 < CH ? half - i0 : CH;
      for (int j = 0; j < ni; j++) {
        float a = t * freq[i0 + j];
        cs[j] = cosf(a) * scale;
        sn[j] = sgn * (sinf(a) * scale);
      }
      for (int h = 0; h < nrot; h++) {
        float *x = row + (size_t)h * HS + i0, *y = x + half;
#pragma omp simd
        for (int j = 0; j < ni; j++) {
          float a = x[j], b = y[j];
          x[j] = a * cs[j] - b * sn[j];
          y[j] = b * cs[j] + a * sn[j];
        }
      }
    }
  }
}

/* the first key query t sees: 0, or t-window+1 in a sliding window */
static inline int first_key(int t, int window) {
  return window > 0 && t >= window ? t - window + 1 : 0;
}

/* out[b,t,h] = sum_{s0(t)<=s<=t} softmax_s(q_t . k_s / sqrt(HS)) v_s, with
 * s0(t) = first_key(t, window), one query row at a time with an online
 * softmax over blocks of keys: the running output is rescaled once per
 * block when the running max grows. */
void st_cpu_attn_fwd(float *out, float *lse, const float *qkv, int B, int T,
                     int NH, int NKV, int HS, int window) {
  enum { BLK = 64 };
  size_t C3 = (size_t)(NH + 2 * NKV) * HS;
  int grp = NH / NKV;
  float scale = 1.0f / sqrtf((float)HS);
  /* row t costs ~t: round-robin rows balance the causal triangle */
#pragma omp parallel for collapse(3)                                           \
    schedule(static, 1) if ((size_t)B * NH * T * T * HS >= ST_CPU_PAR_MIN)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const float *q = qkv + (size_t)(b * T + t) * C3 + (size_t)h * HS;
        const float *k0 =
            qkv + (size_t)b * T * C3 + (size_t)(NH + h / grp) * HS;
        const float *v0 = k0 + (size_t)NKV * HS;
        float *o = out + ((size_t)(b * T + t) * NH + h) * HS;
        memset(o, 0, (size_t)HS * sizeof *o);
        float m = -INFINITY, l = 0.0f, sc[BLK];
        int lo = first_key(t, window);
        for (int s0 = lo; s0 <= t; s0 += BLK) {
          int ns = t + 1 - s0 < BLK ? t + 1 - s0 : BLK;
          float bm = -INFINITY;
          dots(sc, q, k0 + (size_t)s0 * C3, C3, ns, HS);
          for (int j = 0; j < ns; j++) {
            sc[j] *= scale;
            bm = sc[j] > bm ? sc[j] : bm;
          }
          if (bm > m) {
            float c = s0 > lo ? st_expf(m - bm) : 0.0f;
            l *= c;
            if (s0 > lo)
              for (int i = 0; i < HS; i++)
                o[i] *= c;
            m = bm;
          }
#pragma omp simd reduction(+ : l)
          for (int j = 0; j < ns; j++) {
            sc[j] = st_expf(sc[j] - m);
            l += sc[j];
          }
          axpys(o, sc, v0 + (size_t)s0 * C3, C3, ns, HS);
        }
        float inv = 1.0f / l;
        for (int i = 0; i < HS; i++)
          o[i] *= inv;
        if (lse)
          lse[((size_t)b * NH + h) * T + t] = m + logf(l);
      }
}

/* The sums run over the keys s that query t sees (first_key(t, window)..t).
 * With P_ts = exp(q_t.k_s*scale - lse_t), D_t = dout_t . out_t and
 * dS_ts = P_ts (dout_t . v_s - D_t):
 *   dq_t = scale sum_s dS_ts k_s,  dk_s = scale sum_t dS_ts q_t,
 *   dv_s = sum_t P_ts dout_t.
 * One task per (b, kv head) loops over the query heads of its group, so the
 * shared dk/dv rows have a single writer. dqkv is overwritten. */
void st_cpu_attn_bwd(float *dqkv, const float *dout, const float *qkv,
                     const float *out, const float *lse, int B, int T, int NH,
                     int NKV, int HS, int window) {
  enum { BLK = 64 }; /* keys per batch of recomputed probabilities */
  size_t C3 = (size_t)(NH + 2 * NKV) * HS;
  int grp = NH / NKV;
  float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2)                                           \
    schedule(dynamic, 1) if ((size_t)B * NH * T * T * HS >= ST_CPU_PAR_MIN)
  for (int b = 0; b < B; b++)
    for (int g = 0; g < NKV; g++) {
      size_t base = (size_t)b * T * C3 + (size_t)(NH + g) * HS;
      const float *k0 = qkv + base, *v0 = k0 + (size_t)NKV * HS;
      float *dk0 = dqkv + base, *dv0 = dk0 + (size_t)NKV * HS;
      for (int s = 0; s < T; s++) {
        memset(dk0 + s * C3, 0, (size_t)HS * sizeof(float));
        memset(dv0 + s * C3, 0, (size_t)HS * sizeof(float));
      }
      for (int h = g * grp; h < (g + 1) * grp; h++)
        for (int t = 0; t < T; t++) {
          size_t qoff = (size_t)(b * T + t) * C3 + (size_t)h * HS;
          size_t ooff = ((size_t)(b * T + t) * NH + h) * HS;
          const float *q = qkv + qoff, *dO = dout + ooff;
          float *dq = dqkv + qoff;
          memset(dq, 0, (size_t)HS * sizeof *dq);
          float L = lse[((size_t)b * NH + h) * T + t];
          float D = dot(dO, out + ooff, HS), p[BLK], ds[BLK];
          for (int s0 = first_key(t, window); s0 <= t; s0 += BLK) {
            int ns = t + 1 - s0 < BLK ? t + 1 - s0 : BLK;
            dots(p, q, k0 + s0 * C3, C3, ns, HS);
            dots(ds, dO, v0 + s0 * C3, C3, ns, HS);
#pragma omp simd
            for (int j = 0; j < ns; j++) {
              p[j] = st_expf(p[j] * scale - L);
              ds[j] = p[j] * (ds[j] - D) * scale;
            }
            axpys(dq, ds, k0 + s0 * C3, C3, ns, HS);
            for (int j = 0; j < ns; j++) {
              axpy(dk0 + (s0 + j) * C3, ds[j], q, HS);
              axpy(dv0 + (s0 + j) * C3, p[j], dO, HS);
            }
          }
        }
    }
}
