/* LoRA: adapter gradients against the full-weight gradient of the merged
 * model (dB = s G A^T, dA = s B^T G with G = dL/dW at W + s B A, the path
 * the reference tests check against PyTorch) and, with dropout, against
 * central differences of the loss; the output is unchanged at step 0;
 * mixed plans (full + LoRA + frozen) give the full layers the gradients of
 * the all-full reference and leave every frozen weight bitwise unchanged;
 * backward depth and FLOPs follow the lowest adapter; plan switches keep
 * adapters and their moments; PEFT export -> import and the checkpoint file
 * round-trip; merge equals the unmerged forward; bad adapters and plans are
 * errors. Tiny random models of both architectures. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layer.h"
#include "lora.h"
#include "lora_io.h"
#include "model.h"
#include "plan.h"
#include "safetensors.h"
#include "sampler.h"
#include "test.h"
#include "test_io_util.h"
#include "train.h"

enum { B = 2, T = 12 };

static st_config tiny_cfg(st_arch arch, int dim) {
  return (st_config){.arch = arch, .n_layers = 4, .dim = dim, .n_heads = 4,
                     .n_kv_heads = arch == ST_ARCH_LLAMA ? 2 : 4,
                     .head_dim = dim / 4,
                     .hidden = arch == ST_ARCH_LLAMA ? 48 : 4 * dim,
                     .vocab = 64, .max_seq = 32, .norm_eps = 1e-5f,
                     .rope_theta = 10000, .tied = arch == ST_ARCH_GPT2,
                     .qkv_bias = arch == ST_ARCH_LLAMA};
}

static st_model *tiny(st_arch arch, int dim) {
  st_config c = tiny_cfg(arch, dim);
  st_model *m = NULL;
  OK(st_model_new(&m, &c, st_backend_cpu()));
  st_model_init_random(m, 3);
  return m;
}

/* a second model with the same weights */
static st_model *clone(const st_model *m) {
  st_model *c = NULL;
  OK(st_model_new(&c, &m->cfg, m->be));
  m->be->copy(c->params, m->params, m->n_params * sizeof(float));
  return c;
}

static void batch(const st_model *m, int32_t *tok, int32_t *tgt, uint64_t seed) {
  st_rng r;
  st_rng_seed(&r, seed);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)(st_rng_next(&r) % m->cfg.vocab);
    tgt[i] = i % 5 == 4 ? -1 : (int32_t)(st_rng_next(&r) % m->cfg.vocab);
  }
}

static unsigned mask_of(const st_model *m, const char *const *names) {
  unsigned k = 0;
  for (; *names; names++) {
    int i = st_module_index(m, *names);
    if (i < 0) {
      fprintf(stderr, "no module %s\n", *names);
      exit(1);
    }
    k |= 1u << i;
  }
  return k;
}

static int llama(const st_model *m) { return m->cfg.arch == ST_ARCH_LLAMA; }

/* LoRA modules for the tests: attention and the MLP output projection */
static unsigned lora_mods(const st_model *m) {
  static const char *l[] = {"q", "v", "down", NULL};
  static const char *g[] = {"c_attn", "mlp.c_proj", NULL};
  return mask_of(m, llama(m) ? l : g);
}

static void set_lora(st_plan *p, int l, int rank, float alpha, unsigned mods,
                     float dropout) {
  p->mode[l] = ST_LORA;
  p->lora[l] = (st_lora_spec){.rank = rank, .alpha = alpha, .modules = mods,
                              .dropout = dropout};
}

/* random A and B (B nonzero, so the adapters change the model) */
static void randomize(st_lora *lo, uint64_t seed) {
  st_rng r;
  st_rng_seed(&r, seed);
  for (int i = 0; i < lo->n; i++) {
    st_adapter *a = &lo->a[i];
    const st_param *w = &lo->m->tab[a->param];
    size_t na = (size_t)a->rank * w->cols, nb = (size_t)w->rows * a->rank;
    float *A = malloc(na * 4), *Bm = malloc(nb * 4);
    for (size_t k = 0; k < na; k++) A[k] = 0.3f * (2 * st_rng_uniform(&r) - 1);
    for (size_t k = 0; k < nb; k++) Bm[k] = 0.3f * (2 * st_rng_uniform(&r) - 1);
    st_adapter_set(lo, a, A, Bm);
    free(A);
    free(Bm);
  }
}

static double rel_diff(const float *a, const double *b, size_t n) {
  double md = 0, mr = 0;
  for (size_t k = 0; k < n; k++) {
    md = fmax(md, fabs(a[k] - b[k]));
    mr = fmax(mr, fabs(b[k]));
  }
  return md / (mr > 0 ? mr : 1);
}

static double max_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t k = 0; k < n; k++) d = fmax(d, fabs((double)a[k] - b[k]));
  return d;
}

/* G = dL/dW of the adapted weight in the model's stored layout [rows, cols]
 * (st_trainer_grad returns the checkpoint layout, transposed for Conv1D) */
