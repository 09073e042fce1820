/* Training on CUDA against the CPU backend: one full training step of
 * stories260K (loss and every gradient), the PyTorch fixture of the tiny
 * GPT-2 on the GPU, and a 20-step masked run (top:2) whose loss curve must
 * follow the CPU curve; then all of it again in bf16 mixed precision (bf16
 * products, fp32 master weights and AdamW state) against the same fp32 CPU
 * references, with bf16 tolerances. Exits 77 without a CUDA device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "error.h"
#include "model.h"
#include "model_io.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "train.h"

enum { B = 4, T = 64 };

/* Tolerances, fp32 (TF32 GEMMs) and bf16 mode: the loss; each gradient
 * tensor by max|diff| / max|ref| and by ||diff|| / ||ref||; the 20-step
 * curve. In bf16 the loss and the curve hold 1e-2, but the q/k projection
 * and norm gradients of stories260K (C = 64: short bf16 dot products feeding
 * near-cancelling attention gradients) come out at 1.0-1.6e-2 by either
 * measure (CPU emulation of the kernels with exact bf16 rounding), so the
 * gradients get 3e-2 there; the other models stay under 1e-2. */
typedef struct {
  const char *tag;
  double loss, grad, grad_l2, curve;
} tols;
static const tols FP32 = {"fp32", 1e-3, 1e-2, 1e-2, 5e-3};
static const tols BF16 = {"bf16", 1e-2, 3e-2, 3e-2, 1e-2};

/* mc (cpu) and mg (cuda) hold the same parameters; frees both */
static void compare_models(const char *path, st_model *mc, st_model *mg, tols tol) {
  int V = mc->cfg.vocab, t = T < mc->cfg.max_seq ? T : mc->cfg.max_seq;
  int32_t *tok = malloc(B * t * 4), *tgt = malloc(B * t * 4);
  st_rng r;
  st_rng_seed(&r, 3);
  for (int i = 0; i < B * t; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % V);
    tgt[i] = i % 7 == 3 ? -1 : (int32_t)(st_rng_next(&r) % V);
  }
  st_plan pa, pm;
  CHECK(st_plan_parse(&pa, mc, "all") == ST_OK);
  st_trainer *tc, *tg;
  CHECK(st_trainer_new(&tc, mc, &pa, B, t) == ST_OK);
  CHECK(st_trainer_new(&tg, mg, &pa, B, t) == ST_OK);
  float lc, lg;
  CHECK(st_trainer_fwdbwd(tc, tok, tgt, &lc) == ST_OK);
  CHECK(st_trainer_fwdbwd(tg, tok, tgt, &lg) == ST_OK);
  printf("%s %s: loss cpu %.6f cuda %.6f\n", path, tol.tag, lc, lg);
  CHECK_NEAR(lg, lc, tol.loss * fabs(lc));
  double worst = 0, worst_l2 = 0;
  for (int i = 0; i < mc->n_tab; i++) {
    const st_param *q = &mc->tab[i];
    size_t n = (size_t)q->rows * q->cols;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    CHECK(st_trainer_grad(tc, q, a, n) == ST_OK);
    CHECK(st_trainer_grad(tg, &mg->tab[i], b, n) == ST_OK);
    double md = 0, mr = 0, sd = 0, sr = 0;
    for (size_t k = 0; k < n; k++) {
      double d = (double)a[k] - b[k];
      md = fmax(md, fabs(d));
      mr = fmax(mr, fabs(a[k]));
      sd += d * d;
      sr += (double)a[k] * a[k];
    }
    double rel = md / (mr > 0 ? mr : 1), rel2 = sqrt(sd / (sr > 0 ? sr : 1));
    if (rel > worst) worst = rel;
    if (rel2 > worst_l2) worst_l2 = rel2;
    CHECK_MSG(rel <= tol.grad, "%s %s grad rel err %g", tol.tag, q->name, rel);
    CHECK_MSG(rel2 <= tol.grad_l2, "%s %s grad norm rel err %g", tol.tag, q->name,
              rel2);
    free(a);
    free(b);
  }
  printf("%s %s: worst gradient rel err %.2e max, %.2e norm\n", path, tol.tag, worst,
         worst_l2);
  st_trainer_free(tc);
  st_trainer_free(tg);

  /* 20 masked steps: the curves follow each other */
  CHECK(st_plan_parse(&pm, mc, "top:2") == ST_OK);
  CHECK(st_trainer_new(&tc, mc, &pm, B, t) == ST_OK);
  CHECK(st_trainer_new(&tg, mg, &pm, B, t) == ST_OK);
  st_optim o = st_optim_default();
  double maxd = 0;
  for (int s = 0; s < 20; s++) {
    CHECK(st_trainer_step(tc, tok, tgt, &o, &lc, NULL) == ST_OK);
    CHECK(st_trainer_step(tg, tok, tgt, &o, &lg, NULL) == ST_OK);
    maxd = fmax(maxd, fabs(lc - lg) / fabs(lc));
  }
  printf("%s %s: 20 masked steps, final loss cpu %.5f cuda %.5f, max rel diff %.2e\n", path,
         tol.tag, lc, lg, maxd);
  CHECK(maxd <= tol.curve);
  st_trainer_free(tc);
  st_trainer_free(tg);
  st_plan_free(&pa);
  st_plan_free(&pm);
  free(tok);
  free(tgt);
  st_model_free(mc);
  st_model_free(mg);
}

