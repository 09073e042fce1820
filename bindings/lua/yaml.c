/* yaml.c - YAML -> plain Lua tables, with source positions on the side.
 *
 * libyaml's event parser drives a recursive builder. Scalars are typed like
 * the YAML 1.1/1.2 core schema, restricted to the unambiguous spellings:
 *   null: ~ null Null NULL (and empty)    bool: true/True/TRUE false/...
 *   int: [-+]?[0-9]+, 0x.., 0o..          float: 1.5 .5 1e-3 .inf -.inf .nan
 * yes/no/on/off stay strings (the "Norway problem"); quoted, literal and
 * folded scalars are always strings; !!str/!!int/!!float/!!bool/!!null tags
 * are honoured.
 *
 * Aliases are deep copies of their anchor, so overriding one spot of a recipe
 * never changes another. `<<` merge keys take a map or a list of maps; keys
 * written in the map win, then earlier maps win over later ones (YAML 1.1
 * merge). A YAML null inside a map is recorded as an explicit null (see
 * strata_lua.h); inside a list it is an error, since a Lua list cannot hold
 * nil.
 *
 * Every error raised here starts with "file:line:col: ". The parser state
 * lives in a userdata with __gc, so raising a Lua error never leaks it. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "strata_lua.h"

#define MAX_DEPTH 200      /* nesting; guards the C stack */
#define MAX_NODES 1000000L /* after alias expansion ("billion laughs") */

/* ---------------------------------------------------------------------------
 * position records: registry[&meta_key] is a weak-keyed table t -> meta */

static const char meta_key = 0;

static void push_registry(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &meta_key);
}

void sl_meta_push(lua_State *L, int t, int create) {
  t = lua_absindex(L, t);
  push_registry(L);
  lua_pushvalue(L, t);
  if (lua_rawget(L, -2) == LUA_TNIL && create) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, t);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
}

/* pushes meta[name] of the meta table at m, creating it */
static void push_sub(lua_State *L, int m, const char *name) {
  m = lua_absindex(L, m);
  if (lua_getfield(L, m, name) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, m, name);
}

void sl_meta_set(lua_State *L, int t, int k, const char *kpos,
                 const char *vpos) {
  k = lua_absindex(L, k);
  sl_meta_push(L, t, 1);
  const char *pos[2] = {kpos, vpos}, *sub[2] = {"k", "v"};
  for (int i = 0; i < 2; i++) {
    if (!pos[i]) continue;
    push_sub(L, -1, sub[i]);
    lua_pushvalue(L, k);
    lua_pushstring(L, pos[i]);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void sl_where(lua_State *L, int t, int k, int which) {
  k = k ? lua_absindex(L, k) : 0;
  sl_meta_push(L, t, 0);
  if (lua_isnil(L, -1)) return;
  if (!k) {
    lua_getfield(L, -1, "pos");
  } else if (lua_getfield(L, -1, which == SL_WHERE_KEY ? "k" : "v") ==
             LUA_TTABLE) {
    lua_pushvalue(L, k);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  lua_remove(L, -2);
}

void sl_meta_copy(lua_State *L, int dst, int dkey, int src, int skey) {
  dst = lua_absindex(L, dst), dkey = lua_absindex(L, dkey);
  src = lua_absindex(L, src), skey = lua_absindex(L, skey);
  for (int which = SL_WHERE_VALUE; which <= SL_WHERE_KEY; which++) {
    sl_where(L, src, skey, which);
    sl_meta_push(L, dst, 1);
    push_sub(L, -1, which == SL_WHERE_KEY ? "k" : "v");
    lua_pushvalue(L, dkey);
    lua_pushvalue(L, -4);
    lua_rawset(L, -3);
    lua_pop(L, 3);
  }
}

int sl_table_kind(lua_State *L, int t) {
  t = lua_absindex(L, t);
  sl_meta_push(L, t, 0);
  if (!lua_isnil(L, -1)) {
    int seq = lua_getfield(L, -1, "seq") != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 2);
    return seq ? SL_KIND_LIST : SL_KIND_MAP;
  }
  lua_pop(L, 1);
  lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;
  int list = 1;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    count++;
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        lua_tointeger(L, -1) > n)
      list = 0;
  }
  if (count == 0) return SL_KIND_EMPTY;
  return list && count == n ? SL_KIND_LIST : SL_KIND_MAP;
}

