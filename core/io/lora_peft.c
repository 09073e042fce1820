/* lora_peft.c - LoRA adapters in Hugging Face PEFT's folder format.
 *
 * Module matching follows peft 0.x (tuners_utils.check_target_module_exists,
 * utils.other.get_pattern_key): a list in target_modules matches a module
 * whose name equals an entry or ends with "." + entry; a string is a regex
 * that must match the whole name; layers_to_transform keeps modules whose
 * first numbered path segment is listed; rank_pattern / alpha_pattern keys
 * are regexes matched as re.match(r"(.*\.)?(key)$", name), first key wins.
 * Names are those of the HF model (st_param names without ".weight"), which
 * are also PeftModel's keys under "base_model.model.".
 *
 * GPT-2's Conv1D modules need fan_in_fan_out = true in the config, but the
 * adapter tensors keep nn.Linear's layout either way: lora_A [r, in],
 * lora_B [out, r] (peft/tuners/lora/layer.py builds them as nn.Linear). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "lora.h"
#include "lora_io.h"
#include "safetensors.h"

#define KEY_PREFIX "base_model.model."

/* ------------------------------------------------------------------------ */
/* export                                                                   */

/* the HF module name PEFT's target_modules lists: the last path component
 * (q_proj, c_fc), or "attn.c_proj" / "mlp.c_proj" where GPT-2 has two
 * c_proj */
static const char *target_name(const st_model *m, const st_adapter *a,
                               char *buf, size_t n) {
  char path[128];
  st_adapter_path(m, a, path, sizeof path);
  size_t k = strlen(path), start = k;
  int dots = 0, want = k > 7 && !strcmp(path + k - 7, ".c_proj") ? 2 : 1;
  while (start > 0 && !(path[start - 1] == '.' && ++dots == want)) start--;
  snprintf(buf, n, "%.127s", path + start);
  return buf;
}

/* the alpha PEFT must read so that its scale is ours: alpha itself when the
 * adapter's rsLoRA flag is the config's, else scale * r (plain LoRA) */
static double peft_alpha(const st_adapter *a, int use_rslora) {
  return a->rslora == use_rslora ? a->alpha : (double)a->scale * a->rank;
}

static void escape_dots(const char *s, char *out, size_t n) {
  size_t k = 0;
  for (; *s && k + 3 < n; s++) {
    if (*s == '.') out[k++] = '\\';
    out[k++] = *s;
  }
  out[k] = 0;
}

