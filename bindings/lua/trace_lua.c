/* trace_lua.c - a transition trace as a Lua table, and the small vector
 * type that carries the sampled hidden states.
 *
 * trace[l] for spaces l = 0..L holds {mean=, std=} per measure
 * (delta_norm, delta_rel, cos_prev, lens_loss, basis_dev); entries l >= 1
 * also hold params, wgrad_flops and dgrad_flops (per token) of layer l-1,
 * which produces space l; `hidden` lists the kept vectors as tensors.
 * When the trace ran its gradient probe (trace.gradients), entries l >= 1
 * also hold grad_norm and grad_ratio of layer l-1 as {mean=} (one value
 * per layer, so no std), and trace.gradients = {loss=, tokens=,
 * fwd_flops=, bwd_flops=} says what the probe cost.
 *
 * A tensor is a float vector with :size() :norm() :dot(t) :cosine(t)
 * :mean() :sub(t) :totable() (1-based list); t[i] reads element i (1-based)
 * and #t is its size. Arithmetic is in double. */
#include <math.h>
#include <string.h>

#include "workbench_lua.h"

#define TENSOR_MT "strata.tensor"

typedef struct tensor {
  int n;
  float x[];
} tensor;

static tensor *check_tensor(lua_State *L, int i) {
  return luaL_checkudata(L, i, TENSOR_MT);
}

static tensor *check_same(lua_State *L, tensor *a, int i) {
  tensor *b = check_tensor(L, i);
  if (a->n != b->n)
    sl_errorf(L, "tensor sizes differ: %d and %d", a->n, b->n);
  return b;
}

static double dot(const tensor *a, const tensor *b) {
  double s = 0;
  for (int i = 0; i < a->n; i++) s += (double)a->x[i] * b->x[i];
  return s;
}

static int t_size(lua_State *L) {
  lua_pushinteger(L, check_tensor(L, 1)->n);
  return 1;
}

static int t_norm(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  lua_pushnumber(L, sqrt(dot(a, a)));
  return 1;
}

static int t_dot(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  lua_pushnumber(L, dot(a, check_same(L, a, 2)));
  return 1;
}

/* cos(a, b); 0 when either is the zero vector */
static int t_cosine(lua_State *L) {
  tensor *a = check_tensor(L, 1), *b = check_same(L, a, 2);
  double na = dot(a, a), nb = dot(b, b);
  lua_pushnumber(L, na > 0 && nb > 0 ? dot(a, b) / sqrt(na * nb) : 0.0);
  return 1;
}

static int t_mean(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  double s = 0;
  for (int i = 0; i < a->n; i++) s += a->x[i];
  lua_pushnumber(L, a->n ? s / a->n : 0.0);
  return 1;
}

static int t_sub(lua_State *L) {
  tensor *a = check_tensor(L, 1), *b = check_same(L, a, 2);
  float *o = sl_push_tensor(L, NULL, a->n);
  for (int i = 0; i < a->n; i++) o[i] = a->x[i] - b->x[i];
  return 1;
}

