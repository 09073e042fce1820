/* data_lua.c - a recipe's `data` section -> train and eval datasets.
 *
 * Paths are used as written: relative ones resolve against the working
 * directory (recipes are run from the repository root). The eval set is
 * data.eval read with the same template and verbalizers, else a seeded
 * data.eval_fraction split of train, else empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "workbench_lua.h"

#define MAX_CLASSES 64

typedef struct data_spec {
  st_data_opts o;
  int K;
  char label[MAX_CLASSES][64];
  const char *labels[MAX_CLASSES], *verbs[MAX_CLASSES];
  char label_col[64];
} data_spec;

static const char *opt_str(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the recipe table keeps the string alive */
  return s;
}

static int cmp_label(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  char *ex, *ey;
  long vx = strtol(x, &ex, 10), vy = strtol(y, &ey, 10);
  if (*x && *y && !*ex && !*ey) return (vx > vy) - (vx < vy);
  return strcmp(x, y);
}

/* verbalizers: {label = text}; classes in label order (numeric when all
 * labels are integers) */
static int read_verbalizers(lua_State *L, int t, data_spec *d) {
  if (lua_getfield(L, t, "verbalizers") != LUA_TTABLE) {
    lua_pop(L, 1);
    return ST_OK;
  }
  int v = lua_gettop(L);
  const char *order[MAX_CLASSES];
  lua_pushnil(L);
  while (lua_next(L, v)) {
    if (d->K == MAX_CLASSES) {
      lua_settop(L, v - 1);
      return st_err("data.verbalizers: more than %d classes", MAX_CLASSES);
    }
    if (lua_isinteger(L, -2))
      snprintf(d->label[d->K], 64, "%lld", (long long)lua_tointeger(L, -2));
    else
      snprintf(d->label[d->K], 64, "%s", lua_tostring(L, -2));
    order[d->K] = d->label[d->K];
    d->K++;
    lua_pop(L, 1);
  }
  qsort(order, (size_t)d->K, sizeof *order, cmp_label);
  for (int k = 0; k < d->K; k++) {
    d->labels[k] = order[k];
    char *e;
    long iv = strtol(order[k], &e, 10);
    if (*order[k] && !*e) lua_rawgeti(L, v, iv);
    else lua_getfield(L, v, order[k]);
    if (lua_isnil(L, -1)) { /* numeric-looking string key */
      lua_pop(L, 1);
      lua_getfield(L, v, order[k]);
    }
    d->verbs[k] = lua_tostring(L, -1); /* alive in the recipe */
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ST_OK;
}

static int read_spec(lua_State *L, int t, int seq_len, data_spec *d) {
  memset(d, 0, sizeof *d);
  d->o = st_data_opts_default();
  d->o.seq_len = seq_len;
  const char *fmt = opt_str(L, t, "format");
  static const struct { const char *name; st_ds_format f; int cls; } fm[] = {
      {"text", ST_DS_TEXT, 0}, {"jsonl", ST_DS_JSONL, 0},
      {"prompt-completion", ST_DS_JSONL, 0},
      {"tsv-classification", ST_DS_TSV, 1},
      {"csv-classification", ST_DS_CSV, 1}};
  int cls = 0;
  d->o.format = ST_DS_AUTO;
  for (size_t i = 0; fmt && i < sizeof fm / sizeof *fm; i++)
    if (!strcmp(fmt, fm[i].name)) d->o.format = fm[i].f, cls = fm[i].cls;
  if (opt_str(L, t, "text_column"))
    return st_err("data.text_column: not supported yet (jsonl documents use "
                  "the \"text\" key)");
  if (read_verbalizers(L, t, d)) return ST_ERR;
  d->o.templ = opt_str(L, t, "template");
  if (cls && (!d->K || !d->o.templ))
    return st_err("data.format %s needs data.template and data.verbalizers",
                  fmt);
  if (d->K && !d->o.templ)
    return st_err("data.verbalizers needs a data.template");
  if (lua_getfield(L, t, "label_column") == LUA_TNUMBER)
    snprintf(d->label_col, sizeof d->label_col, "%lld",
             (long long)lua_tointeger(L, -1));
  else if (lua_type(L, -1) == LUA_TSTRING)
    snprintf(d->label_col, sizeof d->label_col, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  if (d->label_col[0]) d->o.label_col = d->label_col;
  d->o.n_classes = d->K;
  d->o.labels = d->labels;
  d->o.verbalizers = d->verbs;
  return ST_OK;
}

int sl_dataset_head(st_dataset *out, const st_dataset *ds, int n) {
  if (n > ds->n) n = ds->n;
  int *idx = st_malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
  if (!idx) return ST_ERR;
  for (int i = 0; i < n; i++) idx[i] = i;
  int rc = st_dataset_subset(out, ds, idx, n);
  free(idx);
  return rc;
}

int sl_load_data(lua_State *L, int idx, const st_tokenizer *tk,
                     int seq_len, uint64_t seed, st_dataset *train,
                     st_dataset *eval) {
  int t = lua_absindex(L, idx);
  data_spec d;
  memset(train, 0, sizeof *train);
  memset(eval, 0, sizeof *eval);
  if (read_spec(L, t, seq_len, &d)) return ST_ERR;
  const char *train_path = opt_str(L, t, "train");
  const char *eval_path = opt_str(L, t, "eval");
  if (!train_path) return st_err("data.train: required");
  st_dataset full = {0};
  d.o.path = train_path;
  if (st_dataset_load(&full, tk, &d.o)) return ST_ERR;
  lua_getfield(L, t, "eval_fraction");
  double frac = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
  lua_getfield(L, t, "max_samples");
  int max = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
  int rc = ST_ERR;
  st_dataset rest = {0};
  if (eval_path && frac > 0) {
    st_err("data: give either data.eval or data.eval_fraction, not both");
    goto done;
  }
  if (eval_path) {
    /* an eval file may lay its columns out differently (GLUE's SST-2 dev
     * has a header and sentence first; train has neither) */
    char ecol[64] = "";
    const char *etempl = opt_str(L, t, "eval_template");
    if (etempl) d.o.templ = etempl;
    if (lua_getfield(L, t, "eval_label_column") == LUA_TNUMBER)
      snprintf(ecol, sizeof ecol, "%lld", (long long)lua_tointeger(L, -1));
    else if (lua_type(L, -1) == LUA_TSTRING)
      snprintf(ecol, sizeof ecol, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    if (ecol[0]) d.o.label_col = ecol;
    d.o.path = eval_path;
    if (st_dataset_load(eval, tk, &d.o)) goto done;
    rest = full;
    memset(&full, 0, sizeof full);
  } else if (frac > 0) {
    if (full.n < 2) {
      st_err("%s: %d example(s) cannot be split for data.eval_fraction",
             train_path, full.n);
      goto done;
    }
    if (st_dataset_split(&full, frac, seed, &rest, eval)) goto done;
  } else {
    rest = full;
    memset(&full, 0, sizeof full);
  }
  if (max && max < rest.n) {
    if (sl_dataset_head(train, &rest, max)) goto done;
  } else {
    *train = rest;
    memset(&rest, 0, sizeof rest);
  }
  rc = ST_OK;
done:
  st_dataset_free(&full);
  st_dataset_free(&rest);
  if (rc) {
    st_dataset_free(train);
    st_dataset_free(eval);
  }
  return rc;
}

int sl_default_seq_len(const st_model *m) {
  return m->cfg.max_seq < 128 ? m->cfg.max_seq : 128;
}
