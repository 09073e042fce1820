/* dataset_lua.c - tokenized datasets as Lua values, for scripted training
 * and evaluation.
 *
 *   train, eval = strata.data(model, data [, {seq_len=, seed=, tokenizer=}])
 *
 * `data` is a recipe `data` table (read by sl_load_data, so the eval set
 * is data.eval, a data.eval_fraction split, or nil) or a file path (every
 * example trains, no eval set). seq_len defaults to min(128, the model's
 * context), as train.seq_len does; seed (1) drives the eval split. The
 * tokenizer is the one beside the model unless named.
 *
 *   ds.n  ds.T  ds.n_classes  ds.path
 *   ds:head(n)     the first min(n, ds.n) examples, a new dataset */
#include <string.h>

#include "error.h"
#include "model_io.h"
#include "fs.h"
#include "workbench_lua.h"

#define DATASET_MT "strata.dataset"

st_dataset *sl_check_dataset(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, DATASET_MT);
}

static int ds_gc(lua_State *L) {
  st_dataset_free(sl_check_dataset(L, 1));
  return 0;
}

static int ds_head(lua_State *L) {
  st_dataset *ds = sl_check_dataset(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  if (n < 1) return luaL_error(L, "dataset:head(n): n must be >= 1");
  st_dataset *out = sl_push_dataset(L);
  if (sl_dataset_head(out, ds, n > ds->n ? ds->n : (int)n))
    return sl_errorf(L, "%s", st_errmsg());
  return 1;
}

static int ds_index(lua_State *L) {
  st_dataset *ds = sl_check_dataset(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (!strcmp(k, "n")) lua_pushinteger(L, ds->n);
  else if (!strcmp(k, "T")) lua_pushinteger(L, ds->T);
  else if (!strcmp(k, "n_classes")) lua_pushinteger(L, ds->n_classes);
  else if (!strcmp(k, "path")) lua_pushstring(L, ds->path);
  else if (!strcmp(k, "head")) lua_pushcfunction(L, ds_head);
  else lua_pushnil(L);
  return 1;
}

static int ds_len(lua_State *L) {
  lua_pushinteger(L, sl_check_dataset(L, 1)->n);
  return 1;
}

static int ds_tostring(lua_State *L) {
  st_dataset *ds = sl_check_dataset(L, 1);
  lua_pushfstring(L, "dataset(%s, %d x %d%s)", ds->path, ds->n, ds->T,
                  ds->n_classes ? ", classification" : "");
  return 1;
}

st_dataset *sl_push_dataset(lua_State *L) {
  st_dataset *ds = lua_newuserdatauv(L, sizeof *ds, 0);
  memset(ds, 0, sizeof *ds);
  if (luaL_newmetatable(L, DATASET_MT)) {
    const luaL_Reg mt[] = {{"__gc", ds_gc}, {"__index", ds_index},
                           {"__len", ds_len}, {"__tostring", ds_tostring},
                           {NULL, NULL}};
    luaL_setfuncs(L, mt, 0);
  }
  lua_setmetatable(L, -2);
  return ds;
}

/* the tokenizer lives in a userdata while the data loads, so a Lua error
 * cannot leak it */
static int tok_gc(lua_State *L) {
  st_tokenizer **tk = lua_touserdata(L, 1);
  st_tokenizer_free(*tk);
  *tk = NULL;
  return 0;
}

void sl_push_datasets(lua_State *L, int model, int data, int T,
                          uint64_t seed, const char *tokenizer) {
  model = lua_absindex(L, model);
  data = lua_absindex(L, data);
  st_model *m = sl_check_model(L, model);
  int dt = lua_type(L, data);
  if (dt != LUA_TSTRING && dt != LUA_TTABLE)
    luaL_error(L, "data must be a file path or a recipe data table, not %s",
               luaL_typename(L, data));
  if (T < 2 || T > m->cfg.max_seq)
    sl_errorf(L, "seq_len %d: expected 2..%d (the model's context)", T,
                  m->cfg.max_seq);
  char tp[ST_PATH_MAX];
  if (!tokenizer) {
    lua_getfield(L, model, "path");
    if (st_model_tokenizer(lua_tostring(L, -1), tp, sizeof tp))
      sl_errorf(L, "%s", st_errmsg());
    lua_pop(L, 1);
    tokenizer = tp;
  }
  st_tokenizer **tk = lua_newuserdatauv(L, sizeof *tk, 0);
  *tk = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, tok_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  if (st_tokenizer_load(tk, tokenizer)) sl_errorf(L, "%s", st_errmsg());
  st_dataset *train = sl_push_dataset(L);
  st_dataset *eval = sl_push_dataset(L);
  int rc;
  if (dt == LUA_TSTRING) {
    st_data_opts o = st_data_opts_default();
    o.path = lua_tostring(L, data);
    o.seq_len = T;
    rc = st_dataset_load(train, *tk, &o);
  } else {
    rc = sl_load_data(L, data, *tk, T, seed, train, eval);
  }
  if (rc) sl_errorf(L, "%s", st_errmsg());
  if (!eval->n) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  lua_remove(L, -3); /* the tokenizer; freed by the collector */
}

/* strata.data(model, data [, opts]) -> train, eval|nil */
static int l_data(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  lua_settop(L, 3);
  int dflt = sl_default_seq_len(m);
  int T = dflt;
  lua_Integer seed = 1;
  const char *tok = NULL;
  if (!lua_isnil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "seq_len") != LUA_TNIL)
      T = (int)luaL_checkinteger(L, -1);
    if (lua_getfield(L, 3, "seed") != LUA_TNIL) seed = luaL_checkinteger(L, -1);
    if (lua_getfield(L, 3, "tokenizer") != LUA_TNIL) tok = luaL_checkstring(L, -1);
    lua_pop(L, 3); /* opts keeps the string alive */
  }
  sl_push_datasets(L, 1, 2, T, (uint64_t)seed, tok);
  return 2;
}

const luaL_Reg sl_dataset_funcs[] = {
    {"data", l_data},
    {NULL, NULL},
};
