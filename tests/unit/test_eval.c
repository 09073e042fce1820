/* test_eval.c - eval against closed-form answers.
 *
 * The model: a Llama whose layer weights are all zero, so every block is
 * the identity (o_proj and down_proj write zero into the residual); token
 * i embeds as the unit vector e_i and the final RMSNorm has weight 1, so
 * the head sees s * e_i with s = 1/sqrt(1/C + eps) and
 *   logits(next | current i) = s * M[:, i],
 * a bigram model whose log-probabilities the test computes in double. */
#include "dataset.h"
#include "error.h"
#include "eval.h"
#include "model.h"
#include "test.h"
#include "test_dataset_tok.h"

#define C 8
#define EPS 1e-5f

static double M[TK_VOCAB][C]; /* head rows, [V, C] */
static int V;

static st_model *bigram_model(int vocab) {
  st_config cfg = {.arch = ST_ARCH_LLAMA, .n_layers = 2, .dim = C, .hidden = 8,
                   .n_heads = 2, .n_kv_heads = 2, .head_dim = 4, .vocab = vocab,
                   .max_seq = 16, .norm_eps = EPS, .rope_theta = 10000.0f};
  st_model *m = NULL;
  if (st_model_new(&m, &cfg, st_backend_cpu())) {
    fprintf(stderr, "model: %s\n", st_errmsg());
    exit(1);
  }
  V = vocab;
  float *wte = calloc((size_t)vocab * C, sizeof *wte);
  float *head = calloc((size_t)vocab * C, sizeof *head), ones[C];
  for (int i = 0; i < vocab && i < C; i++) wte[i * C + i] = 1;
  for (int v = 0; v < vocab; v++)
    for (int k = 0; k < C; k++) head[v * C + k] = (float)M[v][k];
  for (int k = 0; k < C; k++) ones[k] = 1;
  CHECK(st_model_set(m, st_model_find(m, "model.embed_tokens.weight"), wte,
                     (size_t)vocab * C) == ST_OK);
  CHECK(st_model_set(m, st_model_find(m, "lm_head.weight"), head,
                     (size_t)vocab * C) == ST_OK);
  CHECK(st_model_set(m, st_model_find(m, "model.norm.weight"), ones, C) == ST_OK);
  free(wte);
  free(head);
  return m;
}

/* log p(next = y | current = i), by hand; M[.][i] must be stored as float */
static double lp(int i, int y) {
  double s = 1.0 / sqrt(1.0 / C + (double)EPS), mx = -1e300, z = 0;
  for (int v = 0; v < V; v++) mx = fmax(mx, s * (float)M[v][i]);
  for (int v = 0; v < V; v++) z += exp(s * (float)M[v][i] - mx);
  return s * (float)M[y][i] - mx - log(z);
}
static int argmax_next(int i) {
  int best = 0;
  for (int v = 1; v < V; v++)
    if (M[v][i] > M[best][i]) best = v;
  return best;
}

static void fill_M(void) {
  for (int v = 0; v < 8; v++)
    for (int k = 0; k < C; k++) M[v][k] = 2.0 * sin(1.3 * v + 0.7 * k + 0.1);
  /* prompts ending in 0, 1, 2 prefer token 6 (class 0), in 3, 4, 5 token 7 */
  for (int k = 0; k < 6; k++) {
    M[6][k] = k < 3 ? 1.5 : -0.5;
    M[7][k] = k < 3 ? -0.5 : 1.0;
  }
}

static void test_loss(void) {
  fill_M();
  st_model *m = bigram_model(8);
  /* three rows of T = 5 with ignored positions and trailing padding */
  st_dataset ds = {0};
  int32_t tok[15] = {1, 4, 0, 3, 5, /**/ 2, 2, 7, 6, 0, /**/ 5, 1, 0, 0, 0};
  int32_t tgt[15] = {4, 0, 3, 5, -1, /**/ -1, 7, 6, 1, -1, /**/ 1, 3, -1, -1, -1};
  ds.n = 3;
  ds.T = 5;
  ds.tok = malloc(sizeof tok);
  ds.tgt = malloc(sizeof tgt);
  memcpy(ds.tok, tok, sizeof tok);
  memcpy(ds.tgt, tgt, sizeof tgt);
  snprintf(ds.path, sizeof ds.path, "synthetic");
  double sum = 0;
  int n = 0, hits = 0;
  for (int j = 0; j < 15; j++) {
    if (tgt[j] < 0) continue;
    sum -= lp(tok[j], tgt[j]);
    hits += argmax_next(tok[j]) == tgt[j];
    n++;
  }
  for (int B = 1; B <= 4; B += 3) {
    st_eval_result r = {0};
    CHECK(st_eval_loss(m, &ds, B, &r) == ST_OK);
    CHECK(r.n_tokens == n && r.n_examples == 3);
    CHECK_NEAR(r.loss, sum / n, 1e-5);
    CHECK_NEAR(r.ppl, exp(sum / n), 1e-4 * exp(sum / n));
    CHECK_NEAR(r.token_acc, (double)hits / n, 1e-12);
  }
  /* ids past the model's vocabulary are an error, not a crash */
  ds.tgt[0] = 8;
  st_eval_result r = {0};
  CHECK(st_eval_loss(m, &ds, 2, &r) == ST_ERR);
  CHECK(strstr(st_errmsg(), "outside the model's vocabulary") != NULL);
  st_dataset_free(&ds);
  st_model_free(m);
}

