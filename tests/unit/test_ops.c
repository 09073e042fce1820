/* test_ops.c - every op of the CPU backend against a double-precision
 * reference written out here, and every backward against central finite
 * differences of that reference (with random upstream gradients).
 *
 * Each op runs at a tiny shape (all elements differenced) and at a shape
 * large enough for its OpenMP path (a random sample differenced). Gradient
 * outputs documented as += are pre-filled with random values, those
 * documented as = with NaN, so both semantics are checked. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "error.h"
#include "test.h"

static const st_backend *be;

/* ------------------------------------------------------------------------ */
/* random numbers, buffers */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* [0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static float frand(float lo, float hi) {
  return lo + (hi - lo) * (float)urand();
}

static float *rvec(size_t n, float lo, float hi) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++)
    x[i] = frand(lo, hi);
  return x;
}
static float *fill(size_t n, float v) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++)
    x[i] = v;
  return x;
}
static double *dbl(const float *x, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = x[i];
  return d;
}
/* backend copy of a host array, and back */
static float *up(const float *h, size_t n) {
  float *d = be->alloc(n * sizeof *d);
  be->upload(d, h, n * sizeof *d);
  return d;
}
static float *down(const float *d, size_t n) {
  float *h = malloc(n * sizeof *h);
  be->download(h, d, n * sizeof *h);
  return h;
}
/* what a += output added: after - before */
static double *delta(const float *after, const float *before, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = (double)after[i] - before[i];
  return d;
}

/* ------------------------------------------------------------------------ */
/* comparisons */

/* Element error relative to max(|want|, 0.1 max|want|): relative for the
 * large entries, and near-zero entries are not held to digits that
 * float arithmetic cannot give. NaN fails. */
static void close_vec(const char *what, const double *got, const double *want,
                      size_t n, double tol) {
  double scale = 0.0;
  for (size_t i = 0; i < n; i++)
    if (fabs(want[i]) > scale)
      scale = fabs(want[i]);
  double floor_ = scale > 0 ? 0.1 * scale : 1e-30, worst = 0.0;
  size_t wi = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    double den = fabs(want[i]) > floor_ ? fabs(want[i]) : floor_;
    double e = fabs(got[i] - want[i]) / den;
    if (!(e <= tol))
      bad++;
    if (!(e <= worst))
      worst = e, wi = i;
  }
  CHECK_MSG(!bad,
            "%s: %d of %zu off, worst [%zu] got %.9g want %.9g (rel %.3g)",
            what, bad, n, wi, got[wi], want[wi], worst);
}
static void close_f(const char *what, const float *got, const double *want,
                    size_t n, double tol) {
  double *g = dbl(got, n);
  close_vec(what, g, want, n, tol);
  free(g);
}

/* Central differences of f at x[i] (h = 1e-5, in double) against got[i],
 * for every i of a small tensor, at random entries of a large one. */
#define FD_ALL 400   /* tensors up to this size are differenced in full */
#define FD_SAMPLE 48 /* larger ones at this many random entries */
static void check_grad(const char *what, double (*f)(void *), void *ctx,
                       double *x, size_t n, const double *got) {
  size_t m = n <= FD_ALL ? n : FD_SAMPLE;
  double *fd = malloc(m * sizeof *fd), *gs = malloc(m * sizeof *gs);
  const double h = 1e-5;
  for (size_t k = 0; k < m; k++) {
    size_t i = n <= FD_ALL ? k : (size_t)(urand() * n);
    double x0 = x[i];
    x[i] = x0 + h;
    double lp = f(ctx);
    x[i] = x0 - h;
    double lm = f(ctx);
    x[i] = x0;
    fd[k] = (lp - lm) / (2 * h);
    gs[k] = got[i];
  }
  close_vec(what, gs, fd, m, 1e-4);
  free(fd);
  free(gs);
}

/* sum_i g[i] out[i]: the scalar whose gradient the backward computes */
static double wsum(const double *g, const double *out, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += g[i] * out[i];
  return s;
}

/* The inputs of the op under test, as the references and losses see them. */
typedef struct {
  int B, T, N, C, NH, NKV, HS, V;
  double eps, theta, dscale;
  const float *freq;  /* RoPE inverse frequencies [HS/2] */
  double rscale;      /* RoPE factor on cos and sin */
  int window;         /* attention: sliding window, 0 = none */
  const int32_t *tok;
  double *x, *w, *b; /* differentiated inputs (some unused) */
  const double *g;   /* upstream gradient */
  double *out;       /* scratch for the reference forward */
} fctx;

/* ------------------------------------------------------------------------ */
/* backend selection, memory, threads */

static void test_backend_get(void) {
  CHECK(st_backend_get("cpu") == st_backend_cpu());
  CHECK(!strcmp(st_backend_cpu()->name, "cpu"));
  st_err_clear();
  CHECK(st_backend_get("tpu") == NULL);
  CHECK(strstr(st_errmsg(), "tpu") != NULL);
  CHECK(st_backend_get(NULL) == NULL);
#ifndef STRATA_HAVE_CUDA
  st_err_clear();
  CHECK(st_backend_get("cuda") == NULL);
  CHECK(strstr(st_errmsg(), "without the CUDA backend") != NULL);
#endif
}

static void test_memory(void) {
  size_t sizes[] = {0, 1, 100, 4096 + 4};
  for (int k = 0; k < 4; k++) {
    unsigned char *p = be->alloc(sizes[k]);
    CHECK(p != NULL);
    CHECK((uintptr_t)p % 64 == 0);
    size_t nz = 0;
    for (size_t i = 0; i < sizes[k]; i++)
      nz += p[i] != 0;
    CHECK(nz == 0);
    be->free(p);
  }
  st_err_clear();
  CHECK(be->alloc(SIZE_MAX - 8) == NULL);
  CHECK(strstr(st_errmsg(), "cpu") != NULL);

  float h[37], back[37];
  for (int i = 0; i < 37; i++)
    h[i] = (float)i * 0.5f;
  float *a = be->alloc(sizeof h), *b = be->alloc(sizeof h);
  be->upload(a, h, sizeof h);
  be->copy(b, a, sizeof h);
  be->download(back, b, sizeof h);
  CHECK(!memcmp(h, back, sizeof h));
  be->zero(b, 10 * sizeof(float));
  be->sync();
  be->download(back, b, sizeof h);
  CHECK(back[9] == 0.0f && back[10] == 5.0f && back[0] == 0.0f);
  be->free(a);
  be->free(b);
}

