/* lora.c - the adapter set: creation, PEFT initialisation, plan following,
 * host access, attach and merge. The forward and backward of an adapter are
 * in layer.c, next to the linear op they extend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lora.h"
#include "weights.h"
#include "sampler.h"

static const st_backend *be_of(const st_lora *lo) { return lo->m->be; }

static size_t a_numel(const st_lora *lo, const st_adapter *a) {
  return (size_t)a->rank * lo->m->tab[a->param].cols;
}
static size_t b_numel(const st_lora *lo, const st_adapter *a) {
  return (size_t)lo->m->tab[a->param].rows * a->rank;
}

int st_lora_new(st_lora **out, const st_model *m, uint64_t seed) {
  st_lora *lo = st_calloc(1, sizeof *lo);
  if (!lo) return ST_ERR;
  lo->m = m;
  lo->seed = seed;
  *out = lo;
  return ST_OK;
}

static void free_state(const st_backend *be, st_adapter *a) {
  float **p[] = {&a->dA, &a->dB, &a->mA, &a->vA, &a->mB, &a->vB};
  for (size_t i = 0; i < sizeof p / sizeof *p; i++)
    if (*p[i]) be->free(*p[i]), *p[i] = NULL;
}

void st_lora_free(st_lora *lo) {
  if (!lo) return;
  const st_backend *be = be_of(lo);
  for (int i = 0; i < lo->n; i++) {
    free_state(be, &lo->a[i]);
    if (lo->a[i].A) be->free(lo->a[i].A);
    if (lo->a[i].B) be->free(lo->a[i].B);
  }
  free(lo->a);
  free(lo);
}

const st_param *st_lora_target(const st_model *m, int layer, int module) {
  const char **names;
  int nmod = st_plan_modules(m, &names);
  if (layer < 0 || layer >= m->cfg.n_layers || module < 0 || module >= nmod)
    return NULL;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (q->group == ST_G_LAYER && q->layer == layer && !q->is_bias &&
        (q->slot == ST_QKV_W || q->slot == ST_ATO_W || q->slot == ST_FC_W ||
         q->slot == ST_PRJ_W) && !strcmp(q->module, names[module]))
      return q;
  }
  return NULL;
}

/* position order inside a layer: the slot's op position, then first row */
static long order(const st_lora *lo, const st_adapter *a) {
  const st_param *w = &lo->m->tab[a->param];
  return ((long)a->layer * ST_NSLOTS + w->slot) * (1L << 30) + w->row0;
}

st_adapter *st_lora_find(const st_lora *lo, int layer, int module) {
  for (int i = 0; i < lo->n; i++)
    if (lo->a[i].layer == layer && lo->a[i].module == module) return &lo->a[i];
  return NULL;
}

int st_lora_add(st_lora *lo, int layer, int module, int rank, float alpha,
                int rslora, float dropout, st_adapter **out) {
  const st_model *m = lo->m;
  const char **names;
  int nmod = st_plan_modules(m, &names);
  if (layer < 0 || layer >= m->cfg.n_layers)
    return st_err("LoRA: layer %d out of range 0..%d", layer,
                  m->cfg.n_layers - 1);
  if (module < 0 || module >= nmod) return st_err("LoRA: unknown module %d", module);
  const st_param *w = st_lora_target(m, layer, module);
  if (!w)
    return st_err("LoRA: layer %d: '%s' is not a linear module", layer,
                  names[module]);
  if (rank < 1 || rank > 65536)
    return st_err("LoRA: layer %d %s: rank %d, expected 1..65536", layer,
                  names[module], rank);
  if (!(alpha > 0) || !isfinite(alpha))
    return st_err("LoRA: layer %d %s: alpha = %g, expected > 0", layer,
                  names[module], alpha);
  if (!(dropout >= 0 && dropout < 1))
    return st_err("LoRA: layer %d %s: dropout = %g, expected 0 <= p < 1",
                  layer, names[module], dropout);
  if (st_lora_find(lo, layer, module))
    return st_err("LoRA: layer %d %s has an adapter already", layer,
                  names[module]);
  if (lo->n == lo->cap) {
    int cap = lo->cap ? 2 * lo->cap : 16;
    st_adapter *na = realloc(lo->a, (size_t)cap * sizeof *na);
    if (!na) return st_err("out of memory");
    lo->a = na;
    lo->cap = cap;
  }
  st_adapter a = {0};
  a.layer = layer;
  a.module = module;
  a.param = (int)(w - m->tab);
  a.rank = rank;
  a.alpha = alpha;
  a.rslora = rslora != 0;
  a.dropout = dropout;
  a.scale = rslora ? alpha / sqrtf((float)rank) : alpha / (float)rank;
  const st_backend *be = m->be;
  if (!(a.A = be->alloc(a_numel(lo, &a) * sizeof(float))) ||
      !(a.B = be->alloc(b_numel(lo, &a) * sizeof(float)))) {
    if (a.A) be->free(a.A);
    return ST_ERR;
  }
  /* insertion keeps the order layer.c walks in */
  int at = lo->n;
  while (at > 0 && order(lo, &lo->a[at - 1]) > order(lo, &a)) at--;
  memmove(lo->a + at + 1, lo->a + at, (size_t)(lo->n - at) * sizeof *lo->a);
  lo->a[at] = a;
  lo->n++;
  if (out) *out = &lo->a[at];
  return ST_OK;
}

