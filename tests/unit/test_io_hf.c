/* test_io_hf.c - config.json parsing (defaults, families, errors), HF
 * folders: save -> load round trips for each family, a GPT-2 checkpoint in
 * the original Conv1D layout without the "transformer." prefix, shards, and
 * missing / unexpected / misshapen tensors. */
#include <string.h>
#include <sys/stat.h>

#include "hf_config.h"
#include "model.h"
#include "model_io.h"
#include "safetensors.h"
#include "test.h"
#include "test_io_util.h"

static char dir[64], path[512], sub[512];

static const char *folder(const char *name) {
  pjoin(sub, dir, name);
  mkdir(sub, 0755);
  return sub;
}

static int read_cfg(const char *json, st_config *c) {
  pjoin(path, folder("cfg"), "config.json");
  write_str(path, json);
  return st_hfconfig_read(path, c);
}

#define LLAMA_KEYS                                                                \
  "\"hidden_size\": 16, \"intermediate_size\": 40, \"num_hidden_layers\": 2, "    \
  "\"num_attention_heads\": 4, \"vocab_size\": 32"

static void test_config(void) {
  st_config c;
  CHECK(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS "}", &c) == ST_OK);
  /* transformers' LlamaConfig defaults */
  CHECK(c.arch == ST_ARCH_LLAMA && c.dim == 16 && c.hidden == 40 && c.n_layers == 2 &&
        c.n_heads == 4 && c.n_kv_heads == 4 && c.head_dim == 4 && c.vocab == 32 &&
        c.max_seq == 2048 && c.norm_eps == 1e-6f && c.rope_theta == 10000.0f &&
        c.tied == 0 && c.qkv_bias == 0);
  CHECK(read_cfg("{\"model_type\": \"qwen2\", " LLAMA_KEYS ", \"num_key_value_heads\": 2,"
                 " \"head_dim\": 8, \"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-5,"
                 " \"tie_word_embeddings\": true, \"max_position_embeddings\": 64,"
                 " \"sliding_window\": 16, \"use_sliding_window\": false}", &c) == ST_OK);
  CHECK(c.qkv_bias == 1 && c.n_kv_heads == 2 && c.head_dim == 8 && c.tied == 1 &&
        c.rope_theta == 1e6f && c.norm_eps == 1e-5f && c.max_seq == 64);
  /* Mistral's window caps the context */
  CHECK(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS ", \"max_position_embeddings\":"
                 " 4096, \"sliding_window\": 128}", &c) == ST_OK);
  CHECK(c.max_seq == 128 && c.qkv_bias == 0);
  CHECK(read_cfg("{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_layer\": 2, \"n_head\": 2,"
                 " \"vocab_size\": 13, \"n_positions\": 7, \"n_inner\": null}", &c) == ST_OK);
  CHECK(c.arch == ST_ARCH_GPT2 && c.hidden == 32 && c.head_dim == 4 && c.n_kv_heads == 2 &&
        c.tied == 1 && c.norm_eps == 1e-5f && c.max_seq == 7);

  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", \"hidden_size\": 16}", &c),
            "cfg/config.json", "missing key 'intermediate_size'");
  CHECK_ERR(read_cfg("{\"hidden_size\": 16}", &c), "config.json", "missing key 'model_type'");
  CHECK_ERR(read_cfg("{\"model_type\": \"bert\"}", &c), "config.json",
            "model_type 'bert' is not supported");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\",\n \"hidden_size\": }", &c), "config.json",
            "line 2");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"hidden_act\": \"gelu\"}", &c),
            "config.json", "hidden_act 'gelu'");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_scaling\": "
                     "{\"type\": \"linear\", \"factor\": 2.0}}", &c), "config.json", "rope_scaling");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"attention_bias\": true}", &c),
            "config.json", "attention_bias");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"num_key_value_heads\": 3}", &c),
            "config.json", "n_kv_heads");
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"vocab_size\": -3}", &c),
            "config.json", "vocab_size");
  CHECK_ERR(read_cfg("{\"model_type\": \"gpt2\", \"n_embd\": 9, \"n_layer\": 2, \"n_head\": 2,"
                     " \"vocab_size\": 13, \"n_positions\": 7}", &c), "config.json", "n_head");
  st_model *m = NULL;
  CHECK_ERR(st_load_hf(&m, folder("nothing"), st_backend_cpu()), "nothing/config.json",
            "No such file");
}

static void snapshot(const st_model *m, float **out) {
  *out = malloc(m->n_params * 4);
  m->be->download(*out, m->params, m->n_params * 4);
}

