/* schema.c - what a recipe may contain, checked before any work starts.
 *
 * The schema is data (the tables below; docs/recipes.md documents each key).
 * The check walks the recipe, collects every problem and raises the one that
 * comes first in the files, "file:line:col: key 'train.lr': expected number,
 * got string \"abc\"", with a count of the others. Unknown keys are errors
 * (with a suggestion when a known key is close, or lives in another section).
 * Integral floats (steps: 1e4) become ints; missing keys with a default get
 * it, and sections marked F_CREATE are created so their defaults exist.
 * Top-level keys starting with '_' are left alone: a place for anchors. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata_lua.h"

enum {
  S_STR,
  S_INT,
  S_NUM,
  S_BOOL,
  S_ENUM,
  S_STR_OR_INT,
  S_LIST,
  S_MAP,
  S_ANY_MAP,
  S_DICT
};
enum { R_ANY, R_NONNEG, R_POS, R_UNIT }; /* R_UNIT: [0, 1) */
enum { F_REQUIRED = 1, F_CREATE = 2, F_NONEMPTY = 4 };

typedef struct field {
  const char *key;
  int type, range, flags;
  const struct field *sub; /* S_MAP: fields ({0} ends); S_LIST, S_DICT: item */
  const char *choices;     /* S_ENUM: "a|b|c" */
  const char *def;         /* default, as YAML text */
  const char *computed;    /* a default the engine computes, described */
  long long hi;            /* S_INT: the largest value (every int has one:
                              the engine's sizes are ints, and a size from
                              a file must not reach an allocation unbounded) */
  int keys;                /* S_DICT: S_STR or S_STR_OR_INT */
} field;

/* --- the recipe ---------------------------------------------------------- */

static const field str_item = {.type = S_STR};
static const field pos_int_item = {.type = S_INT, .range = R_POS, .hi = 65536};
static const field pos_num_item = {.type = S_NUM, .range = R_POS};
static const field metric_item = {.type = S_ENUM,
                                  .choices = "loss|perplexity|accuracy|f1"};

static const field script_fields[] = {
    {.key = "script", .type = S_STR, .flags = F_REQUIRED},
    {.key = "params", .type = S_ANY_MAP},
    {0}};

static const field data_fields[] = {
    {.key = "train", .type = S_STR, .flags = F_REQUIRED},
    {.key = "eval", .type = S_STR},
    {.key = "format",
     .type = S_ENUM,
     .def = "text",
     .choices = "text|jsonl|prompt-completion|tsv-classification|"
                "csv-classification|chat|alpaca"},
    {.key = "text_column", .type = S_STR, .def = "text"},
    {.key = "label_column", .type = S_STR_OR_INT},
    {.key = "template", .type = S_STR},
    {.key = "eval_template", .type = S_STR, .computed = "`template`"},
    {.key = "eval_label_column", .type = S_STR_OR_INT, .computed = "`label_column`"},
    {.key = "verbalizers",
     .type = S_DICT,
     .sub = &str_item,
     .keys = S_STR_OR_INT},
    {.key = "chat_template", .type = S_STR, .def = "chatml"},
    {.key = "messages_column", .type = S_STR, .def = "messages"},
    {.key = "role_key", .type = S_STR, .def = "role"},
    {.key = "content_key", .type = S_STR, .def = "content"},
    {.key = "roles", .type = S_DICT, .sub = &str_item, .keys = S_STR},
    {.key = "instruction_column", .type = S_STR, .def = "instruction"},
    {.key = "input_column", .type = S_STR, .def = "input"},
    {.key = "output_column", .type = S_STR, .def = "output"},
    {.key = "eval_fraction", .type = S_NUM, .range = R_UNIT},
    {.key = "validation", .type = S_NUM, .range = R_UNIT, .computed = "none"},
    {.key = "validation_seed", .type = S_INT, .range = R_NONNEG, .def = "1", .hi = 2147483647},
    {.key = "max_samples", .type = S_INT, .range = R_POS, .hi = 1000000000},
    {0}};

static const field trace_fields[] = {
    {.key = "samples", .type = S_INT, .range = R_POS, .def = "64", .hi = 1000000},
    {.key = "seq_len", .type = S_INT, .range = R_POS, .computed = "`train.seq_len`", .hi = 1048576},
    {.key = "keep", .type = S_INT, .range = R_NONNEG, .def = "0", .hi = 1000000},
    {.key = "measure", .type = S_STR},
    {.key = "gradients", .type = S_BOOL, .def = "false"},
    {0}};

