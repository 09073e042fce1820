/* Trace measures against a straightforward double-precision reference
 * computed here from the dumped hidden states: deltas, cosines, the logit
 * lens through the final norm and head, and the basis deviation with
 * s_y = row y of pinv(W_U)^T = W_U (W_U^T W_U)^-1 (full column rank). The
 * logit lens at l = L must equal the model's own loss. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "forward.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "trace.h"
#include "train.h"

enum { M = 3, T = 10 };

typedef struct dump { int N, C; float *h; } dump; /* [(L+1), N, C] */

static void grab(void *ctx, int l, const float *h) {
  dump *d = ctx;
  memcpy(d->h + (size_t)l * d->N * d->C, h, (size_t)d->N * d->C * sizeof(float));
}

/* inverse of a C x C matrix by Gauss-Jordan with partial pivoting */
static void invert(double *a, double *inv, int n) {
  for (int i = 0; i < n * n; i++) inv[i] = i % (n + 1) == 0;
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int r = c + 1; r < n; r++)
      if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
    for (int k = 0; k < n; k++) {
      double t = a[c * n + k]; a[c * n + k] = a[p * n + k]; a[p * n + k] = t;
      t = inv[c * n + k]; inv[c * n + k] = inv[p * n + k]; inv[p * n + k] = t;
    }
    double d = a[c * n + c];
    for (int k = 0; k < n; k++) a[c * n + k] /= d, inv[c * n + k] /= d;
    for (int r = 0; r < n; r++) {
      if (r == c) continue;
      double f = a[r * n + c];
      for (int k = 0; k < n; k++) a[r * n + k] -= f * a[c * n + k], inv[r * n + k] -= f * inv[c * n + k];
    }
  }
}

