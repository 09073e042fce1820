/* trainer_lua.c - strata.trainer: the training loop of `strata run`, one
 * step at a time under a Lua script's control.
 *
 *   t = strata.trainer(m, plan, {batch_size =, seq_len =, lr =, weight_decay =,
 *                      grad_clip =, beta1 =, beta2 =, eps =, seed =,
 *                      accumulate =, checkpointing =, fused_update =})
 *                   options missing take the recipe defaults of train.*
 *                   (the schema, docs/recipes.md; accumulate 1,
 *                   checkpointing and fused_update false while the schema
 *                   has none)
 *   t:step(ds)      one AdamW step on the next `accumulate` batches of
 *                   dataset ds (a strata.data dataset), accumulated as one
 *                   batch that many times larger (st_trainer_step_k);
 *                   returns loss, grad_norm
 *   t:loss()        the last step's loss (nil before the first)
 *   t:grad_norm()   the last step's pre-clip gradient norm
 *   t:steps()       steps taken
 *   t:lr()  t:set_lr(x)
 *   t:plan()        the current plan, as strata.check_plan returns it
 *   t:set_plan(p)   switch plans between steps; moments of tensors that
 *                   stay trainable are kept (st_trainer_set_plan); every
 *                   plan keeps the trainer's checkpointing setting
 *   t:bytes()       memory held for activations, gradients and moments
 *
 * Batches come from st_batcher seeded with `seed`, as in `strata run`: the
 * same recipe settings give the same batch sequence. Stepping a different
 * dataset starts its order from the beginning. The trainer updates m's
 * weights in place (m:eval sees them) and keeps m and the dataset alive.
 * A plan is a table as policies return (plan_lua.c) or a st_plan_parse
 * string ("all", "top:2", "3,4"); a `layers` entry "lora" takes rank 8,
 * alpha 16 on q and v (the schema's lora defaults). Errors (an invalid plan, a non-finite loss) raise;
 * a failed step leaves the weights as they were. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train.h"
#include "workbench_lua.h"

#define TRAINER_MT "strata.trainer"

typedef struct trainer_ud {
  st_trainer *t;
  st_model *m;
  st_optim o;
  int B, T;
  int K;         /* micro-batches per step */
  int recompute; /* activation checkpointing, for every plan */
  uint64_t seed;
  st_batcher bat; /* bat.ds: the dataset stepped last (uservalue 2) */
  int32_t *tok, *tgt; /* [K*B,T] */
  int have_loss;
  float loss, grad_norm;
} trainer_ud;

static trainer_ud *check(lua_State *L, int i) {
  trainer_ud *u = luaL_checkudata(L, i, TRAINER_MT);
  if (!u->t) luaL_error(L, "trainer is closed");
  return u;
}

static int t_gc(lua_State *L) {
  trainer_ud *u = luaL_checkudata(L, 1, TRAINER_MT);
  st_trainer_free(u->t);
  st_batcher_free(&u->bat);
  free(u->tok);
  free(u->tgt);
  memset(u, 0, sizeof *u);
  return 0;
}

/* the plan table at idx -> *p (seeded like strata run's), or raises */
static void to_plan(lua_State *L, trainer_ud *u, int idx, const char *who,
                    st_plan *p) {
  st_lora_spec ld; /* LoRA layers that give no settings: the schema's */
  if (sl_lora_defaults(L, 0, u->m, &ld)) sl_errorf(L, "%s: %s", who, st_errmsg());
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (st_plan_parse(p, u->m, lua_tostring(L, idx)))
      sl_errorf(L, "%s: %s", who, st_errmsg());
  } else if (!lua_istable(L, idx)) {
    sl_errorf(L, "%s: expected a plan table or \"all\" | \"top:K\" | "
                     "\"3,4\", not %s", who, luaL_typename(L, idx));
  } else if (sl_to_plan(L, idx, u->m, &ld, who, p)) {
    sl_errorf(L, "%s", st_errmsg());
  }
  p->seed = u->seed;
  p->recompute = u->recompute;
}

