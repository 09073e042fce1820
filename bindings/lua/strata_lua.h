/* strata_lua.h - the Lua side of strata: the `strata` module, the YAML recipe
 * loader, the recipe schema and the sandbox for recipe scripts.
 *
 * Lua-facing functions live in one file per concept; each file exports one
 * luaL_Reg list and luaopen_strata (module.c) registers them all. To add
 * `strata.foo`, write foo_lua.c with `const luaL_Reg sl_foo_funcs[]`,
 * declare the list in a header and add it to module.c's list.
 *
 * Prefix sl_ ("strata Lua"): st_ is the core's. Two kinds of C functions,
 * and every declaration in this layer's headers says which it is:
 *   [raises]  reports failure with lua_error; call it only from a Lua C
 *             function or under lua_pcall (the Lua-facing functions, the
 *             YAML loader, the schema check, sl_check_* of userdata);
 *   otherwise it returns ST_OK, or ST_ERR with st_err set, like the core,
 *             and never raises (memory errors of the Lua API aside): the
 *             runner, recipe loading for C callers, the sandbox, plan
 *             conversion. These wrap any Lua work in a protected call. */
#ifndef SL_STRATA_LUA_H
#define SL_STRATA_LUA_H

#include <lauxlib.h>
#include <lua.h>

#define STRATA_VERSION "0.1.0"

/* --- module (module.c) --------------------------------------------------- */
int luaopen_strata(lua_State *L);
extern const luaL_Reg sl_yaml_funcs[];    /* yaml_load, where */
extern const luaL_Reg sl_recipe_funcs[];  /* load_recipe, check_recipe */
extern const luaL_Reg sl_schema_funcs[];  /* schema: every key, its type and default */
extern const luaL_Reg sl_sandbox_funcs[]; /* sandbox, run_script */

/* --- running scripts (script.c) ------------------------------------------ */
/* `strata lua script.lua args...`: a fresh state with the full standard
 * library and `require "strata"`; the script gets the args as `...` and in
 * the global `arg` (arg[0] = script). The top-level script is trusted like
 * `lua script.lua`; `unsafe` makes the sandboxes it creates for recipe
 * scripts unrestricted too (--unsafe-lua); `threads_fixed` (--threads was
 * given) makes every strata.run keep that thread count over its recipe's.
 * A Lua error becomes st_err with "file:line: message" and the traceback. */
int sl_run_file(const char *script, int argc, char **argv, int unsafe,
                int threads_fixed);
/* lua_pcall with a traceback message handler; on error sets st_err to the
 * message + traceback, pops it and returns ST_ERR. */
int sl_pcall(lua_State *L, int nargs, int nresults);
/* message handler: appends luaL_traceback to the error message */
int sl_traceback(lua_State *L);
/* [raises] a Lua error formatted with the C printf (luaL_error's format lacks
 * %.*s, %g, %zu); messages longer than 1 KiB are cut */
