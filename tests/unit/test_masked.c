/* Masked backprop: for any plan, the gradients of the trainable tensors equal
 * those of a full backward; frozen weights stay bitwise unchanged; memory
 * follows the plan; plan switches keep the moments of tensors that stay
 * trainable; invalid plans are errors. Tiny random models of both
 * architectures, plus stories260K when the asset is present. */
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "error.h"
#include "model.h"
#include "model_io.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "tiny_model.h"
#include "train.h"

enum { B = 2, T = 12 };

static void batch(const st_model *m, int32_t *tok, int32_t *tgt, uint64_t seed) {
  st_rng r;
  st_rng_seed(&r, seed);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % m->cfg.vocab);
    tgt[i] = i % 5 == 4 ? -1 : (int32_t)(st_rng_next(&r) % m->cfg.vocab);
  }
}

/* all gradients of plan `spec` (or of `p` when given) */
static float **grads(st_model *m, const st_plan *p, const int32_t *tok,
                     const int32_t *tgt, float *loss) {
  st_trainer *t;
  CHECK(st_trainer_new(&t, m, p, B, T) == ST_OK);
  CHECK(st_trainer_fwdbwd(t, tok, tgt, loss) == ST_OK);
  float **g = calloc(m->n_tab, sizeof *g);
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (!st_plan_param_trainable(p, m, q)) continue;
    size_t n = (size_t)q->rows * q->cols;
    g[i] = malloc(n * sizeof(float));
    CHECK(st_trainer_grad(t, q, g[i], n) == ST_OK);
  }
  st_trainer_free(t);
  return g;
}

static void free_grads(const st_model *m, float **g) {
  for (int i = 0; i < m->n_tab; i++) free(g[i]);
  free(g);
}

static int module_mask(const st_model *m, const char *a, const char *b) {
  int mask = 1 << st_module_index(m, a);
  if (b) mask |= 1 << st_module_index(m, b);
  return mask;
}

static void check_plan(st_model *m, const st_plan *p, const char *what,
                       float **ref, float ref_loss, const int32_t *tok,
                       const int32_t *tgt) {
  float loss;
  float **g = grads(m, p, tok, tgt, &loss);
  CHECK_NEAR(loss, ref_loss, 1e-6);
  int ntrain = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (!g[i]) {
      CHECK_MSG(!st_plan_param_trainable(p, m, q), "%s %s", what, q->name);
      continue;
    }
    ntrain++;
    size_t n = (size_t)q->rows * q->cols;
    double md = 0, mr = 0;
    for (size_t k = 0; k < n; k++) {
      double d = fabs((double)g[i][k] - ref[i][k]);
      if (d > md) md = d;
      if (fabs(ref[i][k]) > mr) mr = fabs(ref[i][k]);
    }
    CHECK_MSG(md <= 1e-5 * (mr > 0 ? mr : 1), "%s: %s grad differs by %g (max %g)",
              what, q->name, md, mr);
  }
  CHECK_MSG(ntrain > 0, "%s trains nothing", what);
  free_grads(m, g);
}