/* the HF module of a named tensor: its name without ".weight" / ".bias" */
static void module_of(const char *name, char *out, size_t n) {
  const char *dot = strrchr(name, '.');
  snprintf(out, n, "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
}

/* modules_to_save: the modules of the tensors trained in full, deduplicated
 * (as a JSON list of module paths); refuses what PEFT cannot carry */
static int saved_modules(const st_model *m, const st_lora *lo,
                         const unsigned char *full, json_t **out) {
  *out = json_array();
  for (int i = 0; full && i < m->n_tab; i++) {
    if (!full[i]) continue;
    const st_param *q = &m->tab[i];
    char mod[128];
    module_of(q->name, mod, sizeof mod);
    if (q->group == ST_G_EMBED && q->slot == ST_WTE && m->cfg.tied)
      return st_err("LoRA export: the run trained the token embedding, which "
                    "the head shares; a PEFT adapter cannot carry tied "
                    "weights (use strata merge)");
    for (int k = 0; k < lo->n; k++) {
      char ap[128];
      st_adapter_path(m, &lo->a[k], ap, sizeof ap);
      if (!strcmp(ap, mod))
        return st_err("LoRA export: %s was trained in full and has a LoRA "
                      "adapter; PEFT cannot hold both (use strata merge)", mod);
    }
    int dup = 0;
    size_t j;
    json_t *v;
    json_array_foreach(*out, j, v) dup |= !strcmp(json_string_value(v), mod);
    if (!dup) json_array_append_new(*out, json_string(mod));
  }
  return ST_OK;
}

static int in_list(json_t *list, const char *s) {
  size_t j;
  json_t *v;
  json_array_foreach(list, j, v) if (!strcmp(json_string_value(v), s)) return 1;
  return 0;
}

static json_t *peft_config(const st_model *m, const st_lora *lo,
                           const char *base_model_name, json_t *saved) {
  int L = m->cfg.n_layers, n = lo->n;
  int all_rs = 1, any_rs = 0;
  double dropout = 0;
  for (int i = 0; i < n; i++) {
    all_rs &= lo->a[i].rslora;
    any_rs |= lo->a[i].rslora;
    if (lo->a[i].dropout > dropout) dropout = lo->a[i].dropout;
  }
  int use_rs = all_rs && any_rs;
  /* defaults: the most common rank and alpha; the rest go to patterns */
  int r0 = lo->a[0].rank, best = 0;
  double a0 = peft_alpha(&lo->a[0], use_rs);
  for (int i = 0; i < n; i++) {
    int c = 0;
    for (int k = 0; k < n; k++) c += lo->a[k].rank == lo->a[i].rank;
    if (c > best) best = c, r0 = lo->a[i].rank;
  }
  best = 0;
  for (int i = 0; i < n; i++) {
    int c = 0;
    for (int k = 0; k < n; k++)
      c += peft_alpha(&lo->a[k], use_rs) == peft_alpha(&lo->a[i], use_rs);
    if (c > best) best = c, a0 = peft_alpha(&lo->a[i], use_rs);
  }
  json_t *rp = json_object(), *ap = json_object();
  for (int i = 0; i < n; i++) {
    char path[128];
    st_adapter_path(m, &lo->a[i], path, sizeof path);
    if (lo->a[i].rank != r0) json_object_set_new(rp, path, json_integer(lo->a[i].rank));
    if (peft_alpha(&lo->a[i], use_rs) != a0)
      json_object_set_new(ap, path, json_real(peft_alpha(&lo->a[i], use_rs)));
  }
  /* targets: names plus layers_to_transform when every adapted layer has
   * the same modules, else one regex of the exact module paths */
  unsigned mods[4096] = {0};
  int uniform = 1, first = -1, nlayers = 0;
  for (int i = 0; i < n; i++) mods[lo->a[i].layer] |= 1u << lo->a[i].module;
  for (int l = 0; l < L && l < 4096; l++) {
    if (!mods[l]) continue;
    nlayers++;
    if (first < 0) first = l;
    uniform &= mods[l] == mods[first];
  }
  json_t *targets, *layers = json_null();
  if (uniform) {
    targets = json_array();
    for (int i = 0; i < n; i++) {
      if (lo->a[i].layer != first) continue;
      char t[128];
      json_array_append_new(targets, json_string(target_name(m, &lo->a[i], t, sizeof t)));
    }
    if (nlayers < L) {
      json_decref(layers);
      layers = json_array();
      for (int l = 0; l < L; l++)
        if (mods[l]) json_array_append_new(layers, json_integer(l));
    }
  } else {
    size_t cap = (size_t)n * 160 + 16, k = 0;
    char *re = malloc(cap);
    if (!re) return NULL;
    k += (size_t)snprintf(re + k, cap - k, "(");
    for (int i = 0; i < n; i++) {
      char path[128], esc[256];
      st_adapter_path(m, &lo->a[i], path, sizeof path);
      escape_dots(path, esc, sizeof esc);
      k += (size_t)snprintf(re + k, cap - k, "%s%s", i ? "|" : "", esc);
    }
    snprintf(re + k, cap - k, ")");
    targets = json_string(re);
    free(re);
  }
  json_t *c = json_object();
  json_object_set_new(c, "peft_type", json_string("LORA"));
  json_object_set_new(c, "task_type", json_string("CAUSAL_LM"));
  json_object_set_new(c, "base_model_name_or_path",
                      base_model_name ? json_string(base_model_name) : json_null());
  json_object_set_new(c, "r", json_integer(r0));
  json_object_set_new(c, "lora_alpha", json_real(a0));
  json_object_set_new(c, "target_modules", targets);
  json_object_set_new(c, "layers_to_transform", layers);
  json_object_set_new(c, "layers_pattern",
                      json_is_null(layers) ? json_null()
                      : json_string(m->cfg.arch == ST_ARCH_GPT2 ? "h" : "layers"));
  json_object_set_new(c, "rank_pattern", rp);
  json_object_set_new(c, "alpha_pattern", ap);
  json_object_set_new(c, "use_rslora", json_boolean(use_rs));
  json_object_set_new(c, "lora_dropout", json_real(dropout));
  json_object_set_new(c, "fan_in_fan_out", json_boolean(m->cfg.arch == ST_ARCH_GPT2));
  json_object_set_new(c, "bias", json_string("none"));
  json_object_set_new(c, "use_dora", json_false());
  json_object_set_new(c, "modules_to_save",
                      json_array_size(saved) ? json_incref(saved) : json_null());
  json_object_set_new(c, "init_lora_weights", json_true());
  json_object_set_new(c, "inference_mode", json_true());
  return c;
}

int st_lora_save_peft(const st_model *m, const st_lora *lo, const char *dir,
                      const char *base_model_name) {
  return st_lora_save_peft_full(m, lo, NULL, dir, base_model_name);
}

int st_lora_save_peft_full(const st_model *m, const st_lora *lo,
                           const unsigned char *full, const char *dir,
                           const char *base_model_name) {
  if (memcmp(&m->cfg, &lo->m->cfg, sizeof m->cfg))
    return st_err("LoRA export: the adapters were built for another model");
  if (!lo->n) return st_err("LoRA export: no adapters");
  json_t *saved;
  if (saved_modules(m, lo, full, &saved)) {
    json_decref(saved);
    return ST_ERR;
  }
  if (!dir[0]) {
    json_decref(saved);
    return st_err("LoRA export: empty folder name");
  }
  if (st_mkdirs(dir)) {
    json_decref(saved);
    return ST_ERR;
  }
  char path[ST_PATH_MAX];
  json_t *c = peft_config(m, lo, base_model_name, saved);
  if (!c) {
    json_decref(saved);
    return st_err("out of memory");
  }
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  int rc = ST_ERR;
  if (f && json_dumpf(c, f, JSON_INDENT(2) | JSON_SORT_KEYS |
                                JSON_REAL_PRECISION(17)) != 0) {
    st_atomic_abort(&a);
    st_err("%s: cannot write", path);
  } else if (f) {
    rc = st_atomic_commit(&a);
  }
  json_decref(c);
  if (rc) {
    json_decref(saved);
    return rc;
  }

  /* 2 tensors per adapter, then every tensor of a saved module */
  int n = lo->n, cap = 2 * n + m->n_tab, ne = 2 * n;
  st_sft_entry *e = calloc((size_t)cap, sizeof *e);
  char **names = calloc((size_t)cap, sizeof *names);
  float **bufs = calloc((size_t)cap, sizeof *bufs);
  rc = e && names && bufs ? ST_OK : st_err("out of memory");
  for (int i = 0; i < m->n_tab && rc == ST_OK && json_array_size(saved); i++) {
    const st_param *q = &m->tab[i];
    char mod[128];
    module_of(q->name, mod, sizeof mod);
    if (!in_list(saved, mod)) continue;
    size_t numel = (size_t)q->rows * q->cols, len = strlen(KEY_PREFIX) + strlen(q->name) + 1;
    if (!(bufs[ne] = st_malloc(numel * sizeof(float))) || !(names[ne] = st_malloc(len)) ||
        st_model_get(m, q, bufs[ne], numel)) {
      rc = ST_ERR;
      break;
    }
    snprintf(names[ne], len, KEY_PREFIX "%s", q->name);
    e[ne] = (st_sft_entry){.name = names[ne], .dtype = ST_SFT_F32, .data = bufs[ne]};
    e[ne].ndim = st_param_shape(q, e[ne].shape);
    ne++;
  }
  json_decref(saved);
  for (int i = 0; i < n && rc == ST_OK; i++) {
    const st_adapter *a = &lo->a[i];
    const st_param *w = &m->tab[a->param];
    char mod[128];
    st_adapter_path(m, a, mod, sizeof mod);
    for (int b = 0; b < 2 && rc == ST_OK; b++) {
      int k = 2 * i + b;
      size_t numel = b ? (size_t)w->rows * a->rank : (size_t)a->rank * w->cols;
      size_t len = strlen(KEY_PREFIX) + strlen(mod) + 16;
      if (!(bufs[k] = st_malloc(numel * sizeof(float))) ||
          !(names[k] = st_malloc(len))) {
        rc = ST_ERR;
        break;
      }
      snprintf(names[k], len, KEY_PREFIX "%s.lora_%c.weight", mod, b ? 'B' : 'A');
      st_adapter_get(lo, a, b ? NULL : bufs[k], b ? bufs[k] : NULL);
      e[k] = (st_sft_entry){.name = names[k], .dtype = ST_SFT_F32, .ndim = 2,
                            .data = bufs[k]};
      e[k].shape[0] = b ? w->rows : a->rank;
      e[k].shape[1] = b ? a->rank : w->cols;
    }
  }
  if (rc == ST_OK) {
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    rc = st_sft_write(path, e, ne, NULL, NULL, 0);
  }
  for (int i = 0; i < cap && names; i++) free(names[i]);
  for (int i = 0; i < cap && bufs; i++) free(bufs[i]);
  free(names);
  free(bufs);
  free(e);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* import                                                                   */

/* 1 when pattern matches subject (anchored at the start; whole subject when
 * full), 0 when not, ST_ERR on a bad pattern */
static int re_match(const char *pattern, const char *subject, int full,
                    const char *what) {
  int err;
  PCRE2_SIZE at;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                 PCRE2_ANCHORED | (full ? PCRE2_ENDANCHORED : 0),
                                 &err, &at, NULL);
  if (!re) {
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(err, msg, sizeof msg);
    return st_err("%s: regex '%s': %s at offset %zu", what, pattern,
                  (const char *)msg, (size_t)at);
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int rc = md ? pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL)
              : -1;
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

/* get_pattern_key: the first key of obj matching name, or NULL */
static json_t *pattern_value(json_t *obj, const char *name, const char *what,
                             int *err) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    char re[512];
    snprintf(re, sizeof re, "(.*\\.)?(%s)$", key);
    int r = re_match(re, name, 0, what);
    if (r < 0) {
      *err = 1;
      return NULL;
    }
    if (r) return v;
  }
  return NULL;
}

