/* dataset_cache.c - the token cache: a tokenized dataset in one binary file,
 * named by a key that hashes everything the tokens depend on (dataset.c).
 *
 * Layout (little-endian, as written by this machine):
 *   "STRATADS" u32 version u32 flags(1: prompt_len) u64 key
 *   i32 n T K pad n_truncated n_skipped   i64 n_cand   u64 strings_bytes
 *   strings: K x (u32 len, label bytes, u32 len, verbalizer bytes)
 *   i32 tok[n*T] tgt[n*T] (prompt_len[n]) (label[n] i64 cand_off[n*K+1]
 *   i32 cand[n_cand]) ... u64 FNV-1a of all bytes before it.
 * A file that fails any check (magic, version, key, size, checksum, ranges)
 * is reported and rebuilt; it is written to a temporary name and renamed,
 * so a crash never leaves a half-written cache under the real name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dataset_internal.h"
#include "error.h"
#include "fs.h"

#define MAGIC "STRATADS"
#define VERSION 1u
#define HEADER 64

typedef struct {
  char magic[8];
  uint32_t version, flags;
  uint64_t key;
  int32_t n, T, K, pad, n_trunc, n_skip;
  int64_t n_cand;
  uint64_t sbytes;
} header;
_Static_assert(sizeof(header) == HEADER, "cache header layout");

static int put(FILE *f, const void *p, size_t n, uint64_t *h) {
  *h = st_fnv1a(p, n, *h);
  return fwrite(p, 1, n, f) == n ? ST_OK : ST_ERR;
}

int ds_cache_write(const st_dataset *ds, const char *path, uint64_t key) {
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  if (!f) return ST_ERR;
  size_t nT = (size_t)ds->n * ds->T, nK = (size_t)ds->n * ds->n_classes;
  header hd = {MAGIC, VERSION, ds->prompt_len ? 1u : 0u, key, ds->n, ds->T,
               ds->n_classes, ds->pad, ds->n_truncated, ds->n_skipped,
               ds->n_classes ? ds->cand_off[nK] : 0, 0};
  for (int k = 0; k < ds->n_classes; k++)
    hd.sbytes += 8 + strlen(ds->classes[k]) + strlen(ds->verbalizers[k]);
  uint64_t h = ST_FNV_INIT;
  int bad = put(f, &hd, sizeof hd, &h);
  for (int k = 0; k < ds->n_classes; k++) {
    const char *s[2] = {ds->classes[k], ds->verbalizers[k]};
    for (int j = 0; j < 2; j++) {
      uint32_t len = (uint32_t)strlen(s[j]);
      bad |= put(f, &len, 4, &h) | put(f, s[j], len, &h);
    }
  }
  bad |= put(f, ds->tok, nT * 4, &h) | put(f, ds->tgt, nT * 4, &h);
  if (ds->prompt_len) bad |= put(f, ds->prompt_len, (size_t)ds->n * 4, &h);
  if (ds->n_classes)
    bad |= put(f, ds->label, (size_t)ds->n * 4, &h) |
           put(f, ds->cand_off, (nK + 1) * 8, &h) |
           put(f, ds->cand, (size_t)hd.n_cand * 4, &h);
  uint64_t sum = h;
  bad |= put(f, &sum, 8, &h);
  if (bad) {
    int e = errno;
    st_atomic_abort(&a);
    return st_err("%s: write failed: %s", path, strerror(e));
  }
  return st_atomic_commit(&a);
}

/* ------------------------------------------------------------------ read */

typedef struct { const char *p; size_t left; } cursor;

static const void *take(cursor *c, size_t n) {
  if (n > c->left) return NULL;
  const void *p = c->p;
  c->p += n;
  c->left -= n;
  return p;
}

static void *dup_arr(cursor *c, size_t n) {
  const void *src = take(c, n);
  void *d = src ? malloc(n ? n : 1) : NULL;
  if (d) memcpy(d, src, n);
  return d;
}

#define STALE(...) (snprintf(why, whyn, __VA_ARGS__), rc = 0)

