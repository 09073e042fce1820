/* tokenizer.c - st_tokenizer: pick the format from the path, forward to the
 * implementation (tok_llama2c.c, tok_bpe.c), and the helpers they share:
 * buffers, hash maps, UTF-8. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "tok_internal.h"

/* ---------------------------------------------------------------- buffers */

int st_sbuf_reserve(st_sbuf *b, size_t extra) {
  if (b->n + extra <= b->cap) return ST_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return st_err("out of memory growing a buffer to %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return ST_OK;
}

int st_sbuf_put(st_sbuf *b, const void *s, size_t n) {
  if (st_sbuf_reserve(b, n)) return ST_ERR;
  if (n) memcpy(b->p + b->n, s, n);
  b->n += n;
  return ST_OK;
}

int st_ivec_reserve(st_ivec *v, size_t extra) {
  if (v->n + extra <= v->cap) return ST_OK;
  size_t cap = v->cap ? v->cap : 64;
  while (cap < v->n + extra) cap *= 2;
  int32_t *p = realloc(v->p, cap * sizeof *p);
  if (!p) return st_err("out of memory growing a token list to %zu", cap);
  v->p = p;
  v->cap = cap;
  return ST_OK;
}

int st_ivec_push(st_ivec *v, int32_t x) {
  if (v->n == v->cap && st_ivec_reserve(v, 1)) return ST_ERR;
  v->p[v->n++] = x;
  return ST_OK;
}

/* ------------------------------------------------------------------- hash */

static inline uint64_t mix64(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* 8 bytes per multiply: token strings are short, so this beats a bytewise
 * FNV and is plenty for open addressing */
uint64_t st_hash_bytes(const void *p, size_t n, uint64_t seed) {
  const unsigned char *s = p;
  uint64_t h = seed ^ 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = mix64(h ^ w, 0xBF58476D1CE4E5B9ull);
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n) memcpy(&w, s, n); /* an empty key may come with a NULL pointer */
  h = mix64(h ^ w ^ 0xA0761D6478BD642Full, 0x94D049BB133111EBull);
  return h ^ (h >> 31);
}

static uint64_t table_size(size_t max_entries) {
  uint64_t cap = 16;
  while (cap < 2 * (uint64_t)max_entries + 1) cap *= 2;
  return cap;
}

int st_strmap_init(st_strmap *m, size_t max_entries) {
  uint64_t cap = table_size(max_entries);
  m->slot = st_calloc(cap, sizeof *m->slot);
  if (!m->slot) return ST_ERR;
  m->mask = cap - 1;
  m->n = 0;
  return ST_OK;
}

void st_strmap_put(st_strmap *m, const char *key, size_t len, int32_t val,
                   int overwrite) {
  uint64_t i = st_hash_bytes(key, len, 0) & m->mask;
  for (;; i = (i + 1) & m->mask) {
    st_strmap_slot *s = &m->slot[i];
    if (!s->key) {
      s->key = key;
      s->len = (uint32_t)len;
      s->val = val;
      m->n++;
      return;
    }
    if (s->len == len && !memcmp(s->key, key, len)) {
      if (overwrite) s->val = val;
      return;
    }
  }
}

int32_t st_strmap_get(const st_strmap *m, const char *key, size_t len) {
  if (!m->slot) return -1;
  uint64_t i = st_hash_bytes(key, len, 0) & m->mask;
  for (;; i = (i + 1) & m->mask) {
    const st_strmap_slot *s = &m->slot[i];
    if (!s->key) return -1;
    if (s->len == len && (!len || !memcmp(s->key, key, len))) return s->val;
  }
}

void st_strmap_free(st_strmap *m) {
  free(m->slot);
  m->slot = NULL;
  m->n = 0;
}

#define PAIR_EMPTY UINT64_MAX /* ids are < 2^31, so no pair key is all ones */

static inline uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline uint64_t pair_slot(uint64_t key, uint64_t mask) {
  return mix64(key, 0x9E3779B97F4A7C15ull) & mask;
}

int st_pairmap_init(st_pairmap *m, size_t max_entries) {
  uint64_t cap = table_size(max_entries);
  m->slot = st_malloc(cap * sizeof *m->slot);
  if (!m->slot) return ST_ERR;
  for (uint64_t i = 0; i < cap; i++) m->slot[i].key = PAIR_EMPTY;
  m->mask = cap - 1;
  m->n = 0;
  return ST_OK;
}

/* a repeated pair takes the later rank, as HF's HashMap collect does */
void st_pairmap_put(st_pairmap *m, int32_t a, int32_t b, int32_t rank,
                    int32_t id) {
  uint64_t key = pair_key(a, b);
  for (uint64_t i = pair_slot(key, m->mask);; i = (i + 1) & m->mask) {
    st_pairmap_slot *s = &m->slot[i];
    if (s->key == PAIR_EMPTY) m->n++;
    if (s->key == PAIR_EMPTY || s->key == key) {
      s->key = key;
      s->rank = rank;
      s->id = id;
      return;
    }
  }
}

const st_pairmap_slot *st_pairmap_get(const st_pairmap *m, int32_t a,
                                      int32_t b) {
  uint64_t key = pair_key(a, b);
  for (uint64_t i = pair_slot(key, m->mask);; i = (i + 1) & m->mask) {
    const st_pairmap_slot *s = &m->slot[i];
    if (s->key == key) return s;
    if (s->key == PAIR_EMPTY) return NULL;
  }
}

void st_pairmap_free(st_pairmap *m) {
  free(m->slot);
  m->slot = NULL;
  m->n = 0;
}

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the UTF-8 sequence at s (n > 0 bytes left) when valid, or minus
 * the length of its maximal invalid subpart (Unicode ch. 3, "U+FFFD
 * substitution of maximal subparts", which Rust's from_utf8_lossy follows). */
static int utf8_step(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int len;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return -1;
  for (int k = 1; k < len; k++) {
    if ((size_t)k >= n) return -k;
    unsigned b = s[k];
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -k;
  }
  return len;
}

size_t st_utf8_valid_prefix(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int k = utf8_step(s + i, n - i);
    if (k < 0) return i;
    i += (size_t)k;
  }
  return n;
}

int st_utf8_decode(const unsigned char *s, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) { *cp = c; return 1; }
  if (c < 0xE0) { *cp = (c & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
  if (c < 0xF0) {
    *cp = (c & 0x0F) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3F);
    return 3;
  }
  *cp = (c & 0x07) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 |
        (s[3] & 0x3F);
  return 4;
}

int st_utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

int st_unicode_is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int st_sbuf_put_lossy(st_sbuf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, run = 0; /* [run, i) is valid and not yet copied */
  while (i < n) {
    int k = u[i] < 0x80 ? 1 : utf8_step(u + i, n - i);
    if (k > 0) {
      i += (size_t)k;
      continue;
    }
    if (st_sbuf_put(b, s + run, i - run) ||
        st_sbuf_put(b, "\xEF\xBF\xBD", 3))
      return ST_ERR;
    i += (size_t)-k;
    run = i;
  }
  return st_sbuf_put(b, s + run, n - run);
}

/* ------------------------------------------------------------------ files */

int st_read_file(const char *path, char **data, size_t *n) {
  *data = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return st_err("%s: %s", path, strerror(errno));
  st_sbuf b = {0};
  char chunk[1 << 16];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (st_sbuf_put(&b, chunk, got)) break;
  int bad = ferror(f) || (got > 0);
  fclose(f);
  if (bad || st_sbuf_putc(&b, 0)) {
    free(b.p);
    return got > 0 ? ST_ERR : st_err("%s: read error", path);
  }
  *data = b.p;
  *n = b.n - 1;
  return ST_OK;
}

/* ------------------------------------------------------------------- load */

static int is_dir(const char *path) {
  struct stat st;
  return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int exists(const char *path) {
  struct stat st;
  return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* path/name into buf */
static const char *join(char *buf, size_t cap, const char *dir,
                        const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
  return buf;
}

/* tokenizer.json plus the tokenizer_config.json beside it, when present:
 * it names bos/eos tokens that tokenizer.json alone does not */
static int load_hf(st_tokenizer *t, const char *json_path, const char *dir) {
  char cfg_path[ST_PATH_MAX];
  char *json = NULL, *cfg = NULL;
  size_t jn = 0, cn = 0;
  int rc = st_read_file(json_path, &json, &jn);
  if (rc == ST_OK && exists(join(cfg_path, sizeof cfg_path, dir,
                                 "tokenizer_config.json")))
    rc = st_read_file(cfg_path, &cfg, &cn);
  if (rc == ST_OK) {
    rc = st_tok_hf_load(t, json, jn, cfg, cn);
    if (rc) st_err_prefix("%s: ", json_path);
  }
  if (rc == ST_OK) {
    t->hash = st_hash_bytes(json, jn, 0x68665F6A736F6Eull); /* "hf_json" */
    if (cfg) t->hash = st_hash_bytes(cfg, cn, t->hash);
  }
  free(json);
  free(cfg);
  return rc;
}

static int load_gpt2(st_tokenizer *t, const char *vocab_path,
                     const char *merges_path) {
  char *v = NULL, *m = NULL;
  size_t vn = 0, mn = 0;
  int rc = st_read_file(vocab_path, &v, &vn);
  if (rc == ST_OK) rc = st_read_file(merges_path, &m, &mn);
  if (rc == ST_OK) {
    rc = st_tok_gpt2_load(t, v, vn, m, mn);
    if (rc) st_err_prefix("%s + %s: ", vocab_path, merges_path);
  }
  if (rc == ST_OK)
    t->hash = st_hash_bytes(m, mn, st_hash_bytes(v, vn, 0x67707432ull));
  free(v);
  free(m);
  return rc;
}

static int load_file(st_tokenizer *t, const char *path) {
  char *data = NULL;
  size_t n = 0;
  if (st_read_file(path, &data, &n)) return ST_ERR;
  size_t i = 0;
  while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' ||
                   data[i] == '\t'))
    i++;
  int rc;
  if (i < n && data[i] == '{') {
    /* a JSON file: tokenizer.json (its folder may hold the config) */
    char dir[ST_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    free(data);
    return load_hf(t, path, dir);
  }
  rc = st_tok_llama2c_load(t, data, n);
  if (rc) st_err_prefix("%s: ", path);
  else t->hash = st_hash_bytes(data, n, 0x6C6C616D6132ull); /* "llama2" */
  free(data);
  return rc;
}

int st_tokenizer_load(st_tokenizer **out, const char *path) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st)) return st_err("%s: %s", path, strerror(errno));
  st_tokenizer *t = st_calloc(1, sizeof *t);
  if (!t) return ST_ERR;
  t->bos = t->eos = -1;
  int rc;
  char a[ST_PATH_MAX], b[ST_PATH_MAX];
  if (is_dir(path)) {
    if (exists(join(a, sizeof a, path, "tokenizer.json")))
      rc = load_hf(t, a, path);
    else if (exists(join(a, sizeof a, path, "encoder.json")) &&
             exists(join(b, sizeof b, path, "vocab.bpe")))
      rc = load_gpt2(t, a, b);
    else if (exists(join(a, sizeof a, path, "vocab.json")) &&
             exists(join(b, sizeof b, path, "merges.txt")))
      rc = load_gpt2(t, a, b);
    else
      rc = st_err("%s: no tokenizer.json, encoder.json + vocab.bpe or "
                  "vocab.json + merges.txt in this folder", path);
  } else {
    rc = load_file(t, path);
  }
  if (rc) {
    free(t);
    return ST_ERR;
  }
  *out = t;
  return ST_OK;
}

