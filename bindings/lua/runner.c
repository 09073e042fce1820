/* runner.c - the workbench's one path from a recipe to a fine-tuned run
 * folder (sl_run; `strata run`, `strata plan`, strata.run):
 *
 *   recipe (schema-checked, includes and overrides applied, defaults filled)
 *   -> model + tokenizer -> train/eval data -> transition trace
 *   -> policy script (sandboxed Lua) -> validated plan -> plan table
 *   -> zero-shot eval -> training loop (st_trainer_step; lr from the
 *      schedule script, optional on_step hook that may switch plans)
 *   -> evals, checkpoints
 *   -> run folder: recipe.resolved.yaml plan.json trace.json metrics.jsonl
 *      summary.json checkpoint.safetensors trace.svg loss_curves.svg
 *
 * Data parallelism (`mpirun -np N strata run`, core/dist/): every rank
 * loads the recipe, model and data and holds a replica; rank 0 is the one
 * brain: it traces, runs the policy (plan() and on_step) and broadcasts
 * each plan as plan.json's JSON, writes the run folder and prints (the
 * other ranks' stdout goes nowhere: cmd_run.c). The schedule runs on every
 * rank alike. Each rank trains on batch_size / N rows of every global batch
 * (st_batcher_shard) and the reducer sums the gradients of what trains;
 * evaluations are sharded by rows and their sums combined, so every rank
 * reaches the same numbers and the same decisions (early stop, best).
 *
 * Relative paths in a recipe (model, data, scripts) are taken from the
 * working directory: run recipes from the repository root. Every file is
 * written as .tmp and renamed, except metrics.jsonl, a log appended one line
 * per step (a resumed run rewrites it up to its checkpoint). */
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"
#include "error.h"
#include "fs.h"
#include "eval.h"
#include "lora.h"
#include "lora_io.h"
#include "model_io.h"
#include "model_load.h"
#include "reducer.h"
#include "runner.h"
#include "report.h"
#include "stats.h"
#include "tfevents.h"
#include "tokenizer.h"
#include "workbench_lua.h"

typedef struct run run;
struct run {
  const sl_run_opts *o;
  int plan_only;
  char recipe[ST_PATH_MAX]; /* the recipe's path, or "(table)" */
  char name[128], dir[ST_PATH_MAX];
  /* the recipe */
  lua_State *L;
  int R;
  const char *model_path, *device, *precision;
  char sha[65]; /* the model's content hash (model_sha256) */
  double *gains; /* [L] the policy's per-layer gains when it reports them */
  int steps, B, T, eval_every, eval_samples, ckpt_every, classify;
  int zero_shot;             /* eval.zero_shot */
  int accumulate;            /* train.accumulate: micro-batches per step */
  int fused;                 /* train.fused_update (train.h) */
  /* selection (output.keep, output.metric, train.early_stop) */
  char metric[16];           /* loss, perplexity, accuracy or f1 */
  int higher;                /* the metric is better higher */
  int patience;              /* 0: no early stopping */
  double min_delta;
  double val_frac;           /* data.validation */
  int val_seed;
  int trace_samples, trace_T, trace_keep, trace_grads;
  uint64_t seed;
  st_optim opt;
  char policy[ST_PATH_MAX], schedule[ST_PATH_MAX], measure[32];
  char lora_init[ST_PATH_MAX]; /* lora.init_from: a PEFT adapter folder */
  /* Lua references (LUA_NOREF when absent) */
  int pol_ref, on_step_ref, sched_ref, sched_params_ref, params_ref, info_ref;
  const st_backend *be;
  int interrupted; /* stopped by o->interrupt, with a checkpoint */
  long long budget; /* sandbox.instructions: per script call */
  int mem_mb;       /* sandbox.memory_mb */
  size_t old_cap;   /* the caller's memory cap, restored at the end */
  int capped;
  run **handle; /* what state.retrace holds; NULL once the run has ended */
  int handle_ref;
  /* the work */
  st_model *m;
  st_tokenizer *tk;
  st_dataset train, eval, val, trace_ds; /* val: data.validation's split */
  st_trace tr;
  int have_trace;
  st_trainer *t;
  st_batcher bat;
  sl_run_state st;
  FILE *metrics;
  st_tfevents *tb; /* output.tensorboard: the same numbers as metrics.jsonl */
  int tty;
  /* data parallelism: this process is rank `rank` of `ranks` (1: alone) */
  int rank, ranks;
  int replans;     /* the policy has on_step (known on every rank) */
  st_reducer *red; /* the gradient sums, with ranks > 1 */
  double busy;     /* seconds in training steps, this process */
  json_t *summary; /* what summary.json holds, for the caller */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --- reading the recipe -------------------------------------------------- */

/* pushes recipe[a][b]... for "a.b" (nil when any part is absent) */
static int get(run *r, const char *dotted) {
  lua_State *L = r->L;
  char key[128];
  lua_pushvalue(L, r->R);
  for (const char *s = dotted; s;) {
    const char *dot = strchr(s, '.');
    snprintf(key, sizeof key, "%.*s", dot ? (int)(dot - s) : (int)strlen(s), s);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_pushnil(L);
      break;
    }
    lua_getfield(L, -1, key);
    lua_remove(L, -2);
    s = dot ? dot + 1 : NULL;
  }
  return lua_type(L, -1);
}

/* sets recipe[a][b] = value on top (popped), creating sections; unless
 * `force`, only where unset, so recipe.resolved.yaml shows every value the
 * run used */
static void set_value(run *r, const char *dotted, int force) {
  lua_State *L = r->L;
  int v = lua_gettop(L);
  char key[128];
  lua_pushvalue(L, r->R);
  for (const char *s = dotted;;) {
    const char *dot = strchr(s, '.');
    snprintf(key, sizeof key, "%.*s", dot ? (int)(dot - s) : (int)strlen(s), s);
    if (!dot) {
      if (lua_getfield(L, -1, key) == LUA_TNIL || force) {
        lua_pushvalue(L, v);
        lua_setfield(L, -3, key);
      }
      break;
    }
    if (lua_getfield(L, -1, key) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, key);
    }
    lua_remove(L, -2);
    s = dot + 1;
  }
  lua_settop(L, v - 1);
}

/* pushes recipe[k], else the schema's default for k (the checked recipe
 * has it unless its section is absent) */
static void get_or_default(run *r, const char *k) {
  if (get(r, k) != LUA_TNIL) return;
  lua_pop(r->L, 1);
  sl_schema_push_default(r->L, k);
}

static double num(run *r, const char *k) {
  get_or_default(r, k);
  double v = lua_tonumber(r->L, -1);
  lua_pop(r->L, 1);
  return v;
}

static int integer(run *r, const char *k) {
  get_or_default(r, k);
  int v = (int)lua_tointeger(r->L, -1);
  lua_pop(r->L, 1);
  return v;
}

/* a key whose default the engine computes (schema: `computed`); the value
 * used is written into the recipe, so recipe.resolved.yaml shows it */
static int integer_or(run *r, const char *k, int computed) {
  get(r, k);
  int v = lua_isinteger(r->L, -1) ? (int)lua_tointeger(r->L, -1) : computed;
  lua_pop(r->L, 1);
  lua_pushinteger(r->L, v);
  set_value(r, k, 0);
  return v;
}

/* a string the recipe table keeps alive, or NULL */
static const char *str(run *r, const char *k) {
  get(r, k);
  const char *s = lua_type(r->L, -1) == LUA_TSTRING ? lua_tostring(r->L, -1) : NULL;
  lua_pop(r->L, 1);
  return s;
}

static int ref_of(run *r, const char *k) {
  if (get(r, k) == LUA_TNIL) {
    lua_pop(r->L, 1);
    lua_newtable(r->L);
  }
  return luaL_ref(r->L, LUA_REGISTRYINDEX);
}

/* a path as an absolute one; "RUN@best" keeps its selector. Left as it is
 * when it does not exist (the load that follows names it). */
static void absolute(const char *in, char *out, size_t n) {
  char real[PATH_MAX], head[ST_PATH_MAX];
  const char *at = strrchr(in, '@');
  snprintf(out, n, "%s", in);
  if (realpath(in, real)) {
    snprintf(out, n, "%s", real);
  } else if (at && !strchr(at, '/')) {
    snprintf(head, sizeof head, "%.*s", (int)(at - in), in);
    if (realpath(head, real)) snprintf(out, n, "%s%s", real, at);
  }
}

/* Every path the run records becomes absolute in its recipe, so
 * recipe.resolved.yaml (and --resume, export, the run as a model) work from
 * any directory and after the folder moves. A shipped script named by name
 * ("semantic") stays a name: names resolve in the scripts folder, wherever
 * the run starts. */
static void absolute_paths(run *r) {
  static const char *files[] = {"model", "tokenizer", "data.train", "data.eval",
                                "lora.init_from"};
  static const char *scripts[][2] = {{"policy.script", "policies"},
                                     {"train.schedule.script", "schedules"},
                                     {"data.chat_template", "chat_templates"}};
  char out[ST_PATH_MAX], found[ST_PATH_MAX];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    const char *v = str(r, files[i]);
    if (!v) continue;
    absolute(v, out, sizeof out);
    lua_pushstring(r->L, out);
    set_value(r, files[i], 1);
  }
  for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
    const char *v = str(r, scripts[i][0]);
    struct stat sb;
    if (!v || (!strchr(v, '/') && stat(v, &sb) != 0)) continue;
    sl_script_path(v, scripts[i][1], found, sizeof found);
    absolute(found, out, sizeof out);
    if (access(out, R_OK) != 0) continue; /* a missing script fails later, by name */
    lua_pushstring(r->L, out);
    set_value(r, scripts[i][0], 1);
  }
}

