/* test_sandbox.c - the environment recipe scripts run in: every way out
 * fails with a message that names it, the allowed things work, and
 * --unsafe-lua (opts.unsafe or the registry flag) lifts the restrictions. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lualib.h>

#include "error.h"
#include "strata_lua.h"
#include "test.h"

#define FIX "tests/fixtures/recipes"

static lua_State *L;
static char err[2048];
static char run_dir[64], outside[64];

/* runs `code` in the environment `env` (a global); NULL or the error */
static const char *in_env(const char *env, const char *code) {
  if (luaL_loadbufferx(L, code, strlen(code), "=snippet", "t") != LUA_OK) {
    snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return err;
  }
  lua_getglobal(L, env);
  lua_setupvalue(L, -2, 1);
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) return NULL;
  snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  return err;
}
#define BOX(code) in_env("box", code)
#define FREE(code) in_env("free", code)

#define CHECK_ERR(msg, want)                                                   \
  do {                                                                         \
    const char *_m = (msg);                                                    \
    CHECK_MSG(_m && strstr(_m, want), "got '%s', want '%s'",                    \
              _m ? _m : "(no error)", want);                                   \
  } while (0)
#define CHECK_OK(msg)                                                          \
  do {                                                                         \
    const char *_m = (msg);                                                    \
    CHECK_MSG(!_m, "%s", _m);                                                  \
  } while (0)

static int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* pushes a sandbox as global `name` */
static void make_env(const char *name, const char *run, int unsafe) {
  const char *dirs[] = {FIX, NULL};
  sl_sandbox_opts o = {run, dirs, unsafe};
  CHECK(sl_sandbox_push(L, &o) == ST_OK);
  lua_setglobal(L, name);
}

