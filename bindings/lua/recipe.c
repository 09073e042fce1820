/* recipe.c - a recipe file -> one checked Lua table.
 *
 *   1. YAML (yaml.c), a map at the top;
 *   2. include:/extends: names base recipes (relative to the including file),
 *      loaded first; the child is deep-merged over them: maps merge, lists
 *      and scalars replace, an explicit null (`lora: ~`) deletes;
 *   3. overrides in order: "--set a.b.c=value" with the value typed as YAML
 *      (`[q, v]`, `{r: 4}`, `1e-3`, `"quoted"`; empty or `~` deletes);
 *   4. the schema (schema.c), so keys created by --set are checked too.
 * Values from --set remember "--set a.b.c=value" as their position, so a
 * schema error names the flag that caused it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "strata_lua.h"

#define MAX_INCLUDE_DEPTH 32

/* --- include / extends --------------------------------------------------- */

/* `rel` as seen from the directory of `file`. "sub/../base.yaml" is left
 * as it is: folding it would be wrong when sub is a symlink. */
static int resolve(char *out, size_t n, const char *file, const char *rel) {
  const char *slash = strrchr(file, '/');
  if (rel[0] == '/' || !slash) return st_pathf(out, n, "%s", rel);
  return st_pathf(out, n, "%.*s/%s", (int)(slash - file), file, rel);
}

/* pushes where t[key] was written (key is a string), or `fallback` */
static const char *where_str(lua_State *L, int t, const char *key,
                             const char *fallback) {
  t = lua_absindex(L, t);
  lua_pushstring(L, key);
  sl_where(L, t, -1, SL_WHERE_VALUE);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushstring(L, fallback);
  }
  return lua_tostring(L, -1);
}

/* forgets t[key] and its position records */
static void remove_key(lua_State *L, int t, const char *key) {
  t = lua_absindex(L, t);
  lua_pushnil(L);
  lua_setfield(L, t, key);
  sl_meta_push(L, t, 1);
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(L, -1, i ? "k" : "v") == LUA_TTABLE) {
      lua_pushnil(L);
      lua_setfield(L, -2, key);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* deep merge of the map at src over the map at dst (dst changes) */
static void merge(lua_State *L, int dst, int src) {
  dst = lua_absindex(L, dst), src = lua_absindex(L, src);
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, "merging recipes");
  lua_pushnil(L);
  while (lua_next(L, src)) {
    int key = lua_gettop(L) - 1, val = key + 1;
    lua_pushvalue(L, key);
    lua_rawget(L, dst);
    if (lua_istable(L, val) && sl_table_kind(L, val) != SL_KIND_LIST &&
        lua_istable(L, -1) && sl_table_kind(L, -1) != SL_KIND_LIST) {
      merge(L, -1, val);
    } else {
      lua_pushvalue(L, key);
      lua_pushvalue(L, val);
      lua_rawset(L, dst);
    }
    sl_meta_copy(L, dst, key, src, key);
    lua_settop(L, key);
  }
  /* explicit nulls: recorded positions without a value */
  sl_meta_push(L, src, 0);
  if (!lua_isnil(L, -1) && lua_getfield(L, -1, "v") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      int key = lua_gettop(L);
      lua_pushvalue(L, key);
      if (lua_rawget(L, src) == LUA_TNIL) {
        lua_pushvalue(L, key);
        lua_pushnil(L);
        lua_rawset(L, dst);
        sl_meta_copy(L, dst, key, src, key);
      }
      lua_settop(L, key);
    }
  }
  lua_settop(L, top);
}

static void load_file(lua_State *L, const char *path, int chain, int depth);

/* the include chain: chain[2i-1] = real path, chain[2i] = path as named */
static void chain_push(lua_State *L, int chain, const char *real,
                       const char *named) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, chain);
  lua_pushstring(L, real);
  lua_rawseti(L, chain, n + 1);
  lua_pushstring(L, named);
  lua_rawseti(L, chain, n + 2);
}