static void run(st_model *m, const char *name) {
  const st_config *c = &m->cfg;
  int L = c->n_layers, C = c->dim, V = c->vocab, N = M * T;
  int32_t tok[M * T], tgt[M * T];
  st_rng r;
  st_rng_seed(&r, 5);
  for (int i = 0; i < N; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % V);
    tgt[i] = i % 4 == 1 ? -1 : (int32_t)(st_rng_next(&r) % V);
  }
  dump d = {N, C, malloc((size_t)(L + 1) * N * C * sizeof(float))};
  CHECK(st_model_forward(m, tok, M, T, grab, &d, NULL) == ST_OK);

  /* reference pieces in double */
  size_t VC = (size_t)V * C;
  float *W = malloc(VC * sizeof(float));
  m->be->download(W, st_head_weight(m), VC * sizeof(float));
  float *nw = malloc(C * sizeof(float)), *nb = calloc(C, sizeof(float));
  m->be->download(nw, st_global(m, ST_LNF_W), C * sizeof(float));
  if (c->arch == ST_ARCH_GPT2) m->be->download(nb, st_global(m, ST_LNF_B), C * sizeof(float));
  double *wtw = calloc((size_t)C * C, sizeof(double)), *inv = malloc((size_t)C * C * sizeof(double));
  for (int v = 0; v < V; v++)
    for (int i = 0; i < C; i++)
      for (int j = 0; j < C; j++) wtw[i * C + j] += (double)W[v * C + i] * W[v * C + j];
  invert(wtw, inv, C);
  double *S = calloc(VC, sizeof(double)); /* W (W^T W)^-1 */
  for (int v = 0; v < V; v++)
    for (int j = 0; j < C; j++)
      for (int k = 0; k < C; k++) S[v * C + j] += W[v * C + k] * inv[k * C + j];

  char dir[] = "/tmp/strata_trace_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  setenv("STRATA_CACHE", dir, 1);
  for (int pass = 0; pass < 3; pass++) {
    if (pass == 2) { /* corrupt the cached pinv: it must be recomputed */
      char cmd[256];
      snprintf(cmd, sizeof cmd, "for f in %s/pinv/*; do head -c 100 $f > $f.x && mv $f.x $f; done", dir);
      CHECK(system(cmd) == 0);
    }
    st_trace tr;
    CHECK(st_trace_collect(&tr, m, tok, tgt, M, T, 5, 9) == ST_OK);
    double sum[ST_NMEASURES], sq[ST_NMEASURES];
    long cnt = 0;
    for (int l = 0; l <= L; l++) {
      memset(sum, 0, sizeof sum);
      memset(sq, 0, sizeof sq);
      cnt = 0;
      for (int i = 0; i < N; i++) {
        if (tgt[i] < 0) continue;
        const float *x = d.h + ((size_t)l * N + i) * C;
        const float *p = l ? d.h + ((size_t)(l - 1) * N + i) * C : x;
        double v[ST_NMEASURES] = {0}, xx = 0, pp = 0, xp = 0, dd = 0;
        for (int k = 0; k < C; k++) {
          xx += (double)x[k] * x[k]; pp += (double)p[k] * p[k]; xp += (double)x[k] * p[k];
          dd += ((double)x[k] - p[k]) * ((double)x[k] - p[k]);
        }
        if (l) {
          v[0] = sqrt(dd);
          v[1] = sqrt(dd) / sqrt(pp);
          v[2] = xp / sqrt(xx * pp);
        }
        /* logit lens */
        double nx[512], mean = 0, var = 0;
        if (c->arch == ST_ARCH_GPT2) {
          for (int k = 0; k < C; k++) mean += x[k];
          mean /= C;
          for (int k = 0; k < C; k++) var += (x[k] - mean) * (x[k] - mean);
          var /= C;
        } else {
          for (int k = 0; k < C; k++) var += (double)x[k] * x[k];
          var /= C;
        }
        for (int k = 0; k < C; k++) nx[k] = (x[k] - mean) / sqrt(var + c->norm_eps) * nw[k] + nb[k];
        double mx = -1e300, z = 0, ly = 0;
        double *lg = malloc(V * sizeof(double));
        for (int u = 0; u < V; u++) {
          double s = 0;
          for (int k = 0; k < C; k++) s += nx[k] * W[u * C + k];
          lg[u] = s;
          if (s > mx) mx = s;
        }
        for (int u = 0; u < V; u++) z += exp(lg[u] - mx);
        ly = lg[tgt[i]];
        free(lg);
        v[3] = -(ly - mx - log(z));
        const double *sy = S + (size_t)tgt[i] * C;
        double xs = 0, ss = 0;
        for (int k = 0; k < C; k++) xs += x[k] * sy[k], ss += sy[k] * sy[k];
        v[4] = 1 - xs / sqrt(xx * ss);
        for (int k = 0; k < ST_NMEASURES; k++) sum[k] += v[k], sq[k] += v[k] * v[k];
        cnt++;
      }
      for (int k = 0; k < ST_NMEASURES; k++) {
        double mean = sum[k] / cnt, sd = sqrt(fmax(sq[k] / cnt - mean * mean, 0));
        st_stat s = st_trace_get(&tr, l, k);
        CHECK_MSG(fabs(s.mean - mean) <= 1e-4 * (1 + fabs(mean)), "%s l=%d %s mean %g vs %g",
                  name, l, st_measure_names[k], s.mean, mean);
        CHECK_MSG(fabs(s.std - sd) <= 1e-3 * (1 + fabs(sd)), "%s l=%d %s std %g vs %g", name,
                  l, st_measure_names[k], s.std, sd);
      }
    }
    CHECK(tr.n_tokens == cnt);
    /* kept vectors are hidden states of one loss-bearing token per slot */
    for (int j = 0; j < tr.keep; j++) {
      int found = -1;
      for (int i = 0; i < N && found < 0; i++)
        if (tgt[i] >= 0 && !memcmp(tr.kept + (size_t)j * C, d.h + (size_t)i * C, C * sizeof(float)))
          found = i;
      CHECK_MSG(found >= 0, "%s: kept vector %d is no token's h_0", name, j);
      for (int l = 1; found >= 0 && l <= L; l++)
        CHECK(!memcmp(tr.kept + ((size_t)l * tr.keep + j) * C, d.h + ((size_t)l * N + found) * C,
                      C * sizeof(float)));
    }
    /* lens loss at L is the model's own loss */
    st_plan p;
    CHECK(st_plan_parse(&p, m, "all") == ST_OK);
    st_trainer *t;
    CHECK(st_trainer_new(&t, m, &p, M, T) == ST_OK);
    float loss;
    CHECK(st_trainer_fwdbwd(t, tok, tgt, &loss) == ST_OK);
    CHECK_NEAR(st_trace_get(&tr, L, ST_M_LENS_LOSS).mean, loss, 1e-5);
    st_trainer_free(t);
    st_plan_free(&p);
    CHECK(tr.params[0] == st_layer_params(m, 0));
    st_trace_free(&tr);
  }
  /* a target outside the vocabulary is an error, not a read past pinv */
  int32_t bad[M * T];
  memcpy(bad, tgt, sizeof bad);
  bad[3] = V;
  st_trace tb;
  CHECK(st_trace_collect(&tb, m, tok, bad, M, T, 0, 1) == ST_ERR);
  CHECK(strstr(st_errmsg(), "outside the vocabulary") != NULL);
  /* no loss-bearing tokens is an error */
  int32_t none[M * T];
  for (int i = 0; i < N; i++) none[i] = -1;
  st_trace tr;
  CHECK(st_trace_collect(&tr, m, tok, none, M, T, 0, 1) == ST_ERR);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(d.h); free(W); free(nw); free(nb); free(wtw); free(inv); free(S);
}

static st_model *tiny(st_arch arch) {
  st_config c = {.arch = arch, .n_layers = 3, .dim = 16, .n_heads = 2, .n_kv_heads = arch == ST_ARCH_LLAMA ? 1 : 2,
                 .head_dim = 8, .hidden = arch == ST_ARCH_LLAMA ? 24 : 64, .vocab = 40,
                 .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000, .tied = arch == ST_ARCH_GPT2};
  st_model *m = NULL;
  if (st_model_new(&m, &c, st_backend_cpu())) exit(1);
  st_model_init_random(m, 17);
  return m;
}

int main(void) {
  st_set_threads(2);
  st_model *a = tiny(ST_ARCH_LLAMA), *b = tiny(ST_ARCH_GPT2);
  run(a, "tiny llama");
  run(b, "tiny gpt2");
  st_model_free(a);
  st_model_free(b);
  TEST_DONE();
}