/* the model's content hash: recorded in the recipe (model_sha256) when the
 * run starts, checked when it resumes, so a changed model is refused */
static int pin_model(run *r) {
  if (st_model_sha256(r->model_path, r->sha)) return ST_ERR;
  const char *want = str(r, "model_sha256");
  if (want && strcmp(want, r->sha))
    return st_err("model %s: its sha256 is %s, but the recipe%s pins %s%s",
                  r->model_path, r->sha, r->o->resume ? " of the run" : "", want,
                  r->o->resume ? ": the model changed since the run started, and "
                                 "the run's checkpoint applies only to the model "
                                 "it was trained from" : "");
  lua_pushstring(r->L, r->sha);
  set_value(r, "model_sha256", 1);
  return ST_OK;
}

/* `strata --threads N lua script.lua`: the command line chose the thread
 * count for every run the script starts (script.c records it) */
static int threads_fixed(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "strata.threads_fixed");
  int fixed = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return fixed;
}

static int read_config(run *r) {
  r->model_path = str(r, "model");
  r->device = str(r, "device");
  r->precision = str(r, "precision");
  get(r, "threads"); /* --threads wins over the recipe */
  if (r->o->threads > 0)
    st_set_threads(r->o->threads);
  else if (lua_isinteger(r->L, -1) && !r->o->threads_fixed && !threads_fixed(r->L))
    st_set_threads((int)lua_tointeger(r->L, -1));
  lua_pop(r->L, 1);
  r->seed = (uint64_t)integer(r, "train.seed");
  r->steps = integer(r, "train.steps");
  r->B = integer(r, "train.batch_size");
  if (r->B % r->ranks)
    return st_err("train.batch_size %d does not divide by the %d ranks of this "
                  "job: every rank takes batch_size / ranks rows of each batch",
                  r->B, r->ranks);
  r->opt.lr = (float)num(r, "train.lr");
  r->opt.weight_decay = (float)num(r, "train.weight_decay");
  r->opt.grad_clip = (float)num(r, "train.grad_clip");
  r->opt.beta1 = (float)num(r, "train.beta1");
  r->opt.beta2 = (float)num(r, "train.beta2");
  r->opt.eps = (float)num(r, "train.eps");
  get(r, "eval.every");
  r->eval_every = lua_isinteger(r->L, -1) ? (int)lua_tointeger(r->L, -1) : 0;
  lua_pop(r->L, 1);
  get(r, "eval.samples");
  r->eval_samples = lua_isinteger(r->L, -1) ? (int)lua_tointeger(r->L, -1) : 0;
  lua_pop(r->L, 1);
  /* classification metrics unless eval.metrics leaves both out */
  r->classify = get(r, "eval.metrics") != LUA_TTABLE;
  for (int i = 1; !r->classify && i <= (int)lua_rawlen(r->L, -1); i++) {
    lua_rawgeti(r->L, -1, i);
    const char *mt = lua_tostring(r->L, -1);
    r->classify = mt && (!strcmp(mt, "accuracy") || !strcmp(mt, "f1"));
    lua_pop(r->L, 1);
  }
  lua_pop(r->L, 1);
  r->ckpt_every = integer(r, "output.checkpoint_every");
  const char *keep = str(r, "output.keep");
  r->st.keep = !keep || !strcmp(keep, "last") ? SL_KEEP_LAST
               : !strcmp(keep, "best")        ? SL_KEEP_BEST
                                              : SL_KEEP_ALL;
  get_or_default(r, "eval.zero_shot");
  r->zero_shot = lua_toboolean(r->L, -1);
  lua_pop(r->L, 1);
  get(r, "eval.max_samples"); /* eval.samples is its older name */
  if (lua_isinteger(r->L, -1)) r->eval_samples = (int)lua_tointeger(r->L, -1);
  lua_pop(r->L, 1);
  r->accumulate = integer(r, "train.accumulate");
  get_or_default(r, "train.checkpointing");
  r->st.recompute = lua_toboolean(r->L, -1);
  lua_pop(r->L, 1);
  get_or_default(r, "train.fused_update");
  r->fused = lua_toboolean(r->L, -1);
  lua_pop(r->L, 1);
  if (r->fused && (r->opt.grad_clip > 0 || r->accumulate > 1 || r->ranks > 1))
    return st_err("train.fused_update: each block is updated during the "
                  "backward, before the next one's gradients exist, so it needs "
                  "train.grad_clip: 0 (got %g), train.accumulate: 1 (got %d) "
                  "and one process (got %d)", (double)r->opt.grad_clip,
                  r->accumulate, r->ranks);
  r->patience = integer(r, "train.early_stop.patience");
  r->min_delta = num(r, "train.early_stop.min_delta");
  get(r, "data.validation");
  r->val_frac = lua_isnumber(r->L, -1) ? lua_tonumber(r->L, -1) : 0;
  lua_pop(r->L, 1);
  r->val_seed = integer(r, "data.validation_seed");
  get_or_default(r, "sandbox.instructions");
  r->budget = (long long)lua_tointeger(r->L, -1);
  lua_pop(r->L, 1);
  r->mem_mb = integer(r, "sandbox.memory_mb");
  /* chat templates (data_lua.c) run under the same budget per call */
  lua_pushinteger(r->L, (lua_Integer)r->budget);
  lua_setfield(r->L, LUA_REGISTRYINDEX, "strata.sandbox_instructions");
  r->trace_samples = integer(r, "trace.samples");
  r->trace_keep = integer(r, "trace.keep");
  get_or_default(r, "trace.gradients");
  r->trace_grads = lua_toboolean(r->L, -1);
  lua_pop(r->L, 1);
  const char *ms = str(r, "trace.measure");
  if (ms && st_measure_index(ms) < 0)
    return st_err("trace.measure '%s': expected delta_norm, delta_rel, "
                  "cos_prev, lens_loss or basis_dev", ms);
  snprintf(r->measure, sizeof r->measure, "%s", ms ? ms : "");
  const char *pol = str(r, "policy.script");
  if (pol) sl_script_path(pol, "policies", r->policy, sizeof r->policy);
  const char *sch = str(r, "train.schedule.script");
  if (sch) sl_script_path(sch, "schedules", r->schedule, sizeof r->schedule);
  return ST_OK;
}

/* --- setup: model, tokenizer, data --------------------------------------- */

static int load_inputs(run *r) {
  const st_backend *be = st_backend_get(r->device ? r->device : "cpu");
  if (!be) return ST_ERR;
  r->be = be;
  /* bf16: bf16 GEMMs and attention, fp32 master weights and optimizer
   * state; a backend without it (cpu) runs fp32 and says so */
  int bf16 = r->precision && !strcmp(r->precision, "bf16");
  if (be->set_bf16) be->set_bf16(bf16);
  else if (bf16)
    fprintf(stderr, "strata: note: the %s backend has no bf16 mode; running fp32\n", be->name);
  /* frozen_dtype: frozen matrices in low precision or in place from
   * the file (core/io/model_load.h); trainable ones are widened to fp32 */
  if (pin_model(r) || st_model_load_as(&r->m, r->model_path, be, str(r, "frozen_dtype")))
    return ST_ERR;
  char tp[ST_PATH_MAX];
  const char *tok = str(r, "tokenizer");
  if (!tok) {
    if (st_model_tokenizer(r->model_path, tp, sizeof tp)) return ST_ERR;
    tok = tp;
  }
  if (st_tokenizer_load(&r->tk, tok)) return ST_ERR;
  int maxT = r->m->cfg.max_seq;
  r->T = integer_or(r, "train.seq_len", sl_default_seq_len(r->m));
  if (r->T > maxT)
    return st_err("train.seq_len %d exceeds the model's context of %d", r->T, maxT);
  r->trace_T = integer_or(r, "trace.seq_len", r->T);
  if (r->trace_T > maxT)
    return st_err("trace.seq_len %d exceeds the model's context of %d",
                  r->trace_T, maxT);
  get(r, "data");
  int rc = sl_load_data(r->L, -1, r->tk, r->T, r->seed, &r->train, &r->eval);
  lua_pop(r->L, 1);
  if (rc) return ST_ERR;
  if (r->val_frac > 0) {
    /* held out of the training data, the same rows for every run with the
     * same data and validation_seed, whatever train.seed */
    st_dataset rest;
    if (r->train.n < 2)
      return st_err("data.validation: %d training example(s) cannot be split", r->train.n);
    if (st_dataset_split(&r->train, r->val_frac, (uint64_t)r->val_seed, &rest, &r->val))
      return st_err_prefix("data.validation: ");
    st_dataset_free(&r->train);
    r->train = rest;
  }
  if (r->eval_samples && r->eval_samples < r->eval.n) {
    st_dataset cut;
    if (sl_dataset_head(&cut, &r->eval, r->eval_samples)) return ST_ERR;
    st_dataset_free(&r->eval);
    r->eval = cut;
  }
  /* the trace reads the first trace.samples training examples */
  if (r->trace_T == r->T)
    return sl_dataset_head(&r->trace_ds, &r->train, r->trace_samples);
  st_dataset tt, te;
  get(r, "data");
  rc = sl_load_data(r->L, -1, r->tk, r->trace_T, r->seed, &tt, &te);
  lua_pop(r->L, 1);
  if (rc == ST_OK) rc = sl_dataset_head(&r->trace_ds, &tt, r->trace_samples);
  st_dataset_free(&tt);
  st_dataset_free(&te);
  return rc;
}

/* --- trace and policy ---------------------------------------------------- */

