/* test_trace_grads_ref.c - the trace's gradient probe (st_trace_gradients):
 * per-layer weight-gradient norms and their ratio to the weight norms.
 *
 *   against PyTorch: the fixtures of scripts/make_reference.py hold
 *     transformers' gradient of the mean loss for every tensor (gpt2_tiny;
 *     stories260K when the shared model is there): a layer's norm is the
 *     root of its tensors' summed squares, relative 1e-4;
 *   micro-batches: 11 sequences (probed as 8 + 3, one of them without
 *     targets) against one 11-row batch of the trainer, relative 1e-5, and
 *     by central finite differences: the loss's derivative along the
 *     gradient's own direction is the gradient's norm (relative 1e-2);
 *   the weights are untouched, trace.json carries the measures, the FLOPs
 *     are those of M.T tokens, and bad input is an error. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assets.h"
#include "model_io.h"
#include "plan.h"
#include "ref_check.h"
#include "sampler.h"
#include "trace.h"
#include "train.h"

/* ||W_l|| of every layer from the model's own weights */
static void weight_norms(const st_model *m, double *wn) {
  for (int l = 0; l < m->cfg.n_layers; l++) wn[l] = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    if (p->group != ST_G_LAYER) continue;
    size_t n = (size_t)p->rows * p->cols;
    float *w = malloc(n * sizeof *w);
    OK(st_model_get(m, p, w, n));
    for (size_t j = 0; j < n; j++) wn[p->layer] += (double)w[j] * w[j];
    free(w);
  }
  for (int l = 0; l < m->cfg.n_layers; l++) wn[l] = sqrt(wn[l]);
}

static void against_fixture(const char *fixture, st_model *m) {
  st_sft *f;
  OK(st_sft_open(&f, fixture));
  const st_sft_tensor *tt = st_sft_find(f, "tokens");
  int B = (int)tt->shape[0], T = (int)tt->shape[1], L = m->cfg.n_layers;
  size_t nbt = (size_t)B * T;
  float *ftok = ref_get(f, "tokens", NULL), *ftgt = ref_get(f, "targets", NULL);
  float *ref_loss = ref_get(f, "loss", NULL);
  int32_t *tok = malloc(nbt * sizeof *tok), *tgt = malloc(nbt * sizeof *tgt);
  for (size_t i = 0; i < nbt; i++) {
    tok[i] = (int32_t)ftok[i];
    tgt[i] = ftgt[i] < 0 ? -1 : (int32_t)ftgt[i];
  }
  double *ref = calloc((size_t)L, sizeof *ref), *wn = calloc((size_t)L, sizeof *wn);
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    if (p->group != ST_G_LAYER) continue;
    char key[128];
    size_t n;
    snprintf(key, sizeof key, "grad.%s", p->name);
    float *g = ref_get(f, key, &n);
    for (size_t j = 0; j < n; j++) ref[p->layer] += (double)g[j] * g[j];
    free(g);
  }
  weight_norms(m, wn);
  st_trace tr;
  OK(st_trace_collect(&tr, m, tok, tgt, B, T, 0, 1));
  OK(st_trace_gradients(&tr, m, tok, tgt, B, T));
  printf("%s: loss %.7f ref %.7f\n", fixture, tr.grad_loss, ref_loss[0]);
  CHECK_NEAR(tr.grad_loss, ref_loss[0], 1e-5);
  for (int l = 0; l < L; l++) {
    ref[l] = sqrt(ref[l]);
    printf("  layer %d grad_norm %.7g ref %.7g  grad_ratio %.7g ref %.7g\n", l, tr.grad_norm[l],
           ref[l], tr.grad_ratio[l], ref[l] / wn[l]);
    CHECK_MSG(fabs(tr.grad_norm[l] / ref[l] - 1) <= 1e-4, "layer %d grad_norm", l);
    CHECK_MSG(fabs(tr.grad_ratio[l] / (ref[l] / wn[l]) - 1) <= 1e-4, "layer %d grad_ratio", l);
  }
  /* control: the gradient of another batch (targets shifted by one) misses */
  for (size_t i = 0; i < nbt; i++)
    if (tgt[i] >= 0) tgt[i] = (tgt[i] + 1) % m->cfg.vocab;
  OK(st_trace_gradients(&tr, m, tok, tgt, B, T));
  double worst = 0;
  for (int l = 0; l < L; l++) worst = fmax(worst, fabs(tr.grad_norm[l] / ref[l] - 1));
  printf("  control (targets shifted): worst relative miss %.3g\n", worst);
  CHECK(worst > 1e-2);
  st_trace_free(&tr);
  free(tok), free(tgt), free(ftok), free(ftgt), free(ref_loss), free(ref), free(wn);
  st_sft_close(f);
}