static void test_forbidden(void) {
  char code[1024], path[256];
  const char *blocked =
      "is not allowed in the recipe sandbox (run with --unsafe-lua";
  CHECK_ERR(BOX("os.execute('touch /tmp/strata_should_not_exist')"),
            "os.execute ");
  CHECK_ERR(BOX("os.execute()"), blocked);
  CHECK_ERR(BOX("io.popen('ls')"),
            "io.popen is not allowed in the recipe sandbox");
  CHECK_ERR(BOX("package.loadlib('libc.so.6', 'puts')"),
            "package.loadlib is not allowed in the recipe sandbox");
  CHECK_ERR(BOX("os.exit(3)"), "os.exit is not allowed in the recipe sandbox");
  CHECK_ERR(BOX("debug.getinfo(1)"),
            "debug.getinfo is not allowed in the recipe sandbox");
  CHECK_ERR(BOX("debug.sethook(print, 'l')"), "debug.sethook is not allowed");
  CHECK_ERR(BOX("io.output('x')"), "io.output is not allowed");
  CHECK_ERR(BOX("collectgarbage('stop')"), "collectgarbage is not allowed");

  /* writes outside the run folder, however spelled */
  snprintf(path, sizeof path, "%s/escape.txt", outside);
  snprintf(code, sizeof code, "io.open('%s', 'w')", path);
  CHECK_ERR(BOX(code), "io.open: cannot write '");
  CHECK_ERR(BOX(code), "': it is outside the run folder '");
  snprintf(code, sizeof code, "io.open('%s', 'a+')", path);
  CHECK_ERR(BOX(code), "is outside the run folder");
  snprintf(code, sizeof code, "io.open('%s/../%s/escape.txt', 'wb')", run_dir,
           outside + 5);
  CHECK_ERR(BOX(code), "is outside the run folder");
  snprintf(code, sizeof code, "io.open('%s/no/such/dir/x', 'w')", run_dir);
  CHECK_ERR(BOX(code), "is outside the run folder");
  CHECK(!exists(path));
  /* through a symlink inside the run folder, dangling or not */
  char link[256], dangling[256];
  snprintf(link, sizeof link, "%s/link", run_dir);
  snprintf(dangling, sizeof dangling, "%s/dangling", run_dir);
  CHECK(symlink(outside, link) == 0);
  CHECK(symlink(path, dangling) == 0);
  snprintf(code, sizeof code, "io.open('%s/link/escape.txt', 'w')", run_dir);
  CHECK_ERR(BOX(code), "is outside the run folder");
  snprintf(code, sizeof code, "io.open('%s', 'w')", dangling);
  CHECK_ERR(BOX(code), "is outside the run folder");
  CHECK(!exists(path));
  /* removing and renaming outside */
  snprintf(code, sizeof code, "os.remove('%s')", outside);
  CHECK_ERR(BOX(code), "os.remove: cannot write '");
  snprintf(code, sizeof code, "os.rename('%s/link', '%s/stolen')", run_dir,
           outside);
  CHECK_ERR(BOX(code), "os.rename: cannot write '");
  /* no run folder: no writes at all */
  make_env("norun", NULL, 0);
  snprintf(code, sizeof code, "io.open('%s/x.txt', 'w')", run_dir);
  CHECK_ERR(in_env("norun", code), "there is none");

  /* binary chunks */
  CHECK_ERR(BOX("load(string.dump(function() return 1 end))"),
            "load: binary chunks are not allowed in the recipe sandbox");
  CHECK_ERR(BOX("load('return 1', 'x', 'b')"),
            "load: binary chunks are not allowed");
  CHECK_ERR(BOX("loadfile('" FIX "/sandbox_helper.lua', 'bt')"),
            "loadfile: binary chunks are not allowed");
  CHECK_ERR(BOX("local parts = {string.dump(function() end)}; "
                "local f, e = load(function() return table.remove(parts) end); "
                "assert(f == nil and e:find('binary chunk')); error('reader "
                "refused')"),
            "reader refused");

  /* C modules and files outside scripts/ and the recipe's dir */
  CHECK_ERR(BOX("require 'strata'"), "require: module 'strata' not found");
  CHECK_ERR(BOX("require 'strata'"), "C modules are not allowed");
  CHECK_ERR(BOX("require 'lpeg'"), "require: module 'lpeg' not found");
  CHECK_ERR(BOX("require '../../etc/passwd'"), "require: bad module name");
  CHECK_ERR(BOX("require 'x/y'"), "require: bad module name");
  CHECK_ERR(BOX("dofile('/etc/passwd')"),
            "dofile: '/etc/passwd' is outside the directories");
  CHECK_ERR(BOX("loadfile('/etc/passwd')"),
            "loadfile: '/etc/passwd' is outside");
  CHECK_ERR(BOX("dofile('" FIX "/../../../CMakeLists.txt')"),
            "is outside the directories");
  CHECK_ERR(BOX("assert(package.cpath == '' and package.searchers == nil); "
                "assert(package.path:find('" FIX
                "/?.lua', 1, true)); error('checked')"),
            "checked");

  /* the host's tables stay the host's */
  CHECK_ERR(BOX("assert(getmetatable('') == nil); error('hidden')"), "hidden");
  make_env("scratch", run_dir, 0);
  CHECK_OK(
      in_env("scratch", "string.upper = nil; table.concat = nil; math.pi = 3"));
  CHECK(
      luaL_dostring(L, "assert(string.upper('a') == 'A' and math.pi > 3.14)") ==
      LUA_OK);
  CHECK_OK(BOX("leaked = 1; _G.also = 2"));
  lua_getglobal(L, "leaked");
  lua_getglobal(L, "also");
  CHECK(lua_isnil(L, -1) && lua_isnil(L, -2));
  lua_pop(L, 2);
  CHECK_ERR(BOX("return load('return os')() ~= os and error('escaped') or "
                "error('same env')"),
            "same env");
}

