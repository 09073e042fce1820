/* runner.h - the runner: everything that turns a recipe into a finished
 * run folder (runner.c), the run folder's files (runner_files.c), its
 * checkpoints (runner_ckpt.c) and its figures (runner_plots.c).
 *
 * `strata run` and `strata plan` (bindings/cli/cmd_run.c), `strata sweep`
 * (through `strata run` in a child process per run) and the Lua function
 * strata.run (runner_lua.c) all call sl_run. */
#ifndef SL_RUNNER_H
#define SL_RUNNER_H

#include <jansson.h>
#include <signal.h>
#include <lua.h>
#include <stdio.h>

#include "dataset.h"
#include "eval.h"
#include "tokenizer.h"
#include "model.h"
#include "plan.h"
#include "train.h"
#include "trace.h"

/* --- runner.c ------------------------------------------------------------ */
/* rows per forward pass of a run's evaluations; `strata eval` of a run
 * folder uses the same, so its numbers are the run's bit for bit */
#define SL_EVAL_BATCH 32
/* The options of a run's evaluation (st_eval_run: loss, classification
 * when asked, batch SL_EVAL_BATCH), with progress printed through p: a live
 * line on a terminal, a few lines in a log when it takes over 5 s. */
typedef struct sl_eval_progress {
  const char *what; /* "eval", "validation" */
  int tty;
  double t0;
  int quarter, printed;
} sl_eval_progress;
st_eval_opts sl_eval_opts(sl_eval_progress *p, int classify);
/* the progress printer itself (ctx: an sl_eval_progress), for st_eval_run
 * and st_trace_collect_cb */
void sl_progress(void *ctx, int done, int total);

typedef struct sl_run_opts {
  const char *out;             /* run folder; NULL: <output.dir or runs>/<name>-<time> */
  const char *resume;          /* continue this run folder from its checkpoint */
  const char *name;            /* run name; NULL: the recipe file's base name */
  const char *const *sets;     /* "a.b=value" recipe overrides */
  int nsets;
  int stop_at;                 /* > 0: stop after this step with a checkpoint */
  /* set from a signal handler (Ctrl-C, SIGTERM): the run stops after the
   * step in progress with a checkpoint, its summary says incomplete, and
   * sl_run returns ST_ERR with a resume hint; NULL: not watched */
  volatile sig_atomic_t *interrupt;
  /* the runner sets *training to 1 while its training loop runs, so a
   * handler knows whether the loop will see *interrupt; NULL: not told */
  volatile sig_atomic_t *training;
  int plan_only;               /* trace, run the policy, print the plan, stop */
  int threads;                 /* > 0: the thread count, over the recipe's */
  int threads_fixed;           /* the caller chose the thread count: ignore
                                  the recipe's `threads` (also when the
                                  registry's "strata.threads_fixed" is true) */
} sl_run_opts;

/* Runs a recipe: resolve it (includes, o->sets, schema and defaults), load
 * the model and data, trace, run the policy and apply its plan, train
 * (schedule, on_step re-planning, eval cadence, checkpoints, resume) and
 * write metrics.jsonl, summary.json and the figures. `recipe` is the stack
 * index of a recipe path or an unchecked recipe table (0 with o->resume).
 * Recipe scripts run sandboxed unless the registry's "strata.unsafe_lua" is
 * true. The thread count and the backend's precision are restored on return,
 * so runs in one process do not leak settings into each other. Pushes the summary (summary.json as a table; with plan_only, the
 * plan as plan.json would hold it) and returns ST_OK, or returns ST_ERR with
 * st_err set and the stack as it was. Never raises. */
int sl_run(lua_State *L, int recipe, const sl_run_opts *o);
/* The eval set of the run in dir, built as the run built it (its recipe's
 * data, seq_len, seed and eval.max_samples), and whether its recipe asked
 * for classification metrics; ST_ERR when the run has none. Never raises. */
int sl_run_eval_data(lua_State *L, const char *dir, const st_tokenizer *tk,
                     const st_model *m, st_dataset *eval, int *classify);