/* copies the value at idx. budget counts nodes (NULL: unlimited); when it
 * runs out the copy stops short and the caller reports it. */
static void copy(lua_State *L, int idx, long *budget, int depth) {
  idx = lua_absindex(L, idx);
  if (budget && --*budget < 0) {
    lua_pushnil(L);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE) {
    lua_pushvalue(L, idx);
    return;
  }
  if (depth > MAX_DEPTH)
    luaL_error(L, "table nested too deeply to copy (a cycle?)");
  luaL_checkstack(L, 8, "copying a table");
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  int dst = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    copy(L, -1, budget, depth + 1);
    if (budget && *budget < 0) {
      lua_pop(L, 3);
      return;
    }
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, dst);
    lua_pop(L, 1);
  }
  sl_meta_push(L, idx, 0);
  if (!lua_isnil(L, -1)) { /* new meta: pos, seq, and copies of k and v */
    int sm = lua_gettop(L);
    sl_meta_push(L, dst, 1);
    lua_getfield(L, sm, "pos");
    lua_setfield(L, -2, "pos");
    lua_getfield(L, sm, "seq");
    lua_setfield(L, -2, "seq");
    const char *subs[2] = {"k", "v"};
    for (int i = 0; i < 2; i++) {
      if (lua_getfield(L, sm, subs[i]) != LUA_TTABLE) {
        lua_pop(L, 1);
        continue;
      }
      lua_newtable(L);
      lua_pushnil(L);
      while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      lua_setfield(L, -3, subs[i]);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void sl_deepcopy(lua_State *L, int idx) { copy(L, idx, NULL, 0); }

/* ---------------------------------------------------------------------------
 * the parser */

typedef struct yp {
  yaml_parser_t parser;
  yaml_event_t ev; /* the current event, owned here so errors free it */
  FILE *f;
  int parser_ok, has_ev;
} yp;

static int yp_gc(lua_State *L) {
  yp *y = lua_touserdata(L, 1);
  if (y->has_ev) yaml_event_delete(&y->ev);
  if (y->parser_ok) yaml_parser_delete(&y->parser);
  if (y->f) fclose(y->f);
  y->has_ev = y->parser_ok = 0;
  y->f = NULL;
  return 0;
}

typedef struct pctx {
  lua_State *L;
  yp *y;
  const char *name; /* file name for positions */
  int nopos;        /* positions are just `name` */
  int anchors;      /* stack index: anchor name -> value (null: sentinel) */
  long budget;
  int depth;
} pctx;

static const char null_sentinel = 0; /* anchors[x] for an anchored null */

static void push_pos(pctx *c, yaml_mark_t m) {
  if (c->nopos)
    lua_pushstring(c->L, c->name);
  else
    lua_pushfstring(c->L, "%s:%d:%d", c->name, (int)m.line + 1,
                    (int)m.column + 1);
}

static int perr(pctx *c, yaml_mark_t m, const char *fmt, ...) ST_PRINTF(3, 4);
static int perr(pctx *c, yaml_mark_t m, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  push_pos(c, m);
  lua_pushfstring(c->L, "%s: %s", lua_tostring(c->L, -1), msg);
  return lua_error(c->L);
}

static void syntax_error(pctx *c) {
  yaml_parser_t *p = &c->y->parser;
  const char *problem = p->problem ? p->problem : "unknown error";
  if (p->error == YAML_MEMORY_ERROR)
    luaL_error(c->L, "%s: out of memory", c->name);
  if (p->error == YAML_READER_ERROR)
    luaL_error(c->L, "%s: %s at byte %d", c->name, problem,
               (int)p->problem_offset);
  if (p->context)
    perr(c, p->problem_mark, "syntax error: %s (%s at line %d, column %d)",
         problem, p->context, (int)p->context_mark.line + 1,
         (int)p->context_mark.column + 1);
  perr(c, p->problem_mark, "syntax error: %s", problem);
}

static void next_event(pctx *c) {
  yp *y = c->y;
  if (y->has_ev) yaml_event_delete(&y->ev);
  y->has_ev = 0;
  if (!yaml_parser_parse(&y->parser, &y->ev)) syntax_error(c);
  y->has_ev = 1;
}

/* --- scalars ------------------------------------------------------------- */

static int one_of(const char *s, const char *const *words) {
  for (; *words; words++)
    if (!strcmp(s, *words)) return 1;
  return 0;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

/* 1: an int in *out; 2: looks like a decimal int but overflows; 0: not one */
static int parse_int(const char *s, lua_Integer *out) {
  int neg = *s == '-';
  if (*s == '-' || *s == '+') s++;
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o'))
    base = s[1] == 'x' ? 16 : 8, s += 2;
  if (!*s) return 0;
  for (const char *p = s; *p; p++) {
    int ok = base == 16  ? !!strchr("0123456789abcdefABCDEF", *p)
             : base == 8 ? (*p >= '0' && *p <= '7')
                         : (*p >= '0' && *p <= '9');
    if (!ok) return 0;
  }
  errno = 0;
  unsigned long long u = strtoull(s, NULL, base);
  unsigned long long lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
  if (errno == ERANGE || u > lim) return base == 10 ? 2 : 0;
  *out = neg ? (lua_Integer)(0 - u) : (lua_Integer)u;
  return 1;
}

static int digits(const char **p) {
  const char *s = *p;
  while (**p >= '0' && **p <= '9')
    (*p)++;
  return *p > s;
}

static int parse_float(const char *s, double *out) {
  const char *p = s;
  int neg = *p == '-';
  if (*p == '-' || *p == '+') p++;
  if (one_of(p, (const char *const[]){".inf", ".Inf", ".INF", NULL})) {
    *out = neg ? -HUGE_VAL : HUGE_VAL;
    return 1;
  }
  if (one_of(s, (const char *const[]){".nan", ".NaN", ".NAN", NULL})) {
    *out = NAN;
    return 1;
  }
  /* [0-9]+ ( . [0-9]* )? | . [0-9]+ , then ( [eE] [-+]? [0-9]+ )? */
  int whole = digits(&p), frac = 0, dot = *p == '.';
  if (dot) p++, frac = digits(&p);
  if (!whole && !frac) return 0;
  int expo = *p == 'e' || *p == 'E';
  if (expo) {
    p++;
    if (*p == '-' || *p == '+') p++;
    if (!digits(&p)) return 0;
  }
  if (*p || (!dot && !expo)) return 0;
  *out = strtod(s, NULL);
  return 1;
}

/* pushes the typed value of a plain scalar; returns its Lua type */
static int resolve_plain(lua_State *L, const char *s, size_t n) {
  lua_Integer i;
  double d;
  if (n == 0 || one_of(s, null_words)) return lua_pushnil(L), LUA_TNIL;
  if (one_of(s, true_words)) return lua_pushboolean(L, 1), LUA_TBOOLEAN;
  if (one_of(s, false_words)) return lua_pushboolean(L, 0), LUA_TBOOLEAN;
  int r = parse_int(s, &i);
  if (r == 1) return lua_pushinteger(L, i), LUA_TNUMBER;
  if (r == 2) return lua_pushnumber(L, strtod(s, NULL)), LUA_TNUMBER;
  if (parse_float(s, &d)) return lua_pushnumber(L, d), LUA_TNUMBER;
  lua_pushlstring(L, s, n);
  return LUA_TSTRING;
}

#define TAG(x) "tag:yaml.org,2002:" x

static int push_scalar(pctx *c, yaml_event_t *ev) {
  lua_State *L = c->L;
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  if (strlen(s) != n) perr(c, ev->start_mark, "NUL byte in a scalar");
  if (!tag)
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
               ? resolve_plain(L, s, n)
               : (lua_pushlstring(L, s, n), LUA_TSTRING);
  if (!strcmp(tag, "!") || !strcmp(tag, TAG("str")))
    return lua_pushlstring(L, s, n), LUA_TSTRING;
  const char *want = !strcmp(tag, TAG("int"))     ? "int"
                     : !strcmp(tag, TAG("float")) ? "float"
                     : !strcmp(tag, TAG("bool"))  ? "bool"
                     : !strcmp(tag, TAG("null"))  ? "null"
                                                  : NULL;
  if (!want) perr(c, ev->start_mark, "unsupported tag '%s'", tag);
  int t = resolve_plain(L, s, n);
  int ok = (!strcmp(want, "null") && t == LUA_TNIL) ||
           (!strcmp(want, "bool") && t == LUA_TBOOLEAN) ||
           (!strcmp(want, "int") && lua_isinteger(L, -1)) ||
           (!strcmp(want, "float") && t == LUA_TNUMBER);
  if (!ok) perr(c, ev->start_mark, "'%s' is not a valid !!%s", s, want);
  if (!strcmp(want, "float"))
    lua_pushnumber(L, lua_tonumber(L, -1)), lua_remove(L, -2);
  return t;
}

/* --- collections --------------------------------------------------------- */

static void check_collection_tag(pctx *c, const unsigned char *tag,
                                 const char *std) {
  if (tag && strcmp((const char *)tag, "!") && strcmp((const char *)tag, std))
    perr(c, c->y->ev.start_mark, "unsupported tag '%s'", (const char *)tag);
}

/* stores the value on top of the stack as anchors[name] (name at index a) */
static void set_anchor(pctx *c, int a) {
  lua_State *L = c->L;
  lua_pushvalue(L, a);
  if (lua_isnil(L, -2))
    lua_pushlightuserdata(L, (void *)&null_sentinel);
  else
    lua_pushvalue(L, -2);
  lua_rawset(L, c->anchors);
}

static int parse_node(pctx *c);

/* sets up a new table with its meta; leaves [anchor-or-nil, t, v] and
 * returns the index of t */
static int open_collection(pctx *c, const unsigned char *anchor, int seq) {
  lua_State *L = c->L;
  yaml_mark_t start = c->y->ev.start_mark;
  if (++c->depth > MAX_DEPTH)
    perr(c, start, "nesting deeper than %d", MAX_DEPTH);
  if (--c->budget < 0) perr(c, start, "too many nodes (limit %ld)", MAX_NODES);
  luaL_checkstack(L, 16, "YAML nesting");
  if (anchor)
    lua_pushstring(L, (const char *)anchor);
  else
    lua_pushnil(L);
  lua_newtable(L);
  int t = lua_gettop(L);
  sl_meta_push(L, t, 1);
  push_pos(c, start);
  lua_setfield(L, -2, "pos");
  lua_pushboolean(L, seq);
  lua_setfield(L, -2, "seq");
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "v");
  lua_remove(L, -2);
  return t;
}

/* [anchor, t, ...] -> t, registering the anchor */
static void close_collection(pctx *c, int t) {
  lua_settop(c->L, t);
  if (!lua_isnil(c->L, t - 1)) set_anchor(c, t - 1);
  lua_remove(c->L, t - 1);
  c->depth--;
}

static int parse_seq(pctx *c) {
  lua_State *L = c->L;
  check_collection_tag(c, c->y->ev.data.sequence_start.tag, TAG("seq"));
  int t = open_collection(c, c->y->ev.data.sequence_start.anchor, 1), v = t + 1;
  for (lua_Integer i = 1;; i++) {
    next_event(c);
    if (c->y->ev.type == YAML_SEQUENCE_END_EVENT) break;
    yaml_mark_t m = c->y->ev.start_mark;
    if (parse_node(c) == LUA_TNIL)
      perr(c, m, "null items in a list are not supported");
    lua_rawseti(L, t, i);
    push_pos(c, m);
    lua_rawseti(L, v, i);
  }
  close_collection(c, t);
  return LUA_TTABLE;
}

/* appends the `<<` value on top (a map or a list of maps) to merges */
static void add_merge(pctx *c, int merges, yaml_mark_t m) {
  lua_State *L = c->L;
  int val = lua_gettop(L);
  int kind = lua_istable(L, val) ? sl_table_kind(L, val) : -1;
  if (kind == SL_KIND_MAP) {
    lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
    return;
  }
  if (kind == SL_KIND_LIST) {
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, val); i++) {
      lua_rawgeti(L, val, i);
      if (!lua_istable(L, -1) || sl_table_kind(L, -1) != SL_KIND_MAP)
        perr(c, m, "'<<' takes a map or a list of maps");
      lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
    }
    lua_pop(L, 1);
    return;
  }
  perr(c, m, "'<<' takes a map or a list of maps");
}

