/* test_lora_ref.c - LoRA against peft (fixtures: scripts/make_lora_reference.py).
 *
 * For stories260K (q, v, down of layers 1 and 3, per-layer rank and alpha
 * through rank_pattern / alpha_pattern) and the tiny GPT-2 (Conv1D modules,
 * a regex target_modules with a module set per layer, rsLoRA):
 *   the adapter folder peft saved loads (st_lora_load_peft), and the
 *   adapted model's logits match peft's      max|diff| <= 1e-4
 *   (control: the same model without the adapters does not)
 *   a trainer with the same LoRA plan, given those A and B: the loss
 *                                            |diff| <= 1e-5
 *   every lora_A / lora_B gradient           max|diff| / max|ref| <= 1e-3
 *   3 AdamW steps on the adapters: loss before each within 1e-4, pre-clip
 *   gradient norm relative 1e-4. */
#include "assets.h"
#include "lora.h"
#include "lora_io.h"
#include "model_io.h"
#include "ref_check.h"

#define STEPS 3

static int32_t *ids(const st_sft *f, const char *key, int *B, int *T) {
  const st_sft_tensor *t = st_sft_find(f, key);
  if (!t || t->ndim != 2) {
    fprintf(stderr, "%s: no 2-D '%s'\n", f->path, key);
    exit(1);
  }
  *B = (int)t->shape[0];
  *T = (int)t->shape[1];
  float *x = ref_get(f, key, NULL);
  int32_t *o = malloc(t->numel * sizeof *o);
  for (size_t i = 0; i < t->numel; i++) o[i] = x[i] < 0 ? -1 : (int32_t)x[i];
  free(x);
  return o;
}

/* the plan that trains exactly the adapters of lo */
static void plan_of(const st_lora *lo, const st_model *m, st_plan *p) {
  OK(st_plan_new(p, m->cfg.n_layers));
  for (int i = 0; i < lo->n; i++) {
    const st_adapter *a = &lo->a[i];
    st_lora_spec *s = &p->lora[a->layer];
    if (p->mode[a->layer] == ST_LORA)
      CHECK_MSG(s->rank == a->rank && s->alpha == a->alpha,
                "layer %d: adapters of another rank or alpha", a->layer);
    p->mode[a->layer] = ST_LORA;
    s->rank = a->rank;
    s->alpha = a->alpha;
    s->rslora = a->rslora;
    s->modules |= 1u << a->module;
  }
}

