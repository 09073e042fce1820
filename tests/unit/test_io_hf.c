/* test_io_hf.c - config.json parsing (defaults, families, RoPE in both
 * config styles, sliding windows, keys refused by name), the RoPE
 * frequency tables, HF
 * folders: save -> load round trips for each family, a GPT-2 checkpoint in
 * the original Conv1D layout without the "transformer." prefix, shards, and
 * missing / unexpected / misshapen tensors. */
#include <math.h>
#include <string.h>
#include <sys/resource.h>
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
  /* Mistral's window is a sliding window in every layer, not the context */
  CHECK(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS ", \"max_position_embeddings\":"
                 " 4096, \"sliding_window\": 128}", &c) == ST_OK);
  CHECK(c.max_seq == 4096 && c.qkv_bias == 0 && c.window == 128 && c.window_from == 0);
  CHECK(st_layer_window(&c, 0) == 128 && st_layer_window(&c, 1) == 128);
  /* MistralConfig's default window is 4096; null means none, and a window
   * as long as the context never binds */
  CHECK(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS "}", &c) == ST_OK);
  CHECK(c.max_seq == 131072 && c.window == 4096);
  CHECK(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS ", \"sliding_window\": null}",
                 &c) == ST_OK);
  CHECK(c.window == 0);
  CHECK(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS ", \"max_position_embeddings\":"
                 " 64, \"sliding_window\": 64}", &c) == ST_OK);
  CHECK(c.window == 0 && c.max_seq == 64);
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

#define QWEN_KEYS LLAMA_KEYS ", \"num_key_value_heads\": 2, \"max_position_embeddings\": 1024"

/* RoPE settings in both styles: top-level rope_theta / rope_scaling
 * (transformers 4.x) and rope_parameters (5.x) */
static void test_config_rope(void) {
  st_config c;
  /* a Qwen2 folder saved by transformers 5: theta inside rope_parameters */
  CHECK(read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", \"rope_parameters\": "
                 "{\"rope_theta\": 1000000.0, \"rope_type\": \"default\"}}", &c) == ST_OK);
  CHECK(c.rope_theta == 1e6f && c.rope_type == ST_ROPE_DEFAULT);
  CHECK(read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", \"rope_theta\": 1e6}", &c) == ST_OK);
  CHECK(c.rope_theta == 1e6f);
  /* SmolLM2-shaped, nanotron's extra keys included */
  CHECK(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_theta\": 100000,"
                 " \"rope_scaling\": null, \"rope_interleaved\": false, \"is_llama_config\":"
                 " true, \"pretraining_tp\": 1}", &c) == ST_OK);
  CHECK(c.rope_theta == 1e5f && c.rope_type == ST_ROPE_DEFAULT);
  /* Llama 3.1: llama3 scaling, both styles read the same */
  const char *l3 = "\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                   "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"";
  char js[1024];
  snprintf(js, sizeof js, "{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_theta\": 500000.0,"
           " \"rope_scaling\": {%s}}", l3);
  CHECK(read_cfg(js, &c) == ST_OK);
  st_config old = c;
  CHECK(c.rope_type == ST_ROPE_LLAMA3 && c.rope_theta == 5e5f && c.rope_factor == 8 &&
        c.rope_low_freq == 1 && c.rope_high_freq == 4 && c.rope_orig_max == 8192);
  snprintf(js, sizeof js, "{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_parameters\": "
           "{\"rope_theta\": 500000.0, %s}}", l3);
  CHECK(read_cfg(js, &c) == ST_OK);
  CHECK(!memcmp(&c, &old, sizeof c));
  /* original_max_position_embeddings defaults to max_position_embeddings */
  CHECK(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_scaling\": {\"rope_type\":"
                 " \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}}",
                 &c) == ST_OK);
  CHECK(c.rope_orig_max == 2048);
  /* linear, old "type" key */
  CHECK(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"rope_scaling\": "
                 "{\"type\": \"linear\", \"factor\": 2.0}}", &c) == ST_OK);
  CHECK(c.rope_type == ST_ROPE_LINEAR && c.rope_factor == 2 && c.rope_theta == 1e4f);
  /* Qwen2.5's long-context yarn: attention factor 0.1 ln 4 + 1, betas 32 / 1 */
  CHECK(read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", \"rope_theta\": 1e6, "
                 "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, "
                 "\"original_max_position_embeddings\": 256}}", &c) == ST_OK);
  CHECK(c.rope_type == ST_ROPE_YARN && c.rope_factor == 4 && c.rope_orig_max == 256 &&
        c.rope_beta_fast == 32 && c.rope_beta_slow == 1 && c.rope_truncate == 1 &&
        c.rope_attn_factor == (float)(0.1 * log(4.0) + 1));
  /* mscale / mscale_all_dim, a null factor (max / original), truncate false */
  CHECK(read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", \"rope_parameters\": "
                 "{\"rope_type\": \"yarn\", \"factor\": null, \"original_max_position_embeddings\":"
                 " 256, \"mscale\": 2, \"mscale_all_dim\": 1, \"beta_fast\": 0, \"truncate\": false}}",
                 &c) == ST_OK);
  CHECK(c.rope_factor == 4 && c.rope_beta_fast == 32 && c.rope_truncate == 0 &&
        c.rope_attn_factor == (float)((0.2 * log(4.0) + 1) / (0.1 * log(4.0) + 1)));
}

