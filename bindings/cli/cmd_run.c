/* cmd_run.c - strata run <recipe.yaml> and strata plan <recipe.yaml>: the
 * command line in front of the runner (bindings/lua/runner.c), which does
 * the work; strata.run calls the same runner from Lua.
 *
 * Under a launcher (mpirun -np N strata run ...; core/dist/dist.h says how
 * a process knows) this process is one rank of a data-parallel job: only
 * rank 0 prints to stdout (the others' goes to /dev/null; stderr stays, so
 * a rank's error is seen), and an error on any rank is printed with the
 * rank's number and ends the whole job (MPI_Abort), so no rank is left
 * waiting for one that stopped. */
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "dist.h"
#include "error.h"
#include "runner.h"
#include "strata_lua.h"

/* --device is a string, not an enum: the recipe schema checks it and names
 * the key (device: expected one of cpu|cuda), as for any --set */
#define RUN_COMMON                                                           \
  {"--set", CLI_LIST, "KEY=VALUE",                                           \
   .help = "override a recipe key (VALUE is YAML: 1e-3, [q, v], \"s\")"},    \
      {"--device", CLI_STR, "cpu|cuda",                                      \
       .help = "backend, as --set device=D (precision: bf16 in a recipe\n"   \
               "trains in bf16 on cuda)"},                                   \
      {"--unsafe-lua", CLI_FLAG,                                             \
       .help = "run policy and schedule scripts without the sandbox"}

static const cli_opt run_opts[] = {
    {"recipe.yaml", CLI_ARG_OPT, .help = "the recipe (not with --resume)"},
    RUN_COMMON,
    {"--out", CLI_STR, "DIR",
     .help = "the run folder (default <output.dir or runs>/<recipe>-<time>)"},
    {"--resume", CLI_STR, "DIR", .help = "continue DIR's run from its checkpoint"},
    {"--stop-at", CLI_INT, "N", .range = "1..",
     .help = "stop after step N with a checkpoint, as an interruption would"},
    {0}};
static const cli_opt plan_opts[] = {
    {"recipe.yaml", CLI_ARG, .help = "the recipe"}, RUN_COMMON, {0}};
static const cli_spec run_spec = {
    "run", run_opts, NULL,
    "strata run <recipe.yaml> [--set key=value]... [options]\n"
    "strata run --resume DIR [--set key=value]... [--stop-at N]"};
static const cli_spec plan_spec = {"plan", plan_opts, NULL, NULL};

/* Ctrl-C or SIGTERM during training: the runner finishes the step in
 * progress, writes a checkpoint and stops; a second signal, or one that
 * comes before or after the training loop, ends the process at once */
static volatile sig_atomic_t interrupted, training;
static void on_signal(int sig) {
  if (!training) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  interrupted = sig;
}

static int run_cmd(int argc, char **argv, const cli_spec *spec) {
  cli_args a;
  int rc = cli_parse(&a, spec, argc, argv);
  if (rc) return rc == CLI_HELP ? 0 : ST_ERR;
  sl_run_opts o = {0};
  int plan_only = spec == &plan_spec;
  const char *recipe = cli_str(&a, "recipe.yaml");
  if (!plan_only) {
    o.out = cli_str(&a, "--out");
    o.resume = cli_str(&a, "--resume");
    o.stop_at = (int)cli_int(&a, "--stop-at");
  }
  if (o.resume && recipe)
    return st_err("--resume takes its recipe from the run folder; drop %s", recipe);
  if (o.resume && o.out) return st_err("--resume and --out cannot be combined");
  if (!recipe && !o.resume) return st_err("run: a recipe or --resume DIR is needed (see --help)");
  o.plan_only = plan_only;
  o.threads_fixed = cli_threads_given;
  if (!plan_only) {
    o.interrupt = &interrupted;
    o.training = &training;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  /* the sets, then --device as one more (sugar for --set device=D) */
  int n = cli_count(&a, "--set");
  const char **sets = calloc((size_t)n + 1, sizeof *sets);
  char device[80];
  if (!sets) return st_err("out of memory");
  for (int i = 0; i < n; i++) sets[i] = cli_item(&a, "--set", i);
  if (cli_str(&a, "--device")) {
    snprintf(device, sizeof device, "device=%s", cli_str(&a, "--device"));
    sets[n++] = device;
  }
  o.sets = sets;
  o.nsets = n;

  if (st_dist_init()) {
    free(sets);
    return ST_ERR;
  }
  if (st_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
    free(sets);
    return st_err("rank %d: /dev/null: cannot open", st_dist_rank());
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress and errors interleave right */
  lua_State *L = sl_newstate();
  if (!L) {
    free(sets);
    return st_err("out of memory");
  }
  luaL_openlibs(L);
  lua_pushboolean(L, cli_on(&a, "--unsafe-lua"));
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  if (recipe) lua_pushstring(L, recipe);
  rc = sl_run(L, recipe ? -1 : 0, &o);
  sl_close(L);
  free(sets);
  if (rc && st_dist_active()) {
    fprintf(stderr, "strata: error: rank %d of %d: %s\n", st_dist_rank(),
            st_dist_size(), st_errmsg());
    fflush(stderr);
    st_dist_abort(2);
  }
  st_dist_finalize();
  return rc;
}

int cmd_run(int argc, char **argv) { return run_cmd(argc, argv, &run_spec); }
int cmd_plan(int argc, char **argv) { return run_cmd(argc, argv, &plan_spec); }
