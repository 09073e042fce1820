/* ref_check.h - one model against a PyTorch fixture written by
 * scripts/make_reference.py (keys: tokens, targets, logits, loss,
 * grad.<hf name>, step_losses, grad_norms; all F32, target -1 = no loss).
 *
 * Checked, in order:
 *   inference logits          max|diff| <= 1e-4
 *   the same comparison after swapping two rows of one weight must fail it
 *     (the fixture resolves a wrong q/k permutation or rope pairing)
 *   training loss             |diff| <= 1e-5
 *   every gradient            max|diff| / max|ref| <= 1e-3, and the fixture
 *                             has no gradient the model lacks (tied heads)
 *   pre-clip gradient norm    relative 1e-4
 *   5 AdamW steps from a fresh model, loss before each within 1e-4.
 * Header-only: shared by test_llama_ref.c and test_gpt2_ref.c. */
#ifndef ST_REF_CHECK_H
#define ST_REF_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "plan.h"
#include "safetensors.h"
#include "test.h"
#include "train.h"

#define REF_STEPS 5

/* loads a fresh copy of the model under test */
typedef int (*ref_loader)(st_model **m, const st_backend *be);

/* the fixture tensor `key` as f32; exits on a missing key (the fixture and
 * this test are out of step, nothing else is meaningful) */
static float *ref_get(const st_sft *f, const char *key, size_t *n) {
  const st_sft_tensor *t = st_sft_find(f, key);
  if (!t) {
    fprintf(stderr, "%s: no tensor '%s'\n", f->path, key);
    exit(1);
  }
  float *x = malloc(t->numel * sizeof *x);
  if (!x || st_sft_read_f32(f, t, x, t->numel)) {
    fprintf(stderr, "%s\n", st_errmsg());
    exit(1);
  }
  if (n) *n = t->numel;
  return x;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d)) d = e; /* NaN wins */
  }
  return d;
}

static double max_abs(const float *a, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(a[i]) > d) d = fabs(a[i]);
  return d;
}

static double logits_diff(st_model *m, const int32_t *tok, int B, int T,
                          const float *ref, float *buf, size_t n) {
  OK(st_model_logits(m, tok, B, T, buf));
  return max_abs_diff(buf, ref, n);
}

/* swaps the first two rows (checkpoint layout) of parameter p */
static void swap_rows(st_model *m, const st_param *p) {
  size_t n = (size_t)p->rows * p->cols;
  int cols = p->conv1d ? p->rows : p->cols; /* checkpoint row length */
  float *w = malloc(n * sizeof *w);
  OK(st_model_get(m, p, w, n));
  for (int c = 0; c < cols; c++) {
    float x = w[c];
    w[c] = w[cols + c];
    w[cols + c] = x;
  }
  OK(st_model_set(m, p, w, n));
  free(w);
}

/* fixture: path of the .safetensors; control: a 2-D parameter whose first
 * two rows get swapped for the negative control */