/* every target_modules entry must name a linear module of this model */
static int check_targets(const st_model *m, json_t *tm, const char *cfgpath) {
  if (json_is_string(tm) || json_is_null(tm)) return ST_OK; /* regex / none */
  if (!json_is_array(tm))
    return st_err("%s: target_modules must be a list or a string", cfgpath);
  const char **names;
  int nmod = st_plan_modules(m, &names);
  size_t i;
  json_t *v;
  json_array_foreach(tm, i, v) {
    const char *t = json_string_value(v);
    if (!t) return st_err("%s: target_modules[%zu] is not a string", cfgpath, i);
    int ok = 0;
    for (int k = 0; k < nmod && !ok; k++) {
      const st_param *w = st_lora_target(m, 0, k);
      if (!w) continue;
      char path[128];
      size_t pl = strlen(w->name) - 7, tl = strlen(t); /* drop ".weight" */
      snprintf(path, sizeof path, "%.*s", (int)pl, w->name);
      ok = !strcmp(path, t) ||
           (pl > tl && path[pl - tl - 1] == '.' && !strcmp(path + pl - tl, t));
    }
    if (!ok) {
      char all[256] = "";
      for (int k = 0; k < nmod; k++) {
        const st_param *w = st_lora_target(m, 0, k);
        if (!w) continue;
        char tn[128];
        st_adapter a = {.param = (int)(w - m->tab)};
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s",
                 all[0] ? " " : "", target_name(m, &a, tn, sizeof tn));
      }
      return st_err("%s: target module '%s' is not a linear module of this "
                    "%s model (%s)", cfgpath, t,
                    m->cfg.arch == ST_ARCH_GPT2 ? "GPT-2" : "Llama", all);
    }
  }
  return ST_OK;
}