static const field lora_fields[] = {
    {.key = "rank", .type = S_INT, .range = R_POS, .def = "8", .hi = 65536},
    {.key = "alpha", .type = S_NUM, .range = R_POS, .def = "16"},
    {.key = "modules",
     .type = S_LIST,
     .flags = F_NONEMPTY,
     .sub = &str_item,
     .computed = "attention query and value: q, v (c_attn on GPT-2)"},
    {.key = "dropout", .type = S_NUM, .range = R_UNIT, .def = "0.0"},
    {.key = "rslora", .type = S_BOOL, .def = "false"},
    {.key = "init_from", .type = S_STR},
    {.key = "rank_pattern",
     .type = S_DICT,
     .sub = &pos_int_item,
     .keys = S_STR},
    {.key = "alpha_pattern",
     .type = S_DICT,
     .sub = &pos_num_item,
     .keys = S_STR},
    {0}};

static const field early_stop_fields[] = {
    {.key = "patience", .type = S_INT, .range = R_NONNEG, .def = "0", .hi = 1000000},
    {.key = "min_delta", .type = S_NUM, .range = R_NONNEG, .def = "0.0"},
    {0}};

static const field train_fields[] = {
    {.key = "steps", .type = S_INT, .range = R_NONNEG, .def = "100", .hi = 1000000000},
    {.key = "batch_size", .type = S_INT, .range = R_POS, .def = "16", .hi = 1048576},
    {.key = "seq_len",
     .type = S_INT,
     .range = R_POS,
     .computed = "min(128, the model's context)",
     .hi = 1048576},
    {.key = "lr", .type = S_NUM, .range = R_POS, .def = "1.0e-3"},
    {.key = "weight_decay", .type = S_NUM, .range = R_NONNEG, .def = "0.0"},
    {.key = "grad_clip", .type = S_NUM, .range = R_NONNEG, .def = "1.0"},
    {.key = "seed", .type = S_INT, .range = R_NONNEG, .def = "1", .hi = 2147483647},
    {.key = "beta1", .type = S_NUM, .range = R_UNIT, .def = "0.9"},
    {.key = "beta2", .type = S_NUM, .range = R_UNIT, .def = "0.999"},
    {.key = "eps", .type = S_NUM, .range = R_POS, .def = "1.0e-8"},
    {.key = "schedule", .type = S_MAP, .sub = script_fields, .computed = "none: constant `lr`"},
    {.key = "early_stop", .type = S_MAP, .flags = F_CREATE, .sub = early_stop_fields},
    {.key = "accumulate", .type = S_INT, .range = R_POS, .def = "1", .hi = 65536},
    {.key = "checkpointing", .type = S_BOOL, .def = "false"},
    {.key = "fused_update", .type = S_BOOL, .def = "false"},
    {0}};

static const field eval_fields[] = {
    {.key = "every", .type = S_INT, .range = R_POS, .computed = "never (zero-shot and final only)", .hi = 1000000000},
    {.key = "metrics",
     .type = S_LIST,
     .sub = &metric_item,
     .computed = "loss and perplexity, with accuracy and f1 on classification data"},
    {.key = "samples", .type = S_INT, .range = R_POS, .computed = "the whole eval set", .hi = 1000000000},
    {.key = "max_samples", .type = S_INT, .range = R_POS, .computed = "the whole eval set", .hi = 1000000000},
    {.key = "zero_shot", .type = S_BOOL, .def = "true"},
    {0}};

static const field output_fields[] = {
    {.key = "dir", .type = S_STR, .def = "runs"},
    {.key = "checkpoint_every", .type = S_INT, .range = R_NONNEG, .def = "0", .hi = 1000000000},
    {.key = "keep", .type = S_ENUM, .choices = "last|best|all", .def = "last"},
    {.key = "metric", .type = S_ENUM, .choices = "auto|loss|perplexity|accuracy|f1|mcc", .def = "auto"},
    {.key = "tensorboard", .type = S_BOOL, .def = "false"},
    {0}};

static const field sandbox_fields[] = {
    {.key = "instructions", .type = S_INT, .range = R_POS, .def = "1000000000", .hi = 1000000000000000},
    {.key = "memory_mb", .type = S_INT, .range = R_POS, .def = "1024", .hi = 1048576},
    {0}};

