/* scripts_lua.c - the recipe scripts that steer training: policies and
 * learning-rate schedules, each run in the sandbox (sandbox.c).
 *
 *   policy script   returns { plan = function(ctx) -> plan table,
 *                             on_step = optional function(state) -> plan|nil }
 *   schedule script returns function(step, total, base_lr, params) -> lr
 *
 * strata.policy(path) and strata.schedule(path) load them the same way
 * `strata run` does, so tests and notebooks see exactly what a run sees. A
 * short name ("semantic", "cosine") means <scripts>/policies/<name>.lua or
 * <scripts>/schedules/<name>.lua. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "workbench_lua.h"

void sl_script_path(const char *name, const char *kind, char *out, size_t n) {
  struct stat st;
  if (strchr(name, '/') || stat(name, &st) == 0) {
    snprintf(out, n, "%s", name);
    return;
  }
  size_t len = strlen(name);
  snprintf(out, n, "%s/%s/%s%s", sl_scripts_dir(), kind, name,
           len > 4 && !strcmp(name + len - 4, ".lua") ? "" : ".lua");
}

/* Under --unsafe-lua scripts see the real globals and `require`; give it
 * the scripts folder too, so policies find their shared helpers there. */
static void unsafe_path(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  int unsafe = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!unsafe || lua_getglobal(L, "package") != LUA_TTABLE) {
    lua_settop(L, lua_gettop(L) - unsafe);
    return;
  }
  const char *dir = sl_scripts_dir();
  lua_getfield(L, -1, "path");
  const char *old = lua_tostring(L, -1);
  if (!old || !strstr(old, dir)) {
    lua_pushfstring(L, "%s/?.lua;%s/lib/?.lua;%s", dir, dir, old ? old : "");
    lua_setfield(L, -3, "path");
  }
  lua_pop(L, 2);
}

int sl_load_script(lua_State *L, const char *path, const char *run_dir) {
  /* a script may require its siblings (besides scripts/ and scripts/lib) */
  char dir[ST_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else snprintf(dir, sizeof dir, ".");
  const char *dirs[] = {dir, NULL};
  sl_sandbox_opts o = {run_dir, dirs, 0};
  unsafe_path(L);
  if (sl_sandbox_push(L, &o)) return ST_ERR;
  int rc = sl_sandbox_dofile(L, path, -1);
  lua_remove(L, rc == ST_OK ? -2 : -1);
  return rc;
}

/* strata.policy(name_or_path) -> {plan = f, on_step = f|nil} */
static int l_policy(lua_State *L) {
  char path[ST_PATH_MAX];
  sl_script_path(luaL_checkstring(L, 1), "policies", path, sizeof path);
  if (sl_load_script(L, path, NULL)) return sl_errorf(L, "%s", st_errmsg());
  if (!lua_istable(L, -1) || lua_getfield(L, -1, "plan") != LUA_TFUNCTION)
    return sl_errorf(L, "%s: a policy must return {plan = function(ctx) "
                            "... end}", path);
  lua_pop(L, 1);
  return 1;
}

/* strata.schedule(name_or_path) -> function(step, total, base_lr, params) */
static int l_schedule(lua_State *L) {
  char path[ST_PATH_MAX];
  sl_script_path(luaL_checkstring(L, 1), "schedules", path, sizeof path);
  if (sl_load_script(L, path, NULL)) return sl_errorf(L, "%s", st_errmsg());
  if (!lua_isfunction(L, -1))
    return sl_errorf(L, "%s: a schedule must return function(step, "
                            "total, base_lr, params) -> lr", path);
  return 1;
}

const luaL_Reg sl_scripts_funcs[] = {
    {"policy", l_policy},
    {"schedule", l_schedule},
    {NULL, NULL},
};