static void test_model(st_model *m, const char *name) {
  int L = m->cfg.n_layers;
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 11);
  st_plan all, p;
  CHECK(st_plan_parse(&all, m, "all") == ST_OK);
  float ref_loss;
  float **ref = grads(m, &all, tok, tgt, &ref_loss);

  const char *specs[] = {"top:1", "top:2", "1,3", "0", "2"};
  for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
    if (st_plan_parse(&p, m, specs[s]) != ST_OK) {
      CHECK_MSG(0, "%s: %s", specs[s], st_errmsg());
      continue;
    }
    check_plan(m, &p, specs[s], ref, ref_loss, tok, tgt);
    st_plan_free(&p);
  }
  /* single modules: attention only, MLP only, a norm only */
  int arch_llama = m->cfg.arch == ST_ARCH_LLAMA;
  struct { const char *a, *b; int layer; } mods[] = {
      {arch_llama ? "q" : "c_attn", arch_llama ? "v" : NULL, 1},
      {arch_llama ? "down" : "mlp.c_proj", NULL, 2},
      {arch_llama ? "mlp_norm" : "ln_2", NULL, 1},
      {arch_llama ? "attn_norm" : "ln_1", NULL, 3},
      {arch_llama ? "gate" : "c_fc", arch_llama ? "k" : NULL, 0}};
  for (size_t s = 0; s < sizeof mods / sizeof *mods; s++) {
    CHECK(st_plan_new(&p, L) == ST_OK);
    p.mode[mods[s].layer] = ST_FULL;
    p.modules[mods[s].layer] = module_mask(m, mods[s].a, mods[s].b);
    check_plan(m, &p, mods[s].a, ref, ref_loss, tok, tgt);
    st_plan_free(&p);
  }
  /* final norm only, head only (untied), embeddings only */
  CHECK(st_plan_new(&p, L) == ST_OK);
  p.final_norm = 1;
  check_plan(m, &p, "final_norm", ref, ref_loss, tok, tgt);
  p.final_norm = 0;
  p.head = 1;
  check_plan(m, &p, "head", ref, ref_loss, tok, tgt);
  p.head = 0;
  p.embed = 1;
  check_plan(m, &p, "embed", ref, ref_loss, tok, tgt);
  st_plan_free(&p);
  free_grads(m, ref);

  /* frozen weights bitwise unchanged after 10 AdamW steps (wd > 0) */
  size_t np = m->n_params;
  float *before = malloc(np * sizeof(float)), *after = malloc(np * sizeof(float));
  m->be->download(before, m->params, np * sizeof(float));
  CHECK(st_plan_parse(&p, m, "1,3") == ST_OK);
  st_trainer *t;
  CHECK(st_trainer_new(&t, m, &p, B, T) == ST_OK);
  st_optim o = st_optim_default();
  o.weight_decay = 0.1f;
  float loss;
  for (int s = 0; s < 10; s++) CHECK(st_trainer_step(t, tok, tgt, &o, &loss, NULL) == ST_OK);
  m->be->download(after, m->params, np * sizeof(float));
  int changed_frozen = 0, changed_trained = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    size_t n = (size_t)q->rows * q->cols;
    int diff = memcmp(before + q->offset, after + q->offset, n * sizeof(float)) != 0;
    if (st_plan_param_trainable(&p, m, q)) changed_trained += diff;
    else changed_frozen += diff;
  }
  CHECK_MSG(changed_frozen == 0, "%s: %d frozen tensors changed", name, changed_frozen);
  CHECK(changed_trained > 0);

  /* memory follows the plan: top:1 holds less than full */
  st_trainer *tf;
  CHECK(st_trainer_new(&tf, m, &all, B, T) == ST_OK);
  st_plan top1;
  CHECK(st_plan_parse(&top1, m, "top:1") == ST_OK);
  st_trainer *t1;
  CHECK(st_trainer_new(&t1, m, &top1, B, T) == ST_OK);
  CHECK_MSG(st_trainer_bytes(t1) * 2 < st_trainer_bytes(tf), "%s: top:1 %zu B vs full %zu B",
            name, st_trainer_bytes(t1), st_trainer_bytes(tf));

  /* switching plans keeps the moments of tensors that stay trainable and
   * starts new ones at zero */
  const st_param *keep = NULL, *fresh = NULL;
  for (int i = 0; i < m->n_tab; i++) {
    if (m->tab[i].group != ST_G_LAYER) continue;
    if (!keep && m->tab[i].layer == 3) keep = &m->tab[i];
    if (!fresh && m->tab[i].layer == 2) fresh = &m->tab[i];
  }
  size_t nk = (size_t)keep->rows * keep->cols, nf = (size_t)fresh->rows * fresh->cols;
  float *m0 = malloc(nk * 4), *v0 = malloc(nk * 4), *m1 = malloc(nk * 4), *v1 = malloc(nk * 4);
  float *mf = malloc(nf * 4);
  int s0, s1, sf;
  CHECK(st_trainer_get_state(t, keep, m0, v0, nk, &s0) == ST_OK);
  st_plan p2;
  CHECK(st_plan_parse(&p2, m, "2,3") == ST_OK);
  CHECK(st_trainer_set_plan(t, &p2) == ST_OK);
  CHECK(st_trainer_get_state(t, keep, m1, v1, nk, &s1) == ST_OK);
  CHECK(memcmp(m0, m1, nk * 4) == 0 && memcmp(v0, v1, nk * 4) == 0 && s0 == s1 && s0 == 10);
  CHECK(st_trainer_get_state(t, fresh, mf, NULL, nf, &sf) == ST_OK);
  int nonzero = 0;
  for (size_t k = 0; k < nf; k++) nonzero += mf[k] != 0;
  CHECK(nonzero == 0 && sf == 0);
  CHECK(st_trainer_step(t, tok, tgt, &o, &loss, NULL) == ST_OK);
  /* a tensor that stopped training has no state */
  st_plan p3;
  CHECK(st_plan_parse(&p3, m, "2") == ST_OK);
  CHECK(st_trainer_set_plan(t, &p3) == ST_OK);
  CHECK(st_trainer_get_state(t, keep, m1, v1, nk, &s1) == ST_ERR);
  free(m0); free(v0); free(m1); free(v1); free(mf);
  st_plan_free(&p2);
  st_plan_free(&p3);

  st_trainer_free(t);
  st_trainer_free(t1);
  st_trainer_free(tf);
  st_plan_free(&top1);
  st_plan_free(&p);
  st_plan_free(&all);
  free(before);
  free(after);
}

