/* model_hash.c - a model's content hash, so a run can pin the model it
 * trained from: moving a run folder is fine, a base model that changed
 * under it is refused (run_folder.c, the runner's model_sha256).
 *
 * Hashing 16 GB of an 8B model takes a while, so a file's hash is cached
 * (cache.h) under a key of its real path, device, inode, size and mtime:
 * rewriting the file changes the key, and the hash is computed again. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "error.h"
#include "model_io.h"
#include "sha256.h"

static int file_sha256(const char *path, char hex[65]) {
  struct stat sb;
  char real[ST_PATH_MAX], cp[ST_PATH_MAX];
  if (stat(path, &sb) != 0) return st_err("%s: %s", path, strerror(errno));
  if (!realpath(path, real)) return st_err("%s: %s", path, strerror(errno));
  uint64_t k = st_fnv1a(real, strlen(real), ST_FNV_INIT);
  int64_t id[6] = {(int64_t)sb.st_dev, (int64_t)sb.st_ino, (int64_t)sb.st_size,
                   (int64_t)sb.st_mtim.tv_sec, (int64_t)sb.st_mtim.tv_nsec, 1};
  k = st_fnv1a(id, sizeof id, k);
  char name[64];
  snprintf(name, sizeof name, "hash/%016llx", (unsigned long long)k);
  int cached = st_cache_path(name, cp, sizeof cp) == ST_OK;
  if (cached) {
    FILE *f = fopen(cp, "r");
    int ok = f && fread(hex, 1, 64, f) == 64;
    if (f) fclose(f);
    hex[64] = 0;
    if (ok && strspn(hex, "0123456789abcdef") == 64) return ST_OK;
  }
  if (st_sha256_file(path, hex)) return ST_ERR;
  /* a cache that cannot be written costs time, not correctness */
  if (cached) (void)st_write_file_atomic(cp, hex, 64);
  st_err_clear();
  return ST_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* an HF folder: config.json and every *.safetensors, by name */
static int folder_sha256(const char *dir, char hex[65]) {
  DIR *d = opendir(dir);
  if (!d) return st_err("%s: %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0, rc = ST_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (strcmp(e->d_name, "config.json") &&
        (len < 12 || strcmp(e->d_name + len - 12, ".safetensors")))
      continue;
    if (n == cap) {
      char **g = realloc(names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *g);
      if (!g) { rc = st_err("out of memory"); break; }
      names = g;
    }
    if (!(names[n] = strdup(e->d_name))) { rc = st_err("out of memory"); break; }
    n++;
  }
  closedir(d);
  if (rc == ST_OK) qsort(names, (size_t)n, sizeof *names, by_name);
  st_sha256_ctx c;
  st_sha256_init(&c);
  for (int i = 0; i < n && rc == ST_OK; i++) {
    char p[ST_PATH_MAX], h[65];
    rc = st_path_join(p, sizeof p, dir, names[i]);
    if (rc == ST_OK) rc = file_sha256(p, h);
    if (rc == ST_OK) {
      st_sha256_update(&c, names[i], strlen(names[i]) + 1);
      st_sha256_update(&c, h, 64);
    }
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc) return ST_ERR;
  uint8_t out[32];
  st_sha256_final(&c, out);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
  return ST_OK;
}

int st_model_sha256(const char *path, char hex[65]) {
  st_run_ref run;
  if (st_run_resolve(path, &run)) return ST_ERR;
  if (run.is_run) {
    /* a run's model: its base, checkpoint and adapters together */
    const char *parts[3] = {run.base_sha256, run.ckpt, run.lora};
    st_sha256_ctx c;
    st_sha256_init(&c);
    for (int i = 0; i < 3; i++) {
      char h[65];
      if (i == 0) snprintf(h, sizeof h, "%s", parts[0]);
      else if (!parts[i][0]) continue;
      else if (file_sha256(parts[i], h)) return ST_ERR;
      st_sha256_update(&c, h, 64);
    }
    uint8_t out[32];
    st_sha256_final(&c, out);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
    return ST_OK;
  }
  struct stat sb;
  if (stat(path, &sb) != 0) return st_err("%s: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) return folder_sha256(path, hex);
  size_t n = strlen(path);
  if (n >= 11 && !strcmp(path + n - 11, "config.json")) {
    char dir[ST_PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(n - 11), path);
    return folder_sha256(dir[0] ? dir : ".", hex);
  }
  return file_sha256(path, hex);
}