static void chain_pop(lua_State *L, int chain) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, chain);
  lua_pushnil(L);
  lua_rawseti(L, chain, n);
  lua_pushnil(L);
  lua_rawseti(L, chain, n - 1);
}

/* loads the base recipe `name` named at `pos` by `path`; pushes it */
static void load_base(lua_State *L, const char *path, const char *name,
                      const char *pos, int chain, int depth) {
  /* realpath(3) wants PATH_MAX for its result: the one place the system's
   * constant, not ST_PATH_MAX, sizes a path */
  char file[PATH_MAX], real[PATH_MAX];
  if (resolve(file, sizeof file, path, name))
    sl_errorf(L, "%s: include '%s': %s", pos, name, st_errmsg());
  if (!realpath(file, real))
    sl_errorf(L, "%s: include '%s': cannot open '%s': %s", pos, name, file,
                  strerror(errno));
  lua_Integer n = (lua_Integer)lua_rawlen(L, chain);
  for (lua_Integer i = 1; i < n; i += 2) {
    lua_rawgeti(L, chain, i);
    int same = !strcmp(lua_tostring(L, -1), real);
    lua_pop(L, 1);
    if (!same) continue;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer j = i + 1; j <= n; j += 2) {
      lua_rawgeti(L, chain, j);
      luaL_addvalue(&b);
      luaL_addstring(&b, " -> ");
    }
    luaL_addstring(&b, file);
    luaL_pushresult(&b);
    sl_errorf(L, "%s: include cycle: %s", pos, lua_tostring(L, -1));
  }
  if (depth >= MAX_INCLUDE_DEPTH)
    sl_errorf(L, "%s: includes nested deeper than %d", pos,
                  MAX_INCLUDE_DEPTH);
  chain_push(L, chain, real, file);
  load_file(L, file, chain, depth + 1);
  chain_pop(L, chain);
}

/* pushes the recipe at `path` with its includes merged in */
static void load_file(lua_State *L, const char *path, int chain, int depth) {
  sl_yaml_load_file(L, path);
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) sl_errorf(L, "%s: empty recipe", path);
  if (!lua_istable(L, t) || sl_table_kind(L, t) == SL_KIND_LIST)
    sl_errorf(L, "%s:1:1: a recipe is a map of keys, not a %s", path,
                  lua_istable(L, t) ? "list" : luaL_typename(L, t));
  const char *key = NULL;
  for (int i = 0; i < 2; i++) {
    const char *k = i ? "extends" : "include";
    if (lua_getfield(L, t, k) != LUA_TNIL) {
      if (key)
        sl_errorf(L, "%s: use either 'include' or 'extends', not both",
                      where_str(L, t, k, path));
      key = k;
    }
    lua_pop(L, 1);
  }
  if (!key) return;
  lua_getfield(L, t, key);
  int names = lua_gettop(L);
  const char *pos = where_str(L, t, key, path);
  int n = lua_type(L, names) == LUA_TSTRING;
  if (lua_istable(L, names) && sl_table_kind(L, names) == SL_KIND_LIST) {
    n = (int)lua_rawlen(L, names);
    for (int i = 1; i <= n; i++) {
      if (lua_rawgeti(L, names, i) != LUA_TSTRING) n = 0;
      lua_pop(L, 1);
    }
  }
  if (!n)
    sl_errorf(L, "%s: key '%s': expected a file name or a list of them",
                  pos, key);
  remove_key(L, t, key);
  /* later bases override earlier ones; the child overrides them all */
  for (int i = 1; i <= n; i++) {
    if (lua_istable(L, names))
      lua_rawgeti(L, names, i);
    else
      lua_pushvalue(L, names);
    load_base(L, path, lua_tostring(L, -1), pos, chain, depth);
    lua_remove(L, -2);
    if (i > 1) {
      merge(L, -2, -1);
      lua_pop(L, 1);
    }
  }
  merge(L, -1, t);
  sl_meta_push(L, -1, 1); /* the top-level table reads as the child's */
  sl_where(L, t, 0, SL_WHERE_VALUE);
  lua_setfield(L, -2, "pos");
  lua_pop(L, 1);
  lua_replace(L, t);
  lua_settop(L, t);
}