/* run fn with 1 and with 2 threads: every output has one writer in a fixed
 * order, so results must be identical bit for bit */
static void test_threads(void) {
  st_set_threads(1);
  CHECK(st_get_threads() == 1);
  CHECK(omp_get_max_threads() == 1);
  st_set_threads(0);
  CHECK(st_get_threads() == omp_get_num_procs());

  int B = 2, T = 40, NH = 4, NKV = 2, HS = 16, C3 = (NH + 2 * NKV) * HS;
  size_t nq = (size_t)B * T * C3, no = (size_t)B * T * NH * HS;
  float *qkv = rvec(nq, -1, 1), *dout = rvec(no, -1, 1);
  float *dq = up(qkv, nq), *dd = up(dout, no);
  float *o = be->alloc(no * 4), *lse = be->alloc((size_t)B * NH * T * 4);
  float *dqkv = be->alloc(nq * 4), *res[2];
  float *x = rvec(300 * 130, -1, 1), *dx = up(x, 300 * 130);
  float *dw = be->alloc(130 * 4), *db = be->alloc(130 * 4);
  float *mean = be->alloc(300 * 4), *rstd = be->alloc(300 * 4);
  float *w = up(x, 130), *dinp = be->alloc(300 * 130 * 4);
  for (int k = 0; k < 2; k++) {
    st_set_threads(k + 1);
    be->attn_fwd(o, lse, dq, B, T, NH, NKV, HS, 0);
    be->attn_bwd(dqkv, dd, dq, o, lse, B, T, NH, NKV, HS, 0);
    be->zero(dw, 130 * 4);
    be->zero(db, 130 * 4);
    be->layernorm_fwd(dinp, mean, rstd, dx, w, w, 300, 130, 1e-5f);
    be->layernorm_bwd(dinp, dw, db, dx, dx, w, mean, rstd, 300, 130);
    be->bias_grad(db, dx, 300, 130, 130);
    res[k] = malloc((nq + 260) * 4);
    be->download(res[k], dqkv, nq * 4);
    be->download(res[k] + nq, dw, 130 * 4);
    be->download(res[k] + nq + 130, db, 130 * 4);
  }
  CHECK(!memcmp(res[0], res[1], (nq + 260) * 4));
  st_set_threads(2);
  free(res[0]), free(res[1]), free(qkv), free(dout), free(x);
  float *dev[] = {dq, dd, o, lse, dqkv, dx, dw, db, mean, rstd, w, dinp};
  for (int i = 0; i < 12; i++)
    be->free(dev[i]);
}

/* ------------------------------------------------------------------------ */
/* gemm, bias, elementwise */

static void test_gemm(void) {
  int M = 5, N = 4, K = 3;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int zb = 0; zb < 2; zb++) {
        /* stored shapes: A [M,K] or [K,M]; B [K,N] or [N,K]; rows padded */
        int ar = ta ? K : M, ac = ta ? M : K, lda = ac + 3;
        int br = tb ? N : K, bc = tb ? K : N, ldb = bc + 2;
        int ldc = N + 3;
        float alpha = 0.75f, beta = zb ? 0.0f : -0.5f;
        float *A = rvec((size_t)ar * lda, -1, 1),
              *Bm = rvec((size_t)br * ldb, -1, 1);
        /* with beta = 0, C's old contents (NaN here) must not leak in */
        float *C0 =
            zb ? fill((size_t)M * ldc, NAN) : rvec((size_t)M * ldc, -1, 1);
        for (int i = 0; i < M; i++)
          for (int j = N; j < ldc; j++)
            C0[i * ldc + j] = 7.0f; /* padding */
        float *dA = up(A, (size_t)ar * lda), *dB = up(Bm, (size_t)br * ldb);
        float *dC = up(C0, (size_t)M * ldc);
        be->gemm(ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        float *C = down(dC, (size_t)M * ldc);
        double want[20], got[20];
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
              double a = ta ? A[k * lda + i] : A[i * lda + k];
              double b = tb ? Bm[j * ldb + k] : Bm[k * ldb + j];
              s += a * b;
            }
            want[i * N + j] =
                alpha * s + (zb ? 0.0 : beta * (double)C0[i * ldc + j]);
            got[i * N + j] = C[i * ldc + j];
          }
        char what[64];
        snprintf(what, sizeof what, "gemm ta=%d tb=%d beta=%g", ta, tb, beta);
        close_vec(what, got, want, (size_t)M * N, 1e-5);
        int pad_ok = 1;
        for (int i = 0; i < M; i++)
          for (int j = N; j < ldc; j++)
            pad_ok &= C[i * ldc + j] == 7.0f;
        CHECK_MSG(pad_ok, "%s wrote past N", what);
        free(A), free(Bm), free(C0), free(C);
        be->free(dA), be->free(dB), be->free(dC);
      }
}

static double loss_bias(void *p) { /* L = sum g (out0 + bias) */
  fctx *c = p;
  double s = 0;
  for (int n = 0; n < c->N; n++)
    for (int o = 0; o < c->C; o++)
      s += c->g[n * c->C + o] * (c->x[n * c->C + o] + c->b[o]);
  return s;
}