static double *stored_grad(st_trainer *t, const st_param *q) {
  size_t n = (size_t)q->rows * q->cols;
  float *h = malloc(n * 4);
  double *g = malloc(n * sizeof *g);
  OK(st_trainer_grad(t, q, h, n));
  for (int r = 0; r < q->rows; r++)
    for (int c = 0; c < q->cols; c++)
      g[(size_t)r * q->cols + c] =
          q->conv1d ? h[(size_t)c * q->rows + r] : h[(size_t)r * q->cols + c];
  free(h);
  return g;
}

/* --- gradients: LoRA trainer vs the merged model's full gradient ---------- */
static void test_grads(st_arch arch) {
  st_model *m = tiny(arch, 32);
  int L = m->cfg.n_layers;
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 11);
  /* layer 3 full, layers 1 and 2 LoRA (different ranks, rsLoRA on 2), the
   * rest frozen */
  st_plan p;
  OK(st_plan_new(&p, L));
  p.mode[3] = ST_FULL;
  set_lora(&p, 1, 4, 8, lora_mods(m), 0);
  set_lora(&p, 2, 2, 3, lora_mods(m), 0);
  p.lora[2].rslora = 1;
  st_trainer *t;
  OK(st_trainer_new(&t, m, &p, B, T));
  st_lora *lo = st_trainer_lora(t);
  CHECK(lo && lo->n == 2 * (llama(m) ? 3 : 2));
  CHECK(m->lora == lo);
  CHECK_NEAR(lo->a[lo->n - 1].scale, 3 / sqrt(2.0), 1e-6);
  randomize(lo, 5);
  float loss;
  OK(st_trainer_fwdbwd(t, tok, tgt, &loss));

  /* the reference: the merged weights, everything trains */
  st_model *mm = clone(m);
  OK(st_lora_merge(mm, lo));
  CHECK(m->lora == lo); /* merging into another model leaves m's adapters */
  st_plan all;
  OK(st_plan_parse(&all, mm, "all"));
  st_trainer *tr;
  OK(st_trainer_new(&tr, mm, &all, B, T));
  float ref_loss;
  OK(st_trainer_fwdbwd(tr, tok, tgt, &ref_loss));
  CHECK_NEAR(loss, ref_loss, 1e-5);

  double worst = 0;
  for (int i = 0; i < lo->n; i++) {
    const st_adapter *a = &lo->a[i];
    const st_param *q = &m->tab[a->param];
    int r = a->rank, R = q->rows, C = q->cols;
    float *A = malloc((size_t)r * C * 4), *Bm = malloc((size_t)R * r * 4);
    float *dA = malloc((size_t)r * C * 4), *dB = malloc((size_t)R * r * 4);
    OK(st_adapter_get(lo, a, A, Bm));
    OK(st_adapter_grad(lo, a, dA, dB));
    double *G = stored_grad(tr, &mm->tab[a->param]);
    double *wA = calloc((size_t)r * C, sizeof *wA), *wB = calloc((size_t)R * r, sizeof *wB);
    for (int o = 0; o < R; o++)
      for (int k = 0; k < r; k++)
        for (int c = 0; c < C; c++) {
          double g = G[(size_t)o * C + c];
          wB[(size_t)o * r + k] += a->scale * g * A[(size_t)k * C + c];
          wA[(size_t)k * C + c] += a->scale * Bm[(size_t)o * r + k] * g;
        }
    double ea = rel_diff(dA, wA, (size_t)r * C), eb = rel_diff(dB, wB, (size_t)R * r);
    CHECK_MSG(ea <= 1e-4 && eb <= 1e-4, "%s: dA rel %g, dB rel %g", q->name, ea, eb);
    worst = fmax(worst, fmax(ea, eb));
    free(A), free(Bm), free(dA), free(dB), free(G), free(wA), free(wB);
  }
  /* the full layer: the all-full reference's gradients */
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (!st_plan_param_trainable(&p, m, q)) continue;
    CHECK(q->layer == 3);
    size_t n = (size_t)q->rows * q->cols;
    double *g = stored_grad(t, q), *gr = stored_grad(tr, &mm->tab[i]);
    float *gf = malloc(n * 4);
    for (size_t k = 0; k < n; k++) gf[k] = (float)g[k];
    double e = rel_diff(gf, gr, n);
    CHECK_MSG(e <= 1e-5, "%s: full-layer grad rel %g", q->name, e);
    free(g), free(gr), free(gf);
  }
  printf("%s: adapter grads vs merged full grads: worst rel %.2e\n",
         llama(m) ? "llama" : "gpt2", worst);
  /* an adapter's W gets no gradient */
  float dummy[1];
  CHECK(st_trainer_grad(t, &m->tab[lo->a[0].param], dummy, 1) == ST_ERR);

  /* backward stops at the lowest trainable position: layer 1's lowest
   * adapted module (q or c_attn: position 1) */
  CHECK(st_plan_lowest(&p, m) == 1);
  CHECK(st_plan_layer_below(&p, m, 1) == 1);
  st_plan p2;
  OK(st_plan_new(&p2, L));
  set_lora(&p2, 2, 2, 4, 1u << st_module_index(m, llama(m) ? "down" : "mlp.c_proj"), 0);
  CHECK(st_plan_lowest(&p2, m) == 2);
  CHECK(st_plan_layer_below(&p2, m, 2) == 5);
  st_plan_free(&p2);

  st_trainer_free(tr);
  st_plan_free(&all);
  st_model_free(mm);
  st_trainer_free(t);
  CHECK(m->lora == NULL); /* the trainer detached its adapters */
  st_plan_free(&p);
  st_model_free(m);
}

