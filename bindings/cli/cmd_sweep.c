/* cmd_sweep.c - strata sweep <sweep.yaml>: a base recipe, variants (each a
 * set of --set overrides) and seeds. Every variant x seed is a `strata run`
 * in its own process and run folder, so a failed variant is recorded and
 * the rest go on, and a re-run skips runs whose summary.json exists. The
 * results become results.csv, results.md and three SVG figures. */
#include <ctype.h>
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
#include "error.h"
#include "fs.h"
#include "runner.h"
#include "strata_lua.h"
#include "svg.h"

static const cli_opt opts[] = {
    {"sweep.yaml", CLI_ARG, .help = "the sweep: a base recipe, variants and seeds (below)"},
    {"--out", CLI_STR, "DIR", .help = "the sweep folder (default: the file's out, else\n"
                                      "runs/<sweep file name>)"},
    {"--jobs", CLI_INT, "N", "1", .range = "1..16",
     .help = "runs at a time (each keeps its recipe's threads unless\n"
             "--threads is given); wall times then include the other\n"
             "runs' load"},
    {0}};
static const cli_spec spec = {
    "sweep", opts,
    "Each variant x seed is a `strata run` in its own process and run folder\n"
    "(<out>/runs/<variant>-seed<S>, logs in <out>/logs); a re-run skips finished\n"
    "runs and resumes interrupted ones. --threads N is passed on to every run.\n"
    "\n"
    "sweep.yaml:\n"
    "  recipe: recipes/sst2_semantic.yaml   # the base recipe\n"
    "  seeds: [1, 2, 3]                     # train.seed of each run\n"
    "  metric: accuracy                     # accuracy | loss | perplexity | macro_f1\n"
    "  out: runs/sweep-sst2                 # default runs/<sweep file name>\n"
    "  set: {train.steps: 200}              # overrides for every variant\n"
    "  variants:\n"
    "    - {name: full, set: {policy.script: scripts/policies/all.lua}}\n"
    "    - {name: semantic, set: {policy.params.mode: contiguous}}\n"
    "    - {name: random, seeds: [1, 2, 3, 4, 5],   # a variant's own seeds\n"
    "       set: {policy.script: random, policy.params.seed: $seed}}",
    NULL};

#define MAXV 64
#define MAXSET 64
#define MAXSEED 32

typedef struct variant {
  char name[64];
  int nset;
  char *set[MAXSET]; /* "key=value"; "$seed" stands for the run's seed */
  int nseeds, seeds[MAXSEED]; /* the sweep's seeds unless the variant names its own */
} variant;

typedef struct sweep {
  /* out leaves room below it for the sweep's own files (runs/<variant>-seed<N>/...) */
  char recipe[ST_PATH_MAX], out[ST_PATH_MAX - 128], metric[32], file[ST_PATH_MAX];
  int nseeds, seeds[MAXSEED];
  int nbase;
  char *base[MAXSET];
  int nv;
  variant v[MAXV];
} sweep;

/* --- sweep.yaml ---------------------------------------------------------- */