static void describe_key(lua_State *L, int k, char *buf, size_t n) {
  snprintf(buf, n, "%s", luaL_tolstring(L, k, NULL));
  lua_pop(L, 1);
}

static int parse_map(pctx *c) {
  lua_State *L = c->L;
  check_collection_tag(c, c->y->ev.data.mapping_start.tag, TAG("map"));
  int t = open_collection(c, c->y->ev.data.mapping_start.anchor, 0), v = t + 1;
  sl_meta_push(L, t, 1);
  push_sub(L, -1, "k");
  lua_remove(L, -2);
  int k = t + 2;
  lua_newtable(L);
  int merges = t + 3, merged = 0;
  for (;;) {
    next_event(c);
    yaml_event_t *ev = &c->y->ev;
    if (ev->type == YAML_MAPPING_END_EVENT) break;
    yaml_mark_t km = ev->start_mark;
    if (ev->type == YAML_SCALAR_EVENT && !ev->data.scalar.tag &&
        ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        !strcmp((const char *)ev->data.scalar.value, "<<")) {
      if (merged++) perr(c, km, "duplicate key '<<'");
      next_event(c);
      yaml_mark_t vm = c->y->ev.start_mark;
      parse_node(c);
      add_merge(c, merges, vm);
      continue;
    }
    if (ev->type == YAML_MAPPING_START_EVENT ||
        ev->type == YAML_SEQUENCE_START_EVENT)
      perr(c, km, "map and list keys are not supported");
    int kt = parse_node(c);
    int key = lua_gettop(L);
    if (kt == LUA_TNIL) perr(c, km, "null key");
    if (kt == LUA_TTABLE) perr(c, km, "map and list keys are not supported");
    if (kt == LUA_TNUMBER && isnan(lua_tonumber(L, key)))
      perr(c, km, "NaN key");
    lua_pushvalue(L, key);
    if (lua_rawget(L, k) != LUA_TNIL) {
      char name[128];
      describe_key(L, key, name, sizeof name);
      perr(c, km, "duplicate key '%s' (first at %s)", name,
           lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    next_event(c);
    yaml_mark_t vm = c->y->ev.start_mark;
    parse_node(c);
    lua_pushvalue(L, key);
    lua_insert(L, -2);
    lua_rawset(L, t);
    lua_pushvalue(L, key);
    push_pos(c, km);
    lua_rawset(L, k);
    lua_pushvalue(L, key);
    push_pos(c, vm);
    lua_rawset(L, v);
    lua_pop(L, 1);
  }
  /* merges: a key not written here comes from the first map that has it */
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, merges); i++) {
    int src = lua_gettop(L) + 1;
    lua_rawgeti(L, merges, i);
    sl_meta_push(L, src, 1);
    push_sub(L, -1, "v");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, k) == LUA_TNIL) {
        lua_pop(L, 1);
        int key = lua_gettop(L);
        lua_pushvalue(L, key);
        lua_pushvalue(L, key);
        lua_rawget(L, src);
        lua_rawset(L, t);
        sl_meta_copy(L, t, key, src, key);
        lua_pushvalue(L, key); /* mark it written: later merges lose */
        if (lua_rawget(L, k) == LUA_TNIL) {
          lua_pop(L, 1);
          sl_where(L, src, key, SL_WHERE_VALUE);
          lua_pushvalue(L, key);
          lua_insert(L, -2);
          lua_rawset(L, k);
        } else {
          lua_pop(L, 1);
        }
      } else {
        lua_pop(L, 1);
      }
    }
    lua_settop(L, src - 1);
  }
  close_collection(c, t);
  return LUA_TTABLE;
}