/* --- dropout: central differences of the loss along a random direction --- */
static double loss_at(st_trainer *t, st_lora *lo, const uint64_t *draws,
                      const int32_t *tok, const int32_t *tgt) {
  for (int i = 0; i < lo->n; i++) lo->a[i].draws = draws[i];
  float l;
  OK(st_trainer_fwdbwd(t, tok, tgt, &l));
  OK(st_trainer_zero_grad(t));
  return l;
}

/* moves every A and B by h * v (v: one float per adapter element) */
static void nudge(st_lora *lo, const float *v, double h) {
  size_t off = 0;
  for (int i = 0; i < lo->n; i++) {
    st_adapter *a = &lo->a[i];
    const st_param *w = &lo->m->tab[a->param];
    size_t na = (size_t)a->rank * w->cols, nb = (size_t)w->rows * a->rank;
    float *A = malloc(na * 4), *Bm = malloc(nb * 4);
    st_adapter_get(lo, a, A, Bm);
    for (size_t k = 0; k < na; k++) A[k] += (float)(h * v[off + k]);
    for (size_t k = 0; k < nb; k++) Bm[k] += (float)(h * v[off + na + k]);
    st_adapter_set(lo, a, A, Bm);
    off += na + nb;
    free(A), free(Bm);
  }
}

static void test_dropout_fd(st_arch arch) {
  st_model *m = tiny(arch, 32);
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 21);
  st_plan p;
  OK(st_plan_new(&p, m->cfg.n_layers));
  set_lora(&p, 1, 3, 6, lora_mods(m), 0.4f);
  set_lora(&p, 3, 2, 2, lora_mods(m), 0.2f);
  st_trainer *t;
  OK(st_trainer_new(&t, m, &p, B, T));
  st_lora *lo = st_trainer_lora(t);
  randomize(lo, 9);
  uint64_t draws[8];
  size_t total = 0;
  for (int i = 0; i < lo->n; i++) {
    draws[i] = lo->a[i].draws + 7; /* any point of the stream */
    const st_param *w = &m->tab[lo->a[i].param];
    total += (size_t)lo->a[i].rank * (w->cols + w->rows);
  }
  float *g = malloc(total * 4), *v = malloc(total * 4);
  for (int i = 0; i < lo->n; i++) lo->a[i].draws = draws[i];
  float l0;
  OK(st_trainer_fwdbwd(t, tok, tgt, &l0));
  CHECK(lo->a[0].draws == draws[0] + 1); /* a training forward advances it */
  size_t off = 0;
  for (int i = 0; i < lo->n; i++) {
    const st_param *w = &m->tab[lo->a[i].param];
    size_t na = (size_t)lo->a[i].rank * w->cols;
    OK(st_adapter_grad(lo, &lo->a[i], g + off, g + off + na));
    off += na + (size_t)w->rows * lo->a[i].rank;
  }
  OK(st_trainer_zero_grad(t));
  /* direction: the gradient's (a strong signal over float rounding of the
   * loss) plus a random part (errors off that direction), |v_k| <= 1.5 */
  st_rng r;
  st_rng_seed(&r, 4);
  double gmax = 0, gv = 0;
  for (size_t k = 0; k < total; k++) gmax = fmax(gmax, fabs(g[k]));
  for (size_t k = 0; k < total; k++) {
    v[k] = (float)(g[k] / gmax + (st_rng_uniform(&r) - 0.5));
    gv += (double)g[k] * v[k];
  }
  /* central differences at h and h/2, Richardson-combined so the h^2 term
   * cancels; h = 1e-2 per element against A, B ~ 0.3 */
  double d[2], dc[2];
  uint64_t other[8];
  for (int i = 0; i < lo->n; i++) other[i] = draws[i] + 1;
  for (int s = 0; s < 2; s++) {
    double h = s ? 5e-3 : 1e-2;
    nudge(lo, v, h);
    double lp = loss_at(t, lo, draws, tok, tgt), lpo = loss_at(t, lo, other, tok, tgt);
    nudge(lo, v, -2 * h);
    double lm = loss_at(t, lo, draws, tok, tgt), lmo = loss_at(t, lo, other, tok, tgt);
    nudge(lo, v, h);
    d[s] = (lp - lm) / (2 * h);
    dc[s] = (lpo - lmo) / (2 * h);
  }
  double fd = (4 * d[1] - d[0]) / 3, fo = (4 * dc[1] - dc[0]) / 3;
  printf("%s dropout: directional derivative %.7g, central differences %.7g "
         "(rel %.1e); with other masks %.7g\n", llama(m) ? "llama" : "gpt2",
         gv, fd, fabs(fd - gv) / fabs(gv), fo);
  CHECK_MSG(fabs(fd - gv) <= 1e-3 * fabs(gv), "fd %g vs grad %g", fd, gv);
  /* control: the same comparison sees a different mask */
  CHECK(fabs(fo - gv) > 1e-2 * fabs(gv));
  /* inference draws no dropout: logits repeat */
  size_t nl = (size_t)B * T * m->cfg.vocab;
  float *x1 = malloc(nl * 4), *x2 = malloc(nl * 4);
  OK(st_model_logits(m, tok, B, T, x1));
  OK(st_model_logits(m, tok, B, T, x2));
  CHECK(memcmp(x1, x2, nl * 4) == 0);
  free(x1), free(x2), free(g), free(v);
  st_trainer_free(t);
  st_plan_free(&p);
  st_model_free(m);
}