/* a Lua scalar or flow list as YAML text for --set */
static int yaml_text(lua_State *L, int idx, char *out, size_t n, const char *key) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) snprintf(out, n, "%lld", (long long)lua_tointeger(L, idx));
    else snprintf(out, n, "%.17g", lua_tonumber(L, idx));
    return ST_OK;
  case LUA_TBOOLEAN: snprintf(out, n, "%s", lua_toboolean(L, idx) ? "true" : "false"); return ST_OK;
  case LUA_TSTRING: {
    /* double-quoted YAML: escapes keep any text intact; $seed stays bare so
     * the seed it becomes is typed as an integer */
    size_t len, o = 0;
    const char *s = lua_tolstring(L, idx, &len);
    if (!strcmp(s, "$seed")) {
      snprintf(out, n, "$seed");
      return ST_OK;
    }
    if (n < 3) return st_err("%s: value too long", key);
    out[o++] = '"';
    size_t i = 0;
    for (; i < len && o + 4 < n; i++) {
      char c = s[i];
      if (c == '"' || c == '\\') out[o++] = '\\', out[o++] = c;
      else if (c == '\n') out[o++] = '\\', out[o++] = 'n';
      else if (c == '\t') out[o++] = '\\', out[o++] = 't';
      else out[o++] = c;
    }
    if (i < len) return st_err("%s: value too long for an override", key);
    out[o++] = '"';
    out[o] = 0;
    return ST_OK;
  }
  case LUA_TTABLE: {
    /* a YAML flow sequence, or a flow mapping when any key is not 1..n */
    size_t o = 0;
    lua_Integer len = luaL_len(L, idx), nkeys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) nkeys++, lua_pop(L, 1);
    int map = nkeys != len;
    out[o++] = map ? '{' : '[';
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      char item[512], k[128];
      if (!map) { /* sequences in order, below */
        lua_pop(L, 2);
        break;
      }
      if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER) {
        lua_pop(L, 2);
        return st_err("%s: map keys must be strings or numbers", key);
      }
      lua_pushvalue(L, -2);
      snprintf(k, sizeof k, "%s", lua_tostring(L, -1));
      lua_pop(L, 1);
      int rc = yaml_text(L, -1, item, sizeof item, key);
      lua_pop(L, 1);
      if (rc) {
        lua_pop(L, 1);
        return ST_ERR;
      }
      o += snprintf(out + o, n > o ? n - o : 0, "%s%s: %s", first ? "" : ", ", k, item);
      first = 0;
      if (o >= n) {
        lua_pop(L, 1);
        return st_err("%s: value too long", key);
      }
    }
    for (lua_Integer i = 1; !map && i <= len; i++) {
      char item[256];
      lua_rawgeti(L, idx, i);
      int rc = yaml_text(L, -1, item, sizeof item, key);
      lua_pop(L, 1);
      if (rc) return ST_ERR;
      o += snprintf(out + o, n - o, "%s%s", i > 1 ? ", " : "", item);
      if (o >= n) return st_err("%s: value too long", key);
    }
    snprintf(out + o, n - o, map ? "}" : "]");
    return ST_OK;
  }
  default: return st_err("%s: unsupported value type %s", key, luaL_typename(L, idx));
  }
}

/* "set:" map of dotted keys (or a list of "k=v" strings) -> argv strings */
static int read_sets(lua_State *L, int idx, char **out, int *n, const char *where) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return st_err("%s: 'set' must be a map of key: value", where);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char val[1024], key[256];
    if (*n >= MAXSET) { lua_pop(L, 2); return st_err("%s: too many overrides", where); }
    if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING) {
      if (!(out[*n] = strdup(lua_tostring(L, -1)))) { /* list form "k=v" */
        lua_pop(L, 2);
        return st_err("out of memory");
      }
      (*n)++;
    } else if (lua_type(L, -2) == LUA_TSTRING) {
      snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
      if (yaml_text(L, -1, val, sizeof val, key)) { lua_pop(L, 2); return st_err_prefix("%s: ", where); }
      size_t len = strlen(key) + strlen(val) + 2;
      if (!(out[*n] = malloc(len))) {
        lua_pop(L, 2);
        return st_err("out of memory");
      }
      snprintf(out[(*n)++], len, "%s=%s", key, val);
    } else {
      lua_pop(L, 2);
      return st_err("%s: 'set' keys must be dotted recipe keys", where);
    }
    lua_pop(L, 1);
  }
  return ST_OK;
}

/* t.seeds: a list of integers, or absent (n stays 0) */
static int read_seeds(lua_State *L, int t, int *seeds, int *n, const char *where) {
  lua_getfield(L, t, "seeds");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return ST_OK;
  }
  if (!lua_istable(L, -1)) return st_err("%s: 'seeds' must be a list of integers", where);
  lua_Integer len = luaL_len(L, -1);
  if (len < 1 || len > MAXSEED) return st_err("%s: 'seeds' needs 1..%d entries", where, MAXSEED);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, -1, i);
    if (!lua_isinteger(L, -1))
      return st_err("%s: seeds[%lld] is not an integer", where, (long long)i);
    int sd = (int)lua_tointeger(L, -1);
    for (int k = 0; k < *n; k++)
      if (seeds[k] == sd) /* two runs would share one folder */
        return st_err("%s: seed %d is listed twice", where, sd);
    seeds[(*n)++] = sd;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ST_OK;
}

