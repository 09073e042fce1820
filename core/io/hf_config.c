/* hf_config.c - Hugging Face config.json <-> st_config (see hf_config.h).
 *
 * Optional keys take the defaults of the transformers config classes, so a
 * config.json saved with only non-default values reads the same here as in
 * transformers. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "hf_config.h"

typedef struct {
  const char *path;
  json_t *root;
} cfgfile;

static json_t *get(const cfgfile *f, const char *key) {
  json_t *v = json_object_get(f->root, key);
  return json_is_null(v) ? NULL : v;
}

/* def < 0: the key is required */
static int get_int(const cfgfile *f, const char *key, int def, int *out) {
  json_t *v = get(f, key);
  if (!v) {
    if (def < 0) return st_err("%s: missing key '%s'", f->path, key);
    *out = def;
    return ST_OK;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > INT_MAX)
    return st_err("%s: key '%s' must be a non-negative integer", f->path, key);
  *out = (int)json_integer_value(v);
  return ST_OK;
}

static int get_float(const cfgfile *f, const char *key, double def, float *out) {
  json_t *v = get(f, key);
  if (!v) {
    *out = (float)def;
    return ST_OK;
  }
  if (!json_is_number(v)) return st_err("%s: key '%s' must be a number", f->path, key);
  *out = (float)json_number_value(v);
  return ST_OK;
}

static int get_bool(const cfgfile *f, const char *key, int def, int *out) {
  json_t *v = get(f, key);
  if (!v) {
    *out = def;
    return ST_OK;
  }
  if (!json_is_boolean(v)) return st_err("%s: key '%s' must be true or false", f->path, key);
  *out = json_is_true(v);
  return ST_OK;
}

/* a string key that, when present, must be one of the allowed values */
static int want_str(const cfgfile *f, const char *key, const char *a,
                    const char *b) {
  json_t *v = get(f, key);
  if (!v) return ST_OK;
  const char *s = json_string_value(v);
  if (!s || (strcmp(s, a) && (!b || strcmp(s, b))))
    return st_err("%s: %s %s%s%s is not supported (strata computes %s)",
                  f->path, key, s ? "'" : "", s ? s : "(not a string)",
                  s ? "'" : "", a);
  return ST_OK;
}

static int unsupported_if_true(const cfgfile *f, const char *key, const char *what) {
  int on = 0;
  if (get_bool(f, key, 0, &on) != ST_OK) return ST_ERR;
  return on ? st_err("%s: %s = true (%s) is not supported", f->path, key, what)
            : ST_OK;
}

static int read_llama(const cfgfile *f, const char *type, st_config *c) {
  int qwen2 = !strcmp(type, "qwen2"), mistral = !strcmp(type, "mistral");
  c->arch = ST_ARCH_LLAMA;
  c->qkv_bias = qwen2;
  int heads_default;
  if (get_int(f, "hidden_size", -1, &c->dim) || get_int(f, "intermediate_size", -1, &c->hidden) ||
      get_int(f, "num_hidden_layers", -1, &c->n_layers) ||
      get_int(f, "num_attention_heads", -1, &c->n_heads) ||
      get_int(f, "vocab_size", -1, &c->vocab))
    return ST_ERR;
  heads_default = c->n_heads;
  if (get_int(f, "num_key_value_heads", heads_default, &c->n_kv_heads) ||
      get_int(f, "max_position_embeddings", qwen2 ? 32768 : mistral ? 131072 : 2048,
              &c->max_seq) ||
      get_float(f, "rms_norm_eps", 1e-6, &c->norm_eps) ||
      get_float(f, "rope_theta", 10000.0, &c->rope_theta) ||
      get_bool(f, "tie_word_embeddings", 0, &c->tied))
    return ST_ERR;
  if (!get(f, "head_dim")) {
    if (c->n_heads < 1 || c->dim % c->n_heads)
      return st_err("%s: hidden_size %d is not a multiple of num_attention_heads "
                    "%d and head_dim is not given", f->path, c->dim, c->n_heads);
    c->head_dim = c->dim / c->n_heads;
  } else if (get_int(f, "head_dim", -1, &c->head_dim)) {
    return ST_ERR;
  }
  if (want_str(f, "hidden_act", "silu", NULL)) return ST_ERR;
  if (get(f, "rope_scaling"))
    return st_err("%s: rope_scaling is not supported (plain RoPE only)", f->path);
  if (!qwen2 && (unsupported_if_true(f, "attention_bias", "q/k/v/o biases") ||
                 unsupported_if_true(f, "mlp_bias", "MLP biases")))
    return ST_ERR;
  /* Full causal attention equals sliding-window attention as long as the
   * context never exceeds the window, so cap the context there. */
  int window = 0, use_window = !qwen2;
  if (qwen2 && get_bool(f, "use_sliding_window", 0, &use_window)) return ST_ERR;
  if (use_window && get_int(f, "sliding_window", 0, &window)) return ST_ERR;
  if (use_window && window > 0 && window < c->max_seq) c->max_seq = window;
  return ST_OK;
}

