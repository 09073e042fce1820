/* eval_lua.c - m:eval{...}: the eval metrics of core/eval.h on a dataset.
 *
 *   m:eval{data = ds | recipe data table | path, samples = N, seq_len = T,
 *          batch = 8, seed = 1, tokenizer = path, classify = true}
 *   -> {loss=, perplexity=, token_accuracy=, n_tokens=, n=,
 *       accuracy=, macro_f1=, n_correct=, confusion = {[gold] = {[pred] = count}}}
 *
 * A table or path is loaded as strata.data does (seq_len and seed apply to
 * it) and the eval set is used when it has one, else its training examples.
 * samples: the first N examples only (as `eval.samples` in a recipe and
 * `strata eval --max-samples`). Classification fields (0-based classes in
 * confusion) only for classification data and unless classify = false. The
 * model is evaluated as it stands, so after trainer steps it is the trained
 * model (with the trainer's LoRA adapters attached). */
#include <string.h>

#include "error.h"
#include "eval.h"
#include "workbench_lua.h"

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* the result's confusion matrix lives in this userdata while the metrics run */
static int res_gc(lua_State *L) {
  st_eval_result_free(lua_touserdata(L, 1));
  return 0;
}

int sl_model_eval(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_Integer samples = 0, B = 8, seed = 1;
  int T = sl_default_seq_len(m), classify = 1;
  if (lua_getfield(L, 2, "samples") != LUA_TNIL) samples = luaL_checkinteger(L, -1);
  if (lua_getfield(L, 2, "batch") != LUA_TNIL) B = luaL_checkinteger(L, -1);
  if (lua_getfield(L, 2, "seed") != LUA_TNIL) seed = luaL_checkinteger(L, -1);
  if (lua_getfield(L, 2, "seq_len") != LUA_TNIL) T = (int)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 2, "classify") != LUA_TNIL) classify = lua_toboolean(L, -1);
  const char *tok = NULL;
  if (lua_getfield(L, 2, "tokenizer") != LUA_TNIL) tok = luaL_checkstring(L, -1);
  lua_settop(L, 2);
  if (samples < 0 || B < 1 || B > 4096)
    return luaL_error(L, "eval: samples >= 0 (0: all), 1 <= batch <= 4096");

  const st_dataset *ds;
  if (lua_getfield(L, 2, "data") == LUA_TUSERDATA) {
    ds = sl_check_dataset(L, 3);
  } else if (lua_isnil(L, 3)) {
    return luaL_error(L, "eval: data is required (a dataset, a recipe data "
                         "table or a file path)");
  } else {
    sl_push_datasets(L, 1, 3, T, (uint64_t)seed, tok); /* train, eval */
    ds = sl_check_dataset(L, lua_isnil(L, -1) ? -2 : -1);
  }
  if (samples && samples < ds->n) {
    st_dataset *sub = sl_push_dataset(L);
    if (sl_dataset_head(sub, ds, (int)samples))
      return sl_errorf(L, "%s", st_errmsg());
    ds = sub;
  }
  if (ds->T > m->cfg.max_seq)
    return sl_errorf(L, "eval: the dataset has %d positions, more than "
                            "the model's context of %d", ds->T, m->cfg.max_seq);

  st_eval_result *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, res_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  /* loss and classification in one pass, as strata run and strata eval */
  int K = ds->n_classes;
  st_eval_opts o = st_eval_opts_default((int)B);
  o.classify = K && classify;
  if (st_eval_run(m, ds, &o, r, NULL, NULL))
    return sl_errorf(L, "eval: %s", st_errmsg());

  lua_createtable(L, 0, 10);
  set_num(L, "loss", r->loss);
  set_num(L, "perplexity", r->ppl);
  set_num(L, "token_accuracy", r->token_acc);
  set_int(L, "n_tokens", r->n_tokens);
  set_int(L, "n", ds->n);
  if (K && classify) {
    set_num(L, "accuracy", r->accuracy);
    set_num(L, "macro_f1", r->macro_f1);
    set_num(L, "mcc", r->mcc);
    set_int(L, "n_correct", r->n_correct);
    lua_createtable(L, K, 1);
    for (int g = 0; g < K; g++) {
      lua_createtable(L, K, 1);
      for (int p = 0; p < K; p++) {
        lua_pushinteger(L, r->confusion[g * K + p]);
        lua_rawseti(L, -2, p);
      }
      lua_rawseti(L, -2, g);
    }
    lua_setfield(L, -2, "confusion");
  }
  return 1;
}