static int field_str(lua_State *L, int t, const char *k, char *out, size_t n, const char *file) {
  lua_getfield(L, t, k);
  int ok = lua_type(L, -1) == LUA_TSTRING;
  if (ok && strlen(lua_tostring(L, -1)) >= n) {
    lua_pop(L, 1);
    return st_err("%s: '%s' is longer than %zu characters", file, k, n - 1);
  }
  if (ok) snprintf(out, n, "%s", lua_tostring(L, -1));
  int present = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (present && !ok) return st_err("%s: '%s' must be a string", file, k);
  return ST_OK;
}

static int load_sweep(lua_State *L, const char *path, sweep *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->file, sizeof s->file, "%s", path);
  sl_yaml_load_file(L, path); /* raises on a syntax error: runs under pcall */
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) return st_err("%s: expected a map", path);
  static const char *known[] = {"recipe", "seeds", "metric", "out", "set", "variants", NULL};
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= lua_type(L, -2) == LUA_TSTRING && !strcmp(lua_tostring(L, -2), known[i]);
    if (!ok) {
      char where[128] = "";
      lua_pushvalue(L, -2);
      sl_where(L, t, lua_gettop(L), SL_WHERE_KEY);
      if (lua_isstring(L, -1)) snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
      const char *key = lua_tostring(L, -4);
      return st_err("%s: unknown key '%s' (known: recipe, seeds, metric, out, set, variants)",
                    where[0] ? where : path, key ? key : "?");
    }
    lua_pop(L, 1);
  }
  if (field_str(L, t, "recipe", s->recipe, sizeof s->recipe, path) ||
      field_str(L, t, "metric", s->metric, sizeof s->metric, path) ||
      field_str(L, t, "out", s->out, sizeof s->out, path))
    return ST_ERR;
  if (!s->recipe[0]) return st_err("%s: 'recipe' is required", path);
  if (!s->metric[0]) snprintf(s->metric, sizeof s->metric, "accuracy");
  if (strcmp(s->metric, "accuracy") && strcmp(s->metric, "loss") &&
      strcmp(s->metric, "perplexity") && strcmp(s->metric, "macro_f1"))
    return st_err("%s: metric must be accuracy, loss, perplexity or macro_f1, not '%s'", path,
                  s->metric);
  if (read_seeds(L, t, s->seeds, &s->nseeds, path)) return ST_ERR;
  if (!s->nseeds) s->seeds[s->nseeds++] = 1;
  lua_getfield(L, t, "set");
  if (!lua_isnil(L, -1) && read_sets(L, -1, s->base, &s->nbase, path)) return ST_ERR;
  lua_pop(L, 1);
  lua_getfield(L, t, "variants");
  if (!lua_istable(L, -1) || luaL_len(L, -1) < 1)
    return st_err("%s: 'variants' must be a non-empty list", path);
  lua_Integer nv = luaL_len(L, -1);
  if (nv > MAXV) return st_err("%s: at most %d variants", path, MAXV);
  for (lua_Integer i = 1; i <= nv; i++) {
    variant *v = &s->v[s->nv++];
    char where[600];
    snprintf(where, sizeof where, "%s: variants[%lld]", path, (long long)i);
    lua_rawgeti(L, -1, i);
    if (!lua_istable(L, -1)) return st_err("%s: must be a map with name and set", where);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (strcmp(k, "name") && strcmp(k, "set") && strcmp(k, "seeds"))
        return st_err("%s: unknown key '%s' (known: name, set, seeds)", where, k);
      lua_pop(L, 1);
    }
    if (field_str(L, -1, "name", v->name, sizeof v->name, where)) return ST_ERR;
    if (!v->name[0]) return st_err("%s: 'name' is required", where);
    for (char *c = v->name; *c; c++)
      if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
        return st_err("%s: name '%s' may hold only letters, digits, '-', '_' and '.'", where, v->name);
    for (int j = 0; j + 1 < s->nv; j++)
      if (!strcmp(s->v[j].name, v->name)) return st_err("%s: duplicate name '%s'", where, v->name);
    lua_getfield(L, -1, "set");
    if (!lua_isnil(L, -1) && read_sets(L, -1, v->set, &v->nset, where)) return ST_ERR;
    lua_pop(L, 1);
    if (read_seeds(L, -1, v->seeds, &v->nseeds, where)) return ST_ERR;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  for (int i = 0; i < s->nv; i++)
    if (!s->v[i].nseeds) {
      s->v[i].nseeds = s->nseeds;
      memcpy(s->v[i].seeds, s->seeds, sizeof s->seeds);
    }
  if (!s->out[0]) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(s->out, sizeof s->out, "runs/%.*s", (int)strcspn(b, "."), b);
  }
  return ST_OK;
}