/* the model parameter an adapter key names: "base_model.model.<path>.lora_X
 * .weight" -> <path>.weight (GPT-2 with or without "transformer.") */
static const st_param *key_param(const st_model *m, const char *key, int *isB,
                                 char *path, size_t n) {
  size_t k = strlen(key), pl = strlen(KEY_PREFIX);
  const char *sa = ".lora_A.weight", *sb = ".lora_B.weight";
  size_t sl = strlen(sa);
  if (k <= pl + sl || strncmp(key, KEY_PREFIX, pl)) return NULL;
  if (!strcmp(key + k - sl, sa)) *isB = 0;
  else if (!strcmp(key + k - sl, sb)) *isB = 1;
  else return NULL;
  snprintf(path, n, "%.*s", (int)(k - pl - sl), key + pl);
  char name[256];
  snprintf(name, sizeof name, "%s.weight", path);
  const st_param *w = st_model_find(m, name);
  if (!w && m->cfg.arch == ST_ARCH_GPT2) {
    snprintf(name, sizeof name, "transformer.%s.weight", path);
    w = st_model_find(m, name);
  }
  return w;
}

static int layer_listed(json_t *ltt, int l) {
  if (json_is_null(ltt) || !ltt) return 1;
  if (json_is_integer(ltt)) return json_integer_value(ltt) == l;
  size_t i;
  json_t *v;
  json_array_foreach(ltt, i, v) if (json_integer_value(v) == l) return 1;
  return 0;
}