/* pushes the node starting at the current event; returns its Lua type */
static int parse_node(pctx *c) {
  lua_State *L = c->L;
  yaml_event_t *ev = &c->y->ev;
  luaL_checkstack(L, 16, "YAML nesting");
  switch (ev->type) {
  case YAML_ALIAS_EVENT: {
    if (--c->budget < 0)
      perr(c, ev->start_mark, "too many nodes (limit %ld)", MAX_NODES);
    lua_pushstring(L, (const char *)ev->data.alias.anchor);
    if (lua_rawget(L, c->anchors) == LUA_TNIL)
      perr(c, ev->start_mark, "undefined alias '*%s'",
           (const char *)ev->data.alias.anchor);
    if (lua_touserdata(L, -1) == &null_sentinel) {
      lua_pop(L, 1);
      lua_pushnil(L);
      return LUA_TNIL;
    }
    if (lua_istable(L, -1)) {
      copy(L, -1, &c->budget, 0);
      if (c->budget < 0)
        perr(c, ev->start_mark,
             "too many nodes after alias expansion (limit %ld)", MAX_NODES);
      lua_remove(L, -2);
    }
    return lua_type(L, -1);
  }
  case YAML_SCALAR_EVENT: {
    if (--c->budget < 0)
      perr(c, ev->start_mark, "too many nodes (limit %ld)", MAX_NODES);
    int t = push_scalar(c, ev);
    if (ev->data.scalar.anchor) {
      lua_pushstring(L, (const char *)ev->data.scalar.anchor);
      lua_insert(L, -2);
      set_anchor(c, lua_gettop(L) - 1);
      lua_remove(L, -2);
    }
    return t;
  }
  case YAML_SEQUENCE_START_EVENT: return parse_seq(c);
  case YAML_MAPPING_START_EVENT: return parse_map(c);
  default: perr(c, ev->start_mark, "unexpected YAML event %d", (int)ev->type);
  }
  return LUA_TNIL;
}