static int l_load(lua_State *L) {
  sweep *s = lua_touserdata(L, 1);
  const char *path = lua_tostring(L, 2);
  lua_pushboolean(L, load_sweep(L, path, s) == ST_OK);
  return 1;
}

/* --- running ------------------------------------------------------------- */

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
static int summary_finished(json_t *j) {
  json_t *c = json_object_get(j, "complete");
  return c ? json_is_true(c) : json_object_get(j, "final") != NULL;
}

static int finished(const char *summary) {
  json_t *j = json_load_file(summary, 0, NULL);
  int done = j && summary_finished(j);
  json_decref(j);
  return done;
}

/* starts strata run in a child process with its output in log; returns the
 * child's pid, or -1 */
static pid_t start_child(const sweep *s, const variant *v, int seed, const char *dir,
                         const char *log) {
  char *argv[2 * MAXSET * 2 + 16];
  int a = 0;
  char self[ST_PATH_MAX], seedset[64], threads[32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    st_err("cannot find the strata binary (/proc/self/exe): %s", strerror(errno));
    return -1;
  }
  self[n] = 0;
  snprintf(seedset, sizeof seedset, "train.seed=%d", seed);
  snprintf(threads, sizeof threads, "%d", st_get_threads());
  argv[a++] = self;
  if (cli_threads_given) { /* else each run keeps its recipe's threads */
    argv[a++] = "--threads";
    argv[a++] = threads;
  }
  argv[a++] = "run";
  /* an interrupted run continues from its checkpoint, exactly; one that
   * died before its first checkpoint starts again */
  char ckpt[ST_PATH_MAX];
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
  if (exists(ckpt)) {
    argv[a++] = "--resume";
    argv[a++] = (char *)dir;
    argv[a] = NULL;
    goto launch;
  }
  if (exists(dir) && rm_rf(dir)) return -1;
  argv[a++] = (char *)s->recipe;
  argv[a++] = "--out";
  argv[a++] = (char *)dir;
  char subst[2 * MAXSET][1100];
  int ns = 0;
  for (int i = 0; i < s->nbase + v->nset; i++) {
    const char *kv = i < s->nbase ? s->base[i] : v->set[i - s->nbase];
    const char *at = strstr(kv, "$seed");
    if (at)
      snprintf(subst[ns], sizeof subst[ns], "%.*s%d%s", (int)(at - kv), kv, seed, at + 5);
    else
      snprintf(subst[ns], sizeof subst[ns], "%s", kv);
    argv[a++] = "--set";
    argv[a++] = subst[ns++];
  }
  argv[a++] = "--set";
  argv[a++] = seedset;
  argv[a] = NULL;
launch:
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    st_err("%s: cannot start strata run: %s", dir, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    /* its own process group: a Ctrl-C at the terminal reaches the sweep
     * alone, which stops each run once (SIGTERM: checkpoint, then exit) */
    setpgid(0, 0);
    FILE *f = freopen(log, "w", stdout);
    if (!f || dup2(fileno(stdout), 2) < 0) _exit(127);
    execv(self, argv);
    _exit(127);
  }
  return pid;
}


/* last "strata: error:" line of a log, for the table */
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

/* --- results ------------------------------------------------------------- */

typedef struct row {
  int ok, n;
  double metric[MAXSEED], wall[MAXSEED];
  double flops_pct, rss, mean, sd, wall_mean;
  char policy[64], layers[256], lora[64], err[256];
} row; /* trained layers: "a / b" when seeds chose different sets */