static int read_gpt2(const cfgfile *f, st_config *c) {
  c->arch = ST_ARCH_GPT2;
  if (get_int(f, "n_embd", -1, &c->dim) || get_int(f, "n_layer", -1, &c->n_layers) ||
      get_int(f, "n_head", -1, &c->n_heads) || get_int(f, "vocab_size", -1, &c->vocab) ||
      get_int(f, "n_positions", -1, &c->max_seq) ||
      get_float(f, "layer_norm_epsilon", 1e-5, &c->norm_eps) ||
      get_bool(f, "tie_word_embeddings", 1, &c->tied))
    return ST_ERR;
  if (get_int(f, "n_inner", 4 * c->dim, &c->hidden)) return ST_ERR;
  if (c->n_heads < 1 || c->dim % c->n_heads)
    return st_err("%s: n_embd %d is not a multiple of n_head %d", f->path,
                  c->dim, c->n_heads);
  c->n_kv_heads = c->n_heads;
  c->head_dim = c->dim / c->n_heads;
  int scale = 1;
  if (want_str(f, "activation_function", "gelu_new", "gelu_pytorch_tanh") ||
      get_bool(f, "scale_attn_weights", 1, &scale) ||
      unsupported_if_true(f, "scale_attn_by_inverse_layer_idx", "per-layer attention scale"))
    return ST_ERR;
  if (!scale) return st_err("%s: scale_attn_weights = false is not supported", f->path);
  return ST_OK;
}

int st_hfconfig_read(const char *path, st_config *c) {
  memset(c, 0, sizeof *c);
  json_error_t je;
  cfgfile f = {path, json_load_file(path, 0, &je)};
  if (!f.root) {
    FILE *fp = fopen(path, "r");
    if (!fp) return st_err("%s: %s", path, strerror(errno));
    fclose(fp);
    if (je.line < 1) return st_err("%s: %s", path, je.text);
    return st_err("%s: line %d: %s", path, je.line, je.text);
  }
  int rc;
  const char *type = json_string_value(get(&f, "model_type"));
  if (!json_is_object(f.root))
    rc = st_err("%s: not a JSON object", path);
  else if (!get(&f, "model_type"))
    rc = st_err("%s: missing key 'model_type'", path);
  else if (!type)
    rc = st_err("%s: model_type must be a string", path);
  else if (!strcmp(type, "llama") || !strcmp(type, "mistral") || !strcmp(type, "qwen2"))
    rc = read_llama(&f, type, c);
  else if (!strcmp(type, "gpt2"))
    rc = read_gpt2(&f, c);
  else
    rc = st_err("%s: model_type '%s' is not supported (llama, mistral, qwen2, "
                "gpt2)", path, type);
  if (rc == ST_OK && st_config_validate(c) != ST_OK) rc = st_err_prefix("%s: ", path);
  json_decref(f.root);
  return rc;
}