static int lora_default(run *r, st_lora_spec *s) {
  get(r, "lora");
  int rc = sl_lora_defaults(r->L, -1, r->m, s);
  lua_pop(r->L, 1);
  if (rc) return ST_ERR;
  if (get(r, "lora.init_from") == LUA_TSTRING)
    snprintf(r->lora_init, sizeof r->lora_init, "%s", lua_tostring(r->L, -1));
  lua_pop(r->L, 1);
  const char *unsupported[] = {"lora.rank_pattern", "lora.alpha_pattern"};
  for (int i = 0; i < 2; i++) {
    int ty = get(r, unsupported[i]);
    lua_pop(r->L, 1);
    if (ty != LUA_TNIL)
      return st_err("%s: not supported by strata run yet (give per-layer "
                    "rank/alpha in the policy's plan)", unsupported[i]);
  }
  return ST_OK;
}

/* A recipe script's call under the sandbox's limits: an instruction budget
 * per call, and the run's memory cap, named when it was the cause */
/* who: the script, for messages the callers do not prefix (NULL: they do) */
static int limits_end(run *r, int rc, int nresults, const char *who) {
  if (sl_budget_end(r->L) && rc == ST_OK) { /* the script caught it and went on */
    lua_pop(r->L, nresults);
    return st_err("%s%sran past its instruction budget of %lld (it caught the error "
                  "and went on; sandbox.instructions raises the budget)",
                  who ? who : "", who ? ": " : "", r->budget);
  }
  if (rc && sl_memory_cap_hit(r->L))
    st_err_prefix("the memory cap of %d MB (sandbox.memory_mb): ", r->mem_mb);
  return rc;
}

static int script_pcall(run *r, int nargs, int nresults) {
  sl_budget_begin(r->L, r->budget);
  return limits_end(r, sl_pcall(r->L, nargs, nresults), nresults, NULL);
}

static int script_load(run *r, const char *path) {
  sl_budget_begin(r->L, r->budget);
  /* only rank 0 writes the run folder, scripts included */
  const char *dir = r->plan_only || r->rank ? NULL : r->dir;
  return limits_end(r, sl_load_script(r->L, path, dir), 1, path);
}

/* the policy's table, its on_step, its params and the model info; the
 * policy runs on rank 0 only, which tells the others whether it has an
 * on_step (each step then waits for rank 0's plan) */
static int load_policy_script(run *r);
static int load_policy(run *r) {
  lua_State *L = r->L;
  r->params_ref = ref_of(r, "policy.params");
  sl_push_model_info(L, r->m, r->T);
  r->info_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (r->policy[0] && r->rank == 0 && load_policy_script(r)) return ST_ERR;
  r->replans = r->on_step_ref != LUA_NOREF;
  return st_dist_bcast(&r->replans, sizeof r->replans, 0);
}

static int load_policy_script(run *r) {
  lua_State *L = r->L;
  if (script_load(r, r->policy)) return ST_ERR;
  if (!lua_istable(L, -1) || lua_getfield(L, -1, "plan") != LUA_TFUNCTION) {
    lua_settop(L, r->R);
    return st_err("%s: a policy must return {plan = function(ctx) ... end}",
                  r->policy);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, -1, "on_step") == LUA_TFUNCTION)
    r->on_step_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else
    lua_pop(L, 1);
  r->pol_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return ST_OK;
}

typedef struct convert_args {
  const st_model *m;
  const st_lora_spec *ld;
  const char *who;
  st_plan *p;
  int rc;
} convert_args;

/* (plan table, args): reading a policy's table may run its metamethods,
 * which may raise; sl_run never does, so this runs under lua_pcall (and,
 * in its own stack frame, sees only its arguments) */
static int convert_protected(lua_State *L) {
  convert_args *a = lua_touserdata(L, 2);
  a->rc = sl_to_plan(L, 1, a->m, a->ld, a->who, a->p);
  return 0;
}

/* the plan table a policy returned (idx) -> *p, validated */
static int convert_plan(run *r, int idx, const char *who, st_plan *p) {
  lua_State *L = r->L;
  st_lora_spec ld;
  if (lora_default(r, &ld)) return ST_ERR;
  convert_args a = {r->m, &ld, who, p, ST_ERR};
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, convert_protected);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    st_err("%s: %s", who, lua_tostring(L, -1) ? lua_tostring(L, -1) : "error reading the plan");
    lua_pop(L, 1);
    a.rc = ST_ERR;
  }
  if (a.rc) {
    if (p->mode) st_plan_free(p);
    return ST_ERR;
  }
  p->seed = r->seed; /* LoRA: initial A and the dropout stream */
  p->recompute = r->st.recompute; /* train.checkpointing */
  return ST_OK;
}

/* t[key] without metamethods */
static int rawfield(lua_State *L, int t, const char *key) {
  t = lua_absindex(L, t);
  lua_pushstring(L, key);
  return lua_rawget(L, t);
}

/* trace, run the policy (or train everything), print the plan table */
static int choose_plan(run *r, st_plan *p) {
  lua_State *L = r->L;
  double t0 = now_s();
  sl_eval_progress pg = {.what = "trace", .tty = r->tty};
  if (st_trace_collect_cb(&r->tr, r->m, r->trace_ds.tok, r->trace_ds.tgt, r->trace_ds.n,
                          r->trace_ds.T, r->trace_keep, r->seed, sl_progress, &pg))
    return st_err_prefix("trace: ");
  r->have_trace = 1;
  printf("trace: %d sequences x %d positions, %ld loss-bearing tokens, %.2f s\n",
         r->trace_ds.n, r->trace_ds.T, r->tr.n_tokens, now_s() - t0);
  if (r->trace_grads) { /* the gradient probe: one full backward on the trace batch */
    t0 = now_s();
    if (st_trace_gradients(&r->tr, r->m, r->trace_ds.tok, r->trace_ds.tgt, r->trace_ds.n,
                           r->trace_ds.T))
      return st_err_prefix("trace.gradients: ");
    printf("trace.gradients: one full backward, %.2f s, %.3g FLOPs\n", now_s() - t0,
           r->tr.grad_fwd_flops + r->tr.grad_bwd_flops);
  }
  int gains = 0;
  char who[ST_PATH_MAX + 64];
  snprintf(who, sizeof who, "policy %s", r->policy);
  if (!r->policy[0]) {
    printf("policy: none given; training everything\n");
    if (st_plan_parse(p, r->m, "all")) return ST_ERR;
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->pol_ref);
    lua_getfield(L, -1, "plan");
    lua_createtable(L, 0, 5);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->info_ref);
    lua_setfield(L, -2, "model");
    sl_push_trace(L, &r->tr);
    lua_setfield(L, -2, "trace");
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->params_ref);
    lua_setfield(L, -2, "params");
    lua_pushinteger(L, r->steps);
    lua_setfield(L, -2, "steps");
    if (r->measure[0]) {
      lua_pushstring(L, r->measure);
      lua_setfield(L, -2, "measure");
    }
    if (script_pcall(r, 1, 1)) {
      lua_settop(L, r->R);
      return st_err_prefix("%s: ", who);
    }
    if (convert_plan(r, -1, who, p)) {
      lua_settop(L, r->R);
      return ST_ERR;
    }
    /* the plan's extras (sl_to_plan accepted it, so it is a table) */
    if (rawfield(L, -1, "measure") == LUA_TSTRING && !r->measure[0])
      snprintf(r->measure, sizeof r->measure, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    if (rawfield(L, -1, "gains") == LUA_TTABLE) {
      gains = lua_gettop(L);
      int nl = r->m->cfg.n_layers;
      free(r->gains);
      if (!(r->gains = malloc((size_t)nl * sizeof *r->gains))) return st_err("out of memory");
      for (int l = 0; l < nl; l++) {
        lua_rawgeti(L, gains, l);
        r->gains[l] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
        lua_pop(L, 1);
      }
    }
    printf("policy: %s\n", r->policy);
  }
  sl_print_plan(p, r->m, &r->tr, r->measure[0] ? r->measure : NULL, L, gains,
                 r->T);
  lua_settop(L, r->R);
  return ST_OK;
}

/* Rank 0's plan to every rank, as plan.json's JSON (sl_plan_json) plus
 * recompute: *p in on rank 0 (p->mode NULL: no plan), out elsewhere (left
 * as it is when rank 0 had none). The other ranks never run the policy. */
static int share_plan(run *r, st_plan *p) {
  if (r->ranks < 2) return ST_OK;
  char *s = NULL;
  if (r->rank == 0) {
    json_t *j = p->mode ? sl_plan_json(p, r->m) : NULL;
    if (j) json_object_set_new(j, "recompute", json_boolean(p->recompute));
    s = j ? json_dumps(j, JSON_COMPACT) : strdup("");
    json_decref(j);
    if (!s) return st_err("out of memory");
  }
  int rc = st_dist_bcast_str(&s, 0);
  if (rc == ST_OK && r->rank && s[0]) {
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    rc = j ? sl_plan_from_json(j, r->m, p)
           : st_err("rank %d: the plan from rank 0: %s", r->rank, je.text);
    if (rc == ST_OK) p->recompute = json_is_true(json_object_get(j, "recompute"));
    json_decref(j);
  }
  free(s);
  return rc;
}

/* LoRA dropout draws its mask by position within a rank's batch
 * (st_adapter_drop_key, core/nn/layer.c), not by global row, so N ranks
 * would draw other masks than one process: refused until the mask takes
 * the rank's first global row */
/* lora.init_from: the plan's adapters start from a PEFT folder (one
 * strata export-adapter wrote, or PEFT itself); its modules_to_save are
 * written into the model. Every adapter in the folder must be in the plan,
 * with the same rank and alpha. */