static double metric_of(json_t *sum, const char *metric) {
  json_t *fin = json_object_get(sum, "final");
  json_t *v = json_object_get(fin, metric);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static void describe_plan(json_t *plan, row *r) {
  json_t *layers = json_object_get(plan, "layers"), *e;
  size_t i;
  char *o = r->layers;
  size_t left = sizeof r->layers;
  int lora = 0, first = 1;
  json_array_foreach(layers, i, e) {
    const char *mode = json_string_value(json_object_get(e, "mode"));
    if (!mode || !strcmp(mode, "frozen")) continue;
    int w = snprintf(o, left, "%s%zu", first ? "" : ",", i);
    if (w > 0 && (size_t)w < left) o += w, left -= w;
    first = 0;
    if (!strcmp(mode, "lora")) {
      lora = 1;
      snprintf(r->lora, sizeof r->lora, "r=%lld", (long long)json_integer_value(json_object_get(e, "rank")));
    }
  }
  if (first) snprintf(r->layers, sizeof r->layers, "none");
  size_t len = strlen(r->layers);
  snprintf(r->layers + len, sizeof r->layers - len, "%s%s",
           json_is_true(json_object_get(plan, "embed")) ? "+emb" : "",
           json_is_true(json_object_get(plan, "head")) ? "+head" : "");
  if (!lora) snprintf(r->lora, sizeof r->lora, "no");
}

static void collect(const sweep *s, int vi, row *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->policy, sizeof r->policy, "?");
  const variant *v = &s->v[vi];
  for (int k = 0; k < v->nseeds; k++) {
    char p[ST_PATH_MAX];
    snprintf(p, sizeof p, "%s/runs/%s-seed%d/summary.json", s->out, v->name, v->seeds[k]);
    json_t *sum = json_load_file(p, 0, NULL);
    if (!sum || !summary_finished(sum)) {
      json_decref(sum);
      continue;
    }
    double m = metric_of(sum, s->metric);
    r->metric[r->ok] = m;
    r->wall[r->ok] = json_number_value(json_object_get(sum, "train_wall_s"));
    /* a policy may choose differently per seed (its trace samples differ):
     * the cost is the mean, and differing layer sets are shown */
    r->flops_pct += 100 * json_number_value(json_object_get(sum, "backprop_ratio"));
    double rss = json_number_value(json_object_get(sum, "peak_rss_mb"));
    if (rss > r->rss) r->rss = rss;
    row tmp;
    describe_plan(json_object_get(sum, "plan"), r->ok ? &tmp : r);
    if (r->ok && strcmp(tmp.layers, r->layers) && !strstr(r->layers, " / ")) {
      size_t len = strlen(r->layers);
      snprintf(r->layers + len, sizeof r->layers - len, " / %s", tmp.layers);
    }
    json_decref(sum);
    snprintf(p, sizeof p, "%s/runs/%s-seed%d/plan.json", s->out, v->name, v->seeds[k]);
    json_t *pl = json_load_file(p, 0, NULL);
    const char *pol = pl ? json_string_value(json_object_get(pl, "policy")) : NULL;
    if (pol) {
      const char *b = strrchr(pol, '/');
      snprintf(r->policy, sizeof r->policy, "%s", b ? b + 1 : pol);
    }
    json_decref(pl);
    r->ok++;
  }
  r->n = v->nseeds;
  double sum = 0, sw = 0;
  int nm = 0;
  for (int k = 0; k < r->ok; k++) {
    sw += r->wall[k];
    if (isfinite(r->metric[k])) sum += r->metric[k], nm++;
  }
  r->mean = nm ? sum / nm : NAN;
  if (r->ok) r->flops_pct /= r->ok;
  double ss = 0;
  for (int k = 0; k < r->ok; k++)
    if (isfinite(r->metric[k])) ss += (r->metric[k] - r->mean) * (r->metric[k] - r->mean);
  r->sd = nm > 1 ? sqrt(ss / (nm - 1)) : 0;
  r->wall_mean = r->ok ? sw / r->ok : NAN;
}