/* a modules_to_save tensor into mm (the model being loaded onto) */
static int load_saved(st_model *mm, const st_sft *f, const st_sft_tensor *t,
                      json_t *mts, unsigned char *written) {
  const char *name = t->name + strlen(KEY_PREFIX);
  const st_param *q = strncmp(t->name, KEY_PREFIX, strlen(KEY_PREFIX))
                          ? NULL : st_model_find(mm, name);
  char alt[256];
  if (!q && !strncmp(t->name, KEY_PREFIX, strlen(KEY_PREFIX)) &&
      mm->cfg.arch == ST_ARCH_GPT2) {
    snprintf(alt, sizeof alt, "transformer.%s", name);
    q = st_model_find(mm, alt);
  }
  int listed = 0;
  size_t j;
  json_t *v;
  char mod[160];
  if (q) module_of(q->name, mod, sizeof mod);
  json_array_foreach(mts, j, v) {
    const char *s = json_string_value(v);
    size_t k = s ? strlen(s) : 0, ml = q ? strlen(mod) : 0;
    listed |= q && s && ml >= k && !strcmp(mod + ml - k, s); /* peft: endswith */
  }
  if (!q || !listed)
    return st_err("%s: '%s' is neither a LoRA tensor nor one of the "
                  "modules_to_save of this model", f->path, t->name);
  int64_t shape[2];
  int nd = st_param_shape(q, shape);
  if (t->ndim != nd || t->shape[0] != shape[0] || (nd == 2 && t->shape[1] != shape[1]))
    return st_err("%s: '%s' does not have the shape of %s (a different base "
                  "model?)", f->path, t->name, q->name);
  float *buf = st_malloc(t->numel * sizeof *buf);
  int rc = !buf || st_sft_read_f32(f, t, buf, t->numel) ||
           st_model_set(mm, q, buf, t->numel);
  free(buf);
  if (!rc && written) written[q - mm->tab] = 1;
  return rc ? ST_ERR : ST_OK;
}

static int load_peft(st_lora **out, const st_model *m, st_model *mm,
                     const char *dir, unsigned char *written);

int st_lora_load_peft(st_lora **out, const st_model *m, const char *dir) {
  return load_peft(out, m, NULL, dir, NULL);
}

int st_lora_load_peft_model(st_lora **out, st_model *m, const char *dir,
                            unsigned char *written) {
  return load_peft(out, m, m, dir, written);
}

