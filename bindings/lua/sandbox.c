/* sandbox.c - the environment recipe scripts (policies, schedules) run in.
 *
 * A recipe may come from someone else, so its scripts get a whitelist:
 * string, table, math, utf8, coroutine (copies, so a script cannot change
 * them for the host), the safe base functions, print, os.time/clock/date/
 * difftime/getenv, io reads anywhere, and writes (io.open "w"/"a"/"+",
 * os.remove, os.rename) only inside the run folder. load/loadfile/dofile
 * take text only and default to the sandbox's globals; dofile/loadfile/
 * require load Lua files only from scripts/ and the recipe's directory, and
 * never C modules. Everything else that reaches the system (os.execute,
 * io.popen, package.loadlib, debug.*, os.exit, ...) is either absent or a
 * stub that raises "<name> is not allowed in the recipe sandbox ...".
 * --unsafe-lua (opts.unsafe, or sl_run_file's flag) gives the full
 * standard library instead.
 *
 * Every wrapper is a C closure whose first upvalue is the sandbox's `box`:
 *   { env, loaded, run_dir, dirs = {dir...}, path = {pattern...} }. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lualib.h>

#include "error.h"
#include "fs.h"
#include "strata_lua.h"

#ifndef STRATA_SOURCE_DIR
#define STRATA_SOURCE_DIR "."
#endif

const char *sl_scripts_dir(void) {
  static char buf[ST_PATH_MAX];
  const char *src = getenv("STRATA_SRC");
  snprintf(buf, sizeof buf, "%s/scripts",
           src && *src ? src : STRATA_SOURCE_DIR);
  return buf;
}

int sl_path_inside(const char *path, const char *dir) {
  char rd[PATH_MAX], rp[PATH_MAX];
  if (!realpath(dir, rd)) return 0;
  if (!realpath(path, rp)) {
    /* not there yet: its parent must resolve inside, and it must not be a
     * dangling symlink (writing through it would land elsewhere) */
    struct stat st;
    if (lstat(path, &st) == 0) return 0;
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (!slash)
      snprintf(parent, sizeof parent, ".");
    else
      snprintf(parent, sizeof parent, "%.*s",
               slash == path ? 1 : (int)(slash - path), path);
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) return 0;
    char rparent[PATH_MAX];
    if (!realpath(parent, rparent)) return 0;
    if (snprintf(rp, sizeof rp, "%s/%s", strcmp(rparent, "/") ? rparent : "",
                 base) >= (int)sizeof rp)
      return 0;
  }
  size_t n = strlen(rd);
  if (n == 1) return 1; /* dir is "/" */
  return !strncmp(rp, rd, n) && (rp[n] == 0 || rp[n] == '/');
}

/* --- helpers ------------------------------------------------------------- */

#define BOX lua_upvalueindex(1)
static const char *const unsafe_hint = "run with --unsafe-lua to allow it";

static int forbidden(lua_State *L) {
  return sl_errorf(L, "%s is not allowed in the recipe sandbox (%s)",
                       lua_tostring(L, lua_upvalueindex(1)), unsafe_hint);
}

/* t[name] = a stub raising "<lib>.<name> is not allowed ..." */
static void add_forbidden(lua_State *L, int t, const char *lib,
                          const char *const *names) {
  t = lua_absindex(L, t);
  for (; *names; names++) {
    lua_pushfstring(L, "%s%s%s", lib, *lib ? "." : "", *names);
    lua_pushcclosure(L, forbidden, 1);
    lua_setfield(L, t, *names);
  }
}

/* t[name] = a closure over box */
static void add_boxed(lua_State *L, int t, int box, const char *name,
                      lua_CFunction f) {
  t = lua_absindex(L, t);
  lua_pushvalue(L, box);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, t, name);
}

/* pushes a copy of the standard library `name`, only `keep` fields (all
 * when NULL) */