/* what strata does not compute is refused, naming the key */
static void test_config_refused(void) {
  st_config c;
#define REFUSED(extra, what)                                                          \
  CHECK_ERR(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", " extra "}", &c), \
            "cfg/config.json", what)
  REFUSED("\"rope_parameters\": {\"rope_type\": \"longrope\", \"short_factor\": [1], "
          "\"long_factor\": [1]}", "rope_parameters.rope_type 'longrope' is not supported");
  REFUSED("\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}",
          "rope_scaling.type 'dynamic' is not supported");
  REFUSED("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}",
          "missing key 'rope_scaling.low_freq_factor'");
  REFUSED("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2, \"mrope_section\": [1]}",
          "'rope_scaling.mrope_section' is not supported");
  REFUSED("\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\"}}",
          "'rope_parameters.full_attention' is not supported");
  REFUSED("\"rope_theta\": 10000, \"rope_parameters\": {\"rope_theta\": 1e6}",
          "rope_theta 10000 and rope_parameters.rope_theta 1e+06 differ");
  REFUSED("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}, \"rope_parameters\": "
          "{\"rope_type\": \"default\"}", "rope_scaling and rope_parameters are both given");
  REFUSED("\"partial_rotary_factor\": 0.5", "partial_rotary_factor = 0.5");
  REFUSED("\"rope_interleaved\": true", "rope_interleaved");
  REFUSED("\"attention_bias\": true", "attention_bias");
  REFUSED("\"mlp_bias\": true", "mlp_bias");
  REFUSED("\"sliding_window\": 16", "config key 'sliding_window' is not supported");
  REFUSED("\"quantization_config\": {\"quant_method\": \"gptq\"}",
          "config key 'quantization_config' is not supported");
  REFUSED("\"some_future_key\": 1", "config key 'some_future_key' is not supported");
  REFUSED("\"is_encoder_decoder\": true", "is_encoder_decoder");
  REFUSED("\"pruned_heads\": {\"0\": [1]}", "pruned_heads");
#undef REFUSED
  CHECK_ERR(read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", \"use_mrope\": true}", &c),
            "config.json", "use_mrope");
  CHECK_ERR(read_cfg("{\"model_type\": \"mistral\", " LLAMA_KEYS ", \"layer_types\": "
                     "[\"full_attention\", \"full_attention\"]}", &c), "config.json",
            "config key 'layer_types'");
  CHECK_ERR(read_cfg("{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_layer\": 2, \"n_head\": 2,"
                     " \"vocab_size\": 13, \"n_positions\": 7, \"rope_theta\": 1e4}", &c),
            "config.json", "config key 'rope_theta'");
  CHECK_ERR(read_cfg("{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_layer\": 2, \"n_head\": 2,"
                     " \"vocab_size\": 13, \"n_positions\": 7, \"add_cross_attention\": true}", &c),
            "config.json", "add_cross_attention");
  /* harmless keys stay quiet, whatever their value */
  CHECK(read_cfg("{\"model_type\": \"llama\", " LLAMA_KEYS ", \"eos_token_id\": [1, 2], "
                 "\"torch_dtype\": \"bfloat16\", \"use_cache\": false, \"architectures\": "
                 "[\"LlamaForCausalLM\"], \"transformers_version\": \"9.0\", \"attention_dropout\":"
                 " 0.0, \"rope_scaling\": null, \"pruned_heads\": {}, \"_name_or_path\": \"x\","
                 " \"task_specific_params\": {}, \"max_length\": 20}", &c) == ST_OK);
}

/* Qwen2's sliding window: use_sliding_window, then the layers
 * l >= max_window_layers, or those that layer_types marks */
