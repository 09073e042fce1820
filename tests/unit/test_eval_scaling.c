/* test_eval_scaling.c - evaluation that scores only where needed
 * (st_model_logits_at, st_eval_run), against closed-form answers and
 * against each example run alone.
 *
 * The closed-form model is test_eval.c's bigram: a Llama whose layer
 * weights are zero (every block is the identity), token i embedded as e_i,
 * final RMSNorm weight 1, so logits(next | current i) = s * M[:, i] with
 * s = 1/sqrt(1/C + eps). On it: logits at chosen positions; loss and
 * classification in one pass over rows of very different lengths (single-
 * and multi-token verbalizers, gold continuations inside and past the
 * prompt), for several batch sizes and with the reference path
 * (full_logits); the progress callback. On a random model, whose blocks mix
 * positions: the packed, sorted batches give each example's loss as when it
 * runs alone. */
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "eval.h"
#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "test.h"

#define C 8
#define V 8
#define EPS 1e-5f

static float M[V][C]; /* head rows, [V, C] */

static st_model *bigram_model(void) {
  st_config cfg = {.arch = ST_ARCH_LLAMA, .n_layers = 2, .dim = C, .hidden = 8,
                   .n_heads = 2, .n_kv_heads = 2, .head_dim = 4, .vocab = V,
                   .max_seq = 16, .norm_eps = EPS, .rope_theta = 10000.0f};
  st_model *m = NULL;
  OK(st_model_new(&m, &cfg, st_backend_cpu()));
  float wte[V * C] = {0}, ones[C];
  for (int v = 0; v < V; v++)
    for (int k = 0; k < C; k++) {
      M[v][k] = (float)(2.0 * sin(1.3 * v + 0.7 * k + 0.1));
      wte[v * C + k] = v == k;
    }
  for (int k = 0; k < C; k++) ones[k] = 1;
  OK(st_model_set(m, st_model_find(m, "model.embed_tokens.weight"), wte, V * C));
  OK(st_model_set(m, st_model_find(m, "lm_head.weight"), &M[0][0], V * C));
  OK(st_model_set(m, st_model_find(m, "model.norm.weight"), ones, C));
  return m;
}

static double logit(int i, int y) {
  return 1.0 / sqrt(1.0 / C + (double)EPS) * M[y][i];
}
/* log p(next = y | current = i) */
static double lp(int i, int y) {
  double mx = -1e300, z = 0;
  for (int v = 0; v < V; v++) mx = fmax(mx, logit(i, v));
  for (int v = 0; v < V; v++) z += exp(logit(i, v) - mx);
  return logit(i, y) - mx - log(z);
}

static void test_logits_at(void) {
  st_model *m = bigram_model();
  enum { B = 3, T = 5 };
  int32_t tok[B * T], pos[] = {0, 4, 5, 6, 7, 14};
  for (int i = 0; i < B * T; i++) tok[i] = (i * 5 + 2) % V;
  int np = sizeof pos / sizeof *pos;
  float lg[6 * V];
  OK(st_model_logits_at(m, tok, B, T, pos, np, lg));
  for (int q = 0; q < np; q++)
    for (int v = 0; v < V; v++)
      CHECK_NEAR(lg[q * V + v], logit(tok[pos[q]], v), 1e-5);
  /* positions out of order or out of range are refused, not read */
  int32_t bad[] = {3, 2};
  CHECK(st_model_logits_at(m, tok, B, T, bad, 2, lg) == ST_ERR);
  int32_t far[] = {B * T};
  CHECK(st_model_logits_at(m, tok, B, T, far, 1, lg) == ST_ERR);
  st_model_free(m);
}

/* Example i: prompt of length p[i] (tokens 0..5), classes 0 and 1.
 * Even examples: verbalizers {6} and {7}; odd: {6, 0} and {7, 5, 2}. The
 * row holds the prompt and the gold continuation, which is the target. */