static void test_bias(int N, int OC, int ld) {
  float *out0 = rvec((size_t)N * ld, -1, 1), *bias = rvec(OC, -1, 1);
  float *dout = rvec((size_t)N * ld, -1, 1), *db0 = rvec(OC, -1, 1);
  float *dO = up(out0, (size_t)N * ld), *dbias = up(bias, OC);
  be->add_bias(dO, dbias, N, OC, ld);
  float *out = down(dO, (size_t)N * ld);
  double *want = malloc((size_t)N * OC * 8), *got = malloc((size_t)N * OC * 8);
  int pad_ok = 1;
  for (int n = 0; n < N; n++) {
    for (int o = 0; o < OC; o++) {
      want[n * OC + o] = (double)out0[n * ld + o] + bias[o];
      got[n * OC + o] = out[n * ld + o];
    }
    for (int o = OC; o < ld; o++)
      pad_ok &= out[n * ld + o] == out0[n * ld + o];
  }
  close_vec("add_bias", got, want, (size_t)N * OC, 1e-6);
  CHECK_MSG(pad_ok, "add_bias wrote into the row padding");

  /* bias_grad: the padding of dout holds values that must not be summed */
  float *dd = up(dout, (size_t)N * ld), *ddb = up(db0, OC);
  be->bias_grad(ddb, dd, N, OC, ld);
  float *db = down(ddb, OC);
  double *gd = delta(db, db0, OC);
  double *g = malloc((size_t)N * OC * 8), *x = malloc((size_t)N * OC * 8);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      g[n * OC + o] = dout[n * ld + o];
      x[n * OC + o] = out0[n * ld + o];
    }
  double *bd = dbl(bias, OC);
  fctx c = {.N = N, .C = OC, .x = x, .b = bd, .g = g};
  check_grad("bias_grad", loss_bias, &c, bd, OC, gd);
  free(out0), free(bias), free(dout), free(db0), free(out), free(want);
  free(got), free(db), free(gd), free(g), free(x), free(bd);
  be->free(dO), be->free(dbias), be->free(dd), be->free(ddb);
}

static void test_elementwise(size_t n) {
  float *a = rvec(n, -2, 2), *b = rvec(n, -2, 2);
  float *da = up(a, n), *db = up(b, n), *dc = be->alloc(n * 4);
  double *want = malloc(n * 8);

  be->add(dc, da, db, n);
  float *r = down(dc, n);
  for (size_t i = 0; i < n; i++)
    want[i] = (double)a[i] + b[i];
  close_f("add", r, want, n, 1e-6);
  free(r);
  be->add(da, da, db, n); /* out aliasing an input */
  r = down(da, n);
  close_f("add in place", r, want, n, 1e-6);
  free(r);

  be->upload(da, a, n * 4);
  be->acc(da, db, n);
  r = down(da, n);
  close_f("acc", r, want, n, 1e-6);
  free(r);

  be->scale(db, -0.3f, n);
  r = down(db, n);
  for (size_t i = 0; i < n; i++)
    want[i] = -0.3 * b[i];
  close_f("scale", r, want, n, 1e-6);
  free(r);

  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++)
    s += a[i], ss += (double)a[i] * a[i];
  be->upload(da, a, n * 4);
  CHECK_NEAR(be->sum(da, n), s, 1e-12 * (fabs(s) + n));
  CHECK_NEAR(be->sumsq(da, n), ss, 1e-12 * ss);
  free(a), free(b), free(want);
  be->free(da), be->free(db), be->free(dc);
}

/* 2^22 copies of 0.1f: in double the sums are exact (sum) or nearly so
 * (sumsq); a float accumulator would be off in the third digit */
static void test_double_accumulation(void) {
  size_t n = (size_t)1 << 22;
  float *x = fill(n, 0.1f), *dx = up(x, n);
  double v = 0.1f;
  CHECK_NEAR(be->sum(dx, n), v * n, 1e-9 * v * n);
  CHECK_NEAR(be->sumsq(dx, n), v * v * n, 1e-9 * v * v * n);
  free(x);
  be->free(dx);
}

/* ------------------------------------------------------------------------ */
/* embedding */

static void ref_embed(double *out, const int32_t *tok, const double *wte,
                      const double *wpe, int B, int T, int C) {
  for (int bt = 0; bt < B * T; bt++)
    for (int c = 0; c < C; c++)
      out[bt * C + c] =
          wte[tok[bt] * C + c] + (wpe ? wpe[(bt % T) * C + c] : 0.0);
}
static double loss_embed(void *p) {
  fctx *c = p;
  ref_embed(c->out, c->tok, c->x, c->w, c->B, c->T, c->C);
  return wsum(c->g, c->out, (size_t)c->B * c->T * c->C);
}

static void test_embed(int B, int T, int C, int V, int use_wpe) {
  size_t nt = (size_t)B * T, no = nt * C;
  int32_t *tok = malloc(nt * sizeof *tok);
  /* few distinct tokens, so most repeat and their gradients accumulate */
  for (size_t i = 0; i < nt; i++)
    tok[i] = (int32_t)(urand() * 3) * (V / 3);
  tok[0] = tok[1] = V - 1;
  float *wte = rvec((size_t)V * C, -1, 1), *wpe = rvec((size_t)T * C, -1, 1);
  float *dout = rvec(no, -1, 1), *dwte0 = rvec((size_t)V * C, -1, 1);
  float *dwpe0 = rvec((size_t)T * C, -1, 1);
  int32_t *dtok = be->alloc(nt * sizeof *dtok);
  be->upload(dtok, tok, nt * sizeof *tok);
  float *dwte = up(wte, (size_t)V * C), *dwpe = up(wpe, (size_t)T * C);
  float *dO = be->alloc(no * 4);
  be->embed_fwd(dO, dtok, dwte, use_wpe ? dwpe : NULL, B, T, C);
  float *out = down(dO, no);
  double *xw = dbl(wte, (size_t)V * C), *xp = dbl(wpe, (size_t)T * C);
  double *want = malloc(no * 8), *g = dbl(dout, no);
  ref_embed(want, tok, xw, use_wpe ? xp : NULL, B, T, C);
  close_f("embed_fwd", out, want, no, 1e-6);

  /* backward into both, then each alone (the other NULL) */
  fctx c = {.B = B,
            .T = T,
            .C = C,
            .tok = tok,
            .x = xw,
            .w = use_wpe ? xp : NULL,
            .g = g,
            .out = want};
  float *dd = up(dout, no);
  for (int which = 0; which < 3; which++) {
    float *gte = up(dwte0, (size_t)V * C), *gpe = up(dwpe0, (size_t)T * C);
    be->embed_bwd(which == 2 ? NULL : gte, which == 1 ? NULL : gpe, dd, dtok, B,
                  T, C);
    float *hte = down(gte, (size_t)V * C), *hpe = down(gpe, (size_t)T * C);
    double *d1 = delta(hte, dwte0, (size_t)V * C),
           *d2 = delta(hpe, dwpe0, (size_t)T * C);
    if (which != 2)
      check_grad("embed_bwd dwte", loss_embed, &c, xw, (size_t)V * C, d1);
    else
      CHECK(!memcmp(hte, dwte0, (size_t)V * C * 4));
    if (which != 1 && use_wpe)
      check_grad("embed_bwd dwpe", loss_embed, &c, xp, (size_t)T * C, d2);
    if (which == 1)
      CHECK(!memcmp(hpe, dwpe0, (size_t)T * C * 4));
    free(hte), free(hpe), free(d1), free(d2);
    be->free(gte), be->free(gpe);
  }
  free(tok), free(wte), free(wpe), free(dout), free(dwte0), free(dwpe0);
  free(out), free(xw), free(xp), free(want), free(g);
  be->free(dtok), be->free(dwte), be->free(dwpe), be->free(dO), be->free(dd);
}