static int lora_init_from(run *r) {
  st_lora *tl = st_trainer_lora(r->t), *src = NULL;
  if (!tl || !tl->n)
    return st_err("lora.init_from: the plan has no LoRA layers to start from %s", r->lora_init);
  /* the folder's modules_to_save are written into the model: they count as
   * trained, so checkpoints keep them and the run's adapter carries them
   * even when this run keeps them frozen */
  if (st_lora_load_peft_model(&src, r->m, r->lora_init, r->st.touched))
    return st_err_prefix("lora.init_from: ");
  const char **names;
  st_plan_modules(r->m, &names);
  int rc = ST_OK;
  float *A = NULL, *B = NULL;
  for (int i = 0; i < src->n && rc == ST_OK; i++) {
    const st_adapter *s = &src->a[i];
    st_adapter *t = st_lora_find(tl, s->layer, s->module);
    if (!t) {
      rc = st_err("lora.init_from %s: it adapts layer %d's %s, which this run's plan does not",
                  r->lora_init, s->layer, names[s->module]);
    } else if (t->rank != s->rank || t->alpha != s->alpha) {
      rc = st_err("lora.init_from %s: layer %d's %s has rank %d, alpha %g there and rank %d, "
                  "alpha %g in the plan", r->lora_init, s->layer, names[s->module], s->rank,
                  s->alpha, t->rank, t->alpha);
    } else {
      const st_param *w = st_lora_target(r->m, s->layer, s->module);
      size_t na = (size_t)s->rank * w->cols, nb = (size_t)w->rows * s->rank;
      float *a2 = realloc(A, na * sizeof *A), *b2 = realloc(B, nb * sizeof *B);
      if (a2) A = a2;
      if (b2) B = b2;
      if (!a2 || !b2) rc = st_err("out of memory");
      else if (st_adapter_get(src, s, A, B) || st_adapter_set(tl, t, A, B)) rc = ST_ERR;
    }
  }
  if (rc == ST_OK) printf("lora: %d adapters start from %s\n", src->n, r->lora_init);
  free(A);
  free(B);
  st_lora_free(src);
  return rc;
}

/* --- the run folder ------------------------------------------------------ */

static int make_dir_here(run *r);
/* the run folder: made by rank 0, its name sent to the others */
static int make_dir(run *r) {
  if (r->o->resume) return st_pathf(r->dir, sizeof r->dir, "%s", r->o->resume);
  if (r->rank == 0 && make_dir_here(r)) return ST_ERR;
  if (r->ranks < 2) return ST_OK;
  char *d = r->rank ? NULL : strdup(r->dir);
  if (!r->rank && !d) return st_err("out of memory");
  int rc = st_dist_bcast_str(&d, 0);
  if (rc == ST_OK) snprintf(r->dir, sizeof r->dir, "%s", d);
  free(d);
  return rc;
}

static int make_dir_here(run *r) {
  if (r->o->out) {
    if (st_pathf(r->dir, sizeof r->dir, "%s", r->o->out)) return ST_ERR;
  } else {
    const char *parent = str(r, "output.dir");
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", localtime(&now));
    if (st_pathf(r->dir, sizeof r->dir, "%s/%s-%s", parent ? parent : "runs", r->name, ts))
      return ST_ERR;
  }
  char ck[ST_PATH_MAX];
  struct stat sb;
  /* room for the longest file name a run writes, so path_in never fails */
  if (st_path_join(ck, sizeof ck - 64, r->dir, "checkpoint.safetensors")) return ST_ERR;
  if (stat(ck, &sb) == 0)
    return st_err("%s already holds a run; continue it with --resume %s or "
                  "choose another --out", r->dir, r->dir);
  return st_mkdirs(r->dir);
}

/* a file in the run folder (make_dir checked that the names fit) */
static void path_in(const run *r, const char *file, char *out, size_t n) {
  if (st_path_join(out, n, r->dir, file)) out[0] = 0;
}

/* one metrics.jsonl line. A line that cannot be written (a full disk)
 * stops the run: training on without a record would lose every step since
 * the last checkpoint, which stays as it was. */
static int log_json(run *r, json_t *j) {
  if (!r->metrics) { /* ranks other than 0 log nothing */
    json_decref(j);
    return ST_OK;
  }
  char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
  if (r->tb && s) { /* every number of the line but step: eval_x as eval/x */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double wall = now.tv_sec + now.tv_nsec * 1e-9;
    json_int_t step = json_integer_value(json_object_get(j, "step"));
    const char *k;
    json_t *v;
    int bad = 0;
    json_object_foreach(j, k, v) {
      char tag[96];
      if (!json_is_number(v) || !strcmp(k, "step")) continue;
      if (!strncmp(k, "eval_", 5)) snprintf(tag, sizeof tag, "eval/%s", k + 5);
      else if (!strncmp(k, "val_", 4)) snprintf(tag, sizeof tag, "validation/%s", k + 4);
      else snprintf(tag, sizeof tag, "train/%s", k);
      bad |= st_tfevents_scalar(r->tb, tag, step, wall, json_number_value(v));
    }
    if (bad || st_tfevents_flush(r->tb)) {
      json_decref(j);
      free(s);
      return st_err_prefix("%s: ", r->dir);
    }
  }
  json_decref(j);
  int bad = !s || fprintf(r->metrics, "%s\n", s) < 0 || fflush(r->metrics) != 0;
  int e = errno;
  free(s);
  if (!bad) return ST_OK;
  char ck[ST_PATH_MAX];
  struct stat sb;
  path_in(r, "checkpoint.safetensors", ck, sizeof ck);
  if (stat(ck, &sb) == 0)
    return st_err("%s/metrics.jsonl: cannot write: %s; the run stops, its last "
                  "checkpoint is kept (strata run --resume %s)", r->dir,
                  s ? strerror(e) : "out of memory", r->dir);
  return st_err("%s/metrics.jsonl: cannot write: %s; the run stops", r->dir,
                s ? strerror(e) : "out of memory");
}

/* --- evaluation ---------------------------------------------------------- */

typedef struct metrics { double loss, acc, f1, mcc; } metrics;

/* Data parallelism: rank k evaluates rows [n k / N, n (k+1) / N) of ds;
 * the loss sums and every example's predicted class are summed over the
 * ranks (each slot is filled by one rank only), and accuracy, macro-F1
 * and MCC computed from the predictions as st_eval_run computes them, so
 * every rank gets the same numbers. */
static int evaluate_shard(run *r, const st_dataset *ds, const st_eval_opts *o,
                          st_eval_result *e) {
  int n = ds->n, lo = (int)((long)n * r->rank / r->ranks),
      hi = (int)((long)n * (r->rank + 1) / r->ranks);
  int K = o->classify ? ds->n_classes : 0, rc = ST_OK;
  int *idx = malloc((size_t)(hi - lo + 1) * sizeof *idx);
  int32_t *pred = malloc((size_t)(K ? n : 1) * sizeof *pred);
  double *v = calloc(3 + (size_t)(K ? n : 0), sizeof *v);
  st_dataset part = {0};
  st_eval_result pe = {0};
  if (!idx || !pred || !v) rc = st_err("out of memory");
  for (int i = lo; i < hi; i++) idx[i - lo] = i;
  if (rc == ST_OK && hi > lo) {
    rc = st_dataset_subset(&part, ds, idx, hi - lo);
    if (rc == ST_OK) rc = st_eval_run(r->m, &part, o, &pe, K ? pred + lo : NULL, NULL);
  }
  if (rc == ST_OK) {
    /* v: summed token losses, tokens, argmax hits, then the predictions */
    v[0] = pe.n_tokens ? pe.loss * (double)pe.n_tokens : 0;
    v[1] = (double)pe.n_tokens;
    v[2] = pe.n_tokens ? round(pe.token_acc * (double)pe.n_tokens) : 0;
    for (int i = lo; K && i < hi; i++) v[3 + i] = pred[i];
    rc = st_dist_sum_f64(v, 3 + (size_t)(K ? n : 0));
  }
  if (rc == ST_OK) {
    e->n_examples = n;
    e->n_tokens = (long)v[1];
    e->loss = v[1] > 0 ? v[0] / v[1] : NAN;
    e->ppl = exp(e->loss);
    e->token_acc = v[1] > 0 ? v[2] / v[1] : NAN;
    if (K) {
      for (int i = 0; i < n; i++) pred[i] = (int32_t)v[3 + i];
      e->n_classes = K;
      st_eval_metrics(ds->label, pred, n, K, &e->accuracy, &e->macro_f1, NULL);
      if (st_mcc((const int *)ds->label, (const int *)pred, n, &e->mcc)) e->mcc = NAN;
      e->n_correct = (int)lround(e->accuracy * n);
    }
  }
  st_eval_result_free(&pe);
  st_dataset_free(&part);
  free(idx);
  free(pred);
  free(v);
  return rc;
}

static int evaluate_on(run *r, const st_dataset *ds, metrics *out) {
  st_eval_result e = {0};
  out->loss = out->acc = out->f1 = out->mcc = NAN;
  if (!ds->n) return ST_OK;
  sl_eval_progress pg = {.what = ds == &r->val ? "validation" : "eval", .tty = r->tty};
  st_eval_opts o = sl_eval_opts(&pg, ds->n_classes && r->classify);
  int rc = r->ranks > 1 ? evaluate_shard(r, ds, &o, &e)
                        : st_eval_run(r->m, ds, &o, &e, NULL, NULL);
  out->loss = e.loss;
  if (rc == ST_OK && ds->n_classes && r->classify) {
    out->acc = e.accuracy;
    out->f1 = e.macro_f1;
    out->mcc = e.mcc;
  }
  st_eval_result_free(&e);
  return rc ? st_err_prefix("%s: ", ds == &r->val ? "validation" : "eval") : ST_OK;
}

static int evaluate(run *r, metrics *out) { return evaluate_on(r, &r->eval, out); }