static int write_tables(const sweep *s, row *rows) {
  /* wall time relative to full fine-tuning: the variant named "full", else
   * the one with the most backprop */
  int full = -1;
  for (int i = 0; i < s->nv; i++)
    if (!strcmp(s->v[i].name, "full") && rows[i].ok) full = i;
  for (int i = 0; full < 0 && i < s->nv; i++)
    if (rows[i].ok && (full < 0 || rows[i].flops_pct > rows[full].flops_pct)) full = i;
  char p[ST_PATH_MAX];
  st_atomic a;
  snprintf(p, sizeof p, "%s/results.csv", s->out);
  FILE *c = st_atomic_open(&a, p);
  if (!c) return ST_ERR;
  fprintf(c, "variant,policy,trained_layers,lora,backprop_flops_pct,train_wall_s,wall_ratio_vs_full,"
             "peak_rss_mb,%s_mean,%s_std,seeds_ok,seeds\n", s->metric, s->metric);
  for (int i = 0; i < s->nv; i++) {
    row *r = &rows[i];
    double ratio = full >= 0 && r->ok ? r->wall_mean / rows[full].wall_mean : NAN;
    fprintf(c, "%s,%s,\"%s\",%s,%.2f,%.3f,%.3f,%.1f,%.6f,%.6f,%d,%d\n", s->v[i].name, r->policy,
            r->layers, r->lora, r->ok ? r->flops_pct : NAN, r->wall_mean, ratio, r->rss, r->mean,
            r->sd, r->ok, r->n);
  }
  if (st_atomic_commit(&a)) return ST_ERR;

  snprintf(p, sizeof p, "%s/results.md", s->out);
  FILE *m = st_atomic_open(&a, p);
  if (!m) return ST_ERR;
  fprintf(m, "| variant | policy | trained layers | LoRA | backprop FLOPs vs full | wall time "
             "(vs full) | peak RSS | %s (mean ± std over seeds) |\n|---|---|---|---|---|---|---|---|\n",
          s->metric);
  for (int i = 0; i < s->nv; i++) {
    row *r = &rows[i];
    if (!r->ok) {
      fprintf(m, "| %s | failed: %s | | | | | | |\n", s->v[i].name, r->err);
      continue;
    }
    fprintf(m, "| %s | %s | %s | %s | %.1f%% | %.1f s (%.2fx) | %.0f MB | %.4f ± %.4f (n=%d) |\n",
            s->v[i].name, r->policy, r->layers, r->lora, r->flops_pct, r->wall_mean,
            full >= 0 ? r->wall_mean / rows[full].wall_mean : NAN, r->rss, r->mean, r->sd, r->ok);
  }
  return st_atomic_commit(&a);
}

/* each variant's first finished seed */
static int plot_losses(const sweep *s, row *rows) {
  const char *names[MAXV];
  char paths[MAXV][ST_PATH_MAX];
  const char *mp[MAXV];
  int n = 0;
  for (int i = 0; i < s->nv; i++) {
    if (!rows[i].ok) continue;
    for (int k = 0; k < s->v[i].nseeds; k++) {
      snprintf(paths[n], sizeof paths[n], "%s/runs/%s-seed%d/metrics.jsonl", s->out,
               s->v[i].name, s->v[i].seeds[k]);
      if (exists(paths[n])) break;
    }
    names[n] = s->v[i].name;
    mp[n] = paths[n];
    n++;
  }
  char p[ST_PATH_MAX];
  snprintf(p, sizeof p, "%s/loss_curves.svg", s->out);
  return sl_plot_losses(p, n, names, mp);
}

static int plot_cost(const sweep *s, row *rows) {
  st_series ser[MAXV];
  double x[MAXV], y[MAXV], e[MAXV];
  int ns = 0;
  for (int i = 0; i < s->nv; i++) {
    if (!rows[i].ok || !isfinite(rows[i].mean)) continue;
    x[ns] = rows[i].flops_pct, y[ns] = rows[i].mean, e[ns] = rows[i].sd;
    ser[ns] = (st_series){s->v[i].name, 1, &x[ns], &y[ns], &e[ns], i + 1, 0};
    ns++;
  }
  char p[ST_PATH_MAX], yl[64];
  snprintf(p, sizeof p, "%s/cost_quality.svg", s->out);
  snprintf(yl, sizeof yl, "eval %s", s->metric);
  return st_svg_points(p, "quality against backprop cost", "backprop FLOPs, % of full", yl, ns, ser);
}

