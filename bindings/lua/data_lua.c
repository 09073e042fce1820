/* data_lua.c - a recipe's `data` section -> train and eval datasets.
 *
 * Paths are used as written: relative ones resolve against the working
 * directory (recipes are run from the repository root). The eval set is
 * data.eval read with the same template and verbalizers, else a seeded
 * data.eval_fraction split of train, else empty.
 *
 * Chat and alpaca data go through a chat template: a Lua script
 * (data.chat_template: a file, or a name in scripts/chat_templates/) run in
 * the recipe sandbox that returns
 *   function(messages) -> segments
 * messages = {{role = "user", content = "..."}, ...}; each segment is a
 * string (no loss) or {text = "...", train = true}. The core tokenizes the
 * segments' text as one (st_chat_encode) and puts the loss on the trained
 * ones. Loading the template and each call run under an instruction
 * budget, so a template that loops fails instead of hanging the data load:
 * the registry's "strata.sandbox_instructions" when a caller put the
 * recipe's sandbox.instructions there (strata data does), else the
 * schema's default. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "workbench_lua.h"

#define MAX_CLASSES 64
#define MAX_ROLES 64

typedef struct chat_tmpl {
  lua_State *L;
  int fn; /* stack index of the template function */
  long long budget; /* instructions per call */
  char name[256], path[ST_PATH_MAX]; /* as the recipe names it; its file */
} chat_tmpl;

typedef struct data_spec {
  st_data_opts o;
  int K;
  char label[MAX_CLASSES][64];
  const char *labels[MAX_CLASSES], *verbs[MAX_CLASSES];
  char label_col[64];
  const char *role_from[MAX_ROLES], *role_to[MAX_ROLES];
  chat_tmpl tmpl;
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

/* data.roles: {dataset role = template role} */
static int read_roles(lua_State *L, int t, data_spec *d) {
  if (lua_getfield(L, t, "roles") != LUA_TTABLE) {
    lua_pop(L, 1);
    return ST_OK;
  }
  int v = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, v)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      lua_settop(L, v - 1);
      return st_err("data.roles: expected role names mapped to role names");
    }
    if (d->o.n_roles == MAX_ROLES) {
      lua_settop(L, v - 1);
      return st_err("data.roles: more than %d roles", MAX_ROLES);
    }
    /* alive in the recipe */
    d->role_from[d->o.n_roles] = lua_tostring(L, -2);
    d->role_to[d->o.n_roles++] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  d->o.role_from = d->role_from;
  d->o.role_to = d->role_to;
  return ST_OK;
}

/* [raises] runs the template on one conversation: (fn, messages, n,
 * segments); called under lua_pcall by render() */
static int render_l(lua_State *L) {
  const st_chat_msg *m = lua_touserdata(L, 2);
  int n = (int)lua_tointeger(L, 3);
  st_segments *out = lua_touserdata(L, 4);
  lua_settop(L, 1);
  lua_pushvalue(L, 1);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, m[i].role);
    lua_setfield(L, -2, "role");
    lua_pushstring(L, m[i].content);
    lua_setfield(L, -2, "content");
    lua_rawseti(L, -2, i + 1);
  }
  lua_call(L, 1, 1);
  if (!lua_istable(L, 2))
    return luaL_error(L, "returned %s, not a list of segments",
                      luaL_typename(L, 2));
  lua_Integer len = luaL_len(L, 2);
  for (lua_Integer i = 1; i <= len; i++) {
    int ty = lua_geti(L, 2, i), train = 0;
    size_t sl;
    const char *text = NULL;
    if (ty == LUA_TSTRING) {
      text = lua_tolstring(L, -1, &sl);
    } else if (ty == LUA_TTABLE) {
      lua_getfield(L, -1, "train");
      train = lua_toboolean(L, -1);
      if (lua_getfield(L, -2, "text") == LUA_TSTRING) text = lua_tolstring(L, -1, &sl);
    }
    if (!text)
      return luaL_error(L, "segment %d is not a string or {text = \"...\", "
                        "train = true}", (int)i);
    if (st_segments_add(out, text, sl, train))
      return luaL_error(L, "%s", st_errmsg());
    lua_settop(L, 2);
  }
  return 0;
}

static int render(void *ctx, const st_chat_msg *msgs, int n, st_segments *out) {
  chat_tmpl *c = ctx;
  lua_State *L = c->L;
  lua_pushcfunction(L, render_l);
  lua_pushvalue(L, c->fn);
  lua_pushlightuserdata(L, (void *)msgs);
  lua_pushinteger(L, n);
  lua_pushlightuserdata(L, out);
  sl_budget_begin(L, c->budget);
  int rc = lua_pcall(L, 4, 0, 0);
  if (sl_budget_end(L) && rc == LUA_OK) /* it caught the error and went on */
    return st_err("chat template %s: ran past its instruction budget of %lld",
                  c->name, c->budget);
  if (rc == LUA_OK) return ST_OK;
  const char *msg = lua_tostring(L, -1);
  st_err("chat template %s: %s", c->name, msg ? msg : "(a non-string error)");
  lua_pop(L, 1);
  return ST_ERR;
}