int st_lora_layer(const st_lora *lo, int layer, int *first) {
  int i = 0;
  while (i < lo->n && lo->a[i].layer < layer) i++;
  *first = i;
  int k = i;
  while (k < lo->n && lo->a[k].layer == layer) k++;
  return k - i;
}

int st_lora_layer_ranks(const st_lora *lo, int layer) {
  if (!lo) return 0;
  if (layer < 0) {
    int best = 0;
    for (int l = 0; l < lo->m->cfg.n_layers; l++) {
      int r = st_lora_layer_ranks(lo, l);
      if (r > best) best = r;
    }
    return best;
  }
  int first, n = st_lora_layer(lo, layer, &first), r = 0;
  for (int i = first; i < first + n; i++) r += lo->a[i].rank;
  return r;
}

int st_lora_max_rank(const st_lora *lo) {
  int r = 0;
  for (int i = 0; lo && i < lo->n; i++)
    if (lo->a[i].rank > r) r = lo->a[i].rank;
  return r;
}

int st_lora_max_in(const st_lora *lo) {
  int c = 0;
  for (int i = 0; lo && i < lo->n; i++)
    if (lo->m->tab[lo->a[i].param].cols > c) c = lo->m->tab[lo->a[i].param].cols;
  return c;
}

/* PEFT's reset_lora_parameters: nn.init.kaiming_uniform_(A, a=sqrt(5)) draws
 * U(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain =
 * sqrt(2 / (1 + a^2)) = sqrt(1/3): bound = 1 / sqrt(in). B = 0. */
static int init_adapter(const st_lora *lo, st_adapter *a, uint64_t seed) {
  size_t na = a_numel(lo, a);
  int in = lo->m->tab[a->param].cols;
  float *h = st_malloc(na * sizeof *h);
  if (!h) return ST_ERR;
  st_rng r;
  st_rng_seed(&r, st_mix64(seed ^ st_mix64((uint64_t)a->layer << 8 | (uint64_t)a->module)));
  float bound = 1.0f / sqrtf((float)in);
  for (size_t i = 0; i < na; i++) h[i] = (2 * st_rng_uniform(&r) - 1) * bound;
  be_of(lo)->upload(a->A, h, na * sizeof *h);
  be_of(lo)->zero(a->B, b_numel(lo, a) * sizeof(float));
  free(h);
  return ST_OK;
}

int st_adapter_set_train(const st_lora *lo, st_adapter *a, int on) {
  const st_backend *be = be_of(lo);
  if (!on) {
    free_state(be, a);
    a->train = 0;
    return ST_OK;
  }
  if (a->train) return ST_OK;
  size_t na = a_numel(lo, a) * sizeof(float), nb = b_numel(lo, a) * sizeof(float);
  if (!(a->dA = be->alloc(na)) || !(a->mA = be->alloc(na)) ||
      !(a->vA = be->alloc(na)) || !(a->dB = be->alloc(nb)) ||
      !(a->mB = be->alloc(nb)) || !(a->vB = be->alloc(nb))) {
    free_state(be, a);
    return ST_ERR;
  }
  a->adam_t = 0;
  a->train = 1;
  return ST_OK;
}

int st_lora_check_plan(const st_lora *lo, const st_plan *p) {
  const st_model *m = lo->m;
  const char **names;
  int nmod = st_plan_modules(m, &names);
  if (p->n_layers != m->cfg.n_layers)
    return st_err("plan has %d layers but the model has %d", p->n_layers,
                  m->cfg.n_layers);
  for (int l = 0; l < p->n_layers; l++) {
    if (p->mode[l] != ST_LORA) continue;
    for (int k = 0; k < nmod; k++) {
      st_adapter *a = p->lora[l].modules >> k & 1u ? st_lora_find(lo, l, k) : NULL;
      if (a && a->rank != p->lora[l].rank)
        return st_err("layer %d %s: the adapter has rank %d, the plan asks "
                      "for %d (an adapter keeps its rank)", l, names[k],
                      a->rank, p->lora[l].rank);
    }
  }
  return ST_OK;
}

