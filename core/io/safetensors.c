/* safetensors.c - the safetensors reader and writer (see safetensors.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "half.h"
#include "fs.h"
#include "safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* the Rust reference implementation refuses larger headers too */
#define MAX_HEADER (100u * 1000u * 1000u)

static const char *dtype_name[] = {"F32", "F16", "BF16", "I32"};
static const size_t dtype_size[] = {4, 2, 2, 4};

float st_f16_to_f32(uint16_t h) { return st_half_f16_to_f32(h); }
float st_bf16_to_f32(uint16_t h) { return st_half_bf16_to_f32(h); }
uint16_t st_f32_to_bf16(float f) { return st_half_f32_to_bf16(f); }
uint16_t st_f32_to_f16(float f) { return st_half_f32_to_f16(f); }

/* ------------------------------------------------------------------ */
/* reader                                                              */

void st_sft_close(st_sft *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free(f->t[i].name);
  for (int i = 0; i < f->n_meta; i++) {
    free(f->meta_key[i]);
    free(f->meta_val[i]);
  }
  free(f->t);
  free(f->meta_key);
  free(f->meta_val);
  if (f->map) munmap(f->map, f->map_len);
  free(f);
}

static int parse_meta(st_sft *f, json_t *m) {
  if (!json_is_object(m)) return st_err("%s: __metadata__ is not an object", f->path);
  size_t n = json_object_size(m);
  f->meta_key = st_calloc(n, sizeof(char *));
  f->meta_val = st_calloc(n, sizeof(char *));
  if (!f->meta_key || !f->meta_val) return ST_ERR;
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    if (!json_is_string(v))
      return st_err("%s: __metadata__ value '%s' is not a string", f->path, k);
    f->meta_key[f->n_meta] = strdup(k);
    f->meta_val[f->n_meta] = strdup(json_string_value(v));
    f->n_meta++;
    if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
      return st_err("out of memory");
  }
  return ST_OK;
}

static int parse_tensor(st_sft *f, st_sft_tensor *t, json_t *v) {
  const char *p = f->path, *nm = t->name;
  if (!json_is_object(v)) return st_err("%s: tensor '%s': entry is not an object", p, nm);
  json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
         *of = json_object_get(v, "data_offsets");
  if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(of))
    return st_err("%s: tensor '%s': needs dtype, shape and data_offsets", p, nm);
  const char *ds = json_string_value(dt);
  int d = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(ds, dtype_name[i])) d = i;
  if (d < 0)
    return st_err("%s: tensor '%s': unsupported dtype %s (strata reads F32, "
                  "F16, BF16, I32)", p, nm, ds);
  t->dtype = (st_sft_dtype)d;
  if (json_array_size(sh) > ST_SFT_MAXDIM)
    return st_err("%s: tensor '%s': %zu dimensions (at most %d)", p, nm,
                  json_array_size(sh), ST_SFT_MAXDIM);
  t->ndim = (int)json_array_size(sh);
  size_t numel = 1;
  for (int i = 0; i < t->ndim; i++) {
    json_t *x = json_array_get(sh, i);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
      return st_err("%s: tensor '%s': shape entries must be non-negative "
                    "integers", p, nm);
    t->shape[i] = json_integer_value(x);
    if (__builtin_mul_overflow(numel, (size_t)t->shape[i], &numel))
      return st_err("%s: tensor '%s': shape too large", p, nm);
  }
  t->numel = numel;
  json_t *b = json_array_get(of, 0), *e = json_array_get(of, 1);
  if (json_array_size(of) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
      json_integer_value(b) < 0 || json_integer_value(e) < json_integer_value(b))
    return st_err("%s: tensor '%s': data_offsets must be [begin, end] with "
                  "0 <= begin <= end", p, nm);
  t->begin = (size_t)json_integer_value(b);
  t->end = (size_t)json_integer_value(e);
  size_t bytes;
  if (__builtin_mul_overflow(numel, dtype_size[d], &bytes) ||
      bytes != t->end - t->begin)
    return st_err("%s: tensor '%s': shape of %zu %s elements needs %zu bytes "
                  "but data_offsets [%zu, %zu] span %zu", p, nm, numel, ds,
                  numel * dtype_size[d], t->begin, t->end, t->end - t->begin);
  return ST_OK;
}

