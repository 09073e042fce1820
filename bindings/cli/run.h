/* run.h - the pieces of `strata run` / `strata plan` (cmd_run.c): the run
 * folder's files (run_files.c) and checkpoints (run_ckpt.c). */
#ifndef ST_RUN_H
#define ST_RUN_H

#include <jansson.h>
#include <lua.h>
#include <stdio.h>

#include "dataset.h"
#include "model.h"
#include "plan.h"
#include "train.h"
#include "trace.h"

/* --- run_files.c --------------------------------------------------------- */
/* the table at idx as YAML (maps with sorted keys, strings double-quoted,
 * floats that read back exactly), written to path.tmp and renamed */
int run_write_yaml(lua_State *L, int idx, const char *path);
/* json to path.tmp, renamed into place */
int run_write_json(json_t *j, const char *path);
/* plan -> {"layers": [{"layer", "mode", "modules", "rank", "alpha"}],
 * "embed", "final_norm", "head"}; the inverse for checkpoints */
json_t *run_plan_json(const st_plan *p, const st_model *m);
int run_plan_from_json(json_t *j, const st_model *m, st_plan *p);
/* per-layer plan table: params, the trace measure of the layer's output
 * space, the policy's gain (gains: table index or 0), mode and the layer's
 * approximate share of full backprop; then the totals */
void run_print_plan(const st_plan *p, const st_model *m, const st_trace *tr,
                    const char *measure, lua_State *L, int gains, int T);
/* a one-line name of the trained set: "layers 2-4 + final_norm" */
void run_plan_summary(const st_plan *p, char *out, size_t n);

/* --- run_ckpt.c ---------------------------------------------------------- */
typedef struct run_state {
  int step;                 /* steps done */
  long epoch, index;        /* batcher position */
  double wall_s;            /* training time so far */
  double zs_loss, zs_acc;   /* zero-shot eval (NaN: not measured) */
  unsigned char *touched;   /* [n_tab]: ever trained (weights differ) */
} run_state;

/* DIR/checkpoint.safetensors: the weights of every tensor trained so far,
 * AdamW m, v and step of the trainable ones, and in the metadata the step,
 * batcher position, plan, zero-shot metrics and wall time */
int run_ckpt_save(const char *dir, st_trainer *t, const st_model *m,
                  const run_state *s);
/* restores into a fresh trainer (created here with the saved plan) */
int run_ckpt_load(const char *dir, st_trainer **t, st_model *m, int B, int T,
                  run_state *s);
/* keeps the metrics.jsonl lines with step <= step (a resumed run rewrites
 * what came after its checkpoint) */
int run_metrics_truncate(const char *path, int step);

#endif
