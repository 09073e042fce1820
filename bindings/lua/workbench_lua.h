/* workbench_lua.h - models, traces, plans, data and policy scripts on the
 * Lua side (model_lua.c, trace_lua.c, plan_lua.c, data_lua.c, scripts_lua.c).
 * Used by the `strata` module and by the runner (runner.h).
 *
 * Indexing: model layers are 0..L-1; latent spaces 0..L, where space 0 is
 * the embedding output and space l >= 1 the output of layer l-1. Trace
 * tables are indexed by space; their entry l >= 1 also carries the params
 * and FLOPs of the layer that produces it (layer l-1).
 *
 * As in strata_lua.h: [raises] marks the functions that report failure
 * with lua_error; the rest return ST_OK / ST_ERR + st_err. */
#ifndef SL_WORKBENCH_LUA_H
#define SL_WORKBENCH_LUA_H

#include "dataset.h"
#include "model.h"
#include "plan.h"
#include "strata_lua.h"
#include "trace.h"

extern const luaL_Reg sl_model_funcs[]; /* model */
extern const luaL_Reg sl_trace_funcs[]; /* tensor */
extern const luaL_Reg sl_plan_funcs[];  /* check_plan */
extern const luaL_Reg sl_scripts_funcs[]; /* policy, schedule */
extern const luaL_Reg sl_dataset_funcs[]; /* data */
extern const luaL_Reg sl_trainer_funcs[]; /* trainer */
extern const luaL_Reg sl_runner_funcs[];  /* run (runner_lua.c) */

/* --- model_lua.c --------------------------------------------------------- */
/* pushes a plain info table: arch, n_layers, dim, hidden, n_heads,
 * n_kv_heads, vocab, max_seq, tied, n_params, modules = {names},
 * layer_params / wgrad_flops / dgrad_flops = {[0..L-1]}, embed_params,
 * head_params (0 when tied), fwd_flops and full_bwd_flops per token */
void sl_push_model_info(lua_State *L, const st_model *m, int T);
/* [raises] the st_model of a strata.model userdata at idx */
st_model *sl_check_model(lua_State *L, int idx);

/* --- trace_lua.c --------------------------------------------------------- */
/* pushes {n_layers=, n_tokens=, [0..L] = {delta_norm = {mean=, std=}, ...,
 * params=, wgrad_flops=, dgrad_flops= (l >= 1), hidden = {tensors}}} */
void sl_push_trace(lua_State *L, const st_trace *tr);
/* a fresh tensor userdata of n floats copied from x (x may be NULL: 0s) */
float *sl_push_tensor(lua_State *L, const float *x, int n);

/* --- plan_lua.c ---------------------------------------------------------- */
/* Converts the plan table at idx (the shape policies return, see
 * docs/recipes.md) into *out, validated against m. LoRA layers take missing
 * fields from lora_default (may be NULL). `who` names the source in errors
 * ("policy scripts/policies/x.lua"). ST_OK, or ST_ERR + st_err. */
int sl_to_plan(lua_State *L, int idx, const st_model *m,
                   const st_lora_spec *lora_default, const char *who,
                   st_plan *out);
/* LoRA settings for plan layers that give none: the recipe's lora section
 * (table at index lora; 0 or a non-table: none) over the schema's defaults.
 * ST_ERR + st_err naming lora.modules[i] when the model lacks a module. */
int sl_lora_defaults(lua_State *L, int lora, const st_model *m,
                     st_lora_spec *s);
/* the default seq_len of training, data and eval: min(128, the model's
 * context) (schema: train.seq_len) */
int sl_default_seq_len(const st_model *m);
/* pushes the plan as the table shape above (layers = {[0..L-1] = mode}) */
void sl_push_plan(lua_State *L, const st_plan *p, const st_model *m);

/* --- data_lua.c ---------------------------------------------------------- */
/* The recipe's `data` section (table at idx) -> train and eval datasets of
 * seq_len positions. Eval comes from data.eval, else a data.eval_fraction
 * split of train (seeded), else is empty (eval->n == 0). data.max_samples
 * caps train. ST_OK or ST_ERR + st_err naming the key. */
int sl_load_data(lua_State *L, int idx, const st_tokenizer *tk,
                     int seq_len, uint64_t seed, st_dataset *train,
                     st_dataset *eval);
/* the first min(n, ds->n) examples of ds */
int sl_dataset_head(st_dataset *out, const st_dataset *ds, int n);

/* --- dataset_lua.c ------------------------------------------------------ */
/* a fresh, empty strata.dataset userdata (freed by the collector) */
st_dataset *sl_push_dataset(lua_State *L);
/* [raises] the st_dataset of a strata.dataset userdata at idx */
st_dataset *sl_check_dataset(lua_State *L, int idx);
/* [raises] loads `data` (stack index: a recipe data table or a file path) with the
 * tokenizer beside the model at stack index `model` (or `tokenizer`) into
 * rows of T positions; pushes the train and eval datasets (eval nil when
 * there is none). Raises on error. */
void sl_push_datasets(lua_State *L, int model, int data, int T,
                          uint64_t seed, const char *tokenizer);

/* --- eval_lua.c ---------------------------------------------------------- */
/* [raises] m:eval{data=, samples=, seq_len=, batch=, ...} -> metrics table */
int sl_model_eval(lua_State *L);

/* --- scripts_lua.c --------------------------------------------------------- */
/* a script path as written in a recipe: an existing file (relative to the
 * working directory), else a short name looked up as
 * <scripts>/<kind>/<name>.lua (kind "policies" or "schedules") */
void sl_script_path(const char *name, const char *kind, char *out, size_t n);
/* runs the script in a fresh sandbox (writes allowed under run_dir, may be
 * NULL; require also finds modules beside the script) and pushes the value
 * it returns; ST_OK, or ST_ERR + st_err */
int sl_load_script(lua_State *L, const char *path, const char *run_dir);

#endif