/* a model's tokenizer: an HF folder holds its own; a file's folder may hold
 * tokenizer.json / encoder.json (HF config.json given directly), else
 * llama2.c's tokenizer.bin, else the first tok*.bin by name (tok512.bin
 * beside stories260K.bin) - by name so the pick does not depend on
 * directory order */
int st_tokenizer_find(const char *model_path, char *out, size_t n) {
  if (is_dir(model_path)) {
    snprintf(out, n, "%s", model_path);
    return ST_OK;
  }
  char dir[ST_PATH_MAX], p[ST_PATH_MAX + 64]; /* p: dir + "/" + a name */
  snprintf(dir, sizeof dir, "%s", model_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else snprintf(dir, sizeof dir, ".");
  if (exists(join(p, sizeof p, dir, "tokenizer.json")) ||
      exists(join(p, sizeof p, dir, "encoder.json"))) {
    snprintf(out, n, "%s", dir);
    return ST_OK;
  }
  if (exists(join(p, sizeof p, dir, "tokenizer.bin"))) {
    snprintf(out, n, "%s", p);
    return ST_OK;
  }
  char best[256] = "";
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (!strncmp(e->d_name, "tok", 3) && len > 4 && len < sizeof best &&
        !strcmp(e->d_name + len - 4, ".bin") &&
        (!best[0] || strcmp(e->d_name, best) < 0))
      snprintf(best, sizeof best, "%s", e->d_name);
  }
  if (d) closedir(d);
  if (best[0]) {
    snprintf(out, n, "%s", join(p, sizeof p, dir, best));
    return ST_OK;
  }
  return st_err("%s: no tokenizer found beside the model (tokenizer.json, "
                "tokenizer.bin or tok*.bin); name one (--tokenizer, or "
                "`tokenizer` in a recipe)", model_path);
}

