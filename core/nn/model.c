/* model.c - the parameter layout of a model: slots in one flat buffer and
 * the table of HF-named tensors that are row ranges of those slots.
 *
 * Buffer order: for each layer its slots, contiguous (so a layer's
 * parameters are one range), then the global slots. Absent slots have size
 * 0 and take no space. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "weights.h"

/* generous bounds that keep every size below in range of int / size_t and
 * turn absurd headers into messages instead of huge allocations */
#define MAX_DIM (1 << 24)
#define MAX_LAYERS 4096
#define MAX_HEADS 4096
#define MAX_HEAD_DIM 65536
#define MAX_PARAMS 1e11

static int qkv_rows(const st_config *c) {
  return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
}

/* slot sizes in floats, indexed like st_model.off/size */
static void slot_sizes(const st_config *c, size_t *size) {
  size_t C = (size_t)c->dim, H = (size_t)c->hidden, V = (size_t)c->vocab;
  size_t Q = (size_t)qkv_rows(c), AO = (size_t)c->n_heads * c->head_dim;
  int g = c->arch == ST_ARCH_GPT2;
  for (int l = 0; l < c->n_layers; l++) {
    size_t *s = size + (size_t)l * ST_NSLOTS;
    s[ST_LN1_W] = C;
    s[ST_LN1_B] = g ? C : 0;
    s[ST_QKV_W] = Q * C;
    s[ST_QKV_B] = g || c->qkv_bias ? Q : 0;
    s[ST_ATO_W] = C * AO;
    s[ST_ATO_B] = g ? C : 0;
    s[ST_LN2_W] = C;
    s[ST_LN2_B] = g ? C : 0;
    s[ST_FC_W] = (g ? 1 : 2) * H * C; /* llama: gate rows, then up rows */
    s[ST_FC_B] = g ? H : 0;
    s[ST_PRJ_W] = C * H;
    s[ST_PRJ_B] = g ? C : 0;
  }
  size_t *s = size + (size_t)c->n_layers * ST_NSLOTS;
  s[ST_WTE] = V * C;
  s[ST_WPE] = g ? (size_t)c->max_seq * C : 0;
  s[ST_LNF_W] = C;
  s[ST_LNF_B] = g ? C : 0;
  s[ST_HEAD] = c->tied ? 0 : V * C;
}

int st_config_validate(const st_config *c) {
  if (c->arch != ST_ARCH_LLAMA && c->arch != ST_ARCH_GPT2)
    return st_err("config: unknown architecture %d", (int)c->arch);
  struct { const char *name; int v, max; } dims[] = {
      {"n_layers", c->n_layers, MAX_LAYERS}, {"dim", c->dim, MAX_DIM},
      {"hidden", c->hidden, MAX_DIM},        {"n_heads", c->n_heads, MAX_HEADS},
      {"n_kv_heads", c->n_kv_heads, MAX_HEADS},
      {"head_dim", c->head_dim, MAX_HEAD_DIM}, {"vocab", c->vocab, MAX_DIM},
      {"max_seq", c->max_seq, MAX_DIM}};
  for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
    if (dims[i].v < 1 || dims[i].v > dims[i].max)
      return st_err("config: %s = %d, expected 1..%d", dims[i].name, dims[i].v,
                    dims[i].max);
  if (c->n_heads % c->n_kv_heads)
    return st_err("config: n_heads (%d) is not a multiple of n_kv_heads (%d)",
                  c->n_heads, c->n_kv_heads);
  if (!(c->norm_eps > 0 && c->norm_eps < 1))
    return st_err("config: norm_eps = %g, expected 0 < eps < 1", c->norm_eps);
  if (c->tied != 0 && c->tied != 1) return st_err("config: tied must be 0 or 1");
  if (c->arch == ST_ARCH_GPT2) {
    if (c->n_kv_heads != c->n_heads)
      return st_err("config: GPT-2 has n_kv_heads = n_heads (%d != %d)",
                    c->n_kv_heads, c->n_heads);
    if ((long)c->head_dim * c->n_heads != c->dim)
      return st_err("config: GPT-2 needs head_dim * n_heads = dim (%d * %d != %d)",
                    c->head_dim, c->n_heads, c->dim);
  } else {
    if (c->head_dim % 2)
      return st_err("config: head_dim = %d must be even for rotary embeddings",
                    c->head_dim);
    if (!(c->rope_theta > 1 && isfinite(c->rope_theta)))
      return st_err("config: rope_theta = %g, expected > 1", c->rope_theta);
    if (c->qkv_bias != 0 && c->qkv_bias != 1)
      return st_err("config: qkv_bias must be 0 or 1");
    if (st_rope_validate(c) != ST_OK) return ST_ERR;
  }
  if (c->window < 0 || c->window_from < 0 || c->window_from > c->n_layers ||
      (c->window > 0 && c->arch == ST_ARCH_GPT2))
    return st_err("config: sliding window %d from layer %d, expected a "
                  "Llama-family window >= 0 from a layer in 0..%d", c->window,
                  c->window_from, c->n_layers);
  double L = c->n_layers, C = c->dim, H = c->hidden, V = c->vocab;
  double per_layer = ((double)c->n_heads + 2.0 * c->n_kv_heads) * c->head_dim * C +
                     (double)c->n_heads * c->head_dim * C + 3.0 * H * C;
  if (L * per_layer + 2 * V * C + (double)c->max_seq * C > MAX_PARAMS)
    return st_err("config: about %.3g parameters, more than strata handles",
                  L * per_layer + 2 * V * C);
  return ST_OK;
}

