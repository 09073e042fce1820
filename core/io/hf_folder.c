/* hf_folder.c - Hugging Face model folders: config.json plus model.safetensors
 * or shards listed in model.safetensors.index.json.
 *
 * Every tensor in the files must map to a parameter of the table (or be a
 * known non-parameter buffer), and every parameter must be present, so a
 * checkpoint with modules strata does not compute is refused rather than
 * silently half-loaded.
 *
 * In split storage (model_load.h) each weight matrix whose file dtype is
 * its frozen dtype points into the shard's mapping, which the model then
 * keeps open; the rest is converted as it is read. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "hf_config.h"
#include "model.h"
#include "model_io.h"
#include "model_load.h"
#include "safetensors.h"
#include "weights.h"

/* what load_hf builds besides a frozen dtype code (model_load.h) */
enum { AS_FLAT = -2, AS_LAYOUT = -3 };

static int ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* buffers that checkpoints may carry but that are not parameters: GPT-2's
 * causal mask, rotary inverse frequencies */
static int is_buffer(const char *name) {
  return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias") ||
         ends_with(name, ".rotary_emb.inv_freq");
}

static int shape_str(char *s, size_t n, const int64_t *shape, int ndim) {
  int k = snprintf(s, n, "[");
  for (int i = 0; i < ndim; i++)
    k += snprintf(s + k, n - (size_t)k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  return snprintf(s + k, n - (size_t)k, "]");
}

/* the parameter a file's tensor is, or NULL for one that is skipped (a
 * buffer; lm_head of a tied model); *bad set when it is no parameter */
static const st_param *param_of(const st_model *m, const st_sft_tensor *t, int *bad) {
  char name[160];
  *bad = 0;
  /* GPT-2 checkpoints exist with and without the "transformer." prefix */
  if (m->cfg.arch == ST_ARCH_GPT2 && strncmp(t->name, "transformer.", 12) &&
      strcmp(t->name, "lm_head.weight"))
    snprintf(name, sizeof name, "transformer.%s", t->name);
  else
    snprintf(name, sizeof name, "%s", t->name);
  const st_param *p = st_model_find(m, name);
  if (!p && !is_buffer(name) && !(m->cfg.tied && !strcmp(name, "lm_head.weight")))
    *bad = 1;
  return p;
}

/* Checks a shard's header against the model's layout: every tensor a
 * parameter, once, of the shape the config implies and a float dtype.
 * Runs over every shard before the parameters are allocated, so a config
 * that claims sizes its files do not have costs no memory. */
static int check_shard(st_model *m, const char *file, char *seen) {
  st_sft *f;
  if (st_sft_open(&f, file) != ST_OK) return ST_ERR;
  int rc = ST_OK;
  for (int i = 0; i < f->n && rc == ST_OK; i++) {
    const st_sft_tensor *t = &f->t[i];
    int bad;
    const st_param *p = param_of(m, t, &bad);
    if (bad) {
      rc = st_err("%s: unexpected tensor '%s' (not a parameter of this "
                  "config's model)", file, t->name);
      break;
    }
    if (!p) continue;
    if (t->dtype != ST_SFT_I32)
      snprintf(m->dtype, sizeof m->dtype, "%s",
               t->dtype == ST_SFT_BF16  ? "bfloat16"
               : t->dtype == ST_SFT_F16 ? "float16"
                                        : "float32");
    int k = (int)(p - m->tab);
    if (seen[k]) {
      rc = st_err("%s: tensor '%s' appears twice", file, t->name);
      break;
    }
    seen[k] = 1;
    int64_t want[2];
    int nd = st_param_shape(p, want);
    if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1])) {
      char a[96], b[96];
      shape_str(a, sizeof a, t->shape, t->ndim);
      shape_str(b, sizeof b, want, nd);
      rc = st_err("%s: tensor '%s' has shape %s, the config implies %s", file,
                  t->name, a, b);
    } else if (t->dtype == ST_SFT_I32) {
      rc = st_err("%s: tensor '%s' is I32; weights are F32, F16 or BF16", file, t->name);
    }
  }
  st_sft_close(f);
  return rc;
}

static st_dtype dtype_of(st_sft_dtype d) {
  return d == ST_SFT_BF16 ? ST_DT_BF16 : d == ST_SFT_F16 ? ST_DT_F16 : ST_DT_F32;
}

