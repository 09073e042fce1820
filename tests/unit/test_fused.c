/* Fused updates (st_trainer_set_fused): AdamW per block during the backward
 * against the ordinary step (clipping off, as fused updates require), from
 * the same initial weights on the same batches: the losses and every weight
 * (adapters included) are bitwise equal after each of 3 steps, the gradient
 * norms equal within summation order, for a full plan, a top-2 plan, a plan
 * of scattered layers with LoRA on another, and across a re-plan, on both
 * architectures (GPT-2's head is tied: the embedding's gradient comes from
 * both ends of the backward). The trainer's bytes shrink by the blocks'
 * gradients less one block's pool, and equal the estimate. What fused
 * updates cannot do is refused with a message: clipping, accumulation,
 * st_trainer_fwdbwd and a block tensor's gradient. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lora.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "tiny_model.h"
#include "train.h"

enum { B = 2, T = 12, STEPS = 3 };

static void batch(const st_model *m, int s, int32_t *tok, int32_t *tgt) {
  st_rng r;
  st_rng_seed(&r, 200 + (uint64_t)s);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % m->cfg.vocab);
    tgt[i] = st_rng_next(&r) % 4 ? (int32_t)(st_rng_next(&r) % m->cfg.vocab) : -1;
  }
}

/* floats of the blocks' trainable tensors, and the largest block's share */
static void block_floats(const st_model *m, const st_plan *p, size_t *all,
                         size_t *most) {
  *all = *most = 0;
  for (int l = 0; l < m->cfg.n_layers; l++) {
    size_t n = 0;
    for (int i = 0; i < m->n_tab; i++)
      if (m->tab[i].layer == l && m->tab[i].group == ST_G_LAYER &&
          st_plan_param_trainable(p, m, &m->tab[i]))
        n += (size_t)m->tab[i].rows * m->tab[i].cols;
    *all += n;
    if (n > *most) *most = n;
  }
}