static void compare_step(const char *path, const st_backend *gpu, tols tol) {
  st_model *mc, *mg;
  if (st_model_load(&mc, path, st_backend_cpu())) {
    CHECK_MSG(0, "%s", st_errmsg());
    return;
  }
  if (st_model_load(&mg, path, gpu)) {
    CHECK_MSG(0, "%s", st_errmsg());
    st_model_free(mc);
    return;
  }
  compare_models(path, mc, mg, tol);
}

/* Randomly initialised models whose head sizes (64, 32) take the
 * tensor-core attention in bf16 mode; the checkpoints above have 8 and 16. */
static void compare_random(st_arch arch, const st_backend *gpu, tols tol) {
  st_config cfg = {.arch = arch, .n_layers = 2, .dim = 128, .vocab = 300,
                   .max_seq = T, .norm_eps = 1e-5f, .tied = 1, .rope_theta = 10000};
  cfg.n_heads = arch == ST_ARCH_GPT2 ? 2 : 4;
  cfg.n_kv_heads = arch == ST_ARCH_GPT2 ? 2 : 2;
  cfg.head_dim = cfg.dim / cfg.n_heads;
  cfg.hidden = arch == ST_ARCH_GPT2 ? 4 * cfg.dim : 256;
  st_model *mc, *mg;
  if (st_model_new(&mc, &cfg, st_backend_cpu())) {
    CHECK_MSG(0, "%s", st_errmsg());
    return;
  }
  if (st_model_new(&mg, &cfg, gpu)) {
    CHECK_MSG(0, "%s", st_errmsg());
    st_model_free(mc);
    return;
  }
  st_model_init_random(mc, 5);
  st_model_init_random(mg, 5);
  compare_models(arch == ST_ARCH_GPT2 ? "random gpt2 HS=64" : "random llama HS=32 GQA",
                 mc, mg, tol);
}

int main(void) {
  const st_backend *gpu = st_backend_cuda();
  if (!gpu) SKIP("%s", st_errmsg());
  char path[1024];
  int have = st_asset_local("models/stories260K/stories260K.bin", path, sizeof path) == 1;
  if (!have) printf("stories260K not found: GPT-2 fixture only\n");
  CHECK(gpu->set_bf16 != NULL);
  for (int bf16 = 0; bf16 < 2 && (!bf16 || gpu->set_bf16); bf16++) {
    if (gpu->set_bf16) gpu->set_bf16(bf16);
    if (have) compare_step(path, gpu, bf16 ? BF16 : FP32);
    compare_step("tests/fixtures/gpt2_tiny", gpu, bf16 ? BF16 : FP32);
    compare_random(ST_ARCH_GPT2, gpu, bf16 ? BF16 : FP32);
    compare_random(ST_ARCH_LLAMA, gpu, bf16 ? BF16 : FP32);
  }
  if (gpu->set_bf16) gpu->set_bf16(0);
  TEST_DONE();
}
