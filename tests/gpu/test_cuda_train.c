/* Training on CUDA against the CPU backend: one full training step of
 * stories260K (loss and every gradient), the PyTorch fixture of the tiny
 * GPT-2 on the GPU, and a 20-step masked run (top:2) whose loss curve must
 * follow the CPU curve. Exits 77 without a CUDA device. */
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "error.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "test.h"
#include "train.h"

enum { B = 4, T = 64 };

static void compare_step(const char *path, const st_backend *gpu) {
  st_model *mc, *mg;
  if (st_model_load(&mc, path, st_backend_cpu()) || st_model_load(&mg, path, gpu)) {
    CHECK_MSG(0, "%s", st_errmsg());
    return;
  }
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
  printf("%s: loss cpu %.6f cuda %.6f\n", path, lc, lg);
  CHECK_NEAR(lg, lc, 1e-3 * fabs(lc));
  double worst = 0;
  for (int i = 0; i < mc->n_tab; i++) {
    const st_param *q = &mc->tab[i];
    size_t n = (size_t)q->rows * q->cols;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    CHECK(st_trainer_grad(tc, q, a, n) == ST_OK);
    CHECK(st_trainer_grad(tg, &mg->tab[i], b, n) == ST_OK);
    double md = 0, mr = 0;
    for (size_t k = 0; k < n; k++) {
      md = fmax(md, fabs((double)a[k] - b[k]));
      mr = fmax(mr, fabs(a[k]));
    }
    double rel = md / (mr > 0 ? mr : 1);
    if (rel > worst) worst = rel;
    CHECK_MSG(rel <= 1e-2, "%s grad rel err %g", q->name, rel);
    free(a);
    free(b);
  }
  printf("%s: worst gradient rel err %.2e\n", path, worst);
  st_trainer_free(tc);
  st_trainer_free(tg);

  /* 20 masked steps: the curves follow each other */
  CHECK(st_plan_parse(&pm, mc, "top:2") == ST_OK);
  CHECK(st_trainer_new(&tc, mc, &pm, B, t) == ST_OK);
  CHECK(st_trainer_new(&tg, mg, &pm, B, t) == ST_OK);
  st_optim o = st_optim_default();
  double maxd = 0;
  for (int s = 0; s < 20; s++) {
    CHECK(st_trainer_step(tc, tok, tgt, &o, &lc) == ST_OK);
    CHECK(st_trainer_step(tg, tok, tgt, &o, &lg) == ST_OK);
    maxd = fmax(maxd, fabs(lc - lg) / fabs(lc));
  }
  printf("%s: 20 masked steps, final loss cpu %.5f cuda %.5f, max rel diff %.2e\n", path, lc,
         lg, maxd);
  CHECK(maxd <= 5e-3);
  st_trainer_free(tc);
  st_trainer_free(tg);
  st_plan_free(&pa);
  st_plan_free(&pm);
  free(tok);
  free(tgt);
  st_model_free(mc);
  st_model_free(mg);
}

int main(void) {
  const st_backend *gpu = st_backend_cuda();
  if (!gpu) SKIP("%s", st_errmsg());
  char path[1024];
  if (st_asset_local("models/stories260K/stories260K.bin", path, sizeof path) == 1)
    compare_step(path, gpu);
  else
    printf("stories260K not found: GPT-2 fixture only\n");
  compare_step("tests/fixtures/gpt2_tiny", gpu);
  TEST_DONE();
}