static void push_lib(lua_State *L, const char *name, lua_CFunction open,
                     const char *const *keep) {
  luaL_requiref(L, name, open, 0);
  lua_newtable(L);
  if (keep) {
    for (; *keep; keep++) {
      lua_getfield(L, -2, *keep);
      lua_setfield(L, -2, *keep);
    }
  } else {
    lua_pushnil(L);
    while (lua_next(L, -3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  lua_remove(L, -2);
}

static const char *box_string(lua_State *L, const char *field) {
  lua_getfield(L, BOX, field);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* still referenced by the box */
  return s;
}

/* raises unless `path` may be written: inside the run folder */
static void check_write(lua_State *L, const char *what, const char *path) {
  const char *run = box_string(L, "run_dir");
  if (!run)
    sl_errorf(L,
                  "%s: cannot write '%s': recipe scripts may write only "
                  "inside the run folder, and there is none (%s)",
                  what, path, unsafe_hint);
  if (!sl_path_inside(path, run))
    sl_errorf(L,
                  "%s: cannot write '%s': it is outside the run folder '%s' "
                  "(%s)",
                  what, path, run, unsafe_hint);
}

/* raises unless `path` lies in one of the directories scripts load from */
static void check_load(lua_State *L, const char *what, const char *path) {
  lua_getfield(L, BOX, "dirs");
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
    lua_rawgeti(L, -1, i);
    int ok = sl_path_inside(path, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (ok) {
      lua_pop(L, 1);
      return;
    }
  }
  int dirs = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, dirs); i++) {
    if (i > 1) luaL_addstring(&b, ", ");
    lua_rawgeti(L, dirs, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  sl_errorf(L,
                "%s: '%s' is outside the directories recipe scripts may "
                "load from (%s)",
                what, path, lua_tostring(L, -1));
}

/* loads a text chunk from a file with the sandbox's globals (or the env at
 * index env); pushes the function or raises */
static void load_text_file(lua_State *L, const char *path, int env) {
  if (luaL_loadfilex(L, path, "t") != LUA_OK) lua_error(L);
  if (env)
    lua_pushvalue(L, env);
  else
    lua_getfield(L, BOX, "env");
  lua_setupvalue(L, -2, 1); /* a main chunk's first upvalue is _ENV */
}

/* --- wrappers ------------------------------------------------------------ */

static int sb_io_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  lua_settop(L, 2);
  if (strcmp(mode, "r") && strcmp(mode, "rb")) check_write(L, "io.open", path);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_pushstring(L, mode);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L) - 2;
}

static int sb_os_remove(lua_State *L) {
  check_write(L, "os.remove", luaL_checkstring(L, 1));
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

static int sb_os_rename(lua_State *L) {
  check_write(L, "os.rename", luaL_checkstring(L, 1));
  check_write(L, "os.rename", luaL_checkstring(L, 2));
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L) - 2;
}

/* load(chunk [, name [, mode [, env]]]): text only, sandbox env by default */
static int sb_load(lua_State *L) {
  int nargs = lua_gettop(L);
  lua_settop(L, 4);
  const char *mode = luaL_optstring(L, 3, "t");
  size_t n;
  const char *s =
      lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
  if (strchr(mode, 'b') || (s && n && s[0] == LUA_SIGNATURE[0]))
    sl_errorf(L,
                  "load: binary chunks are not allowed in the recipe "
                  "sandbox (%s)",
                  unsafe_hint);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushliteral(L, "t");
  if (nargs >= 4)
    lua_pushvalue(L, 4);
  else
    lua_getfield(L, BOX, "env");
  lua_call(L, 4, 2);
  if (lua_isnil(L, -2)) return 2; /* nil, message */
  lua_pop(L, 1);
  return 1;
}

static int sb_loadfile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "t");
  int env = !lua_isnone(L, 3) ? 3 : 0; /* an explicit nil counts, as in Lua */
  if (strchr(mode, 'b'))
    sl_errorf(L,
                  "loadfile: binary chunks are not allowed in the recipe "
                  "sandbox (%s)",
                  unsafe_hint);
  check_load(L, "loadfile", path);
  if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (env)
    lua_pushvalue(L, env);
  else
    lua_getfield(L, BOX, "env");
  lua_setupvalue(L, -2, 1);
  return 1;
}