static void test_config_window(void) {
  st_config c;
#define QWEN(extra) read_cfg("{\"model_type\": \"qwen2\", " QWEN_KEYS ", " extra "}", &c)
  CHECK(QWEN("\"sliding_window\": 16, \"use_sliding_window\": false, \"max_window_layers\": 0")
        == ST_OK);
  CHECK(c.window == 0);
  CHECK(QWEN("\"sliding_window\": 16, \"use_sliding_window\": true, \"max_window_layers\": 1")
        == ST_OK);
  CHECK(c.window == 16 && c.window_from == 1 && st_layer_window(&c, 0) == 0 &&
        st_layer_window(&c, 1) == 16);
  /* Qwen2Config's default max_window_layers (28) leaves 2 layers unwindowed */
  CHECK(QWEN("\"sliding_window\": 16, \"use_sliding_window\": true") == ST_OK);
  CHECK(c.window == 0);
  /* layer_types, as transformers 5 saves it, wins over max_window_layers */
  CHECK(QWEN("\"sliding_window\": 16, \"use_sliding_window\": true, \"max_window_layers\": 1,"
             " \"layer_types\": [\"sliding_attention\", \"sliding_attention\"]") == ST_OK);
  CHECK(c.window == 16 && c.window_from == 0);
  CHECK(QWEN("\"sliding_window\": null, \"use_sliding_window\": true, \"layer_types\": "
             "[\"full_attention\", \"full_attention\"]") == ST_OK);
  CHECK(c.window == 0);
  CHECK_ERR(QWEN("\"sliding_window\": 16, \"use_sliding_window\": true, \"layer_types\": "
                 "[\"sliding_attention\", \"full_attention\"]"), "config.json",
            "layer_types has full_attention above sliding_attention");
  CHECK_ERR(QWEN("\"use_sliding_window\": false, \"layer_types\": "
                 "[\"full_attention\", \"sliding_attention\"]"), "config.json",
            "use_sliding_window is false");
  CHECK_ERR(QWEN("\"layer_types\": [\"full_attention\", \"chunked_attention\"]"),
            "config.json", "layer_types[1]");
  CHECK_ERR(QWEN("\"layer_types\": [\"full_attention\"]"), "config.json",
            "layer_types must list 2 layers");
#undef QWEN
  /* the cuda backend has no sliding window: refused by name there */
  c.window = 16;
  c.window_from = 0;
  st_backend nowin = *st_backend_cpu();
  nowin.attn_window = 0;
  st_model *m = NULL;
  CHECK(st_model_new(&m, &c, &nowin) == ST_ERR && strstr(st_errmsg(), "sliding_window 16"));
}

/* st_rope_freqs against transformers' ROPE_INIT_FUNCTIONS, written out in
 * double from modeling_rope_utils.py (values checked against
 * transformers 5.24's inv_freq for these configs to 1 ulp of float) */