/* ------------------------------------------------------------------ */
/* the named table                                                     */

static void add(st_model *m, const char *name, const char *module,
                st_group group, int layer, int slot, int rows, int cols,
                int row0, int conv1d) {
  st_param *p = &m->tab[m->n_tab++];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->module = module;
  p->group = group;
  p->layer = layer;
  p->slot = slot;
  p->rows = rows;
  p->cols = cols;
  p->row0 = row0;
  p->conv1d = conv1d;
  /* norms and biases are the 1-D tensors */
  p->is_bias = group == ST_G_LAYER
                   ? slot != ST_QKV_W && slot != ST_ATO_W && slot != ST_FC_W &&
                         slot != ST_PRJ_W
                   : slot == ST_LNF_W || slot == ST_LNF_B;
  /* a 1-D tensor holds one value per output row of its slot */
  p->offset = m->off[st_slot_index(&m->cfg, layer, slot)] +
              (size_t)row0 * (p->is_bias ? 1 : (size_t)cols);
}

static void table_llama(st_model *m) {
  const st_config *c = &m->cfg;
  int C = c->dim, H = c->hidden, q = c->n_heads * c->head_dim,
      kv = c->n_kv_heads * c->head_dim;
  char n[96];
  add(m, "model.embed_tokens.weight", "embed", ST_G_EMBED, -1, ST_WTE, c->vocab, C, 0, 0);
  for (int l = 0; l < c->n_layers; l++) {
#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d.%s", l, s), n)
    add(m, NAME("input_layernorm.weight"), "attn_norm", ST_G_LAYER, l, ST_LN1_W, 1, C, 0, 0);
    static const char *qkv[3] = {"q", "k", "v"};
    int row0[3] = {0, q, q + kv}, rows[3] = {q, kv, kv};
    for (int i = 0; i < 3; i++) {
      char s[64];
      snprintf(s, sizeof s, "self_attn.%s_proj.weight", qkv[i]);
      add(m, NAME(s), qkv[i], ST_G_LAYER, l, ST_QKV_W, rows[i], C, row0[i], 0);
      if (!c->qkv_bias) continue;
      snprintf(s, sizeof s, "self_attn.%s_proj.bias", qkv[i]);
      add(m, NAME(s), qkv[i], ST_G_LAYER, l, ST_QKV_B, 1, rows[i], row0[i], 0);
    }
    add(m, NAME("self_attn.o_proj.weight"), "o", ST_G_LAYER, l, ST_ATO_W, C, q, 0, 0);
    add(m, NAME("post_attention_layernorm.weight"), "mlp_norm", ST_G_LAYER, l, ST_LN2_W, 1, C, 0, 0);
    add(m, NAME("mlp.gate_proj.weight"), "gate", ST_G_LAYER, l, ST_FC_W, H, C, 0, 0);
    add(m, NAME("mlp.up_proj.weight"), "up", ST_G_LAYER, l, ST_FC_W, H, C, H, 0);
    add(m, NAME("mlp.down_proj.weight"), "down", ST_G_LAYER, l, ST_PRJ_W, C, H, 0, 0);
#undef NAME
  }
  add(m, "model.norm.weight", "final_norm", ST_G_FINAL_NORM, -1, ST_LNF_W, 1, C, 0, 0);
  if (!c->tied)
    add(m, "lm_head.weight", "head", ST_G_HEAD, -1, ST_HEAD, c->vocab, C, 0, 0);
}

