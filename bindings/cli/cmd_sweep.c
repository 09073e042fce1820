/* cmd_sweep.c - strata sweep <sweep.yaml>: a base recipe, variants (each a
 * set of --set overrides, optionally a grid of them or a parameter matched
 * to another variant's backprop budget) and seeds. Every variant x grid
 * point x seed is a `strata run` in its own process and run folder, so a
 * failed run is recorded and the rest go on, and a re-run skips runs whose
 * summary.json says they finished. Budget matching and the per-layer mode
 * ask `strata plan` children first (no training). The results, with their
 * statistics, are written by sweep_results.c and sweep_layers.c. */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "commands.h"
#include "dist.h"
#include "error.h"
#include "fs.h"
#include "report.h"
#include "strata_lua.h"
#include "sweep.h"

static const cli_opt opts[] = {
    {"sweep.yaml", CLI_ARG, .help = "the sweep: a base recipe, variants and seeds (below)"},
    {"--out", CLI_STR, "DIR", .help = "the sweep folder (default: the file's out, else\n"
                                      "runs/<sweep file name>)"},
    {"--jobs", CLI_INT, "N", "1", .range = "1..16",
     .help = "runs at a time (each keeps its recipe's threads unless\n"
             "--threads is given); wall times then include the other\n"
             "runs' load"},
    {"--check", CLI_FLAG,
     .help = "train nothing: plan every variant (trace and policy, at\n"
             "its first grid point and first seed, budgets matched on\n"
             "that seed) and stop at the first that fails, naming it:\n"
             "a sweep file's mistakes in seconds, not after hours"},
    {0}};
static const cli_spec spec = {
    "sweep", opts,
    "Each variant x grid point x seed is a `strata run` in its own process and\n"
    "run folder (<out>/runs/<variant>[@key=value...]-seed<S>, logs in <out>/logs);\n"
    "a re-run skips finished runs and resumes interrupted ones. --threads N is\n"
    "passed on to every run. Every table gives mean, 95% t interval and n.\n"
    "\n"
    "sweep.yaml:\n"
    "  recipe: recipes/sst2_semantic.yaml   # the base recipe\n"
    "  seeds: [1, 2, 3]                     # train.seed of each run\n"
    "  metric: accuracy                     # accuracy | loss | perplexity | macro_f1 | mcc\n"
    "  out: runs/sweep-sst2                 # default runs/<sweep file name>\n"
    "  set: {train.steps: 200}              # overrides for every variant\n"
    "  reference: full                      # each variant's paired difference to it,\n"
    "                                       # with a verdict: better | worse |\n"
    "                                       # not distinguishable (95% CI and 0)\n"
    "  per_layer: false                     # true: also variants layer0..layer{L-1},\n"
    "                                       # each layer alone, and per_layer.md\n"
    "  variants:\n"
    "    - {name: full, set: {policy.script: all},\n"
    "       grid: {train.lr: [1e-3, 3e-3]}}  # every point x seed runs; the point\n"
    "                                       # with the best mean validation metric\n"
    "                                       # (data.validation) is reported\n"
    "    - {name: semantic, set: {policy.params.mode: contiguous}}\n"
    "    - {name: first-n, set: {policy.script: first_n_frozen},\n"
    "       match_budget: semantic,         # the value of param whose backprop\n"
    "       param: policy.params.n,         # FLOPs (strata plan, mean over the\n"
    "       values: [1, 2, 3, 4]}           # seeds) is nearest semantic's; ties:\n"
    "                                       # the cheaper, then the first listed\n"
    "    - {name: random, seeds: [1, 2, 3, 4, 5],   # a variant's own seeds\n"
    "       set: {policy.script: random, policy.params.seed: $seed}}\n"
    "  compare:                             # more paired tests: a - b, as for\n"
    "    - {a: semantic, b: first-n,        # reference, in comparisons.csv and\n"
    "       claim: semantic beats first-N}  # below the table",
    NULL};

