/* model_lua.c - strata.model(path [, device]): a loaded model in Lua.
 *
 *   m.arch m.n_layers m.dim m.hidden m.n_heads m.n_kv_heads m.vocab
 *   m.max_seq m.tied m.n_params m.path
 *   m:layer_params(l)     parameters of layer l (0..L-1)
 *   m:modules()           trainable module names of a layer ({"q", ...})
 *   m:info([T])           the plain table policies get as ctx.model
 *   m:trace{data=, samples=, seq_len=, keep=, tokenizer=, seed=}  (missing
 *                         options: the recipe defaults of trace.*, train.seed)
 *                         the transition trace (trace_lua.c) of the first
 *                         `samples` examples; data is a file path or a
 *                         recipe `data` table
 *   m:eval{data=, ...}    eval metrics (eval_lua.c)
 *   m:params()            parameter names; m:param(name) a copy as a tensor */
#include <stdio.h>
#include <string.h>

#include "cost.h"
#include "error.h"
#include "fs.h"
#include "model_io.h"
#include "tokenizer.h"
#include "workbench_lua.h"

#define MODEL_MT "strata.model"

typedef struct model_ud {
  st_model *m;
} model_ud;

st_model *sl_check_model(lua_State *L, int idx) {
  model_ud *u = luaL_checkudata(L, idx, MODEL_MT);
  if (!u->m) luaL_error(L, "model is closed");
  return u->m;
}

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}
static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

void sl_push_model_info(lua_State *L, const st_model *m, int T) {
  const st_config *c = &m->cfg;
  int L_ = c->n_layers;
  lua_createtable(L, 0, 20);
  lua_pushstring(L, c->arch == ST_ARCH_GPT2 ? "gpt2" : "llama");
  lua_setfield(L, -2, "arch");
  set_int(L, "n_layers", L_);
  set_int(L, "dim", c->dim);
  set_int(L, "hidden", c->hidden);
  set_int(L, "n_heads", c->n_heads);
  set_int(L, "n_kv_heads", c->n_kv_heads);
  set_int(L, "vocab", c->vocab);
  set_int(L, "max_seq", c->max_seq);
  lua_pushboolean(L, c->tied);
  lua_setfield(L, -2, "tied");
  set_int(L, "n_params", (lua_Integer)m->n_params);
  set_int(L, "seq_len", T);
  set_int(L, "embed_params", (lua_Integer)(st_global_size(m, ST_WTE) +
                                           st_global_size(m, ST_WPE)));
  set_int(L, "head_params", c->tied ? 0 : (lua_Integer)st_global_size(m, ST_HEAD));
  const char **names;
  int nm = st_plan_modules(m, &names);
  lua_createtable(L, nm, 0);
  for (int i = 0; i < nm; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "modules");
  /* per-token FLOPs of each layer, as the trace counts them (cost.h) */
  const char *keys[] = {"layer_params", "wgrad_flops", "dgrad_flops"};
  for (int k = 0; k < 3; k++) {
    lua_createtable(L, L_, 1);
    for (int l = 0; l < L_; l++) {
      st_layer_flops f = st_layer_cost_full(m, l, T);
      if (k == 0) lua_pushinteger(L, (lua_Integer)st_layer_params(m, l));
      else lua_pushnumber(L, k == 1 ? f.wgrad : f.dgrad);
      lua_rawseti(L, -2, l);
    }
    lua_setfield(L, -2, keys[k]);
  }
  st_plan all;
  if (st_plan_parse(&all, m, "all") == ST_OK) {
    st_flops f = st_plan_flops(&all, m, T);
    set_num(L, "fwd_flops", f.fwd);
    set_num(L, "full_bwd_flops", f.full_bwd);
    st_plan_free(&all);
  }
}

/* strata.model(path [, device]) */
static int l_model(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const st_backend *be = st_backend_get(luaL_optstring(L, 2, "cpu"));
  if (!be) return sl_errorf(L, "%s", st_errmsg());
  model_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->m = NULL;
  luaL_setmetatable(L, MODEL_MT);
  if (st_model_load(&u->m, path, be)) return sl_errorf(L, "%s", st_errmsg());
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

static int m_gc(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL_MT);
  st_model_free(u->m);
  u->m = NULL;
  return 0;
}

static int m_layer_params(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  lua_Integer l = luaL_checkinteger(L, 2);
  if (l < 0 || l >= m->cfg.n_layers)
    return sl_errorf(L, "layer %lld: the model has %d layers (0..%d)",
                         (long long)l, m->cfg.n_layers, m->cfg.n_layers - 1);
  lua_pushinteger(L, (lua_Integer)st_layer_params(m, (int)l));
  return 1;
}

