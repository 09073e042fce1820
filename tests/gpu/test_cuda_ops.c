/* test_cuda_ops.c - every op of the CUDA backend against the CPU backend.
 *
 * Each case draws fresh random inputs (fixed seed), runs both backends on
 * the same data and compares with max|cuda - cpu| / max|cpu|: at most 1e-3
 * for GEMMs (TF32 tensor cores round the inputs to 10 mantissa bits) and
 * 1e-4 for everything else (fp32 arithmetic, fast-math exp); 1e-2 for the
 * GEMM and attention cases rerun in bf16 mode, 3e-3 for attention with
 * tf32 operands (STRATA_CUDA_ATTN=tf32). Outputs that
 * are overwritten (=) are poisoned with NaN on the device first, so an
 * element the kernel never writes fails; outputs that accumulate (+=) start
 * from the same random values on both sides. NULL weight gradients must be
 * skipped. One line per case; exits 77 without a CUDA device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "error.h"
#include "test.h"

#define TOL_GEMM 1e-3
#define TOL 1e-4
#define TOL_BF16 1e-2

/* bf16 mode (set_bf16) reruns the GEMM and attention cases with bf16
 * operands: 8 mantissa bits, so 1e-2 for both; mode_tag marks their lines */
static double tol_gemm = TOL_GEMM, tol_attn = TOL;
static const char *mode_tag = "";

static const st_backend *cpu, *gpu;

/* --- data ------------------------------------------------------------- */

static uint64_t rng_state = 0x5eed1234abcdull;

static uint32_t rng_u32(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* uniform in [-scale, scale) */
static float *hrand(size_t n, float scale) {
  float *x = malloc((n ? n : 1) * sizeof *x);
  for (size_t i = 0; i < n; i++)
    x[i] = scale * ((float)rng_u32() / 2147483648.0f - 1.0f);
  return x;
}

static float *dev(const float *h, size_t n) {
  float *d = gpu->alloc(n * sizeof *d);
  if (!d) {
    fprintf(stderr, "alloc: %s\n", st_errmsg());
    exit(1);
  }
  gpu->upload(d, h, n * sizeof *d);
  return d;
}

/* a device buffer of NaN: catches elements an "=" output never writes */
static float *dnan(size_t n) {
  float *h = malloc((n ? n : 1) * sizeof *h);
  for (size_t i = 0; i < n; i++) h[i] = NAN;
  float *d = dev(h, n);
  free(h);
  return d;
}

static int32_t *dev_i32(const int32_t *h, size_t n) {
  int32_t *d = gpu->alloc(n * sizeof *d);
  if (!d) {
    fprintf(stderr, "alloc: %s\n", st_errmsg());
    exit(1);
  }
  gpu->upload(d, h, n * sizeof *d);
  return d;
}

/* --- comparison ------------------------------------------------------- */

/* downloads got (device) and compares it with ref (host) */
static void compare(const char *op, const char *what, const float *ref,
                    const float *got_dev, size_t n, double tol) {
  float *got = malloc((n ? n : 1) * sizeof *got);
  gpu->download(got, got_dev, n * sizeof *got);
  double md = 0.0, mr = 0.0;
  size_t nonfinite = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(got[i]) || !isfinite(ref[i])) {
      nonfinite++;
      continue;
    }
    double d = fabs((double)got[i] - ref[i]);
    if (d > md) {
      md = d;
      worst = i;
    }
    if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
  }
  double rel = mr > 0.0 ? md / mr : md;
  int ok = nonfinite == 0 && rel <= tol;
  printf("%-14s %-44s rel %.2e%s  %s\n", op, what, rel,
         nonfinite ? " (non-finite!)" : "", ok ? "ok" : "FAIL");
  CHECK_MSG(ok, "%s %s: rel %.3e (tol %.0e), %zu non-finite, worst [%zu] "
            "cuda %g cpu %g", op, what, rel, tol, nonfinite, worst,
            n ? got[worst] : 0.0, n ? ref[worst] : 0.0);
  free(got);
}