/* --- child processes ----------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  return remove(p);
}

/* removes a run folder that holds no finished run */
static int rm_rf(const char *dir) {
  if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
    return st_err("%s: cannot remove the unfinished run: %s", dir, strerror(errno));
  return ST_OK;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* a finished run: its summary says so (an interrupted one has none, or one
 * written at --stop-at with "complete": false). Summaries older than the
 * flag were written only at the end, with the final metrics. */
static int finished(const char *summary) {
  json_t *j = json_load_file(summary, 0, NULL);
  json_t *c = json_object_get(j, "complete");
  int done = j && (c ? json_is_true(c) : json_object_get(j, "final") != NULL);
  json_decref(j);
  return done;
}

/* the arguments of one child: strata [--threads N] <cmd> ... */
typedef struct argv_buf {
  char *argv[2 * (2 * SW_MAXSET + SW_MAXKEY) + 16];
  int a;
  char self[ST_PATH_MAX], threads[32], seed[64];
  char subst[2 * SW_MAXSET + SW_MAXKEY + 1][1100];
} argv_buf;

static int argv_start(argv_buf *b, const char *cmd) {
  ssize_t n = readlink("/proc/self/exe", b->self, sizeof b->self - 1);
  if (n <= 0) return st_err("cannot find the strata binary (/proc/self/exe): %s", strerror(errno));
  b->self[n] = 0;
  b->a = 0;
  b->argv[b->a++] = b->self;
  if (cli_threads_given) { /* else each run keeps its recipe's threads */
    snprintf(b->threads, sizeof b->threads, "%d", st_get_threads());
    b->argv[b->a++] = "--threads";
    b->argv[b->a++] = b->threads;
  }
  b->argv[b->a++] = (char *)cmd;
  return ST_OK;
}

/* the recipe and every override of run (v, point p, seed): the sweep's,
 * the variant's, the point's, then train.seed; "$seed" becomes the seed */
static void argv_sets(argv_buf *b, const sweep *s, const sw_variant *v, int p, int seed) {
  const char *pt[SW_MAXKEY + 1];
  int np = sw_point_sets(v, p, pt), ns = 0;
  b->argv[b->a++] = (char *)s->recipe;
  for (int i = 0; i < s->nbase + v->nset + np; i++) {
    const char *kv = i < s->nbase ? s->base[i]
                     : i < s->nbase + v->nset ? v->set[i - s->nbase]
                                               : pt[i - s->nbase - v->nset];
    const char *at = strstr(kv, "$seed");
    if (at)
      snprintf(b->subst[ns], sizeof b->subst[ns], "%.*s%d%s", (int)(at - kv), kv, seed, at + 5);
    else
      snprintf(b->subst[ns], sizeof b->subst[ns], "%s", kv);
    b->argv[b->a++] = "--set";
    b->argv[b->a++] = b->subst[ns++];
  }
  snprintf(b->seed, sizeof b->seed, "train.seed=%d", seed);
  b->argv[b->a++] = "--set";
  b->argv[b->a++] = b->seed;
}

/* starts argv in a child with its output in log; returns its pid, or -1 */
static pid_t spawn(argv_buf *b, const char *log) {
  b->argv[b->a] = NULL;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    st_err("%s: cannot start strata: %s", log, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    /* its own process group: a Ctrl-C at the terminal reaches the sweep
     * alone, which stops each run once (SIGTERM: checkpoint, then exit) */
    setpgid(0, 0);
    FILE *f = freopen(log, "w", stdout);
    if (!f || dup2(fileno(stdout), 2) < 0) _exit(127);
    execv(b->self, b->argv);
    _exit(127);
  }
  return pid;
}

/* last "error:" line of a log, for the table */
static void last_error(const char *log, char *out, size_t n) {
  snprintf(out, n, "failed");
  FILE *f = fopen(log, "r");
  char line[1024];
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, "error:")) {
      line[strcspn(line, "\n")] = 0;
      snprintf(out, n, "%.250s", line);
    }
  if (f) fclose(f);
}

/* Ctrl-C or SIGTERM: no new runs start, the running ones are asked to stop
 * (each writes a checkpoint), and the sweep waits for them */
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

/* waits for one of pids[0..n) (0: a free slot); returns its index and its
 * exit status in *st, or -1 when none is left */