static void round_trip(st_config c, const char *name) {
  st_model *m = NULL, *b = NULL;
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  st_model_init_random(m, 11);
  char d[512];
  pjoin(d, dir, name);
  CHECK(st_save_hf(m, d) == ST_OK);
  CHECK_MSG(st_load_hf(&b, d, st_backend_cpu()) == ST_OK, "%s: %s", name, st_errmsg());
  if (b) {
    CHECK(!memcmp(&b->cfg, &m->cfg, sizeof c));
    float *x, *y;
    snapshot(m, &x);
    snapshot(b, &y);
    CHECK(b->n_params == m->n_params && !memcmp(x, y, m->n_params * 4));
    free(x);
    free(y);
    st_model_free(b);
  }
  /* the same through the config.json path */
  pjoin(path, d, "config.json");
  CHECK(st_model_load(&b, path, st_backend_cpu()) == ST_OK);
  st_model_free(b);
  st_model_free(m);
}

static void test_round_trips(void) {
  st_config llama = {ST_ARCH_LLAMA, 2, 16, 40, 4, 2, 4, 32, 64, 1e-5f, 10000.0f, 0, 0};
  round_trip(llama, "llama");
  st_config qwen = llama;
  qwen.qkv_bias = 1;
  qwen.tied = 1;
  qwen.head_dim = 6; /* NH*HS != C is allowed for the Llama family */
  qwen.rope_theta = 1e6f;
  round_trip(qwen, "qwen2");
  st_config gpt2 = {ST_ARCH_GPT2, 2, 8, 32, 2, 2, 4, 13, 7, 1e-5f, 0.0f, 1, 0};
  round_trip(gpt2, "gpt2");
  gpt2.tied = 0;
  gpt2.hidden = 20;
  round_trip(gpt2, "gpt2_untied");
}

/* GPT-2 as the original checkpoints store it: no "transformer." prefix,
 * Conv1D weights [in, out], attn.bias mask buffers, a tied lm_head copy */
static void test_gpt2_original(void) {
  enum { C = 4, V = 5, P = 3, NL = 1 };
  const char *d = folder("gpt2_orig");
  pjoin(path, d, "config.json");
  write_str(path, "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2,"
                  " \"vocab_size\": 5, \"n_positions\": 3, \"activation_function\": \"gelu_new\"}");
  static float buf[4096];
  float mask[9] = {1, 0, 0, 1, 1, 0, 1, 1, 1};
  size_t used = 0;
  st_sft_entry e[32];
  int n = 0;
#define T(nm, nd, d0, d1)                                                          \
  do {                                                                               \
    e[n] = (st_sft_entry){nm, ST_SFT_F32, nd, {d0, d1}, buf + used};                 \
    used += (size_t)(d0) * (nd == 2 ? (d1) : 1);                                     \
    n++;                                                                             \
  } while (0)
  T("wte.weight", 2, V, C);
  T("wpe.weight", 2, P, C);
  T("h.0.ln_1.weight", 1, C, 0);
  T("h.0.ln_1.bias", 1, C, 0);
  T("h.0.attn.c_attn.weight", 2, C, 3 * C);
  T("h.0.attn.c_attn.bias", 1, 3 * C, 0);
  T("h.0.attn.c_proj.weight", 2, C, C);
  T("h.0.attn.c_proj.bias", 1, C, 0);
  T("h.0.ln_2.weight", 1, C, 0);
  T("h.0.ln_2.bias", 1, C, 0);
  T("h.0.mlp.c_fc.weight", 2, C, 4 * C);
  T("h.0.mlp.c_fc.bias", 1, 4 * C, 0);
  T("h.0.mlp.c_proj.weight", 2, 4 * C, C);
  T("h.0.mlp.c_proj.bias", 1, C, 0);
  T("ln_f.weight", 1, C, 0);
  T("ln_f.bias", 1, C, 0);
  T("lm_head.weight", 2, V, C);
#undef T
  for (size_t i = 0; i < used; i++) buf[i] = (float)i;
  e[n++] = (st_sft_entry){"h.0.attn.bias", ST_SFT_F32, 4, {1, 1, 3, 3}, mask};
  pjoin(path, d, "model.safetensors");
  CHECK(st_sft_write(path, e, n, NULL, NULL, 0) == ST_OK);
  st_model *m = NULL;
  CHECK_MSG(st_load_hf(&m, d, st_backend_cpu()) == ST_OK, "%s", st_errmsg());
  if (!m) return;
  /* stored [out, in][r, c] = file [in, out][c, r] */
  const float *qkv = st_slot(m, 0, ST_QKV_W), *fc = st_slot(m, 0, ST_FC_W);
  const float *f_qkv = e[4].data, *f_fc = e[10].data;
  int bad = 0;
  for (int r = 0; r < 3 * C; r++)
    for (int c = 0; c < C; c++) bad += qkv[r * C + c] != f_qkv[c * 3 * C + r];
  for (int r = 0; r < 4 * C; r++)
    for (int c = 0; c < C; c++) bad += fc[r * C + c] != f_fc[c * 4 * C + r];
  CHECK(bad == 0);
  CHECK(!memcmp(st_global(m, ST_WPE), e[1].data, P * C * 4));
  CHECK(!memcmp(st_slot(m, 0, ST_QKV_B), e[5].data, 3 * C * 4));
  CHECK(!memcmp(st_global(m, ST_LNF_B), e[15].data, C * 4));
  st_model_free(m);

  /* an unexpected tensor is refused */
  float z[4] = {0};
  e[n] = (st_sft_entry){"h.0.attn.q_norm.weight", ST_SFT_F32, 1, {C}, z};
  CHECK(st_sft_write(path, e, n + 1, NULL, NULL, 0) == ST_OK);
  CHECK_ERR(st_load_hf(&m, d, st_backend_cpu()), "gpt2_orig/model.safetensors",
            "unexpected tensor 'h.0.attn.q_norm.weight'");
  /* a Conv1D weight in nn.Linear orientation is a shape error */
  e[4].shape[0] = 3 * C;
  e[4].shape[1] = C;
  CHECK(st_sft_write(path, e, n, NULL, NULL, 0) == ST_OK);
  CHECK_ERR(st_load_hf(&m, d, st_backend_cpu()), "model.safetensors",
            "'h.0.attn.c_attn.weight' has shape [12, 4], the config implies [4, 12]");
}

