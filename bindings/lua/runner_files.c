/* runner_files.c - what a run writes besides checkpoints: the resolved recipe
 * as YAML, JSON files, the plan as JSON, and the printed plan table. */
#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "runner.h"
#include "strata_lua.h"

/* --- YAML ---------------------------------------------------------------- */

static void yaml_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c == '\t') fputs("\\t", f);
    else if (c < 0x20) fprintf(f, "\\x%02x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* shortest %g that reads back as the same double, always with a '.' or 'e'
 * so it stays a float */
static void yaml_float(FILE *f, double v) {
  if (isnan(v)) { fputs(".nan", f); return; }
  if (isinf(v)) { fputs(v > 0 ? ".inf" : "-.inf", f); return; }
  char b[40];
  for (int p = 6; p <= 17; p++) {
    snprintf(b, sizeof b, "%.*g", p, v);
    if (strtod(b, NULL) == v) break;
  }
  if (!strpbrk(b, ".eEn")) strcat(b, ".0");
  fputs(b, f);
}

static void yaml_scalar(lua_State *L, int v, FILE *f) {
  switch (lua_type(L, v)) {
  case LUA_TBOOLEAN: fputs(lua_toboolean(L, v) ? "true" : "false", f); break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, v)) fprintf(f, "%lld", (long long)lua_tointeger(L, v));
    else yaml_float(f, lua_tonumber(L, v));
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, v, &n);
    yaml_string(f, s, n);
    break;
  }
  default: fputs("~", f);
  }
}

static int plain_key(const char *s) {
  if (!*s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
  return 1;
}

static int key_less(lua_State *L, int a, int b) {
  int ia = lua_isinteger(L, a), ib = lua_isinteger(L, b);
  if (ia && ib) return lua_tointeger(L, a) < lua_tointeger(L, b);
  if (ia != ib) return ia; /* integers first */
  return strcmp(lua_tostring(L, a), lua_tostring(L, b)) < 0;
}

static void yaml_value(lua_State *L, int v, FILE *f, int indent, int top);

/* keys of the map at t, sorted, in a new list on the stack */
static void sorted_keys(lua_State *L, int t) {
  lua_newtable(L);
  int keys = lua_gettop(L), n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING || lua_isinteger(L, -1)) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, keys, ++n);
    }
  }
  /* insertion sort: recipes are small */
  for (int i = 2; i <= n; i++)
    for (int j = i; j > 1; j--) {
      lua_rawgeti(L, keys, j);
      lua_rawgeti(L, keys, j - 1);
      int less = key_less(L, -2, -1);
      if (!less) {
        lua_pop(L, 2);
        break;
      }
      lua_rawseti(L, keys, j);
      lua_rawseti(L, keys, j - 1);
    }
}

static void yaml_map(lua_State *L, int t, FILE *f, int indent, int top) {
  sorted_keys(L, t);
  int keys = lua_gettop(L);
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, keys); i++) {
    lua_rawgeti(L, keys, i);
    int k = lua_gettop(L);
    const char *ks = lua_isinteger(L, k) ? NULL : lua_tostring(L, k);
    /* anchors and the already merged includes are not part of the result */
    if (top && ks && (ks[0] == '_' || !strcmp(ks, "include") || !strcmp(ks, "extends"))) {
      lua_pop(L, 1);
      continue;
    }
    fprintf(f, "%*s", indent, "");
    if (!ks) fprintf(f, "%lld", (long long)lua_tointeger(L, k));
    else if (plain_key(ks) && strcmp(ks, "true") && strcmp(ks, "false") &&
             strcmp(ks, "null"))
      fputs(ks, f);
    else yaml_string(f, ks, strlen(ks));
    fputc(':', f);
    lua_pushvalue(L, k);
    lua_rawget(L, t);
    yaml_value(L, lua_gettop(L), f, indent, 0);
    lua_settop(L, keys);
  }
  lua_pop(L, 1);
}

static void yaml_value(lua_State *L, int v, FILE *f, int indent, int top) {
  luaL_checkstack(L, 8, "writing YAML");
  if (!lua_istable(L, v)) {
    fputc(' ', f);
    yaml_scalar(L, v, f);
    fputc('\n', f);
    return;
  }
  int kind = sl_table_kind(L, v);
  if (kind == SL_KIND_EMPTY) {
    fputs(" {}\n", f);
  } else if (kind == SL_KIND_LIST) {
    fputc('\n', f);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, v); i++) {
      fprintf(f, "%*s-", indent + 2, "");
      lua_rawgeti(L, v, i);
      if (lua_istable(L, -1) && sl_table_kind(L, -1) == SL_KIND_MAP) {
        fputc('\n', f);
        yaml_map(L, lua_gettop(L), f, indent + 4, 0);
      } else {
        yaml_value(L, lua_gettop(L), f, indent + 2, 0);
      }
      lua_pop(L, 1);
    }
  } else {
    if (!top) fputc('\n', f);
    yaml_map(L, v, f, top ? 0 : indent + 2, top);
  }
}

