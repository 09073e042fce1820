/* test_io_model.c - the slot layout and the named table: every float of
 * the buffer belongs to exactly one named tensor, names/shapes follow the
 * HF checkpoints, Conv1D transposition, deterministic init, config checks. */
#include <string.h>

#include "model.h"
#include "test.h"
#include "test_io_util.h"

static st_config llama_cfg(int tied, int qkv_bias) {
  st_config c = {.arch = ST_ARCH_LLAMA, .n_layers = 3, .dim = 16, .hidden = 24,
                 .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .vocab = 11,
                 .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                 .tied = tied, .qkv_bias = qkv_bias};
  return c;
}
static st_config gpt2_cfg(int tied) {
  st_config c = {.arch = ST_ARCH_GPT2, .n_layers = 2, .dim = 8, .hidden = 32,
                 .n_heads = 2, .n_kv_heads = 2, .head_dim = 4, .vocab = 13,
                 .max_seq = 7, .norm_eps = 1e-5f, .tied = tied};
  return c;
}

/* expected slot sizes written out from the shapes in model.h */
static size_t want_size(const st_config *c, int layer, int s) {
  size_t C = c->dim, H = c->hidden, V = c->vocab, HS = c->head_dim;
  int g = c->arch == ST_ARCH_GPT2;
  if (layer < 0) {
    size_t w[ST_NGLOBAL] = {V * C, g ? c->max_seq * C : 0, C, g ? C : 0,
                            c->tied ? 0 : V * C};
    return w[s];
  }
  size_t qkv = (c->n_heads + 2 * c->n_kv_heads) * HS;
  size_t w[ST_NSLOTS] = {C,      g ? C : 0,         qkv * C, g || c->qkv_bias ? qkv : 0,
                         C * c->n_heads * HS, g ? C : 0, C, g ? C : 0,
                         (g ? 1 : 2) * H * C, g ? H : 0, C * H, g ? C : 0};
  return w[s];
}