static const field recipe_fields[] = {
    {.key = "model", .type = S_STR, .flags = F_REQUIRED},
    {.key = "model_sha256", .type = S_STR, .computed = "the model's hash when the run starts"},
    {.key = "frozen_dtype", .type = S_ENUM, .choices = "auto|bf16|f16|f32", .def = "auto"},
    {.key = "tokenizer", .type = S_STR},
    {.key = "device", .type = S_ENUM, .choices = "cpu|cuda", .def = "cpu"},
    {.key = "precision", .type = S_ENUM, .choices = "fp32|bf16", .def = "fp32"},
    {.key = "threads", .type = S_INT, .range = R_POS, .computed = "all cores", .hi = 1024},
    {.key = "data", .type = S_MAP, .flags = F_REQUIRED, .sub = data_fields},
    {.key = "policy",
     .type = S_MAP,
     .sub = script_fields,
     .computed = "none: every layer, the embeddings, final norm and head train"},
    {.key = "trace", .type = S_MAP, .flags = F_CREATE, .sub = trace_fields},
    {.key = "lora", .type = S_MAP, .sub = lora_fields},
    {.key = "train", .type = S_MAP, .flags = F_CREATE, .sub = train_fields},
    {.key = "eval", .type = S_MAP, .sub = eval_fields},
    {.key = "output", .type = S_MAP, .flags = F_CREATE, .sub = output_fields},
    {.key = "sandbox", .type = S_MAP, .flags = F_CREATE, .sub = sandbox_fields},
    {0}};

/* --- collecting errors --------------------------------------------------- */

typedef struct sctx {
  lua_State *L;
  int nerr, best; /* best: stack slot of the first message in file order */
  char bfile[512];
  long bline, bcol;
  char path[512]; /* dotted key of the value being checked */
} sctx;

/* splits "file:line:col"; a position without line:col sorts last */
static void split_pos(const char *pos, char *file, size_t n, long *line,
                      long *col) {
  const char *c2 = strrchr(pos, ':'), *c1 = NULL;
  *line = *col = LONG_MAX;
  snprintf(file, n, "%s", pos);
  if (!c2) return;
  for (const char *p = c2 - 1; p >= pos; p--)
    if (*p == ':') {
      c1 = p;
      break;
    }
  char *e1, *e2;
  if (!c1) return;
  long l = strtol(c1 + 1, &e1, 10), c = strtol(c2 + 1, &e2, 10);
  if (e1 != c2 || *e2 || e1 == c1 + 1 || e2 == c2 + 1) return;
  *line = l, *col = c;
  snprintf(file, n, "%.*s", (int)(c1 - pos), pos);
}

static void report(sctx *s, const char *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(sctx *s, const char *pos, const char *fmt, ...) {
  char msg[768], file[512];
  long line, col;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s->nerr++;
  split_pos(pos, file, sizeof file, &line, &col);
  int c = s->nerr == 1 ? -1 : strcmp(file, s->bfile);
  if (c > 0 ||
      (c == 0 && (line > s->bline || (line == s->bline && col >= s->bcol))))
    return;
  snprintf(s->bfile, sizeof s->bfile, "%s", file);
  s->bline = line, s->bcol = col;
  lua_pushfstring(s->L, "%s: %s", pos, msg);
  lua_replace(s->L, s->best);
}

/* --- describing values --------------------------------------------------- */

static void describe(lua_State *L, int v, char *buf, size_t n) {
  switch (lua_type(L, v)) {
  case LUA_TSTRING: {
    size_t len;
    const char *str = lua_tolstring(L, v, &len);
    snprintf(buf, n, "string \"%.40s%s\"", str, len > 40 ? "..." : "");
    break;
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, v))
      snprintf(buf, n, "int %lld", (long long)lua_tointeger(L, v));
    else
      snprintf(buf, n, "number %g", lua_tonumber(L, v));
    break;
  case LUA_TBOOLEAN:
    snprintf(buf, n, "bool %s", lua_toboolean(L, v) ? "true" : "false");
    break;
  case LUA_TTABLE: {
    int k = sl_table_kind(L, v);
    snprintf(buf, n, "%s",
             k == SL_KIND_LIST  ? "list"
             : k == SL_KIND_MAP ? "map"
                                : "empty table");
    break;
  }
  default: snprintf(buf, n, "%s", luaL_typename(L, v));
  }
}