static void table_gpt2(st_model *m) {
  const st_config *c = &m->cfg;
  int C = c->dim, H = c->hidden;
  char n[96];
  add(m, "transformer.wte.weight", "embed", ST_G_EMBED, -1, ST_WTE, c->vocab, C, 0, 0);
  add(m, "transformer.wpe.weight", "pos", ST_G_EMBED, -1, ST_WPE, c->max_seq, C, 0, 0);
  for (int l = 0; l < c->n_layers; l++) {
#define NAME(s) (snprintf(n, sizeof n, "transformer.h.%d.%s", l, s), n)
    add(m, NAME("ln_1.weight"), "ln_1", ST_G_LAYER, l, ST_LN1_W, 1, C, 0, 0);
    add(m, NAME("ln_1.bias"), "ln_1", ST_G_LAYER, l, ST_LN1_B, 1, C, 0, 0);
    add(m, NAME("attn.c_attn.weight"), "c_attn", ST_G_LAYER, l, ST_QKV_W, 3 * C, C, 0, 1);
    add(m, NAME("attn.c_attn.bias"), "c_attn", ST_G_LAYER, l, ST_QKV_B, 1, 3 * C, 0, 0);
    add(m, NAME("attn.c_proj.weight"), "attn.c_proj", ST_G_LAYER, l, ST_ATO_W, C, C, 0, 1);
    add(m, NAME("attn.c_proj.bias"), "attn.c_proj", ST_G_LAYER, l, ST_ATO_B, 1, C, 0, 0);
    add(m, NAME("ln_2.weight"), "ln_2", ST_G_LAYER, l, ST_LN2_W, 1, C, 0, 0);
    add(m, NAME("ln_2.bias"), "ln_2", ST_G_LAYER, l, ST_LN2_B, 1, C, 0, 0);
    add(m, NAME("mlp.c_fc.weight"), "c_fc", ST_G_LAYER, l, ST_FC_W, H, C, 0, 1);
    add(m, NAME("mlp.c_fc.bias"), "c_fc", ST_G_LAYER, l, ST_FC_B, 1, H, 0, 0);
    add(m, NAME("mlp.c_proj.weight"), "mlp.c_proj", ST_G_LAYER, l, ST_PRJ_W, C, H, 0, 1);
    add(m, NAME("mlp.c_proj.bias"), "mlp.c_proj", ST_G_LAYER, l, ST_PRJ_B, 1, C, 0, 0);
#undef NAME
  }
  add(m, "transformer.ln_f.weight", "final_norm", ST_G_FINAL_NORM, -1, ST_LNF_W, 1, C, 0, 0);
  add(m, "transformer.ln_f.bias", "final_norm", ST_G_FINAL_NORM, -1, ST_LNF_B, 1, C, 0, 0);
  if (!c->tied)
    add(m, "lm_head.weight", "head", ST_G_HEAD, -1, ST_HEAD, c->vocab, C, 0, 0);
}

/* ------------------------------------------------------------------ */

int st_model_layout(st_model **out, const st_config *cfg, const st_backend *be) {
  *out = NULL;
  if (st_config_validate(cfg) != ST_OK) return ST_ERR;
  st_model *m = st_calloc(1, sizeof *m);
  if (!m) return ST_ERR;
  m->cfg = *cfg;
  m->be = be;
  size_t ns = (size_t)cfg->n_layers * ST_NSLOTS + ST_NGLOBAL;
  m->off = st_calloc(ns, sizeof *m->off);
  m->size = st_calloc(ns, sizeof *m->size);
  m->tab = st_calloc((size_t)cfg->n_layers * ST_NSLOTS + ST_NGLOBAL, sizeof *m->tab);
  m->st = st_calloc(ns, sizeof *m->st);
  m->stab = st_malloc(ns * ST_SLOT_TENSORS * sizeof *m->stab);
  m->w32 = st_calloc(ns, sizeof *m->w32);
  if (!m->off || !m->size || !m->tab || !m->st || !m->stab || !m->w32) goto fail;
  slot_sizes(cfg, m->size);
  for (size_t i = 0; i < ns; i++) {
    m->off[i] = m->n_params;
    m->n_params += m->size[i];
  }
  if (cfg->arch == ST_ARCH_GPT2) table_gpt2(m);
  else table_llama(m);
  /* each slot's tensors by first row */
  for (size_t i = 0; i < ns * ST_SLOT_TENSORS; i++) m->stab[i] = -1;
  for (int i = 0; i < m->n_tab; i++) {
    int *t = m->stab + (size_t)st_slot_index(cfg, m->tab[i].layer,
                                             m->tab[i].slot) * ST_SLOT_TENSORS;
    int k = 0;
    while (t[k] >= 0) k++;
    for (; k > 0 && m->tab[t[k - 1]].row0 > m->tab[i].row0; k--) t[k] = t[k - 1];
    t[k] = i;
  }
  if (cfg->window > 0 && !be->attn_window) {
    st_err("sliding_window %d: the %s backend does not implement "
           "sliding-window attention (use the cpu backend)", cfg->window,
           be->name);
    goto fail;
  }
  *out = m;
  return ST_OK;
fail:
  st_model_free(m);
  return ST_ERR;
}