/* ------------------------------------------------------------------------ */
/* normalisation */

static void ref_rmsnorm(double *out, double *rstd, const double *x,
                        const double *w, int N, int C, double eps) {
  for (int n = 0; n < N; n++) {
    double ss = 0;
    for (int c = 0; c < C; c++)
      ss += x[n * C + c] * x[n * C + c];
    double r = 1.0 / sqrt(ss / C + eps);
    for (int c = 0; c < C; c++)
      out[n * C + c] = x[n * C + c] * r * w[c];
    if (rstd)
      rstd[n] = r;
  }
}
static double loss_rmsnorm(void *p) {
  fctx *c = p;
  ref_rmsnorm(c->out, NULL, c->x, c->w, c->N, c->C, c->eps);
  return wsum(c->g, c->out, (size_t)c->N * c->C);
}

static void ref_layernorm(double *out, double *mean, double *rstd,
                          const double *x, const double *w, const double *b,
                          int N, int C, double eps) {
  for (int n = 0; n < N; n++) {
    double m = 0, v = 0;
    for (int c = 0; c < C; c++)
      m += x[n * C + c];
    m /= C;
    for (int c = 0; c < C; c++)
      v += (x[n * C + c] - m) * (x[n * C + c] - m);
    double r = 1.0 / sqrt(v / C + eps);
    for (int c = 0; c < C; c++)
      out[n * C + c] = (x[n * C + c] - m) * r * w[c] + b[c];
    if (mean)
      mean[n] = m, rstd[n] = r;
  }
}
static double loss_layernorm(void *p) {
  fctx *c = p;
  ref_layernorm(c->out, NULL, NULL, c->x, c->w, c->b, c->N, c->C, c->eps);
  return wsum(c->g, c->out, (size_t)c->N * c->C);
}

static void test_norm(int layer, int N, int C) {
  size_t n = (size_t)N * C;
  float eps = 1e-5f;
  /* an offset mean makes LayerNorm's variance prone to cancellation */
  float *x = rvec(n, layer ? 2.0f : -1.5f, layer ? 4.0f : 1.5f);
  float *w = rvec(C, 0.5f, 1.5f), *b = rvec(C, -0.5f, 0.5f);
  float *dout = rvec(n, -1, 1), *dx0 = rvec(n, -1, 1);
  float *dw0 = rvec(C, -1, 1), *db0 = rvec(C, -1, 1);
  float *dX = up(x, n), *dW = up(w, C), *dB = up(b, C), *dD = up(dout, n);
  float *dO = be->alloc(n * 4), *dM = be->alloc(N * 4), *dR = be->alloc(N * 4);
  double *xd = dbl(x, n), *wd = dbl(w, C), *bd = dbl(b, C), *g = dbl(dout, n);
  double *want = malloc(n * 8), *wm = malloc(N * 8), *wr = malloc(N * 8);
  if (layer) {
    be->layernorm_fwd(dO, dM, dR, dX, dW, dB, N, C, eps);
    ref_layernorm(want, wm, wr, xd, wd, bd, N, C, eps);
  } else {
    be->rmsnorm_fwd(dO, dR, dX, dW, N, C, eps);
    ref_rmsnorm(want, wr, xd, wd, N, C, eps);
  }
  const char *nm = layer ? "layernorm" : "rmsnorm";
  char what[64];
  float *out = down(dO, n), *mean = down(dM, N), *rstd = down(dR, N);
  snprintf(what, sizeof what, "%s_fwd out", nm);
  close_f(what, out, want, n, 1e-5);
  snprintf(what, sizeof what, "%s_fwd rstd", nm);
  close_f(what, rstd, wr, N, 1e-5);
  if (layer)
    close_f("layernorm_fwd mean", mean, wm, N, 1e-5);

  fctx c = {.N = N,
            .C = C,
            .eps = eps,
            .x = xd,
            .w = wd,
            .b = bd,
            .g = g,
            .out = want};
  double (*loss)(void *) = layer ? loss_layernorm : loss_rmsnorm;
  /* pass 0: all gradients; pass 1: frozen weights (dw = db = NULL) */
  for (int frozen = 0; frozen < 2; frozen++) {
    float *gx = up(dx0, n), *gw = up(dw0, C), *gb = up(db0, C);
    if (layer)
      be->layernorm_bwd(gx, frozen ? NULL : gw, frozen ? NULL : gb, dD, dX, dW,
                        dM, dR, N, C);
    else
      be->rmsnorm_bwd(gx, frozen ? NULL : gw, dD, dX, dW, dR, N, C);
    float *hx = down(gx, n), *hw = down(gw, C), *hb = down(gb, C);
    double *ddx = delta(hx, dx0, n), *ddw = delta(hw, dw0, C),
           *ddb = delta(hb, db0, C);
    snprintf(what, sizeof what, "%s_bwd dinp%s", nm, frozen ? " (frozen)" : "");
    check_grad(what, loss, &c, xd, n, ddx);
    if (!frozen) {
      snprintf(what, sizeof what, "%s_bwd dw", nm);
      check_grad(what, loss, &c, wd, C, ddw);
      if (layer)
        check_grad("layernorm_bwd db", loss, &c, bd, C, ddb);
    } else {
      CHECK(!memcmp(hw, dw0, C * 4));
      CHECK(!memcmp(hb, db0, C * 4));
    }
    free(hx), free(hw), free(hb), free(ddx), free(ddw), free(ddb);
    be->free(gx), be->free(gw), be->free(gb);
  }
  free(x), free(w), free(b), free(dout), free(dx0), free(dw0), free(db0);
  free(xd), free(wd), free(bd), free(g), free(want), free(wm), free(wr);
  free(out), free(mean), free(rstd);
  float *dev[] = {dX, dW, dB, dD, dO, dM, dR};
  for (int i = 0; i < 7; i++)
    be->free(dev[i]);
}