static void check(const char *name, const char *fixture, const char *adapter,
                  int (*load)(st_model **, const st_backend *)) {
  const st_backend *be = st_backend_cpu();
  st_sft *f;
  OK(st_sft_open(&f, fixture));
  int B, T, B2, T2;
  int32_t *tok = ids(f, "tokens", &B, &T), *tgt = ids(f, "targets", &B2, &T2);
  CHECK(B == B2 && T == T2);
  st_model *m;
  OK(load(&m, be));
  st_lora *lo;
  OK(st_lora_load_peft(&lo, m, adapter));
  printf("%s: %d adapters from %s\n", name, lo->n, adapter);
  size_t n, nl = (size_t)B * T * m->cfg.vocab;
  float *ref = ref_get(f, "logits", &n), *x = malloc(nl * sizeof *x);
  CHECK(n == nl);
  OK(st_model_logits(m, tok, B, T, x));
  double control = max_abs_diff(x, ref, nl);
  OK(st_lora_attach(m, lo));
  OK(st_model_logits(m, tok, B, T, x));
  double d = max_abs_diff(x, ref, nl);
  printf("%s: logits max|diff| %.3g (tol 1e-4); without the adapters %.3g\n",
         name, d, control);
  CHECK(d <= 1e-4);
  CHECK(control > 1e-2);

  /* training: a trainer with the same plan, the same A and B */
  st_plan p;
  plan_of(lo, m, &p);
  st_model *mt;
  OK(load(&mt, be));
  st_trainer *t;
  OK(st_trainer_new(&t, mt, &p, B, T));
  st_lora *tl = st_trainer_lora(t);
  CHECK(tl->n == lo->n);
  for (int i = 0; i < lo->n && i < tl->n; i++) {
    const st_adapter *a = &lo->a[i];
    const st_param *w = &m->tab[a->param];
    size_t na = (size_t)a->rank * w->cols, nb = (size_t)w->rows * a->rank;
    float *A = malloc(na * 4), *Bm = malloc(nb * 4);
    OK(st_adapter_get(lo, a, A, Bm));
    CHECK(tl->a[i].layer == a->layer && tl->a[i].module == a->module &&
          tl->a[i].scale == a->scale);
    OK(st_adapter_set(tl, &tl->a[i], A, Bm));
    free(A);
    free(Bm);
  }
  float loss, *ref_loss = ref_get(f, "loss", NULL);
  OK(st_trainer_fwdbwd(t, tok, tgt, &loss));
  printf("%s: loss %.7f ref %.7f\n", name, loss, ref_loss[0]);
  CHECK_NEAR(loss, ref_loss[0], 1e-5);
  double worst = 0;
  int ngrad = 0;
  for (int i = 0; i < tl->n; i++) {
    const st_adapter *a = &tl->a[i];
    const st_param *w = &mt->tab[a->param];
    size_t na = (size_t)a->rank * w->cols, nb = (size_t)w->rows * a->rank;
    float *g = malloc((na + nb) * 4);
    OK(st_adapter_grad(tl, a, g, g + na));
    char path[128], key[256];
    st_adapter_path(mt, a, path, sizeof path);
    for (int b = 0; b < 2; b++) {
      snprintf(key, sizeof key, "grad.base_model.model.%s.lora_%c.weight", path,
               b ? 'B' : 'A');
      float *r = ref_get(f, key, &n);
      CHECK_MSG(n == (b ? nb : na), "%s: %zu elements", key, n);
      double s = max_abs(r, n), rel = max_abs_diff(g + (b ? na : 0), r, n) / (s > 0 ? s : 1);
      CHECK_MSG(rel <= 1e-3, "%s: rel %.3g (max|ref| %.3g)", key, rel, s);
      worst = fmax(worst, rel);
      ngrad++;
      free(r);
    }
    free(g);
  }
  int nref = 0;
  for (int i = 0; i < f->n; i++) nref += !strncmp(f->t[i].name, "grad.", 5);
  CHECK_MSG(nref == ngrad, "fixture has %d gradients, strata %d", nref, ngrad);
  printf("%s: %d adapter gradients, worst max|diff|/max|ref| %.3g (tol 1e-3)\n",
         name, ngrad, worst);

  /* AdamW on the adapters */
  st_optim o = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f};
  float *steps = ref_get(f, "step_losses", &n), *norms = ref_get(f, "grad_norms", NULL);
  CHECK(n == STEPS);
  for (int s = 0; s < STEPS; s++) {
    float gn;
    if (s) OK(st_trainer_fwdbwd(t, tok, tgt, &loss));
    OK(st_trainer_update(t, &o, &gn));
    printf("%s: step %d loss %.6f ref %.6f, grad norm %.6f ref %.6f\n", name,
           s + 1, loss, steps[s], gn, norms[s]);
    CHECK_NEAR(loss, steps[s], 1e-4);
    CHECK_NEAR(gn / norms[s], 1, 1e-4);
  }
  st_trainer_free(t);
  st_plan_free(&p);
  st_model_free(mt);
  OK(st_lora_attach(m, NULL));
  st_lora_free(lo);
  st_model_free(m);
  free(steps), free(norms), free(ref_loss), free(ref), free(x), free(tok), free(tgt);
  st_sft_close(f);
}

static char bin[1024];
static int load_stories(st_model **m, const st_backend *be) {
  return st_load_llama2c(m, bin, be);
}
static int load_gpt2(st_model **m, const st_backend *be) {
  return st_load_hf(m, "tests/fixtures/gpt2_tiny", be);
}

int main(void) {
  check("gpt2_tiny", "tests/fixtures/ref/lora_gpt2_tiny.safetensors",
        "tests/fixtures/lora/gpt2_tiny_peft", load_gpt2);
  int found = st_asset_local("models/stories260K/stories260K.bin", bin, sizeof bin);
  if (found == ST_ERR) {
    fprintf(stderr, "%s\n", st_errmsg());
    return 1;
  }
  if (found)
    check("stories260K", "tests/fixtures/ref/lora_stories260K.safetensors",
          "tests/fixtures/lora/stories260K_peft", load_stories);
  else
    printf("stories260K.bin not found (set STRATA_SHARED): GPT-2 only\n");
  TEST_DONE();
}
