/* sweep_file.c - sweep.yaml: the base recipe, seeds, metric, overrides,
 * variants with their grids and budget matching, the reference variant and
 * the per-layer mode; and the names of grid points and their run folders. */
#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strata_lua.h"
#include "sweep.h"

/* the shortest %g form that reads back as the same double: 3e-3 becomes
 * "0.003" in overrides, folder names and tables, not 0.0030000000000000001 */
static void shortest(double x, char *out, size_t n) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, x);
    if (strtod(out, NULL) == x) return;
  }
}

/* a Lua scalar or flow list as YAML text for --set */
static int yaml_text(lua_State *L, int idx, char *out, size_t n, const char *key) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) snprintf(out, n, "%lld", (long long)lua_tointeger(L, idx));
    else shortest(lua_tonumber(L, idx), out, n);
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

/* "key=value" in freshly allocated memory */
static char *override(const char *key, const char *val) {
  size_t len = strlen(key) + strlen(val) + 2;
  char *o = malloc(len);
  if (o) snprintf(o, len, "%s=%s", key, val);
  else st_err("out of memory");
  return o;
}

/* "set:" map of dotted keys (or a list of "k=v" strings) -> argv strings */
static int read_sets(lua_State *L, int idx, char **out, int *n, const char *where) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return st_err("%s: 'set' must be a map of key: value", where);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char val[1024], key[256];
    if (*n >= SW_MAXSET) { lua_pop(L, 2); return st_err("%s: too many overrides", where); }
    if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING) {
      if (!(out[*n] = strdup(lua_tostring(L, -1)))) { /* list form "k=v" */
        lua_pop(L, 2);
        return st_err("out of memory");
      }
      (*n)++;
    } else if (lua_type(L, -2) == LUA_TSTRING) {
      snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
      if (yaml_text(L, -1, val, sizeof val, key)) { lua_pop(L, 2); return st_err_prefix("%s: ", where); }
      if (!(out[*n] = override(key, val))) {
        lua_pop(L, 2);
        return ST_ERR;
      }
      (*n)++;
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
  if (len < 1 || len > SW_MAXSEED) return st_err("%s: 'seeds' needs 1..%d entries", where, SW_MAXSEED);
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

/* the value's form in a folder name: its text without quotes, anything but
 * letters, digits and . _ + - as '_' */
static void value_label(const char *text, char *out, size_t n) {
  size_t len = strlen(text), o = 0;
  if (len >= 2 && text[0] == '"' && text[len - 1] == '"') text++, len -= 2;
  for (size_t i = 0; i < len && o + 1 < n; i++) {
    unsigned char c = (unsigned char)text[i];
    out[o++] = isalnum(c) || c == '.' || c == '_' || c == '+' || c == '-' ? (char)c : '_';
  }
  out[o] = 0;
}

/* an axis from a key and the list of values at the top of the stack */
static int read_axis(lua_State *L, const char *key, sw_axis *a, const char *where) {
  if (!lua_istable(L, -1) || luaL_len(L, -1) < 1)
    return st_err("%s: '%s' needs a non-empty list of values", where, key);
  lua_Integer len = luaL_len(L, -1);
  if (len > SW_MAXVAL) return st_err("%s: '%s' has %lld values, at most %d", where, key, (long long)len, SW_MAXVAL);
  if (strlen(key) >= sizeof a->key) return st_err("%s: key '%.40s...' is too long", where, key);
  snprintf(a->key, sizeof a->key, "%s", key);
  const char *dot = strrchr(key, '.');
  snprintf(a->tag, sizeof a->tag, "%s", dot ? dot + 1 : key);
  for (lua_Integer i = 1; i <= len; i++) {
    char val[1024];
    lua_rawgeti(L, -1, i);
    int rc = yaml_text(L, -1, val, sizeof val, key);
    lua_pop(L, 1);
    if (rc) return st_err_prefix("%s: ", where);
    if (!(a->val[a->nval] = override(key, val))) return ST_ERR;
    value_label(val, a->label[a->nval], sizeof a->label[a->nval]);
    a->nval++; /* counted now: sw_free frees it */
    for (int j = 0; j + 1 < a->nval; j++)
      if (!strcmp(a->label[j], a->label[a->nval - 1]))
        return st_err("%s: '%s' lists %s twice (or two values that name the same folder)", where,
                      key, val);
  }
  return ST_OK;
}

static int by_key(const void *a, const void *b) {
  return strcmp(((const sw_axis *)a)->key, ((const sw_axis *)b)->key);
}

/* grid: {key: [values], ...} */
static int read_grid(lua_State *L, int t, sw_variant *v, const char *where) {
  lua_getfield(L, t, "grid");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return ST_OK;
  }
  if (!lua_istable(L, -1)) return st_err("%s: 'grid' must be a map of key: [values]", where);
  int g = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, g)) {
    if (lua_type(L, -2) != LUA_TSTRING) return st_err("%s: 'grid' keys must be dotted recipe keys", where);
    if (v->naxes == SW_MAXKEY) return st_err("%s: 'grid' has more than %d keys", where, SW_MAXKEY);
    if (read_axis(L, lua_tostring(L, -2), &v->axis[v->naxes++], where)) return ST_ERR;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (!v->naxes) return st_err("%s: 'grid' is empty", where);
  /* by key: a map's order is Lua's, which may differ between processes,
   * and the order names the folders */
  qsort(v->axis, (size_t)v->naxes, sizeof *v->axis, by_key);
  return ST_OK;
}