/* opts[k], else the recipe default of train.<k> (the schema's), else d */
static double opt_num(lua_State *L, int t, const char *k, double d) {
  if (lua_isnil(L, t) || lua_getfield(L, t, k) == LUA_TNIL) {
    char key[64];
    if (!lua_isnil(L, t)) lua_pop(L, 1);
    snprintf(key, sizeof key, "train.%s", k);
    sl_schema_push_default(L, key);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      return d;
    }
  }
  double v = luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}

/* opts[k] as a boolean, else the recipe default of train.<k>, else false */
static int opt_bool(lua_State *L, int t, const char *k) {
  if (lua_isnil(L, t) || lua_getfield(L, t, k) == LUA_TNIL) {
    char key[64];
    if (!lua_isnil(L, t)) lua_pop(L, 1);
    snprintf(key, sizeof key, "train.%s", k);
    sl_schema_push_default(L, key);
  }
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
    return sl_errorf(L, "strata.trainer: %s: expected true or false, not %s", k,
                     luaL_typename(L, -1));
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int t_step(lua_State *L) {
  trainer_ud *u = check(L, 1);
  st_dataset *ds = sl_check_dataset(L, 2);
  int step = st_trainer_steps_done(u->t) + 1;
  if (ds->T != u->T)
    return sl_errorf(L, "step %d: the dataset has %d positions per "
                            "example but the trainer's seq_len is %d", step,
                         ds->T, u->T);
  if (u->bat.ds != ds) {
    st_batcher_free(&u->bat);
    if (st_batcher_init(&u->bat, ds, u->B, u->seed, 1))
      return sl_errorf(L, "step %d: %s", step, st_errmsg());
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, 2);
  }
  size_t N = (size_t)u->B * u->T;
  for (int k = 0; k < u->K; k++)
    st_batcher_next(&u->bat, u->tok + k * N, u->tgt + k * N, NULL);
  float loss = 0, gn = 0;
  if (st_trainer_step_k(u->t, u->tok, u->tgt, u->K, &u->o, &loss, &gn))
    return sl_errorf(L, "%s", st_errmsg());
  u->loss = loss;
  u->grad_norm = gn;
  u->have_loss = 1;
  lua_pushnumber(L, loss);
  lua_pushnumber(L, gn);
  return 2;
}

static int t_loss(lua_State *L) {
  trainer_ud *u = check(L, 1);
  if (u->have_loss) lua_pushnumber(L, u->loss);
  else lua_pushnil(L);
  return 1;
}

static int t_grad_norm(lua_State *L) {
  trainer_ud *u = check(L, 1);
  if (u->have_loss) lua_pushnumber(L, u->grad_norm);
  else lua_pushnil(L);
  return 1;
}

static int t_steps(lua_State *L) {
  lua_pushinteger(L, st_trainer_steps_done(check(L, 1)->t));
  return 1;
}

static int t_lr(lua_State *L) {
  lua_pushnumber(L, check(L, 1)->o.lr);
  return 1;
}

static int t_set_lr(lua_State *L) {
  trainer_ud *u = check(L, 1);
  double lr = luaL_checknumber(L, 2);
  if (!(lr >= 0 && isfinite(lr)))
    return sl_errorf(L, "set_lr(%g): expected a finite number >= 0", lr);
  u->o.lr = (float)lr;
  return 0;
}

static int t_plan(lua_State *L) {
  trainer_ud *u = check(L, 1);
  const st_plan *p = st_trainer_plan(u->t);
  sl_push_plan(L, p, u->m);
  lua_pushnumber(L, st_plan_flops(p, u->m, u->T).ideal_ratio);
  lua_setfield(L, -2, "ideal_ratio");
  return 1;
}

static int t_set_plan(lua_State *L) {
  trainer_ud *u = check(L, 1);
  char who[64];
  snprintf(who, sizeof who, "set_plan after step %d", st_trainer_steps_done(u->t));
  st_plan p;
  to_plan(L, u, 2, who, &p);
  int rc = st_trainer_set_plan(u->t, &p);
  st_plan_free(&p);
  if (rc) return sl_errorf(L, "%s: %s", who, st_errmsg());
  return 0;
}