static void test_invalid(st_model *m) {
  st_plan p;
  CHECK(st_plan_parse(&p, m, "7") == ST_ERR);
  CHECK(strstr(st_errmsg(), "out of range") != NULL);
  CHECK(st_plan_parse(&p, m, "top:0") == ST_ERR);
  CHECK(st_plan_parse(&p, m, "1,x") == ST_ERR);
  CHECK(st_module_index(m, "nosuch") == -1);
  CHECK(st_plan_new(&p, m->cfg.n_layers) == ST_OK);
  CHECK(st_plan_validate(&p, m) == ST_ERR);
  CHECK(strstr(st_errmsg(), "trains nothing") != NULL);
  p.mode[1] = ST_FULL;
  p.modules[1] = 1u << 20; /* no such module */
  CHECK(st_plan_validate(&p, m) == ST_ERR);
  st_plan_free(&p);
  /* a batch of more positions than an int counts is refused, not
   * overflowed (UBSan checks the sanitizer build) */
  st_trainer *t = NULL;
  CHECK(st_plan_parse(&p, m, "all") == ST_OK);
  CHECK(st_trainer_new(&t, m, &p, 100000000, m->cfg.max_seq) == ST_ERR && t == NULL);
  CHECK(strstr(st_errmsg(), "positions; at most 2147483647") != NULL);
  st_plan_free(&p);
}

static void test_flops(st_model *m) {
  st_plan p;
  CHECK(st_plan_parse(&p, m, "all") == ST_OK);
  CHECK_NEAR(st_plan_flops(&p, m, T).ideal_ratio, 1.0, 1e-12);
  st_plan_free(&p);
  /* top:1 of L: forward everywhere, the head's input gradient (2VC), the
   * top layer's weight gradients (2P) and its internal input gradients: all
   * its matmuls, since its input norm trains and needs dL/d(norm output),
   * plus attention backward */
  const st_config *c = &m->cfg;
  CHECK(st_plan_parse(&p, m, "top:1") == ST_OK);
  st_flops f = st_plan_flops(&p, m, T);
  double att = 4.0 * T * c->n_heads * c->head_dim, head = 2.0 * c->vocab * c->dim;
  double qkv = 2.0 * st_slot_size(m, 0, ST_QKV_W), o = 2.0 * st_slot_size(m, 0, ST_ATO_W);
  double fc = 2.0 * st_slot_size(m, 0, ST_FC_W), pr = 2.0 * st_slot_size(m, 0, ST_PRJ_W);
  double P = qkv + o + fc + pr, L = c->n_layers;
  double fwd = L * (P + att) + head;
  CHECK_NEAR(f.fwd, fwd, 1e-6 * fwd);
  double bwd = head + 2 * P + 2 * att;
  CHECK_NEAR(f.bwd, bwd, 1e-6 * bwd);
  double full = 2 * head + L * (2 * P + 2 * att);
  CHECK_NEAR(f.ideal_ratio, (fwd + bwd) / (fwd + full), 1e-12);
  st_plan_free(&p);
  /* only the top layer's MLP output projection: its weight gradient and
   * nothing below it */
  CHECK(st_plan_new(&p, c->n_layers) == ST_OK);
  p.mode[c->n_layers - 1] = ST_FULL;
  p.modules[c->n_layers - 1] =
      1u << st_module_index(m, c->arch == ST_ARCH_LLAMA ? "down" : "mlp.c_proj");
  f = st_plan_flops(&p, m, T);
  CHECK_NEAR(f.bwd, head + pr, 1e-6 * bwd);
  st_plan_free(&p);
}

int main(void) {
  st_set_threads(2);
  st_model *ml = tiny(ST_ARCH_LLAMA), *mg = tiny(ST_ARCH_GPT2);
  test_model(ml, "tiny llama");
  test_model(mg, "tiny gpt2");
  test_invalid(ml);
  test_flops(ml);
  test_flops(mg);
  char path[1024];
  if (st_asset_local("models/stories260K/stories260K.bin", path, sizeof path) == 1) {
    st_model *s;
    CHECK(st_model_load(&s, path, st_backend_cpu()) == ST_OK);
    test_model(s, "stories260K");
    st_model_free(s);
  } else {
    printf("stories260K not found: tested tiny models only\n");
  }
  st_model_free(ml);
  st_model_free(mg);
  TEST_DONE();
}