/* match_budget: NAME, param: KEY, values: [...] */
static int read_match(lua_State *L, int t, sw_variant *v, const char *where) {
  char param[256] = "";
  if (field_str(L, t, "match_budget", v->match, sizeof v->match, where) ||
      field_str(L, t, "param", param, sizeof param, where))
    return ST_ERR;
  lua_getfield(L, t, "values");
  int has_values = !lua_isnil(L, -1);
  if (!v->match[0]) {
    lua_pop(L, 1);
    if (param[0] || has_values) return st_err("%s: 'param' and 'values' go with 'match_budget'", where);
    return ST_OK;
  }
  if (!param[0] || !has_values)
    return st_err("%s: 'match_budget' needs 'param' (the recipe key to choose) and 'values'", where);
  if (read_axis(L, param, &v->param, where)) return ST_ERR;
  lua_pop(L, 1);
  return ST_OK;
}

/* compare: [{a: NAME, b: NAME, claim: TEXT}, ...]; the names are checked
 * once the variants are known (sw_check_names) */
static int read_compare(lua_State *L, int t, sweep *s, const char *path) {
  lua_getfield(L, t, "compare");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return ST_OK;
  }
  if (!lua_istable(L, -1)) return st_err("%s: 'compare' must be a list of {a, b, claim}", path);
  lua_Integer n = luaL_len(L, -1);
  if (n > SW_MAXCMP) return st_err("%s: 'compare' has more than %d pairs", path, SW_MAXCMP);
  for (lua_Integer i = 1; i <= n; i++) {
    char where[600];
    snprintf(where, sizeof where, "%s: compare[%lld]", path, (long long)i);
    lua_rawgeti(L, -1, i);
    int c = lua_gettop(L);
    if (!lua_istable(L, c)) return st_err("%s: must be a map {a, b, claim}", where);
    lua_pushnil(L);
    while (lua_next(L, c)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (strcmp(k, "a") && strcmp(k, "b") && strcmp(k, "claim"))
        return st_err("%s: unknown key '%s' (known: a, b, claim)", where, k);
      lua_pop(L, 1);
    }
    if (field_str(L, c, "a", s->cmp[s->ncmp].a, sizeof s->cmp[s->ncmp].a, where) ||
        field_str(L, c, "b", s->cmp[s->ncmp].b, sizeof s->cmp[s->ncmp].b, where) ||
        field_str(L, c, "claim", s->cmp[s->ncmp].claim, sizeof s->cmp[s->ncmp].claim, where))
      return ST_ERR;
    if (!s->cmp[s->ncmp].a[0] || !s->cmp[s->ncmp].b[0]) return st_err("%s: 'a' and 'b' are required", where);
    s->ncmp++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ST_OK;
}

int sw_check_names(const sweep *s) {
  const char *need[1 + 2 * SW_MAXCMP];
  int n = 0;
  if (s->reference[0]) need[n++] = s->reference;
  for (int i = 0; i < s->ncmp; i++) need[n++] = s->cmp[i].a, need[n++] = s->cmp[i].b;
  for (int k = 0; k < n; k++) {
    int found = 0;
    for (int i = 0; i < s->nv; i++) found |= !strcmp(s->v[i].name, need[k]);
    if (!found)
      return st_err("%s: %s '%s' names no variant", s->file,
                    k == 0 && s->reference[0] ? "reference" : "compare", need[k]);
  }
  return ST_OK;
}

int sw_higher_better(const char *metric) {
  return strcmp(metric, "loss") && strcmp(metric, "perplexity");
}