static void compare_double(const char *op, const char *what, double ref,
                           double got, double tol) {
  double rel = fabs(got - ref) / (fabs(ref) > 0 ? fabs(ref) : 1.0);
  int ok = isfinite(got) && rel <= tol;
  printf("%-14s %-44s rel %.2e  %s\n", op, what, rel, ok ? "ok" : "FAIL");
  CHECK_MSG(ok, "%s %s: cuda %.17g cpu %.17g", op, what, got, ref);
}

/* --- dense algebra ---------------------------------------------------- */

static void test_gemm(int tA, int tB, int M, int N, int K, int pad,
                      float alpha, float beta) {
  /* stored shapes: A [M,K] or [K,M], B [K,N] or [N,K]; rows padded */
  int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
  int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  float *A = hrand((size_t)ar * lda, 1.0f), *B = hrand((size_t)br * ldb, 1.0f);
  float *C = hrand((size_t)M * ldc, 1.0f);
  float *dA = dev(A, (size_t)ar * lda), *dB = dev(B, (size_t)br * ldb);
  float *dC = dev(C, (size_t)M * ldc);
  cpu->gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  gpu->gemm(tA, tB, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
  char what[96];
  snprintf(what, sizeof what, "%c%c M=%d N=%d K=%d pad=%d a=%g b=%g%s",
           tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, pad, alpha, beta, mode_tag);
  compare("gemm", what, C, dC, (size_t)M * ldc, tol_gemm);
  gpu->free(dA);
  gpu->free(dB);
  gpu->free(dC);
  free(A);
  free(B);
  free(C);
}

static void test_bias(int N, int OC, int ld) {
  size_t n = (size_t)N * ld;
  float *out = hrand(n, 1.0f), *bias = hrand(OC, 1.0f);
  float *dout = dev(out, n), *dbias = dev(bias, OC);
  cpu->add_bias(out, bias, N, OC, ld);
  gpu->add_bias(dout, dbias, N, OC, ld);
  char what[64];
  snprintf(what, sizeof what, "N=%d OC=%d ld=%d", N, OC, ld);
  compare("add_bias", what, out, dout, n, TOL);

  /* += into a non-zero gradient */
  float *g = hrand(n, 1.0f), *db = hrand(OC, 1.0f);
  float *dg = dev(g, n), *ddb = dev(db, OC);
  cpu->bias_grad(db, g, N, OC, ld);
  gpu->bias_grad(ddb, dg, N, OC, ld);
  compare("bias_grad", what, db, ddb, OC, TOL);
  gpu->free(dout);
  gpu->free(dbias);
  gpu->free(dg);
  gpu->free(ddb);
  free(out);
  free(bias);
  free(g);
  free(db);
}

static void test_vector_ops(size_t n) {
  float *a = hrand(n, 1.0f), *b = hrand(n, 1.0f);
  float *da = dev(a, n), *db = dev(b, n), *dout = dnan(n);
  float *out = malloc(n * sizeof *out);
  char what[64];
  snprintf(what, sizeof what, "n=%zu", n);
  cpu->add(out, a, b, n);
  gpu->add(dout, da, db, n);
  compare("add", what, out, dout, n, TOL);
  cpu->acc(a, b, n);
  gpu->acc(da, db, n);
  compare("acc", what, a, da, n, TOL);
  cpu->scale(a, -0.37f, n);
  gpu->scale(da, -0.37f, n);
  compare("scale", what, a, da, n, TOL);
  /* reductions are double on both sides: only the order differs */
  compare_double("sumsq", what, cpu->sumsq(a, n), gpu->sumsq(da, n), 1e-9);
  compare_double("sum", what, cpu->sum(a, n), gpu->sum(da, n), 1e-9);
  gpu->free(da);
  gpu->free(db);
  gpu->free(dout);
  free(a);
  free(b);
  free(out);
}

static void test_memory(void) {
  /* alloc must zero-fill, also when the caching allocator hands back a
   * block that held data */
  size_t n = 12345;
  float *h = hrand(n, 1.0f), *z = calloc(n, sizeof *z);
  float *d = dev(h, n);
  gpu->free(d);
  float *d2 = gpu->alloc(n * sizeof *d2);
  CHECK(d2 != NULL);
  compare("alloc", "zero-filled after reuse", z, d2, n, 0.0);
  gpu->upload(d2, h, n * sizeof *h);
  float *d3 = gpu->alloc(n * sizeof *d3);
  gpu->copy(d3, d2, n * sizeof *d3);
  compare("copy", "device to device", h, d3, n, 0.0);
  gpu->zero(d3, 100 * sizeof *d3);
  memset(h, 0, 100 * sizeof *h);
  compare("zero", "first 100 floats", h, d3, n, 0.0);
  gpu->sync();
  gpu->free(d2);
  gpu->free(d3);
  free(h);
  free(z);
}

/* --- embedding -------------------------------------------------------- */

static void test_embed(int B, int T, int C, int V, int with_wpe) {
  size_t BT = (size_t)B * T;
  int32_t *tok = malloc(BT * sizeof *tok);
  /* few distinct tokens: repeats exercise colliding gradient rows */
  for (size_t i = 0; i < BT; i++) tok[i] = (int32_t)(rng_u32() % (unsigned)V);
  float *wte = hrand((size_t)V * C, 1.0f), *wpe = hrand((size_t)T * C, 1.0f);
  float *out = malloc(BT * C * sizeof *out);
  int32_t *dtok = dev_i32(tok, BT);
  float *dwte = dev(wte, (size_t)V * C), *dwpe = dev(wpe, (size_t)T * C);
  float *dout = dnan(BT * C);
  cpu->embed_fwd(out, tok, wte, with_wpe ? wpe : NULL, B, T, C);
  gpu->embed_fwd(dout, dtok, dwte, with_wpe ? dwpe : NULL, B, T, C);
  char what[64];
  snprintf(what, sizeof what, "B=%d T=%d C=%d V=%d wpe=%d", B, T, C, V,
           with_wpe);
  compare("embed_fwd", what, out, dout, BT * C, TOL);

  /* backward: += into non-zero gradients; then each one NULL */
  float *g = hrand(BT * C, 1.0f);
  float *gte = hrand((size_t)V * C, 1.0f), *gpe = hrand((size_t)T * C, 1.0f);
  float *dg = dev(g, BT * C), *dgte = dev(gte, (size_t)V * C);
  float *dgpe = dev(gpe, (size_t)T * C);
  cpu->embed_bwd(gte, with_wpe ? gpe : NULL, g, tok, B, T, C);
  gpu->embed_bwd(dgte, with_wpe ? dgpe : NULL, dg, dtok, B, T, C);
  compare("embed_bwd", "dwte", gte, dgte, (size_t)V * C, TOL);
  compare("embed_bwd", with_wpe ? "dwpe" : "dwpe NULL: untouched", gpe, dgpe,
          (size_t)T * C, TOL);
  cpu->embed_bwd(NULL, gpe, g, tok, B, T, C);
  gpu->embed_bwd(NULL, dgpe, dg, dtok, B, T, C);
  compare("embed_bwd", "dwte NULL: dwpe only", gpe, dgpe, (size_t)T * C, TOL);
  compare("embed_bwd", "dwte NULL: dwte untouched", gte, dgte, (size_t)V * C,
          TOL);

  gpu->free(dtok);
  gpu->free(dwte);
  gpu->free(dwpe);
  gpu->free(dout);
  gpu->free(dg);
  gpu->free(dgte);
  gpu->free(dgpe);
  free(tok);
  free(wte);
  free(wpe);
  free(out);
  free(g);
  free(gte);
  free(gpe);
}

/* --- normalisation ---------------------------------------------------- */

static void test_rmsnorm(int N, int C) {
  size_t n = (size_t)N * C;
  float *x = hrand(n, 2.0f), *w = hrand(C, 1.0f);
  float *out = malloc(n * sizeof *out), *rstd = malloc(N * sizeof *rstd);
  float *dx = dev(x, n), *dw = dev(w, C), *dout = dnan(n), *drstd = dnan(N);
  cpu->rmsnorm_fwd(out, rstd, x, w, N, C, 1e-5f);
  gpu->rmsnorm_fwd(dout, drstd, dx, dw, N, C, 1e-5f);
  char what[64];
  snprintf(what, sizeof what, "N=%d C=%d", N, C);
  compare("rmsnorm_fwd", what, out, dout, n, TOL);
  compare("rmsnorm_fwd", "rstd", rstd, drstd, N, TOL);

  /* backward from the CPU's rstd on both sides; += into dinp and dw */
  float *g = hrand(n, 1.0f), *dinp = hrand(n, 1.0f), *gw = hrand(C, 1.0f);
  float *dg = dev(g, n), *ddinp = dev(dinp, n), *dgw = dev(gw, C);
  gpu->upload(drstd, rstd, N * sizeof *rstd);
  cpu->rmsnorm_bwd(dinp, gw, g, x, w, rstd, N, C);
  gpu->rmsnorm_bwd(ddinp, dgw, dg, dx, dw, drstd, N, C);
  compare("rmsnorm_bwd", "dinp", dinp, ddinp, n, TOL);
  compare("rmsnorm_bwd", "dw", gw, dgw, C, TOL);
  cpu->rmsnorm_bwd(dinp, NULL, g, x, w, rstd, N, C);
  gpu->rmsnorm_bwd(ddinp, NULL, dg, dx, dw, drstd, N, C);
  compare("rmsnorm_bwd", "dw NULL: dinp", dinp, ddinp, n, TOL);
  compare("rmsnorm_bwd", "dw NULL: dw untouched", gw, dgw, C, TOL);

  gpu->free(dx);
  gpu->free(dw);
  gpu->free(dout);
  gpu->free(drstd);
  gpu->free(dg);
  gpu->free(ddinp);
  gpu->free(dgw);
  free(x);
  free(w);
  free(out);
  free(rstd);
  free(g);
  free(dinp);
  free(gw);
}

static void test_layernorm(int N, int C) {
  size_t n = (size_t)N * C;
  float *x = hrand(n, 2.0f), *w = hrand(C, 1.0f), *b = hrand(C, 1.0f);
  /* an offset mean: catches one-pass variance */
  for (size_t i = 0; i < n; i++) x[i] += 3.0f;
  float *out = malloc(n * sizeof *out);
  float *mean = malloc(N * sizeof *mean), *rstd = malloc(N * sizeof *rstd);
  float *dx = dev(x, n), *dw = dev(w, C), *db = dev(b, C);
  float *dout = dnan(n), *dmean = dnan(N), *drstd = dnan(N);
  cpu->layernorm_fwd(out, mean, rstd, x, w, b, N, C, 1e-5f);
  gpu->layernorm_fwd(dout, dmean, drstd, dx, dw, db, N, C, 1e-5f);
  char what[64];
  snprintf(what, sizeof what, "N=%d C=%d", N, C);
  compare("layernorm_fwd", what, out, dout, n, TOL);
  compare("layernorm_fwd", "mean", mean, dmean, N, TOL);
  compare("layernorm_fwd", "rstd", rstd, drstd, N, TOL);

  float *g = hrand(n, 1.0f), *dinp = hrand(n, 1.0f);
  float *gw = hrand(C, 1.0f), *gb = hrand(C, 1.0f);
  float *dg = dev(g, n), *ddinp = dev(dinp, n);
  float *dgw = dev(gw, C), *dgb = dev(gb, C);
  gpu->upload(dmean, mean, N * sizeof *mean);
  gpu->upload(drstd, rstd, N * sizeof *rstd);
  cpu->layernorm_bwd(dinp, gw, gb, g, x, w, mean, rstd, N, C);
  gpu->layernorm_bwd(ddinp, dgw, dgb, dg, dx, dw, dmean, drstd, N, C);
  compare("layernorm_bwd", "dinp", dinp, ddinp, n, TOL);
  compare("layernorm_bwd", "dw", gw, dgw, C, TOL);
  compare("layernorm_bwd", "db", gb, dgb, C, TOL);
  cpu->layernorm_bwd(dinp, NULL, gb, g, x, w, mean, rstd, N, C);
  gpu->layernorm_bwd(ddinp, NULL, dgb, dg, dx, dw, dmean, drstd, N, C);
  compare("layernorm_bwd", "dw NULL: db", gb, dgb, C, TOL);
  compare("layernorm_bwd", "dw NULL: dw untouched", gw, dgw, C, TOL);
  cpu->layernorm_bwd(dinp, NULL, NULL, g, x, w, mean, rstd, N, C);
  gpu->layernorm_bwd(ddinp, NULL, NULL, dg, dx, dw, dmean, drstd, N, C);
  compare("layernorm_bwd", "dw, db NULL: dinp", dinp, ddinp, n, TOL);

  gpu->free(dx);
  gpu->free(dw);
  gpu->free(db);
  gpu->free(dout);
  gpu->free(dmean);
  gpu->free(drstd);
  gpu->free(dg);
  gpu->free(ddinp);
  gpu->free(dgw);
  gpu->free(dgb);
  free(x);
  free(w);
  free(b);
  free(out);
  free(mean);
  free(rstd);
  free(g);
  free(dinp);
  free(gw);
  free(gb);
}

/* --- attention -------------------------------------------------------- */

/* plain RoPE's table theta^(-2i/HS) times `stretch` (a stand-in for the
 * scaled variants), and the factor s on cos and sin (yarn's) */
static void test_rope(int B, int T, int NH, int NKV, int HS, float theta,
                      float stretch, float s) {
  size_t n = (size_t)B * T * (NH + 2 * NKV) * HS;
  float *x = hrand(n, 1.0f), *dx = dev(x, n);
  float *freq = malloc((size_t)HS / 2 * sizeof *freq);
  for (int i = 0; i < HS / 2; i++)
    freq[i] = stretch / powf(theta, (float)(2 * i) / (float)HS);
  float *dfreq = dev(freq, (size_t)HS / 2);
  char what[96];
  snprintf(what, sizeof what, "B=%d T=%d NH=%d NKV=%d HS=%d theta=%g x%g s=%g",
           B, T, NH, NKV, HS, theta, stretch, s);
  cpu->rope(x, B, T, NH, NKV, HS, freq, s, 0);
  gpu->rope(dx, B, T, NH, NKV, HS, dfreq, s, 0);
  compare("rope", what, x, dx, n, TOL);
  cpu->rope(x, B, T, NH, NKV, HS, freq, s, 1);
  gpu->rope(dx, B, T, NH, NKV, HS, dfreq, s, 1);
  compare("rope inverse", what, x, dx, n, TOL);
  gpu->free(dx);
  gpu->free(dfreq);
  free(freq);
  free(x);
}

static void test_attention(int B, int T, int NH, int NKV, int HS) {
  size_t nqkv = (size_t)B * T * (NH + 2 * NKV) * HS;
  size_t nout = (size_t)B * T * NH * HS, nlse = (size_t)B * NH * T;
  /* scale 2 gives peaked softmax rows, not near-uniform ones */
  float *qkv = hrand(nqkv, 2.0f);
  float *out = malloc(nout * sizeof *out), *lse = malloc(nlse * sizeof *lse);
  float *dqkv_in = dev(qkv, nqkv), *dout = dnan(nout), *dlse = dnan(nlse);
  cpu->attn_fwd(out, lse, qkv, B, T, NH, NKV, HS, 0);
  gpu->attn_fwd(dout, dlse, dqkv_in, B, T, NH, NKV, HS, 0);
  char what[80];
  snprintf(what, sizeof what, "B=%d T=%d NH=%d NKV=%d HS=%d%s", B, T, NH, NKV,
           HS, mode_tag);
  compare("attn_fwd", what, out, dout, nout, tol_attn);
  compare("attn_fwd", "lse", lse, dlse, nlse, tol_attn);
  /* lse may be NULL (inference) */
  float *dout2 = dnan(nout);
  gpu->attn_fwd(dout2, NULL, dqkv_in, B, T, NH, NKV, HS, 0);
  compare("attn_fwd", "lse NULL", out, dout2, nout, tol_attn);

  /* backward from the CPU's out and lse on both sides; dqkv is "=" */
  float *g = hrand(nout, 1.0f), *dq = malloc(nqkv * sizeof *dq);
  float *dg = dev(g, nout), *ddq = dnan(nqkv);
  gpu->upload(dout, out, nout * sizeof *out);
  gpu->upload(dlse, lse, nlse * sizeof *lse);
  cpu->attn_bwd(dq, g, qkv, out, lse, B, T, NH, NKV, HS, 0);
  gpu->attn_bwd(ddq, dg, dqkv_in, dout, dlse, B, T, NH, NKV, HS, 0);
  compare("attn_bwd", what, dq, ddq, nqkv, tol_attn);

  gpu->free(dqkv_in);
  gpu->free(dout);
  gpu->free(dout2);
  gpu->free(dlse);
  gpu->free(dg);
  gpu->free(ddq);
  free(qkv);
  free(out);
  free(lse);
  free(g);
  free(dq);
}

/* --- activations ------------------------------------------------------ */

static void test_gelu(size_t n) {
  float *x = hrand(n, 6.0f), *g = hrand(n, 1.0f);
  float *out = malloc(n * sizeof *out), *dinp = malloc(n * sizeof *dinp);
  float *dx = dev(x, n), *dg = dev(g, n), *dout = dnan(n), *ddinp = dnan(n);
  char what[64];
  snprintf(what, sizeof what, "n=%zu", n);
  cpu->gelu_fwd(out, x, n);
  gpu->gelu_fwd(dout, dx, n);
  compare("gelu_fwd", what, out, dout, n, TOL);
  cpu->gelu_bwd(dinp, x, g, n);
  gpu->gelu_bwd(ddinp, dx, dg, n);
  compare("gelu_bwd", what, dinp, ddinp, n, TOL);
  gpu->free(dx);
  gpu->free(dg);
  gpu->free(dout);
  gpu->free(ddinp);
  free(x);
  free(g);
  free(out);
  free(dinp);
}

static void test_swiglu(int N, int H) {
  size_t n = (size_t)N * H;
  float *gu = hrand(2 * n, 6.0f), *g = hrand(n, 1.0f);
  float *out = malloc(n * sizeof *out), *dgu = malloc(2 * n * sizeof *dgu);
  float *dgu_in = dev(gu, 2 * n), *dg = dev(g, n), *dout = dnan(n);
  float *ddgu = dnan(2 * n);
  char what[64];
  snprintf(what, sizeof what, "N=%d H=%d", N, H);
  cpu->swiglu_fwd(out, gu, N, H);
  gpu->swiglu_fwd(dout, dgu_in, N, H);
  compare("swiglu_fwd", what, out, dout, n, TOL);
  cpu->swiglu_bwd(dgu, g, gu, N, H);
  gpu->swiglu_bwd(ddgu, dg, dgu_in, N, H);
  compare("swiglu_bwd", what, dgu, ddgu, 2 * n, TOL);
  gpu->free(dgu_in);
  gpu->free(dg);
  gpu->free(dout);
  gpu->free(ddgu);
  free(gu);
  free(g);
  free(out);
  free(dgu);
}

/* --- loss and optimiser ----------------------------------------------- */

static void test_softmax_ce(int N, int V, float dscale) {
  size_t n = (size_t)N * V;
  float *logits = hrand(n, 8.0f);
  int32_t *tgt = malloc(N * sizeof *tgt);
  for (int i = 0; i < N; i++)
    tgt[i] = i % 5 == 3 ? -1 : (int32_t)(rng_u32() % (unsigned)V);
  float *losses = malloc(N * sizeof *losses);
  float *dlogits = dev(logits, n), *dlosses = dnan(N);
  int32_t *dtgt = dev_i32(tgt, N);
  cpu->softmax_ce(losses, logits, tgt, N, V, dscale);
  gpu->softmax_ce(dlosses, dlogits, dtgt, N, V, dscale);
  char what[64];
  snprintf(what, sizeof what, "N=%d V=%d dscale=%g (ignored rows)", N, V,
           dscale);
  compare("softmax_ce", what, losses, dlosses, N, TOL);
  compare("softmax_ce", dscale != 0.0f ? "dlogits in place"
                                       : "dscale 0: logits untouched",
          logits, dlogits, n, TOL);
  gpu->free(dlogits);
  gpu->free(dlosses);
  gpu->free(dtgt);
  free(logits);
  free(tgt);
  free(losses);
}

static void test_adamw(size_t n, int t, float wd) {
  float *p = hrand(n, 1.0f), *g = hrand(n, 0.1f), *m = hrand(n, 0.01f);
  float *v = hrand(n, 1e-4f);
  for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]); /* v >= 0 */
  float *dp = dev(p, n), *dg = dev(g, n), *dm = dev(m, n), *dv = dev(v, n);
  cpu->adamw(p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, wd, t);
  gpu->adamw(dp, dg, dm, dv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, wd, t);
  char what[64];
  snprintf(what, sizeof what, "n=%zu t=%d wd=%g: p", n, t, wd);
  compare("adamw", what, p, dp, n, TOL);
  compare("adamw", "m", m, dm, n, TOL);
  compare("adamw", "v", v, dv, n, TOL);
  gpu->free(dp);
  gpu->free(dg);
  gpu->free(dm);
  gpu->free(dv);
  free(p);
  free(g);
  free(m);
  free(v);
}