/* the RoPE table, whatever the storage */
static int alloc_rope(st_model *m) {
  const st_config *cfg = &m->cfg;
  const st_backend *be = m->be;
  if (cfg->arch == ST_ARCH_LLAMA) {
    size_t half = (size_t)cfg->head_dim / 2;
    float *f = st_malloc(half * sizeof *f);
    if (!f || !(m->rope_freq = be->alloc(half * sizeof *f))) {
      free(f);
      return ST_ERR;
    }
    st_rope_freqs(cfg, f, &m->rope_scale);
    be->upload(m->rope_freq, f, half * sizeof *f);
    free(f);
  }
  return ST_OK;
}

int st_model_alloc(st_model *m) {
  if (!(m->params = m->be->alloc(m->n_params * sizeof(float)))) return ST_ERR;
  for (int i = 0; i < m->n_tab; i++)
    m->st[i] = (st_store){ST_DT_F32, ST_DT_F32, m->params + m->tab[i].offset, 0, 0};
  return alloc_rope(m);
}

int st_model_alloc_as(st_model *m, st_dtype frozen) {
  if (m->params) return st_err("internal: st_model_alloc_as on a flat model");
  if (st_model_split(m, frozen)) return ST_ERR;
  return alloc_rope(m);
}

int st_model_new(st_model **out, const st_config *cfg, const st_backend *be) {
  if (st_model_layout(out, cfg, be)) return ST_ERR;
  if (st_model_alloc(*out) == ST_OK) return ST_OK;
  st_model_free(*out);
  *out = NULL;
  return ST_ERR;
}

void st_model_free(st_model *m) {
  if (!m) return;
  const st_backend *be = m->be;
  if (m->params) be->free(m->params);
  if (m->rope_freq) be->free(m->rope_freq);
  if (m->wscratch) be->free(m->wscratch);
  for (int i = 0; m->st && i < m->n_tab; i++)
    if (m->st[i].owned) be->free(m->st[i].data);
  size_t ns = (size_t)m->cfg.n_layers * ST_NSLOTS + ST_NGLOBAL;
  for (size_t i = 0; m->w32 && i < ns; i++)
    if (m->w32[i]) be->free(m->w32[i]);
  /* the mappings last: tensors in place pointed into them */
  for (int i = 0; i < m->n_keep; i++) m->keep[i].release(m->keep[i].p);
  free(m->keep);
  free(m->off);
  free(m->size);
  free(m->tab);
  free(m->st);
  free(m->stab);
  free(m->w32);
  free(m);
}

float *st_slot(const st_model *m, int layer, int slot) {
  int i = st_slot_index(&m->cfg, layer, slot);
  if (!m->size[i]) return NULL;
  return m->params ? m->params + m->off[i] : m->w32[i];
}
size_t st_slot_size(const st_model *m, int layer, int slot) {
  return m->size[st_slot_index(&m->cfg, layer, slot)];
}
float *st_global(const st_model *m, int slot) { return st_slot(m, -1, slot); }
size_t st_global_size(const st_model *m, int slot) {
  return st_slot_size(m, -1, slot);
}

size_t st_layer_params(const st_model *m, int layer) {
  if (layer < 0 || layer >= m->cfg.n_layers) return 0;
  size_t n = 0;
  for (int s = 0; s < ST_NSLOTS; s++) n += st_slot_size(m, layer, s);
  return n;
}

const st_param *st_model_find(const st_model *m, const char *name) {
  for (int i = 0; i < m->n_tab; i++)
    if (!strcmp(m->tab[i].name, name)) return &m->tab[i];
  return NULL;
}

