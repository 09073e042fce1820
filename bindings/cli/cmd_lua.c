/* cmd_lua.c - `strata lua [--unsafe-lua] <script.lua> [args]`: run a Lua
 * script with the strata module, like `lua script.lua` with
 * LUA_CPATH=build/lua/?.so. --unsafe-lua lifts the sandbox of the recipe
 * scripts (policies, schedules) that the script runs. Everything after the
 * script's path is the script's (its `arg` table), options included. */
#include <string.h>

#include "commands.h"
#include "error.h"
#include "strata_lua.h"

static const cli_opt opts[] = {
    {"--unsafe-lua", CLI_FLAG,
     .help = "run the recipe scripts (policies, schedules) that the\n"
             "script loads without the sandbox"},
    {"script.lua", CLI_ARG, .help = "the script; it can require \"strata\""},
    {"args", CLI_REST,
     .help = "the script's arguments (arg[1], ...), passed as they are:\n"
             "options after the script's path are the script's"},
    {0}};
static const cli_spec spec = {"lua", opts, NULL, NULL};

ST_CMD(lua) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  char **rest;
  int n = cli_rest(&a, &rest);
  return sl_run_file(cli_str(&a, "script.lua"), n, rest, cli_on(&a, "--unsafe-lua"),
                     cli_threads_given) ==
                 ST_OK
             ? 0
             : 1;
}