/* 3 steps under p (then under p2 when given) fused and not */
static void check(st_arch arch, const char *what, const st_plan *p,
                  const st_plan *p2) {
  st_model *ma = tiny(arch), *mb = tiny(arch);
  st_trainer *ta, *tb;
  /* half the plans start fused, the others are switched */
  OK(st_trainer_new_fused(&ta, ma, p, B, T, p2 != NULL));
  OK(st_trainer_new(&tb, mb, p, B, T));
  size_t before = st_trainer_bytes(tb);
  OK(st_trainer_set_fused(ta, 1));
  size_t all, most;
  block_floats(ma, p, &all, &most);
  CHECK_MSG(st_trainer_bytes(ta) == before - (all - most) * sizeof(float),
            "%s: fused trainer holds %zu bytes, expected %zu", what,
            st_trainer_bytes(ta), before - (all - most) * sizeof(float));
  CHECK(st_trainer_bytes(ta) == st_trainer_estimate_bytes(ma, p, B, T, 1));
  st_optim o = st_optim_default();
  o.weight_decay = 0.01f;
  o.grad_clip = 0;
  int32_t tok[B * T], tgt[B * T];
  for (int phase = 0; phase < (p2 ? 2 : 1); phase++) {
    if (phase) {
      OK(st_trainer_set_plan(ta, p2));
      OK(st_trainer_set_plan(tb, p2));
      CHECK(st_trainer_bytes(ta) == st_trainer_estimate_bytes(ma, p2, B, T, 1));
    }
    for (int s = 0; s < STEPS; s++) {
      batch(ma, s + phase * STEPS, tok, tgt);
      float la, lb, ga, gb;
      OK(st_trainer_step(ta, tok, tgt, &o, &la, &ga));
      OK(st_trainer_step(tb, tok, tgt, &o, &lb, &gb));
      CHECK_MSG(la == lb, "%s step %d: loss %.9g vs %.9g", what, s + 1, la, lb);
      CHECK_MSG(fabs(ga - gb) <= 1e-6 * gb, "%s step %d: grad norm %.9g vs %.9g",
                what, s + 1, ga, gb);
      size_t na, nb;
      float *wa = snapshot(ma, ta, &na), *wb = snapshot(mb, tb, &nb);
      CHECK_MSG(na == nb && !memcmp(wa, wb, na * sizeof *wa),
                "%s phase %d step %d: the weights differ", what, phase, s + 1);
      free(wa);
      free(wb);
    }
  }
  /* what fused updates refuse, naming why */
  batch(ma, 0, tok, tgt);
  st_optim oc = o;
  oc.grad_clip = 1;
  CHECK(st_trainer_step(ta, tok, tgt, &oc, NULL, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "no gradient clipping") != NULL);
  int32_t tok2[2 * B * T], tgt2[2 * B * T];
  memcpy(tok2, tok, sizeof tok), memcpy(tok2 + B * T, tok, sizeof tok);
  memcpy(tgt2, tgt, sizeof tgt), memcpy(tgt2 + B * T, tgt, sizeof tgt);
  CHECK(st_trainer_step_k(ta, tok2, tgt2, 2, &o, NULL, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "2 micro-batches") != NULL);
  float l;
  CHECK(st_trainer_fwdbwd(ta, tok, tgt, &l) == ST_ERR);
  CHECK(strstr(st_errmsg(), "fused updates keep no gradients") != NULL);
  const st_plan *last = p2 ? p2 : p;
  for (int i = 0; i < ma->n_tab; i++) {
    const st_param *q = &ma->tab[i];
    if (q->group != ST_G_LAYER || !st_plan_param_trainable(last, ma, q)) continue;
    float *g = malloc((size_t)q->rows * q->cols * sizeof *g);
    CHECK(st_trainer_grad(ta, q, g, (size_t)q->rows * q->cols) == ST_ERR);
    CHECK(strstr(st_errmsg(), "keep no block gradients") != NULL);
    free(g);
    break;
  }
  /* and off again: the ordinary trainer, gradients and all */
  OK(st_trainer_set_fused(ta, 0));
  OK(st_trainer_fwdbwd(ta, tok, tgt, &l));
  st_trainer_free(ta);
  st_trainer_free(tb);
  st_model_free(ma);
  st_model_free(mb);
}

static void plans(st_arch arch) {
  st_model *m = tiny(arch);
  const char *name = arch == ST_ARCH_LLAMA ? "llama" : "gpt2";
  char what[64];
  st_plan p, p2;
  OK(st_plan_parse(&p, m, "all"));
  snprintf(what, sizeof what, "%s all", name);
  check(arch, what, &p, NULL);
  st_plan_free(&p);
  /* top:2, then re-planned to every layer */
  OK(st_plan_parse(&p, m, "top:2"));
  OK(st_plan_parse(&p2, m, "all"));
  snprintf(what, sizeof what, "%s top:2 -> all", name);
  check(arch, what, &p, &p2);
  st_plan_free(&p);
  st_plan_free(&p2);
  /* layers 1 and 3 trained, LoRA on layer 2 */
  OK(st_plan_parse(&p, m, "1,3"));
  const char **mods;
  int nmod = st_plan_modules(m, &mods);
  st_modmask lin = 0;
  for (int k = 0; k < nmod; k++)
    if (st_lora_target(m, 2, k)) lin |= 1u << k;
  p.mode[2] = ST_LORA;
  p.lora[2] = (st_lora_spec){.rank = 4, .alpha = 8, .modules = lin};
  p.seed = 5;
  snprintf(what, sizeof what, "%s 1,3 + lora 2", name);
  check(arch, what, &p, NULL);
  st_plan_free(&p);
  st_model_free(m);
}

int main(void) {
  plans(ST_ARCH_LLAMA);
  plans(ST_ARCH_GPT2);
  return st_test_failures ? 1 : 0;
}