/* ------------------------------------------------------------------------ */
/* RoPE */

/* the formula of backend.h, angles and products in double */
static void ref_rope(double *qkv, int B, int T, int NH, int NKV, int HS,
                     const float *freq, double scale, int inverse) {
  int C3 = (NH + 2 * NKV) * HS, half = HS / 2;
  for (int bt = 0; bt < B * T; bt++)
    for (int h = 0; h < NH + NKV; h++)
      for (int i = 0; i < half; i++) {
        double a = (bt % T) * (double)freq[i];
        double cs = scale * cos(a), sn = scale * (inverse ? -sin(a) : sin(a));
        double *x = qkv + bt * C3 + h * HS;
        double x0 = x[i], x1 = x[i + half];
        x[i] = x0 * cs - x1 * sn;
        x[i + half] = x1 * cs + x0 * sn;
      }
}
static double loss_rope(void *p) {
  fctx *c = p;
  size_t n = (size_t)c->B * c->T * (c->NH + 2 * c->NKV) * c->HS;
  memcpy(c->out, c->x, n * sizeof *c->out);
  ref_rope(c->out, c->B, c->T, c->NH, c->NKV, c->HS, c->freq, c->rscale, 0);
  return wsum(c->g, c->out, n);
}

/* tol: the backend computes angles in float, as transformers does, so far
 * positions drift from the double-angle formula by ~t * 1e-7. The
 * frequencies are plain RoPE's theta^(-2i/HS), and with scale != 1 (yarn's
 * attention factor) the rotation is scaled. */
static void test_rope(int B, int T, int NH, int NKV, int HS, float theta,
                      float scale, double tol) {
  size_t C3 = (size_t)(NH + 2 * NKV) * HS, n = (size_t)B * T * C3;
  float *freq = malloc((size_t)HS / 2 * sizeof *freq);
  for (int i = 0; i < HS / 2; i++)
    freq[i] = (float)pow(theta, -2.0 * i / HS);
  float *dfreq = up(freq, (size_t)HS / 2);
  float *x = rvec(n, -1, 1), *dx = up(x, n);
  be->rope(dx, B, T, NH, NKV, HS, dfreq, scale, 0);
  float *y = down(dx, n);
  double *want = dbl(x, n);
  ref_rope(want, B, T, NH, NKV, HS, freq, scale, 0);
  close_f("rope", y, want, n, tol);
  int v_same = 1; /* v heads are not rotated */
  for (int bt = 0; bt < B * T; bt++)
    v_same &= !memcmp(y + bt * C3 + (NH + NKV) * HS,
                      x + bt * C3 + (NH + NKV) * HS, (size_t)NKV * HS * 4);
  CHECK_MSG(v_same, "rope changed a v head");

  /* inverse after forward is the identity, times scale^2 */
  be->rope(dx, B, T, NH, NKV, HS, dfreq, scale, 1);
  float *z = down(dx, n);
  double *xd = dbl(x, n), *xs = dbl(x, n);
  for (size_t bt = 0; bt < (size_t)B * T; bt++)
    for (size_t i = 0; i < (size_t)(NH + NKV) * HS; i++)
      xs[bt * C3 + i] *= (double)scale * scale;
  close_f("rope inverse(forward)", z, xs, n, 1e-5);

  /* inverse is the transpose: it maps an upstream gradient g to the
   * gradient of sum(g * rope(x)) with respect to x */
  float *gf = rvec(n, -1, 1);
  double *g = dbl(gf, n), *scratch = malloc(n * 8);
  be->upload(dx, gf, n * 4);
  be->rope(dx, B, T, NH, NKV, HS, dfreq, scale, 1);
  float *gi = down(dx, n);
  double *gid = dbl(gi, n);
  fctx c = {.B = B,
            .T = T,
            .NH = NH,
            .NKV = NKV,
            .HS = HS,
            .freq = freq,
            .rscale = scale,
            .x = xd,
            .g = g,
            .out = scratch};
  check_grad("rope inverse = transpose", loss_rope, &c, xd, n, gid);
  free(x), free(y), free(want), free(z), free(xd), free(xs), free(gf), free(g);
  free(scratch), free(gi), free(gid), free(freq);
  be->free(dx);
  be->free(dfreq);
}

/* ------------------------------------------------------------------------ */
/* attention */