static const char *type_name(const field *f, char *buf, size_t n) {
  const char *range = f->range == R_NONNEG ? " >= 0"
                      : f->range == R_POS
                          ? (f->type == S_INT ? " >= 1" : " > 0")
                      : f->range == R_UNIT ? " in [0, 1)"
                                           : "";
  switch (f->type) {
  case S_STR: return "string";
  case S_INT:
    snprintf(buf, n, "int in %d..%lld", f->range == R_POS ? 1 : 0, f->hi);
    return buf;
  case S_NUM: snprintf(buf, n, "number%s", range); return buf;
  case S_BOOL: return "bool (true or false)";
  case S_ENUM: snprintf(buf, n, "one of %s", f->choices); return buf;
  case S_STR_OR_INT: return "string or int";
  case S_LIST: return f->flags & F_NONEMPTY ? "non-empty list" : "list";
  default: return "map";
  }
}

/* --- suggestions for unknown keys ---------------------------------------- */

/* optimal string alignment distance: edits, with a swap of neighbours
 * counting as one ("stpes" -> "steps") */
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 40 || lb > 40) return 99;
  int d[41][41];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* the dotted path of a field named `key` anywhere in the schema */
static int find_anywhere(const field *fs, const char *key, char *out, size_t n,
                         const char *prefix) {
  for (const field *f = fs; f->key; f++) {
    char here[256];
    snprintf(here, sizeof here, "%s%s%s", prefix, *prefix ? "." : "", f->key);
    if (!strcmp(f->key, key)) return snprintf(out, n, "%s", here), 1;
    if (f->type == S_MAP && find_anywhere(f->sub, key, out, n, here)) return 1;
  }
  return 0;
}

/* a key that exists elsewhere is most likely misplaced; else a close
 * spelling here (at most 2 edits, and fewer than half the key) */
static void suggest(const field *fs, const char *key, char *out, size_t n) {
  char where[256];
  out[0] = 0;
  if (find_anywhere(recipe_fields, key, where, sizeof where, "")) {
    snprintf(out, n, " (it belongs at '%s')", where);
    return;
  }
  const char *best = NULL;
  int bd = 3;
  for (const field *f = fs; f->key; f++) {
    int d = edit_distance(key, f->key);
    if (d < bd && 2 * d < (int)strlen(key)) bd = d, best = f->key;
  }
  if (best) snprintf(out, n, " (did you mean '%s'?)", best);
}

/* --- the walk ------------------------------------------------------------ */

/* pushes where t[key] (stack index) was written, else `fallback` */
static const char *push_where(lua_State *L, int t, int key, int which,
                              const char *fallback) {
  sl_where(L, t, key, which);
  if (which == SL_WHERE_KEY && lua_isnil(L, -1)) {
    lua_pop(L, 1);
    sl_where(L, t, key, SL_WHERE_VALUE);
  }
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushstring(L, fallback);
  }
  return lua_tostring(L, -1);
}

static void check_map(sctx *s, const field *fs, int t, const char *tpos);

/* appends ".key" or "[i]" to s->path; returns the old length */
static size_t path_push(sctx *s, lua_State *L, int key) {
  size_t len = strlen(s->path);
  if (lua_isinteger(L, key) && len)
    snprintf(s->path + len, sizeof s->path - len, "[%lld]",
             (long long)lua_tointeger(L, key));
  else
    snprintf(s->path + len, sizeof s->path - len, "%s%s", len ? "." : "",
             luaL_tolstring(L, key, NULL)),
        lua_pop(L, 1);
  return len;
}

static int in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, v, n)) return 1;
    if (!bar) break;
    p = bar + 1;
  }
  return 0;
}

/* integral floats -> ints, in place (t[key] = v); 0 when not integral */
static int to_int(lua_State *L, int t, int key, int v) {
  if (lua_isinteger(L, v)) return 1;
  double d = lua_tonumber(L, v);
  if (d != floor(d) || fabs(d) >= 9.2e18) return 0;
  lua_pushvalue(L, key);
  lua_pushinteger(L, (lua_Integer)d);
  lua_rawset(L, t);
  return 1;
}

static int in_range(const field *f, double d) {
  if (f->type == S_INT && d > (double)f->hi) return 0;
  switch (f->range) {
  case R_NONNEG: return d >= 0;
  case R_POS: return f->type == S_INT ? d >= 1 : d > 0;
  case R_UNIT: return d >= 0 && d < 1;
  default: return 1;
  }
}