static int m_modules(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  const char **names;
  int n = st_plan_modules(m, &names);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_info(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  int T = (int)luaL_optinteger(L, 2, sl_default_seq_len(m));
  sl_push_model_info(L, m, T);
  return 1;
}

/* the recipe default of an integer key (the schema's) */
static lua_Integer schema_int(lua_State *L, const char *key) {
  sl_schema_push_default(L, key);
  lua_Integer v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer d) {
  lua_getfield(L, t, k);
  lua_Integer v = lua_isnil(L, -1) ? d : luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* the traced data and its tokenizer live in this userdata, so a Lua error
 * half way frees them */
typedef struct trace_job {
  st_tokenizer *tk;
  st_dataset ds, eval, sub;
  st_trace tr;
} trace_job;

static void job_free(trace_job *j) {
  st_trace_free(&j->tr);
  st_dataset_free(&j->sub);
  st_dataset_free(&j->eval);
  st_dataset_free(&j->ds);
  st_tokenizer_free(j->tk);
  memset(j, 0, sizeof *j);
}

static int job_gc(lua_State *L) {
  job_free(lua_touserdata(L, 1));
  return 0;
}

static int m_trace(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  /* the defaults of a recipe's trace section */
  int samples = (int)opt_int(L, 2, "samples", schema_int(L, "trace.samples"));
  int T = (int)opt_int(L, 2, "seq_len", sl_default_seq_len(m));
  int keep = (int)opt_int(L, 2, "keep", schema_int(L, "trace.keep"));
  uint64_t seed = (uint64_t)opt_int(L, 2, "seed", schema_int(L, "train.seed"));
  if (samples < 1 || T < 2 || keep < 0)
    return luaL_error(L, "trace: samples >= 1, seq_len >= 2, keep >= 0");
  if (T > m->cfg.max_seq) T = m->cfg.max_seq;
  trace_job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, job_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);

  char tp[ST_PATH_MAX];
  lua_getfield(L, 2, "tokenizer");
  const char *tokpath = lua_tostring(L, -1);
  if (!tokpath) {
    lua_getiuservalue(L, 1, 1);
    if (st_model_tokenizer(lua_tostring(L, -1), tp, sizeof tp))
      return sl_errorf(L, "%s", st_errmsg());
    tokpath = tp;
  }
  if (st_tokenizer_load(&j->tk, tokpath)) return sl_errorf(L, "%s", st_errmsg());
  int dt = lua_getfield(L, 2, "data");
  if (dt == LUA_TSTRING) {
    st_data_opts o = st_data_opts_default();
    o.path = lua_tostring(L, -1);
    o.seq_len = T;
    if (st_dataset_load(&j->ds, j->tk, &o)) return sl_errorf(L, "%s", st_errmsg());
  } else if (dt == LUA_TTABLE) {
    if (sl_load_data(L, -1, j->tk, T, seed, &j->ds, &j->eval))
      return sl_errorf(L, "%s", st_errmsg());
  } else {
    return luaL_error(L, "trace: data must be a file path or a recipe data table");
  }
  if (sl_dataset_head(&j->sub, &j->ds, samples) ||
      st_trace_collect(&j->tr, m, j->sub.tok, j->sub.tgt, j->sub.n, j->sub.T,
                       keep, seed))
    return sl_errorf(L, "%s", st_errmsg());
  sl_push_trace(L, &j->tr);
  job_free(j);
  return 1;
}

/* m:param(name) -> tensor: a copy of the named weight (checkpoint layout) */
static int m_param(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const st_param *p = st_model_find(m, name);
  if (!p)
    return sl_errorf(L, "%s: no parameter '%s' (m:params() lists them)",
                         m->path, name);
  size_t n = (size_t)p->rows * p->cols;
  float *x = sl_push_tensor(L, NULL, (int)n);
  if (st_model_get(m, p, x, n))
    return sl_errorf(L, "%s", st_errmsg());
  return 1;
}

/* m:params() -> {names} in checkpoint order */
static int m_params(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  lua_createtable(L, m->n_tab, 0);
  for (int i = 0; i < m->n_tab; i++) {
    lua_pushstring(L, m->tab[i].name);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static const luaL_Reg model_methods[] = {
    {"layer_params", m_layer_params}, {"modules", m_modules},
    {"info", m_info}, {"trace", m_trace}, {"eval", sl_model_eval},
    {"param", m_param}, {"params", m_params}, {NULL, NULL}};

static int m_index(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  const char *k = luaL_checkstring(L, 2);
  const st_config *c = &m->cfg;
  struct { const char *k; lua_Integer v; } ints[] = {
      {"n_layers", c->n_layers}, {"dim", c->dim}, {"hidden", c->hidden},
      {"n_heads", c->n_heads}, {"n_kv_heads", c->n_kv_heads},
      {"vocab", c->vocab}, {"max_seq", c->max_seq},
      {"n_params", (lua_Integer)m->n_params}};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
    if (!strcmp(k, ints[i].k)) {
      lua_pushinteger(L, ints[i].v);
      return 1;
    }
  if (!strcmp(k, "arch")) {
    lua_pushstring(L, c->arch == ST_ARCH_GPT2 ? "gpt2" : "llama");
    return 1;
  }
  if (!strcmp(k, "tied")) {
    lua_pushboolean(L, c->tied);
    return 1;
  }
  if (!strcmp(k, "path")) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  for (const luaL_Reg *r = model_methods; r->name; r++)
    if (!strcmp(r->name, k)) {
      lua_pushcfunction(L, r->func);
      return 1;
    }
  return 0;
}

static int m_tostring(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  lua_pushfstring(L, "model(%s, %d layers, dim %d)", m->path, m->cfg.n_layers,
                  m->cfg.dim);
  return 1;
}

/* creates the metatable once; called from l_model via luaL_setmetatable */
static int l_model_open(lua_State *L) {
  if (luaL_newmetatable(L, MODEL_MT)) {
    lua_pushcfunction(L, m_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  return l_model(L);
}

const luaL_Reg sl_model_funcs[] = {
    {"model", l_model_open},
    {NULL, NULL},
};