/* stream -> one document -> the value on top (nil when there is none) */
static void parse_stream(pctx *c) {
  next_event(c); /* STREAM-START */
  next_event(c);
  if (c->y->ev.type == YAML_STREAM_END_EVENT) {
    lua_pushnil(c->L);
    return;
  }
  next_event(c); /* past DOCUMENT-START */
  parse_node(c);
  next_event(c); /* DOCUMENT-END */
  next_event(c);
  if (c->y->ev.type == YAML_DOCUMENT_START_EVENT)
    perr(c, c->y->ev.start_mark, "more than one YAML document");
}

/* pushes the value of a file (path != NULL) or of the text s[0..n) */
static void load(lua_State *L, const char *name, const char *path,
                 const char *s, size_t n, int nopos) {
  int base = lua_gettop(L);
  yp *y = lua_newuserdatauv(L, sizeof *y, 0);
  memset(y, 0, sizeof *y);
  if (luaL_newmetatable(L, "strata.yaml_parser")) {
    lua_pushcfunction(L, yp_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (!yaml_parser_initialize(&y->parser))
    luaL_error(L, "%s: out of memory", name);
  y->parser_ok = 1;
  if (path) {
    if (!(y->f = fopen(path, "rb")))
      luaL_error(L, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_set_input_file(&y->parser, y->f);
  } else {
    yaml_parser_set_input_string(&y->parser, (const unsigned char *)s, n);
  }
  lua_newtable(L);
  pctx c = {L, y, name, nopos, base + 2, MAX_NODES, 0};
  parse_stream(&c);
  lua_pushcfunction(L, yp_gc); /* release the file now, not at the next GC */
  lua_pushvalue(L, base + 1);
  lua_call(L, 1, 0);
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
}

void sl_yaml_load_file(lua_State *L, const char *path) {
  load(L, path, path, NULL, 0, 0);
}

void sl_yaml_load_string(lua_State *L, const char *s, size_t n,
                         const char *name, int nopos) {
  load(L, name, NULL, s, n, nopos);
}

/* ---------------------------------------------------------------------------
 * Lua functions */

/* strata.yaml_load(path_or_string [, "file"|"string"]) -> value
 * Without the mode: text with a newline, or that is not an existing file
 * and does not end in .yaml/.yml, is YAML text; anything else a path. */
static int l_yaml_load(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *mode = luaL_optstring(L, 2, NULL);
  int file;
  if (mode) {
    if (strcmp(mode, "file") && strcmp(mode, "string"))
      return luaL_argerror(L, 2, "expected \"file\" or \"string\"");
    file = !strcmp(mode, "file");
  } else if (memchr(s, '\n', n)) {
    file = 0;
  } else {
    FILE *f = fopen(s, "rb");
    size_t len = strlen(s);
    file = f != NULL || (len > 5 && !strcmp(s + len - 5, ".yaml")) ||
           (len > 4 && !strcmp(s + len - 4, ".yml"));
    if (f) fclose(f);
  }
  if (file)
    sl_yaml_load_file(L, s);
  else
    sl_yaml_load_string(L, s, n, "<string>", 0);
  return 1;
}

/* strata.where(t [, key [, "key"]]) -> "file:line:col" or nil: where t[key]
 * (its value, or with "key" the key itself) or t itself was written */
static int l_where(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int which = SL_WHERE_VALUE;
  const char *w = luaL_optstring(L, 3, "value");
  if (!strcmp(w, "key"))
    which = SL_WHERE_KEY;
  else if (strcmp(w, "value"))
    return luaL_argerror(L, 3, "expected \"value\" or \"key\"");
  sl_where(L, 1, lua_isnoneornil(L, 2) ? 0 : 2, which);
  return 1;
}

const luaL_Reg sl_yaml_funcs[] = {
    {"yaml_load", l_yaml_load},
    {"where", l_where},
    {NULL, NULL},
};
