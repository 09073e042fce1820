/* cmd_run.c - strata run <recipe.yaml> and strata plan <recipe.yaml>: the
 * command line in front of the runner (bindings/lua/runner.c), which does
 * the work. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "runner.h"

static const char *usage =
    "usage: strata run <recipe.yaml> [--set key=value]... [--out DIR]\n"
    "                  [--device cpu|cuda] [--unsafe-lua] [--stop-at N] [--threads N]\n"
    "       strata run --resume DIR [--set key=value]... [--stop-at N]\n"
    "       strata plan <recipe.yaml> [--set key=value]...\n"
    "  --set a.b=v    override a recipe key (v is YAML: 1e-3, [q, v], \"s\")\n"
    "  --device D     cpu or cuda (as --set device=D); precision: bf16 in a recipe\n"
    "                 (or --set precision=bf16) trains in bf16 on cuda\n"
    "  --out DIR      the run folder (default <output.dir or runs>/<recipe>-<time>)\n"
    "  --resume DIR   continue DIR's run from its checkpoint\n"
    "  --stop-at N    stop after step N with a checkpoint, as an interruption would\n"
    "  --unsafe-lua   run policy and schedule scripts without the sandbox";

typedef struct args {
  const char *recipe;
  const char **sets;
  char device[80];
  int unsafe;
  sl_run_opts o;
} args;

static int parse_args(args *a, int argc, char **argv, int plan_only) {
  sl_run_opts *o = &a->o;
  if (!(a->sets = calloc((size_t)argc, sizeof *a->sets))) return st_err("out of memory");
  o->sets = a->sets;
  o->plan_only = plan_only;
  o->threads_fixed = cli_threads_given;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(s, "--set") && more) a->sets[o->nsets++] = argv[++i];
    else if (!strcmp(s, "--device") && more) { /* sugar for --set device=X */
      snprintf(a->device, sizeof a->device, "device=%s", argv[++i]);
      a->sets[o->nsets++] = a->device;
    }
    else if (!strcmp(s, "--out") && more && !plan_only) o->out = argv[++i];
    else if (!strcmp(s, "--resume") && more && !plan_only) o->resume = argv[++i];
    else if (!strcmp(s, "--stop-at") && more && !plan_only) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1) return st_err("--stop-at needs a step >= 1");
      o->stop_at = (int)v;
    } else if (!strcmp(s, "--unsafe-lua")) a->unsafe = 1;
    else if (s[0] != '-' && !a->recipe) a->recipe = s;
    else return st_err("%s: unexpected argument '%s'\n%s", argv[0], s, usage);
  }
  if (o->resume && a->recipe)
    return st_err("--resume takes its recipe from the run folder; drop %s", a->recipe);
  if (o->resume && o->out) return st_err("--resume and --out cannot be combined");
  if (!a->recipe && !o->resume) return st_err("%s", usage);
  return ST_OK;
}

static int run_cmd(int argc, char **argv, int plan_only) {
  if (cli_flag(argc, argv, "--help") || cli_flag(argc, argv, "-h")) {
    puts(usage);
    return 0;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress and errors interleave right */
  args a = {0};
  int rc = parse_args(&a, argc, argv, plan_only);
  lua_State *L = rc ? NULL : luaL_newstate();
  if (rc == ST_OK && !L) rc = st_err("out of memory");
  if (rc == ST_OK) {
    luaL_openlibs(L);
    lua_pushboolean(L, a.unsafe);
    lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
    if (a.recipe) lua_pushstring(L, a.recipe);
    rc = sl_run(L, a.recipe ? -1 : 0, &a.o);
  }
  if (L) lua_close(L);
  free(a.sets);
  return rc;
}

int cmd_run(int argc, char **argv) { return run_cmd(argc, argv, 0); }
int cmd_plan(int argc, char **argv) { return run_cmd(argc, argv, 1); }
