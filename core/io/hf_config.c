/* hf_config.c - Hugging Face config.json <-> st_config (see hf_config.h).
 *
 * Optional keys take the defaults of the transformers config classes, so a
 * config.json saved with only non-default values reads the same here as in
 * transformers. Every key is accounted for: a key strata computes is read,
 * a key that cannot change the model's computation (token ids, dtype,
 * generation defaults, ...) is on the harmless list, and any other key is an
 * error naming it, so a model strata would compute differently is refused
 * rather than silently changed (a future transformers key included). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "hf_config.h"

typedef struct {
  const char *path;
  json_t *root;  /* the object being read: config.json or its rope dict */
  const char *prefix; /* "" or "rope_parameters." for messages */
  json_t *known; /* keys read so far */
} cfgfile;

static json_t *get(const cfgfile *f, const char *key) {
  json_object_set_new(f->known, key, json_true());
  json_t *v = json_object_get(f->root, key);
  return json_is_null(v) ? NULL : v;
}

/* def < 0: the key is required */
static int get_int(const cfgfile *f, const char *key, int def, int *out) {
  json_t *v = get(f, key);
  if (!v) {
    if (def < 0) return st_err("%s: missing key '%s%s'", f->path, f->prefix, key);
    *out = def;
    return ST_OK;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > INT_MAX)
    return st_err("%s: key '%s%s' must be a non-negative integer", f->path,
                  f->prefix, key);
  *out = (int)json_integer_value(v);
  return ST_OK;
}

/* def NAN: the key is required */
static int get_double(const cfgfile *f, const char *key, double def, double *out) {
  json_t *v = get(f, key);
  if (!v) {
    if (isnan(def)) return st_err("%s: missing key '%s%s'", f->path, f->prefix, key);
    *out = def;
    return ST_OK;
  }
  if (!json_is_number(v))
    return st_err("%s: key '%s%s' must be a number", f->path, f->prefix, key);
  *out = json_number_value(v);
  return ST_OK;
}

static int get_float(const cfgfile *f, const char *key, double def, float *out) {
  double d;
  if (get_double(f, key, def, &d)) return ST_ERR;
  *out = (float)d;
  return ST_OK;
}