static int sb_dofile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  check_load(L, "dofile", path);
  lua_settop(L, 1);
  load_text_file(L, path, 0);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

static int sb_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, BOX, "loaded"); /* 2 */
  if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  /* a module name is a dotted Lua identifier path; nothing else reaches the
   * file system */
  char rel[256];
  size_t n = strlen(name);
  int ok = n > 0 && n < sizeof rel && name[0] != '.' && name[n - 1] != '.' &&
           !strstr(name, "..");
  for (size_t i = 0; ok && i < n; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    rel[i] = c == '.' ? '/' : c;
  }
  if (!ok) return sl_errorf(L, "require: bad module name '%s'", name);
  rel[n] = 0;
  lua_getfield(L, BOX, "path"); /* 3 */
  const char *found = NULL;
  for (lua_Integer i = 1; !found && i <= (lua_Integer)lua_rawlen(L, 3); i++) {
    lua_rawgeti(L, 3, i);
    const char *file = luaL_gsub(L, lua_tostring(L, -1), "?", rel);
    FILE *f = fopen(file, "r");
    if (f) {
      fclose(f);
      found = file; /* stays on the stack */
    } else {
      lua_pop(L, 2);
    }
  }
  if (!found) {
    lua_getfield(L, BOX, "dirs");
    lua_rawgeti(L, -1, 1);
    return sl_errorf(L,
                         "require: module '%s' not found: recipe scripts "
                         "may require only Lua files from %s and the recipe's "
                         "directory; C modules are not allowed (%s)",
                         name, lua_tostring(L, -1), unsafe_hint);
  }
  int file = lua_gettop(L);
  load_text_file(L, found, 0);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, file);
  lua_call(L, 2, 1);
  if (!lua_isnil(L, -1))
    lua_setfield(L, 2, name);
  else
    lua_pop(L, 1);
  if (lua_getfield(L, 2, name) == LUA_TNIL) { /* no value: true, as Lua does */
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
  }
  lua_pushvalue(L, file);
  return 2;
}

/* getmetatable, for tables only: the metatables of strings and of file
 * handles are the host's (the real string table, the methods of every open
 * file), so a script that changed them would change them for the host */
static int sb_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_istable(L, 1) || !lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  luaL_getmetafield(L, 1, "__metatable");
  return 1;
}

/* setmetatable without finalizers: Lua runs __gc with its hooks off, so
 * the instruction budget (limits.c) could not stop a __gc that loops, and
 * it would run at some later collection or keep the process from exiting.
 * (A __gc added to the metatable afterwards marks nothing: Lua decides at
 * setmetatable time.) */
static int sb_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "cannot change a protected metatable");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "__gc is not allowed in the recipe sandbox (%s)", unsafe_hint);
  }
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

/* --- building the environment -------------------------------------------- */

static const char *const safe_globals[] = {
    "assert", "error",  "ipairs",       "next",     "pairs",
    "pcall",  "print",  "rawequal",     "rawget",   "rawlen",
    "rawset", "select", "tonumber", "tostring",
    "type",   "xpcall", "_VERSION",     NULL};