static int wait_one(const pid_t *pids, int n, int *st, int *sent) {
  for (;;) {
    if (stop_signal && !*sent) { /* once: each run checkpoints and stops */
      *sent = 1;
      for (int i = 0; i < n; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    }
    int status;
    pid_t pid = wait(&status);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return -1; /* no child left */
    for (int i = 0; i < n; i++)
      if (pids[i] == pid) {
        *st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return i;
      }
  }
}

/* --- strata plan children ------------------------------------------------ */

/* one plan: a variant's overrides at point p (its matched value given by
 * `value`, -1 for none) and a seed */
typedef struct plan_job {
  const sw_variant *v;
  int p, value, seed;
  char log[ST_PATH_MAX];
  double pct;  /* backprop FLOPs, % of full fine-tuning's */
  int layers;  /* the model's */
} plan_job;

/* reads what a plan printed: "model: ... (llama, 5 layers, ...)" and
 * "backprop: 41.1% of full fine-tuning's" */
static int read_plan_log(plan_job *j) {
  FILE *f = fopen(j->log, "r");
  char line[4096];
  j->pct = NAN;
  j->layers = 0;
  while (f && fgets(line, sizeof line, f)) {
    const char *m = strstr(line, " layers, dim ");
    if (!strncmp(line, "model: ", 7) && m) {
      const char *c = m;
      while (c > line && c[-1] != ' ') c--;
      j->layers = atoi(c);
    }
    if (!strncmp(line, "backprop: ", 10)) j->pct = strtod(line + 10, NULL);
  }
  if (f) fclose(f);
  if (!j->layers || !isfinite(j->pct)) {
    char err[300];
    last_error(j->log, err, sizeof err);
    return st_err("strata plan for %s seed %d: %s (log %s)", j->v->name, j->seed, err, j->log);
  }
  return ST_OK;
}

/* runs the plans, jobs at a time */
static int run_plans(const sweep *s, plan_job *pj, int n, int jobs) {
  pid_t pids[16] = {0};
  int who[16], next = 0, running = 0, sent = 0, rc = ST_OK;
  while ((next < n && !stop_signal && rc == ST_OK) || running) {
    if (next < n && !stop_signal && rc == ST_OK && running < jobs) {
      int slot = 0;
      while (pids[slot]) slot++;
      plan_job *j = &pj[next];
      sw_variant tmp = *j->v; /* the value under test in place of the choice */
      if (j->value >= 0) tmp.chosen = j->value;
      argv_buf *b = malloc(sizeof *b);
      if (!b) return st_err("out of memory");
      if (argv_start(b, "plan")) {
        free(b);
        return ST_ERR;
      }
      argv_sets(b, s, &tmp, j->p, j->seed);
      pids[slot] = spawn(b, j->log);
      free(b);
      if (pids[slot] < 0) return ST_ERR;
      who[slot] = next++;
      running++;
      continue;
    }
    int st, i = wait_one(pids, jobs, &st, &sent);
    if (i < 0) break;
    pids[i] = 0;
    running--;
    if (rc == ST_OK && read_plan_log(&pj[who[i]])) rc = ST_ERR;
  }
  if (stop_signal) return st_err("sweep interrupted while planning");
  return rc;
}

/* --check: each variant planned once, at its first grid point and seed */
static int check_all(const sweep *s, int jobs) {
  plan_job *pj = calloc((size_t)s->nv, sizeof *pj);
  if (!pj) return st_err("out of memory");
  int rc = ST_OK;
  for (int i = 0; i < s->nv && rc == ST_OK; i++) {
    pj[i] = (plan_job){.v = &s->v[i], .p = 0, .value = -1, .seed = s->v[i].seeds[0]};
    rc = st_pathf(pj[i].log, sizeof pj[i].log, "%s/logs/check-%s.log", s->out, s->v[i].name);
  }
  if (rc == ST_OK) rc = run_plans(s, pj, s->nv, jobs);
  if (rc == ST_OK) {
    printf("check: every variant plans (backprop vs full fine-tuning):\n");
    for (int i = 0; i < s->nv; i++) printf("  %-24s %5.1f%%\n", s->v[i].name, pj[i].pct);
  }
  free(pj);
  return rc;
}

/* the model's layer count, from a plan of the base recipe */
static int count_layers(const sweep *s, int *layers) {
  sw_variant base = {.name = "per-layer", .npoints = 1, .layer = -1};
  plan_job j = {.v = &base, .p = 0, .value = -1, .seed = s->seeds[0]};
  if (st_pathf(j.log, sizeof j.log, "%s/logs/plan-layers.log", s->out) || run_plans(s, &j, 1, 1))
    return ST_ERR;
  *layers = j.layers;
  return ST_OK;
}

/* match_budget: plan every value of the parameter and the matched variant
 * over the variant's seeds; choose the nearest mean (ties: the cheaper,
 * then the first listed) */
static int match_budgets(sweep *s, int jobs) {
  for (int i = 0; i < s->nv; i++) {
    sw_variant *v = &s->v[i];
    if (!v->match[0]) continue;
    const sw_variant *t = NULL;
    for (int k = 0; k < s->nv; k++)
      if (!strcmp(s->v[k].name, v->match)) t = &s->v[k];
    int nv = v->param.nval, n = (nv + 1) * v->nseeds;
    plan_job *pj = calloc((size_t)n, sizeof *pj);
    if (!pj) return st_err("out of memory");
    for (int k = 0; k < v->nseeds; k++)
      for (int x = 0; x <= nv; x++) {
        plan_job *j = &pj[k * (nv + 1) + x];
        j->seed = v->seeds[k];
        j->v = x < nv ? v : t; /* the matched variant at its first grid point */
        j->value = x < nv ? x : -1;
        int rc = x < nv ? st_pathf(j->log, sizeof j->log, "%s/logs/plan-%s@%s=%s-seed%d.log",
                                   s->out, v->name, v->param.tag, v->param.label[x], j->seed)
                        : st_pathf(j->log, sizeof j->log, "%s/logs/plan-%s-for-%s-seed%d.log",
                                   s->out, t->name, v->name, j->seed);
        if (rc) {
          free(pj);
          return ST_ERR;
        }
      }
    if (run_plans(s, pj, n, jobs)) {
      free(pj);
      return ST_ERR;
    }
    v->target = 0;
    for (int x = 0; x <= nv; x++) {
      double sum = 0;
      for (int k = 0; k < v->nseeds; k++) sum += pj[k * (nv + 1) + x].pct;
      if (x < nv) v->budget[x] = sum / v->nseeds;
      else v->target = sum / v->nseeds;
    }
    free(pj);
    v->chosen = 0;
    for (int x = 1; x < nv; x++) {
      double d = fabs(v->budget[x] - v->target), best = fabs(v->budget[v->chosen] - v->target);
      if (d < best || (d == best && v->budget[x] < v->budget[v->chosen])) v->chosen = x;
    }
    printf("budget: %s matched to %s (%.1f%% of full backprop): %s = %s at %.1f%% (", v->name,
           t->name, v->target, v->param.key, v->param.label[v->chosen], v->budget[v->chosen]);
    for (int x = 0; x < nv; x++)
      printf("%s%s: %.1f%%", x ? ", " : "", v->param.label[x], v->budget[x]);
    printf(")\n");
  }
  return ST_OK;
}

/* --- runs ---------------------------------------------------------------- */

/* one run of the sweep */
typedef struct run_job {
  int v, p, seed, k;
  time_t t1;
  char dir[ST_PATH_MAX], sum[ST_PATH_MAX], log[ST_PATH_MAX];
} run_job;

/* starts a run: a folder with a checkpoint resumes, exactly; one that died
 * before its first checkpoint starts again */
static pid_t start_run(const sweep *s, const run_job *j) {
  argv_buf *b = malloc(sizeof *b);
  if (!b) {
    st_err("out of memory");
    return -1;
  }
  pid_t pid = -1;
  char ckpt[ST_PATH_MAX];
  if (argv_start(b, "run") || st_pathf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", j->dir))
    goto done;
  if (exists(ckpt)) {
    b->argv[b->a++] = "--resume";
    b->argv[b->a++] = (char *)j->dir;
  } else {
    if (exists(j->dir) && rm_rf(j->dir)) goto done;
    argv_sets(b, s, &s->v[j->v], j->p, j->seed);
    b->argv[b->a++] = "--out";
    b->argv[b->a++] = (char *)j->dir;
  }
  pid = spawn(b, j->log);
done:
  free(b);
  return pid;
}

/* prints how a run ended; a failure is counted and its error kept */
static void report(const sweep *s, const run_job *d, int st, int n, time_t t0, sw_row *rows,
                   int *failed) {
  char dl[1024];
  sw_label(&s->v[d->v], d->p, dl, sizeof dl);
  printf("[%d/%d] %s%s seed %d ", d->k, n, s->v[d->v].name, dl, d->seed);
  if (st == 0 && finished(d->sum)) {
    printf("ok (%.0f s; %.0f s elapsed)\n", difftime(time(NULL), d->t1), difftime(time(NULL), t0));
  } else if (stop_signal) {
    printf("interrupted (exit %d); a re-run resumes it from its checkpoint\n", st);
  } else {
    (*failed)++;
    last_error(d->log, rows[d->v].err, sizeof rows[d->v].err);
    printf("FAILED (exit %d): %s; log %s\n", st, rows[d->v].err, d->log);
  }
  fflush(stdout);
}

/* runs every variant x point x seed that has not finished, jobs at a time;
 * failures are counted and their last error kept per variant */
static int run_all(const sweep *s, int jobs, sw_row *rows, int *failed, int *total) {
  int n = 0, k = 0;
  for (int i = 0; i < s->nv; i++) n += s->v[i].npoints * s->v[i].nseeds;
  *total = n;
  run_job *jb = calloc(16, sizeof *jb);
  if (!jb) return st_err("out of memory");
  pid_t pids[16] = {0};
  int running = 0, sent = 0;
  time_t t0 = time(NULL);
  for (int i = 0; i < s->nv; i++)
    for (int p = 0; p < s->v[i].npoints; p++)
      for (int q = 0; q < s->v[i].nseeds && !stop_signal; q++) {
        const sw_variant *v = &s->v[i];
        char label[1024], dir[ST_PATH_MAX], sum[ST_PATH_MAX];
        sw_label(v, p, label, sizeof label);
        k++;
        if (sw_run_dir(s, v, p, v->seeds[q], dir, sizeof dir) ||
            st_pathf(sum, sizeof sum, "%s/summary.json", dir)) {
          free(jb);
          return ST_ERR;
        }
        if (finished(sum)) {
          printf("[%d/%d] %s%s seed %d: done before, skipped\n", k, n, v->name, label, v->seeds[q]);
          continue;
        }
        int slot = 0;
        while (slot < jobs && pids[slot]) slot++;
        while (slot == jobs) { /* all busy: wait for one */
          int st, r = wait_one(pids, jobs, &st, &sent);
          if (r < 0) {
            free(jb);
            return st_err("sweep: lost track of the running jobs");
          }
          pids[r] = 0;
          running--;
          report(s, &jb[r], st, n, t0, rows, failed);
          slot = r;
          if (stop_signal) break;
        }
        if (stop_signal) break;
        run_job *j = &jb[slot];
        *j = (run_job){.v = i, .p = p, .seed = v->seeds[q], .k = k, .t1 = time(NULL)};
        memcpy(j->dir, dir, sizeof dir);
        memcpy(j->sum, sum, sizeof sum);
        if (sw_log_path(s, v, p, j->seed, j->log, sizeof j->log)) {
          free(jb);
          return ST_ERR;
        }
        printf("[%d/%d] %s%s seed %d: started\n", k, n, v->name, label, j->seed);
        fflush(stdout);
        pids[slot] = start_run(s, j);
        if (pids[slot] < 0) {
          pids[slot] = 0;
          (*failed)++;
          snprintf(rows[i].err, sizeof rows[i].err, "%.200s", st_errmsg());
          printf("[%d/%d] %s%s seed %d FAILED to start: %s\n", k, n, v->name, label, j->seed,
                 rows[i].err);
          continue;
        }
        running++;
      }
  while (running > 0) {
    int st, r = wait_one(pids, jobs, &st, &sent);
    if (r < 0) break;
    pids[r] = 0;
    running--;
    report(s, &jb[r], st, n, t0, rows, failed);
  }
  free(jb);
  if (stop_signal)
    return st_err("sweep interrupted: the runs that were going stopped with a checkpoint; the "
                  "same command resumes them and skips the finished ones");
  return ST_OK;
}

static int l_load(lua_State *L) {
  sweep *s = lua_touserdata(L, 1);
  const char *path = lua_tostring(L, 2);
  lua_pushboolean(L, sw_load(L, path, s) == ST_OK);
  return 1;
}

int cmd_sweep(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  /* every rank would run the whole sweep into the same folder, and each
   * child `strata run` would inherit the launcher's environment */
  if (st_dist_launcher()[0])
    return st_err("sweep: not under a launcher (%s is set): a sweep runs each run as its "
                  "own process; start it without mpirun", st_dist_launcher());
  lua_State *L = luaL_newstate();
  if (!L) return st_err("out of memory");
  sweep *s = calloc(1, sizeof *s);
  sw_row *rows = calloc(SW_MAXV, sizeof *rows);
  int rc = ST_ERR;
  if (!s || !rows) {
    st_err("out of memory");
    goto done;
  }
  lua_pushcfunction(L, sl_traceback);
  lua_pushcfunction(L, l_load);
  lua_pushlightuserdata(L, s);
  lua_pushstring(L, cli_str(&a, "sweep.yaml"));
  if (lua_pcall(L, 2, 1, 1)) {
    st_err("%s", lua_tostring(L, -1));
    goto done;
  }
  if (!lua_toboolean(L, -1)) goto done; /* st_err set by sw_load */
  const char *out = cli_str(&a, "--out");
  if (out && st_pathf(s->out, sizeof s->out, "%s", out)) goto done;
  char p[ST_PATH_MAX];
  if (st_mkdirs(s->out) || st_pathf(p, sizeof p, "%s/logs", s->out) || st_mkdirs(p)) goto done;
  int jobs = (int)cli_int(&a, "--jobs");
  struct sigaction sa = {0};
  sa.sa_handler = on_signal; /* no SA_RESTART: wait() returns to look */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (s->per_layer) {
    int layers;
    if (count_layers(s, &layers) || sw_add_layers(s, layers)) goto done;
    printf("per_layer: %d variants, layer0..layer%d, each training its layer alone\n", layers,
           layers - 1);
  }
  int check = cli_on(&a, "--check");
  if (check) /* budgets matched on the first seed only */
    for (int i = 0; i < s->nv; i++) s->v[i].nseeds = 1;
  if (sw_check_names(s) || match_budgets(s, jobs)) goto done;
  if (check) {
    rc = check_all(s, jobs);
    goto done;
  }
  int failed = 0, total = 0;
  if (run_all(s, jobs, rows, &failed, &total)) goto done;
  if (sw_collect(s, rows) || sw_write_results(s, rows) || (s->per_layer && sw_write_layers(s, rows)))
    goto done;
  snprintf(p, sizeof p, "%s/results.md", s->out);
  FILE *f = fopen(p, "r");
  char line[4096];
  putchar('\n');
  while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
  if (f) fclose(f);
  int report = sl_report_sweep(s->out) == ST_OK;
  if (!report) fprintf(stderr, "strata: warning: no report.html: %s\n", st_errmsg());
  printf("\n%s/: %sresults.csv runs.csv%s results.md loss_curves.svg cost_quality.svg trace.svg%s\n",
         s->out, report ? "report.html " : "", s->ncmp ? " comparisons.csv" : "",
         s->per_layer ? " per_layer.md per_layer.csv per_layer_*.svg" : "");
  if (failed) printf("%d of %d runs failed; re-run the same command to retry them\n", failed, total);
  rc = ST_OK;
done:
  if (s) sw_free(s);
  free(s);
  free(rows);
  lua_close(L);
  return rc;
}