int sl_write_yaml(lua_State *L, int idx, const char *path) {
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  if (!f) return ST_ERR;
  fputs("# the recipe as this run used it: includes merged, --set applied,\n"
        "# defaults filled in. `strata run --resume` reads it back.\n", f);
  yaml_value(L, lua_absindex(L, idx), f, 0, 1);
  return st_atomic_commit(&a);
}

/* --- JSON ---------------------------------------------------------------- */

int sl_write_json(json_t *j, const char *path) {
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  if (!f) return ST_ERR;
  if (json_dumpf(j, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17))) {
    st_atomic_abort(&a);
    return st_err("%s: cannot write", path);
  }
  return st_atomic_commit(&a);
}

static json_t *modules_json(const st_model *m, st_modmask mask) {
  const char **names;
  int nm = st_plan_modules(m, &names);
  json_t *a = json_array();
  for (int i = 0; i < nm; i++)
    if (mask >> i & 1u) json_array_append_new(a, json_string(names[i]));
  return a;
}

json_t *sl_plan_json(const st_plan *p, const st_model *m) {
  json_t *o = json_object(), *layers = json_array();
  const char **names;
  int nm = st_plan_modules(m, &names);
  st_modmask all = (1u << nm) - 1;
  for (int l = 0; l < p->n_layers; l++) {
    json_t *e = json_pack("{s:i,s:s}", "layer", l, "mode",
                          p->mode[l] == ST_FROZEN ? "frozen"
                          : p->mode[l] == ST_FULL ? "full" : "lora");
    if (p->mode[l] == ST_FULL && (p->modules[l] & all) != all)
      json_object_set_new(e, "modules", modules_json(m, p->modules[l]));
    if (p->mode[l] == ST_LORA) {
      json_object_set_new(e, "rank", json_integer(p->lora[l].rank));
      json_object_set_new(e, "alpha", json_real(p->lora[l].alpha));
      json_object_set_new(e, "modules", modules_json(m, p->lora[l].modules));
      json_object_set_new(e, "dropout", json_real(p->lora[l].dropout));
      json_object_set_new(e, "rslora", json_boolean(p->lora[l].rslora));
    }
    json_array_append_new(layers, e);
  }
  json_object_set_new(o, "layers", layers);
  json_object_set_new(o, "embed", json_boolean(p->embed));
  json_object_set_new(o, "final_norm", json_boolean(p->final_norm));
  json_object_set_new(o, "head", json_boolean(p->head));
  json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
  return o;
}

int sl_plan_from_json(json_t *j, const st_model *m, st_plan *p) {
  json_t *layers = json_object_get(j, "layers"), *e;
  size_t i;
  if (!json_is_array(layers) || (int)json_array_size(layers) != m->cfg.n_layers)
    return st_err("checkpoint plan: expected %d layers", m->cfg.n_layers);
  if (st_plan_new(p, m->cfg.n_layers)) return ST_ERR;
  json_array_foreach(layers, i, e) {
    const char *mode = json_string_value(json_object_get(e, "mode"));
    json_t *mods = json_object_get(e, "modules"), *s;
    st_modmask mask = 0;
    size_t k;
    json_array_foreach(mods, k, s) {
      int x = st_module_index(m, json_string_value(s) ? json_string_value(s) : "");
      if (x < 0) {
        st_plan_free(p);
        return st_err("checkpoint plan: layer %zu: unknown module", i);
      }
      mask |= 1u << x;
    }
    if (mode && !strcmp(mode, "full")) {
      p->mode[i] = ST_FULL;
      if (mods) p->modules[i] = mask;
    } else if (mode && !strcmp(mode, "lora")) {
      p->mode[i] = ST_LORA;
      p->lora[i].rank = (int)json_integer_value(json_object_get(e, "rank"));
      p->lora[i].alpha = (float)json_number_value(json_object_get(e, "alpha"));
      p->lora[i].modules = mask;
      p->lora[i].dropout = (float)json_number_value(json_object_get(e, "dropout"));
      p->lora[i].rslora = json_is_true(json_object_get(e, "rslora"));
    }
  }
  p->embed = json_is_true(json_object_get(j, "embed"));
  p->final_norm = json_is_true(json_object_get(j, "final_norm"));
  p->head = json_is_true(json_object_get(j, "head"));
  p->seed = (uint64_t)json_integer_value(json_object_get(j, "seed"));
  if (st_plan_validate(p, m)) {
    st_plan_free(p);
    return st_err_prefix("checkpoint plan: ");
  }
  return ST_OK;
}