static void ref_attn(double *out, double *lse, const double *qkv, int B, int T,
                     int NH, int NKV, int HS, int window) {
  int C3 = (NH + 2 * NKV) * HS;
  double scale = 1.0 / sqrt(HS), *s = malloc(T * sizeof *s);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const double *q = qkv + (b * T + t) * C3 + h * HS;
        int kh = NH + h / (NH / NKV), vh = kh + NKV;
        double m = -INFINITY, z = 0;
        int u0 = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
        for (int u = u0; u <= t; u++) {
          const double *k = qkv + (b * T + u) * C3 + kh * HS;
          s[u] = 0;
          for (int i = 0; i < HS; i++)
            s[u] += q[i] * k[i];
          s[u] *= scale;
          if (s[u] > m)
            m = s[u];
        }
        for (int u = u0; u <= t; u++)
          z += exp(s[u] - m);
        double *o = out + ((b * T + t) * NH + h) * HS;
        for (int i = 0; i < HS; i++) {
          o[i] = 0;
          for (int u = u0; u <= t; u++)
            o[i] += exp(s[u] - m) / z * qkv[(b * T + u) * C3 + vh * HS + i];
        }
        if (lse)
          lse[(b * NH + h) * T + t] = m + log(z);
      }
  free(s);
}
static double loss_attn(void *p) {
  fctx *c = p;
  ref_attn(c->out, NULL, c->x, c->B, c->T, c->NH, c->NKV, c->HS, c->window);
  return wsum(c->g, c->out, (size_t)c->B * c->T * c->NH * c->HS);
}

/* window > 0: sliding window attention (each query sees its last `window`
 * keys) */
static void test_attention(int B, int T, int NH, int NKV, int HS, int window) {
  size_t C3 = (size_t)(NH + 2 * NKV) * HS, n = (size_t)B * T * C3;
  size_t no = (size_t)B * T * NH * HS, nl = (size_t)B * NH * T;
  float *x = rvec(n, -1.5f, 1.5f), *dout = rvec(no, -1, 1);
  float *dX = up(x, n), *dD = up(dout, no), *dO = be->alloc(no * 4);
  float *dL = be->alloc(nl * 4);
  be->attn_fwd(dO, dL, dX, B, T, NH, NKV, HS, window);
  float *out = down(dO, no), *lse = down(dL, nl);
  double *xd = dbl(x, n), *want = malloc(no * 8), *wl = malloc(nl * 8);
  ref_attn(want, wl, xd, B, T, NH, NKV, HS, window);
  char what[112];
  snprintf(what, sizeof what, "attn_fwd out (T=%d NH=%d NKV=%d W=%d)", T, NH,
           NKV, window);
  close_f(what, out, want, no, 1e-5);
  snprintf(what, sizeof what, "attn_fwd lse (T=%d NH=%d NKV=%d W=%d)", T, NH,
           NKV, window);
  close_f(what, lse, wl, nl, 1e-5);

  float *nan = fill(n, NAN), *dq = up(nan, n);
  be->attn_bwd(dq, dD, dX, dO, dL, B, T, NH, NKV, HS, window);
  float *dqkv = down(dq, n);
  double *got = dbl(dqkv, n), *g = dbl(dout, no);
  fctx c = {.B = B,
            .T = T,
            .NH = NH,
            .NKV = NKV,
            .HS = HS,
            .window = window,
            .x = xd,
            .g = g,
            .out = want};
  snprintf(what, sizeof what, "attn_bwd dqkv (T=%d NH=%d NKV=%d W=%d)", T, NH,
           NKV, window);
  check_grad(what, loss_attn, &c, xd, n, got);
  free(x), free(dout), free(out), free(lse), free(xd), free(want), free(wl);
  free(nan), free(dqkv), free(got), free(g);
  be->free(dX), be->free(dD), be->free(dO), be->free(dL), be->free(dq);
}

/* changing tokens t >= t0 (their q, k and v) leaves rows t < t0 as they were */
static void test_causal(void) {
  int B = 2, T = 7, NH = 4, NKV = 2, HS = 4, t0 = 3;
  size_t C3 = (size_t)(NH + 2 * NKV) * HS, n = (size_t)B * T * C3;
  size_t no = (size_t)B * T * NH * HS, nl = (size_t)B * NH * T;
  float *x = rvec(n, -1, 1), *o[2], *l[2];
  for (int k = 0; k < 2; k++) {
    if (k)
      for (int b = 0; b < B; b++)
        for (size_t i = (size_t)(b * T + t0) * C3; i < (size_t)(b + 1) * T * C3;
             i++)
          x[i] = frand(-3, 3);
    float *dX = up(x, n), *dO = be->alloc(no * 4), *dL = be->alloc(nl * 4);
    be->attn_fwd(dO, dL, dX, B, T, NH, NKV, HS, 0);
    o[k] = down(dO, no), l[k] = down(dL, nl);
    be->free(dX), be->free(dO), be->free(dL);
  }
  int same = 1, later_differ = 0;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      size_t off = (size_t)(b * T + t) * NH * HS;
      int eq = !memcmp(o[0] + off, o[1] + off, (size_t)NH * HS * 4);
      for (int h = 0; h < NH; h++)
        eq &= l[0][(b * NH + h) * T + t] == l[1][(b * NH + h) * T + t];
      if (t < t0)
        same &= eq;
      else
        later_differ |= !eq;
    }
  CHECK_MSG(same, "attention: a future token changed an earlier output");
  CHECK(later_differ);
  free(x), free(o[0]), free(o[1]), free(l[0]), free(l[1]);
}

/* ------------------------------------------------------------------------ */
/* activations */