/* the trace of the first variant that ran: its measure per latent space,
 * the policy's gains when it reported them, the layers it selected */
static int plot_trace(const sweep *s, row *rows) {
  int first = 0; /* the first variant with the semantic policy, else the first */
  for (int i = s->nv - 1; i >= 0; i--)
    if (rows[i].ok && strstr(rows[i].policy, "semantic")) first = i;
  for (int j = 0; j < s->nv; j++) {
    int i = (first + j) % s->nv;
    if (!rows[i].ok) continue;
    char p[ST_PATH_MAX];
    json_t *tr = NULL, *pl = NULL;
    for (int k = 0; k < s->v[i].nseeds && !tr; k++) {
      snprintf(p, sizeof p, "%s/runs/%s-seed%d/trace.json", s->out, s->v[i].name, s->v[i].seeds[k]);
      tr = json_load_file(p, 0, NULL);
      snprintf(p, sizeof p, "%s/runs/%s-seed%d/plan.json", s->out, s->v[i].name, s->v[i].seeds[k]);
      if (tr) pl = json_load_file(p, 0, NULL);
    }
    if (!tr) continue;
    int rc = sl_plot_trace(tr, pl, s->out, s->v[i].name);
    json_decref(tr);
    json_decref(pl);
    return rc;
  }
  return ST_OK;
}

/* one run of the sweep, while it is under way */
typedef struct job {
  int v, seed, k;
  pid_t pid;
  time_t t1;
  char dir[ST_PATH_MAX], sum[ST_PATH_MAX], log[ST_PATH_MAX];
} job;

/* waits for one running job, reports it; returns its slot */
/* Ctrl-C or SIGTERM: no new runs start, the running ones are asked to stop
 * (each writes a checkpoint), and the sweep waits for them */
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void stop_children(job *jobs, int njobs) {
  static int sent;
  if (sent) return;
  sent = 1;
  for (int i = 0; i < njobs; i++)
    if (jobs[i].pid > 0) kill(jobs[i].pid, SIGTERM);
}

static int reap(const sweep *s, job *jobs, int njobs, row *rows, int total, time_t t0,
                int *failed) {
  int status;
  pid_t pid;
  for (;;) {
    if (stop_signal) stop_children(jobs, njobs);
    pid = wait(&status);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return -1; /* no child left */
    int ours = 0;
    for (int i = 0; i < njobs; i++) ours |= jobs[i].pid == pid;
    if (ours) break;
  }
  for (int i = 0; i < njobs; i++) {
    job *j = &jobs[i];
    if (j->pid != pid) continue;
    int st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("[%d/%d] %s seed %d ", j->k, total, s->v[j->v].name, j->seed);
    if (st == 0 && finished(j->sum)) {
      printf("ok (%.0f s; %.0f s elapsed)\n", difftime(time(NULL), j->t1),
             difftime(time(NULL), t0));
    } else if (stop_signal) {
      printf("interrupted (exit %d); a re-run resumes it from its checkpoint\n", st);
    } else {
      (*failed)++;
      last_error(j->log, rows[j->v].err, sizeof rows[j->v].err);
      printf("FAILED (exit %d): %s; log %s\n", st, rows[j->v].err, j->log);
    }
    fflush(stdout);
    j->pid = 0;
    return i;
  }
  return -1;
}

