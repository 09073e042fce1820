/* plan_lua.c - the plan table policies return <-> st_plan.
 *
 *   { layers = { [0] = "frozen" | "full" | {mode = "full", modules = {..}}
 *                      | {mode = "lora", rank = 8, alpha = 16,
 *                         modules = {"q", "v"}, dropout = 0,
 *                         rslora = false}, ... }   -- keyed by layer
 *     -- or layers = {3, 4}: a list of layer indices to train fully
 *     embed = false, final_norm = false, head = false,
 *     modules = {"q", "v"},     -- optional: restricts every full layer
 *     gains = {[l] = g}, measure = "basis_dev", note = "..." }  -- shown only
 *
 * Layers not named are frozen. Errors name the source and what is wrong:
 * "policy scripts/policies/x.lua returned layer 7 but the model has 5
 * layers (0..4)". */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "workbench_lua.h"

static const char *const info_keys[] = {"gains", "measure", "note", "scores",
                                        "cost", NULL};

static int module_mask(lua_State *L, int t, const st_model *m, const char *who,
                       const char *where, st_modmask *out) {
  const char **names;
  int nm = st_plan_modules(m, &names);
  if (!lua_istable(L, t))
    return st_err("%s: %s: modules must be a list of names", who, where);
  *out = 0;
  int n = (int)lua_rawlen(L, t);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, t, i);
    const char *s = lua_tostring(L, -1);
    int k = s ? st_module_index(m, s) : -1;
    lua_pop(L, 1);
    if (k < 0) {
      char all[256] = "";
      for (int j = 0; j < nm; j++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s",
                 j ? " " : "", names[j]);
      return st_err("%s: %s: unknown module '%s' (this architecture has: %s)",
                    who, where, s ? s : "?", all);
    }
    *out |= 1u << k;
  }
  if (!*out) return st_err("%s: %s: modules is empty", who, where);
  return ST_OK;
}