int main(void) {
  gpu = st_backend_cuda();
  if (!gpu) SKIP("%s", st_errmsg()); /* "no CUDA device (...)" */
  cpu = st_backend_cpu();

  test_memory();

  /* every transpose combination, odd sizes, padded row strides */
  for (int tA = 0; tA < 2; tA++)
    for (int tB = 0; tB < 2; tB++) test_gemm(tA, tB, 67, 45, 33, 3, 0.7f, 0.3f);
  /* GPT-2 124M, B*T = 256 rows: forward x W^T, input gradient dy W,
   * weight gradient += dy^T x */
  test_gemm(0, 1, 256, 2304, 768, 0, 1.0f, 0.0f);
  test_gemm(0, 0, 256, 768, 3072, 0, 1.0f, 0.0f);
  test_gemm(1, 0, 768, 3072, 256, 0, 1.0f, 1.0f);
  /* stories260K: C=64, hidden 172 */
  test_gemm(0, 1, 77, 344, 64, 0, 1.0f, 0.0f);

  test_bias(77, 45, 50);
  test_bias(256, 2304, 2304);
  test_vector_ops(100003);
  test_vector_ops(1 << 22);

  test_embed(3, 17, 48, 50, 1);
  test_embed(2, 77, 64, 512, 0);

  test_rmsnorm(77, 64);
  test_rmsnorm(256, 768);
  test_layernorm(77, 64);
  test_layernorm(256, 768);

  test_rope(2, 77, 8, 4, 64, 10000.0f, 1.0f, 1.0f);
  test_rope(1, 512, 8, 4, 8, 10000.0f, 1.0f, 1.0f); /* stories260K, long positions */
  test_rope(1, 2048, 2, 1, 128, 500000.0f, 1.0f, 1.0f);
  test_rope(1, 600, 4, 2, 16, 1e6f, 0.25f, 1.1386294f); /* scaled table, yarn's s */

  test_attention(2, 128, 8, 4, 64);  /* GQA, whole tiles */
  test_attention(2, 77, 12, 12, 64); /* GPT-2 heads, partial tile */
  test_attention(1, 77, 8, 4, 8);    /* stories260K */
  test_attention(2, 200, 4, 1, 32);  /* MQA, 4 tiles */
  test_attention(1, 65, 3, 3, 48);   /* head size not a multiple of 16 */
  test_attention(1, 70, 4, 2, 128);  /* Llama head size */
  test_attention(3, 129, 16, 2, 64); /* 8 query heads per kv head, 3 tiles */
  test_attention(1, 1, 2, 1, 64);    /* a single token */

  test_gelu(100003);
  test_swiglu(77, 172);

  test_softmax_ce(77, 512, 1.0f / 77);
  test_softmax_ce(9, 50257, 1.0f / 9);
  test_softmax_ce(9, 50257, 0.0f);
  test_softmax_ce(4, 7, 1.0f); /* fewer columns than threads */

  test_adamw(100003, 1, 0.0f);
  test_adamw(100003, 10, 0.1f);

  /* bf16 mixed precision: the same references, bf16 tolerances; the
   * tensor-core attention covers head sizes 32, 64, 128, other sizes keep
   * the fp32 kernels */
  CHECK(gpu->set_bf16 != NULL);
  if (gpu->set_bf16) {
    gpu->set_bf16(1);
    tol_gemm = tol_attn = TOL_BF16;
    mode_tag = " bf16";
    for (int tA = 0; tA < 2; tA++)
      for (int tB = 0; tB < 2; tB++) test_gemm(tA, tB, 67, 45, 33, 3, 0.7f, 0.3f);
    test_gemm(0, 1, 256, 2304, 768, 0, 1.0f, 0.0f);
    test_gemm(0, 0, 256, 768, 3072, 0, 1.0f, 0.0f);
    test_gemm(1, 0, 768, 3072, 256, 0, 1.0f, 1.0f);
    test_attention(2, 128, 8, 4, 64);  /* GQA, whole tiles */
    test_attention(2, 77, 12, 12, 64); /* GPT-2 heads, partial tile */
    test_attention(2, 200, 4, 1, 32);  /* MQA, 4 tiles */
    test_attention(1, 70, 4, 2, 128);  /* Llama head size */
    test_attention(3, 129, 16, 2, 64); /* 8 query heads per kv head */
    test_attention(1, 1, 2, 1, 64);    /* a single token */
    test_attention(1, 77, 8, 4, 8);    /* fp32 fallback: head size 8 */
    test_attention(1, 65, 3, 3, 48);   /* fp32 fallback: head size 48 */
    gpu->set_bf16(0);
  }

  /* fp32 mode with the opt-in tf32 tensor-core attention: 10 mantissa
   * bits, so 3e-3 (bf16's 1e-2 over 8, with the same 2x margin as there) */
  setenv("STRATA_CUDA_ATTN", "tf32", 1);
  tol_attn = 3e-3;
  mode_tag = " tf32";
  test_attention(2, 128, 8, 4, 64);
  test_attention(2, 77, 12, 12, 64);
  test_attention(2, 200, 4, 1, 32);
  test_attention(1, 70, 4, 2, 128);
  test_attention(3, 129, 16, 2, 64);
  test_attention(1, 1, 2, 1, 64);
  unsetenv("STRATA_CUDA_ATTN");

  gpu->sync();
  TEST_DONE();
}