static void close_shard(void *f) { st_sft_close(f); }

/* reads a checked shard's parameters into the allocated model: through
 * fp32 in flat storage; in split storage a weight matrix goes in its own
 * dtype (in place when it can, model_load.h) and the shard stays open
 * while anything points into it */
static int load_shard(st_model *m, const char *file, int mode) {
  st_sft *f;
  if (st_sft_open(&f, file) != ST_OK) return ST_ERR;
  int rc = ST_OK;
  float *buf = NULL;
  for (int i = 0; i < f->n && rc == ST_OK; i++) {
    const st_sft_tensor *t = &f->t[i];
    int bad;
    const st_param *p = param_of(m, t, &bad);
    if (!p) continue;
    int matrix = mode != AS_FLAT && st_slot_is_matrix(p->layer, p->slot);
    if (matrix && mode == ST_FROZEN_AUTO)
      m->st[p - m->tab].dt = m->st[p - m->tab].frozen = dtype_of(t->dtype);
    if (matrix && !p->conv1d) { /* GPT-2's Conv1D is transposed below */
      rc = st_param_load(m, p, f->data + t->begin, dtype_of(t->dtype), 1);
      continue;
    }
    free(buf);
    if (!(buf = st_malloc(t->numel * sizeof(float))) ||
        st_sft_read_f32(f, t, buf, t->numel) != ST_OK ||
        st_model_set(m, p, buf, t->numel) != ST_OK)
      rc = ST_ERR;
  }
  free(buf);
  int kept = 0;
  for (int i = 0; rc == ST_OK && i < m->n_tab; i++) {
    const uint8_t *d = m->st[i].data;
    kept |= m->st[i].mapped && d >= f->data && d < f->data + f->data_len;
  }
  if (kept) return st_model_keep(m, f, close_shard);
  st_sft_close(f);
  return rc;
}

/* shard file names from model.safetensors.index.json, deduplicated */
static int read_index(const char *path, char ***files, int *n) {
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) return st_err("%s: line %d: %s", path, je.line, je.text);
  json_t *map = json_object_get(root, "weight_map");
  int rc = ST_OK;
  *n = 0;
  *files = NULL;
  if (!json_is_object(map)) {
    rc = st_err("%s: missing key 'weight_map'", path);
    goto out;
  }
  *files = st_calloc(json_object_size(map), sizeof(char *));
  if (!*files) { rc = ST_ERR; goto out; }
  const char *k;
  json_t *v;
  json_object_foreach(map, k, v) {
    const char *s = json_string_value(v);
    if (!s || !*s || strchr(s, '/') || !strcmp(s, "..")) {
      rc = st_err("%s: weight_map['%s'] must be a file name in the folder", path, k);
      goto out;
    }
    int dup = 0;
    for (int i = 0; i < *n; i++) dup |= !strcmp((*files)[i], s);
    if (dup) continue;
    if (!((*files)[*n] = strdup(s))) { rc = st_err("out of memory"); goto out; }
    (*n)++;
  }
out:
  json_decref(root);
  return rc;
}