int sw_load(lua_State *L, const char *path, sweep *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->file, sizeof s->file, "%s", path);
  sl_yaml_load_file(L, path); /* raises on a syntax error: runs under pcall */
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) return st_err("%s: expected a map", path);
  static const char *known[] = {"recipe", "seeds", "metric", "out", "set", "variants",
                                "reference", "per_layer", "compare", NULL};
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
      return st_err("%s: unknown key '%s' (known: recipe, seeds, metric, out, set, variants, "
                    "reference, per_layer, compare)", where[0] ? where : path, key ? key : "?");
    }
    lua_pop(L, 1);
  }
  if (field_str(L, t, "recipe", s->recipe, sizeof s->recipe, path) ||
      field_str(L, t, "metric", s->metric, sizeof s->metric, path) ||
      field_str(L, t, "out", s->out, sizeof s->out, path) ||
      field_str(L, t, "reference", s->reference, sizeof s->reference, path))
    return ST_ERR;
  if (!s->recipe[0]) return st_err("%s: 'recipe' is required", path);
  if (!s->metric[0]) snprintf(s->metric, sizeof s->metric, "accuracy");
  static const char *metrics[] = {"accuracy", "loss", "perplexity", "macro_f1", "mcc", NULL};
  int known_metric = 0;
  for (int i = 0; metrics[i]; i++) known_metric |= !strcmp(s->metric, metrics[i]);
  if (!known_metric)
    return st_err("%s: metric must be accuracy, loss, perplexity, macro_f1 or mcc, not '%s'",
                  path, s->metric);
  lua_getfield(L, t, "per_layer");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) return st_err("%s: 'per_layer' must be true or false", path);
  s->per_layer = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (read_seeds(L, t, s->seeds, &s->nseeds, path) || read_compare(L, t, s, path)) return ST_ERR;
  if (!s->nseeds) s->seeds[s->nseeds++] = 1;
  lua_getfield(L, t, "set");
  if (!lua_isnil(L, -1) && read_sets(L, -1, s->base, &s->nbase, path)) return ST_ERR;
  lua_pop(L, 1);
  lua_getfield(L, t, "variants");
  if (lua_isnil(L, -1) && s->per_layer) lua_newtable(L), lua_replace(L, -2);
  if (!lua_istable(L, -1) || (luaL_len(L, -1) < 1 && !s->per_layer))
    return st_err("%s: 'variants' must be a non-empty list", path);
  lua_Integer nv = luaL_len(L, -1);
  if (nv > SW_MAXV) return st_err("%s: at most %d variants", path, SW_MAXV);
  for (lua_Integer i = 1; i <= nv; i++) {
    sw_variant *v = &s->v[s->nv++];
    v->layer = -1;
    char where[600];
    snprintf(where, sizeof where, "%s: variants[%lld]", path, (long long)i);
    lua_rawgeti(L, -1, i);
    if (!lua_istable(L, -1)) return st_err("%s: must be a map with name and set", where);
    int vt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, vt)) {
      static const char *vk[] = {"name", "set", "seeds", "grid", "match_budget", "param", "values", NULL};
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      int ok = 0;
      for (int j = 0; vk[j]; j++) ok |= !strcmp(k, vk[j]);
      if (!ok)
        return st_err("%s: unknown key '%s' (known: name, set, seeds, grid, match_budget, "
                      "param, values)", where, k);
      lua_pop(L, 1);
    }
    if (field_str(L, vt, "name", v->name, sizeof v->name, where)) return ST_ERR;
    if (!v->name[0]) return st_err("%s: 'name' is required", where);
    for (char *c = v->name; *c; c++)
      if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
        return st_err("%s: name '%s' may hold only letters, digits, '-', '_' and '.'", where, v->name);
    for (int j = 0; j + 1 < s->nv; j++)
      if (!strcmp(s->v[j].name, v->name)) return st_err("%s: duplicate name '%s'", where, v->name);
    lua_getfield(L, vt, "set");
    if (!lua_isnil(L, -1) && read_sets(L, -1, v->set, &v->nset, where)) return ST_ERR;
    lua_pop(L, 1);
    if (read_seeds(L, vt, v->seeds, &v->nseeds, where) || read_grid(L, vt, v, where) ||
        read_match(L, vt, v, where))
      return ST_ERR;
    v->npoints = 1;
    for (int a = 0; a < v->naxes; a++) {
      if (v->npoints * v->axis[a].nval > SW_MAXPOINT)
        return st_err("%s: the grid has more than %d points", where, SW_MAXPOINT);
      v->npoints *= v->axis[a].nval;
      for (int b = 0; b < a; b++) /* two keys ending alike: tag them in full */
        if (!strcmp(v->axis[a].tag, v->axis[b].tag)) {
          memcpy(v->axis[a].tag, v->axis[a].key, sizeof v->axis[a].tag);
          memcpy(v->axis[b].tag, v->axis[b].key, sizeof v->axis[b].tag);
        }
      if (v->match[0] && !strcmp(v->axis[a].key, v->param.key))
        return st_err("%s: '%s' is both the matched parameter and a grid key", where, v->param.key);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  for (int i = 0; i < s->nv; i++) {
    sw_variant *v = &s->v[i];
    if (!v->nseeds) {
      v->nseeds = s->nseeds;
      memcpy(v->seeds, s->seeds, sizeof s->seeds);
    }
    if (!v->match[0]) continue;
    int j = 0;
    while (j < s->nv && strcmp(s->v[j].name, v->match)) j++;
    if (j == s->nv || j == i)
      return st_err("%s: variant %s: match_budget '%s' names no other variant", path, v->name, v->match);
    if (s->v[j].match[0])
      return st_err("%s: variant %s: match_budget '%s' is itself matched; match to a variant "
                    "with a budget of its own", path, v->name, v->match);
  }
  if (!s->out[0]) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(s->out, sizeof s->out, "runs/%.*s", (int)strcspn(b, "."), b);
  }
  return ST_OK;
}