int sl_lora_defaults(lua_State *L, int lora, const st_model *m,
                     st_lora_spec *s) {
  static const char *const keys[] = {"rank", "alpha", "dropout", "rslora"};
  lora = lora && lua_istable(L, lora) ? lua_absindex(L, lora) : 0;
  memset(s, 0, sizeof *s);
  for (int i = 0; i < 4; i++) {
    if (!lora || lua_getfield(L, lora, keys[i]) == LUA_TNIL) {
      char k[32];
      if (lora) lua_pop(L, 1);
      snprintf(k, sizeof k, "lora.%s", keys[i]);
      sl_schema_push_default(L, k);
    }
  }
  s->rank = (int)lua_tointeger(L, -4);
  s->alpha = (float)lua_tonumber(L, -3);
  s->dropout = (float)lua_tonumber(L, -2);
  s->rslora = lua_toboolean(L, -1);
  lua_pop(L, 4);
  if (!lora || lua_getfield(L, lora, "modules") != LUA_TTABLE) {
    if (lora) lua_pop(L, 1);
    /* the computed default (schema: lora.modules): attention query and
     * value, which GPT-2 computes in one matrix */
    for (const char *const *q = (const char *const[]){"q", "v", "c_attn", NULL}; *q; q++)
      if (st_module_index(m, *q) >= 0) s->modules |= 1u << st_module_index(m, *q);
    return ST_OK;
  }
  for (int i = 1; i <= (int)lua_rawlen(L, -1); i++) {
    lua_rawgeti(L, -1, i);
    char name[64];
    snprintf(name, sizeof name, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    int k = st_module_index(m, name);
    size_t n = strlen(name); /* HF names: q_proj -> q */
    if (k < 0 && n > 5 && !strcmp(name + n - 5, "_proj")) {
      name[n - 5] = 0;
      k = st_module_index(m, name);
    }
    if (k < 0) {
      lua_pop(L, 1);
      return st_err("lora.modules[%d]: not a module of this model (see strata "
                    "info)", i);
    }
    s->modules |= 1u << k;
  }
  lua_pop(L, 1);
  return ST_OK;
}

static int layer_index(lua_State *L, int k, const st_model *m, const char *who,
                       int *out) {
  int L_ = m->cfg.n_layers;
  if (!lua_isinteger(L, k)) {
    if (lua_type(L, k) == LUA_TNUMBER || lua_type(L, k) == LUA_TSTRING)
      return st_err("%s returned layer '%s': layers are integers 0..%d", who,
                    lua_tostring(L, k), L_ - 1);
    return st_err("%s returned a layer key of type %s", who, luaL_typename(L, k));
  }
  lua_Integer l = lua_tointeger(L, k);
  if (l < 0 || l >= L_)
    return st_err("%s returned layer %lld but the model has %d layers (0..%d)",
                  who, (long long)l, L_, L_ - 1);
  *out = (int)l;
  return ST_OK;
}

/* one layer's mode at stack index v */
static int layer_mode(lua_State *L, int v, int l, const st_model *m,
                      const st_lora_spec *ld, const char *who, st_plan *p) {
  char where[32];
  snprintf(where, sizeof where, "layer %d", l);
  if (lua_type(L, v) == LUA_TSTRING) {
    const char *s = lua_tostring(L, v);
    if (!strcmp(s, "frozen")) p->mode[l] = ST_FROZEN;
    else if (!strcmp(s, "full")) p->mode[l] = ST_FULL;
    else if (!strcmp(s, "lora")) {
      p->mode[l] = ST_LORA;
      if (ld) p->lora[l] = *ld;
    } else
      return st_err("%s: layer %d is \"%s\": expected \"frozen\", \"full\", "
                    "\"lora\" or {mode = ...}", who, l, s);
    return ST_OK;
  }
  if (!lua_istable(L, v))
    return st_err("%s: layer %d is a %s: expected \"frozen\", \"full\" or "
                  "{mode = ...}", who, l, luaL_typename(L, v));
  lua_getfield(L, v, "mode");
  const char *mode = lua_tostring(L, -1);
  lua_pop(L, 1);
  if (!mode || (strcmp(mode, "full") && strcmp(mode, "lora") &&
                strcmp(mode, "frozen")))
    return st_err("%s: layer %d: mode must be \"frozen\", \"full\" or "
                  "\"lora\"", who, l);
  int rc = ST_OK;
  if (!strcmp(mode, "frozen")) {
    p->mode[l] = ST_FROZEN;
  } else if (!strcmp(mode, "full")) {
    p->mode[l] = ST_FULL;
    if (lua_getfield(L, v, "modules") != LUA_TNIL)
      rc = module_mask(L, lua_gettop(L), m, who, where, &p->modules[l]);
    lua_pop(L, 1);
  } else {
    p->mode[l] = ST_LORA;
    st_lora_spec s;
    if (ld) s = *ld;
    else if (sl_lora_defaults(L, 0, m, &s)) return ST_ERR;
    if (lua_getfield(L, v, "rank") != LUA_TNIL) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
        rc = st_err("%s: layer %d: LoRA rank must be an integer >= 1", who, l);
      s.rank = (int)lua_tointeger(L, -1);
    }
    if (lua_getfield(L, v, "alpha") != LUA_TNIL) {
      if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) <= 0)
        rc = st_err("%s: layer %d: LoRA alpha must be a number > 0", who, l);
      s.alpha = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 2);
    if (lua_getfield(L, v, "dropout") != LUA_TNIL) {
      double d = lua_tonumber(L, -1);
      if (!lua_isnumber(L, -1) || d < 0 || d >= 1)
        rc = st_err("%s: layer %d: LoRA dropout must be in [0, 1)", who, l);
      s.dropout = (float)d;
    }
    if (lua_getfield(L, v, "rslora") != LUA_TNIL) s.rslora = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (rc) return rc;
    if (lua_getfield(L, v, "modules") != LUA_TNIL)
      rc = module_mask(L, lua_gettop(L), m, who, where, &s.modules);
    lua_pop(L, 1);
    p->lora[l] = s;
  }
  return rc;
}