/* a classification dataset: prompt [1, 3, last], continuations cand[c] */
static void make_cls(st_dataset *ds, int n, const int *last, const int *gold,
                     const int32_t *const *cand, const int *clen, int per_ex) {
  int T = 8, K = 2;
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->T = T;
  ds->n_classes = K;
  ds->pad = 0;
  ds->tok = calloc((size_t)n * T, 4);
  ds->tgt = malloc((size_t)n * T * 4);
  ds->prompt_len = malloc((size_t)n * 4);
  ds->label = malloc((size_t)n * 4);
  ds->cand_off = malloc(((size_t)n * K + 1) * 8);
  ds->cand = malloc((size_t)n * K * 4 * 4);
  ds->classes = calloc(K, sizeof(char *));
  ds->verbalizers = calloc(K, sizeof(char *));
  for (int k = 0; k < K; k++) {
    ds->classes[k] = strdup(k ? "1" : "0");
    ds->verbalizers[k] = strdup(k ? " b" : " a");
  }
  snprintf(ds->path, sizeof ds->path, "synthetic");
  ds->cand_off[0] = 0;
  for (int i = 0; i < n; i++) {
    int32_t *row = ds->tok + i * T, *tg = ds->tgt + i * T;
    row[0] = 1, row[1] = 3, row[2] = last[i];
    ds->prompt_len[i] = 3;
    ds->label[i] = gold[i];
    for (int t = 0; t < T; t++) tg[t] = -1;
    for (int c = 0; c < K; c++) {
      int q = c + (per_ex ? 2 * (i % 2) : 0); /* which continuation */
      int64_t o = ds->cand_off[i * K + c];
      memcpy(ds->cand + o, cand[q], (size_t)clen[q] * 4);
      ds->cand_off[i * K + c + 1] = o + clen[q];
      if (c != gold[i]) continue;
      for (int j = 0; j < clen[q]; j++) {
        row[3 + j] = cand[q][j];
        tg[2 + j] = cand[q][j];
      }
    }
  }
}

static double score(int last, const int32_t *c, int len) {
  double s = lp(last, c[0]);
  for (int j = 1; j < len; j++) s += lp(c[j - 1], c[j]);
  return s;
}

static void test_classify(void) {
  fill_M();
  st_model *m = bigram_model(8);
  int last[8] = {0, 1, 2, 3, 4, 5, 3, 4}, gold[8] = {0, 0, 1, 1, 1, 0, 0, 1};
  static const int32_t c0[] = {6}, c1[] = {7}, c2[] = {6, 0}, c3[] = {7, 5, 2};
  const int32_t *cand[4] = {c0, c1, c2, c3};
  int clen[4] = {1, 1, 2, 3};
  st_dataset ds;
  /* single-token verbalizers: one row per example */
  make_cls(&ds, 8, last, gold, cand, clen, 0);
  for (int B = 1; B <= 3; B += 2) {
    st_eval_result r = {0};
    int32_t pred[8];
    double sc[16];
    CHECK(st_eval_classify(m, &ds, B, &r, pred, sc) == ST_OK);
    /* predictions 0 0 0 1 1 1 1 1 against gold 0 0 1 1 1 0 0 1:
     * class 0: TP 2 FP 1 FN 2 -> F1 4/7; class 1: TP 3 FP 2 FN 1 -> 2/3 */
    CHECK(r.n_correct == 5 && r.n_classes == 2);
    CHECK_NEAR(r.accuracy, 5.0 / 8, 1e-12);
    CHECK_NEAR(r.macro_f1, 13.0 / 21, 1e-12);
    int conf[4] = {2, 2, 1, 3};
    CHECK(r.confusion && !memcmp(r.confusion, conf, sizeof conf));
    for (int i = 0; i < 8; i++) {
      CHECK(pred[i] == (last[i] >= 3));
      CHECK_NEAR(sc[2 * i], lp(last[i], 6), 1e-5);
      CHECK_NEAR(sc[2 * i + 1], lp(last[i], 7), 1e-5);
    }
    st_eval_result_free(&r);
  }
  /* the loss over the gold verbalizer tokens of the same rows */
  st_eval_result r = {0};
  CHECK(st_eval_loss(m, &ds, 4, &r) == ST_OK);
  double want = 0;
  for (int i = 0; i < 8; i++) want -= lp(last[i], gold[i] ? 7 : 6);
  CHECK(r.n_tokens == 8);
  CHECK_NEAR(r.loss, want / 8, 1e-5);
  st_dataset_free(&ds);

  /* odd examples have multi-token continuations (one row per class), even
   * ones single tokens; scores are sums of bigram log-probabilities */
  make_cls(&ds, 8, last, gold, cand, clen, 1);
  int32_t pred[8];
  double sc[16];
  CHECK(st_eval_classify(m, &ds, 3, &r, pred, sc) == ST_OK);
  int correct = 0;
  for (int i = 0; i < 8; i++) {
    int q = 2 * (i % 2);
    double s0 = score(last[i], cand[q], clen[q]);
    double s1 = score(last[i], cand[q + 1], clen[q + 1]);
    CHECK_NEAR(sc[2 * i], s0, 1e-5);
    CHECK_NEAR(sc[2 * i + 1], s1, 1e-5);
    CHECK(pred[i] == (s1 > s0));
    correct += pred[i] == gold[i];
  }
  CHECK(r.n_correct == correct);
  st_eval_result_free(&r);
  st_dataset_free(&ds);
  st_model_free(m);
}