/* --- step 0, frozen weights, plan switches, memory -------------------------- */
static void test_training(st_arch arch) {
  st_model *m = tiny(arch, 32);
  int L = m->cfg.n_layers;
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 31);
  size_t nl = (size_t)B * T * m->cfg.vocab, np = m->n_params;
  float *base = malloc(nl * 4), *with = malloc(nl * 4);
  OK(st_model_logits(m, tok, B, T, base));

  st_plan p;
  OK(st_plan_new(&p, L));
  p.seed = 77;
  set_lora(&p, 2, 4, 8, lora_mods(m), 0.1f);
  set_lora(&p, 3, 4, 8, lora_mods(m), 0.1f);
  p.mode[1] = ST_FULL;
  st_trainer *t;
  OK(st_trainer_new(&t, m, &p, B, T));
  st_lora *lo = st_trainer_lora(t);
  /* PEFT's init: B = 0, A within 1/sqrt(in), not all zero */
  for (int i = 0; i < lo->n; i++) {
    const st_param *w = &m->tab[lo->a[i].param];
    size_t na = (size_t)lo->a[i].rank * w->cols, nb = (size_t)w->rows * lo->a[i].rank;
    float *A = malloc(na * 4), *Bm = malloc(nb * 4);
    st_adapter_get(lo, &lo->a[i], A, Bm);
    double amax = 0, bmax = 0;
    for (size_t k = 0; k < na; k++) amax = fmax(amax, fabs(A[k]));
    for (size_t k = 0; k < nb; k++) bmax = fmax(bmax, fabs(Bm[k]));
    CHECK(bmax == 0 && amax > 0.5 / sqrt(w->cols) && amax <= 1 / sqrt(w->cols));
    free(A), free(Bm);
  }
  /* step 0: the attached adapters change nothing */
  OK(st_model_logits(m, tok, B, T, with));
  CHECK(memcmp(base, with, nl * 4) == 0);

  float *before = malloc(np * 4), *after = malloc(np * 4);
  m->be->download(before, m->params, np * 4);
  st_optim o = st_optim_default();
  o.weight_decay = 0.1f;
  float loss, first = 0;
  for (int s = 0; s < 8; s++) {
    OK(st_trainer_step(t, tok, tgt, &o, &loss, NULL));
    if (!s) first = loss;
  }
  CHECK_MSG(loss < first, "loss %g after 8 steps, %g at the first", loss, first);
  m->be->download(after, m->params, np * 4);
  int changed_frozen = 0, changed_full = 0;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    int diff = memcmp(before + q->offset, after + q->offset,
                      (size_t)q->rows * q->cols * 4) != 0;
    if (st_plan_param_trainable(&p, m, q)) changed_full += diff;
    else changed_frozen += diff;
  }
  CHECK_MSG(changed_frozen == 0, "%d frozen tensors changed", changed_frozen);
  CHECK(changed_full > 0);
  OK(st_model_logits(m, tok, B, T, with));
  CHECK(max_diff(base, with, nl) > 1e-3); /* the adapters and layer 1 learned */

  /* memory: LoRA on the top layer holds less than full fine-tuning */
  st_plan top, all;
  OK(st_plan_new(&top, L));
  set_lora(&top, L - 1, 4, 8, lora_mods(m), 0);
  OK(st_plan_parse(&all, m, "all"));
  st_model *m2 = clone(m), *m3 = clone(m);
  st_trainer *tt, *tf;
  OK(st_trainer_new(&tt, m2, &top, B, T));
  OK(st_trainer_new(&tf, m3, &all, B, T));
  CHECK_MSG(st_trainer_bytes(tt) * 2 < st_trainer_bytes(tf), "lora %zu B, full %zu B",
            st_trainer_bytes(tt), st_trainer_bytes(tf));
  st_trainer_free(tt);
  st_trainer_free(tf);
  st_model_free(m2);
  st_model_free(m3);

  /* plan switch: layer 2 leaves LoRA (its adapter stays, frozen, without
   * state), layer 3 stays (keeps its moments), layer 0 joins */
  st_adapter *a3 = st_lora_find(lo, 3, lo->a[lo->n - 1].module);
  size_t nA3 = (size_t)a3->rank * m->tab[a3->param].cols;
  float *m3a = malloc(nA3 * 4), *m3b = malloc(nA3 * 4);
  m->be->download(m3a, a3->mA, nA3 * 4);
  int t3 = a3->adam_t;
  OK(st_model_logits(m, tok, B, T, base));
  st_plan q;
  OK(st_plan_new(&q, L));
  set_lora(&q, 3, 4, 8, lora_mods(m), 0);
  set_lora(&q, 0, 2, 4, lora_mods(m), 0);
  OK(st_trainer_set_plan(t, &q));
  lo = st_trainer_lora(t);
  a3 = st_lora_find(lo, 3, lo->a[lo->n - 1].module);
  m->be->download(m3b, a3->mA, nA3 * 4);
  CHECK(memcmp(m3a, m3b, nA3 * 4) == 0 && a3->adam_t == t3 && t3 == 8);
  const st_adapter *a2 = st_lora_find(lo, 2, lo->a[lo->n - 1].module);
  CHECK(a2 && !a2->train && !a2->dA && !a2->mA);
  OK(st_model_logits(m, tok, B, T, with));
  CHECK(memcmp(base, with, nl * 4) == 0); /* the same model after the switch */
  OK(st_trainer_step(t, tok, tgt, &o, &loss, NULL));
  /* an adapter keeps its rank */
  q.lora[3].rank = 8;
  CHECK(st_trainer_set_plan(t, &q) == ST_ERR);
  CHECK(strstr(st_errmsg(), "keeps its rank") != NULL);

  /* checkpoint file: a fresh trainer on a copy continues identically */
  q.lora[3].rank = 4;
  char dir[64], path[512];
  tmpdir(dir);
  pjoin(path, dir, "lora.safetensors");
  OK(st_trainer_save_lora(t, path));
  st_model *mc = clone(m);
  st_plan_free(&q);
  OK(st_plan_new(&q, L));
  set_lora(&q, 3, 4, 8, lora_mods(m), 0);
  set_lora(&q, 0, 2, 4, lora_mods(m), 0);
  st_trainer *tc;
  OK(st_trainer_new(&tc, mc, &q, B, T));
  OK(st_trainer_load_lora(tc, path));
  CHECK(st_trainer_lora(tc)->n == lo->n);
  float lc;
  OK(st_trainer_step(t, tok, tgt, &o, &loss, NULL));
  OK(st_trainer_step(tc, tok, tgt, &o, &lc, NULL));
  CHECK_MSG(loss == lc, "resumed loss %.9g vs %.9g", lc, loss);
  OK(st_trainer_step(t, tok, tgt, &o, &loss, NULL));
  OK(st_trainer_step(tc, tok, tgt, &o, &lc, NULL));
  CHECK_MSG(loss == lc, "resumed loss %.9g vs %.9g", lc, loss);
  /* a file without the state of a training adapter is refused */
  st_plan q2;
  OK(st_plan_new(&q2, L));
  set_lora(&q2, 1, 2, 4, lora_mods(m), 0);
  st_trainer *tq;
  st_model *mq = clone(m);
  OK(st_trainer_new(&tq, mq, &q2, B, T));
  CHECK(st_trainer_load_lora(tq, path) == ST_ERR);
  CHECK(strstr(st_errmsg(), "trains under the plan") != NULL);
  st_trainer_free(tq);
  st_model_free(mq);
  st_plan_free(&q2);

  st_trainer_free(tc);
  st_model_free(mc);
  rmtree(dir);
  free(m3a), free(m3b), free(before), free(after), free(base), free(with);
  st_plan_free(&q);
  st_plan_free(&top);
  st_plan_free(&all);
  st_trainer_free(t);
  st_plan_free(&p);
  st_model_free(m);
}