static void push_unsafe_env(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

/* the sandbox proper; pushes env */
static void push_safe_env(lua_State *L, const char *run_dir,
                          const char *const *dirs) {
  luaL_checkstack(L, 16, "building the sandbox");
  lua_newtable(L);
  int env = lua_gettop(L);
  lua_createtable(L, 0, 5);
  int box = env + 1;
  lua_pushvalue(L, env);
  lua_setfield(L, box, "env");
  if (run_dir) {
    lua_pushstring(L, run_dir);
    lua_setfield(L, box, "run_dir");
  }
  /* where dofile/loadfile/require may read Lua from */
  const char *scripts = sl_scripts_dir();
  lua_newtable(L);
  lua_pushstring(L, scripts);
  lua_rawseti(L, -2, 1);
  lua_newtable(L);
  lua_pushfstring(L, "%s/?.lua", scripts);
  lua_rawseti(L, -2, 1);
  lua_pushfstring(L, "%s/?/init.lua", scripts);
  lua_rawseti(L, -2, 2);
  lua_pushfstring(L, "%s/lib/?.lua", scripts);
  lua_rawseti(L, -2, 3);
  for (int i = 0; dirs && dirs[i]; i++) {
    lua_pushstring(L, dirs[i]);
    lua_rawseti(L, -3, i + 2);
    lua_pushfstring(L, "%s/?.lua", dirs[i]);
    lua_rawseti(L, -2, 2 * i + 4);
    lua_pushfstring(L, "%s/?/init.lua", dirs[i]);
    lua_rawseti(L, -2, 2 * i + 5);
  }
  lua_setfield(L, box, "path");
  lua_setfield(L, box, "dirs");
  lua_newtable(L);
  int loaded = lua_gettop(L);
  lua_pushvalue(L, loaded);
  lua_setfield(L, box, "loaded");

  /* base functions */
  luaL_requiref(L, "_G", luaopen_base, 0);
  for (const char *const *g = safe_globals; *g; g++) {
    lua_getfield(L, -1, *g);
    lua_setfield(L, env, *g);
  }
  lua_getfield(L, -1, "load");
  lua_pushvalue(L, box);
  lua_insert(L, -2);
  lua_pushcclosure(L, sb_load, 2);
  lua_setfield(L, env, "load");
  lua_pop(L, 1);
  add_boxed(L, env, box, "loadfile", sb_loadfile);
  add_boxed(L, env, box, "dofile", sb_dofile);
  add_boxed(L, env, box, "require", sb_require);
  lua_pushcfunction(L, sb_getmetatable);
  lua_setfield(L, env, "getmetatable");
  lua_pushcfunction(L, sb_setmetatable);
  lua_setfield(L, env, "setmetatable");
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
  add_forbidden(L, env, "", (const char *const[]){"collectgarbage", NULL});

  /* pure libraries, copied */
  struct {
    const char *name;
    lua_CFunction open;
  } pure[] = {{"string", luaopen_string},
              {"table", luaopen_table},
              {"math", luaopen_math},
              {"utf8", luaopen_utf8},
              {"coroutine", luaopen_coroutine}};
  for (size_t i = 0; i < sizeof pure / sizeof pure[0]; i++) {
    push_lib(L, pure[i].name, pure[i].open, NULL);
    lua_pushvalue(L, -1);
    lua_setfield(L, loaded, pure[i].name);
    lua_setfield(L, env, pure[i].name);
  }

  /* io: reads anywhere, writes in the run folder */
  push_lib(L, "io", luaopen_io,
           (const char *const[]){"lines", "read", "write", "close", "type",
                                 "stdin", "stdout", "stderr", NULL});
  luaL_requiref(L, "io", luaopen_io, 0);
  lua_pushvalue(L, box);
  lua_getfield(L, -2, "open");
  lua_pushcclosure(L, sb_io_open, 2);
  lua_setfield(L, -3, "open");
  lua_pop(L, 1);
  add_forbidden(
      L, -1, "io",
      (const char *const[]){"popen", "input", "output", "tmpfile", NULL});
  lua_pushvalue(L, -1);
  lua_setfield(L, loaded, "io");
  lua_setfield(L, env, "io");

  /* os: clocks, dates, environment; file changes in the run folder */
  push_lib(L, "os", luaopen_os,
           (const char *const[]){"time", "clock", "date", "difftime", "getenv",
                                 NULL});
  luaL_requiref(L, "os", luaopen_os, 0);
  const char *wrapped[] = {"remove", "rename"};
  lua_CFunction wrappers[] = {sb_os_remove, sb_os_rename};
  for (int i = 0; i < 2; i++) {
    lua_pushvalue(L, box);
    lua_getfield(L, -2, wrapped[i]);
    lua_pushcclosure(L, wrappers[i], 2);
    lua_setfield(L, -3, wrapped[i]);
  }
  lua_pop(L, 1);
  add_forbidden(
      L, -1, "os",
      (const char *const[]){"execute", "exit", "tmpname", "setlocale", NULL});
  lua_pushvalue(L, -1);
  lua_setfield(L, loaded, "os");
  lua_setfield(L, env, "os");

  /* package: no C loading; path shows where require looks */
  lua_newtable(L);
  lua_pushvalue(L, loaded);
  lua_setfield(L, -2, "loaded");
  lua_getfield(L, box, "path");
  int pats = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, pats); i++) {
    if (i > 1) luaL_addchar(&b, ';');
    lua_rawgeti(L, pats, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_setfield(L, pats - 1, "path");
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  add_forbidden(L, -1, "package",
                (const char *const[]){"loadlib", "searchpath", NULL});
  lua_pushvalue(L, -1);
  lua_setfield(L, loaded, "package");
  lua_setfield(L, env, "package");

  /* debug: tracebacks only */
  push_lib(L, "debug", luaopen_debug, (const char *const[]){"traceback", NULL});
  add_forbidden(L, -1, "debug",
                (const char *const[]){
                    "debug", "gethook", "getinfo", "getlocal", "getmetatable",
                    "getregistry", "getupvalue", "getuservalue", "sethook",
                    "setlocal", "setmetatable", "setupvalue", "setuservalue",
                    "upvalueid", "upvaluejoin", "setcstacklimit", NULL});
  lua_pushvalue(L, -1);
  lua_setfield(L, loaded, "debug");
  lua_setfield(L, env, "debug");

  lua_pushvalue(L, env);
  lua_setfield(L, loaded, "_G");
  lua_settop(L, env);
}

int sl_sandbox_push(lua_State *L, const sl_sandbox_opts *o) {
  lua_getfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  int unsafe = o->unsafe || lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (unsafe) {
    push_unsafe_env(L);
    return ST_OK;
  }
  char real[PATH_MAX];
  if (o->run_dir && !realpath(o->run_dir, real))
    return st_err("%s: run folder does not exist", o->run_dir);
  push_safe_env(L, o->run_dir, o->dirs);
  return ST_OK;
}

int sl_sandbox_dofile(lua_State *L, const char *path, int env) {
  env = env ? lua_absindex(L, env) : 0;
  if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    st_err("%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return ST_ERR;
  }
  if (env) {
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1);
  }
  return sl_pcall(L, 0, 1);
}