static int t_totable(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  lua_createtable(L, a->n, 0);
  for (int i = 0; i < a->n; i++) {
    lua_pushnumber(L, a->x[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int t_len(lua_State *L) { return t_size(L); }

static int t_tostring(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  lua_pushfstring(L, "tensor(%d)", a->n);
  return 1;
}

static const luaL_Reg tensor_methods[] = {
    {"size", t_size},   {"norm", t_norm}, {"dot", t_dot},
    {"cosine", t_cosine}, {"mean", t_mean}, {"sub", t_sub},
    {"totable", t_totable}, {NULL, NULL}};

/* t[i] (1-based) or a method */
static int t_index(lua_State *L) {
  tensor *a = check_tensor(L, 1);
  if (lua_isinteger(L, 2)) {
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || i > a->n) return 0;
    lua_pushnumber(L, a->x[i - 1]);
    return 1;
  }
  const char *k = luaL_checkstring(L, 2);
  for (const luaL_Reg *r = tensor_methods; r->name; r++)
    if (!strcmp(r->name, k)) {
      lua_pushcfunction(L, r->func);
      return 1;
    }
  return 0;
}

float *sl_push_tensor(lua_State *L, const float *x, int n) {
  tensor *t = lua_newuserdatauv(L, sizeof *t + (size_t)n * sizeof(float), 0);
  t->n = n;
  if (x) memcpy(t->x, x, (size_t)n * sizeof(float));
  else memset(t->x, 0, (size_t)n * sizeof(float));
  if (luaL_newmetatable(L, TENSOR_MT)) {
    lua_pushcfunction(L, t_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, t_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, t_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
  return t->x;
}

/* strata.tensor{1, 2, 3} -> tensor (for tests and scripts) */
static int l_tensor(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)lua_rawlen(L, 1);
  float *x = sl_push_tensor(L, NULL, n);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    x[i] = (float)luaL_checknumber(L, -1);
    lua_pop(L, 1);
  }
  return 1;
}

void sl_push_trace(lua_State *L, const st_trace *tr) {
  int Ls = tr->n_layers;
  luaL_checkstack(L, 8, "trace table");
  lua_createtable(L, Ls, 7);
  lua_pushinteger(L, Ls);
  lua_setfield(L, -2, "n_layers");
  lua_pushinteger(L, tr->n_tokens);
  lua_setfield(L, -2, "n_tokens");
  lua_pushinteger(L, tr->n_seqs);
  lua_setfield(L, -2, "n_seqs");
  lua_pushinteger(L, tr->seq_len);
  lua_setfield(L, -2, "seq_len");
  if (tr->grad_norm) {
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, tr->grad_loss);
    lua_setfield(L, -2, "loss");
    lua_pushinteger(L, tr->grad_tokens);
    lua_setfield(L, -2, "tokens");
    lua_pushnumber(L, tr->grad_fwd_flops);
    lua_setfield(L, -2, "fwd_flops");
    lua_pushnumber(L, tr->grad_bwd_flops);
    lua_setfield(L, -2, "bwd_flops");
    lua_setfield(L, -2, "gradients");
  }
  for (int l = 0; l <= Ls; l++) {
    lua_createtable(L, 0, ST_NMEASURES + 4);
    for (int k = 0; k < ST_NMEASURES; k++) {
      st_stat s = st_trace_get(tr, l, k);
      lua_createtable(L, 0, 2);
      lua_pushnumber(L, s.mean);
      lua_setfield(L, -2, "mean");
      lua_pushnumber(L, s.std);
      lua_setfield(L, -2, "std");
      lua_setfield(L, -2, st_measure_names[k]);
    }
    if (l > 0) {
      lua_pushinteger(L, (lua_Integer)tr->params[l - 1]);
      lua_setfield(L, -2, "params");
      lua_pushnumber(L, tr->wgrad_flops[l - 1]);
      lua_setfield(L, -2, "wgrad_flops");
      lua_pushnumber(L, tr->dgrad_flops[l - 1]);
      lua_setfield(L, -2, "dgrad_flops");
      if (tr->grad_norm) {
        const double v[2] = {tr->grad_norm[l - 1], tr->grad_ratio[l - 1]};
        const char *name[2] = {"grad_norm", "grad_ratio"};
        for (int k = 0; k < 2; k++) {
          lua_createtable(L, 0, 1);
          lua_pushnumber(L, v[k]);
          lua_setfield(L, -2, "mean");
          lua_setfield(L, -2, name[k]);
        }
      }
    }
    lua_createtable(L, tr->keep, 0);
    for (int i = 0; i < tr->keep; i++) {
      sl_push_tensor(L, tr->kept + ((size_t)l * tr->keep + i) * tr->dim,
                         tr->dim);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "hidden");
    lua_rawseti(L, -2, l);
  }
}

const luaL_Reg sl_trace_funcs[] = {
    {"tensor", l_tensor},
    {NULL, NULL},
};