void st_tokenizer_free(st_tokenizer *t) {
  if (!t) return;
  if (t->vt) t->vt->free(t->impl);
  free(t);
}

/* ------------------------------------------------------------ the calls */

int st_tokenizer_encode(const st_tokenizer *t, const char *text, size_t len,
                        int bos, int32_t **ids, int *n) {
  *ids = NULL;
  *n = 0;
  st_ivec v = {0};
  if (st_ivec_reserve(&v, len / 3 + 8)) return ST_ERR;
  if (bos && t->bos >= 0) v.p[v.n++] = t->bos;
  if (t->vt->encode(t, text ? text : "", text ? len : 0, &v)) {
    free(v.p);
    return ST_ERR;
  }
  if (v.n > INT_MAX) {
    free(v.p);
    return st_err("encode: %zu tokens do not fit an int", v.n);
  }
  *ids = v.p;
  *n = (int)v.n;
  return ST_OK;
}

int st_tokenizer_decode(const st_tokenizer *t, const int32_t *ids, int n,
                        char **text) {
  size_t len;
  return st_tokenizer_decode_len(t, ids, n, text, &len);
}

int st_tokenizer_decode_len(const st_tokenizer *t, const int32_t *ids, int n,
                            char **text, size_t *len) {
  *text = NULL;
  *len = 0;
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= t->vocab)
      return st_err("decode: token %d at position %d is outside the "
                    "vocabulary (%d)", ids[i], i, t->vocab);
  st_sbuf b = {0};
  if (t->vt->decode(t, ids, n < 0 ? 0 : n, &b) || st_sbuf_putc(&b, 0)) {
    free(b.p);
    return ST_ERR;
  }
  *text = b.p;
  *len = b.n - 1;
  return ST_OK;
}

int st_tokenizer_vocab(const st_tokenizer *t) { return t->vocab; }
int st_tokenizer_bos(const st_tokenizer *t) { return t->bos; }
int st_tokenizer_eos(const st_tokenizer *t) { return t->eos; }
uint64_t st_tokenizer_hash(const st_tokenizer *t) { return t->hash; }