static int flag(lua_State *L, int t, const char *key, const char *who, int *out) {
  int ty = lua_getfield(L, t, key);
  int rc = ST_OK;
  if (ty == LUA_TBOOLEAN) *out = lua_toboolean(L, -1);
  else if (ty != LUA_TNIL)
    rc = st_err("%s: %s must be true or false, got a %s", who, key,
                luaL_typename(L, -1));
  lua_pop(L, 1);
  return rc;
}

static int convert(lua_State *L, int t, const st_model *m,
                   const st_lora_spec *ld, const char *who, st_plan *p) {
  if (!lua_istable(L, t))
    return st_err("%s returned a %s instead of a plan table", who,
                  luaL_typename(L, t));
  /* unknown keys are mistakes (a typo would silently freeze everything) */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int ok = k && (!strcmp(k, "layers") || !strcmp(k, "embed") ||
                   !strcmp(k, "final_norm") || !strcmp(k, "head") ||
                   !strcmp(k, "modules"));
    for (const char *const *i = info_keys; k && !ok && *i; i++) ok = !strcmp(k, *i);
    if (!ok) {
      const char *ks = k ? k : luaL_typename(L, -1);
      lua_pop(L, 1);
      return st_err("%s: plan has unknown key '%s' (known: layers embed "
                    "final_norm head modules gains measure note)", who, ks);
    }
  }
  if (flag(L, t, "embed", who, &p->embed) || flag(L, t, "final_norm", who, &p->final_norm) ||
      flag(L, t, "head", who, &p->head))
    return ST_ERR;
  int top = lua_gettop(L);
  int ty = lua_getfield(L, t, "layers");
  int layers = lua_gettop(L);
  if (ty != LUA_TNIL && ty != LUA_TTABLE) {
    lua_settop(L, top);
    return st_err("%s: plan.layers must be a table, got a %s", who,
                  lua_typename(L, ty));
  }
  if (ty == LUA_TTABLE) {
    /* a list of indices when every value is an integer */
    int as_list = 1;
    lua_pushnil(L);
    while (lua_next(L, layers)) {
      if (!lua_isinteger(L, -1)) as_list = 0;
      lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, layers)) {
      int l;
      int k = lua_gettop(L) - 1, v = k + 1;
      if (layer_index(L, as_list ? v : k, m, who, &l) ||
          (as_list ? (p->mode[l] = ST_FULL, ST_OK)
                   : layer_mode(L, v, l, m, ld, who, p))) {
        lua_settop(L, top);
        return ST_ERR;
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  /* modules: a list for every full layer, or {[l] = list} */
  if (lua_getfield(L, t, "modules") == LUA_TTABLE) {
    int mt = lua_gettop(L);
    if (lua_rawlen(L, mt) > 0) {
      st_modmask mask;
      if (module_mask(L, mt, m, who, "modules", &mask)) {
        lua_settop(L, top);
        return ST_ERR;
      }
      for (int l = 0; l < p->n_layers; l++)
        if (p->mode[l] == ST_FULL && p->modules[l] == ST_ALL_MODULES)
          p->modules[l] = mask;
    } else {
      lua_pushnil(L);
      while (lua_next(L, mt)) {
        int l, k = lua_gettop(L) - 1;
        char where[32];
        if (layer_index(L, k, m, who, &l)) {
          lua_settop(L, top);
          return ST_ERR;
        }
        snprintf(where, sizeof where, "modules[%d]", l);
        if (module_mask(L, k + 1, m, who, where, &p->modules[l])) {
          lua_settop(L, top);
          return ST_ERR;
        }
        lua_pop(L, 1);
      }
    }
  } else if (!lua_isnil(L, -1)) {
    lua_settop(L, top);
    return st_err("%s: plan.modules must be a list of module names", who);
  }
  lua_settop(L, top);
  return ST_OK;
}

int sl_to_plan(lua_State *L, int idx, const st_model *m,
                   const st_lora_spec *lora_default, const char *who,
                   st_plan *out) {
  int t = lua_absindex(L, idx);
  if (st_plan_new(out, m->cfg.n_layers)) return ST_ERR;
  if (!lua_checkstack(L, 16) || convert(L, t, m, lora_default, who, out)) {
    st_plan_free(out);
    return ST_ERR;
  }
  if (st_plan_validate(out, m)) {
    st_err_prefix("%s: ", who);
    st_plan_free(out);
    return ST_ERR;
  }
  return ST_OK;
}

static void push_modules(lua_State *L, const st_model *m, st_modmask mask) {
  const char **names;
  int nm = st_plan_modules(m, &names), n = 0;
  lua_newtable(L);
  for (int i = 0; i < nm; i++)
    if (mask >> i & 1u) {
      lua_pushstring(L, names[i]);
      lua_rawseti(L, -2, ++n);
    }
}

void sl_push_plan(lua_State *L, const st_plan *p, const st_model *m) {
  luaL_checkstack(L, 8, "plan table");
  lua_createtable(L, 0, 4);
  lua_createtable(L, p->n_layers, 1);
  const char **names;
  int nm = st_plan_modules(m, &names);
  st_modmask all = nm >= 32 ? ST_ALL_MODULES : (1u << nm) - 1;
  for (int l = 0; l < p->n_layers; l++) {
    if (p->mode[l] == ST_FROZEN) {
      lua_pushliteral(L, "frozen");
    } else if (p->mode[l] == ST_FULL && (p->modules[l] & all) == all) {
      lua_pushliteral(L, "full");
    } else {
      const st_lora_spec *s = &p->lora[l];
      lua_createtable(L, 0, 4);
      lua_pushstring(L, p->mode[l] == ST_FULL ? "full" : "lora");
      lua_setfield(L, -2, "mode");
      if (p->mode[l] == ST_LORA) {
        lua_pushinteger(L, s->rank);
        lua_setfield(L, -2, "rank");
        lua_pushnumber(L, s->alpha);
        lua_setfield(L, -2, "alpha");
        lua_pushnumber(L, s->dropout);
        lua_setfield(L, -2, "dropout");
        lua_pushboolean(L, s->rslora);
        lua_setfield(L, -2, "rslora");
      }
      push_modules(L, m, p->mode[l] == ST_FULL ? p->modules[l] : s->modules);
      lua_setfield(L, -2, "modules");
    }
    lua_rawseti(L, -2, l);
  }
  lua_setfield(L, -2, "layers");
  lua_pushboolean(L, p->embed);
  lua_setfield(L, -2, "embed");
  lua_pushboolean(L, p->final_norm);
  lua_setfield(L, -2, "final_norm");
  lua_pushboolean(L, p->head);
  lua_setfield(L, -2, "head");
}

/* strata.check_plan(model, plan [, who [, T]]) -> the plan, normalized
 * (layers keyed 0..L-1) with ideal_ratio (FLOPs vs full fine-tuning at
 * context T), or raises the reason it is invalid */
static int l_check_plan(lua_State *L) {
  st_model *m = sl_check_model(L, 1);
  const char *who = luaL_optstring(L, 3, "plan");
  int T = (int)luaL_optinteger(L, 4, 128);
  st_plan p;
  if (sl_to_plan(L, 2, m, NULL, who, &p))
    return sl_errorf(L, "%s", st_errmsg());
  sl_push_plan(L, &p, m);
  st_flops f = st_plan_flops(&p, m, T);
  st_plan_free(&p);
  lua_pushnumber(L, f.ideal_ratio);
  lua_setfield(L, -2, "ideal_ratio");
  return 1;
}

const luaL_Reg sl_plan_funcs[] = {
    {"check_plan", l_check_plan},
    {NULL, NULL},
};
