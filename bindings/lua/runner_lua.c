/* runner_lua.c - strata.run: the runner (runner.c) called from Lua, so an
 * experiment can be a script of several runs with its own logic between
 * them (docs/examples/experiment.lua).
 *
 *   summary = strata.run(recipe [, {out = DIR, name = NAME, set = {"k=v", ...},
 *                                   stop_at = N, resume = DIR, threads = N}])
 *
 * recipe is a path or a recipe table (checked like a file; the table itself
 * is not changed). The run prints what `strata run` prints and writes the
 * same run folder; the summary is summary.json as a table plus `dir`, the
 * run folder. Errors raise with the runner's message. Recipe scripts run in
 * the sandbox unless the interpreter was started with --unsafe-lua.
 * opts.threads sets the run's thread count over the recipe's `threads`
 * (as does `strata --threads N lua ...` for every run); the caller's
 * thread count is restored when the run ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "runner.h"
#include "workbench_lua.h"

static const char *opt_str(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  if (ty != LUA_TNIL && ty != LUA_TSTRING)
    sl_errorf(L, "strata.run: opts.%s: expected a string, got %s", k,
              luaL_typename(L, -1));
  const char *s = ty == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* a string value: the opts table keeps it alive */
  return s;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer lo,
                           lua_Integer hi) {
  lua_getfield(L, t, k);
  int isint = 0;
  lua_Integer v = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &isint);
  if (!lua_isnil(L, -1) && (!isint || v < lo || v > hi))
    sl_errorf(L, "strata.run: opts.%s: expected an integer in %lld..%lld",
                  k, (long long)lo, (long long)hi);
  lua_pop(L, 1);
  return v;
}

static int l_run(lua_State *L) {
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  else {
    lua_newtable(L);
    lua_replace(L, 2);
  }
  static const char *const known[] = {"out", "name", "set", "stop_at", "resume",
                                      "threads", NULL};
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    int ok = 0;
    for (int i = 0; known[i] && lua_type(L, -2) == LUA_TSTRING; i++)
      ok |= !strcmp(lua_tostring(L, -2), known[i]);
    if (!ok)
      return sl_errorf(L, "strata.run: unknown option '%s' (out, name, set, "
                              "stop_at, resume, threads)", luaL_tolstring(L, -2, NULL));
    lua_pop(L, 1);
  }
  sl_run_opts o = {0};
  o.out = opt_str(L, 2, "out");
  o.name = opt_str(L, 2, "name");
  o.resume = opt_str(L, 2, "resume");
  o.stop_at = (int)opt_int(L, 2, "stop_at", 1, INT32_MAX);
  o.threads = (int)opt_int(L, 2, "threads", 1, 1024);
  if (lua_getfield(L, 2, "set") != LUA_TNIL) {
    if (!lua_istable(L, -1))
      return sl_errorf(L, "strata.run: opts.set: expected a list of \"key=value\" "
                          "strings, got %s", luaL_typename(L, -1));
    int n = (int)lua_rawlen(L, -1);
    const char **sets = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *sets, 0);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, -2, i);
      if (lua_type(L, -1) != LUA_TSTRING)
        return sl_errorf(L, "strata.run: opts.set[%d]: expected a \"key=value\" string", i);
      sets[i - 1] = lua_tostring(L, -1); /* kept alive by opts.set */
      lua_pop(L, 1);
    }
    o.sets = sets;
    o.nsets = n;
  }
  int recipe = lua_isnil(L, 1) ? 0 : 1;
  if (sl_run(L, recipe, &o)) {
    lua_pushstring(L, st_errmsg()); /* whole: a traceback may be long */
    return lua_error(L);
  }
  return 1;
}

const luaL_Reg sl_runner_funcs[] = {
    {"run", l_run},
    {NULL, NULL},
};