static int by_offset(const void *a, const void *b) {
  const st_sft_tensor *x = *(const st_sft_tensor *const *)a,
                      *y = *(const st_sft_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors, sorted by offset, must tile the data section exactly. */
static int check_tiling(st_sft *f) {
  st_sft_tensor **s = st_calloc((size_t)f->n, sizeof *s);
  if (!s) return ST_ERR;
  for (int i = 0; i < f->n; i++) s[i] = &f->t[i];
  qsort(s, (size_t)f->n, sizeof *s, by_offset);
  size_t at = 0;
  int rc = ST_OK;
  for (int i = 0; i < f->n && rc == ST_OK; i++) {
    if (s[i]->begin > at)
      rc = st_err("%s: gap in the data section: bytes [%zu, %zu) before tensor "
                  "'%s' belong to no tensor", f->path, at, s[i]->begin, s[i]->name);
    else if (s[i]->begin < at)
      rc = st_err("%s: tensor '%s' (bytes [%zu, %zu)) overlaps tensor '%s'",
                  f->path, s[i]->name, s[i]->begin, s[i]->end, s[i - 1]->name);
    at = s[i]->end;
  }
  if (rc == ST_OK && at != f->data_len)
    rc = st_err("%s: tensors cover %zu bytes but the data section has %zu%s",
                f->path, at, f->data_len,
                at > f->data_len ? " (truncated file?)" : "");
  free(s);
  return rc;
}

static int parse_header(st_sft *f, const char *hdr, size_t hlen) {
  json_error_t je;
  json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return st_err("%s: header JSON, column %d: %s", f->path, je.column, je.text);
  int rc = ST_OK;
  if (!json_is_object(root)) {
    rc = st_err("%s: header is not a JSON object", f->path);
    goto out;
  }
  f->t = st_calloc(json_object_size(root), sizeof *f->t);
  if (!f->t) { rc = ST_ERR; goto out; }
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    if (!strcmp(k, "__metadata__")) {
      if ((rc = parse_meta(f, v)) != ST_OK) goto out;
      continue;
    }
    st_sft_tensor *t = &f->t[f->n];
    if (!(t->name = strdup(k))) { rc = st_err("out of memory"); goto out; }
    f->n++;
    if ((rc = parse_tensor(f, t, v)) != ST_OK) goto out;
  }
  rc = check_tiling(f);
out:
  json_decref(root);
  return rc;
}

int st_sft_open(st_sft **out, const char *path) {
  *out = NULL;
  st_sft *f = st_calloc(1, sizeof *f);
  if (!f) return ST_ERR;
  snprintf(f->path, sizeof f->path, "%s", path);
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    free(f);
    return st_err("%s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    free(f);
    return st_err("%s: not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  if (size < 8) {
    close(fd);
    free(f);
    return st_err("%s: truncated: %zu bytes, a safetensors file has at least 8",
                  path, size);
  }
  f->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    free(f);
    return st_err("%s: mmap: %s", path, strerror(errno));
  }
  f->map_len = size;
  const uint8_t *p = f->map;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
  int rc;
  if (hlen > size - 8)
    rc = st_err("%s: header length %llu exceeds the file (%zu bytes): "
                "truncated or not a safetensors file", path,
                (unsigned long long)hlen, size);
  else if (hlen > MAX_HEADER)
    rc = st_err("%s: header length %llu is over the %u-byte limit", path,
                (unsigned long long)hlen, MAX_HEADER);
  else if (hlen < 2 || p[8] != '{')
    rc = st_err("%s: header does not start with '{': not a safetensors file",
                path);
  else {
    f->data = p + 8 + hlen;
    f->data_len = size - 8 - (size_t)hlen;
    rc = parse_header(f, (const char *)p + 8, (size_t)hlen);
  }
  if (rc != ST_OK) {
    st_sft_close(f);
    return ST_ERR;
  }
  *out = f;
  return ST_OK;
}

const st_sft_tensor *st_sft_find(const st_sft *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->t[i].name, name)) return &f->t[i];
  return NULL;
}

const char *st_sft_meta(const st_sft *f, const char *key) {
  for (int i = 0; i < f->n_meta; i++)
    if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
  return NULL;
}

int st_sft_read_f32(const st_sft *f, const st_sft_tensor *t, float *dst,
                    size_t n) {
  if (n != t->numel)
    return st_err("%s: tensor '%s' has %zu elements, caller expected %zu",
                  f->path, t->name, t->numel, n);
  const uint8_t *src = f->data + t->begin;
  uint16_t h;
  switch (t->dtype) {
  case ST_SFT_F32:
    memcpy(dst, src, n * 4);
    return ST_OK;
  case ST_SFT_F16:
    for (size_t i = 0; i < n; i++) {
      memcpy(&h, src + 2 * i, 2);
      dst[i] = st_f16_to_f32(h);
    }
    return ST_OK;
  case ST_SFT_BF16:
    for (size_t i = 0; i < n; i++) {
      memcpy(&h, src + 2 * i, 2);
      dst[i] = st_bf16_to_f32(h);
    }
    return ST_OK;
  default:
    return st_err("%s: tensor '%s' is %s, expected a float tensor", f->path,
                  t->name, dtype_name[t->dtype]);
  }
}

int st_sft_read_i32(const st_sft *f, const st_sft_tensor *t, int32_t *dst,
                    size_t n) {
  if (t->dtype != ST_SFT_I32)
    return st_err("%s: tensor '%s' is %s, expected I32", f->path, t->name,
                  dtype_name[t->dtype]);
  if (n != t->numel)
    return st_err("%s: tensor '%s' has %zu elements, caller expected %zu",
                  f->path, t->name, t->numel, n);
  memcpy(dst, f->data + t->begin, n * 4);
  return ST_OK;
}

