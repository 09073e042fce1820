/* LoRA on CUDA against the CPU backend, on a random GPT-2-shaped model and
 * a Llama-shaped one: a mixed plan (LoRA with dropout on two layers, one
 * layer full) with the same A and B on both devices gives the same loss,
 * adapter gradients and full-layer gradients (dropout draws the same masks:
 * the mask is a counter hash, backend.h), 10 AdamW steps follow the CPU
 * loss curve, and merging on the GPU equals the unmerged GPU forward.
 * Exits 77 without a CUDA device. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lora.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "train.h"

enum { B = 4, T = 64 };

static st_model *make(st_arch arch, const st_backend *be) {
  st_config c = {.arch = arch, .n_layers = 4, .dim = 128, .n_heads = 4,
                 .n_kv_heads = arch == ST_ARCH_LLAMA ? 2 : 4, .head_dim = 32,
                 .hidden = arch == ST_ARCH_LLAMA ? 344 : 512, .vocab = 512,
                 .max_seq = 128, .norm_eps = 1e-5f, .rope_theta = 10000,
                 .tied = 1};
  st_model *m;
  OK(st_model_new(&m, &c, be));
  st_model_init_random(m, 5);
  return m;
}

static double rel(const float *a, const float *b, size_t n) {
  double md = 0, mr = 0;
  for (size_t k = 0; k < n; k++) {
    md = fmax(md, fabs((double)a[k] - b[k]));
    mr = fmax(mr, fabs(a[k]));
  }
  return md / (mr > 0 ? mr : 1);
}

static void compare(st_arch arch, const st_backend *gpu) {
  const char *name = arch == ST_ARCH_LLAMA ? "llama" : "gpt2";
  st_model *mc = make(arch, st_backend_cpu()), *mg = make(arch, gpu);
  int32_t tok[B * T], tgt[B * T];
  st_rng r;
  st_rng_seed(&r, 3);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % 512);
    tgt[i] = i % 9 == 2 ? -1 : (int32_t)(st_rng_next(&r) % 512);
  }
  st_plan p;
  OK(st_plan_new(&p, 4));
  unsigned mods = 0;
  const char *ln[] = {"q", "v", "down", NULL}, *gn[] = {"c_attn", "mlp.c_proj", NULL};
  for (const char *const *s = arch == ST_ARCH_LLAMA ? ln : gn; *s; s++)
    mods |= 1u << st_module_index(mc, *s);
  for (int l = 1; l <= 3; l += 2) {
    p.mode[l] = ST_LORA;
    p.lora[l] = (st_lora_spec){.rank = 8, .alpha = 16, .modules = mods, .dropout = 0.1f};
  }
  p.mode[2] = ST_FULL;
  st_trainer *tc, *tg;
  OK(st_trainer_new(&tc, mc, &p, B, T));
  OK(st_trainer_new(&tg, mg, &p, B, T));
  st_lora *lc = st_trainer_lora(tc), *lg = st_trainer_lora(tg);
  CHECK(lc->n == lg->n);
  st_rng_seed(&r, 8);
  for (int i = 0; i < lc->n; i++) { /* the same nonzero A and B on both */
    const st_param *w = &mc->tab[lc->a[i].param];
    size_t na = (size_t)8 * w->cols, nb = (size_t)w->rows * 8;
    float *A = malloc(na * 4), *Bm = malloc(nb * 4);
    for (size_t k = 0; k < na; k++) A[k] = 0.1f * (2 * st_rng_uniform(&r) - 1);
    for (size_t k = 0; k < nb; k++) Bm[k] = 0.1f * (2 * st_rng_uniform(&r) - 1);
    st_adapter_set(lc, &lc->a[i], A, Bm);
    st_adapter_set(lg, &lg->a[i], A, Bm);
    free(A), free(Bm);
  }
  float l1, l2;
  OK(st_trainer_fwdbwd(tc, tok, tgt, &l1));
  OK(st_trainer_fwdbwd(tg, tok, tgt, &l2));
  printf("%s: loss cpu %.6f cuda %.6f\n", name, l1, l2);
  CHECK_NEAR(l2, l1, 1e-3 * fabs(l1));
  double worst = 0;
  for (int i = 0; i < lc->n; i++) {
    const st_param *w = &mc->tab[lc->a[i].param];
    size_t n = (size_t)8 * (w->cols + w->rows);
    float *a = malloc(n * 4), *b = malloc(n * 4);
    OK(st_adapter_grad(lc, &lc->a[i], a, a + (size_t)8 * w->cols));
    OK(st_adapter_grad(lg, &lg->a[i], b, b + (size_t)8 * w->cols));
    double e = rel(a, b, n);
    CHECK_MSG(e <= 1e-2, "%s adapter %d: grad rel %g", name, i, e);
    worst = fmax(worst, e);
    free(a), free(b);
  }
  for (int i = 0; i < mc->n_tab; i++) {
    const st_param *q = &mc->tab[i];
    if (!st_plan_param_trainable(&p, mc, q)) continue;
    size_t n = (size_t)q->rows * q->cols;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    OK(st_trainer_grad(tc, q, a, n));
    OK(st_trainer_grad(tg, &mg->tab[i], b, n));
    double e = rel(a, b, n);
    CHECK_MSG(e <= 1e-2, "%s %s: grad rel %g", name, q->name, e);
    worst = fmax(worst, e);
    free(a), free(b);
  }
  printf("%s: worst gradient rel err cpu vs cuda %.2e\n", name, worst);
  st_optim o = st_optim_default();
  OK(st_trainer_update(tc, &o, NULL));
  OK(st_trainer_update(tg, &o, NULL));
  double dmax = 0;
  for (int s = 0; s < 10; s++) {
    OK(st_trainer_step(tc, tok, tgt, &o, &l1, NULL));
    OK(st_trainer_step(tg, tok, tgt, &o, &l2, NULL));
    dmax = fmax(dmax, fabs(l1 - l2));
  }
  printf("%s: 10 steps, last loss cpu %.5f cuda %.5f, max |diff| %.2e\n", name,
         l1, l2, dmax);
  CHECK(dmax <= 2e-2);
  /* merging on the GPU equals the unmerged GPU forward */
  size_t nl = (size_t)B * T * 512;
  float *x = malloc(nl * 4), *y = malloc(nl * 4);
  OK(st_model_logits(mg, tok, B, T, x));
  OK(st_lora_merge(mg, lg));
  OK(st_model_logits(mg, tok, B, T, y));
  double dm = 0;
  for (size_t k = 0; k < nl; k++) dm = fmax(dm, fabs((double)x[k] - y[k]));
  printf("%s: merged vs unmerged logits on cuda max|diff| %.2e\n", name, dm);
  CHECK(dm <= 5e-3);
  free(x), free(y);
  st_trainer_free(tc);
  st_trainer_free(tg);
  st_plan_free(&p);
  st_model_free(mc);
  st_model_free(mg);
}

int main(void) {
  const st_backend *gpu = st_backend_cuda();
  if (!gpu) SKIP("%s", st_errmsg());
  st_set_threads(0);
  compare(ST_ARCH_LLAMA, gpu);
  compare(ST_ARCH_GPT2, gpu);
  TEST_DONE();
}
