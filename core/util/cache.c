/* cache.c - the cache folder and cache keys (see cache.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "error.h"
#include "fs.h"

int st_cache_path(const char *name, char *out, size_t n) {
  char dir[ST_PATH_MAX];
  const char *c = getenv("STRATA_CACHE"), *x = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (c && *c) snprintf(dir, sizeof dir, "%s", c);
  else if (x && *x) snprintf(dir, sizeof dir, "%s/strata", x);
  else snprintf(dir, sizeof dir, "%s/.cache/strata", home ? home : "/tmp");
  if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
    return st_err("%s/%s: cache path too long", dir, name);
  /* names may hold subfolders ("pinv/<key>.f32") */
  if (st_mkdirs_parent(out)) return st_err_prefix("cache: ");
  return ST_OK;
}

uint64_t st_fnv1a(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
