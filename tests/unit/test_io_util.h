/* test_io_util.h - temp folders and raw files for the IO tests. */
#ifndef ST_TEST_IO_UTIL_H
#define ST_TEST_IO_UTIL_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}
static void rmtree(const char *d) { nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* a fresh folder under /tmp; removed by rmtree at the end of the test */
static const char *tmpdir(char *buf) {
  strcpy(buf, "/tmp/strata_io_XXXXXX");
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    exit(1);
  }
  return buf;
}

static const char *pjoin(char *out, const char *dir, const char *name) {
  snprintf(out, 512, "%s/%s", dir, name);
  return out;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) {
    perror(path);
    exit(1);
  }
  fclose(f);
}
static void write_str(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

/* a safetensors file from a literal header and data bytes (no padding) */
static void write_sft_raw(const char *path, const char *header, const void *data,
                          size_t n) {
  size_t h = strlen(header);
  uint8_t *b = malloc(8 + h + n + 1);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
  memcpy(b + 8, header, h);
  if (n) memcpy(b + 8 + h, data, n);
  write_bytes(path, b, 8 + h + n);
  free(b);
}

static int err_has(const char *needle) { return strstr(st_errmsg(), needle) != NULL; }

/* an error was reported and it names the file and mentions `what` */
#define CHECK_ERR(rc, file, what)                                              \
  do {                                                                         \
    CHECK_MSG((rc) != ST_OK, "expected an error");                             \
    CHECK_MSG(err_has(file) && err_has(what), "message '%s' lacks '%s'/'%s'",  \
              st_errmsg(), file, what);                                        \
  } while (0)

#endif
