/* cache.h - where derived, re-computable files live (token cache, pinv
 * cache): $STRATA_CACHE, else $XDG_CACHE_HOME/strata, else ~/.cache/strata. */
#ifndef ST_CACHE_H
#define ST_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* out = <cache dir>/<name>; creates the folders up to it. */
int st_cache_path(const char *name, char *out, size_t n);
/* 64-bit FNV-1a, for cache keys */
uint64_t st_fnv1a(const void *data, size_t n, uint64_t h);
#define ST_FNV_INIT 0xcbf29ce484222325ull

#endif
