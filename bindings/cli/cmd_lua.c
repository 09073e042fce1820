/* cmd_lua.c - `strata lua [--unsafe-lua] <script.lua> [args]`: run a Lua
 * script with the strata module, like `lua script.lua` with
 * LUA_CPATH=build/lua/?.so. --unsafe-lua lifts the sandbox of the recipe
 * scripts (policies, schedules) that the script runs. */
#include <string.h>

#include "commands.h"
#include "error.h"
#include "strata_lua.h"

ST_CMD(lua) {
  int i = 1, unsafe = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--unsafe-lua")) {
      unsafe = 1;
    } else if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else {
      return st_err("lua: unknown option '%s'", argv[i]);
    }
  }
  if (i >= argc)
    return st_err("usage: strata lua [--unsafe-lua] <script.lua> [args]");
  return st_lua_run_file(argv[i], argc - i - 1, argv + i + 1, unsafe) == ST_OK
             ? 0
             : 1;
}