/* pushes the chat template's function (data.chat_template, else the
 * schema's default) and points d->o at it */
static int load_template(lua_State *L, int t, data_spec *d) {
  const char *name = opt_str(L, t, "chat_template");
  if (!name) sl_schema_push_default(L, "data.chat_template");
  else lua_pushstring(L, name);
  snprintf(d->tmpl.name, sizeof d->tmpl.name, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  sl_script_path(d->tmpl.name, "chat_templates", d->tmpl.path,
                 sizeof d->tmpl.path);
  struct stat st;
  if (stat(d->tmpl.path, &st))
    return st_err("data.chat_template: no template at %s (the shipped ones "
                  "are in %s/chat_templates)", d->tmpl.path, sl_scripts_dir());
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strata.sandbox_instructions") !=
      LUA_TNUMBER) {
    lua_pop(L, 1);
    sl_schema_push_default(L, "sandbox.instructions");
  }
  d->tmpl.budget = (long long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  sl_budget_begin(L, d->tmpl.budget);
  int rc = sl_load_script(L, d->tmpl.path, NULL);
  if (sl_budget_end(L) && rc == ST_OK) {
    lua_pop(L, 1);
    return st_err("%s: ran past its instruction budget of %lld", d->tmpl.path,
                  d->tmpl.budget);
  }
  if (rc) return ST_ERR;
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return st_err("%s: a chat template must return function(messages) -> "
                  "segments", d->tmpl.path);
  }
  d->tmpl.L = L;
  d->tmpl.fn = lua_gettop(L);
  d->o.render = render;
  d->o.render_ctx = &d->tmpl;
  return ST_OK;
}

/* reads d from the data table at t; chat formats push their template's
 * function, which must stay on the stack while the data loads */
static int read_spec(lua_State *L, int t, int seq_len, data_spec *d) {
  memset(d, 0, sizeof *d);
  d->o = st_data_opts_default();
  d->o.seq_len = seq_len;
  const char *fmt = opt_str(L, t, "format");
  static const struct { const char *name; st_ds_format f; int cls; } fm[] = {
      {"text", ST_DS_TEXT, 0}, {"jsonl", ST_DS_JSONL, 0},
      {"prompt-completion", ST_DS_JSONL, 0},
      {"tsv-classification", ST_DS_TSV, 1},
      {"csv-classification", ST_DS_CSV, 1},
      {"chat", ST_DS_CHAT, 0}, {"alpaca", ST_DS_ALPACA, 0}};
  int cls = 0;
  d->o.format = ST_DS_AUTO;
  for (size_t i = 0; fmt && i < sizeof fm / sizeof *fm; i++)
    if (!strcmp(fmt, fm[i].name)) d->o.format = fm[i].f, cls = fm[i].cls;
  /* JSON key names: the recipe's, else st_data_opts_default's (the same
   * as the schema's, tests/unit/test_chat.c) */
  static const struct { const char *key; size_t off; } keys[] = {
      {"text_column", offsetof(st_data_opts, text_key)},
      {"messages_column", offsetof(st_data_opts, messages_key)},
      {"role_key", offsetof(st_data_opts, role_key)},
      {"content_key", offsetof(st_data_opts, content_key)},
      {"instruction_column", offsetof(st_data_opts, instruction_key)},
      {"input_column", offsetof(st_data_opts, input_key)},
      {"output_column", offsetof(st_data_opts, output_key)}};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    const char *v = opt_str(L, t, keys[i].key);
    if (v) *(const char **)((char *)&d->o + keys[i].off) = v;
  }
  if (read_roles(L, t, d)) return ST_ERR;
  if ((d->o.format == ST_DS_CHAT || d->o.format == ST_DS_ALPACA) &&
      load_template(L, t, d))
    return ST_ERR;
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
  int t = lua_absindex(L, idx), top = lua_gettop(L);
  data_spec d;
  memset(train, 0, sizeof *train);
  memset(eval, 0, sizeof *eval);
  if (read_spec(L, t, seq_len, &d)) {
    lua_settop(L, top);
    return ST_ERR;
  }
  const char *train_path = opt_str(L, t, "train");
  const char *eval_path = opt_str(L, t, "eval");
  st_dataset full = {0}, rest = {0};
  int rc = ST_ERR;
  if (!train_path) {
    st_err("data.train: required");
    goto done;
  }
  d.o.path = train_path;
  if (st_dataset_load(&full, tk, &d.o)) goto done;
  lua_getfield(L, t, "eval_fraction");
  double frac = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
  lua_getfield(L, t, "max_samples");
  int max = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
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
  lua_settop(L, top); /* the chat template */
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