int ds_cache_read(st_dataset *ds, const char *path, uint64_t key, char *why,
                  size_t whyn) {
  why[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char *buf = NULL;
  long sz = -1;
  if (fseek(f, 0, SEEK_END) == 0) sz = ftell(f);
  if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)sz + 1)) &&
      fread(buf, 1, (size_t)sz, f) != (size_t)sz)
    sz = -1;
  fclose(f);
  int rc = 1;
  header hd;
  if (!buf || sz < 0) {
    STALE("unreadable");
    goto done;
  }
  if ((size_t)sz < HEADER + 8) {
    STALE("truncated (%ld bytes)", sz);
    goto done;
  }
  memcpy(&hd, buf, sizeof hd);
  if (memcmp(hd.magic, MAGIC, 8)) { STALE("bad magic"); goto done; }
  if (hd.version != VERSION) { STALE("version %u", hd.version); goto done; }
  if (hd.key != key) { STALE("key mismatch"); goto done; }
  if (hd.n < 0 || hd.T < 1 || hd.K < 0 || hd.K > 100000 || hd.n_cand < 0 ||
      hd.flags > 1) {
    STALE("bad header");
    goto done;
  }
  uint64_t nT = (uint64_t)hd.n * (uint64_t)hd.T, nK = (uint64_t)hd.n * hd.K;
  uint64_t want = HEADER + hd.sbytes + nT * 8 + (hd.flags ? hd.n * 4ull : 0) +
                  (hd.K ? hd.n * 4ull + (nK + 1) * 8 + hd.n_cand * 4ull : 0) + 8;
  if (hd.sbytes > (uint64_t)sz || nT > (uint64_t)sz ||
      (uint64_t)hd.n_cand > (uint64_t)sz || want != (uint64_t)sz) {
    STALE("size %ld, expected %llu", sz, (unsigned long long)want);
    goto done;
  }
  uint64_t sum;
  memcpy(&sum, buf + sz - 8, 8);
  if (st_fnv1a(buf, (size_t)sz - 8, ST_FNV_INIT) != sum) {
    STALE("checksum mismatch");
    goto done;
  }
  memset(ds, 0, sizeof *ds);
  ds->n = hd.n;
  ds->T = hd.T;
  ds->n_classes = hd.K;
  ds->pad = hd.pad;
  ds->n_truncated = hd.n_trunc;
  ds->n_skipped = hd.n_skip;
  cursor c = {buf + HEADER, (size_t)sz - HEADER - 8};
  if (hd.K) {
    ds->classes = calloc((size_t)hd.K, sizeof *ds->classes);
    ds->verbalizers = calloc((size_t)hd.K, sizeof *ds->verbalizers);
    if (!ds->classes || !ds->verbalizers) goto oom;
    for (int k = 0; k < hd.K; k++)
      for (int j = 0; j < 2; j++) {
        const uint32_t *len = take(&c, 4);
        uint32_t l;
        if (len) memcpy(&l, len, 4);
        const char *s = len ? take(&c, l) : NULL;
        char *d = s ? strndup(s, l) : NULL;
        if (!d) { st_dataset_free(ds); STALE("bad strings"); goto done; }
        (j ? ds->verbalizers : ds->classes)[k] = d;
      }
  }
  ds->tok = dup_arr(&c, nT * 4);
  ds->tgt = dup_arr(&c, nT * 4);
  if (!ds->tok || !ds->tgt) goto oom;
  if (hd.flags && !(ds->prompt_len = dup_arr(&c, (size_t)hd.n * 4))) goto oom;
  if (hd.K) {
    ds->label = dup_arr(&c, (size_t)hd.n * 4);
    ds->cand_off = dup_arr(&c, (nK + 1) * 8);
    ds->cand = dup_arr(&c, (size_t)hd.n_cand * 4);
    if (!ds->label || !ds->cand_off || !ds->cand) goto oom;
  }
  /* ranges the rest of the code relies on */
  int ok = c.left == 0;
  for (int i = 0; ok && i < hd.n; i++) {
    if (ds->prompt_len)
      ok = ds->prompt_len[i] >= 0 && ds->prompt_len[i] <= hd.T;
    if (ok && hd.K) ok = ds->label[i] >= 0 && ds->label[i] < hd.K;
  }
  for (uint64_t j = 0; ok && hd.K && j < nK; j++)
    ok = ds->cand_off[j] >= 0 && ds->cand_off[j] < ds->cand_off[j + 1];
  if (ok && hd.K) ok = ds->cand_off[0] == 0 && ds->cand_off[nK] == hd.n_cand;
  if (!ok) {
    st_dataset_free(ds);
    STALE("inconsistent contents");
  }
  goto done;
oom:
  st_dataset_free(ds);
  STALE("out of memory");
done:
  free(buf);
  return rc;
}