static int get_bool(const cfgfile *f, const char *key, int def, int *out) {
  json_t *v = get(f, key);
  if (!v) {
    *out = def;
    return ST_OK;
  }
  if (!json_is_boolean(v))
    return st_err("%s: key '%s%s' must be true or false", f->path, f->prefix, key);
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

/* a key whose only value strata computes is `want` (absent = `def`) */
static int want_bool(const cfgfile *f, const char *key, int def, int want,
                     const char *what) {
  int on = def;
  if (get_bool(f, key, def, &on) != ST_OK) return ST_ERR;
  return on != want ? st_err("%s: %s = %s (%s) is not supported", f->path, key,
                             on ? "true" : "false", what)
                    : ST_OK;
}

/* a number key that strata computes only at `want` */
static int want_num(const cfgfile *f, const char *key, double want,
                    const char *what) {
  double v = want;
  if (get_double(f, key, want, &v)) return ST_ERR;
  return v != want ? st_err("%s: %s%s = %g (%s) is not supported (strata "
                            "computes %g)", f->path, f->prefix, key, v, what, want)
                   : ST_OK;
}

/* Dropout rates change only transformers' training mode, never the model's
 * function; strata applies no dropout to the base model, so non-zero rates
 * are read and said (one note), not applied. keys: NULL-terminated. */
static int dropouts(const cfgfile *f, const char *const *keys) {
  char said[256] = "";
  size_t n = 0;
  for (const char *const *k = keys; *k; k++) {
    double p = 0;
    if (get_double(f, *k, 0, &p)) return ST_ERR;
    if (!(p >= 0 && p < 1))
      return st_err("%s: key '%s' must be a rate in [0, 1)", f->path, *k);
    if (p > 0 && n < sizeof said)
      n += (size_t)snprintf(said + n, sizeof said - n, "%s%s = %g", n ? ", " : "",
                            *k, p);
  }
  if (n)
    fprintf(stderr, "strata: note: %s: %s not applied (strata trains without "
            "dropout in the base model; inference is unaffected)\n", f->path,
            said);
  return ST_OK;
}

/* Keys that cannot change what a decoder-only LM computes from its weights:
 * token ids, dtypes, bookkeeping, output flags, generation defaults. */
static const char *const harmless[] = {
    "architectures", "model_type", "transformers_version", "torch_dtype",
    "dtype", "use_cache", "initializer_range", "bos_token_id", "eos_token_id",
    "pad_token_id", "sep_token_id", "decoder_start_token_id", "_name_or_path",
    "_commit_hash", "_attn_implementation", "_attn_implementation_autoset",
    "attn_implementation", "tokenizer_class", "return_dict",
    "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16",
    "tf_legacy_loss", "id2label", "label2id", "problem_type",
    "finetuning_task", "prefix", "task_specific_params",
    "gradient_checkpointing", "is_decoder", "tie_encoder_decoder",
    "chunk_size_feed_forward", "cross_attention_hidden_size", "output_past",
    /* generation defaults (generate() only) */
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
    "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
    "typical_p", "repetition_penalty", "length_penalty",
    "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", NULL};

/* keys of every family with one harmless value */
static int read_common(const cfgfile *f) {
  json_t *ph = get(f, "pruned_heads");
  if (ph && !(json_is_object(ph) && json_object_size(ph) == 0))
    return st_err("%s: pruned_heads is not supported (strata computes every "
                  "head)", f->path);
  return want_bool(f, "is_encoder_decoder", 0, 0, "encoder-decoder") ||
                 want_bool(f, "add_cross_attention", 0, 0, "cross-attention")
             ? ST_ERR
             : ST_OK;
}

static int listed(const char *const *list, const char *k) {
  for (const char *const *h = list; h && *h; h++)
    if (!strcmp(*h, k)) return 1;
  return 0;
}

/* every key of f->root must have been read or be harmless: on the list of
 * every family (top level only) or on the family's `extra` list */
static int check_unknown(const cfgfile *f, const char *const *extra) {
  const char *k;
  json_t *v;
  int top = !f->prefix[0];
  json_object_foreach(f->root, k, v) {
    if (json_object_get(f->known, k) || listed(extra, k) ||
        (top && listed(harmless, k)))
      continue;
    return st_err("%s: config key '%s%s' is not supported: strata does not "
                  "implement it and it may change the model (see README, "
                  "\"Model families\")", f->path, f->prefix, k);
  }
  return ST_OK;
}

/* ------------------------------------------------------------------ */
/* RoPE: top-level rope_theta / rope_scaling (transformers 4.x) or
 * rope_parameters (5.x), resolved as transformers' standardize_rope_params
 * and ROPE_INIT_FUNCTIONS do. */

/* yarn's get_mscale */
static double mscale(double scale, double m) {
  return scale <= 1 ? 1.0 : 0.1 * m * log(scale) + 1.0;
}

static int read_rope(const cfgfile *f, st_config *c, int max_pos) {
  json_t *rs = get(f, "rope_scaling"), *rp = get(f, "rope_parameters");
  double theta_top = 10000.0, theta = 10000.0;
  int has_top = get(f, "rope_theta") != NULL;
  if (get_double(f, "rope_theta", 10000.0, &theta_top)) return ST_ERR;
  if (want_num(f, "partial_rotary_factor", 1.0, "partial RoPE")) return ST_ERR;
  if (rs && rp && !json_equal(rs, rp))
    return st_err("%s: rope_scaling and rope_parameters are both given and "
                  "differ (transformers reads rope_scaling, newer tools "
                  "rope_parameters); keep one", f->path);
  json_t *d = rs ? rs : rp;
  const char *dname = rs ? "rope_scaling" : "rope_parameters";
  c->rope_type = ST_ROPE_DEFAULT;
  c->rope_theta = (float)theta_top;
  if (!d) return ST_OK;
  if (!json_is_object(d))
    return st_err("%s: %s must be an object", f->path, dname);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%s.", dname);
  cfgfile r = {f->path, d, prefix, json_object()};
  if (!r.known) return st_err("out of memory");
  int rc = ST_ERR;
  const char *type = "default";
  json_t *t1 = get(&r, "rope_type"), *t2 = get(&r, "type");
  const char *tkey = t1 ? "rope_type" : "type";
  if ((t1 && !json_is_string(t1)) || (t2 && !json_is_string(t2))) {
    st_err("%s: %s.%s must be a string", f->path, dname, tkey);
    goto out;
  }
  if (t1 && t2 && strcmp(json_string_value(t1), json_string_value(t2))) {
    st_err("%s: %s.rope_type '%s' and %s.type '%s' differ", f->path, dname,
           json_string_value(t1), dname, json_string_value(t2));
    goto out;
  }
  if (t1 || t2) type = json_string_value(t1 ? t1 : t2);
  if (get_double(&r, "rope_theta", theta_top, &theta)) goto out;
  if (has_top && get(&r, "rope_theta") && theta != theta_top) {
    st_err("%s: rope_theta %g and %s.rope_theta %g differ", f->path, theta_top,
           dname, theta);
    goto out;
  }
  c->rope_theta = (float)theta;
  if (want_num(&r, "partial_rotary_factor", 1.0, "partial RoPE")) goto out;
  if (!strcmp(type, "default")) {
    c->rope_type = ST_ROPE_DEFAULT;
  } else if (!strcmp(type, "linear")) {
    c->rope_type = ST_ROPE_LINEAR;
    if (get_float(&r, "factor", NAN, &c->rope_factor)) goto out;
  } else if (!strcmp(type, "llama3")) {
    c->rope_type = ST_ROPE_LLAMA3;
    if (get_float(&r, "factor", NAN, &c->rope_factor) ||
        get_float(&r, "low_freq_factor", NAN, &c->rope_low_freq) ||
        get_float(&r, "high_freq_factor", NAN, &c->rope_high_freq) ||
        get_int(&r, "original_max_position_embeddings", max_pos, &c->rope_orig_max))
      goto out;
  } else if (!strcmp(type, "yarn")) {
    c->rope_type = ST_ROPE_YARN;
    double factor = 1, att = 1, ms = 0, msa = 0, bf = 32, bs = 1;
    if (!json_object_get(d, "factor")) {
      st_err("%s: missing key '%sfactor'", f->path, prefix);
      goto out;
    }
    if (get_int(&r, "original_max_position_embeddings", max_pos, &c->rope_orig_max))
      goto out;
    if (c->rope_orig_max < 1) {
      st_err("%s: %soriginal_max_position_embeddings must be positive", f->path,
             prefix);
      goto out;
    }
    /* factor null: max_position_embeddings / original_max_position_embeddings */
    if (get_double(&r, "factor", (double)max_pos / c->rope_orig_max, &factor) ||
        get_double(&r, "mscale", 0, &ms) || get_double(&r, "mscale_all_dim", 0, &msa) ||
        get_double(&r, "attention_factor", 0, &att) ||
        /* `rope_parameters.get("beta_fast") or 32`: absent, null and 0 alike */
        get_double(&r, "beta_fast", 32, &bf) || get_double(&r, "beta_slow", 1, &bs))
      goto out;
    if (!get(&r, "attention_factor"))
      att = ms && msa ? mscale(factor, ms) / mscale(factor, msa) : mscale(factor, 1);
    c->rope_factor = (float)factor;
    c->rope_attn_factor = (float)att;
    c->rope_beta_fast = bf ? (float)bf : 32.0f;
    c->rope_beta_slow = bs ? (float)bs : 1.0f;
    /* rope_parameters.get("truncate", True): a null is falsy */
    json_t *tr = json_object_get(d, "truncate");
    get(&r, "truncate");
    if (tr && !json_is_null(tr) && !json_is_boolean(tr)) {
      st_err("%s: key '%struncate' must be true or false", f->path, prefix);
      goto out;
    }
    c->rope_truncate = !tr || json_is_true(tr);
  } else {
    st_err("%s: %s.%s '%s' is not supported (strata computes default, "
           "linear, llama3 and yarn RoPE)", f->path, dname, tkey, type);
    goto out;
  }
  rc = check_unknown(&r, NULL);
out:
  json_decref(r.known);
  return rc;
}

/* ------------------------------------------------------------------ */

/* Qwen2's layer_types (saved by transformers 5) or max_window_layers: the
 * layers with a sliding window must be the top ones, l >= window_from */
static int read_qwen2_window(const cfgfile *f, st_config *c) {
  int use = 0, mwl = 28;
  double w = 4096;
  json_t *sw = json_object_get(f->root, "sliding_window");
  if (get_bool(f, "use_sliding_window", 0, &use) ||
      get_double(f, "sliding_window", 4096, &w) ||
      get_int(f, "max_window_layers", 28, &mwl))
    return ST_ERR;
  int window = use && !json_is_null(sw) ? (int)w : 0;
  if (use && !json_is_null(sw) && !(w >= 1 && w <= INT_MAX && w == floor(w)))
    return st_err("%s: sliding_window %g, expected a positive integer", f->path, w);
  json_t *lt = get(f, "layer_types");
  int from = mwl < c->n_layers ? mwl : c->n_layers;
  if (lt) {
    if (!json_is_array(lt) || (int)json_array_size(lt) != c->n_layers)
      return st_err("%s: layer_types must list %d layers", f->path, c->n_layers);
    int first = c->n_layers, mixed = 0;
    for (int l = 0; l < c->n_layers; l++) {
      const char *s = json_string_value(json_array_get(lt, (size_t)l));
      int sliding = s && !strcmp(s, "sliding_attention");
      if (!s || (!sliding && strcmp(s, "full_attention")))
        return st_err("%s: layer_types[%d] is not supported (strata computes "
                      "full_attention and sliding_attention)", f->path, l);
      if (sliding && first == c->n_layers) first = l;
      if (!sliding && first < c->n_layers) mixed = 1;
    }
    if (first < c->n_layers && !window)
      return st_err("%s: layer_types has sliding_attention layers but "
                    "use_sliding_window is false or sliding_window null", f->path);
    if (mixed)
      return st_err("%s: layer_types has full_attention above "
                    "sliding_attention layers; strata computes sliding "
                    "windows in the top layers only (max_window_layers)", f->path);
    from = first;
  }
  c->window = from < c->n_layers ? window : 0;
  c->window_from = c->window ? from : 0;
  return ST_OK;
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
  static const char *const drop[] = {"attention_dropout", NULL};
  if (want_str(f, "hidden_act", "silu", NULL) || read_rope(f, c, c->max_seq) ||
      dropouts(f, drop))
    return ST_ERR;
  static const char *const llama_extra[] = {
      "pretraining_tp", /* a tensor-parallel split of the same products */
      "is_llama_config", /* nanotron's marker (SmolLM2) */
      NULL};
  const char *const *extra = NULL;
  if (qwen2) {
    if (want_bool(f, "use_mrope", 0, 0, "multimodal RoPE") ||
        read_qwen2_window(f, c))
      return ST_ERR;
  } else {
    if (want_bool(f, "attention_bias", 0, 0, "q/k/v/o biases") ||
        want_bool(f, "mlp_bias", 0, 0, "MLP biases"))
      return ST_ERR;
    if (mistral) {
      /* MistralConfig: sliding_window defaults to 4096, null = none, and
       * it applies to every layer */
      json_t *sw = json_object_get(f->root, "sliding_window");
      int w = 0;
      if (get_int(f, "sliding_window", 4096, &w)) return ST_ERR;
      c->window = json_is_null(sw) ? 0 : w;
      if (sw && !json_is_null(sw) && w < 1)
        return st_err("%s: sliding_window %d, expected a positive integer", f->path, w);
    } else {
      /* nanotron writes rope_interleaved; transformers computes half-split */
      if (want_bool(f, "rope_interleaved", 0, 0, "interleaved RoPE pairs"))
        return ST_ERR;
      extra = llama_extra;
    }
  }
  /* a window as long as the context never binds: full attention */
  if (c->window >= c->max_seq) c->window = c->window_from = 0;
  if (read_common(f) || check_unknown(f, extra)) return ST_ERR;
  return ST_OK;
}

static int read_gpt2(const cfgfile *f, st_config *c) {
  static const char *const drop[] = {"attn_pdrop", "embd_pdrop", "resid_pdrop",
                                     "summary_first_dropout", NULL};
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
  if (want_str(f, "activation_function", "gelu_new", "gelu_pytorch_tanh") ||
      want_bool(f, "scale_attn_weights", 1, 1, "unscaled attention") ||
      want_bool(f, "scale_attn_by_inverse_layer_idx", 0, 0, "per-layer attention scale") ||
      dropouts(f, drop))
    return ST_ERR;
  static const char *const gpt2_extra[] = {
      "n_ctx", /* the old name of n_positions' context, not read by GPT2Model */
      /* fp32 attention in another order: the same products here */
      "reorder_and_upcast_attn",
      /* the heads of GPT2DoubleHeadsModel / ForSequenceClassification */
      "summary_type", "summary_use_proj", "summary_activation",
      "summary_proj_to_labels", NULL};
  if (read_common(f) || check_unknown(f, gpt2_extra)) return ST_ERR;
  return ST_OK;
}

int st_hfconfig_read(const char *path, st_config *c) {
  memset(c, 0, sizeof *c);
  json_error_t je;
  cfgfile f = {path, json_load_file(path, 0, &je), "", json_object()};
  if (!f.known) {
    json_decref(f.root);
    return st_err("out of memory");
  }
  if (!f.root) {
    json_decref(f.known);
    FILE *fp = fopen(path, "r");
    if (!fp) return st_err("%s: %s", path, strerror(errno));
    fclose(fp);
    if (je.line < 1) return st_err("%s: %s", path, je.text);
    return st_err("%s: line %d: %s", path, je.line, je.text);
  }
  int rc;
  const char *type = NULL;
  if (!json_is_object(f.root))
    rc = st_err("%s: not a JSON object", path);
  else if (!get(&f, "model_type"))
    rc = st_err("%s: missing key 'model_type'", path);
  else if (!(type = json_string_value(get(&f, "model_type"))))
    rc = st_err("%s: model_type must be a string", path);
  else if (!strcmp(type, "llama") || !strcmp(type, "mistral") || !strcmp(type, "qwen2"))
    rc = read_llama(&f, type, c);
  else if (!strcmp(type, "gpt2"))
    rc = read_gpt2(&f, c);
  else
    rc = st_err("%s: model_type '%s' is not supported (llama, mistral, qwen2, "
                "gpt2)", path, type);
  if (rc == ST_OK && st_config_validate(c) != ST_OK) rc = st_err_prefix("%s: ", path);
  json_decref(f.known);
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

int st_hfconfig_write(const char *path, const st_config *c, const char *dtype) {
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
     * family with exactly q/k/v biases (and a window in the top layers),
     * Mistral the one with a window in every layer. */
    int q = c->qkv_bias, mistral = !q && c->window > 0;
    if (!q && c->window > 0 && c->window_from > 0) {
      json_decref(o);
      return st_err("%s: a sliding window from layer %d without q/k/v biases "
                    "has no transformers family (Mistral windows every layer, "
                    "Qwen2 has biases)", path, c->window_from);
    }
    set(o, "architectures", json_pack("[s]", q ? "Qwen2ForCausalLM"
                                          : mistral ? "MistralForCausalLM"
                                                    : "LlamaForCausalLM"));
    set(o, "model_type", json_string(q ? "qwen2" : mistral ? "mistral" : "llama"));
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
    /* the older top-level style, which transformers 4.x and 5.x both read */
    set(o, "rope_theta", jfloat(c->rope_theta));
    json_t *rs = NULL;
    switch (c->rope_type) {
    case ST_ROPE_DEFAULT:
      break;
    case ST_ROPE_LINEAR:
      rs = json_pack("{s:s, s:o}", "rope_type", "linear", "factor", jfloat(c->rope_factor));
      break;
    case ST_ROPE_LLAMA3:
      rs = json_pack("{s:s, s:o, s:o, s:o, s:i}", "rope_type", "llama3", "factor",
                     jfloat(c->rope_factor), "low_freq_factor", jfloat(c->rope_low_freq),
                     "high_freq_factor", jfloat(c->rope_high_freq),
                     "original_max_position_embeddings", c->rope_orig_max);
      break;
    case ST_ROPE_YARN:
      rs = json_pack("{s:s, s:o, s:i, s:o, s:o, s:o, s:b}", "rope_type", "yarn",
                     "factor", jfloat(c->rope_factor),
                     "original_max_position_embeddings", c->rope_orig_max,
                     "attention_factor", jfloat(c->rope_attn_factor),
                     "beta_fast", jfloat(c->rope_beta_fast), "beta_slow",
                     jfloat(c->rope_beta_slow), "truncate", c->rope_truncate);
      break;
    }
    set(o, "rope_scaling", rs ? rs : json_null());
    set(o, "tie_word_embeddings", json_boolean(c->tied));
    if (q) {
      set(o, "use_sliding_window", json_boolean(c->window > 0));
      if (c->window > 0) {
        set(o, "sliding_window", json_integer(c->window));
        set(o, "max_window_layers", json_integer(c->window_from));
      }
    } else if (mistral) {
      set(o, "sliding_window", json_integer(c->window));
      set(o, "bos_token_id", json_integer(1));
      set(o, "eos_token_id", json_integer(2));
    } else {
      set(o, "attention_bias", json_false());
      set(o, "mlp_bias", json_false());
      set(o, "bos_token_id", json_integer(1)); /* llama2.c / Llama 2 */
      set(o, "eos_token_id", json_integer(2));
    }
  }
  set(o, "initializer_range", jfloat(0.02f));
  set(o, "torch_dtype", json_string(dtype ? dtype : "float32"));
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
