/* Gradient accumulation: K = 4 micro-batches of B rows per step
 * (st_trainer_step_k) against one step over the same 4B rows
 * (st_trainer_step), from the same initial weights: the loss, the gradient
 * norm and every weight (adapters included) after 1 and after 3 steps agree
 * within float rounding, for a full plan, a top-1 plan and a LoRA plan, on
 * both architectures. The micro-batches carry different numbers of targets
 * (one has none), so weighting each by its own mean instead of its share of
 * the step's targets would show: the negative control measures that it
 * does.
 *
 * The same comparison checks the head in row chunks: with a vocabulary of
 * 40000, one batch of 4 x 256 positions runs its head in two chunks (over
 * 2^25 logits), each micro-batch of 256 in one, as before chunking. */
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

enum { B = 2, T = 12, K = 4, STEPS = 3 };

/* step s's K*B rows; micro-batch k keeps targets at a rate of its own, and
 * in step 1 micro-batch 2 has none */
static void batch(const st_model *m, int s, int32_t *tok, int32_t *tgt) {
  static const int keep[K] = {100, 15, 60, 35}; /* percent */
  st_rng r;
  st_rng_seed(&r, 100 + (uint64_t)s);
  for (int i = 0; i < K * B * T; i++) {
    int k = i / (B * T);
    tok[i] = (int32_t)(st_rng_next(&r) % m->cfg.vocab);
    int on = (int)(st_rng_next(&r) % 100) < keep[k] && !(s == 1 && k == 2);
    tgt[i] = on ? (int32_t)(st_rng_next(&r) % m->cfg.vocab) : -1;
  }
}

/* largest |a - b| relative to the largest |b| */
static double rel_diff(const float *a, const float *b, size_t n) {
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    md = fmax(md, fabs((double)a[i] - b[i]));
    mb = fmax(mb, fabs((double)b[i]));
  }
  return md / (mb > 0 ? mb : 1);
}

static void check(st_arch arch, const char *what, const st_plan *p) {
  st_model *ma = tiny(arch), *mb = tiny(arch), *mc = tiny(arch);
  st_trainer *ta, *tb, *tc;
  OK(st_trainer_new(&ta, ma, p, B, T));     /* 4 micro-batches of B */
  OK(st_trainer_new(&tb, mb, p, K * B, T)); /* one batch of 4B */
  OK(st_trainer_new(&tc, mc, p, B, T));     /* negative control */
  st_optim o = st_optim_default();
  o.weight_decay = 0.01f;
  o.grad_clip = 0; /* the norms compared are the raw gradients' */
  /* AdamW moves a weight by lr g / (|g| + eps): with eps 1e-8 a gradient
   * of 1e-8 that rounding nudges moves it by a good part of lr; eps 1e-4
   * keeps such components linear, so the comparison sees the weighting,
   * not the rounding */
  o.eps = 1e-4f;
  int32_t tok[K * B * T], tgt[K * B * T];
  for (int s = 0; s < STEPS; s++) {
    batch(ma, s, tok, tgt);
    float la, lb, ga, gb;
    OK(st_trainer_step_k(ta, tok, tgt, K, &o, &la, &ga));
    OK(st_trainer_step(tb, tok, tgt, &o, &lb, &gb));
    CHECK_MSG(fabs(la - lb) <= 1e-5 * fabs(lb), "%s step %d: loss %.8g vs %.8g",
              what, s + 1, la, lb);
    CHECK_MSG(fabs(ga - gb) <= 1e-5 * gb, "%s step %d: grad norm %.8g vs %.8g",
              what, s + 1, ga, gb);
    if (s == 0) {
      /* control: each micro-batch as its own mean, then averaged */
      float lc, gc;
      for (int k = 0; k < K; k++)
        if (st_trainer_fwdbwd(tc, tok + k * B * T, tgt + k * B * T, &lc)) {
          CHECK_MSG(0, "%s control: %s", what, st_errmsg());
        }
      st_optim oc = o;
      oc.lr = 0;
      OK(st_trainer_update(tc, &oc, &gc));
      CHECK_MSG(fabs(gc / K - gb) > 0.02 * gb,
                "%s: the control's grad norm %.6g is as close to %.6g as the "
                "accumulated one; the test cannot tell the weighting", what,
                gc / K, gb);
    }
    if (s == 0 || s == STEPS - 1) {
      size_t na, nb;
      float *wa = snapshot(ma, ta, &na), *wb = snapshot(mb, tb, &nb);
      CHECK(na == nb);
      /* lr 1e-3 moves a weight by about 1e-3 a step: rounding moves it by
       * far less */
      double d = rel_diff(wa, wb, na);
      CHECK_MSG(d < 1e-5, "%s: weights after step %d differ by %g (relative)",
                what, s + 1, d);
      free(wa);
      free(wb);
    }
  }
  /* a bad micro-batch fails the step and leaves the weights as they were */
  size_t n0, n1;
  float *w0 = snapshot(ma, ta, &n0);
  batch(ma, 0, tok, tgt);
  tok[3 * B * T + 5] = ma->cfg.vocab;
  CHECK(st_trainer_step_k(ta, tok, tgt, K, &o, NULL, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "outside the vocabulary") != NULL);
  batch(ma, 0, tok, tgt);
  for (int i = 0; i < K * B * T; i++) tgt[i] = -1;
  CHECK(st_trainer_step_k(ta, tok, tgt, K, &o, NULL, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "none of the 4 micro-batches") != NULL);
  CHECK(st_trainer_step_k(ta, tok, tgt, 0, &o, NULL, NULL) == ST_ERR);
  float *w1 = snapshot(ma, ta, &n1);
  CHECK(n0 == n1 && !memcmp(w0, w1, n0 * sizeof *w0));
  free(w0);
  free(w1);
  st_trainer_free(ta);
  st_trainer_free(tb);
  st_trainer_free(tc);
  st_model_free(ma);
  st_model_free(mb);
  st_model_free(mc);
}