static void test_bad_folders(void) {
  st_config c = {ST_ARCH_LLAMA, 2, 16, 40, 4, 2, 4, 32, 64, 1e-5f, 10000.0f, 0, 0};
  st_model *m = NULL, *b = NULL;
  CHECK(st_model_new(&m, &c, st_backend_cpu()) == ST_OK);
  if (!m) return;
  st_model_init_random(m, 3);
  /* the tensors of a saved model as entries */
  int n = m->n_tab;
  st_sft_entry *e = calloc((size_t)n, sizeof *e);
  float **bufs = calloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const st_param *p = &m->tab[i];
    bufs[i] = malloc((size_t)p->rows * p->cols * 4);
    st_model_get(m, p, bufs[i], (size_t)p->rows * p->cols);
    e[i] = (st_sft_entry){p->name, ST_SFT_F32, p->is_bias ? 1 : 2,
                          {p->is_bias ? p->cols : p->rows, p->cols}, bufs[i]};
  }
  const char *d = folder("sharded");
  pjoin(path, d, "config.json");
  CHECK(st_hfconfig_write(path, &c) == ST_OK);
  /* weights only in shards */
  pjoin(path, d, "model.safetensors.index.json");
  write_str(path, "{\"metadata\": {}, \"weight_map\": {\"model.embed_tokens.weight\": "
                  "\"a.safetensors\", \"lm_head.weight\": \"b.safetensors\"}}");
  pjoin(path, d, "a.safetensors");
  CHECK(st_sft_write(path, e, n / 2, NULL, NULL, 0) == ST_OK);
  pjoin(path, d, "b.safetensors");
  CHECK(st_sft_write(path, e + n / 2, n - n / 2, NULL, NULL, 0) == ST_OK);
  CHECK_MSG(st_load_hf(&b, d, st_backend_cpu()) == ST_OK, "%s", st_errmsg());
  if (b) {
    CHECK(!memcmp(b->params, m->params, m->n_params * 4));
    st_model_free(b);
  }
  /* a missing shard tensor */
  CHECK(st_sft_write(path, e + n / 2, n - n / 2 - 1, NULL, NULL, 0) == ST_OK);
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "sharded", "missing tensor 'lm_head.weight'");
  /* the same tensor in two shards */
  CHECK(st_sft_write(path, e + n / 2 - 1, n - n / 2 + 1, NULL, NULL, 0) == ST_OK);
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "b.safetensors", "appears twice");
  /* a shard outside the folder */
  pjoin(path, d, "model.safetensors.index.json");
  write_str(path, "{\"weight_map\": {\"x\": \"../evil.safetensors\"}}");
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "index.json", "file name in the folder");
  /* no weights at all */
  remove(path);
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "sharded", "no model.safetensors");
  /* a corrupt single file */
  pjoin(path, d, "model.safetensors");
  write_str(path, "garbage!garbage!");
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "sharded/model.safetensors", "safetensors");
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
  free(e);
  st_model_free(m);
}

int main(void) {
  tmpdir(dir);
  test_config();
  test_round_trips();
  test_gpt2_original();
  test_bad_folders();
  rmtree(dir);
  TEST_DONE();
}