static int load_hf(st_model **out, const char *path, const st_backend *be,
                   int mode) {
  *out = NULL;
  char dir[ST_PATH_MAX], cfgpath[ST_PATH_MAX], file[ST_PATH_MAX];
  if (ends_with(path, ".json")) {
    snprintf(cfgpath, sizeof cfgpath, "%s", path);
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    if (!dir[0]) snprintf(dir, sizeof dir, "/");
  } else {
    snprintf(dir, sizeof dir, "%s", path);
    if (st_path_join(cfgpath, sizeof cfgpath, dir, "config.json")) return ST_ERR;
  }
  st_config c;
  if (st_hfconfig_read(cfgpath, &c) != ST_OK) return ST_ERR;

  char **shards = NULL;
  int nshards = 0, rc = ST_OK;
  if (st_path_join(file, sizeof file, dir, "model.safetensors")) return ST_ERR;
  if (exists(file)) {
    if (!(shards = st_calloc(1, sizeof(char *)))) return ST_ERR;
    if (!(shards[0] = strdup("model.safetensors"))) {
      free(shards);
      return st_err("out of memory");
    }
    nshards = 1;
  } else {
    if (st_path_join(file, sizeof file, dir, "model.safetensors.index.json"))
      return ST_ERR;
    if (!exists(file))
      return st_err("%s: no model.safetensors or model.safetensors.index.json "
                    "(only safetensors weights are read)", dir);
    if ((rc = read_index(file, &shards, &nshards)) != ST_OK) goto out;
  }

  st_model *m = NULL;
  char *seen = NULL;
  if ((rc = st_model_layout(&m, &c, be)) != ST_OK) {
    st_err_prefix("%s: ", cfgpath);
    goto out;
  }
  snprintf(m->path, sizeof m->path, "%s", path);
  if (!(seen = st_calloc((size_t)m->n_tab, 1))) rc = ST_ERR;
  for (int i = 0; i < nshards && rc == ST_OK; i++) {
    rc = st_path_join(file, sizeof file, dir, shards[i]);
    if (rc == ST_OK) rc = check_shard(m, file, seen);
  }
  for (int k = 0; k < m->n_tab && rc == ST_OK; k++)
    if (!seen[k])
      rc = st_err("%s: missing tensor '%s'", dir, m->tab[k].name);
  free(seen);
  /* the files agree with the config: now its sizes may cost memory */
  if (rc == ST_OK && mode != AS_LAYOUT)
    rc = mode == AS_FLAT ? st_model_alloc(m)
                         : st_model_alloc_as(m, mode == ST_FROZEN_AUTO
                                                    ? ST_DT_F32 : (st_dtype)mode);
  for (int i = 0; i < nshards && rc == ST_OK && mode != AS_LAYOUT; i++) {
    rc = st_path_join(file, sizeof file, dir, shards[i]);
    if (rc == ST_OK) rc = load_shard(m, file, mode);
  }
  if (rc == ST_OK) *out = m;
  else st_model_free(m);
out:
  for (int i = 0; i < nshards; i++) free(shards[i]);
  free(shards);
  return rc == ST_OK ? ST_OK : ST_ERR;
}

int st_load_hf(st_model **out, const char *path, const st_backend *be) {
  return load_hf(out, path, be, AS_FLAT);
}

int st_load_hf_as(st_model **out, const char *path, const st_backend *be,
                  int frozen) {
  return load_hf(out, path, be, frozen);
}

int st_load_hf_layout(st_model **out, const char *path, const st_backend *be) {
  return load_hf(out, path, be, AS_LAYOUT);
}

/* ------------------------------------------------------------------ */

int st_save_hf(const st_model *m, const char *dir) {
  return st_save_hf_as(m, dir, NULL);
}

int st_save_hf_as(const st_model *m, const char *dir, const char *dtype) {
  char path[ST_PATH_MAX];
  if (!dir[0]) return st_err("st_save_hf: empty folder name");
  if (!dtype) dtype = m->dtype[0] ? m->dtype : "float32";
  st_sft_dtype dt = !strcmp(dtype, "float32")    ? ST_SFT_F32
                    : !strcmp(dtype, "bfloat16") ? ST_SFT_BF16
                    : !strcmp(dtype, "float16")  ? ST_SFT_F16
                                                 : ST_SFT_I32;
  if (dt == ST_SFT_I32)
    return st_err("dtype '%s': expected float32, bfloat16 or float16", dtype);
  if (st_mkdirs(dir)) return ST_ERR;
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (st_hfconfig_write(path, &m->cfg, dtype) != ST_OK) return ST_ERR;

  st_sft_entry *e = st_calloc((size_t)m->n_tab, sizeof *e);
  float **bufs = st_calloc((size_t)m->n_tab, sizeof *bufs);
  int rc = e && bufs ? ST_OK : ST_ERR;
  for (int i = 0; i < m->n_tab && rc == ST_OK; i++) {
    const st_param *p = &m->tab[i];
    size_t n = (size_t)p->rows * p->cols;
    if (!(bufs[i] = st_malloc(n * sizeof(float))) ||
        st_model_get(m, p, bufs[i], n) != ST_OK) {
      rc = ST_ERR;
      break;
    }
    e[i].name = p->name;
    e[i].dtype = dt;
    e[i].ndim = st_param_shape(p, e[i].shape);
    e[i].data = bufs[i];
  }
  if (rc == ST_OK) {
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = st_sft_write(path, e, m->n_tab, NULL, NULL, 0);
  }
  for (int i = 0; bufs && i < m->n_tab; i++) free(bufs[i]);
  free(bufs);
  free(e);
  return rc;
}
