/* test_lowp_ref.c - frozen weights held in bf16 (in place from the file's
 * mapping) or widened to f32 at load, against PyTorch's float32 results
 * from exactly those bf16 values (tests/fixtures/lowp,
 * scripts/make_lowp_reference.py): a Qwen2-style model (q/k/v biases, GQA,
 * untied head) and a GPT-2 (Conv1D, biases, positions, tied head).
 *
 * Per model, for frozen_dtype auto (bf16 in place) and f32:
 *   storage: auto leaves every weight matrix mapped in bf16 (Conv1D ones,
 *     transposed on load, in bf16 copies), f32 holds them in fp32; the
 *     trainer widens exactly the slots its plan trains and nothing else
 *   inference logits: max|diff| / max|ref| <= 1e-4
 *   three plans, each one training step's loss (|diff| <= 1e-5) and the
 *     gradient of every trainable tensor (max|diff| / max|ref| <= 1e-4):
 *       layer 0 (the input gradient through every frozen block above it
 *         and the frozen head), the top layer with the final norm, and the
 *         embeddings alone (backward through every frozen block; GPT-2's
 *         tied table also takes the head's gradient)
 *   negative control: two rows of a frozen q (or c_attn) matrix swapped
 *     through st_model_set (which gives the mapped tensor its own copy)
 *     move the logits by more than 1e-2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "model_load.h"
#include "plan.h"
#include "ref_check.h"
#include "safetensors.h"
#include "test.h"
#include "train.h"
#include "weights.h"

#define DIR "tests/fixtures/lowp/"
#define LOGIT_TOL 1e-4
#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5
#define CONTROL_MIN 1e-2

static double rel_diff(const float *a, const float *ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - ref[i]);
    if (!(e <= d)) d = e; /* NaN wins */
    if (fabs(ref[i]) > r) r = fabs(ref[i]);
  }
  return d / (r > 0 ? r : 1);
}

typedef struct {
  const char *name;
  st_sft *ref;
  int32_t *tok, *tgt;
  int B, T;
} fixture;

static const char *plan_names[] = {"layer 0", "top layer + final norm",
                                   "embeddings"};

static void make_plan(st_plan *p, const st_model *m, int which) {
  int L = m->cfg.n_layers;
  OK(st_plan_new(p, L));
  if (which == 0) p->mode[0] = ST_FULL;
  if (which == 1) p->mode[L - 1] = ST_FULL, p->final_norm = 1;
  if (which == 2) p->embed = 1;
  for (int l = 0; l < L; l++) p->modules[l] = ST_ALL_MODULES;
}

/* the storage the plan implies: trainable matrices in fp32 (own), frozen
 * ones in their frozen dtype (auto: bf16; mapped as loaded unless Conv1D,
 * and a matrix an earlier plan trained is narrowed into its own copy) */
static void check_storage(const st_model *m, const st_plan *p, int autodt,
                          const char *what) {
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (!st_slot_is_matrix(q->layer, q->slot)) continue;
    const st_store *s = &m->st[i];
    int train = p && st_plan_param_trainable(p, m, q);
    int ok = train ? st_param_f32(m, q) != NULL
             : autodt ? s->dt == ST_DT_BF16 && (p || s->mapped == !q->conv1d)
                      : s->dt == ST_DT_F32 && !s->mapped;
    CHECK_MSG(ok, "%s: %s: dt %d mapped %d (trainable %d)", what, q->name,
              (int)s->dt, s->mapped, train);
  }
}