static void test_allowed(void) {
  char code[1024];
  CHECK_OK(BOX("assert(string.format('%5.2f', math.pi) == ' 3.14')"));
  CHECK_OK(BOX(
      "local t = {3, 1, 2}; table.sort(t); assert(table.concat(t) == '123')"));
  CHECK_OK(BOX("assert(utf8.len('h\\u{e9}') == 2 and select('#', 1, 2) == 2)"));
  CHECK_OK(BOX("assert(type(os.time()) == 'number' and os.clock() >= 0)"));
  CHECK_OK(BOX("assert(os.date('%Y', 0) == '1970' and "
               "os.getenv('STRATA_NO_SUCH_VAR') == nil)"));
  CHECK_OK(BOX("local ok, e = pcall(error, {code = 1}); assert(not ok and "
               "e.code == 1)"));
  CHECK_OK(BOX("local co = coroutine.wrap(function() coroutine.yield(1) end); "
               "assert(co() == 1)"));
  CHECK_OK(BOX(
      "assert(setmetatable({}, {__index = function() return 5 end}).x == 5)"));
  CHECK_OK(BOX("assert(getmetatable(setmetatable({}, {__metatable = "
               "'locked'})) == 'locked')"));
  CHECK_OK(BOX("assert(load('return 1 + 1')() == 2)"));
  CHECK_OK(BOX(
      "local env = {}; load('x = 1', 'c', 't', env)(); assert(env.x == 1)"));
  CHECK_OK(BOX("assert(debug.traceback('tb'):find('^tb'))"));
  /* reads anywhere */
  CHECK_OK(BOX("local f = assert(io.open('" FIX "/base.yaml')); "
               "assert(f:read('l'):find('^#')); f:close()"));
  CHECK_OK(BOX("local n = 0; for l in io.lines('" FIX
               "/base.yaml') do n = n + 1 end; "
               "assert(n > 5)"));
  /* writes, renames and removes inside the run folder */
  snprintf(
      code, sizeof code,
      "local f = assert(io.open('%s/out.txt', 'w')); f:write('hello'); "
      "f:close(); "
      "assert(os.rename('%s/out.txt', '%s/moved.txt')); "
      "f = assert(io.open('%s/moved.txt', 'a+')); f:write('!'); f:close(); "
      "assert(io.open('%s/moved.txt'):read('a') == 'hello!'); "
      "assert(os.remove('%s/moved.txt'))",
      run_dir, run_dir, run_dir, run_dir, run_dir, run_dir);
  CHECK_OK(BOX(code));
  /* require and dofile from the recipe's directory */
  CHECK_OK(BOX("local h = require 'sandbox_helper'; assert(h.answer == 42 and "
               "h.twice(4) == 8); "
               "assert(require('sandbox_helper') == h and "
               "package.loaded.sandbox_helper == h)"));
  CHECK_OK(BOX("assert(dofile('" FIX "/sandbox_helper.lua').answer == 42)"));
  CHECK_OK(
      BOX("assert(loadfile('" FIX "/sandbox_helper.lua')().twice(1) == 2)"));
  CHECK_OK(BOX("assert(require('string') == string and require('os') == os)"));
}

static void test_tracebacks(void) {
  /* a failing script names its file:line, with a traceback */
  lua_getglobal(L, "box");
  int env = lua_gettop(L);
  CHECK(sl_sandbox_dofile(L, FIX "/sandbox_fail.lua", env) == ST_ERR);
  CHECK_ERR(st_errmsg(), FIX "/sandbox_fail.lua:3: bad value 7");
  CHECK_ERR(st_errmsg(), "stack traceback:");
  CHECK_ERR(st_errmsg(), FIX "/sandbox_fail.lua:5: in main chunk");
  lua_settop(L, env);
  /* and a good one returns its value */
  CHECK(sl_sandbox_dofile(L, FIX "/sandbox_helper.lua", env) == ST_OK);
  lua_getfield(L, -1, "answer");
  CHECK(lua_tointeger(L, -1) == 42);
  lua_settop(L, env - 1);
  /* strata.run_script: the error carries one traceback */
  luaL_requiref(L, "strata", luaopen_strata, 1);
  lua_pop(L, 1);
  if (luaL_dostring(L, "return strata.run_script('" FIX
                       "/sandbox_fail.lua', box)") != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    CHECK_ERR(m, FIX "/sandbox_fail.lua:3: bad value 7");
    CHECK_ERR(m, "stack traceback:");
    const char *first = strstr(m, "stack traceback:");
    CHECK(first && !strstr(first + 1, "stack traceback:"));
    lua_pop(L, 1);
  } else {
    CHECK(!"run_script should have failed");
    lua_pop(L, 1);
  }
  /* run_script in the sandbox: package.loadlib raises */
  CHECK(luaL_dostring(L, "return (strata.run_script('" FIX
                         "/sandbox_probe.lua', box))") == LUA_OK);
  CHECK(lua_toboolean(L, -1) == 0);
  lua_pop(L, 1);
}

