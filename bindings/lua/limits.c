/* limits.c - what a recipe script may spend: instructions and memory.
 *
 * The sandbox (sandbox.c) decides what a script may reach; these limits
 * decide how much it may run. Without them `while true do end` in a policy
 * hangs `strata plan`, a policy can take all memory, an error object whose
 * __tostring loops hangs the error report, and a __gc that loops keeps the
 * process from exiting.
 *
 * Instructions: a count hook takes HOOK_EVERY instructions at a time off a
 * budget kept in the registry; the call that overruns it raises. Memory: a
 * state made by sl_newstate allocates through a counting allocator whose
 * cap the runner sets for the length of a run (0: no cap). */
#include <stdlib.h>

#include "strata_lua.h"

#define HOOK_EVERY 1000
#define BUDGET_KEY "strata.instruction_budget"
#define BUDGET_SIZE_KEY "strata.instruction_budget_size"

typedef struct alloc_state {
  size_t used, cap; /* bytes held; cap 0: none */
  int hit;          /* an allocation was refused for the cap */
} alloc_state;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  alloc_state *a = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    a->used -= old;
    return NULL;
  }
  if (a->cap && nsize > old && a->used + (nsize - old) > a->cap) {
    a->hit = 1;
    return NULL; /* Lua raises "not enough memory" */
  }
  void *p = realloc(ptr, nsize);
  if (p) a->used = a->used - old + nsize;
  return p;
}

lua_State *sl_newstate(void) {
  alloc_state *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  lua_State *L = lua_newstate(counting_alloc, a);
  if (!L) {
    free(a);
    return NULL;
  }
  return L;
}

void sl_close(lua_State *L) {
  if (!L) return;
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  /* finalizers run in lua_close: a looping __gc must not keep the process
   * from exiting (its error becomes a warning and the close goes on) */
  sl_budget_begin(L, SL_CLOSE_BUDGET);
  lua_close(L);
  if (f == counting_alloc) free(ud);
}

static alloc_state *ours(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == counting_alloc ? ud : NULL;
}

size_t sl_memory_cap(lua_State *L, size_t extra) {
  alloc_state *a = ours(L);
  if (!a) return 0;
  size_t old = a->cap;
  a->cap = extra ? a->used + extra : 0;
  a->hit = 0;
  return old;
}

void sl_memory_cap_restore(lua_State *L, size_t cap) {
  alloc_state *a = ours(L);
  if (a) a->cap = cap;
}

int sl_memory_cap_hit(lua_State *L) {
  alloc_state *a = ours(L);
  return a && a->hit;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_getfield(L, LUA_REGISTRYINDEX, BUDGET_KEY);
  lua_Integer left = lua_tointeger(L, -1) - HOOK_EVERY;
  lua_pop(L, 1);
  lua_pushinteger(L, left);
  lua_setfield(L, LUA_REGISTRYINDEX, BUDGET_KEY);
  if (left > 0) return;
  lua_getfield(L, LUA_REGISTRYINDEX, BUDGET_SIZE_KEY);
  long long size = (long long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  /* once over, every later tick raises too: a script that catches the
   * error with pcall cannot go on */
  sl_errorf(L, "ran past its instruction budget of %lld (a loop that does not "
               "end? sandbox.instructions raises it)", size);
}

void sl_budget_begin(lua_State *L, long long n) {
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, LUA_REGISTRYINDEX, BUDGET_KEY);
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, LUA_REGISTRYINDEX, BUDGET_SIZE_KEY);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

int sl_budget_end(lua_State *L) {
  lua_sethook(L, NULL, 0, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, BUDGET_KEY);
  int over = lua_tointeger(L, -1) <= 0;
  lua_pop(L, 1);
  return over;
}