int sl_errorf(lua_State *L, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* --- limits (limits.c) --------------------------------------------------- */
/* luaL_newstate, allocating through a counter so a memory cap can be set;
 * close it with sl_close (NULL: out of memory) */
lua_State *sl_newstate(void);
/* lua_close under an instruction budget of SL_CLOSE_BUDGET, so a looping
 * __gc cannot keep the process from exiting; frees what sl_newstate made */
void sl_close(lua_State *L);
#define SL_CLOSE_BUDGET 100000000LL
/* caps the state's memory at what it holds now plus `extra` bytes (0: no
 * cap); returns the previous cap for sl_memory_cap_restore. A state not
 * made by sl_newstate is not capped (returns 0). An allocation over the
 * cap fails, and Lua raises "not enough memory". */
size_t sl_memory_cap(lua_State *L, size_t extra);
void sl_memory_cap_restore(lua_State *L, size_t cap);
/* 1 when an allocation was refused for the cap since it was set */
int sl_memory_cap_hit(lua_State *L);
/* an instruction budget for the Lua code that runs until sl_budget_end: the
 * code that overruns it raises "ran past its instruction budget of N" (and
 * so does any code after it, until sl_budget_end); sl_budget_end returns 1
 * when the budget was overrun, even if a script caught the error */
void sl_budget_begin(lua_State *L, long long n);
int sl_budget_end(lua_State *L);

/* --- YAML (yaml.c) ------------------------------------------------------- */
/* [raises] Parses YAML into plain Lua tables and scalars (null -> nil, true/false,
 * integers, floats incl .inf/.nan, quoted -> strings; anchors, aliases and
 * `<<` merge keys resolved; duplicate keys are errors) and pushes the value
 * (nil for an empty document). Raises "file:line:col: ..." on error. `name`
 * labels positions; with nopos != 0 positions are just `name` (used for
 * --set values). */
void sl_yaml_load_file(lua_State *L, const char *path);
void sl_yaml_load_string(lua_State *L, const char *s, size_t n,
                         const char *name, int nopos);

/* Source positions live in a weak side table (table -> meta), so values
 * stay plain tables. meta = { pos = "f:l:c" of the table itself,
 * seq = true for YAML sequences, k = {key -> pos of the key},
 * v = {key -> pos of the value} }. A key with a v entry but a nil value was
 * an explicit null (so `key: ~` can delete a base recipe's key). */
enum { SL_WHERE_VALUE, SL_WHERE_KEY };
/* pushes the meta table of the table at t, creating it when create != 0
 * (else pushes nil when there is none) */
void sl_meta_push(lua_State *L, int t, int create);
/* records positions for t[key]; key is at stack index k; either may be NULL */
void sl_meta_set(lua_State *L, int t, int k, const char *kpos,
                 const char *vpos);
/* pushes where t[key] (or with k == 0 the table itself) came from, or nil */
void sl_where(lua_State *L, int t, int k, int which);
/* what the table at t is: a YAML sequence or mapping by its record; a table
 * built in Lua is a list when its keys are exactly 1..n, and an empty one
 * can be either */
enum { SL_KIND_EMPTY, SL_KIND_LIST, SL_KIND_MAP };
int sl_table_kind(lua_State *L, int t);
/* copy position records of src[skey] to dst[dkey] (stack indices) */
void sl_meta_copy(lua_State *L, int dst, int dkey, int src, int skey);
/* pushes a deep copy of the value at idx, position records included */
void sl_deepcopy(lua_State *L, int idx);

/* --- recipes (recipe.c, schema.c) ---------------------------------------- */
/* Loads a recipe: YAML, include/extends (base first, child deep-merged over
 * it: maps merge, lists and scalars replace), then `sets` overrides
 * ("a.b.c=value", value typed as YAML), then the schema check with defaults.
 * Pushes the table and returns ST_OK, or returns ST_ERR with st_err set. */
int sl_recipe_load(lua_State *L, const char *path, int nsets,
                   const char *const *sets);
/* the same for a recipe table built in Lua (idx): pushes a checked deep
 * copy with `sets` applied; the table itself is not changed */
int sl_recipe_check_table(lua_State *L, int idx, int nsets,
                          const char *const *sets);
/* [raises] the same, for the Lua binding; overrides: table at
 * index `ov` (0: none) with "k=v" strings in its list part and
 * ["dotted.key"] = value in its hash part */
void sl_recipe_load_l(lua_State *L, const char *path, int ov);
/* [raises] checks the recipe table at idx against the schema, fills
 * defaults, raises
 * "file:line:col: key 'train.lr': expected number, got string \"abc\"" */
void sl_schema_check(lua_State *L, int idx);
/* The schema is the one home of recipe defaults: pushes the default of a
 * dotted key ("train.lr") as its value, or nil when it has none (or the
 * engine computes it; strata.schema() describes those). */
void sl_schema_push_default(lua_State *L, const char *dotted);


/* --- sandbox (sandbox.c) ------------------------------------------------- */
typedef struct sl_sandbox_opts {
  const char *run_dir;     /* writes allowed only under it; NULL: no writes */
  const char *const *dirs; /* NULL-terminated: extra dirs scripts may load
                              Lua from (the recipe's dir); may be NULL */
  int unsafe;              /* full standard library (--unsafe-lua) */
} sl_sandbox_opts;
/* pushes a fresh environment table for recipe scripts (policies, schedules)
 * and returns ST_OK, or ST_ERR + st_err */
int sl_sandbox_push(lua_State *L, const sl_sandbox_opts *o);
/* loads a text chunk from `path` with env at stack index env (0: globals)
 * and calls it with the traceback handler; pushes its first result.
 * ST_ERR + st_err ("file:line: msg" + traceback) on failure. */
int sl_sandbox_dofile(lua_State *L, const char *path, int env);
/* the directory recipe scripts may require from: $STRATA_SRC/scripts, else
 * the source tree this was built from */
const char *sl_scripts_dir(void);
/* 1 if `path` (existing or to be created) resolves inside directory `dir` */
int sl_path_inside(const char *path, const char *dir);

#endif