/* mm: the model modules_to_save go into (NULL: refuse them) */
static int load_peft(st_lora **out, const st_model *m, st_model *mm,
                     const char *dir, unsigned char *written) {
  *out = NULL;
  char cfgpath[ST_PATH_MAX], wpath[ST_PATH_MAX];
  snprintf(cfgpath, sizeof cfgpath, "%s/adapter_config.json", dir);
  snprintf(wpath, sizeof wpath, "%s/adapter_model.safetensors", dir);
  json_error_t je;
  json_t *c = json_load_file(cfgpath, 0, &je);
  if (!c) return st_err("%s: line %d: %s", cfgpath, je.line, je.text);
  st_sft *f = NULL;
  st_lora *lo = NULL;
  float *buf = NULL;
  int rc = ST_ERR, L = m->cfg.n_layers;
  const char *pt = json_string_value(json_object_get(c, "peft_type"));
  const char *bias = json_string_value(json_object_get(c, "bias"));
  json_t *r = json_object_get(c, "r"), *alpha = json_object_get(c, "lora_alpha");
  json_t *rp = json_object_get(c, "rank_pattern"), *ap = json_object_get(c, "alpha_pattern");
  json_t *ltt = json_object_get(c, "layers_to_transform");
  json_t *mts = json_object_get(c, "modules_to_save");
  int rslora = json_is_true(json_object_get(c, "use_rslora"));
  double dropout = json_number_value(json_object_get(c, "lora_dropout"));
  if (!pt || strcmp(pt, "LORA")) {
    st_err("%s: peft_type is %s, not LORA", cfgpath, pt ? pt : "missing");
    goto done;
  }
  static const char *const unsupported[] = {"trainable_token_indices",
                                            "layer_replication",
                                            "target_parameters", NULL};
  for (const char *const *u = unsupported; *u; u++) {
    json_t *v = json_object_get(c, *u);
    if (v && !json_is_null(v) && !(json_is_array(v) && !json_array_size(v))) {
      st_err("%s: sets %s, which strata does not compute", cfgpath, *u);
      goto done;
    }
  }
  if (json_is_true(json_object_get(c, "use_dora")) ||
      json_is_true(json_object_get(c, "lora_bias")) || (bias && strcmp(bias, "none"))) {
    st_err("%s: uses DoRA or LoRA biases, which strata does not compute", cfgpath);
    goto done;
  }
  int saves = mts && !json_is_null(mts) && !(json_is_array(mts) && !json_array_size(mts));
  if (saves && (!json_is_array(mts) || !mm)) {
    st_err("%s: has modules_to_save (whole modules trained along); %s", cfgpath,
           mm ? "expected a list of module names"
              : "load it with st_lora_load_peft_model, which writes them into "
                "the model");
    goto done;
  }
  if (!json_is_integer(r) || json_integer_value(r) < 1) {
    st_err("%s: r must be an integer >= 1 (rank 0 adapts nothing)", cfgpath);
    goto done;
  }
  if (!json_is_number(alpha) || !(json_number_value(alpha) > 0)) {
    st_err("%s: lora_alpha must be a number > 0", cfgpath);
    goto done;
  }
  if (ltt && !json_is_null(ltt)) {
    json_t *one = json_is_integer(ltt) ? ltt : NULL, *v;
    size_t i;
    if (!one && !json_is_array(ltt)) {
      st_err("%s: layers_to_transform must be an integer or a list", cfgpath);
      goto done;
    }
    if (one) {
      long long l = json_integer_value(one);
      if (l < 0 || l >= L) {
        st_err("%s: layers_to_transform names layer %lld; the model has %d "
               "layers (0..%d)", cfgpath, l, L, L - 1);
        goto done;
      }
    }
    json_array_foreach(ltt, i, v) {
      long long l = json_integer_value(v);
      if (!json_is_integer(v) || l < 0 || l >= L) {
        st_err("%s: layers_to_transform names layer %lld; the model has %d "
               "layers (0..%d)", cfgpath, l, L, L - 1);
        goto done;
      }
    }
  }
  if (check_targets(m, json_object_get(c, "target_modules"), cfgpath)) goto done;
  if (!(dropout >= 0 && dropout < 1)) dropout = 0; /* training only */

  if (st_sft_open(&f, wpath) || st_lora_new(&lo, m, 0)) goto done;
  /* pass 1: the adapters (from the A tensors); pass 2: check B and load */
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < f->n; i++) {
      const st_sft_tensor *t = &f->t[i];
      char path[160];
      int isB = 0;
      const st_param *w = key_param(m, t->name, &isB, path, sizeof path);
      if (!w && saves) {
        if (pass == 0 && load_saved(mm, f, t, mts, written)) goto done;
        continue;
      }
      if (!w) {
        st_err("%s: '%s' is not a LoRA tensor of a module of this model",
               wpath, t->name);
        goto done;
      }
      int k = w->group == ST_G_LAYER ? st_module_index(m, w->module) : -1;
      if (k < 0 || !st_lora_target(m, w->layer, k)) {
        st_err("%s: '%s' adapts %s, which is not a linear module", wpath,
               t->name, path);
        goto done;
      }
      if (!layer_listed(ltt, w->layer)) {
        st_err("%s: '%s' is in layer %d, which layers_to_transform excludes",
               wpath, t->name, w->layer);
        goto done;
      }
      if (t->ndim != 2) {
        st_err("%s: '%s' is not a matrix", wpath, t->name);
        goto done;
      }
      char mpath[128];
      snprintf(mpath, sizeof mpath, "%.*s", (int)strlen(w->name) - 7, w->name);
      st_adapter *a = st_lora_find(lo, w->layer, k);
      if (pass == 0) {
        if (isB) continue;
        if (t->shape[1] != w->cols) {
          st_err("%s: '%s' is [%lld, %lld]; %s takes %d inputs (a different "
                 "base model?)", wpath, t->name, (long long)t->shape[0],
                 (long long)t->shape[1], mpath, w->cols);
          goto done;
        }
        int err = 0, rank = (int)t->shape[0];
        json_t *pr = rp ? pattern_value(rp, mpath, cfgpath, &err) : NULL;
        json_t *pa = !err && ap ? pattern_value(ap, mpath, cfgpath, &err) : NULL;
        if (err) goto done;
        long long want = pr ? json_integer_value(pr) : json_integer_value(r);
        if (want < 1) {
          st_err("%s: rank_pattern gives %s rank %lld (rank 0 adapts nothing)",
                 cfgpath, mpath, want);
          goto done;
        }
        if (rank != want) {
          st_err("%s: '%s' has rank %d, the config says %lld", wpath, t->name,
                 rank, want);
          goto done;
        }
        double al = json_number_value(pa ? pa : alpha);
        if (st_lora_add(lo, w->layer, k, rank, (float)al, rslora, (float)dropout, NULL)) {
          st_err_prefix("%s: ", wpath);
          goto done;
        }
        continue;
      }
      if (!a) {
        st_err("%s: '%s' has no lora_A partner", wpath, t->name);
        goto done;
      }
      int64_t r0 = isB ? w->rows : a->rank, r1 = isB ? a->rank : w->cols;
      if (t->shape[0] != r0 || t->shape[1] != r1) {
        st_err("%s: '%s' is [%lld, %lld], expected [%lld, %lld] for %s (a "
               "different base model?)", wpath, t->name, (long long)t->shape[0],
               (long long)t->shape[1], (long long)r0, (long long)r1, mpath);
        goto done;
      }
      free(buf);
      if (!(buf = st_malloc(t->numel * sizeof *buf)) ||
          st_sft_read_f32(f, t, buf, t->numel))
        goto done;
      st_adapter_set(lo, a, isB ? NULL : buf, isB ? buf : NULL);
    }
  }
  if (!lo->n) {
    st_err("%s: no LoRA tensors", wpath);
    goto done;
  }
  for (int i = 0; i < lo->n; i++) { /* every A has its B */
    char key[256], path[128];
    st_adapter_path(m, &lo->a[i], path, sizeof path);
    snprintf(key, sizeof key, KEY_PREFIX "%s.lora_B.weight", path);
    int found = st_sft_find(f, key) != NULL;
    if (!found && m->cfg.arch == ST_ARCH_GPT2 && !strncmp(path, "transformer.", 12)) {
      snprintf(key, sizeof key, KEY_PREFIX "%s.lora_B.weight", path + 12);
      found = st_sft_find(f, key) != NULL;
    }
    if (!found) {
      st_err("%s: %s has lora_A but no lora_B", wpath, path);
      goto done;
    }
  }
  rc = ST_OK;
done:
  free(buf);
  st_sft_close(f);
  json_decref(c);
  if (rc) st_lora_free(lo);
  else *out = lo;
  return rc;
}