enum { N = 9, T = 16, K = 2 };
static const int plen[N] = {2, 9, 4, 3, 12, 5, 7, 2, 6};
static const int gold[N] = {0, 1, 1, 0, 1, 0, 0, 1, 1};
static const int32_t c_single[2][1] = {{6}, {7}};
static const int32_t c_multi0[] = {6, 0}, c_multi1[] = {7, 5, 2};

static const int32_t *cand(int i, int c, int *len) {
  if (i % 2 == 0) {
    *len = 1;
    return c_single[c];
  }
  *len = c ? 3 : 2;
  return c ? c_multi1 : c_multi0;
}

static void make_data(st_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->n = N;
  ds->T = T;
  ds->n_classes = K;
  ds->tok = calloc(N * T, 4);
  ds->tgt = malloc(N * T * 4);
  ds->prompt_len = malloc(N * 4);
  ds->label = malloc(N * 4);
  ds->cand_off = malloc((N * K + 1) * 8);
  ds->cand = malloc(N * K * 3 * 4);
  ds->classes = calloc(K, sizeof(char *));
  ds->verbalizers = calloc(K, sizeof(char *));
  for (int k = 0; k < K; k++) {
    ds->classes[k] = strdup(k ? "1" : "0");
    ds->verbalizers[k] = strdup(k ? " b" : " a");
  }
  snprintf(ds->path, sizeof ds->path, "synthetic");
  ds->cand_off[0] = 0;
  for (int i = 0; i < N; i++) {
    int32_t *row = ds->tok + i * T, *tg = ds->tgt + i * T;
    for (int t = 0; t < T; t++) tg[t] = -1;
    for (int t = 0; t < plen[i]; t++) row[t] = (i + 3 * t) % 6;
    ds->prompt_len[i] = plen[i];
    ds->label[i] = gold[i];
    for (int c = 0; c < K; c++) {
      int len;
      const int32_t *cc = cand(i, c, &len);
      int64_t o = ds->cand_off[i * K + c];
      memcpy(ds->cand + o, cc, (size_t)len * 4);
      ds->cand_off[i * K + c + 1] = o + len;
      if (c != gold[i]) continue;
      for (int j = 0; j < len; j++) {
        row[plen[i] + j] = cc[j];
        tg[plen[i] - 1 + j] = cc[j];
      }
    }
  }
}

/* the class score by hand: the continuation's bigram log-probabilities */
static double class_score(const st_dataset *ds, int i, int c) {
  int len;
  const int32_t *cc = cand(i, c, &len);
  double s = lp(ds->tok[i * T + plen[i] - 1], cc[0]);
  for (int j = 1; j < len; j++) s += lp(cc[j - 1], cc[j]);
  return s;
}

typedef struct { int calls, last, total, monotone; } prog;
static void on_progress(void *ctx, int done, int total) {
  prog *p = ctx;
  p->monotone &= done >= p->last && done <= total;
  p->calls++;
  p->last = done;
  p->total = total;
}