int cmd_sweep(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  lua_State *L = luaL_newstate();
  if (!L) return st_err("out of memory");
  sweep *s = calloc(1, sizeof *s);
  if (!s) {
    lua_close(L);
    return st_err("out of memory");
  }
  int rc = ST_ERR;
  lua_pushcfunction(L, sl_traceback);
  lua_pushcfunction(L, l_load);
  lua_pushlightuserdata(L, s);
  lua_pushstring(L, cli_str(&a, "sweep.yaml"));
  if (lua_pcall(L, 2, 1, 1)) {
    st_err("%s", lua_tostring(L, -1));
    goto done;
  }
  if (!lua_toboolean(L, -1)) goto done; /* st_err set by load_sweep */
  const char *out = cli_str(&a, "--out");
  if (out && st_pathf(s->out, sizeof s->out, "%s", out)) goto done;
  if (st_mkdirs(s->out)) goto done;
  char p[ST_PATH_MAX];
  snprintf(p, sizeof p, "%s/logs", s->out);
  if (st_mkdirs(p)) goto done;
  int total = 0, k = 0, failed = 0;
  for (int i = 0; i < s->nv; i++) total += s->v[i].nseeds;
  int njobs = (int)cli_int(&a, "--jobs");
  time_t t0 = time(NULL);
  row *rows = calloc(s->nv, sizeof *rows);
  if (!rows) {
    st_err("out of memory");
    goto done;
  }
  job jobs[16] = {0};
  int running = 0;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal; /* no SA_RESTART: wait() returns to look */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  for (int i = 0; i < s->nv && !stop_signal; i++) {
    for (int j = 0; j < s->v[i].nseeds && !stop_signal; j++) {
      int seed = s->v[i].seeds[j];
      char sum[ST_PATH_MAX];
      snprintf(sum, sizeof sum, "%s/runs/%s-seed%d/summary.json", s->out, s->v[i].name, seed);
      k++;
      if (finished(sum)) {
        printf("[%d/%d] %s seed %d: done before, skipped\n", k, total, s->v[i].name, seed);
        continue;
      }
      int slot = 0;
      if (running == njobs) {
        slot = reap(s, jobs, njobs, rows, total, t0, &failed);
        if (slot < 0) { /* the children are gone: should not happen */
          st_err("sweep: lost track of the running jobs");
          free(rows);
          goto done;
        }
        running--;
        if (stop_signal) break;
      } else {
        while (jobs[slot].pid) slot++;
      }
      job *jb = &jobs[slot];
      jb->v = i, jb->seed = seed, jb->k = k, jb->t1 = time(NULL);
      snprintf(jb->dir, sizeof jb->dir, "%s/runs/%s-seed%d", s->out, s->v[i].name, seed);
      memcpy(jb->sum, sum, sizeof jb->sum);
      snprintf(jb->log, sizeof jb->log, "%s/logs/%s-seed%d.log", s->out, s->v[i].name, seed);
      printf("[%d/%d] %s seed %d: started\n", k, total, s->v[i].name, seed);
      fflush(stdout);
      jb->pid = start_child(s, &s->v[i], seed, jb->dir, jb->log);
      if (jb->pid < 0) {
        jb->pid = 0;
        failed++;
        snprintf(rows[i].err, sizeof rows[i].err, "%.200s", st_errmsg());
        printf("[%d/%d] %s seed %d FAILED to start: %s\n", k, total, s->v[i].name, seed,
               rows[i].err);
        continue;
      }
      running++;
    }
  }
  while (running > 0 && reap(s, jobs, njobs, rows, total, t0, &failed) >= 0) running--;
  if (stop_signal) {
    free(rows);
    st_err("sweep interrupted: the runs that were going stopped with a checkpoint; the "
           "same command resumes them and skips the finished ones");
    goto done;
  }
  for (int i = 0; i < s->nv; i++) {
    char err[256];
    memcpy(err, rows[i].err, sizeof err);
    collect(s, i, &rows[i]);
    memcpy(rows[i].err, err, sizeof err);
    if (!rows[i].err[0]) snprintf(rows[i].err, sizeof rows[i].err, "no finished run");
  }
  if (write_tables(s, rows) || plot_losses(s, rows) || plot_cost(s, rows) || plot_trace(s, rows)) {
    free(rows);
    goto done;
  }
  snprintf(p, sizeof p, "%s/results.md", s->out);
  FILE *f = fopen(p, "r");
  char line[2048];
  putchar('\n');
  while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
  if (f) fclose(f);
  printf("\n%s/: results.csv results.md loss_curves.svg cost_quality.svg trace.svg\n", s->out);
  if (failed) printf("%d of %d runs failed; re-run the same command to retry them\n", failed, total);
  free(rows);
  rc = ST_OK;
done:
  for (int i = 0; i < s->nbase; i++) free(s->base[i]);
  for (int i = 0; i < s->nv; i++)
    for (int j = 0; j < s->v[i].nset; j++) free(s->v[i].set[j]);
  free(s);
  lua_close(L);
  return rc;
}