int st_lora_apply_plan(st_lora *lo, const st_plan *p) {
  const char **names;
  int nmod = st_plan_modules(lo->m, &names);
  /* check first, so a refused plan changes nothing */
  if (st_lora_check_plan(lo, p)) return ST_ERR;
  for (int l = 0; l < p->n_layers; l++) /* new adapters */
    for (int k = 0; p->mode[l] == ST_LORA && k < nmod; k++) {
      const st_lora_spec *s = &p->lora[l];
      st_adapter *a;
      if (!(s->modules >> k & 1u) || st_lora_find(lo, l, k)) continue;
      if (st_lora_add(lo, l, k, s->rank, s->alpha, s->rslora, s->dropout, &a) ||
          init_adapter(lo, a, p->seed))
        return ST_ERR;
    }
  for (int i = 0; i < lo->n; i++) {
    st_adapter *a = &lo->a[i];
    const st_lora_spec *s = &p->lora[a->layer];
    int want = p->mode[a->layer] == ST_LORA && (s->modules >> a->module & 1u);
    if (want) {
      a->alpha = s->alpha;
      a->rslora = s->rslora != 0;
      a->dropout = s->dropout;
      a->scale = a->rslora ? a->alpha / sqrtf((float)a->rank)
                           : a->alpha / (float)a->rank;
    }
    if (st_adapter_set_train(lo, a, want)) return ST_ERR;
  }
  return ST_OK;
}

int st_adapter_get(const st_lora *lo, const st_adapter *a, float *A, float *B) {
  if (A) be_of(lo)->download(A, a->A, a_numel(lo, a) * sizeof(float));
  if (B) be_of(lo)->download(B, a->B, b_numel(lo, a) * sizeof(float));
  return ST_OK;
}

int st_adapter_set(const st_lora *lo, st_adapter *a, const float *A,
                   const float *B) {
  if (A) be_of(lo)->upload(a->A, A, a_numel(lo, a) * sizeof(float));
  if (B) be_of(lo)->upload(a->B, B, b_numel(lo, a) * sizeof(float));
  return ST_OK;
}

int st_adapter_grad(const st_lora *lo, const st_adapter *a, float *dA,
                    float *dB) {
  if (!a->train) {
    char p[128];
    st_adapter_path(lo->m, a, p, sizeof p);
    return st_err("%s: the adapter is frozen (no gradient)", p);
  }
  if (dA) be_of(lo)->download(dA, a->dA, a_numel(lo, a) * sizeof(float));
  if (dB) be_of(lo)->download(dB, a->dB, b_numel(lo, a) * sizeof(float));
  return ST_OK;
}

void st_adapter_path(const st_model *m, const st_adapter *a, char *buf,
                     size_t n) {
  const char *name = m->tab[a->param].name;
  size_t k = strlen(name);
  if (k > 7 && !strcmp(name + k - 7, ".weight")) k -= 7;
  snprintf(buf, n, "%.*s", (int)k, name);
}

uint64_t st_adapter_drop_key(const st_lora *lo, const st_adapter *a) {
  return st_mix64(lo->seed ^ st_mix64(((uint64_t)a->layer << 40) ^
                                      ((uint64_t)a->module << 32) ^
                                      st_mix64(a->draws)));
}

static int same_config(const st_model *m, const st_lora *lo) {
  if (!memcmp(&m->cfg, &lo->m->cfg, sizeof m->cfg) && m->be == lo->m->be)
    return ST_OK;
  return st_err("LoRA adapters were built for another model configuration "
                "or backend");
}

int st_lora_attach(st_model *m, const st_lora *lo) {
  if (lo && same_config(m, lo)) return ST_ERR;
  m->lora = lo;
  return ST_OK;
}

int st_lora_merge(st_model *m, const st_lora *lo) {
  if (same_config(m, lo)) return ST_ERR;
  const st_backend *be = m->be;
  for (int i = 0; i < lo->n; i++) {
    const st_adapter *a = &lo->a[i];
    const st_param *w = &m->tab[a->param];
    /* W[rows, in] += scale B[rows, r] A[r, in]; a W held in half precision
     * or in place is widened into a copy, added to, and narrowed back */
    float *dst = st_param_f32(m, w), *tmp = NULL;
    if (!dst) {
      if (!(tmp = be->alloc((size_t)w->rows * w->cols * sizeof(float))))
        return st_err_prefix("LoRA merge into %s: ", w->name);
      st_param_widen_to(m, w, tmp);
      dst = tmp;
    }
    be->gemm(0, 0, w->rows, w->cols, a->rank, a->scale, a->B, a->rank, a->A,
             w->cols, 1.0f, dst, w->cols);
    int rc = tmp ? st_param_narrow_from(m, w, tmp) : ST_OK;
    if (tmp) be->free(tmp);
    if (rc) return st_err_prefix("LoRA merge into %s: ", w->name);
  }
  if (m->lora == lo) m->lora = NULL;
  return ST_OK;
}
