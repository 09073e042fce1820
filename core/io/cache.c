#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "error.h"

static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r && errno != EEXIST) return -1;
  }
  return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

int st_cache_path(const char *name, char *out, size_t n) {
  char dir[512];
  const char *c = getenv("STRATA_CACHE"), *x = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (c && *c) snprintf(dir, sizeof dir, "%s", c);
  else if (x && *x) snprintf(dir, sizeof dir, "%s/strata", x);
  else snprintf(dir, sizeof dir, "%s/.cache/strata", home ? home : "/tmp");
  if (mkdirs(dir)) return st_err("%s: cannot create cache directory: %s", dir,
                                 strerror(errno));
  if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
    return st_err("%s/%s: cache path too long", dir, name);
  /* names may hold subfolders ("pinv/<key>.f32") */
  char *slash = strrchr(out, '/');
  *slash = 0;
  if (mkdirs(out)) {
    st_err("%s: cannot create cache directory: %s", out, strerror(errno));
    *slash = '/';
    return ST_ERR;
  }
  *slash = '/';
  return ST_OK;
}

uint64_t st_fnv1a(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