static void check_layout(const st_config *c) {
  st_model *m = NULL;
  CHECK(st_model_new(&m, c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  int L = c->n_layers, ns = L * ST_NSLOTS + ST_NGLOBAL;
  size_t at = 0;
  for (int i = 0; i < ns; i++) { /* per layer contiguous, then globals */
    int layer = i < L * ST_NSLOTS ? i / ST_NSLOTS : -1;
    int slot = layer < 0 ? i - L * ST_NSLOTS : i % ST_NSLOTS;
    CHECK_MSG(m->size[i] == want_size(c, layer, slot), "slot %d/%d", layer, slot);
    CHECK(m->off[i] == at);
    CHECK((st_slot(m, layer, slot) == NULL) == (m->size[i] == 0));
    at += m->size[i];
  }
  CHECK(m->n_params == at);
  size_t per = 0;
  for (int s = 0; s < ST_NSLOTS; s++) per += want_size(c, 0, s);
  CHECK(st_layer_params(m, 1) == per);

  /* the named tensors tile the buffer exactly once */
  unsigned char *cover = calloc(m->n_params, 1);
  for (int k = 0; k < m->n_tab; k++) {
    const st_param *p = &m->tab[k];
    int idx = st_slot_index(c, p->layer, p->slot);
    size_t n = (size_t)p->rows * p->cols;
    CHECK(p->offset >= m->off[idx] && p->offset + n <= m->off[idx] + m->size[idx]);
    CHECK(p->is_bias == (p->rows == 1 && strstr(p->name, "embed") == NULL));
    CHECK(st_model_find(m, p->name) == p);
    CHECK((p->group == ST_G_LAYER) == (p->layer >= 0));
    for (size_t j = 0; j < n && p->offset + j < m->n_params; j++) cover[p->offset + j]++;
  }
  size_t bad = 0;
  for (size_t j = 0; j < m->n_params; j++) bad += cover[j] != 1;
  CHECK_MSG(bad == 0, "%zu floats not covered exactly once", bad);
  free(cover);
  st_model_free(m);
}

static void check_names_llama(void) {
  st_config c = llama_cfg(0, 1);
  st_model *m = NULL;
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  const char *want[] = {
      "model.embed_tokens.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
      "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias",
      "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
      "model.layers.0.self_attn.o_proj.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight"};
  const char *mods[] = {"embed", "attn_norm", "q", "q", "k", "k", "v", "v", "o",
                        "mlp_norm", "gate", "up", "down"};
  for (int i = 0; i < 13; i++) {
    CHECK_MSG(!strcmp(m->tab[i].name, want[i]), "%d: %s", i, m->tab[i].name);
    CHECK(!strcmp(m->tab[i].module, mods[i]));
  }
  CHECK(m->n_tab == 1 + 3 * 12 + 2);
  CHECK(!strcmp(m->tab[m->n_tab - 2].name, "model.norm.weight"));
  CHECK(!strcmp(m->tab[m->n_tab - 1].name, "lm_head.weight"));
  CHECK(m->tab[m->n_tab - 1].group == ST_G_HEAD);
  /* fused rows: q [0,16), k [16,24), v [24,32) of QKV; gate/up halves */
  const st_param *k = st_model_find(m, "model.layers.2.self_attn.k_proj.weight");
  const st_param *vb = st_model_find(m, "model.layers.2.self_attn.v_proj.bias");
  const st_param *up = st_model_find(m, "model.layers.1.mlp.up_proj.weight");
  const st_param *o = st_model_find(m, "model.layers.1.self_attn.o_proj.weight");
  CHECK(k && k->row0 == 16 && k->rows == 8 && k->cols == 16 && k->layer == 2);
  CHECK(k && st_slot(m, 2, ST_QKV_W) + 16 * 16 == m->params + k->offset);
  CHECK(vb && vb->row0 == 24 && st_slot(m, 2, ST_QKV_B) + 24 == m->params + vb->offset);
  CHECK(up && up->row0 == 24 && st_slot(m, 1, ST_FC_W) + 24 * 16 == m->params + up->offset);
  CHECK(o && o->rows == 16 && o->cols == 16 && !o->conv1d);
  st_model_free(m);
  /* tied, no bias: no lm_head, no biases */
  c = llama_cfg(1, 0);
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  CHECK(m->n_tab == 1 + 3 * 9 + 1);
  CHECK(st_model_find(m, "lm_head.weight") == NULL);
  CHECK(st_model_find(m, "model.layers.0.self_attn.q_proj.bias") == NULL);
  CHECK(st_global(m, ST_HEAD) == NULL && st_slot(m, 0, ST_QKV_B) == NULL);
  st_model_free(m);
}

static void check_gpt2(void) {
  st_config c = gpt2_cfg(1);
  st_model *m = NULL;
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  const char *want[] = {"transformer.wte.weight", "transformer.wpe.weight",
                        "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                        "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                        "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
                        "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
                        "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
                        "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias"};
  const char *mods[] = {"embed", "pos", "ln_1", "ln_1", "c_attn", "c_attn", "attn.c_proj",
                        "attn.c_proj", "ln_2", "ln_2", "c_fc", "c_fc", "mlp.c_proj",
                        "mlp.c_proj"};
  for (int i = 0; i < 14; i++) {
    CHECK_MSG(!strcmp(m->tab[i].name, want[i]), "%d: %s", i, m->tab[i].name);
    CHECK(!strcmp(m->tab[i].module, mods[i]));
    CHECK(m->tab[i].conv1d == (i == 4 || i == 6 || i == 10 || i == 12));
  }
  CHECK(m->n_tab == 2 + 2 * 12 + 2);
  CHECK(!strcmp(m->tab[m->n_tab - 1].name, "transformer.ln_f.bias"));
  const st_param *fc = st_model_find(m, "transformer.h.1.mlp.c_fc.weight");
  CHECK(fc && fc->rows == 32 && fc->cols == 8);

  /* Conv1D: the checkpoint's [in=8, out=24] becomes our [out, in]:
   * stored[r*in + c] = checkpoint[c*out + r] */
  const st_param *p = st_model_find(m, "transformer.h.1.attn.c_attn.weight");
  size_t n = (size_t)p->rows * p->cols;
  float *h = malloc(n * 4), *raw = malloc(n * 4), *back = malloc(n * 4);
  for (size_t i = 0; i < n; i++) h[i] = (float)i;
  CHECK(st_model_set(m, p, h, n) == ST_OK);
  memcpy(raw, m->params + p->offset, n * 4); /* cpu: device = host */
  int bad = 0;
  for (int r = 0; r < 24; r++)
    for (int col = 0; col < 8; col++) bad += raw[r * 8 + col] != h[col * 24 + r];
  CHECK(bad == 0);
  CHECK(st_model_get(m, p, back, n) == ST_OK && !memcmp(back, h, n * 4));
  CHECK_ERR(st_model_set(m, p, h, n - 1), "c_attn", "expected");
  free(h);
  free(raw);
  free(back);
  st_model_free(m);
}

static void check_init(void) {
  st_config c = llama_cfg(0, 1);
  c.vocab = 2000; /* enough samples for the std check */
  st_model *a = NULL, *b = NULL, *d = NULL;
  CHECK(st_model_new(&a, &c, st_backend_cpu()) == ST_OK);
  CHECK(st_model_new(&b, &c, st_backend_cpu()) == ST_OK);
  CHECK(st_model_new(&d, &c, st_backend_cpu()) == ST_OK);
  if (!a || !b || !d) return;
  st_model_init_random(a, 7);
  st_model_init_random(b, 7);
  st_model_init_random(d, 8);
  CHECK(!memcmp(a->params, b->params, a->n_params * 4));
  CHECK(memcmp(a->params, d->params, a->n_params * 4) != 0);
  for (int l = 0; l < c.n_layers; l++) {
    const float *n1 = st_slot(a, l, ST_LN1_W), *qb = st_slot(a, l, ST_QKV_B);
    for (int i = 0; i < c.dim; i++) CHECK(n1[i] == 1.0f);
    for (size_t i = 0; i < st_slot_size(a, l, ST_QKV_B); i++) CHECK(qb[i] == 0.0f);
  }
  const float *fn = st_global(a, ST_LNF_W);
  for (int i = 0; i < c.dim; i++) CHECK(fn[i] == 1.0f);
  /* sample std of N(0, 0.02) over 32000 values, and of the scaled
   * residual projections over all layers' down_proj */
  double s = 0, s2 = 0;
  size_t n = st_global_size(a, ST_WTE);
  const float *w = st_global(a, ST_WTE);
  for (size_t i = 0; i < n; i++) s += w[i], s2 += (double)w[i] * w[i];
  CHECK_NEAR(s / n, 0.0, 0.001);
  CHECK_NEAR(sqrt(s2 / n), 0.02, 0.0006);
  s2 = 0;
  n = 0;
  for (int l = 0; l < c.n_layers; l++) {
    const float *p = st_slot(a, l, ST_PRJ_W);
    for (size_t i = 0; i < st_slot_size(a, l, ST_PRJ_W); i++) s2 += (double)p[i] * p[i], n++;
  }
  CHECK_NEAR(sqrt(s2 / n), 0.02 / sqrt(2.0 * c.n_layers), 0.0008);
  st_model_free(a);
  st_model_free(b);
  st_model_free(d);
}

static void check_validate(void) {
  st_config c = llama_cfg(0, 0);
  CHECK(st_config_validate(&c) == ST_OK);
  c.n_kv_heads = 3;
  CHECK_ERR(st_config_validate(&c), "n_heads", "n_kv_heads");
  c = llama_cfg(0, 0);
  c.dim = -4;
  CHECK_ERR(st_config_validate(&c), "config", "dim = -4");
  c = llama_cfg(0, 0);
  c.head_dim = 5;
  CHECK_ERR(st_config_validate(&c), "head_dim", "even");
  c = llama_cfg(0, 0);
  c.norm_eps = 0;
  CHECK_ERR(st_config_validate(&c), "config", "norm_eps");
  c = llama_cfg(0, 0);
  c.vocab = 1 << 24;
  c.dim = 1 << 24;
  CHECK_ERR(st_config_validate(&c), "config", "parameters");
  c = gpt2_cfg(1);
  c.head_dim = 3;
  CHECK_ERR(st_config_validate(&c), "GPT-2", "head_dim");
  c = gpt2_cfg(1);
  c.n_kv_heads = 1;
  CHECK_ERR(st_config_validate(&c), "GPT-2", "n_kv_heads");
  st_model *m = (st_model *)1;
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_ERR && m == NULL);
}

int main(void) {
  st_config cs[] = {llama_cfg(0, 0), llama_cfg(1, 0), llama_cfg(0, 1), llama_cfg(1, 1),
                    gpt2_cfg(1), gpt2_cfg(0)};
  for (int i = 0; i < 6; i++) check_layout(&cs[i]);
  check_names_llama();
  check_gpt2();
  check_init();
  check_validate();
  TEST_DONE();
}