/* --- PEFT export/import, merge ---------------------------------------------- */
static json_t *load_json(const char *path) {
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) {
    fprintf(stderr, "%s: %s\n", path, je.text);
    exit(1);
  }
  return j;
}

static void edit_config(const char *dir, const char *key, json_t *value) {
  char p[512];
  pjoin(p, dir, "adapter_config.json");
  json_t *j = load_json(p);
  json_object_set_new(j, key, value);
  json_dump_file(j, p, 0);
  json_decref(j);
}

static void copy_dir(const char *from, const char *to) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
  if (system(cmd)) exit(1);
}

static void test_peft(st_arch arch) {
  st_model *m = tiny(arch, 32);
  int L = m->cfg.n_layers;
  int32_t tok[B * T], tgt[B * T];
  batch(m, tok, tgt, 41);
  st_plan p;
  OK(st_plan_new(&p, L));
  set_lora(&p, 1, 4, 8, lora_mods(m), 0);
  set_lora(&p, 3, 4, 8, lora_mods(m), 0);
  st_trainer *t;
  OK(st_trainer_new(&t, m, &p, B, T));
  st_lora *lo = st_trainer_lora(t);
  randomize(lo, 13);
  size_t nl = (size_t)B * T * m->cfg.vocab;
  float *ref = malloc(nl * 4), *x = malloc(nl * 4), *base = malloc(nl * 4);
  OK(st_model_logits(m, tok, B, T, ref));

  char dir[64], out[512], bad[512], p2[512];
  tmpdir(dir);
  pjoin(out, dir, "adapter");
  pjoin(bad, dir, "bad");
  OK(st_lora_save_peft(m, lo, out, "my/base"));
  json_t *c = load_json(pjoin(p2, out, "adapter_config.json"));
  CHECK(!strcmp(json_string_value(json_object_get(c, "peft_type")), "LORA"));
  CHECK(!strcmp(json_string_value(json_object_get(c, "task_type")), "CAUSAL_LM"));
  CHECK(json_integer_value(json_object_get(c, "r")) == 4);
  CHECK(json_number_value(json_object_get(c, "lora_alpha")) == 8);
  CHECK(json_is_true(json_object_get(c, "fan_in_fan_out")) == !llama(m));
  json_t *ltt = json_object_get(c, "layers_to_transform");
  CHECK(json_array_size(ltt) == 2 && json_integer_value(json_array_get(ltt, 0)) == 1 &&
        json_integer_value(json_array_get(ltt, 1)) == 3);
  json_t *tm = json_object_get(c, "target_modules");
  CHECK(json_array_size(tm) == (llama(m) ? 3 : 2));
  CHECK(!strcmp(json_string_value(json_array_get(tm, llama(m) ? 2 : 1)),
                llama(m) ? "down_proj" : "mlp.c_proj"));
  CHECK(!strcmp(json_string_value(json_object_get(c, "base_model_name_or_path")), "my/base"));
  json_decref(c);
  st_sft *f;
  OK(st_sft_open(&f, pjoin(p2, out, "adapter_model.safetensors")));
  CHECK(f->n == 2 * lo->n);
  const char *key = llama(m) ? "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight"
                             : "base_model.model.transformer.h.3.mlp.c_proj.lora_B.weight";
  const st_sft_tensor *tb = st_sft_find(f, key);
  CHECK_MSG(tb && tb->shape[0] == m->cfg.dim && tb->shape[1] == 4, "%s", key);
  CHECK(st_sft_meta(f, "format") && !strcmp(st_sft_meta(f, "format"), "pt"));
  st_sft_close(f);

  /* import onto a fresh copy of the base model */
  st_model *m2 = clone(m);
  st_lora *in;
  OK(st_lora_load_peft(&in, m2, out));
  CHECK(in->n == lo->n);
  for (int i = 0; i < lo->n && i < in->n; i++) {
    const st_adapter *a = &lo->a[i], *b = &in->a[i];
    CHECK(a->layer == b->layer && a->module == b->module && a->rank == b->rank &&
          a->scale == b->scale && a->alpha == b->alpha);
    size_t na = (size_t)a->rank * m->tab[a->param].cols, nb = (size_t)m->tab[a->param].rows * a->rank;
    float *A1 = malloc(na * 4), *A2 = malloc(na * 4), *B1 = malloc(nb * 4), *B2 = malloc(nb * 4);
    st_adapter_get(lo, a, A1, B1);
    st_adapter_get(in, b, A2, B2);
    CHECK(!memcmp(A1, A2, na * 4) && !memcmp(B1, B2, nb * 4));
    free(A1), free(A2), free(B1), free(B2);
  }
  OK(st_model_logits(m2, tok, B, T, base));
  CHECK(max_diff(base, ref, nl) > 1e-3); /* not attached: the base model */
  OK(st_lora_attach(m2, in));
  OK(st_model_logits(m2, tok, B, T, x));
  CHECK(memcmp(x, ref, nl * 4) == 0);
  /* merge equals the unmerged forward */
  OK(st_lora_merge(m2, in));
  CHECK(m2->lora == NULL);
  OK(st_model_logits(m2, tok, B, T, x));
  double dm = max_diff(x, ref, nl);
  printf("%s: merged vs unmerged logits max|diff| %.2e\n", llama(m) ? "llama" : "gpt2", dm);
  CHECK(dm <= 1e-5);
  st_lora_free(in);

  /* per-adapter ranks, alphas and module sets: rank_pattern, alpha_pattern
   * and a regex of module paths */
  st_lora *mix;
  OK(st_lora_new(&mix, m, 0));
  int k0 = st_module_index(m, llama(m) ? "v" : "c_attn");
  int k1 = st_module_index(m, llama(m) ? "o" : "attn.c_proj");
  OK(st_lora_add(mix, 0, k0, 3, 5, 0, 0, NULL));
  OK(st_lora_add(mix, 2, k0, 6, 12, 0, 0, NULL));
  OK(st_lora_add(mix, 2, k1, 3, 7, 1, 0, NULL));
  randomize(mix, 17);
  OK(st_lora_attach(m2, NULL));
  st_model_free(m2);
  m2 = clone(m);
  OK(st_lora_attach(m2, NULL));
  OK(st_lora_save_peft(m, mix, out, NULL));
  c = load_json(pjoin(p2, out, "adapter_config.json"));
  CHECK(json_is_string(json_object_get(c, "target_modules")));
  CHECK(json_object_size(json_object_get(c, "rank_pattern")) == 1);
  json_decref(c);
  OK(st_lora_load_peft(&in, m2, out));
  CHECK(in->n == 3);
  for (int i = 0; i < 3 && i < in->n; i++)
    CHECK_MSG(in->a[i].rank == mix->a[i].rank && fabsf(in->a[i].scale - mix->a[i].scale) <= 1e-6f * mix->a[i].scale,
              "adapter %d: rank %d scale %g, want %d %g", i, in->a[i].rank,
              in->a[i].scale, mix->a[i].rank, mix->a[i].scale);
  st_lora_free(in);

  /* tensors trained in full travel as modules_to_save: change the final
   * norm and a projection of layer 2 (not adapted), export with their
   * flags, import onto the untouched base */
  st_lora_free(mix);
  char fdir[512];
  pjoin(fdir, dir, "full");
  unsigned char *full = calloc((size_t)m->n_tab, 1);
  const st_param *fn = st_model_find(m, llama(m) ? "model.norm.weight" : "transformer.ln_f.weight");
  const st_param *fo = st_model_find(m, llama(m) ? "model.layers.2.self_attn.o_proj.weight"
                                                 : "transformer.h.2.attn.c_proj.weight");
  for (int k = 0; k < 2; k++) {
    const st_param *q = k ? fo : fn;
    size_t nq = (size_t)q->rows * q->cols;
    float *w = malloc(nq * 4);
    OK(st_model_get(m, q, w, nq));
    for (size_t i = 0; i < nq; i++) w[i] += 0.05f * (float)((i * 7919) % 13) - 0.3f;
    OK(st_model_set(m, q, w, nq));
    full[q - m->tab] = 1;
    free(w);
  }
  OK(st_model_logits(m, tok, B, T, ref));
  OK(st_lora_save_peft_full(m, lo, full, fdir, NULL));
  c = load_json(pjoin(p2, fdir, "adapter_config.json"));
  json_t *mts = json_object_get(c, "modules_to_save");
  CHECK(json_array_size(mts) == 2);
  json_decref(c);
  st_model *fresh = tiny(arch, 32);
  CHECK(st_lora_load_peft(&in, fresh, fdir) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "modules_to_save") != NULL, "%s", st_errmsg());
  unsigned char *written = calloc((size_t)m->n_tab, 1);
  OK(st_lora_load_peft_model(&in, fresh, fdir, written));
  for (int i = 0; i < m->n_tab; i++) /* whole modules: GPT-2 biases too */
    CHECK_MSG(written[i] == full[i] || (written[i] && m->tab[i].is_bias),
              "%s: written %d, trained %d", m->tab[i].name, written[i], full[i]);
  OK(st_lora_attach(fresh, in));
  OK(st_model_logits(fresh, tok, B, T, x));
  CHECK(memcmp(x, ref, nl * 4) == 0);
  OK(st_lora_attach(fresh, NULL));
  st_lora_free(in);
  st_model_free(fresh);
  /* refused: a module both adapted and trained in full; the tied embedding */
  memset(full, 0, (size_t)m->n_tab);
  full[lo->a[0].param] = 1;
  CHECK(st_lora_save_peft_full(m, lo, full, bad, NULL) == ST_ERR);
  CHECK(strstr(st_errmsg(), "trained in full and has a LoRA adapter") != NULL);
  if (m->cfg.tied) {
    memset(full, 0, (size_t)m->n_tab);
    full[st_model_find(m, llama(m) ? "model.embed_tokens.weight" : "transformer.wte.weight") - m->tab] = 1;
    CHECK(st_lora_save_peft_full(m, lo, full, bad, NULL) == ST_ERR);
    CHECK(strstr(st_errmsg(), "tied") != NULL);
  }
  free(full);
  free(written);

  /* bad adapters */
  st_model *other = tiny(arch, 48);
  CHECK(st_lora_load_peft(&in, other, out) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "different base model") != NULL, "%s", st_errmsg());
  OK(st_lora_save_peft(m, lo, out, NULL));
  copy_dir(out, bad);
  json_t *lst = json_pack("[s,s]", llama(m) ? "q_proj" : "c_attn", "foo_proj");
  edit_config(bad, "target_modules", lst);
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "target module 'foo_proj'") != NULL, "%s", st_errmsg());
  copy_dir(out, bad);
  edit_config(bad, "target_modules", json_pack("[s]", llama(m) ? "input_layernorm" : "ln_1"));
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  copy_dir(out, bad);
  edit_config(bad, "r", json_integer(0));
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "rank 0") != NULL, "%s", st_errmsg());
  copy_dir(out, bad);
  edit_config(bad, "layers_to_transform", json_pack("[i,i]", 1, 9));
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "layer 9") != NULL, "%s", st_errmsg());
  copy_dir(out, bad);
  edit_config(bad, "layers_to_transform", json_pack("[i]", 1));
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR); /* tensors of layer 3 */
  CHECK_MSG(strstr(st_errmsg(), "layer 3") != NULL, "%s", st_errmsg());
  copy_dir(out, bad);
  edit_config(bad, "use_dora", json_true());
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  copy_dir(out, bad);
  edit_config(bad, "r", json_integer(5)); /* disagrees with the tensors */
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  /* a tensor of a layer the model does not have */
  copy_dir(out, bad);
  edit_config(bad, "layers_to_transform", json_null());
  float zA[4 * 32] = {0};
  st_sft_entry e = {.name = llama(m) ? "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight"
                                     : "base_model.model.transformer.h.9.attn.c_attn.lora_A.weight",
                    .dtype = ST_SFT_F32, .ndim = 2, .shape = {4, 32}, .data = zA};
  OK(st_sft_write(pjoin(p2, bad, "adapter_model.safetensors"), &e, 1, NULL, NULL, 0));
  CHECK(st_lora_load_peft(&in, m2, bad) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "layers.9") != NULL || strstr(st_errmsg(), "h.9") != NULL,
            "%s", st_errmsg());
  st_model_free(other);
  st_model_free(m2);
  rmtree(dir);
  free(ref), free(x), free(base);
  st_trainer_free(t);
  st_plan_free(&p);
  st_model_free(m);
}