static int ref_check(const char *fixture, ref_loader load,
                     const char *control) {
  const st_backend *be = st_backend_cpu();
  st_sft *f;
  OK(st_sft_open(&f, fixture));
  const st_sft_tensor *tt = st_sft_find(f, "tokens");
  CHECK(tt && tt->ndim == 2);
  if (!tt || tt->ndim != 2) return 1;
  int B = (int)tt->shape[0], T = (int)tt->shape[1];
  size_t nbt = (size_t)B * T, n;
  float *ftok = ref_get(f, "tokens", NULL), *ftgt = ref_get(f, "targets", &n);
  CHECK(n == nbt);
  int32_t *tok = malloc(nbt * sizeof *tok), *tgt = malloc(nbt * sizeof *tgt);
  for (size_t i = 0; i < nbt; i++) {
    tok[i] = (int32_t)ftok[i];
    tgt[i] = ftgt[i] < 0 ? -1 : (int32_t)ftgt[i];
  }

  st_model *m;
  OK(load(&m, be));
  int V = m->cfg.vocab;
  printf("%s: B=%d T=%d V=%d, %d tensors, %zu params\n", fixture, B, T, V,
         m->n_tab, m->n_params);

  /* --- inference logits ---------------------------------------------- */
  float *ref_logits = ref_get(f, "logits", &n);
  CHECK(n == nbt * V);
  float *logits = malloc(nbt * V * sizeof *logits);
  double d = logits_diff(m, tok, B, T, ref_logits, logits, nbt * V);
  printf("logits max|diff| %.3g (tol 1e-4)\n", d);
  CHECK(d <= 1e-4);

  /* negative control: the same comparison must see two swapped rows */
  const st_param *cp = st_model_find(m, control);
  CHECK(cp != NULL);
  if (cp) {
    swap_rows(m, cp);
    double dc = logits_diff(m, tok, B, T, ref_logits, logits, nbt * V);
    printf("control (%s rows 0,1 swapped): logits max|diff| %.3g\n", control,
           dc);
    CHECK(dc > 1e-2);
  }
  st_model_free(m);

  /* --- loss and gradients --------------------------------------------- */
  OK(load(&m, be));
  st_plan plan;
  OK(st_plan_parse(&plan, m, "all"));
  st_trainer *t;
  OK(st_trainer_new(&t, m, &plan, B, T));
  float loss, *ref_loss = ref_get(f, "loss", NULL);
  OK(st_trainer_fwdbwd(t, tok, tgt, &loss));
  printf("loss %.7f ref %.7f |diff| %.3g (tol 1e-5)\n", loss, ref_loss[0],
         fabs(loss - ref_loss[0]));
  CHECK_NEAR(loss, ref_loss[0], 1e-5);

  double worst = 0;
  const char *worst_name = "";
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    char key[128];
    snprintf(key, sizeof key, "grad.%s", p->name);
    if (!st_sft_find(f, key)) {
      CHECK_MSG(0, "fixture has no %s", key);
      continue;
    }
    float *ref = ref_get(f, key, &n);
    CHECK_MSG(n == (size_t)p->rows * p->cols, "%s: %zu vs %d x %d", p->name,
              n, p->rows, p->cols);
    float *g = malloc(n * sizeof *g);
    OK(st_trainer_grad(t, p, g, n));
    double scale = max_abs(ref, n);
    double rel = max_abs_diff(g, ref, n) / (scale > 0 ? scale : 1e-30);
    CHECK_MSG(rel <= 1e-3, "%s: max|diff|/max|ref| = %.3g (max|ref| %.3g)",
              p->name, rel, scale);
    if (!(rel <= worst)) {
      worst = rel;
      worst_name = p->name;
    }
    free(g);
    free(ref);
  }
  int n_grad = 0;
  for (int i = 0; i < f->n; i++) n_grad += !strncmp(f->t[i].name, "grad.", 5);
  CHECK_MSG(n_grad == m->n_tab, "fixture has %d gradients, model %d tensors",
            n_grad, m->n_tab);
  printf("gradients: %d tensors, worst max|diff|/max|ref| %.3g in %s "
         "(tol 1e-3)\n", m->n_tab, worst, worst_name);

  st_optim o = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f};
  float gn, *ref_norms = ref_get(f, "grad_norms", NULL);
  OK(st_trainer_update(t, &o, &gn));
  printf("grad norm %.6f ref %.6f\n", gn, ref_norms[0]);
  CHECK_NEAR(gn / ref_norms[0], 1, 1e-4);
  st_trainer_free(t);
  st_model_free(m);

  /* --- five AdamW steps from a fresh model ------------------------------ */
  OK(load(&m, be));
  OK(st_trainer_new(&t, m, &plan, B, T));
  float *ref_steps = ref_get(f, "step_losses", &n);
  CHECK(n == REF_STEPS);
  double dmax = 0;
  for (int s = 0; s < REF_STEPS; s++) {
    OK(st_trainer_step(t, tok, tgt, &o, &loss, NULL));
    double e = fabs(loss - ref_steps[s]);
    printf("step %d loss %.6f ref %.6f |diff| %.3g\n", s + 1, loss,
           ref_steps[s], e);
    CHECK_NEAR(loss, ref_steps[s], 1e-4);
    if (!(e <= dmax)) dmax = e;
  }
  printf("step losses max|diff| %.3g (tol 1e-4)\n", dmax);
  CHECK(st_trainer_steps_done(t) == REF_STEPS);

  st_trainer_free(t);
  st_plan_free(&plan);
  st_model_free(m);
  free(ref_steps);
  free(ref_norms);
  free(ref_loss);
  free(logits);
  free(ref_logits);
  free(tok);
  free(tgt);
  free(ftok);
  free(ftgt);
  st_sft_close(f);
  return 0;
}

#endif
