/* test_defaults.c - the recipe schema is the one home of training defaults:
 * the C API's st_optim_default (bench, C callers) must give exactly what
 * the schema gives a recipe that leaves train.* out, and a key the schema
 * has no default for pushes nil. */
#include <lauxlib.h>
#include <lualib.h>

#include "strata_lua.h"
#include "test.h"
#include "train.h"

static double schema_num(lua_State *L, const char *key) {
  sl_schema_push_default(L, key);
  CHECK_MSG(lua_isnumber(L, -1), "%s has no default", key);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

int main(void) {
  lua_State *L = luaL_newstate();
  st_optim o = st_optim_default();
  /* compared as floats: the trainer keeps them in float */
  CHECK(o.lr == (float)schema_num(L, "train.lr"));
  CHECK(o.beta1 == (float)schema_num(L, "train.beta1"));
  CHECK(o.beta2 == (float)schema_num(L, "train.beta2"));
  CHECK(o.eps == (float)schema_num(L, "train.eps"));
  CHECK(o.weight_decay == (float)schema_num(L, "train.weight_decay"));
  CHECK(o.grad_clip == (float)schema_num(L, "train.grad_clip"));
  sl_schema_push_default(L, "train.seq_len"); /* computed: no value */
  CHECK(lua_isnil(L, -1));
  sl_schema_push_default(L, "train.no_such_key");
  CHECK(lua_isnil(L, -1));
  lua_close(L);
  TEST_DONE();
}