static double metric_of(const run *r, const metrics *m) {
  if (!strcmp(r->metric, "accuracy")) return m->acc;
  if (!strcmp(r->metric, "f1")) return m->f1;
  if (!strcmp(r->metric, "mcc")) return m->mcc;
  if (!strcmp(r->metric, "perplexity")) return exp(m->loss);
  return m->loss;
}

/* prints and adds to j one set's metrics (pre: "eval" or "val") */
static void put_metrics(json_t *j, const char *pre, const metrics *m, int *first) {
  char k[32];
  if (isnan(m->loss)) return;
  printf("%s%s loss %.4f  perplexity %.3f", *first ? " " : "  | ",
         strcmp(pre, "val") ? pre : "validation", m->loss, exp(m->loss));
  *first = 0;
  snprintf(k, sizeof k, "%s_loss", pre);
  json_object_set_new(j, k, json_real(m->loss));
  snprintf(k, sizeof k, "%s_perplexity", pre);
  json_object_set_new(j, k, json_real(exp(m->loss)));
  if (isnan(m->acc)) return;
  printf("  accuracy %.4f  macro-F1 %.4f", m->acc, m->f1);
  snprintf(k, sizeof k, "%s_accuracy", pre);
  json_object_set_new(j, k, json_real(m->acc));
  snprintf(k, sizeof k, "%s_macro_f1", pre);
  json_object_set_new(j, k, json_real(m->f1));
  if (isnan(m->mcc)) return;
  printf("  MCC %.4f", m->mcc);
  snprintf(k, sizeof k, "%s_mcc", pre);
  json_object_set_new(j, k, json_real(m->mcc));
}

static int log_eval(run *r, int step, const metrics *e, const metrics *v,
                    const char *label) {
  printf("%s%s", r->tty ? "\n" : "", label);
  json_t *j = json_pack("{s:i}", "step", step);
  int first = 1;
  put_metrics(j, "eval", e, &first);
  put_metrics(j, "val", v, &first);
  printf("\n");
  fflush(stdout);
  return log_json(r, j);
}

static int checkpoint(run *r);

/* After an evaluation during training or at the end: output.keep: best
 * and train.early_stop, on the validation split when there is one, else on
 * the eval set. An improvement is a change by more than min_delta in the
 * metric's direction (loss and perplexity down, accuracy and f1 up). */
static int select_at(run *r, int step, const metrics *e, const metrics *v,
                     int final) {
  double x = metric_of(r, r->val.n ? v : e);
  if (isnan(x)) return ST_OK;
  double gain = r->higher ? x - r->st.best : r->st.best - x;
  if (!isnan(r->st.best) && !(gain > r->min_delta)) {
    r->st.stale++;
    if (r->patience && r->st.stale >= r->patience && step < r->steps) {
      snprintf(r->st.stopped, sizeof r->st.stopped, "early_stop");
      printf("early stop at step %d: %s has not improved by more than %g for %d "
             "evaluations (best %.4f at step %d)\n", step, r->metric, r->min_delta,
             r->st.stale, r->st.best, r->st.best_step);
    }
    return ST_OK;
  }
  r->st.best = x;
  r->st.best_step = step;
  r->st.stale = 0;
  if (r->st.keep != SL_KEEP_BEST || r->rank) return ST_OK;
  /* the checkpoint of this step (at the end, the final one, already
   * written), then best.safetensors names it */
  return (!final && checkpoint(r)) || sl_ckpt_mark_best(r->dir) ? ST_ERR : ST_OK;
}

/* --- the training loop --------------------------------------------------- */

static double lr_at(run *r, int step) {
  if (r->sched_ref == LUA_NOREF) return r->opt.lr;
  lua_State *L = r->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->sched_ref);
  lua_pushinteger(L, step);
  lua_pushinteger(L, r->steps);
  lua_pushnumber(L, r->opt.lr);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->sched_params_ref);
  if (script_pcall(r, 4, 1)) return NAN;
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
  lua_pop(L, 1);
  if (!isfinite(v) || v < 0) st_err("%s returned lr %g at step %d", r->schedule, v, step);
  return v;
}

/* state.retrace(): the trace again, on the current weights */
static int l_retrace(lua_State *L) {
  run *r = *(run **)lua_touserdata(L, lua_upvalueindex(1));
  if (!r) return sl_errorf(L, "retrace: the run has ended");
  st_trace tr = {0};
  if (st_trace_collect(&tr, r->m, r->trace_ds.tok, r->trace_ds.tgt,
                       r->trace_ds.n, r->trace_ds.T, r->trace_keep, r->seed) ||
      (r->trace_grads && st_trace_gradients(&tr, r->m, r->trace_ds.tok, r->trace_ds.tgt,
                                            r->trace_ds.n, r->trace_ds.T))) {
    st_trace_free(&tr);
    return sl_errorf(L, "retrace: %s", st_errmsg());
  }
  sl_push_trace(L, &tr);
  st_trace_free(&tr);
  return 1;
}

static int plan_equal(const st_plan *a, const st_plan *b) {
  if (a->embed != b->embed || a->final_norm != b->final_norm || a->head != b->head)
    return 0;
  for (int l = 0; l < a->n_layers; l++)
    if (a->mode[l] != b->mode[l] ||
        (a->mode[l] == ST_FULL && a->modules[l] != b->modules[l]) ||
        (a->mode[l] == ST_LORA && memcmp(&a->lora[l], &b->lora[l], sizeof a->lora[l])))
      return 0;
  return 1;
}

/* on_step(state) on rank 0: *p = the plan it returned when that differs
 * from the current one, else p->mode stays NULL */
static int on_step_script(run *r, int step, float loss, double lr, float gn,
                          st_plan *p) {
  lua_State *L = r->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->on_step_ref);
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, step);
  lua_setfield(L, -2, "step");
  lua_pushinteger(L, r->steps);
  lua_setfield(L, -2, "total");
  lua_pushnumber(L, loss);
  lua_setfield(L, -2, "loss");
  lua_pushnumber(L, lr);
  lua_setfield(L, -2, "lr");
  lua_pushnumber(L, gn);
  lua_setfield(L, -2, "grad_norm");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->info_ref);
  lua_setfield(L, -2, "model");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->params_ref);
  lua_setfield(L, -2, "params");
  sl_push_plan(L, st_trainer_plan(r->t), r->m);
  lua_setfield(L, -2, "plan");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->handle_ref);
  lua_pushcclosure(L, l_retrace, 1);
  lua_setfield(L, -2, "retrace");
  char who[ST_PATH_MAX + 64];
  snprintf(who, sizeof who, "policy %s on_step at step %d", r->policy, step);
  if (script_pcall(r, 1, 1)) return st_err_prefix("%s: ", who);
  int rc = ST_OK;
  if (!lua_isnil(L, -1)) {
    rc = convert_plan(r, -1, who, p);
    if (rc == ST_OK && plan_equal(p, st_trainer_plan(r->t))) st_plan_free(p);
  }
  lua_settop(L, r->R);
  return rc;
}

/* the on_step hook: rank 0 runs it, every rank switches to the plan it
 * returned when that differs from the current one */
static int on_step(run *r, int step, float loss, double lr, float gn) {
  st_plan p = {0};
  int rc = r->rank ? ST_OK : on_step_script(r, step, loss, lr, gn, &p);
  if (rc == ST_OK) rc = share_plan(r, &p);
  if (rc == ST_OK && p.mode) {
    rc = st_trainer_set_plan(r->t, &p);
    if (rc == ST_OK) {
      char s[256];
      sl_plan_summary(&p, s, sizeof s);
      st_flops f = st_plan_flops(&p, r->m, r->T);
      printf("%sstep %d: policy switched to %s (backprop %.1f%% of full)\n",
             r->tty ? "\n" : "", step, s, 100.0 * f.bwd / f.full_bwd);
    }
  }
  if (p.mode) st_plan_free(&p);
  return rc;
}

static void mark_touched(run *r) {
  const st_plan *p = st_trainer_plan(r->t);
  for (int i = 0; i < r->m->n_tab; i++)
    if (st_plan_param_trainable(p, r->m, &r->m->tab[i])) r->st.touched[i] = 1;
}

static void progress(run *r, int step, float loss, double lr, double tps,
                     double elapsed) {
  int every = r->steps / 20 > 0 ? r->steps / 20 : 1;
  if (!r->tty && step % every && step != r->steps && step != 1) return;
  double eta = step > 0 ? elapsed / step * (r->steps - step) : 0;
  printf("%sstep %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %d:%02d%s",
         r->tty ? "\r" : "", step, r->steps, loss, lr, tps, (int)eta / 60,
         (int)eta % 60, r->tty ? "   " : "\n");
  fflush(stdout);
}

/* the plan's per-layer modes, as a Markdown table for TensorBoard's text tab */
static int tb_plan(run *r) {
  json_t *pj = sl_plan_json(st_trainer_plan(r->t), r->m);
  size_t n = 4096, at = 0;
  char *md = malloc(n);
  if (!md || !pj) {
    free(md);
    json_decref(pj);
    return st_err("out of memory");
  }
  at += (size_t)snprintf(md + at, n - at, "| layer | mode |\n|---|---|\n");
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(pj, "layers"), i, l) {
    if (n - at < 256) {
      char *g = realloc(md, n *= 2);
      if (!g) break;
      md = g;
    }
    at += (size_t)snprintf(md + at, n - at, "| %d | %s |\n",
                           (int)json_integer_value(json_object_get(l, "layer")),
                           json_string_value(json_object_get(l, "mode")));
  }
  json_decref(pj);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int rc = st_tfevents_text(r->tb, "plan", r->st.step, now.tv_sec + now.tv_nsec * 1e-9, md);
  free(md);
  return rc ? st_err_prefix("%s: ", r->dir) : ST_OK;
}

