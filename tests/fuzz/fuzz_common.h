/* fuzz_common.h - the temp folder each harness works in, and writing the
 * fuzz input into it. Every harness writes only under its own folder
 * ($TMPDIR or /tmp, strata_fuzz_XXXXXX), which is also its STRATA_CACHE so a
 * loader that caches cannot write elsewhere; the folder is removed at exit. */
#ifndef ST_FUZZ_COMMON_H
#define ST_FUZZ_COMMON_H
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fz_dir[512];

static inline int fz_rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}
static inline void fz_cleanup(void) {
  if (fz_dir[0]) nftw(fz_dir, fz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* the harness's folder, created on first use */
static const char *fz_tmp(void) {
  if (!fz_dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(fz_dir, sizeof fz_dir, "%s/strata_fuzz_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fz_dir)) {
      perror("mkdtemp");
      abort();
    }
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", fz_dir);
    setenv("STRATA_CACHE", cache, 1);
    setenv("XDG_CACHE_HOME", cache, 1);
    atexit(fz_cleanup);
  }
  return fz_dir;
}

/* dir/name into out (static buffers, four in rotation) */
static const char *fz_path(const char *name) {
  static char p[4][700];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", fz_tmp(), name);
  return p[k];
}

static inline void fz_write(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n)) {
    perror(path);
    abort();
  }
  fclose(f);
}

/* writes the input to dir/name and returns the path */
static const char *fz_put(const char *name, const uint8_t *data, size_t n) {
  const char *p = fz_path(name);
  fz_write(p, data, n);
  return p;
}

/* splits the input at its first NUL into two files of the folder `dir`
 * (created on first use) and returns the folder's path; *n1 is the first
 * file's length */
static const char *fz_split_files(const char *dir, const char *first, const char *second,
                                  const uint8_t *data, size_t size, size_t *n1) {
  static char path[700];
  char name[300];
  snprintf(path, sizeof path, "%s", fz_path(dir));
  mkdir(path, 0755);
  const uint8_t *z = memchr(data, 0, size);
  *n1 = z ? (size_t)(z - data) : size;
  size_t off2 = z ? *n1 + 1 : size;
  snprintf(name, sizeof name, "%s/%s", dir, first);
  fz_put(name, data, *n1);
  snprintf(name, sizeof name, "%s/%s", dir, second);
  fz_put(name, data + off2, size - off2);
  return path;
}

#endif