/* --- overrides ----------------------------------------------------------- */

/* pushes the key for path segment s[0..n) of table t: an integer when it
 * is one and t is a list or already has that integer key, else a string */
static void push_segment(lua_State *L, int t, const char *s, size_t n) {
  char buf[32], *end;
  t = lua_absindex(L, t);
  if (n > 0 && n < sizeof buf) {
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    lua_Integer i = strtoll(buf, &end, 10);
    if (!*end && !errno) {
      int use = sl_table_kind(L, t) == SL_KIND_LIST;
      if (!use) {
        lua_pushinteger(L, i);
        use = lua_rawget(L, t) != LUA_TNIL;
        lua_pop(L, 1);
      }
      if (use) {
        lua_pushinteger(L, i);
        return;
      }
    }
  }
  lua_pushlstring(L, s, n);
}

/* recipe[dotted] = value at index val; `who` labels the change */
static void set_path(lua_State *L, int recipe, const char *dotted, size_t len,
                     int val, const char *who) {
  val = lua_absindex(L, val);
  int base = lua_gettop(L);
  lua_pushvalue(L, recipe);
  const char *s = dotted, *end = dotted + len;
  for (;;) {
    int cur = lua_gettop(L);
    const char *dot = memchr(s, '.', (size_t)(end - s));
    const char *seg_end = dot ? dot : end;
    if (seg_end == s)
      sl_errorf(L, "%s: empty key in '%.*s'", who, (int)len, dotted);
    push_segment(L, cur, s, (size_t)(seg_end - s));
    int key = cur + 1;
    int list = sl_table_kind(L, cur) == SL_KIND_LIST;
    if (list) {
      lua_Integer n = (lua_Integer)lua_rawlen(L, cur);
      if (!lua_isinteger(L, key) || lua_tointeger(L, key) < 1 ||
          lua_tointeger(L, key) > n + (dot ? 0 : 1))
        sl_errorf(L, "%s: '%.*s' is a list of %d item(s); no item '%.*s'",
                      who, (int)(s > dotted ? s - dotted - 1 : 0), dotted,
                      (int)n, (int)(seg_end - s), s);
    }
    if (!dot) {
      if (list && lua_isnil(L, val))
        sl_errorf(L, "%s: a list item cannot be set to null", who);
      lua_pushvalue(L, key);
      lua_pushvalue(L, val);
      lua_rawset(L, cur);
      sl_meta_set(L, cur, key, who, who);
      break;
    }
    lua_pushvalue(L, key);
    int ty = lua_rawget(L, cur);
    if (ty == LUA_TNIL) { /* a new section: the schema will judge it */
      lua_pop(L, 1);
      lua_newtable(L);
      sl_meta_push(L, -1, 1);
      lua_pushstring(L, who);
      lua_setfield(L, -2, "pos");
      lua_pop(L, 1);
      lua_pushvalue(L, key);
      lua_pushvalue(L, -2);
      lua_rawset(L, cur);
      sl_meta_set(L, cur, key, who, who);
    } else if (ty != LUA_TTABLE) {
      sl_errorf(L, "%s: '%.*s' is a %s, not a map", who,
                    (int)(seg_end - dotted), dotted, luaL_typename(L, -1));
    }
    lua_remove(L, key);
    lua_remove(L, cur);
    s = dot + 1;
  }
  lua_settop(L, base);
}

/* "a.b.c=value" */
static void apply_set(lua_State *L, int recipe, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *who = lua_pushfstring(L, "--set %s", spec);
  if (!eq || eq == spec) sl_errorf(L, "%s: expected key=value", who);
  sl_yaml_load_string(L, eq + 1, strlen(eq + 1), who, 1);
  set_path(L, recipe, spec, (size_t)(eq - spec), -1, who);
  lua_pop(L, 2);
}