static double ref_gelu(double x) {
  return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double loss_gelu(void *p) {
  fctx *c = p;
  double s = 0;
  for (int i = 0; i < c->N; i++)
    s += c->g[i] * ref_gelu(c->x[i]);
  return s;
}

static void test_gelu(int n) {
  float *x = rvec(n, -5, 5), *dout = rvec(n, -1, 1), *nan = fill(n, NAN);
  x[0] = 0.0f, x[1] = -12.0f, x[2] = 12.0f; /* centre and saturation */
  float *dX = up(x, n), *dD = up(dout, n), *dO = up(nan, n), *dI = up(nan, n);
  be->gelu_fwd(dO, dX, n);
  float *out = down(dO, n);
  double *want = malloc(n * 8), *xd = dbl(x, n), *g = dbl(dout, n);
  for (int i = 0; i < n; i++)
    want[i] = ref_gelu(xd[i]);
  close_f("gelu_fwd", out, want, n, 1e-5);
  be->gelu_bwd(dI, dX, dD, n);
  float *din = down(dI, n);
  double *got = dbl(din, n);
  fctx c = {.N = n, .x = xd, .g = g};
  check_grad("gelu_bwd", loss_gelu, &c, xd, n, got);
  /* in place (the block's backward writes the gradient over its input):
   * bitwise the out-of-place result */
  be->gelu_bwd(dX, dX, dD, n);
  float *inpl = down(dX, n);
  CHECK(!memcmp(inpl, din, n * sizeof *din));
  free(inpl);
  free(x), free(dout), free(nan), free(out), free(want), free(xd), free(g);
  free(din), free(got);
  be->free(dX), be->free(dD), be->free(dO), be->free(dI);
}

static double loss_swiglu(void *p) {
  fctx *c = p;
  double s = 0;
  for (int n = 0; n < c->N; n++)
    for (int i = 0; i < c->C; i++) {
      double gt = c->x[n * 2 * c->C + i], u = c->x[n * 2 * c->C + c->C + i];
      s += c->g[n * c->C + i] * gt / (1 + exp(-gt)) * u;
    }
  return s;
}

static void test_swiglu(int N, int H) {
  size_t n2 = (size_t)N * 2 * H, n1 = (size_t)N * H;
  float *gu = rvec(n2, -5, 5), *dout = rvec(n1, -1, 1), *nan = fill(n2, NAN);
  gu[0] = -30.0f, gu[1] = 30.0f; /* saturated gates */
  float *dG = up(gu, n2), *dD = up(dout, n1), *dO = up(nan, n1),
        *dI = up(nan, n2);
  be->swiglu_fwd(dO, dG, N, H);
  float *out = down(dO, n1);
  double *xd = dbl(gu, n2), *g = dbl(dout, n1), *want = malloc(n1 * 8);
  for (int n = 0; n < N; n++)
    for (int i = 0; i < H; i++) {
      double gt = xd[n * 2 * H + i], u = xd[n * 2 * H + H + i];
      want[n * H + i] = gt / (1 + exp(-gt)) * u;
    }
  close_f("swiglu_fwd", out, want, n1, 1e-5);
  be->swiglu_bwd(dI, dD, dG, N, H);
  float *din = down(dI, n2);
  double *got = dbl(din, n2);
  fctx c = {.N = N, .C = H, .x = xd, .g = g};
  check_grad("swiglu_bwd", loss_swiglu, &c, xd, n2, got);
  be->swiglu_bwd(dG, dD, dG, N, H); /* in place, as gelu_bwd */
  float *inpl = down(dG, n2);
  CHECK(!memcmp(inpl, din, n2 * sizeof *din));
  free(inpl);
  free(gu), free(dout), free(nan), free(out), free(xd), free(g), free(want);
  free(din), free(got);
  be->free(dG), be->free(dD), be->free(dO), be->free(dI);
}

/* ------------------------------------------------------------------------ */
/* loss */

static void ref_ce(double *loss, const double *x, const int32_t *tgt, int N,
                   int V) {
  for (int n = 0; n < N; n++) {
    if (tgt[n] < 0) {
      loss[n] = 0;
      continue;
    }
    double m = -INFINITY, s = 0;
    for (int v = 0; v < V; v++)
      m = fmax(m, x[n * V + v]);
    for (int v = 0; v < V; v++)
      s += exp(x[n * V + v] - m);
    loss[n] = m + log(s) - x[n * V + tgt[n]];
  }
}
static double loss_ce(void *p) { /* dscale * sum of the losses */
  fctx *c = p;
  ref_ce(c->out, c->x, c->tok, c->N, c->V);
  double s = 0;
  for (int n = 0; n < c->N; n++)
    s += c->out[n];
  return c->dscale * s;
}

static void test_softmax_ce(int N, int V) {
  size_t n = (size_t)N * V;
  float *x = rvec(n, -4, 4);
  int32_t *tgt = malloc(N * sizeof *tgt);
  for (int i = 0; i < N; i++)
    tgt[i] = (int32_t)(urand() * V);
  tgt[1] = -1, tgt[N - 1] = -100; /* ignored */
  tgt[2] = V - 1;
  for (int v = 0; v < V; v++)
    x[2 * V + v] += 200.0f; /* exp would overflow */
  for (int v = 0; v < V; v++)
    x[3 * V + v] *= 20.0f; /* nearly one-hot */
  int32_t *dT = be->alloc(N * sizeof *dT);
  be->upload(dT, tgt, N * sizeof *tgt);
  float *dX = up(x, n), *dLs = be->alloc(N * 4);
  double *xd = dbl(x, n), *wl = malloc(N * 8);
  ref_ce(wl, xd, tgt, N, V);

  /* dscale = 0: losses only, logits untouched */
  be->softmax_ce(dLs, dX, dT, N, V, 0.0f);
  float *l0 = down(dLs, N), *x0 = down(dX, n);
  close_f("softmax_ce losses", l0, wl, N, 1e-5);
  CHECK(!memcmp(x0, x, n * 4));
  CHECK(l0[1] == 0.0f && l0[N - 1] == 0.0f);

  /* dscale != 0: same losses, logits become the gradient of dscale*sum */
  float dscale = 0.37f;
  be->softmax_ce(dLs, dX, dT, N, V, dscale);
  float *l1 = down(dLs, N), *gx = down(dX, n);
  close_f("softmax_ce losses (with grad)", l1, wl, N, 1e-5);
  int zero_rows = 1;
  for (int v = 0; v < V; v++)
    zero_rows &= gx[V + v] == 0.0f && gx[(N - 1) * V + v] == 0.0f;
  CHECK_MSG(zero_rows, "softmax_ce: ignored rows not zeroed");
  double *got = dbl(gx, n), *scratch = malloc(N * 8);
  fctx c = {
      .N = N, .V = V, .dscale = dscale, .tok = tgt, .x = xd, .out = scratch};
  check_grad("softmax_ce dlogits", loss_ce, &c, xd, n, got);
  free(x), free(tgt), free(xd), free(wl), free(l0), free(x0), free(l1),
      free(gx);
  free(got), free(scratch);
  be->free(dT), be->free(dX), be->free(dLs);
}

/* ------------------------------------------------------------------------ */
/* optimiser */

static void test_adamw_by_hand(void) {
  /* p=1, g=0.5 then -0.25; lr 0.1, b1 0.9, b2 0.999, eps 1e-8, wd 0.01:
   * t=1: m=0.05 v=0.00025 mhat=0.5 vhat=0.25
   *      p = 1 - 0.1 (0.5/(0.5+1e-8) + 0.01) = 0.899000002
   * t=2: m=0.02 v=0.00031225 mhat=0.02/0.19 vhat=0.00031225/0.001999
   *      p = 0.899000002 - 0.1 (0.2663349... + 0.00899000002) = 0.8714672987 */
  float hp = 1.0f, g1 = 0.5f, g2 = -0.25f;
  float *p = up(&hp, 1), *g = up(&g1, 1), *m = be->alloc(4), *v = be->alloc(4);
  be->adamw(p, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
  float r[3];
  be->download(r, p, 4), be->download(r + 1, m, 4), be->download(r + 2, v, 4);
  CHECK_NEAR(r[0], 0.899000002, 2e-7);
  /* m and v carry float's rounding of 1-b1 and 1-b2 (1e-7 and 1e-5
   * relative); p does not: the bias corrections divide it out */
  CHECK_NEAR(r[1], 0.05, 1e-7);
  CHECK_NEAR(r[2], 0.00025, 1e-8);
  be->upload(g, &g2, 4);
  be->adamw(p, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2);
  be->download(r, p, 4), be->download(r + 1, m, 4), be->download(r + 2, v, 4);
  CHECK_NEAR(r[0], 0.8714672987, 2e-7);
  CHECK_NEAR(r[1], 0.02, 1e-7);
  CHECK_NEAR(r[2], 0.00031225, 1e-8);
  be->free(p), be->free(g), be->free(m), be->free(v);
}

static void test_adamw(size_t n) {
  float lr = 3e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  float *p = rvec(n, -1, 1), *g1 = rvec(n, -1, 1), *g2 = rvec(n, -1, 1);
  g1[0] = 0.0f, g2[0] = 0.0f; /* v = 0: eps keeps it finite */
  double *P = dbl(p, n), *M = calloc(n, 8), *Vv = calloc(n, 8);
  float *dP = up(p, n), *dG = up(g1, n), *dM = be->alloc(n * 4),
        *dV = be->alloc(n * 4);
  for (int t = 1; t <= 2; t++) {
    float *gs = t == 1 ? g1 : g2;
    be->upload(dG, gs, n * 4);
    be->adamw(dP, dG, dM, dV, n, lr, b1, b2, eps, wd, t);
    for (size_t i = 0; i < n; i++) {
      M[i] = b1 * M[i] + (1 - (double)b1) * gs[i];
      Vv[i] = b2 * Vv[i] + (1 - (double)b2) * gs[i] * gs[i];
      double mh = M[i] / (1 - pow(b1, t)), vh = Vv[i] / (1 - pow(b2, t));
      P[i] -= lr * (mh / (sqrt(vh) + eps) + wd * P[i]);
    }
  }
  float *hp = down(dP, n), *hm = down(dM, n), *hv = down(dV, n);
  close_f("adamw p", hp, P, n, 1e-6);
  close_f("adamw m", hm, M, n, 1e-5);
  close_f("adamw v", hv, Vv, n, 1e-5);
  free(p), free(g1), free(g2), free(P), free(M), free(Vv), free(hp), free(hm),
      free(hv);
  be->free(dP), be->free(dG), be->free(dM), be->free(dV);
}

/* ------------------------------------------------------------------------ */

int main(void) {
  be = st_backend_cpu();
  test_backend_get();
  test_memory();
  test_threads();

  test_gemm();
  test_bias(3, 5, 8);
  test_bias(300, 130, 133); /* parallel, several column blocks */
  test_elementwise(37);
  test_elementwise(100003);
  test_double_accumulation();

  test_embed(2, 5, 4, 6, 1);
  test_embed(2, 5, 4, 6, 0);
  test_embed(4, 16, 600, 9, 1);

  test_norm(0, 3, 7);
  test_norm(1, 3, 7);
  test_norm(0, 64, 600);
  test_norm(1, 64, 600);

  test_rope(2, 5, 4, 2, 8, 10000.0f, 1.0f, 1e-5);
  test_rope(1, 9, 2, 1, 300, 500000.0f, 1.0f, 1e-5); /* HS/2 > one frequency chunk */
  test_rope(2, 64, 4, 2, 64, 10000.0f, 1.0f, 1e-4);  /* parallel */
  test_rope(2, 7, 4, 2, 8, 1e6f, 1.1386f, 1e-5);     /* yarn's factor on cos, sin */

  test_attention(2, 5, 4, 2, 4, 0);  /* GQA */
  test_attention(2, 5, 3, 3, 4, 0);  /* MHA */
  test_attention(1, 6, 4, 1, 8, 0);  /* MQA */
  test_attention(2, 70, 4, 2, 8, 0); /* two key blocks, parallel */
  test_attention(2, 9, 4, 2, 4, 3);  /* sliding window */
  test_attention(1, 6, 2, 1, 4, 1);  /* a window of one: each query itself */
  test_attention(1, 5, 2, 2, 4, 8);  /* a window longer than T: full */
  test_attention(1, 150, 2, 1, 4, 70); /* windows across key blocks */
  test_causal();

  test_gelu(41);
  test_gelu(40000);
  test_swiglu(3, 5);
  test_swiglu(20, 2000);

  test_softmax_ce(6, 11);
  test_softmax_ce(8, 5000);

  test_adamw_by_hand();
  test_adamw(41);
  test_adamw(100003);
  TEST_DONE();
}