/* mean cross-entropy over targets >= 0, from host logits, in double */
static double host_loss(st_model *m, const int32_t *tok, const int32_t *tgt, int B, int T) {
  int V = m->cfg.vocab;
  float *lg = malloc((size_t)B * T * V * sizeof *lg);
  OK(st_model_logits(m, tok, B, T, lg));
  double s = 0;
  long n = 0;
  for (long i = 0; i < (long)B * T; i++) {
    if (tgt[i] < 0) continue;
    const float *z = lg + i * V;
    double mx = z[0], se = 0;
    for (int v = 1; v < V; v++) mx = fmax(mx, z[v]);
    for (int v = 0; v < V; v++) se += exp(z[v] - mx);
    s += mx + log(se) - z[tgt[i]];
    n++;
  }
  free(lg);
  return s / n;
}

/* adds eps * dir to layer l's weights (dir: the layer's tensors back to back) */
static void nudge(st_model *m, int l, const double *dir, double eps) {
  size_t o = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    if (p->group != ST_G_LAYER || p->layer != l) continue;
    size_t n = (size_t)p->rows * p->cols;
    float *w = malloc(n * sizeof *w);
    OK(st_model_get(m, p, w, n));
    for (size_t j = 0; j < n; j++) w[j] += (float)(eps * dir[o + j]);
    OK(st_model_set(m, p, w, n));
    o += n;
    free(w);
  }
}