/* --- plans and FLOPs -------------------------------------------------------- */
static void test_plans(st_arch arch) {
  st_model *m = tiny(arch, 32);
  int L = m->cfg.n_layers;
  const st_config *c = &m->cfg;
  st_plan p;
  OK(st_plan_new(&p, L));
  set_lora(&p, 1, 4, 8, 1u << st_module_index(m, llama(m) ? "attn_norm" : "ln_1"), 0);
  CHECK(st_plan_validate(&p, m) == ST_ERR);
  CHECK(strstr(st_errmsg(), "is a norm") != NULL);
  set_lora(&p, 1, 0, 8, lora_mods(m), 0);
  CHECK(st_plan_validate(&p, m) == ST_ERR);
  set_lora(&p, 1, 4, 0, lora_mods(m), 0);
  CHECK(st_plan_validate(&p, m) == ST_ERR);
  set_lora(&p, 1, 4, 8, lora_mods(m), 1.0f);
  CHECK(st_plan_validate(&p, m) == ST_ERR);

  /* top layer LoRA on the MLP output projection only (rank r, in H, out C):
   * forward everywhere, the adapter's forward 2r(H+C), the head's input
   * gradient, and dB, d(Ax), dA = 2rC + 2rC + 2rH; nothing below it */
  st_plan_free(&p);
  OK(st_plan_new(&p, L));
  int r = 4;
  set_lora(&p, L - 1, r, 8, 1u << st_module_index(m, llama(m) ? "down" : "mlp.c_proj"), 0);
  st_flops f = st_plan_flops(&p, m, T);
  double H = c->hidden, C = c->dim, head = 2.0 * c->vocab * C;
  CHECK_NEAR(f.lora_fwd, 2 * r * (H + C), 1e-9);
  CHECK_NEAR(f.bwd, head + 4 * r * C + 2 * r * H, 1e-6);
  CHECK_NEAR(f.ideal_ratio, (f.fwd + f.lora_fwd + f.bwd) / (f.fwd + f.full_bwd), 1e-12);
  /* LoRA on q,v | c_attn of the top layer: all of the top layer's internal
   * input gradients except into the block, attention backward, and the
   * adapters' input gradients into the norm output */
  st_plan_free(&p);
  OK(st_plan_new(&p, L));
  static const char *qv[] = {"q", "v", NULL}, *ca[] = {"c_attn", NULL};
  set_lora(&p, L - 1, r, 8, mask_of(m, llama(m) ? qv : ca), 0);
  f = st_plan_flops(&p, m, T);
  double att = 4.0 * T * c->n_heads * c->head_dim;
  double o = 2.0 * st_slot_size(m, 0, ST_ATO_W), fc = 2.0 * st_slot_size(m, 0, ST_FC_W);
  double pr = 2.0 * st_slot_size(m, 0, ST_PRJ_W);
  double outs = llama(m) ? (c->n_heads + c->n_kv_heads) * c->head_dim : 3 * C;
  double lora_b = 2 * r * outs * 2 + 2 * r * C * (llama(m) ? 2 : 1);
  CHECK_NEAR(f.bwd, head + pr + fc + o + 2 * att + lora_b, 1e-6);
  st_plan_free(&p);
  st_model_free(m);
}

int main(void) {
  st_set_threads(2);
  st_arch archs[] = {ST_ARCH_LLAMA, ST_ARCH_GPT2};
  for (int i = 0; i < 2; i++) {
    test_grads(archs[i]);
    test_dropout_fd(archs[i]);
    test_training(archs[i]);
    test_peft(archs[i]);
    test_plans(archs[i]);
  }
  TEST_DONE();
}