/* ------------------------------------------------------------------ */

/* the shortest decimal that reads back as the same float, so 1e-5f is
 * written "1e-05", not 9.99999974737875e-06 */
static json_t *jfloat(float x) {
  char s[32];
  for (int p = 1; p <= 9; p++) {
    snprintf(s, sizeof s, "%.*g", p, x);
    if (strtof(s, NULL) == x) break;
  }
  return json_real(strtod(s, NULL));
}

static void set(json_t *o, const char *k, json_t *v) { json_object_set_new(o, k, v); }

int st_hfconfig_write(const char *path, const st_config *c) {
  json_t *o = json_object();
  if (!o) return st_err("out of memory");
  if (c->arch == ST_ARCH_GPT2) {
    set(o, "architectures", json_pack("[s]", "GPT2LMHeadModel"));
    set(o, "model_type", json_string("gpt2"));
    set(o, "activation_function", json_string("gelu_new"));
    set(o, "n_embd", json_integer(c->dim));
    set(o, "n_layer", json_integer(c->n_layers));
    set(o, "n_head", json_integer(c->n_heads));
    set(o, "n_inner", c->hidden == 4 * c->dim ? json_null() : json_integer(c->hidden));
    set(o, "n_positions", json_integer(c->max_seq));
    set(o, "n_ctx", json_integer(c->max_seq));
    set(o, "vocab_size", json_integer(c->vocab));
    set(o, "layer_norm_epsilon", jfloat(c->norm_eps));
    set(o, "tie_word_embeddings", json_boolean(c->tied));
    /* GPT-2's <|endoftext|> when the vocabulary has it; null, not the
     * class default 50256, for smaller vocabularies */
    int eot = c->vocab > 50256;
    set(o, "bos_token_id", eot ? json_integer(50256) : json_null());
    set(o, "eos_token_id", eot ? json_integer(50256) : json_null());
  } else {
    /* Llama's attention_bias would add an o_proj bias too; Qwen2 is the
     * family with exactly q/k/v biases. */
    int q = c->qkv_bias;
    set(o, "architectures", json_pack("[s]", q ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    set(o, "model_type", json_string(q ? "qwen2" : "llama"));
    set(o, "hidden_act", json_string("silu"));
    set(o, "hidden_size", json_integer(c->dim));
    set(o, "intermediate_size", json_integer(c->hidden));
    set(o, "num_hidden_layers", json_integer(c->n_layers));
    set(o, "num_attention_heads", json_integer(c->n_heads));
    set(o, "num_key_value_heads", json_integer(c->n_kv_heads));
    set(o, "head_dim", json_integer(c->head_dim));
    set(o, "vocab_size", json_integer(c->vocab));
    set(o, "max_position_embeddings", json_integer(c->max_seq));
    set(o, "rms_norm_eps", jfloat(c->norm_eps));
    set(o, "rope_theta", jfloat(c->rope_theta));
    set(o, "tie_word_embeddings", json_boolean(c->tied));
    if (q) {
      set(o, "use_sliding_window", json_false());
    } else {
      set(o, "attention_bias", json_false());
      set(o, "mlp_bias", json_false());
      set(o, "bos_token_id", json_integer(1)); /* llama2.c / Llama 2 */
      set(o, "eos_token_id", json_integer(2));
    }
  }
  set(o, "initializer_range", jfloat(0.02f));
  set(o, "torch_dtype", json_string("float32"));
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  int rc = ST_ERR;
  if (f && json_dumpf(o, f, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0) {
    st_atomic_abort(&a);
    st_err("%s: cannot write", path);
  } else if (f) {
    rc = st_atomic_commit(&a);
  }
  json_decref(o);
  return rc;
}