static void micro_batches(st_model *m) {
  enum { M = 11, T = 12 };
  int L = m->cfg.n_layers, V = m->cfg.vocab;
  int32_t tok[M * T], tgt[M * T];
  st_rng r;
  st_rng_seed(&r, 18);
  for (int i = 0; i < M * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % V);
    /* uneven shares: sequence 9 has no targets, the others differ */
    int s = i / T;
    tgt[i] = s == 9 || (i % T) < s % 5 ? -1 : (int32_t)(st_rng_next(&r) % V);
  }
  size_t np = m->n_params;
  float *before = malloc(np * sizeof *before), *after = malloc(np * sizeof *after);
  m->be->download(before, m->params, np * sizeof(float));
  st_trace tr;
  OK(st_trace_collect(&tr, m, tok, tgt, M, T, 0, 1));
  OK(st_trace_gradients(&tr, m, tok, tgt, M, T));
  m->be->download(after, m->params, np * sizeof(float));
  CHECK_MSG(!memcmp(before, after, np * sizeof(float)), "the probe changed the weights");

  /* one batch of all 11 rows through the trainer: the reference */
  st_plan plan;
  OK(st_plan_parse(&plan, m, "all"));
  st_trainer *t;
  OK(st_trainer_new(&t, m, &plan, M, T));
  float loss;
  OK(st_trainer_fwdbwd(t, tok, tgt, &loss));
  CHECK_NEAR(tr.grad_loss, loss, 1e-5);
  double *gn = calloc((size_t)L, sizeof *gn);
  size_t nl = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (m->tab[i].group == ST_G_LAYER && m->tab[i].layer == 0)
      nl += (size_t)m->tab[i].rows * m->tab[i].cols;
  double *dir = malloc(nl * sizeof *dir); /* layer 0's gradient */
  size_t o = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    if (p->group != ST_G_LAYER) continue;
    size_t n = (size_t)p->rows * p->cols;
    float *g = malloc(n * sizeof *g);
    OK(st_trainer_grad(t, p, g, n));
    for (size_t j = 0; j < n; j++) gn[p->layer] += (double)g[j] * g[j];
    if (p->layer == 0)
      for (size_t j = 0; j < n; j++) dir[o++] = g[j];
    free(g);
  }
  st_trainer_free(t);
  st_plan_free(&plan);
  for (int l = 0; l < L; l++) {
    gn[l] = sqrt(gn[l]);
    CHECK_MSG(fabs(tr.grad_norm[l] / gn[l] - 1) <= 1e-5, "layer %d: probe %.8g, one batch %.8g",
              l, tr.grad_norm[l], gn[l]);
  }
  /* finite differences along u = g / |g| (st_model_get/set use the
   * checkpoint layout, as st_trainer_grad does): dLoss/du = |g| */
  for (size_t j = 0; j < nl; j++) dir[j] /= gn[0];
  double eps = 1e-2;
  nudge(m, 0, dir, eps);
  double lp = host_loss(m, tok, tgt, M, T);
  nudge(m, 0, dir, -2 * eps);
  double lm = host_loss(m, tok, tgt, M, T);
  nudge(m, 0, dir, eps);
  double fd = (lp - lm) / (2 * eps);
  printf("micro-batches: layer 0 grad_norm %.6g, one batch %.6g, finite differences %.6g\n",
         tr.grad_norm[0], gn[0], fd);
  CHECK_MSG(fabs(fd / tr.grad_norm[0] - 1) <= 1e-2, "finite differences %.6g vs %.6g", fd,
            tr.grad_norm[0]);

  st_flops f;
  OK(st_plan_parse(&plan, m, "all"));
  f = st_plan_flops(&plan, m, T);
  st_plan_free(&plan);
  CHECK(tr.grad_tokens == M * T);
  CHECK(tr.grad_fwd_flops == (double)M * T * f.fwd && tr.grad_bwd_flops == (double)M * T * f.full_bwd);

  /* trace.json carries the measures and the probe */
  char dir_t[] = "/tmp/strata_tgrad_XXXXXX", path[256];
  CHECK(mkdtemp(dir_t) != NULL);
  snprintf(path, sizeof path, "%s/trace.json", dir_t);
  OK(st_trace_write_json(&tr, path));
  json_t *j = json_load_file(path, 0, NULL);
  CHECK(j != NULL);
  json_t *sp = json_object_get(j, "spaces");
  for (int l = 0; l < L; l++) {
    json_t *e = json_array_get(sp, l + 1);
    /* trace.json keeps 8 significant digits */
    double jn = json_real_value(json_object_get(json_object_get(e, "grad_norm"), "mean"));
    double jr = json_real_value(json_object_get(json_object_get(e, "grad_ratio"), "mean"));
    CHECK(fabs(jn / tr.grad_norm[l] - 1) < 1e-7 && fabs(jr / tr.grad_ratio[l] - 1) < 1e-7);
  }
  CHECK(!json_object_get(json_array_get(sp, 0), "grad_norm"));
  CHECK(fabs(json_real_value(json_object_get(json_object_get(j, "gradients"), "bwd_flops")) /
             tr.grad_bwd_flops - 1) < 1e-7);
  CHECK(json_is_string(json_object_get(json_object_get(j, "representations"), "lens_loss")));
  json_decref(j);
  unlink(path);
  rmdir(dir_t);

  /* bad input */
  int32_t none[M * T];
  for (int i = 0; i < M * T; i++) none[i] = -1;
  CHECK(st_trace_gradients(&tr, m, tok, none, M, T) == ST_ERR &&
        strstr(st_errmsg(), "no loss-bearing tokens"));
  tok[5] = V;
  CHECK(st_trace_gradients(&tr, m, tok, tgt, M, T) == ST_ERR && strstr(st_errmsg(), "outside the vocabulary"));
  st_trace_free(&tr);
  st_trace empty = {0};
  CHECK(st_trace_gradients(&empty, m, tok, tgt, M, T) == ST_ERR && strstr(st_errmsg(), "collect the trace"));
  free(gn), free(dir), free(before), free(after);
}

int main(void) {
  const st_backend *be = st_backend_cpu();
  st_model *m;
  OK(st_load_hf(&m, "tests/fixtures/gpt2_tiny", be));
  against_fixture("tests/fixtures/ref/gpt2_tiny.safetensors", m);
  micro_batches(m);
  st_model_free(m);
  char bin[1024];
  int found = st_asset_local("models/stories260K/stories260K.bin", bin, sizeof bin);
  if (found == ST_ERR) {
    fprintf(stderr, "%s\n", st_errmsg());
    return 1;
  }
  if (found) {
    OK(st_load_llama2c(&m, bin, be));
    against_fixture("tests/fixtures/ref/llama_stories260K.safetensors", m);
    st_model_free(m);
  } else {
    printf("stories260K not found: its fixture is not checked\n");
  }
  TEST_DONE();
}
