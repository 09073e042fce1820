/* module.c - `require "strata"`: one table, filled from each file's list.
 *
 * Built twice: into strata_lua (linked into the CLI and tests, where
 * `strata lua` preloads it) and as build/lua/strata.so for a stock lua5.4
 * (LUA_CPATH=build/lua/?.so). Add a concept by adding its list here. */
#include "strata_lua.h"
#include "workbench_lua.h"

static const luaL_Reg *const parts[] = {
    st_lua_yaml_funcs,
    st_lua_recipe_funcs,
    st_lua_sandbox_funcs,
    st_lua_model_funcs,
    st_lua_trace_funcs,
    st_lua_plan_funcs,
    st_lua_train_funcs,
    st_lua_dataset_funcs,
    st_lua_trainer_funcs,
    st_lua_runner_funcs,
};

int luaopen_strata(lua_State *L) {
  lua_newtable(L);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    luaL_setfuncs(L, parts[i], 0);
  lua_pushliteral(L, STRATA_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