static void run(const fixture *fx, const char *frozen) {
  char dir[256], what[256];
  snprintf(dir, sizeof dir, DIR "%s", fx->name);
  const st_backend *be = st_backend_cpu();
  st_model *m;
  OK(st_model_load_as(&m, dir, be, frozen));
  int autodt = !strcmp(frozen, "auto");
  snprintf(what, sizeof what, "%s (%s)", fx->name, frozen);
  check_storage(m, NULL, autodt, what);

  size_t nl;
  float *ref_logits = ref_get(fx->ref, "logits", &nl);
  float *logits = malloc(nl * sizeof *logits);
  OK(st_model_logits(m, fx->tok, fx->B, fx->T, logits));
  double d = rel_diff(logits, ref_logits, nl);
  printf("%s: logits %.2e\n", what, d);
  CHECK_MSG(d <= LOGIT_TOL, "%s: logits differ by %g", what, d);

  float *lossv = ref_get(fx->ref, "loss", NULL), ref_loss = lossv[0];
  free(lossv);
  for (int which = 0; which < 3; which++) {
    st_plan p;
    make_plan(&p, m, which);
    st_trainer *t;
    OK(st_trainer_new(&t, m, &p, fx->B, fx->T));
    char pw[300];
    snprintf(pw, sizeof pw, "%s, plan %s", what, plan_names[which]);
    check_storage(m, &p, autodt, pw);
    float loss;
    OK(st_trainer_fwdbwd(t, fx->tok, fx->tgt, &loss));
    CHECK_MSG(fabs(loss - ref_loss) <= LOSS_TOL, "%s: loss %.7f, reference %.7f",
              pw, loss, ref_loss);
    double worst = 0;
    int n = 0;
    for (int i = 0; i < m->n_tab; i++) {
      const st_param *q = &m->tab[i];
      if (!st_plan_param_trainable(&p, m, q)) continue;
      char key[160];
      snprintf(key, sizeof key, "grad.%s", q->name);
      size_t k;
      float *rg = ref_get(fx->ref, key, &k), *g = malloc(k * sizeof *g);
      OK(st_trainer_grad(t, q, g, k));
      double e = rel_diff(g, rg, k);
      CHECK_MSG(e <= GRAD_TOL, "%s: %s differs by %g", pw, q->name, e);
      if (e > worst) worst = e;
      n++;
      free(rg);
      free(g);
    }
    printf("%s: loss %.2e, %d gradients, worst %.2e\n", pw,
           fabs(loss - ref_loss), n, worst);
    CHECK(n > 0);
    st_trainer_free(t);
    st_plan_free(&p);
  }

  /* negative control: a frozen matrix with two rows swapped */
  const st_param *q = &m->tab[0];
  for (int i = 0; i < m->n_tab; i++)
    if (m->tab[i].layer == 1 && m->tab[i].slot == ST_QKV_W) {
      q = &m->tab[i];
      break;
    }
  size_t n = (size_t)q->rows * q->cols;
  int rowlen = q->conv1d ? q->rows : q->cols;
  float *w = malloc(n * sizeof *w);
  OK(st_model_get(m, q, w, n));
  for (int c = 0; c < rowlen; c++) {
    float x = w[c];
    w[c] = w[rowlen + c];
    w[rowlen + c] = x;
  }
  OK(st_model_set(m, q, w, n));
  CHECK(!m->st[q - m->tab].mapped);
  OK(st_model_logits(m, fx->tok, fx->B, fx->T, logits));
  d = rel_diff(logits, ref_logits, nl);
  CHECK_MSG(d > CONTROL_MIN, "%s: swapped rows of %s still match (%g)", what,
            q->name, d);
  free(w);
  free(logits);
  free(ref_logits);
  st_model_free(m);
}

int main(void) {
  const char *names[] = {"qwen2", "gpt2"};
  for (int k = 0; k < 2; k++) {
    fixture fx = {.name = names[k]};
    char path[256];
    snprintf(path, sizeof path, DIR "%s/reference.safetensors", names[k]);
    OK(st_sft_open(&fx.ref, path));
    const st_sft_tensor *tt = st_sft_find(fx.ref, "tokens");
    CHECK(tt && tt->ndim == 2);
    fx.B = (int)tt->shape[0];
    fx.T = (int)tt->shape[1];
    size_t n;
    float *tf = ref_get(fx.ref, "tokens", &n), *gf = ref_get(fx.ref, "targets", NULL);
    fx.tok = malloc(n * sizeof *fx.tok);
    fx.tgt = malloc(n * sizeof *fx.tgt);
    for (size_t i = 0; i < n; i++) {
      fx.tok[i] = (int32_t)tf[i];
      fx.tgt[i] = (int32_t)gf[i];
    }
    run(&fx, "auto");
    run(&fx, "f32");
    free(tf);
    free(gf);
    free(fx.tok);
    free(fx.tgt);
    st_sft_close(fx.ref);
  }
  return st_test_failures ? 1 : 0;
}
