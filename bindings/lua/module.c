/* module.c - `require "strata"`: one table, filled from each file's list.
 *
 * Built twice: into strata_lua (linked into the CLI and tests, where
 * `strata lua` preloads it) and as build/lua/strata.so for a stock lua5.4
 * (LUA_CPATH=build/lua/?.so). Add a concept by adding its list here. */
#include "strata_lua.h"
#include "workbench_lua.h"
#include "report.h"

static const luaL_Reg *const parts[] = {
    sl_yaml_funcs,
    sl_recipe_funcs,
    sl_schema_funcs,
    sl_sandbox_funcs,
    sl_model_funcs,
    sl_trace_funcs,
    sl_plan_funcs,
    sl_scripts_funcs,
    sl_dataset_funcs,
    sl_trainer_funcs,
    sl_runner_funcs,
    sl_report_funcs,
};

int luaopen_strata(lua_State *L) {
  lua_newtable(L);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    luaL_setfuncs(L, parts[i], 0);
  lua_pushliteral(L, STRATA_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
