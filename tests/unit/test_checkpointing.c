/* Activation checkpointing (plan.recompute) on the CPU backend: the loss,
 * every gradient (adapters' included, with LoRA dropout on) and the weights
 * after AdamW steps are bitwise those of the same plan without it, for full,
 * top-k, single-layer and LoRA plans on both architectures, also when a
 * trainer switches it on with st_trainer_set_plan; the trainer's
 * activation bytes drop by the blocks it no longer keeps, and
 * st_trainer_estimate_bytes tells them before allocating; and the cost
 * model adds one forward per recomputed layer, by hand from the shapes. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layer.h"
#include "lora.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "tiny_model.h"
#include "train.h"

enum { B = 2, T = 12, L = 4 };

static void batch(const st_model *m, int32_t *tok, int32_t *tgt, uint64_t s) {
  st_rng r;
  st_rng_seed(&r, s);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % m->cfg.vocab);
    tgt[i] = i % 5 == 4 ? -1 : (int32_t)(st_rng_next(&r) % m->cfg.vocab);
  }
}

/* every gradient of the trainer's step (parameters, then adapters' dA, dB)
 * as one host vector */
static float *grads(const st_model *m, st_trainer *t, size_t *n) {
  const st_plan *p = st_trainer_plan(t);
  const st_lora *lo = st_trainer_lora(t);
  size_t total = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (st_plan_param_trainable(p, m, &m->tab[i]))
      total += (size_t)m->tab[i].rows * m->tab[i].cols;
  for (int i = 0; lo && i < lo->n; i++)
    if (lo->a[i].train)
      total += (size_t)lo->a[i].rank *
               (m->tab[lo->a[i].param].cols + m->tab[lo->a[i].param].rows);
  float *g = malloc(total * sizeof *g), *q = g;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *w = &m->tab[i];
    if (!st_plan_param_trainable(p, m, w)) continue;
    OK(st_trainer_grad(t, w, q, (size_t)w->rows * w->cols));
    q += (size_t)w->rows * w->cols;
  }
  for (int i = 0; lo && i < lo->n; i++) {
    const st_adapter *a = &lo->a[i];
    if (!a->train) continue;
    OK(st_adapter_grad(lo, a, q, q + (size_t)a->rank * m->tab[a->param].cols));
    q += (size_t)a->rank * (m->tab[a->param].cols + m->tab[a->param].rows);
  }
  *n = total;
  return g;
}

/* one fwdbwd of plan p with recompute = rc: loss and gradients */
static float *run(st_model *m, const st_plan *p, int rc, const int32_t *tok,
                  const int32_t *tgt, float *loss, size_t *n, size_t *act) {
  st_plan q;
  OK(st_plan_copy(&q, p));
  q.recompute = rc;
  st_trainer *t;
  OK(st_trainer_new(&t, m, &q, B, T));
  /* the estimate made before allocating is what a new trainer holds */
  CHECK_MSG(st_trainer_estimate_bytes(m, &q, B, T, 0) == st_trainer_bytes(t),
            "recompute %d: estimate %zu B, trainer %zu B", rc,
            st_trainer_estimate_bytes(m, &q, B, T, 0), st_trainer_bytes(t));
  OK(st_trainer_fwdbwd(t, tok, tgt, loss));
  float *g = grads(m, t, n);
  *act = st_trainer_act_bytes(t);
  st_trainer_free(t);
  st_plan_free(&q);
  return g;
}

static void check(st_arch arch, const char *what, const st_plan *p) {
  st_model *m = tiny(arch);
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 11);
  float l0, l1;
  size_t n0, n1, a0, a1;
  float *g0 = run(m, p, 0, tok, tgt, &l0, &n0, &a0);
  float *g1 = run(m, p, 1, tok, tgt, &l1, &n1, &a1);
  CHECK_MSG(n0 == n1 && n0 > 0, "%s: %zu vs %zu gradients", what, n0, n1);
  CHECK_MSG(!memcmp(&l0, &l1, sizeof l0), "%s: loss %.9g vs %.9g", what, l0, l1);
  CHECK_MSG(n0 == n1 && !memcmp(g0, g1, n0 * sizeof *g0),
            "%s: gradients not bitwise equal", what);
  /* the blocks no longer kept: all but the shared one from k0 up (the
   * frozen prefix's scratch, when there is one, becomes the shared one),
   * and their adapters' A·x but the shared block's (the widest layer's) */
  int lowest = st_plan_lowest(p, m), k0 = lowest < 0 ? 0 : lowest;
  size_t block = st_acts_floats(&m->cfg, B, T) * sizeof(float);
  size_t ranks = 0, widest = 0;
  for (int l = 0; l < L; l++) {
    size_t r = p->mode[l] == ST_LORA
                   ? (size_t)p->lora[l].rank * __builtin_popcount(p->lora[l].modules)
                   : 0;
    if (l >= k0) ranks += r;
    if (r > widest) widest = r;
  }
  size_t want = (size_t)(k0 > 0 ? L - k0 : L - 1) * block +
                (ranks - (k0 > 0 ? 0 : widest)) * B * T * sizeof(float);
  CHECK_MSG(a0 - a1 == want, "%s: activation bytes %zu -> %zu, expected %zu fewer",
            what, a0, a1, want);
  free(g0);
  free(g1);

  /* AdamW steps (dropout draws advance between them): bitwise equal
   * weights; the second trainer switches checkpointing on after step 1 */
  st_model *ma = tiny(arch), *mb = tiny(arch);
  st_trainer *ta, *tb;
  OK(st_trainer_new(&ta, ma, p, B, T));
  OK(st_trainer_new(&tb, mb, p, B, T));
  st_plan q;
  OK(st_plan_copy(&q, p));
  q.recompute = 1;
  OK(st_trainer_set_plan(ta, &q));
  st_optim o = st_optim_default();
  o.weight_decay = 0.01f;
  for (int s = 0; s < 3; s++) {
    batch(m, tok, tgt, 20 + (uint64_t)s);
    float la, lb;
    OK(st_trainer_step(ta, tok, tgt, &o, &la, NULL));
    OK(st_trainer_step(tb, tok, tgt, &o, &lb, NULL));
    CHECK_MSG(!memcmp(&la, &lb, sizeof la), "%s step %d: loss %.9g vs %.9g",
              what, s + 1, la, lb);
    if (s == 0) OK(st_trainer_set_plan(tb, &q));
  }
  float *wa = malloc(ma->n_params * sizeof *wa), *wb = malloc(mb->n_params * sizeof *wb);
  ma->be->download(wa, ma->params, ma->n_params * sizeof *wa);
  mb->be->download(wb, mb->params, mb->n_params * sizeof *wb);
  CHECK_MSG(!memcmp(wa, wb, ma->n_params * sizeof *wa),
            "%s: weights after 3 steps not bitwise equal", what);
  const st_lora *la = st_trainer_lora(ta), *lb = st_trainer_lora(tb);
  CHECK(!la == !lb);
  for (int i = 0; la && lb && i < la->n; i++) {
    const st_adapter *x = &la->a[i], *y = &lb->a[i];
    size_t na = (size_t)x->rank * ma->tab[x->param].cols;
    size_t nb = (size_t)ma->tab[x->param].rows * x->rank;
    float *ha = malloc((na + nb) * 2 * sizeof *ha), *hb = ha + na + nb;
    OK(st_adapter_get(la, x, ha, ha + na));
    OK(st_adapter_get(lb, y, hb, hb + na));
    CHECK_MSG(!memcmp(ha, hb, (na + nb) * sizeof *ha), "%s: adapter %d differs",
              what, i);
    free(ha);
  }
  free(wa);
  free(wb);
  st_plan_free(&q);
  st_trainer_free(ta);
  st_trainer_free(tb);
  st_model_free(ma);
  st_model_free(mb);
  st_model_free(m);
}