/* rank 0's: the replicas hold the same weights and the same global batcher
 * position */
static int checkpoint(run *r) {
  r->st.epoch = r->bat.epoch;
  r->st.index = r->bat.index;
  return r->rank ? ST_OK : sl_ckpt_save(r->dir, r->t, r->m, &r->st);
}

/* whether any rank was interrupted (a signal reaches the ranks at
 * different times; they must stop after the same step) */
static int any_interrupt(run *r, int *stop) {
  *stop = r->o->interrupt && *r->o->interrupt;
  if (r->ranks < 2 || !r->o->interrupt) return ST_OK;
  double v = *stop;
  if (st_dist_sum_f64(&v, 1)) return ST_ERR;
  *stop = v > 0;
  return ST_OK;
}

static int train(run *r, double *tok_s) {
  /* K micro-batches of B rows make one optimizer step (train.accumulate);
   * each rank holds B / ranks rows of each (NK counts the global batch) */
  int K = r->accumulate;
  size_t N = (size_t)(r->B / r->ranks) * r->T, NK = (size_t)r->B * r->T * K;
  int32_t *tok = st_malloc(N * K * sizeof *tok), *tgt = st_malloc(N * K * sizeof *tgt);
  int rc = ST_ERR;
  double t_start = now_s(), tokens = 0, busy = 0;
  int first = r->st.step;
  if (!tok || !tgt) goto done;
  if (r->o->training) *r->o->training = 1;
  for (int step = r->st.step + 1; step <= r->steps; step++) {
    double lr = lr_at(r, step);
    if (!(lr >= 0 && isfinite(lr))) goto done;
    st_optim o = r->opt;
    o.lr = (float)lr;
    for (int k = 0; k < K; k++) st_batcher_next(&r->bat, tok + k * N, tgt + k * N, NULL);
    /* LoRA dropout masks belong to global rows: this rank's rows start
     * rank * (B / ranks) rows down each (micro-)batch */
    st_lora *lo = st_trainer_lora(r->t);
    if (lo) lo->row0 = (uint64_t)r->rank * (uint64_t)(r->B / r->ranks) * (uint64_t)r->T;
    double t0 = now_s();
    float loss = 0, gn = 0;
    if (st_trainer_step_k(r->t, tok, tgt, K, &o, &loss, &gn)) goto done;
    double dt = now_s() - t0;
    busy += dt;
    tokens += (double)NK;
    r->st.step = step;
    r->st.wall_s += dt;
    if (log_json(r, json_pack("{s:i,s:f,s:f,s:f,s:f}", "step", step, "loss",
                              (double)loss, "lr", lr, "tokens_per_s", NK / dt,
                              "grad_norm", (double)gn)))
      goto done;
    progress(r, step, loss, lr, tokens / busy, now_s() - t_start);
    if (r->replans) {
      if (on_step(r, step, loss, lr, gn)) goto done;
      mark_touched(r);
    }
    if (r->eval_every && step % r->eval_every == 0 && step < r->steps &&
        (r->eval.n || r->val.n)) {
      metrics e, v;
      char label[64];
      if (evaluate(r, &e) || evaluate_on(r, &r->val, &v)) goto done;
      snprintf(label, sizeof label, "eval @ step %d:", step);
      if (log_eval(r, step, &e, &v, label) || select_at(r, step, &e, &v, 0)) goto done;
      if (r->st.stopped[0]) {
        if (checkpoint(r)) goto done;
        break;
      }
    }
    int stop;
    if (any_interrupt(r, &stop)) goto done;
    if (stop) {
      if (checkpoint(r)) goto done;
      r->interrupted = 1;
      break;
    }
    if (r->o->stop_at && step == r->o->stop_at) {
      if (checkpoint(r)) goto done;
      printf("%sstopped after step %d (--stop-at); continue with "
             "strata run --resume %s\n", r->tty ? "\n" : "", step, r->dir);
      break;
    }
    if (r->ckpt_every && step % r->ckpt_every == 0 && step < r->steps &&
        checkpoint(r))
      goto done;
  }
  if (r->tty && r->st.step > first) printf("\n");
  *tok_s = busy > 0 ? tokens / busy : 0;
  r->busy = busy;
  rc = ST_OK;
done:
  if (r->o->training) *r->o->training = 0;
  free(tok);
  free(tgt);
  return rc;
}

/* --- summary ------------------------------------------------------------- */

static json_t *jnum(double v) { return isnan(v) ? json_null() : json_real(v); }

static json_t *metrics_json(const metrics *m) {
  return json_pack("{s:o,s:o,s:o,s:o,s:o}", "loss", jnum(m->loss), "perplexity",
                   jnum(exp(m->loss)), "accuracy", jnum(m->acc), "macro_f1",
                   jnum(m->f1), "mcc", jnum(m->mcc));
}

/* summary.json's data_parallel: the ranks, and the gradient bytes a step
 * sums over them (the final plan's: 4 x the values that train) against
 * full fine-tuning's; with ranks, the time the reducer took per step and
 * its share of the step (waiting for slower ranks included) */
static json_t *dp_json(run *r) {
  size_t bytes = st_reduce_bytes(r->t, r->m), full = st_reduce_full_bytes(r->m);
  json_t *j = json_pack("{s:i,s:I,s:I,s:f}", "ranks", r->ranks, "bytes_per_step",
                        (json_int_t)bytes, "full_bytes_per_step", (json_int_t)full,
                        "bytes_ratio", (double)bytes / (double)full);
  st_reduce_stats rs;
  if (r->red) {
    st_reducer_stats(r->red, &rs);
    json_object_set_new(j, "buckets", json_integer(rs.buckets));
    json_object_set_new(j, "comm_s_per_step", json_real(rs.steps ? rs.comm_s / rs.steps : 0));
    json_object_set_new(j, "comm_share", json_real(r->busy > 0 ? rs.comm_s / r->busy : 0));
  }
  return j;
}

static int write_summary(run *r, const metrics *fin, const metrics *val,
                         double tok_s, double wall_total) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  st_flops f = st_plan_flops(st_trainer_plan(r->t), r->m, r->T);
  json_t *j = json_object();
  json_object_set_new(j, "recipe", json_string(r->name));
  json_object_set_new(j, "model", json_string(r->model_path));
  json_object_set_new(j, "model_sha256", json_string(r->sha));
  json_object_set_new(j, "steps", json_integer(r->st.step));
  /* false after --stop-at: the run continues with --resume */
  json_object_set_new(j, "complete",
                      json_boolean(r->st.step >= r->steps || r->st.stopped[0]));
  json_object_set_new(j, "batch_size", json_integer(r->B));
  json_object_set_new(j, "accumulate", json_integer(r->accumulate));
  json_object_set_new(j, "checkpointing", json_boolean(r->st.recompute));
  json_object_set_new(j, "fused_update", json_boolean(r->fused));
  json_object_set_new(j, "seq_len", json_integer(r->T));
  json_object_set_new(j, "train_examples", json_integer(r->train.n));
  json_object_set_new(j, "eval_examples", json_integer(r->eval.n));
  json_object_set_new(j, "train_wall_s", json_real(r->st.wall_s));
  json_object_set_new(j, "wall_s", json_real(wall_total));
  json_object_set_new(j, "tokens_per_s", json_real(tok_s));
  json_object_set_new(j, "peak_rss_mb", json_real(ru.ru_maxrss / 1024.0));
  json_object_set_new(j, "threads", json_integer(st_get_threads()));
  json_object_set_new(j, "backprop_flops_per_token", json_real(f.bwd));
  json_object_set_new(j, "full_backprop_flops_per_token", json_real(f.full_bwd));
  json_object_set_new(j, "backprop_ratio", json_real(f.bwd / f.full_bwd));
  json_object_set_new(j, "ideal_ratio", json_real(f.ideal_ratio));
  /* what choosing the plan cost: the trace's forward, and the gradient
   * probe's forward and backward with trace.gradients */
  json_object_set_new(j, "probe_flops", json_real(r->tr.grad_fwd_flops + r->tr.grad_bwd_flops));
  json_object_set_new(j, "plan", sl_plan_json(st_trainer_plan(r->t), r->m));
  json_object_set_new(j, "data_parallel", dp_json(r));
  json_object_set_new(j, "zero_shot", json_pack("{s:o,s:o}", "loss",
                                                jnum(r->st.zs_loss), "accuracy",
                                                jnum(r->st.zs_acc)));
  if (fin) json_object_set_new(j, "final", metrics_json(fin));
  if (val) json_object_set_new(j, "validation", metrics_json(val));
  json_object_set_new(j, "validation_examples", json_integer(r->val.n));
  /* why training ended: all its steps, train.early_stop, --stop-at, or a
   * signal (with a checkpoint to resume from) */
  json_object_set_new(j, "stop_reason",
                      json_string(r->st.stopped[0]            ? r->st.stopped
                                  : r->interrupted            ? "interrupted"
                                  : r->st.step >= r->steps    ? "steps"
                                                              : "stop_at"));
  if (r->st.best_step > 0)
    json_object_set_new(j, "best", json_pack("{s:i,s:s,s:s,s:f}", "step",
                                             r->st.best_step, "metric", r->metric,
                                             "on", r->val.n ? "validation" : "eval",
                                             "value", r->st.best));
  char p[ST_PATH_MAX];
  path_in(r, "summary.json", p, sizeof p);
  int rc = r->rank ? ST_OK : sl_write_json(j, p);
  json_decref(r->summary);
  r->summary = j;
  return rc;
}

/* --- the run ------------------------------------------------------------- */

/* the run's name: the recipe file's base name without its extension, or
 * the resumed folder's name */