/* --- Lua functions ------------------------------------------------------- */

/* strata.sandbox([run_dir [, {dirs = {...}, unsafe = bool}]]) -> env */
static int l_sandbox(lua_State *L) {
  sl_sandbox_opts o = {luaL_optstring(L, 1, NULL), NULL, 0};
  const char *dirs[33] = {0};
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    o.unsafe = lua_getfield(L, 2, "unsafe") != LUA_TNIL && lua_toboolean(L, -1);
    if (lua_getfield(L, 2, "dirs") == LUA_TTABLE) {
      int n = (int)lua_rawlen(L, -1);
      if (n > 32) return luaL_error(L, "sandbox: at most 32 dirs");
      for (int i = 0; i < n; i++) {
        if (lua_rawgeti(L, -1, i + 1) != LUA_TSTRING)
          return luaL_error(L, "sandbox: dirs[%d] is not a string", i + 1);
        dirs[i] = lua_tostring(L, -1); /* kept alive by the dirs table */
        lua_pop(L, 1);
      }
      o.dirs = dirs;
    }
  }
  if (sl_sandbox_push(L, &o) != ST_OK) return luaL_error(L, "%s", st_errmsg());
  return 1;
}

/* strata.run_script(path, env, ...) -> results of the chunk; errors carry
 * "file:line:" and a traceback */
static int l_run_script(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int nargs = lua_gettop(L) - 2;
  if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
  lua_pushvalue(L, 2);
  lua_setupvalue(L, -2, 1);
  lua_insert(L, 3);
  int base = 2;
  lua_pushcfunction(L, sl_traceback);
  lua_insert(L, 3);
  if (lua_pcall(L, nargs, LUA_MULTRET, 3) != LUA_OK) return lua_error(L);
  return lua_gettop(L) - base - 1;
}

const luaL_Reg sl_sandbox_funcs[] = {
    {"sandbox", l_sandbox},
    {"run_script", l_run_script},
    {NULL, NULL},
};