static void test_rope_freqs(void) {
  st_config c = {.arch = ST_ARCH_LLAMA, .head_dim = 16, .rope_theta = 500000};
  float f[8], s;
  double base[8];
  for (int i = 0; i < 8; i++) base[i] = pow(500000.0, -2.0 * i / 16);
  st_rope_freqs(&c, f, &s);
  double worst = 0;
  for (int i = 0; i < 8; i++) worst = fmax(worst, fabs(f[i] / base[i] - 1));
  CHECK_MSG(worst < 3e-7 && s == 1.0f, "default: rel %.3g", worst);
  c.rope_type = ST_ROPE_LINEAR;
  c.rope_factor = 4;
  st_rope_freqs(&c, f, &s);
  for (int i = 0; i < 8; i++) worst = fmax(worst, fabs(f[i] * 4 / base[i] - 1));
  CHECK_MSG(worst < 3e-7 && s == 1.0f, "linear: rel %.3g", worst);
  /* llama3, factor 8, low 1, high 4, original context 8192: wavelengths
   * 2 pi / f below 2048 keep f, above 8192 get f / 8, between them
   * interpolate with smooth = (8192 / wavelength - 1) / 3 */
  c.rope_type = ST_ROPE_LLAMA3;
  c.rope_factor = 8, c.rope_low_freq = 1, c.rope_high_freq = 4;
  c.rope_orig_max = 8192;
  st_rope_freqs(&c, f, &s);
  int kinds[3] = {0, 0, 0};
  for (int i = 0; i < 8; i++) {
    double wl = 2 * M_PI / base[i], want = base[i];
    if (wl > 8192) want = base[i] / 8, kinds[2]++;
    else if (wl >= 2048) {
      double sm = (8192 / wl - 1) / 3;
      want = (1 - sm) * base[i] / 8 + sm * base[i];
      kinds[1]++;
    } else kinds[0]++;
    worst = fmax(worst, fabs(f[i] / want - 1));
  }
  CHECK_MSG(worst < 1e-6 && kinds[0] && kinds[1] && kinds[2] && s == 1.0f,
            "llama3: rel %.3g (%d high, %d medium, %d low)", worst, kinds[0],
            kinds[1], kinds[2]);
  /* yarn, factor 4, original context 64, betas 32 / 1, truncated: the
   * correction range [floor(lo), ceil(hi)] ramps from extrapolation (f) to
   * interpolation (f / 4); the attention factor is 0.1 ln 4 + 1 */
  c = (st_config){.arch = ST_ARCH_LLAMA, .head_dim = 16, .rope_theta = 10000,
                  .rope_type = ST_ROPE_YARN, .rope_factor = 4,
                  .rope_orig_max = 64, .rope_beta_fast = 32,
                  .rope_beta_slow = 1, .rope_truncate = 1,
                  .rope_attn_factor = (float)(0.1 * log(4.0) + 1)};
  st_rope_freqs(&c, f, &s);
  double cd = 16 / (2 * log(10000.0));
  double lo = floor(cd * log(64 / (32 * 2 * M_PI))), hi = ceil(cd * log(64 / (2 * M_PI)));
  lo = fmax(lo, 0), hi = fmin(hi, 15);
  worst = 0;
  for (int i = 0; i < 8; i++) {
    double b = pow(10000.0, -2.0 * i / 16);
    double ramp = fmin(fmax((i - lo) / (hi - lo), 0), 1);
    double want = b / 4 * ramp + b * (1 - ramp);
    worst = fmax(worst, fabs(f[i] / want - 1));
  }
  CHECK_MSG(worst < 1e-6 && s == c.rope_attn_factor, "yarn: rel %.3g", worst);
  CHECK(st_rope_validate(&c) == ST_OK);
  c.rope_attn_factor = 0;
  CHECK(st_rope_validate(&c) == ST_ERR);
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
  st_config llama = {.arch = ST_ARCH_LLAMA, .n_layers = 2, .dim = 16, .hidden = 40,
                     .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .vocab = 32,
                     .max_seq = 64, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
  round_trip(llama, "llama");
  st_config l3 = llama;
  l3.rope_theta = 5e5f;
  l3.rope_type = ST_ROPE_LLAMA3;
  l3.rope_factor = 32, l3.rope_low_freq = 1, l3.rope_high_freq = 4, l3.rope_orig_max = 8192;
  round_trip(l3, "llama3");
  st_config lin = llama;
  lin.rope_type = ST_ROPE_LINEAR;
  lin.rope_factor = 2.5f;
  round_trip(lin, "linear");
  st_config mistral = llama;
  mistral.window = 24;
  round_trip(mistral, "mistral");
  st_config qwen = llama;
  qwen.qkv_bias = 1;
  qwen.tied = 1;
  qwen.head_dim = 6; /* NH*HS != C is allowed for the Llama family */
  qwen.rope_theta = 1e6f;
  round_trip(qwen, "qwen2");
  qwen.window = 20;
  qwen.window_from = 1;
  qwen.rope_type = ST_ROPE_YARN;
  qwen.rope_factor = 4, qwen.rope_orig_max = 16, qwen.rope_beta_fast = 32;
  qwen.rope_beta_slow = 1, qwen.rope_truncate = 1, qwen.rope_attn_factor = 1.1386294f;
  round_trip(qwen, "qwen2_window_yarn");
  st_config gpt2 = {.arch = ST_ARCH_GPT2, .n_layers = 2, .dim = 8, .hidden = 32,
                    .n_heads = 2, .n_kv_heads = 2, .head_dim = 4, .vocab = 13,
                    .max_seq = 7, .norm_eps = 1e-5f, .tied = 1};
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
  st_config c = {.arch = ST_ARCH_LLAMA, .n_layers = 2, .dim = 16, .hidden = 40,
                 .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .vocab = 32,
                 .max_seq = 64, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
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
  CHECK(st_hfconfig_write(path, &c, NULL) == ST_OK);
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
  /* a config.json that claims an 8-layer dim-8192 model beside these small
   * tensors is refused from the file headers, before any of its 2.6G
   * parameters are allocated (peak RSS stays far below their 10 GB) */
  CHECK(st_sft_write(path, e, n, NULL, NULL, 0) == ST_OK);
  st_config huge = c;
  huge.n_layers = 8, huge.dim = 8192, huge.hidden = 28672, huge.n_heads = 64;
  huge.n_kv_heads = 8, huge.head_dim = 128, huge.vocab = 32000;
  pjoin(path, d, "config.json");
  CHECK(st_hfconfig_write(path, &huge, NULL) == ST_OK);
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  CHECK_ERR(st_load_hf(&b, d, st_backend_cpu()), "model.safetensors",
            "has shape [32, 16], the config implies [32000, 8192]");
  getrusage(RUSAGE_SELF, &ru1);
  CHECK_MSG(ru1.ru_maxrss - ru0.ru_maxrss < 256 * 1024, "peak RSS grew by %ld KB",
            ru1.ru_maxrss - ru0.ru_maxrss);
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
  free(e);
  st_model_free(m);
}

int main(void) {
  tmpdir(dir);
  test_config();
  test_config_rope();
  test_config_refused();
  test_config_window();
  test_rope_freqs();
  test_round_trips();
  test_gpt2_original();
  test_bad_folders();
  rmtree(dir);
  TEST_DONE();
}