static void apply_overrides(lua_State *L, int recipe, int ov) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, ov);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, ov, i) != LUA_TSTRING)
      sl_errorf(L, "overrides[%d]: expected a \"key=value\" string, got %s",
                    (int)i, luaL_typename(L, -1));
    apply_set(L, recipe, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, ov)) {
    if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 &&
        lua_tointeger(L, -2) <= n) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -2) != LUA_TSTRING)
      sl_errorf(
          L, "overrides: keys are dotted names like \"train.lr\", got %s",
          luaL_typename(L, -2));
    size_t len;
    const char *key = lua_tolstring(L, -2, &len);
    const char *who = lua_pushfstring(L, "override %s", key);
    sl_deepcopy(L, -2);
    set_path(L, recipe, key, len, -1, who);
    lua_pop(L, 3);
  }
}

/* --- entry points -------------------------------------------------------- */

void sl_recipe_load_l(lua_State *L, const char *path, int ov) {
  ov = ov ? lua_absindex(L, ov) : 0;
  if (ov) luaL_checktype(L, ov, LUA_TTABLE);
  lua_newtable(L);
  int chain = lua_gettop(L);
  char real[PATH_MAX];
  if (realpath(path, real)) chain_push(L, chain, real, path);
  load_file(L, path, chain, 0);
  lua_remove(L, chain);
  if (ov) apply_overrides(L, lua_gettop(L), ov);
  sl_schema_check(L, -1);
}

/* What the C entry points hand their protected half: the recipe (a path,
 * or NULL when the table is the function's first argument) and the
 * "k=v" overrides. */
typedef struct load_args {
  const char *path;
  int nsets;
  const char *const *sets;
} load_args;

/* (table or nothing, args): a pcall'd function sees only its arguments */
static int load_protected(lua_State *L) {
  load_args *a = lua_touserdata(L, lua_gettop(L));
  int ov = lua_gettop(L) + 1;
  lua_createtable(L, a->nsets, 0);
  for (int i = 0; i < a->nsets; i++) {
    lua_pushstring(L, a->sets[i]);
    lua_rawseti(L, -2, i + 1);
  }
  if (a->path) {
    sl_recipe_load_l(L, a->path, ov);
    return 1;
  }
  sl_deepcopy(L, 1); /* the caller's table stays as it was */
  int t = lua_gettop(L);
  apply_overrides(L, t, ov);
  sl_schema_check(L, t);
  return 1;
}

/* runs load_protected on the table at idx (0: a->path) and pushes its
 * result, or sets st_err from the error */
static int load(lua_State *L, int idx, load_args *a) {
  idx = idx ? lua_absindex(L, idx) : 0;
  lua_pushcfunction(L, load_protected);
  if (idx) lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, a);
  if (lua_pcall(L, idx ? 2 : 1, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    st_err("%s", msg ? msg : "error loading the recipe");
    lua_pop(L, 1);
    return ST_ERR;
  }
  return ST_OK;
}

int sl_recipe_load(lua_State *L, const char *path, int nsets,
                   const char *const *sets) {
  load_args a = {path, nsets, sets};
  return load(L, 0, &a);
}

int sl_recipe_check_table(lua_State *L, int idx, int nsets,
                          const char *const *sets) {
  load_args a = {NULL, nsets, sets};
  return load(L, idx, &a);
}

/* strata.load_recipe(path [, overrides]) -> table; overrides is a list of
 * "a.b=value" strings and/or a map {["a.b"] = value} */
static int l_load_recipe(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  sl_recipe_load_l(L, path, lua_isnoneornil(L, 2) ? 0 : 2);
  return 1;
}

/* strata.check_recipe(t) -> t, checked and with defaults filled in */
static int l_check_recipe(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  sl_schema_check(L, 1);
  return 1;
}

const luaL_Reg sl_recipe_funcs[] = {
    {"load_recipe", l_load_recipe},
    {"check_recipe", l_check_recipe},
    {NULL, NULL},
};