/* checks t[key] (key at stack index) against f */
static void check_value(sctx *s, const field *f, int t, int key,
                        const char *tpos) {
  lua_State *L = s->L;
  int top = lua_gettop(L);
  luaL_checkstack(L, 10, "checking a recipe");
  lua_pushvalue(L, key);
  lua_rawget(L, t);
  int v = top + 1, ty = lua_type(L, v);
  const char *pos = push_where(L, t, key, SL_WHERE_VALUE, tpos);
  size_t plen = path_push(s, L, key);
  char got[96], want[96];
  describe(L, v, got, sizeof got);
  int ok = 1;
  switch (f->type) {
  case S_STR: ok = ty == LUA_TSTRING; break;
  case S_BOOL: ok = ty == LUA_TBOOLEAN; break;
  case S_NUM: /* .inf and .nan parse as YAML floats but are no setting */
    ok = ty == LUA_TNUMBER && isfinite(lua_tonumber(L, v)) && in_range(f, lua_tonumber(L, v));
    break;
  case S_INT:
    ok = ty == LUA_TNUMBER && to_int(L, t, key, v) &&
         in_range(f, lua_tonumber(L, v));
    break;
  case S_STR_OR_INT:
    ok = ty == LUA_TSTRING || (ty == LUA_TNUMBER && to_int(L, t, key, v));
    break;
  case S_ENUM:
    ok = ty == LUA_TSTRING && in_choices(f->choices, lua_tostring(L, v));
    break;
  case S_LIST: {
    ok = ty == LUA_TTABLE && sl_table_kind(L, v) != SL_KIND_MAP &&
         (!(f->flags & F_NONEMPTY) || lua_rawlen(L, v) > 0);
    if (!ok) break;
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, v); i++) {
      lua_pushinteger(L, i);
      check_value(s, f->sub, v, lua_gettop(L), pos);
      lua_pop(L, 1);
    }
    break;
  }
  case S_MAP:
  case S_ANY_MAP:
  case S_DICT: {
    ok = ty == LUA_TTABLE && sl_table_kind(L, v) != SL_KIND_LIST;
    if (!ok) break;
    if (f->type == S_MAP) {
      check_map(s, f->sub, v, push_where(L, v, 0, 0, pos));
      lua_pop(L, 1);
    } else if (f->type == S_DICT) {
      lua_pushnil(L);
      while (lua_next(L, v)) {
        lua_pop(L, 1);
        int k = lua_gettop(L);
        if (lua_type(L, k) != LUA_TSTRING &&
            !(f->keys == S_STR_OR_INT && lua_isinteger(L, k))) {
          char kd[96];
          describe(L, k, kd, sizeof kd);
          report(s, push_where(L, v, k, SL_WHERE_KEY, pos),
                 "key '%s': keys must be %s, got %s", s->path,
                 f->keys == S_STR ? "strings" : "strings or ints", kd);
          lua_pop(L, 1);
          continue;
        }
        check_value(s, f->sub, v, k, pos);
      }
    }
    break;
  }
  }
  if (!ok)
    report(s, pos, "key '%s': expected %s, got %s", s->path,
           type_name(f, want, sizeof want), got);
  s->path[plen] = 0;
  lua_settop(L, top);
}