/* recompute_fwd by hand: per layer 2 FLOPs per weight of the four linear
 * maps and 4.T.NH.HS of attention, for layers max(lowest, 0) .. L-2 */
static void check_flops(st_arch arch) {
  st_model *m = tiny(arch);
  const st_config *c = &m->cfg;
  double qkvd = (c->n_heads + 2.0 * c->n_kv_heads) * c->head_dim,
         ad = (double)c->n_heads * c->head_dim,
         fcd = arch == ST_ARCH_LLAMA ? 2.0 * c->hidden : c->hidden;
  double layer = 2 * (c->dim * qkvd + ad * c->dim + c->dim * fcd +
                      (double)c->hidden * c->dim) +
                 4.0 * T * c->n_heads * c->head_dim;
  struct { const char *spec; int layers; } cases[] = {
      {"all", L - 1}, {"top:2", 1}, {"1", 2}, {"top:1", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    st_plan p;
    OK(st_plan_parse(&p, m, cases[i].spec));
    st_flops f0 = st_plan_flops(&p, m, T);
    p.recompute = 1;
    st_flops f1 = st_plan_flops(&p, m, T);
    CHECK_MSG(f0.recompute_fwd == 0, "%s", cases[i].spec);
    CHECK_MSG(fabs(f1.recompute_fwd - cases[i].layers * layer) < 1e-9 * layer,
              "%s: recompute %g, expected %g", cases[i].spec, f1.recompute_fwd,
              cases[i].layers * layer);
    CHECK_NEAR(f1.ideal_ratio,
               (f1.fwd + f1.lora_fwd + f1.recompute_fwd + f1.bwd) /
                   (f1.fwd + f1.full_bwd), 1e-12);
    CHECK_NEAR(f1.ideal_ratio - f0.ideal_ratio,
               cases[i].layers * layer / (f0.fwd + f0.full_bwd), 1e-12);
    st_plan_free(&p);
  }
  st_model_free(m);
}

static void plans(st_arch arch) {
  st_model *m = tiny(arch);
  const char *name = arch == ST_ARCH_LLAMA ? "llama" : "gpt2";
  char what[64];
  st_plan p;
  const char *specs[] = {"all", "top:2", "1", "top:1"};
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    OK(st_plan_parse(&p, m, specs[i]));
    snprintf(what, sizeof what, "%s %s", name, specs[i]);
    check(arch, what, &p);
    st_plan_free(&p);
  }
  /* LoRA with dropout on layers 1..3, the lowest one on its MLP only */
  OK(st_plan_new(&p, L));
  const char **mods;
  int nmod = st_plan_modules(m, &mods);
  st_modmask lin = 0, mlp = 0;
  for (int k = 0; k < nmod; k++) {
    if (!st_lora_target(m, 1, k)) continue;
    lin |= 1u << k;
    if (st_lora_target(m, 1, k)->slot >= ST_FC_W) mlp |= 1u << k;
  }
  for (int l = 1; l < L; l++) {
    p.mode[l] = ST_LORA;
    p.lora[l] = (st_lora_spec){.rank = 4, .alpha = 8, .dropout = 0.1f,
                               .modules = l == 1 ? mlp : lin};
  }
  p.seed = 9;
  snprintf(what, sizeof what, "%s lora", name);
  check(arch, what, &p);
  st_plan_free(&p);
  st_model_free(m);
}

int main(void) {
  st_set_threads(2);
  plans(ST_ARCH_LLAMA);
  plans(ST_ARCH_GPT2);
  check_flops(ST_ARCH_LLAMA);
  check_flops(ST_ARCH_GPT2);
  TEST_DONE();
}