static void free_axis(sw_axis *a) {
  for (int i = 0; i < a->nval; i++) free(a->val[i]);
}

void sw_free(sweep *s) {
  for (int i = 0; i < s->nbase; i++) free(s->base[i]);
  for (int i = 0; i < s->nv; i++) {
    for (int j = 0; j < s->v[i].nset; j++) free(s->v[i].set[j]);
    for (int a = 0; a < s->v[i].naxes; a++) free_axis(&s->v[i].axis[a]);
    free_axis(&s->v[i].param);
  }
}

int sw_add_layers(sweep *s, int n_layers) {
  for (int l = 0; l < n_layers; l++) {
    if (s->nv == SW_MAXV)
      return st_err("%s: per_layer: %d layers do not fit beside %d variants (at most %d in all)",
                    s->file, n_layers, s->nv - l, SW_MAXV);
    sw_variant *v = &s->v[s->nv];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "layer%d", l);
    for (int j = 0; j < s->nv; j++)
      if (!strcmp(s->v[j].name, v->name))
        return st_err("%s: per_layer makes a variant '%s', which the file already has", s->file, v->name);
    char layers[32];
    snprintf(layers, sizeof layers, "[%d]", l);
    if (!(v->set[0] = override("policy.script", "\"layers\"")) ||
        !(v->set[1] = override("policy.params.layers", layers)))
      return ST_ERR;
    v->nset = 2;
    v->nseeds = s->nseeds;
    memcpy(v->seeds, s->seeds, sizeof s->seeds);
    v->npoints = 1;
    v->layer = l;
    s->nv++;
  }
  return ST_OK;
}

/* the value index of each axis at point p: the last axis varies fastest */
static void point_index(const sw_variant *v, int p, int *idx) {
  for (int a = v->naxes - 1; a >= 0; a--) {
    idx[a] = p % v->axis[a].nval;
    p /= v->axis[a].nval;
  }
}

void sw_label(const sw_variant *v, int p, char *out, size_t n) {
  int idx[SW_MAXKEY];
  size_t o = 0;
  out[0] = 0;
  point_index(v, p, idx);
  if (v->match[0])
    o += snprintf(out + o, n - o, "@%s=%s", v->param.tag, v->param.label[v->chosen]);
  for (int a = 0; a < v->naxes && o < n; a++)
    o += snprintf(out + o, n - o, "@%s=%s", v->axis[a].tag, v->axis[a].label[idx[a]]);
}

int sw_point_sets(const sw_variant *v, int p, const char **sets) {
  int idx[SW_MAXKEY], k = 0;
  point_index(v, p, idx);
  if (v->match[0]) sets[k++] = v->param.val[v->chosen];
  for (int a = 0; a < v->naxes; a++) sets[k++] = v->axis[a].val[idx[a]];
  return k;
}

int sw_run_dir(const sweep *s, const sw_variant *v, int p, int seed, char *out, size_t n) {
  char label[1024];
  sw_label(v, p, label, sizeof label);
  return st_pathf(out, n, "%s/runs/%s%s-seed%d", s->out, v->name, label, seed);
}

int sw_log_path(const sweep *s, const sw_variant *v, int p, int seed, char *out, size_t n) {
  char label[1024];
  sw_label(v, p, label, sizeof label);
  return st_pathf(out, n, "%s/logs/%s%s-seed%d.log", s->out, v->name, label, seed);
}