static void test_unsafe(void) {
  char code[1024], path[256];
  make_env("free", run_dir, 1);
  CHECK_OK(FREE("assert(type(os.execute) == 'function' and os.execute == "
                "_G.os.execute)"));
  CHECK_OK(FREE("assert(io.popen == _G.io.popen and package.loadlib == "
                "_G.package.loadlib)"));
  CHECK_OK(FREE("assert(debug.getinfo(1).currentline == 1)"));
  snprintf(path, sizeof path, "%s/allowed.txt", outside);
  snprintf(code, sizeof code, "assert(io.open('%s', 'w')):close()", path);
  CHECK_OK(FREE(code));
  CHECK(exists(path));
  unlink(path);
  /* globals still go to the script's own table */
  CHECK_OK(FREE("mine = 1"));
  lua_getglobal(L, "mine");
  CHECK(lua_isnil(L, -1));
  lua_pop(L, 1);
  /* strata lua --unsafe-lua sets the flag: every sandbox is then unrestricted
   */
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  make_env("flagged", run_dir, 0);
  CHECK_OK(in_env("flagged", "assert(os.execute == _G.os.execute)"));
  lua_pushboolean(L, 0);
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  /* a run folder that does not exist is an error */
  sl_sandbox_opts o = {"/nonexistent/strata/run", NULL, 0};
  CHECK(sl_sandbox_push(L, &o) == ST_ERR);
  CHECK_ERR(st_errmsg(), "/nonexistent/strata/run: run folder does not exist");
}

static void test_path_inside(void) {
  char p[256];
  CHECK(sl_path_inside(run_dir, run_dir));
  snprintf(p, sizeof p, "%s/new.txt", run_dir);
  CHECK(sl_path_inside(p, run_dir));
  snprintf(p, sizeof p, "%s/../x", run_dir);
  CHECK(!sl_path_inside(p, run_dir));
  snprintf(p, sizeof p, "%s/..", run_dir);
  CHECK(!sl_path_inside(p, run_dir));
  snprintf(p, sizeof p, "%sx/a", run_dir); /* a sibling sharing the prefix */
  CHECK(!sl_path_inside(p, run_dir));
  CHECK(!sl_path_inside("/etc/passwd", run_dir));
  CHECK(sl_path_inside("/etc/passwd", "/"));
  CHECK(!sl_path_inside("x", "/nonexistent/dir"));
}

int main(void) {
  snprintf(run_dir, sizeof run_dir, "/tmp/strata_sbx_run_XXXXXX");
  snprintf(outside, sizeof outside, "/tmp/strata_sbx_out_XXXXXX");
  if (!mkdtemp(run_dir) || !mkdtemp(outside))
    SKIP("cannot make temporary folders");
  L = luaL_newstate();
  luaL_openlibs(L);
  make_env("box", run_dir, 0);
  test_forbidden();
  test_allowed();
  test_tracebacks();
  test_unsafe();
  test_path_inside();
  lua_close(L);
  char p[256];
  snprintf(p, sizeof p, "%s/link", run_dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/dangling", run_dir);
  unlink(p);
  rmdir(run_dir);
  rmdir(outside);
  TEST_DONE();
}