/* --- the plan table ------------------------------------------------------ */

void sl_plan_summary(const st_plan *p, char *out, size_t n) {
  size_t o = 0;
  out[0] = 0;
  int L = p->n_layers, first = 1;
#define PUT(...) (o += (size_t)snprintf(out + o, o < n ? n - o : 0, __VA_ARGS__))
  for (int l = 0; l < L; l++) {
    if (p->mode[l] == ST_FROZEN) continue;
    int r = l;
    while (r + 1 < L && p->mode[r + 1] == p->mode[l]) r++;
    const char *lora = p->mode[l] == ST_LORA ? " (lora)" : "";
    if (r > l) PUT("%s%d-%d%s", first ? "layers " : ",", l, r, lora);
    else PUT("%s%d%s", first ? "layers " : ",", l, lora);
    first = 0;
    l = r;
  }
  if (first) PUT("no layers");
  if (p->embed) PUT(" + embed");
  if (p->final_norm) PUT(" + final_norm");
  if (p->head) PUT(" + head");
#undef PUT
}

void sl_print_plan(const st_plan *p, const st_model *m, const st_trace *tr,
                    const char *measure, lua_State *L, int gains, int T) {
  const st_config *c = &m->cfg;
  st_flops f = st_plan_flops(p, m, T);
  int mi = st_measure_index(measure ? measure : "delta_norm");
  if (mi < 0) mi = ST_M_DELTA_NORM;
  printf("%5s %10s %12s %10s  %-8s %9s\n", "layer", "params",
         st_measure_names[mi], gains ? "gain" : "", "mode", "backprop");
  for (int l = 0; l < c->n_layers; l++) {
    double share = st_plan_layer_bwd(p, m, T, l, NULL);
    printf("%5d %10zu", l, st_layer_params(m, l));
    if (tr) printf(" %12.4f", st_trace_get(tr, l + 1, mi).mean);
    else printf(" %12s", "-");
    if (gains) {
      lua_rawgeti(L, gains, l);
      if (lua_isnumber(L, -1)) printf(" %10.4f", lua_tonumber(L, -1));
      else printf(" %10s", "-");
      lua_pop(L, 1);
    } else {
      printf(" %10s", "");
    }
    printf("  %-8s %8.1f%%\n",
           p->mode[l] == ST_FROZEN ? "frozen" : p->mode[l] == ST_FULL ? "full" : "lora",
           100.0 * share / f.full_bwd);
  }
  double layers_bwd = 0;
  for (int l = 0; l < c->n_layers; l++) layers_bwd += st_plan_layer_bwd(p, m, T, l, NULL);
  printf("  head (its gradients into the stack and its weights): %.1f%%\n",
         100.0 * (f.bwd - layers_bwd) / f.full_bwd);
  printf("  embed %s, final_norm %s, head %s%s\n", p->embed ? "trains" : "frozen",
         p->final_norm ? "trains" : "frozen",
         p->head || (c->tied && p->embed) ? "trains" : "frozen",
         c->tied ? " (tied to embed)" : "");
  if (p->recompute)
    printf("checkpointing: the backward recomputes %.1f%% of a forward (%.1f%% of full "
           "fine-tuning's step), counted in the ratio below\n",
           100.0 * f.recompute_fwd / f.fwd,
           100.0 * f.recompute_fwd / (f.fwd + f.full_bwd));
  printf("backprop: %.1f%% of full fine-tuning's; whole step (forward + "
         "backward): %.1f%% (ideal ratio %.3f)\n",
         100.0 * f.bwd / f.full_bwd, 100.0 * f.ideal_ratio, f.ideal_ratio);
}

/* --- JSON to Lua --------------------------------------------------------- */

void sl_push_json(lua_State *L, json_t *j) {
  luaL_checkstack(L, 4, "sl_push_json: nesting too deep");
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *v;
    lua_createtable(L, 0, (int)json_object_size(j));
    json_object_foreach(j, k, v) {
      sl_push_json(L, v);
      lua_setfield(L, -2, k);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *v;
    lua_createtable(L, (int)json_array_size(j), 0);
    json_array_foreach(j, i, v) {
      sl_push_json(L, v);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  }
  case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); break;
  case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(j)); break;
  case JSON_REAL: lua_pushnumber(L, json_real_value(j)); break;
  case JSON_TRUE: lua_pushboolean(L, 1); break;
  case JSON_FALSE: lua_pushboolean(L, 0); break;
  default: lua_pushnil(L); break;
  }
}
