/* fuzz_recipe.c - the YAML recipe loader with the schema check:
 * sl_recipe_load on a fresh lua_State (luaL_newstate + luaL_openlibs). */
#include "fuzz_common.h"
#include <lualib.h>

#include "error.h"
#include "strata_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_put("recipe.yaml", data, size);
  lua_State *L = luaL_newstate();
  if (!L) return 0;
  luaL_openlibs(L);
  (void)sl_recipe_load(L, path, 0, NULL);
  lua_close(L);
  return 0;
}