static void test_metrics(void) {
  /* class 0: TP 1, FP 1, FN 0 -> F1 2/3; class 1: TP 2, FP 1, FN 1 -> 4/6;
   * class 2 in gold only -> 0; class 3 nowhere -> not averaged */
  int32_t gold[5] = {0, 1, 1, 1, 2}, pred[5] = {0, 1, 1, 0, 1};
  double acc, f1;
  int conf[16];
  st_eval_metrics(gold, pred, 5, 4, &acc, &f1, conf);
  CHECK_NEAR(acc, 3.0 / 5, 1e-12);
  CHECK_NEAR(f1, (2.0 / 3 + 4.0 / 6 + 0) / 3, 1e-12);
  CHECK(conf[0] == 1 && conf[1 * 4 + 1] == 2 && conf[1 * 4 + 0] == 1 &&
        conf[2 * 4 + 1] == 1);
}

static void test_generate(void) {
  char dir[64], path[128];
  make_tmpdir(dir);
  snprintf(path, sizeof path, "%s/tok.bin", dir);
  tk_write(path);
  st_tokenizer *tk = NULL;
  CHECK(st_tokenizer_load(&tk, path) == ST_OK);
  /* c -> d -> e -> EOS */
  const int c = tk_char('c'), d = tk_char('d'), e = tk_char('e');
  memset(M, 0, sizeof M);
  M[d][0] = M[e][1] = M[TK_EOS][2] = M[c][4] = 5;
  st_model *m = bigram_model(TK_VOCAB);
  /* embed c, d, e, BOS, " " as e_0 .. e_4 */
  float *wte = calloc((size_t)TK_VOCAB * C, sizeof *wte);
  int rows[5] = {c, d, e, TK_BOS, TK_SP};
  for (int k = 0; k < 5; k++) wte[rows[k] * C + k] = 1;
  CHECK(st_model_set(m, st_model_find(m, "model.embed_tokens.weight"), wte,
                     (size_t)TK_VOCAB * C) == ST_OK);
  free(wte);
  snprintf(path, sizeof path, "%s/p.jsonl", dir);
  put_file(path, "{\"prompt\": \"c\", \"completion\": \"d\"}\n");
  st_data_opts o = st_data_opts_default();
  o.path = path;
  o.seq_len = 8;
  o.no_cache = 1;
  st_dataset ds;
  CHECK(st_dataset_load(&ds, tk, &o) == ST_OK);
  st_rng rng;
  st_rng_seed(&rng, 3);
  char *text = NULL;
  CHECK(st_eval_generate(m, tk, &ds, 0, 10, 0, &rng, &text) == ST_OK);
  CHECK(text && !strcmp(text, "de"));
  free(text);
  CHECK(st_eval_generate(m, tk, &ds, 0, 1, 0, &rng, &text) == ST_OK);
  CHECK(text && !strcmp(text, "d"));
  free(text);
  CHECK(st_eval_generate(m, tk, &ds, 0, 10, 1e-3f, &rng, &text) == ST_OK);
  CHECK(text && !strcmp(text, "de"));
  free(text);
  st_dataset_free(&ds);
  st_model_free(m);
  st_tokenizer_free(tk);
  rm_tree(dir);
}

int main(void) {
  st_set_threads(1);
  test_loss();
  test_classify();
  test_metrics();
  test_generate();
  TEST_DONE();
}
