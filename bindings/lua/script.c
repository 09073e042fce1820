/* script.c - running Lua code from C: the traceback handler and
 * `strata lua script.lua args...`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lualib.h>

#include "error.h"
#include "strata_lua.h"

/* lua.c's message handler, except that a message which already carries a
 * traceback (a script error re-raised by strata.run_script) keeps its own */
int sl_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (strstr(msg, "\nstack traceback:")) {
    lua_pushstring(L, msg);
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int sl_errorf(lua_State *L, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lua_pushstring(L, msg);
  return lua_error(L);
}

int sl_pcall(lua_State *L, int nargs, int nresults) {
  int fn = lua_gettop(L) - nargs;
  lua_pushcfunction(L, sl_traceback);
  lua_insert(L, fn);
  int rc = lua_pcall(L, nargs, nresults, fn);
  lua_remove(L, fn);
  if (rc == LUA_OK) return ST_OK;
  const char *msg = lua_tostring(L, -1);
  st_err("%s", msg ? msg : "Lua error");
  lua_pop(L, 1);
  return ST_ERR;
}

int sl_run_file(const char *script, int argc, char **argv, int unsafe,
                int threads_fixed) {
  lua_State *L = sl_newstate();
  if (!L) return st_err("cannot create a Lua state: out of memory");
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_strata);
  lua_setfield(L, -2, "strata");
  lua_pop(L, 1);
  lua_pushboolean(L, unsafe);
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  lua_pushboolean(L, threads_fixed);
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.threads_fixed");
  /* arg[0] = script, arg[1..] = args, as the stock interpreter does */
  lua_createtable(L, argc, 1);
  lua_pushstring(L, script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
  int rc = ST_OK;
  if (luaL_loadfilex(L, script, NULL) != LUA_OK) {
    rc = st_err("%s", lua_tostring(L, -1));
  } else if (!lua_checkstack(L, argc + LUA_MINSTACK)) {
    rc = st_err("%s: too many arguments", script);
  } else {
    for (int i = 0; i < argc; i++)
      lua_pushstring(L, argv[i]);
    rc = sl_pcall(L, argc, 0);
  }
  sl_close(L);
  return rc;
}