int st_model_set(st_model *m, const st_param *p, const float *host, size_t n) {
  size_t want = (size_t)p->rows * p->cols;
  if (n != want)
    return st_err("%s: %zu values, expected %zu", p->name, n, want);
  if (!p->conv1d) return st_param_write(m, p, host);
  float *t = st_malloc(n * sizeof(float)); /* [cols,rows] -> [rows,cols] */
  if (!t) return ST_ERR;
  for (int r = 0; r < p->rows; r++)
    for (int c = 0; c < p->cols; c++)
      t[(size_t)r * p->cols + c] = host[(size_t)c * p->rows + r];
  int rc = st_param_write(m, p, t);
  free(t);
  return rc;
}

int st_model_get(const st_model *m, const st_param *p, float *host, size_t n) {
  size_t want = (size_t)p->rows * p->cols;
  if (n != want)
    return st_err("%s: %zu values, expected %zu", p->name, n, want);
  if (!p->conv1d) return st_param_read(m, p, host);
  float *t = st_malloc(n * sizeof(float));
  if (!t) return ST_ERR;
  int rc = st_param_read(m, p, t);
  for (int r = 0; rc == ST_OK && r < p->rows; r++)
    for (int c = 0; c < p->cols; c++)
      host[(size_t)c * p->rows + r] = t[(size_t)r * p->cols + c];
  free(t);
  return rc;
}

/* ------------------------------------------------------------------ */
/* deterministic init: xorshift64* stream + Box-Muller                 */

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}
static double rng_unit(uint64_t *s) { /* (0, 1] */
  return ((rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static void fill_normal(float *x, size_t n, float std, uint64_t *s) {
  for (size_t i = 0; i < n; i += 2) {
    double r = sqrt(-2.0 * log(rng_unit(s))), a = 2.0 * M_PI * rng_unit(s);
    x[i] = (float)(std * r * cos(a));
    if (i + 1 < n) x[i + 1] = (float)(std * r * sin(a));
  }
}

typedef enum { INIT_NORMAL, INIT_RESID, INIT_ONE, INIT_ZERO } init_kind;

static init_kind layer_kind(int slot) {
  switch (slot) {
  case ST_LN1_W: case ST_LN2_W: return INIT_ONE; /* norm gains */
  case ST_ATO_W: case ST_PRJ_W: return INIT_RESID; /* into the residual stream */
  case ST_QKV_W: case ST_FC_W: return INIT_NORMAL;
  default: return INIT_ZERO; /* biases */
  }
}

static init_kind global_kind(int slot) {
  return slot == ST_LNF_W ? INIT_ONE : slot == ST_LNF_B ? INIT_ZERO : INIT_NORMAL;
}

void st_model_init_random(st_model *m, uint64_t seed) {
  /* staged through a fixed buffer (an even size, so Box-Muller pairs and
   * thus the values do not depend on it): the host never holds a second
   * copy of the model, which would also inflate peak-RSS measurements */
  enum { CHUNK = 1 << 20 };
  float *h = st_malloc(CHUNK * sizeof(float));
  if (!h) return; /* error already set; parameters stay zero */
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
  if (!s) s = 1;
  int L = m->cfg.n_layers;
  /* GPT-2: residual projections scaled by 1/sqrt(2L) so the residual
   * stream's variance does not grow with depth */
  const float std = 0.02f, resid = std / sqrtf(2.0f * L);
  for (int i = 0; i < L * ST_NSLOTS + ST_NGLOBAL; i++) {
    init_kind k = i < L * ST_NSLOTS ? layer_kind(i % ST_NSLOTS)
                                    : global_kind(i - L * ST_NSLOTS);
    for (size_t done = 0; done < m->size[i]; done += CHUNK) {
      size_t n = m->size[i] - done < CHUNK ? m->size[i] - done : CHUNK;
      if (k == INIT_NORMAL || k == INIT_RESID)
        fill_normal(h, n, k == INIT_RESID ? resid : std, &s);
      else
        for (size_t j = 0; j < n; j++) h[j] = k == INIT_ONE ? 1.0f : 0.0f;
      if (st_slot_write(m, i, done, h, n)) {
        free(h);
        return;
      }
    }
  }
  free(h);
}

/* ------------------------------------------------------------------ */

int st_param_shape(const st_param *p, int64_t *shape) {
  if (p->is_bias) {
    shape[0] = p->cols;
    return 1;
  }
  shape[0] = p->conv1d ? p->cols : p->rows;
  shape[1] = p->conv1d ? p->rows : p->cols;
  return 2;
}