/* fills t[f->key] with the field's default (or a fresh section) */
static void fill_default(sctx *s, const field *f, int t) {
  lua_State *L = s->L;
  lua_pushstring(L, f->key);
  int key = lua_gettop(L);
  lua_pushvalue(L, key);
  if (f->def) {
    sl_yaml_load_string(L, f->def, strlen(f->def), "(default)", 1);
  } else {
    lua_newtable(L);
    sl_meta_push(L, -1, 1);
    lua_pushliteral(L, "(default)");
    lua_setfield(L, -2, "pos");
    lua_pop(L, 1);
  }
  lua_rawset(L, t);
  sl_meta_set(L, t, key, "(default)", "(default)");
  if (f->type == S_MAP) {
    size_t plen = path_push(s, L, key);
    lua_pushvalue(L, key);
    lua_rawget(L, t);
    check_map(s, f->sub, lua_gettop(L), "(default)");
    s->path[plen] = 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void check_map(sctx *s, const field *fs, int t, const char *tpos) {
  lua_State *L = s->L;
  t = lua_absindex(L, t);
  int top = lua_gettop(L);
  /* unknown keys */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int k = lua_gettop(L);
    const field *f = NULL;
    if (lua_type(L, k) == LUA_TSTRING)
      for (f = fs; f->key && strcmp(f->key, lua_tostring(L, k)); f++) {
      }
    if (f && f->key) continue;
    if (fs == recipe_fields && lua_type(L, k) == LUA_TSTRING &&
        lua_tostring(L, k)[0] == '_')
      continue; /* top-level _keys: scratch space for YAML anchors */
    size_t plen = path_push(s, L, k);
    char hint[300];
    suggest(fs, strrchr(s->path, '.') ? strrchr(s->path, '.') + 1 : s->path,
            hint, sizeof hint);
    report(s, push_where(L, t, k, SL_WHERE_KEY, tpos), "unknown key '%s'%s",
           s->path, hint);
    lua_pop(L, 1);
    s->path[plen] = 0;
  }
  /* known keys, in schema order */
  for (const field *f = fs; f->key; f++) {
    lua_pushstring(L, f->key);
    int key = lua_gettop(L);
    lua_pushvalue(L, key);
    int present = lua_rawget(L, t) != LUA_TNIL;
    lua_pop(L, 1);
    if (present) {
      check_value(s, f, t, key, tpos);
    } else if (f->flags & F_REQUIRED) {
      size_t len = strlen(s->path);
      report(s, tpos, "key '%s%s%s' is required", s->path, len ? "." : "",
             f->key);
    } else if (f->def || (f->flags & F_CREATE)) {
      fill_default(s, f, t);
    }
    lua_settop(L, top);
  }
}

void sl_schema_check(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx) || sl_table_kind(L, idx) == SL_KIND_LIST)
    sl_errorf(L, "a recipe is a map of keys, not a %s",
                  lua_istable(L, idx) ? "list" : luaL_typename(L, idx));
  sctx s = {.L = L};
  lua_pushnil(L);
  s.best = lua_gettop(L);
  const char *tpos = push_where(L, idx, 0, 0, "recipe");
  check_map(&s, recipe_fields, idx, tpos);
  if (!s.nerr) {
    lua_settop(L, s.best - 1);
    return;
  }
  if (s.nerr > 1)
    lua_pushfstring(L, "%s (and %d more error%s)", lua_tostring(L, s.best),
                    s.nerr - 1, s.nerr > 2 ? "s" : "");
  else
    lua_pushvalue(L, s.best);
  lua_error(L);
}

/* --- the schema as data -------------------------------------------------- */

/* the field at a dotted key, or NULL */
static const field *find_field(const char *dotted) {
  const field *fs = recipe_fields;
  char part[64];
  for (const char *p = dotted;;) {
    const char *dot = strchr(p, '.');
    snprintf(part, sizeof part, "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
    const field *f = fs;
    while (f->key && strcmp(f->key, part)) f++;
    if (!f->key) return NULL;
    if (!dot) return f;
    if (f->type != S_MAP) return NULL;
    fs = f->sub;
    p = dot + 1;
  }
}

void sl_schema_push_default(lua_State *L, const char *dotted) {
  const field *f = find_field(dotted);
  if (f && f->def) sl_yaml_load_string(L, f->def, strlen(f->def), "(default)", 1);
  else lua_pushnil(L);
}

static void push_fields(lua_State *L, const field *fs, const char *prefix) {
  for (const field *f = fs; f->key; f++) {
    char key[256], desc[128];
    snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", f->key);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, key);
    lua_setfield(L, -2, "key");
    lua_pushstring(L, type_name(f, desc, sizeof desc));
    lua_setfield(L, -2, "type");
    if (f->def) {
      lua_pushstring(L, f->def);
      lua_setfield(L, -2, "default");
    }
    if (f->computed) {
      lua_pushstring(L, f->computed);
      lua_setfield(L, -2, "computed");
    }
    lua_pushboolean(L, (f->flags & F_REQUIRED) != 0);
    lua_setfield(L, -2, "required");
    lua_pushboolean(L, (f->flags & F_CREATE) != 0);
    lua_setfield(L, -2, "created");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    if (f->type == S_MAP) push_fields(L, f->sub, key);
  }
}

/* strata.schema() -> {{key = "train.lr", type =, default = YAML text,
 * computed = description, required = bool, created = bool (a section
 * that always exists)}, ...} in schema order */
static int l_schema(lua_State *L) {
  lua_newtable(L);
  push_fields(L, recipe_fields, "");
  return 1;
}

const luaL_Reg sl_schema_funcs[] = {
    {"schema", l_schema},
    {NULL, NULL},
};