static void run_name(run *r, const char *src, int is_dir) {
  size_t n = strlen(src);
  while (n > 1 && src[n - 1] == '/') n--;
  const char *base = src;
  for (size_t i = 0; i < n; i++)
    if (src[i] == '/') base = src + i + 1;
  int len = (int)(src + n - base);
  if (!is_dir) {
    const char *dot = strrchr(base, '.');
    if (dot && dot > base && dot < src + n) len = (int)(dot - base);
  }
  snprintf(r->name, sizeof r->name, "%.*s", len, base);
}

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

static void cleanup(run *r) {
  if (r->metrics) fclose(r->metrics);
  st_tfevents_close(r->tb);
  st_reducer_free(r->red);
  st_trainer_free(r->t);
  st_batcher_free(&r->bat);
  st_trace_free(&r->tr);
  st_dataset_free(&r->trace_ds);
  st_dataset_free(&r->eval);
  st_dataset_free(&r->val);
  st_dataset_free(&r->train);
  st_tokenizer_free(r->tk);
  st_model_free(r->m);
  free(r->st.touched);
  free(r->gains);
  json_decref(r->summary);
  *r->handle = NULL; /* a retrace kept by a script now fails cleanly */
  int *refs[] = {&r->pol_ref, &r->on_step_ref, &r->sched_ref,
                 &r->sched_params_ref, &r->params_ref, &r->info_ref, &r->handle_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) unref(r->L, refs[i]);
}

/* the run's own figures: the per-layer trace with the chosen layers, and
 * its loss curves */
static int plot_run(run *r) {
  char tp[ST_PATH_MAX], pp[ST_PATH_MAX], mp[ST_PATH_MAX], svg[ST_PATH_MAX];
  path_in(r, "trace.json", tp, sizeof tp);
  path_in(r, "plan.json", pp, sizeof pp);
  path_in(r, "metrics.jsonl", mp, sizeof mp);
  path_in(r, "loss_curves.svg", svg, sizeof svg);
  json_t *tr = json_load_file(tp, 0, NULL), *pl = json_load_file(pp, 0, NULL);
  int rc = tr ? sl_plot_trace(tr, pl, r->dir, r->name) : ST_OK;
  json_decref(tr);
  json_decref(pl);
  const char *name = r->name, *metrics = mp;
  if (rc == ST_OK) rc = sl_plot_losses(svg, 1, &name, &metrics);
  return rc;
}

static int load_recipe(run *r, int recipe) {
  const sl_run_opts *o = r->o;
  lua_State *L = r->L;
  if (o->resume) {
    if (recipe)
      return st_err("--resume takes its recipe from the run folder %s; give no recipe",
                    o->resume);
    if (o->out) return st_err("--resume and --out cannot be combined: a resumed run stays in %s",
                              o->resume);
    if (st_path_join(r->recipe, sizeof r->recipe, o->resume, "recipe.resolved.yaml"))
      return ST_ERR;
    run_name(r, o->resume, 1);
  } else if (recipe && lua_type(L, recipe) == LUA_TSTRING) {
    if (st_pathf(r->recipe, sizeof r->recipe, "%s", lua_tostring(L, recipe))) return ST_ERR;
    run_name(r, r->recipe, 0);
  } else if (recipe && lua_istable(L, recipe)) {
    snprintf(r->recipe, sizeof r->recipe, "(table)");
    snprintf(r->name, sizeof r->name, "run");
    if (sl_recipe_check_table(L, recipe, o->nsets, o->sets)) return ST_ERR;
    goto loaded;
  } else {
    return st_err("a recipe is a path or a table, not %s",
                  recipe ? luaL_typename(L, recipe) : "nothing");
  }
  if (sl_recipe_load(L, r->recipe, o->nsets, o->sets)) return ST_ERR;
loaded:
  if (o->name) snprintf(r->name, sizeof r->name, "%s", o->name);
  r->R = lua_gettop(L);
  return ST_OK;
}

static int run_main(run *r, int recipe) {
  double t_begin = now_s();
  lua_State *L = r->L;
  if (load_recipe(r, recipe)) return ST_ERR;
  absolute_paths(r);
  const char *recipe_path = r->recipe;
  if (read_config(r)) return ST_ERR;
  r->old_cap = sl_memory_cap(L, (size_t)r->mem_mb << 20);
  r->capped = 1;
  if (load_inputs(r)) return ST_ERR;
  r->st.base_model = r->model_path;
  r->st.base_sha256 = r->sha;
  r->st.best = NAN;
  const char *metric = str(r, "output.metric");
  const st_dataset *sel = r->val.n ? &r->val : &r->eval;
  if (!metric || !strcmp(metric, "auto"))
    metric = sel->n_classes && r->classify ? "accuracy" : "loss";
  snprintf(r->metric, sizeof r->metric, "%s", metric);
  r->higher = !strcmp(metric, "accuracy") || !strcmp(metric, "f1") || !strcmp(metric, "mcc");
  if ((r->st.keep == SL_KEEP_BEST || r->patience) && !sel->n)
    return st_err("%s needs an evaluation: give data.validation, data.eval or "
                  "data.eval_fraction", r->patience ? "train.early_stop" : "output.keep: best");
  if ((r->st.keep == SL_KEEP_BEST || r->patience) && !r->eval_every)
    return st_err("%s needs evaluations during training: set eval.every",
                  r->patience ? "train.early_stop" : "output.keep: best");
  if ((r->st.keep == SL_KEEP_BEST || r->patience) && !r->val.n)
    fprintf(stderr, "strata: note: %s selects on the eval set; give data.validation "
            "to keep the eval set for the final number only\n",
            r->patience ? "train.early_stop" : "output.keep: best");
  if (!r->plan_only && make_dir(r)) return ST_ERR;
  if (load_policy(r)) return ST_ERR;
  if (r->schedule[0]) {
    if (script_load(r, r->schedule)) return ST_ERR;
    if (!lua_isfunction(L, -1))
      return st_err("%s: a schedule must return function(step, total, "
                    "base_lr, params) -> lr", r->schedule);
    r->sched_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->sched_params_ref = ref_of(r, "train.schedule.params");
  }
  printf("recipe: %s%s\n", recipe_path, r->o->nsets ? " (with --set overrides)" : "");
  printf("model: %s (%s, %d layers, dim %d, %zu parameters)\n", r->model_path,
         r->m->cfg.arch == ST_ARCH_GPT2 ? "gpt2" : "llama", r->m->cfg.n_layers,
         r->m->cfg.dim, r->m->n_params);
  printf("data: %d training examples, %d eval examples", r->train.n, r->eval.n);
  if (r->val.n) printf(", %d validation examples", r->val.n);
  printf(", %d positions%s\n", r->T, r->train.n_classes ? ", classification" : "");
  printf("train: %d steps x batch %d, lr %g%s%s, %d thread(s)", r->steps,
         r->B, r->opt.lr, r->schedule[0] ? ", schedule " : "", r->schedule,
         st_get_threads());
  if (r->ranks > 1)
    printf(" per rank; %d ranks x %d rows (%s)", r->ranks, r->B / r->ranks,
           st_dist_launcher());
  printf("\n");

  st_plan plan = {0};
  if (!(r->st.touched = calloc((size_t)r->m->n_tab, 1))) return st_err("out of memory");
  if (r->o->resume) {
    if (sl_ckpt_load(r->dir, &r->t, r->m, r->B / r->ranks, r->T, &r->st)) return ST_ERR;
    if (r->st.stopped[0])
      return st_err("%s: the run stopped early at step %d (train.early_stop: no "
                    "improvement of %s since step %d); it is complete", r->dir,
                    r->st.step, r->metric, r->st.best_step);
    if (r->st.step >= r->steps)
      return st_err("%s: the run is complete (%d of %d steps); raise "
                    "train.steps with --set to continue", r->dir, r->st.step,
                    r->steps);
    char s[256];
    sl_plan_summary(st_trainer_plan(r->t), s, sizeof s);
    printf("resuming %s at step %d: %s\n", r->dir, r->st.step, s);
  } else {
    /* one brain: rank 0 traces and runs the policy */
    int rc = r->rank ? ST_OK : choose_plan(r, &plan);
    if (rc == ST_OK) rc = share_plan(r, &plan);
    if (rc || r->plan_only) {
      if (rc == ST_OK) r->summary = sl_plan_json(&plan, r->m);
      st_plan_free(&plan);
      return rc;
    }
    plan.seed = r->seed;
    rc = st_trainer_new_fused(&r->t, r->m, &plan, r->B / r->ranks, r->T, r->fused);
    if (rc == ST_OK && r->lora_init[0]) rc = lora_init_from(r);
    if (rc == ST_OK && r->rank == 0) {
      char p[ST_PATH_MAX];
      json_t *pj = sl_plan_json(&plan, r->m);
      st_flops f = st_plan_flops(&plan, r->m, r->T);
      json_object_set_new(pj, "policy", json_string(r->policy));
      json_object_set_new(pj, "measure", json_string(r->measure));
      if (r->gains) { /* for the per-layer figure */
        json_t *g = json_array();
        for (int l = 0; l < r->m->cfg.n_layers; l++)
          json_array_append_new(g, isnan(r->gains[l]) ? json_null() : json_real(r->gains[l]));
        json_object_set_new(pj, "gains", g);
      }
      json_object_set_new(pj, "backprop_ratio", json_real(f.bwd / f.full_bwd));
      json_object_set_new(pj, "ideal_ratio", json_real(f.ideal_ratio));
      path_in(r, "plan.json", p, sizeof p);
      rc = sl_write_json(pj, p);
      json_decref(pj);
      path_in(r, "trace.json", p, sizeof p);
      if (rc == ST_OK) rc = st_trace_write_json(&r->tr, p);
      path_in(r, "recipe.resolved.yaml", p, sizeof p);
      if (rc == ST_OK) rc = sl_write_yaml(L, r->R, p);
    }
    st_plan_free(&plan);
    if (rc) return ST_ERR;
  }
  mark_touched(r);
  if (r->ranks > 1 && st_reducer_new(&r->red, r->t, r->m)) return ST_ERR;
  if (st_batcher_init(&r->bat, &r->train, r->B, r->seed, 1) ||
      st_batcher_shard(&r->bat, r->rank, r->ranks) ||
      st_batcher_seek(&r->bat, r->st.epoch, r->st.index))
    return ST_ERR;
  char mp[ST_PATH_MAX];
  path_in(r, "metrics.jsonl", mp, sizeof mp);
  if (r->rank == 0) { /* the run folder's logs */
    if (r->o->resume && sl_metrics_truncate(mp, r->st.step)) return ST_ERR;
    if (!(r->metrics = fopen(mp, r->o->resume ? "a" : "w")))
      return st_err("%s: cannot write", mp);
    get_or_default(r, "output.tensorboard");
    int tb = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (tb && (st_tfevents_open(&r->tb, r->dir) || tb_plan(r))) return ST_ERR;
  }
  printf("run folder: %s\n", r->dir);

  if (!r->o->resume && r->zero_shot && (r->eval.n || r->val.n)) {
    metrics z, zv;
    if (evaluate(r, &z) || evaluate_on(r, &r->val, &zv)) return ST_ERR;
    r->st.zs_loss = z.loss;
    r->st.zs_acc = z.acc;
    if (log_eval(r, 0, &z, &zv, "zero-shot:")) return ST_ERR;
  }
  double tok_s = 0;
  if (train(r, &tok_s)) return ST_ERR;
  if (r->interrupted) {
    if (write_summary(r, NULL, NULL, tok_s, now_s() - t_begin)) return ST_ERR;
    return st_err("%sinterrupted after step %d; its checkpoint is kept: continue with "
                  "strata run --resume %s", r->tty ? "\n" : "", r->st.step, r->dir);
  }
  if (r->o->stop_at && r->st.step == r->o->stop_at && r->st.step < r->steps)
    return write_summary(r, NULL, NULL, tok_s, now_s() - t_begin);
  if (checkpoint(r)) return ST_ERR;
  const st_lora *lo = st_trainer_lora(r->t);
  if (lo && lo->n) { /* the adapters as a PEFT folder */
    char ad[ST_PATH_MAX];
    path_in(r, "adapter", ad, sizeof ad);
    /* tensors trained in full (e.g. the final norm) go in as
     * modules_to_save; a run PEFT cannot express keeps its checkpoint */
    if (r->rank) {
      /* rank 0 writes it */
    } else if (st_lora_save_peft_full(r->m, lo, r->st.touched, ad, r->model_path))
      fprintf(stderr, "strata: warning: no PEFT adapter folder: %s\n", st_errmsg());
    else
      printf("LoRA adapters: %s (PEFT)\n", ad);
    /* The final evaluation is of the model the run hands on: adapters
     * merged into the weights, as the run folder loads as a model and as
     * strata export writes it, so they agree bit for bit. */
    if (st_lora_merge(r->m, lo)) return ST_ERR;
  }
  metrics fin = {NAN, NAN, NAN, NAN}, fval = {NAN, NAN, NAN, NAN};
  if (r->eval.n || r->val.n) {
    if (evaluate(r, &fin) || evaluate_on(r, &r->val, &fval)) return ST_ERR;
    if (log_eval(r, r->st.step, &fin, &fval, "final:")) return ST_ERR;
    if (!isnan(fin.acc) && !isnan(r->st.zs_acc))
      printf("accuracy: %.4f after fine-tuning, %.4f zero-shot\n", fin.acc,
             r->st.zs_acc);
    else if (!isnan(r->st.zs_loss) && !isnan(fin.loss))
      printf("eval loss: %.4f after fine-tuning, %.4f zero-shot\n", fin.loss,
             r->st.zs_loss);
    if (select_at(r, r->st.step, &fin, &fval, 1)) return ST_ERR;
  }
  if (write_summary(r, r->eval.n ? &fin : NULL, r->val.n ? &fval : NULL, tok_s,
                    now_s() - t_begin))
    return ST_ERR;
  if (r->rank == 0 && plot_run(r)) return ST_ERR;
  if (r->tb) {
    int bad = st_tfevents_close(r->tb);
    r->tb = NULL;
    if (bad) return st_err_prefix("%s: ", r->dir);
  }
  if (r->rank == 0 && sl_report_run(r->dir))
    fprintf(stderr, "strata: warning: no report.html: %s\n", st_errmsg());
  printf("done: %d steps, %.1f s training, %.1f s in all; %s\n", r->st.step,
         r->st.wall_s, now_s() - t_begin, r->dir);
  return ST_OK;
}