static int t_bytes(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)st_trainer_bytes(check(L, 1)->t));
  return 1;
}

static const luaL_Reg methods[] = {
    {"step", t_step},   {"loss", t_loss}, {"grad_norm", t_grad_norm},
    {"steps", t_steps}, {"lr", t_lr},     {"set_lr", t_set_lr},
    {"plan", t_plan},   {"set_plan", t_set_plan}, {"bytes", t_bytes},
    {NULL, NULL}};

/* strata.trainer(model, plan [, opts]) */
static int l_trainer(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  lua_settop(L, 3);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  double B = opt_num(L, 3, "batch_size", 0);
  double T = opt_num(L, 3, "seq_len", sl_default_seq_len(m));
  double seed = opt_num(L, 3, "seed", 0);
  double K = opt_num(L, 3, "accumulate", 1);
  int recompute = opt_bool(L, 3, "checkpointing");
  int fused = opt_bool(L, 3, "fused_update");
  if (B < 1 || B > 65536 || B != floor(B))
    return sl_errorf(L, "strata.trainer: batch_size %g: expected an "
                            "integer >= 1", B);
  if (K < 1 || K > 65536 || K != floor(K) || B * K > 1 << 24)
    return sl_errorf(L, "strata.trainer: accumulate %g: expected an integer "
                            "1..%d (batches of %g rows)", K, (1 << 24) / (int)B, B);
  if (T < 2 || T > m->cfg.max_seq || T != floor(T))
    return sl_errorf(L, "strata.trainer: seq_len %g: expected an integer "
                            "2..%d (the model's context)", T, m->cfg.max_seq);
  st_optim o;
  o.lr = (float)opt_num(L, 3, "lr", 0);
  o.weight_decay = (float)opt_num(L, 3, "weight_decay", 0);
  o.grad_clip = (float)opt_num(L, 3, "grad_clip", 0);
  o.beta1 = (float)opt_num(L, 3, "beta1", 0);
  o.beta2 = (float)opt_num(L, 3, "beta2", 0);
  o.eps = (float)opt_num(L, 3, "eps", 0);
  if (!(o.lr >= 0 && isfinite(o.lr)))
    return sl_errorf(L, "strata.trainer: lr %g: expected a finite "
                            "number >= 0", o.lr);
  if (fused && (o.grad_clip > 0 || K > 1))
    return sl_errorf(L, "strata.trainer: fused_update needs grad_clip = 0 and "
                        "accumulate = 1 (got %g and %g): each block is updated "
                        "before the next one's gradients exist", o.grad_clip, K);

  trainer_ud *u = lua_newuserdatauv(L, sizeof *u, 2);
  memset(u, 0, sizeof *u);
  if (luaL_newmetatable(L, TRAINER_MT)) {
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, TRAINER_MT);
    lua_setfield(L, -2, "__name");
    luaL_setfuncs(L, methods, 0);
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the model outlives the trainer */
  u->m = m;
  u->o = o;
  u->B = (int)B;
  u->T = (int)T;
  u->K = (int)K;
  u->recompute = recompute;
  u->seed = (uint64_t)seed;
  size_t N = (size_t)u->K * u->B * u->T;
  if (!(u->tok = st_malloc(N * sizeof *u->tok)) ||
      !(u->tgt = st_malloc(N * sizeof *u->tgt)))
    return sl_errorf(L, "%s", st_errmsg());
  st_plan p;
  to_plan(L, u, 2, "strata.trainer plan", &p);
  int rc = st_trainer_new_fused(&u->t, m, &p, u->B, u->T, fused);
  st_plan_free(&p);
  if (rc) return sl_errorf(L, "strata.trainer: %s", st_errmsg());
  return 1;
}

const luaL_Reg sl_trainer_funcs[] = {
    {"trainer", l_trainer},
    {NULL, NULL},
};