/* ------------------------------------------------------------------ */
/* writer                                                              */

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = (b->n + n + 1) * 2;
    char *p = realloc(b->s, cap);
    if (!p) { b->oom = 1; return; }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* a JSON string exactly as serde_json escapes it */
static void sb_json(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char e[8];
    if (*c == '"') sb_str(b, "\\\"");
    else if (*c == '\\') sb_str(b, "\\\\");
    else if (*c == '\b') sb_str(b, "\\b");
    else if (*c == '\f') sb_str(b, "\\f");
    else if (*c == '\n') sb_str(b, "\\n");
    else if (*c == '\r') sb_str(b, "\\r");
    else if (*c == '\t') sb_str(b, "\\t");
    else if (*c < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", *c);
      sb_str(b, e);
    } else sb_put(b, (const char *)c, 1);
  }
  sb_put(b, "\"", 1);
}

/* safetensors' order: larger dtypes first (F32 before I32), then name */
static int by_dtype_name(const void *a, const void *b) {
  const st_sft_entry *x = *(const st_sft_entry *const *)a,
                     *y = *(const st_sft_entry *const *)b;
  /* safetensors orders by dtype, largest first in its enum: F32, I32, BF16, F16 */
  static const int rank[] = {[ST_SFT_F32] = 0, [ST_SFT_I32] = 1,
                             [ST_SFT_BF16] = 2, [ST_SFT_F16] = 3};
  if (x->dtype != y->dtype) return rank[x->dtype] - rank[y->dtype];
  return strcmp(x->name, y->name);
}

static size_t entry_numel(const st_sft_entry *e) {
  size_t n = 1;
  for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
  return n;
}

int st_sft_write(const char *path, const st_sft_entry *e, int n,
                 const char *const *meta_key, const char *const *meta_val,
                 int n_meta) {
  for (int i = 0; i < n; i++) {
    if ((unsigned)e[i].dtype > ST_SFT_I32)
      return st_err("%s: tensor '%s': unknown dtype %d", path, e[i].name,
                    (int)e[i].dtype);
    if (e[i].ndim < 0 || e[i].ndim > ST_SFT_MAXDIM)
      return st_err("%s: tensor '%s': bad ndim %d", path, e[i].name, e[i].ndim);
    for (int j = 0; j < i; j++)
      if (!strcmp(e[i].name, e[j].name))
        return st_err("%s: duplicate tensor name '%s'", path, e[i].name);
  }
  const st_sft_entry **s = st_calloc((size_t)n, sizeof *s);
  if (!s) return ST_ERR;
  for (int i = 0; i < n; i++) s[i] = &e[i];
  qsort(s, (size_t)n, sizeof *s, by_dtype_name);

  sbuf h = {0};
  char num[64];
  sb_str(&h, "{\"__metadata__\":{\"format\":\"pt\"");
  for (int i = 0; i < n_meta; i++) {
    sb_str(&h, ",");
    sb_json(&h, meta_key[i]);
    sb_str(&h, ":");
    sb_json(&h, meta_val[i]);
  }
  sb_str(&h, "}");
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    sb_str(&h, ",");
    sb_json(&h, s[i]->name);
    sb_str(&h, ":{\"dtype\":\"");
    sb_str(&h, dtype_name[s[i]->dtype]);
    sb_str(&h, "\",\"shape\":[");
    for (int d = 0; d < s[i]->ndim; d++) {
      snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)s[i]->shape[d]);
      sb_str(&h, num);
    }
    size_t bytes = entry_numel(s[i]) * dtype_size[s[i]->dtype];
    snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", at, at + bytes);
    sb_str(&h, num);
    at += bytes;
  }
  sb_str(&h, "}");
  while (h.n % 8) sb_str(&h, " ");
  if (h.oom) {
    free(h.s);
    free(s);
    return st_err("%s: out of memory building the header", path);
  }

  st_atomic a;
  FILE *fp = st_atomic_open(&a, path);
  int rc = ST_OK;
  if (!fp) {
    rc = ST_ERR;
    goto out;
  }
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  fwrite(len8, 1, 8, fp);
  fwrite(h.s, 1, h.n, fp);
  for (int i = 0; i < n; i++) {
    size_t cnt = entry_numel(s[i]);
    if (dtype_size[s[i]->dtype] == 4) {
      if (cnt && fwrite(s[i]->data, 4, cnt, fp) != cnt) break;
      continue;
    }
    /* F16/BF16 entries hold floats, narrowed here a block at a time */
    uint16_t blk[4096];
    const float *src = s[i]->data;
    int bf = s[i]->dtype == ST_SFT_BF16;
    size_t done = 0;
    while (done < cnt) {
      size_t k = cnt - done < 4096 ? cnt - done : 4096;
      for (size_t j = 0; j < k; j++)
        blk[j] = bf ? st_f32_to_bf16(src[done + j]) : st_f32_to_f16(src[done + j]);
      if (fwrite(blk, 2, k, fp) != k) break;
      done += k;
    }
    if (done < cnt) break;
  }
  rc = st_atomic_commit(&a);
out:
  free(h.s);
  free(s);
  return rc;
}