/* --- runner_plots.c ------------------------------------------------------ */
/* per-layer figure of a run: trace.json's measure per latent space, the
 * plan's gains when present, selected layers marked; writes <dir>/trace.svg */
int sl_plot_trace(json_t *trace, json_t *plan, const char *dir, const char *title);
/* training and eval loss of runs (metrics.jsonl paths) into one SVG */
int sl_plot_losses(const char *svg, int n, const char *const *names,
                   const char *const *metrics);

/* --- runner_files.c ------------------------------------------------------ */
/* the table at idx as YAML (maps with sorted keys, strings double-quoted,
 * floats that read back exactly), written to path.tmp and renamed */
int sl_write_yaml(lua_State *L, int idx, const char *path);
/* json to path.tmp, renamed into place */
int sl_write_json(json_t *j, const char *path);
/* plan -> {"layers": [{"layer", "mode", "modules", "rank", "alpha"}],
 * "embed", "final_norm", "head"}; the inverse for checkpoints */
json_t *sl_plan_json(const st_plan *p, const st_model *m);
int sl_plan_from_json(json_t *j, const st_model *m, st_plan *p);
/* per-layer plan table: params, the trace measure of the layer's output
 * space, the policy's gain (gains: table index or 0), mode and the layer's
 * approximate share of full backprop; then the totals */
void sl_print_plan(const st_plan *p, const st_model *m, const st_trace *tr,
                    const char *measure, lua_State *L, int gains, int T);
/* a one-line name of the trained set: "layers 2-4 + final_norm" */
void sl_plan_summary(const st_plan *p, char *out, size_t n);

/* pushes a JSON value as plain Lua values (objects and arrays as tables,
 * arrays 1-based, null as nil) */
void sl_push_json(lua_State *L, json_t *j);

/* --- runner_ckpt.c ------------------------------------------------------- */
enum { SL_KEEP_LAST, SL_KEEP_BEST, SL_KEEP_ALL }; /* output.keep */

typedef struct sl_run_state {
  int step;                 /* steps done */
  long epoch, index;        /* batcher position */
  double wall_s;            /* training time so far */
  double zs_loss, zs_acc;   /* zero-shot eval (NaN: not measured) */
  unsigned char *touched;   /* [n_tab]: ever trained (weights differ) */
  /* the selection metric (output.metric) at its best so far, the step it
   * was reached (0: none yet) and evaluations since without an improvement
   * of train.early_stop.min_delta; "early_stop" once that stopped the run */
  double best;
  int best_step, stale;
  char stopped[16];
  /* what a checkpoint records so the run folder is a model anywhere
   * (core/io/run_folder.c): the base model, absolute, and its hash */
  const char *base_model, *base_sha256;
  int keep;                 /* SL_KEEP_* */
  int recompute;            /* train.checkpointing: every plan's recompute */
} sl_run_state;

/* DIR/checkpoint.safetensors: the weights of every tensor trained so far,
 * AdamW m, v and step of the trainable ones, and in the metadata the step,
 * batcher position, plan, zero-shot metrics, wall time, the selection
 * state, and the base model with its hash. With SL_KEEP_ALL it is also
 * kept as DIR/checkpoints/step-N.safetensors (a hard link: no copy). */
int sl_ckpt_save(const char *dir, st_trainer *t, const st_model *m,
                  const sl_run_state *s);
/* DIR/best.safetensors: the checkpoint just saved, as the best one (a hard
 * link; its adapter file is kept while it is the best) */
int sl_ckpt_mark_best(const char *dir);
/* restores into a fresh trainer (created here with the saved plan) */
int sl_ckpt_load(const char *dir, st_trainer **t, st_model *m, int B, int T,
                  sl_run_state *s);
/* keeps the metrics.jsonl lines with step <= step (a resumed run rewrites
 * what came after its checkpoint) */
int sl_metrics_truncate(const char *path, int step);

#endif