static void plans(st_arch arch) {
  st_model *m = tiny(arch);
  st_plan p;
  const char *name = arch == ST_ARCH_LLAMA ? "llama" : "gpt2";
  char what[64];
  const char *specs[] = {"all", "top:1"};
  for (int i = 0; i < 2; i++) {
    OK(st_plan_parse(&p, m, specs[i]));
    snprintf(what, sizeof what, "%s %s", name, specs[i]);
    check(arch, what, &p);
    st_plan_free(&p);
  }
  /* LoRA on the top two layers (no dropout: masks are drawn per forward,
   * so K forwards could not draw the one big forward's) */
  OK(st_plan_new(&p, m->cfg.n_layers));
  const char **mods;
  int nmod = st_plan_modules(m, &mods);
  st_modmask lin = 0;
  for (int k = 0; k < nmod; k++)
    if (st_lora_target(m, 2, k)) lin |= 1u << k;
  for (int l = 2; l < 4; l++) {
    p.mode[l] = ST_LORA;
    p.lora[l] = (st_lora_spec){.rank = 4, .alpha = 8, .modules = lin};
  }
  p.seed = 5;
  snprintf(what, sizeof what, "%s lora", name);
  check(arch, what, &p);
  st_plan_free(&p);
  st_model_free(m);
}

static void chunked_head(void) {
  enum { HB = 4, HT = 256, HV = 40000 };
  st_config c = {.arch = ST_ARCH_LLAMA, .n_layers = 1, .dim = 8, .n_heads = 2,
                 .n_kv_heads = 1, .head_dim = 4, .hidden = 8, .vocab = HV,
                 .max_seq = HT, .norm_eps = 1e-5f, .rope_theta = 10000};
  st_model *ma, *mb;
  OK(st_model_new(&ma, &c, st_backend_cpu()));
  OK(st_model_new(&mb, &c, st_backend_cpu()));
  st_model_init_random(ma, 6);
  st_model_init_random(mb, 6);
  st_plan p;
  OK(st_plan_parse(&p, ma, "all"));
  st_trainer *ta, *tb;
  OK(st_trainer_new(&ta, ma, &p, 1, HT));  /* 4 micro-batches, one chunk */
  OK(st_trainer_new(&tb, mb, &p, HB, HT)); /* one batch, two chunks */
  /* the chunked trainer holds fewer logits than its batch has positions */
  CHECK(st_trainer_act_bytes(tb) < (size_t)HB * HT * HV * sizeof(float));
  int32_t *tok = malloc(HB * HT * sizeof *tok), *tgt = malloc(HB * HT * sizeof *tgt);
  st_rng r;
  st_rng_seed(&r, 12);
  for (int i = 0; i < HB * HT; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % HV);
    tgt[i] = i % 3 ? (int32_t)(st_rng_next(&r) % HV) : -1;
  }
  st_optim o = st_optim_default();
  o.grad_clip = 0;
  o.eps = 1e-4f; /* as in check() */
  float la, lb, ga, gb;
  OK(st_trainer_step_k(ta, tok, tgt, HB, &o, &la, &ga));
  OK(st_trainer_step(tb, tok, tgt, &o, &lb, &gb));
  CHECK_MSG(fabs(la - lb) <= 1e-5 * fabs(lb), "chunked head: loss %.8g vs %.8g", la, lb);
  CHECK_MSG(fabs(ga - gb) <= 1e-5 * gb, "chunked head: grad norm %.8g vs %.8g", ga, gb);
  size_t na, nb;
  float *wa = snapshot(ma, ta, &na), *wb = snapshot(mb, tb, &nb);
  double d = rel_diff(wa, wb, na);
  CHECK_MSG(na == nb && d < 1e-5, "chunked head: weights differ by %g", d);
  free(wa);
  free(wb);
  free(tok);
  free(tgt);
  st_plan_free(&p);
  st_trainer_free(ta);
  st_trainer_free(tb);
  st_model_free(ma);
  st_model_free(mb);
}

int main(void) {
  st_set_threads(2);
  plans(ST_ARCH_LLAMA);
  plans(ST_ARCH_GPT2);
  chunked_head();
  TEST_DONE();
}