void sl_progress(void *ctx, int done, int total) {
  sl_eval_progress *p = ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = ts.tv_sec + ts.tv_nsec * 1e-9;
  if (!p->t0) p->t0 = now - 1e-9; /* the first call ends the first batch */
  double dt = now - p->t0, rate = done / dt, eta = (total - done) / (rate > 0 ? rate : 1);
  /* a terminal gets a live line; a log only a few lines, and only when the
   * evaluation takes long enough to wonder about */
  int quarter = 4 * done / total;
  if (!p->tty && (dt < 5 || quarter == p->quarter) && done < total) return;
  if (!p->tty && done == total && !p->printed) return;
  p->quarter = quarter;
  p->printed = 1;
  printf("%s  %s %d/%d  %.0f examples/s  ETA %d:%02d%s", p->tty ? "\r" : "", p->what,
         done, total, rate, (int)eta / 60, (int)eta % 60,
         p->tty ? (done == total ? "\r\033[K" : "   ") : "\n");
  fflush(stdout);
}

st_eval_opts sl_eval_opts(sl_eval_progress *p, int classify) {
  st_eval_opts o = st_eval_opts_default(SL_EVAL_BATCH);
  o.classify = classify;
  o.progress = sl_progress;
  o.ctx = p;
  return o;
}

/* The eval set of a run, from its recipe.resolved.yaml, as the run built
 * it (the same data keys, seq_len, seed and eval.max_samples). */
int sl_run_eval_data(lua_State *L, const char *dir, const st_tokenizer *tk,
                     const st_model *m, st_dataset *eval, int *classify) {
  sl_run_opts o = {.resume = dir};
  run r0 = {.L = L, .o = &o}, *r = &r0;
  st_dataset train = {0};
  int top = lua_gettop(L), rc = load_recipe(r, 0);
  if (rc == ST_OK) {
    r->T = integer_or(r, "train.seq_len", sl_default_seq_len(m));
    r->seed = (uint64_t)integer(r, "train.seed");
    int max = 0;
    static const char *cut_keys[] = {"eval.samples", "eval.max_samples"};
    for (int i = 0; i < 2; i++) {
      get(r, cut_keys[i]);
      if (lua_isinteger(L, -1)) max = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    r->classify = get(r, "eval.metrics") != LUA_TTABLE;
    for (int i = 1; !r->classify && i <= (int)lua_rawlen(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      const char *mt = lua_tostring(L, -1);
      r->classify = mt && (!strcmp(mt, "accuracy") || !strcmp(mt, "f1"));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *classify = r->classify;
    get(r, "data");
    rc = sl_load_data(L, -1, tk, r->T, r->seed, &train, eval);
    lua_pop(L, 1);
    if (rc == ST_OK && !eval->n)
      rc = st_err("%s: the run has no eval set; give --data", dir);
    if (rc == ST_OK && max && max < eval->n) {
      st_dataset cut;
      rc = sl_dataset_head(&cut, eval, max);
      st_dataset_free(eval);
      *eval = cut;
    }
  }
  st_dataset_free(&train);
  if (rc) st_dataset_free(eval);
  lua_settop(L, top);
  return rc;
}

int sl_run(lua_State *L, int recipe, const sl_run_opts *o) {
  run *r = calloc(1, sizeof *r);
  if (!r) return st_err("out of memory");
  int top = lua_gettop(L);
  /* a recipe's threads and precision are its own: the next run in the same
   * process (strata.run in an experiment script) starts from the caller's */
  int threads = st_get_threads();
  recipe = recipe ? lua_absindex(L, recipe) : 0;
  r->L = L;
  r->o = o;
  r->plan_only = o->plan_only;
  r->pol_ref = r->on_step_ref = r->sched_ref = r->sched_params_ref = LUA_NOREF;
  r->params_ref = r->info_ref = LUA_NOREF;
  r->st.zs_loss = r->st.zs_acc = NAN;
  r->tty = isatty(STDOUT_FILENO);
  r->rank = st_dist_rank();
  r->ranks = st_dist_size();
  r->handle = lua_newuserdatauv(L, sizeof *r->handle, 0);
  *r->handle = r;
  r->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  int rc = run_main(r, recipe);
  lua_settop(L, top);
  if (r->be && r->be->set_bf16) r->be->set_bf16(0);
  st_set_threads(threads);
  if (rc == ST_OK) {
    sl_push_json(L, r->summary);
    if (!r->plan_only) {
      lua_pushstring(L, r->dir);
      lua_setfield(L, -2, "dir");
    }
  }
  cleanup(r);
  lua_pushnil(L); /* the next run or strata.data takes its own budget */
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.sandbox_instructions");
  /* the scripts' objects go now, while their finalizers are bounded, not
   * at some later collection in the caller's code */
  sl_budget_begin(L, SL_CLOSE_BUDGET);
  lua_gc(L, LUA_GCCOLLECT);
  sl_budget_end(L);
  if (r->capped) sl_memory_cap_restore(L, r->old_cap);
  free(r);
  return rc;
}