static void test_run(void) {
  st_model *m = bigram_model();
  st_dataset ds;
  make_data(&ds);
  double want_loss = 0;
  int ntok = 0;
  for (int i = 0; i < N; i++)
    for (int t = 0; t < T; t++) {
      int y = ds.tgt[i * T + t];
      if (y < 0) continue;
      want_loss -= lp(ds.tok[i * T + t], y);
      ntok++;
    }
  want_loss /= ntok;
  for (int full = 0; full <= 1; full++)
    for (int B = 1; B <= 7; B += 3) {
      st_eval_opts o = st_eval_opts_default(B);
      prog p = {0, 0, 0, 1};
      o.progress = on_progress;
      o.ctx = &p;
      o.full_logits = full;
      st_eval_result r = {0};
      int32_t pred[N];
      double sc[N * K];
      OK(st_eval_run(m, &ds, &o, &r, pred, sc));
      CHECK_MSG(r.n_tokens == ntok, "full %d B %d: %ld tokens, want %d", full,
                B, r.n_tokens, ntok);
      CHECK_NEAR(r.loss, want_loss, 1e-5);
      int correct = 0;
      for (int i = 0; i < N; i++) {
        double s0 = class_score(&ds, i, 0), s1 = class_score(&ds, i, 1);
        CHECK_NEAR(sc[i * K], s0, 1e-5);
        CHECK_NEAR(sc[i * K + 1], s1, 1e-5);
        CHECK(pred[i] == (s1 > s0));
        correct += pred[i] == gold[i];
      }
      CHECK(r.n_correct == correct && r.n_classes == K && r.n_examples == N);
      CHECK_MSG(p.monotone && p.calls >= 1 && p.last == N && p.total == N,
                "full %d B %d: progress %d calls, last %d/%d", full, B, p.calls,
                p.last, p.total);
      st_eval_result_free(&r);
    }
  /* the two on their own give the same */
  st_eval_result r = {0};
  OK(st_eval_loss(m, &ds, 2, &r));
  CHECK_NEAR(r.loss, want_loss, 1e-5);
  CHECK(r.n_classes == 0);
  OK(st_eval_classify(m, &ds, 2, &r, NULL, NULL));
  CHECK(r.n_classes == K && r.n_examples == N);
  st_eval_result_free(&r);
  /* an empty prompt is an error naming the example */
  ds.prompt_len[4] = 0;
  CHECK(st_eval_classify(m, &ds, 2, &r, NULL, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "example 4 has an empty prompt") != NULL);
  st_dataset_free(&ds);
  st_model_free(m);
}

/* a random model's loss over rows of lengths 1..T, packed and sorted,
 * against each example's own forward at its own length */
static void test_packing(void) {
  st_config c = {.arch = ST_ARCH_LLAMA, .n_layers = 2, .dim = 16, .hidden = 24,
                 .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .vocab = 32,
                 .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
  st_model *m = NULL;
  OK(st_model_new(&m, &c, st_backend_cpu()));
  st_model_init_random(m, 4);
  enum { n = 11 };
  st_dataset ds = {.n = n, .T = T};
  ds.tok = malloc(n * T * 4);
  ds.tgt = malloc(n * T * 4);
  snprintf(ds.path, sizeof ds.path, "synthetic");
  st_rng rng;
  st_rng_seed(&rng, 8);
  double want = 0;
  long ntok = 0;
  float lg[T * 32];
  for (int i = 0; i < n; i++) {
    int len = 1 + (i * 7) % T; /* the last target's position + 1 */
    for (int t = 0; t < T; t++) {
      ds.tok[i * T + t] = (int32_t)(st_rng_next(&rng) % c.vocab);
      ds.tgt[i * T + t] = t < len && t % 3 != 1 ? (int32_t)(st_rng_next(&rng) % c.vocab) : -1;
    }
    ds.tgt[i * T + len - 1] = 5;
    OK(st_model_logits(m, ds.tok + i * T, 1, len, lg));
    for (int t = 0; t < len; t++) {
      int y = ds.tgt[i * T + t];
      if (y < 0) continue;
      double mx = -1e300, z = 0;
      for (int v = 0; v < c.vocab; v++) mx = fmax(mx, lg[t * c.vocab + v]);
      for (int v = 0; v < c.vocab; v++) z += exp(lg[t * c.vocab + v] - mx);
      want += mx + log(z) - lg[t * c.vocab + y];
      ntok++;
    }
  }
  for (int B = 1; B <= 4; B++) {
    st_eval_result r = {0};
    OK(st_eval_loss(m, &ds, B, &r));
    CHECK(r.n_tokens == ntok);
    CHECK_MSG(fabs(r.loss - want / ntok) < 1e-5 * (want / ntok), "B %d: loss %.8g, alone %.8g",
              B, r.loss, want / ntok);
  }
  st_dataset_free(&ds);
  st_model_free(m);
}

int main(void) {
  st_set_threads(2);
  test_logits_at();
  test_run();
  test_packing();
  TEST_DONE();
}
