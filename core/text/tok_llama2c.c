/* tok_llama2c.c - the llama2.c tokenizer.bin (karpathy/llama2.c run.c).
 *
 * File: int32 max_token_length, then until EOF per token: float score,
 * int32 len, len bytes. Ids 0/1/2 are <unk>/BOS/EOS and 3..258 the byte
 * tokens <0x00>..<0xFF>.
 *
 * Encode is run.c's `encode`: a " " dummy prefix when the text is non-empty,
 * one token per UTF-8 code point (bytes + 3 when the code point is not in the
 * vocabulary), then repeatedly merge the adjacent pair whose concatenation is
 * the best-scoring vocabulary entry (ties: leftmost). run.c rescans the whole
 * sequence per merge; we keep the candidate pairs in a heap ordered by (score
 * desc, position asc), which picks the same pair at every step in
 * O(n log n). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tok_internal.h"

typedef struct {
  int n;
  char *pool;        /* token strings, each NUL-terminated */
  uint32_t *off, *len;
  float *score;
  st_strmap map;     /* string -> first id with that string */
  int32_t space;     /* the " " dummy prefix, -1 when absent */
  uint32_t maxlen;   /* longest token string */
} llama2c;

static void l2c_free(void *p) {
  llama2c *m = p;
  if (!m) return;
  free(m->pool);
  free(m->off);
  free(m->len);
  free(m->score);
  st_strmap_free(&m->map);
  free(m);
}

/* ------------------------------------------------------------------ heap */

typedef struct { float score; int32_t pos, id; } cand;

/* a before b: higher score, then the leftmost pair (run.c scans left to
 * right and replaces only on a strictly better score) */
static inline int cand_before(const cand *a, const cand *b) {
  return a->score > b->score || (a->score == b->score && a->pos < b->pos);
}

static void heap_push(cand *h, int *n, cand c) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!cand_before(&c, &h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = c;
}

static cand heap_pop(cand *h, int *n) {
  cand top = h[0], last = h[--(*n)];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    const cand *best = &last;
    if (l < *n && cand_before(&h[l], best)) { m = l; best = &h[l]; }
    if (r < *n && cand_before(&h[r], best)) m = r;
    if (m == i) break;
    h[i] = h[m];
    i = m;
  }
  if (*n > 0) h[i] = last;
  return top;
}

/* id of vocab[a] + vocab[b], or -1; buf holds at least both lengths */
static int32_t pair_id(const llama2c *m, int32_t a, int32_t b, char *buf) {
  memcpy(buf, m->pool + m->off[a], m->len[a]);
  memcpy(buf + m->len[a], m->pool + m->off[b], m->len[b]);
  return st_strmap_get(&m->map, buf, (size_t)m->len[a] + m->len[b]);
}

static void push_pair(const llama2c *m, cand *h, int *hn, const int32_t *tok,
                      int32_t i, int32_t j, char *buf) {
  int32_t id = pair_id(m, tok[i], tok[j], buf);
  /* run.c starts from best_score = -1e10: pairs at or below never merge */
  if (id >= 0 && m->score[id] > -1e10f) heap_push(h, hn, (cand){m->score[id], i, id});
}

static int l2c_encode(const st_tokenizer *t, const char *text, size_t len,
                      st_ivec *out) {
  const llama2c *m = t->impl;
  if (len == 0) return ST_OK;
  if (len > (size_t)INT32_MAX / 2) return st_err("encode: text too long");
  int cap = (int)len + 1;
  int32_t *tok = st_malloc((size_t)cap * 3 * sizeof *tok);
  cand *heap = st_malloc((size_t)cap * 3 * sizeof *heap);
  char *buf = st_malloc(2 * (size_t)m->maxlen + 8);
  if (!tok || !heap || !buf) {
    free(tok);
    free(heap);
    free(buf);
    return ST_ERR;
  }
  int32_t *prev = tok + cap, *next = prev + cap;
  int n = 0;
  if (m->space >= 0) tok[n++] = m->space;
  /* one token per code point; run.c's loop, with the byte after the end
   * reading as the terminating NUL */
  const unsigned char *s = (const unsigned char *)text;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) start = i;
    size_t cur = i - start + 1;
    unsigned char nx = i + 1 < len ? s[i + 1] : 0;
    if ((nx & 0xC0) == 0x80 && cur < 4) continue;
    int32_t id = st_strmap_get(&m->map, text + start, cur);
    if (id >= 0) tok[n++] = id;
    else
      for (size_t k = start; k <= i; k++) tok[n++] = (int32_t)s[k] + 3;
    start = i + 1;
  }
  for (int i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  int hn = 0;
  for (int i = 0; i + 1 < n; i++) push_pair(m, heap, &hn, tok, i, i + 1, buf);
  while (hn > 0) {
    cand c = heap_pop(heap, &hn);
    int32_t i = c.pos, j = next[i];
    /* stale: i was merged away (tok -1), or its right neighbour changed */
    if (tok[i] < 0 || j < 0 || pair_id(m, tok[i], tok[j], buf) != c.id)
      continue;
    tok[i] = c.id;
    tok[j] = -1;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) push_pair(m, heap, &hn, tok, prev[i], i, buf);
    if (next[i] >= 0) push_pair(m, heap, &hn, tok, i, next[i], buf);
  }
  int rc = st_ivec_reserve(out, (size_t)n);
  if (rc == ST_OK)
    for (int i = 0; i >= 0 && n > 0; i = next[i]) out->p[out->n++] = tok[i];
  free(tok);
  free(heap);
  free(buf);
  return rc;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* run.c decode: a piece "<0xXX>" is that raw byte; the leading space of the
 * piece after BOS is the dummy prefix and is dropped. We also drop it at the
 * start of the sequence (as SentencePiece does), so decode(encode(s)) == s
 * with or without BOS, and write nothing for BOS/EOS themselves. */
static int l2c_decode(const st_tokenizer *t, const int32_t *ids, int n,
                      st_sbuf *out) {
  const llama2c *m = t->impl;
  int32_t prev = 1;
  for (int i = 0; i < n; prev = ids[i++]) {
    int32_t id = ids[i];
    if (id == 1 || id == 2) continue;
    const char *p = m->pool + m->off[id];
    size_t len = m->len[id];
    if (prev == 1 && len > 0 && p[0] == ' ') {
      p++;
      len--;
    }
    if (len >= 4 && !memcmp(p, "<0x", 3) && hexval(p[3]) >= 0) {
      int v = hexval(p[3]);
      if (len >= 5 && hexval(p[4]) >= 0) v = v * 16 + hexval(p[4]);
      char c = (char)v;
      if (st_sbuf_put(out, &c, 1)) return ST_ERR;
      continue;
    }
    if (st_sbuf_put(out, p, len)) return ST_ERR;
  }
  return ST_OK;
}

static const st_tok_vt l2c_vt = {l2c_encode, l2c_decode, l2c_free};

int st_tok_llama2c_load(st_tokenizer *t, const char *data, size_t n) {
  if (n < 4) return st_err("not a llama2.c tokenizer (%zu bytes)", n);
  /* count the tokens first, validating the records */
  size_t o = 4, bytes = 0;
  int count = 0;
  while (o < n) {
    int32_t len;
    if (n - o < 8) return st_err("token %d: truncated record header", count);
    memcpy(&len, data + o + 4, 4);
    if (len < 0 || (size_t)len > n - o - 8)
      return st_err("token %d: length %d runs past the end of the file",
                    count, len);
    o += 8 + (size_t)len;
    bytes += (size_t)len + 1;
    if (++count == INT32_MAX / 4) return st_err("too many tokens");
  }
  /* ids 3..258 must be the byte tokens that the byte fallback emits */
  if (count < 259)
    return st_err("%d tokens; a llama2.c tokenizer has at least 259 "
                  "(<unk>, BOS, EOS and 256 byte tokens)", count);
  llama2c *m = st_calloc(1, sizeof *m);
  if (!m) return ST_ERR;
  m->n = count;
  m->pool = st_malloc(bytes);
  m->off = st_malloc((size_t)count * sizeof *m->off);
  m->len = st_malloc((size_t)count * sizeof *m->len);
  m->score = st_malloc((size_t)count * sizeof *m->score);
  if (!m->pool || !m->off || !m->len || !m->score ||
      st_strmap_init(&m->map, (size_t)count)) {
    l2c_free(m);
    return ST_ERR;
  }
  o = 4;
  size_t po = 0;
  for (int i = 0; i < count; i++) {
    int32_t len;
    memcpy(&m->score[i], data + o, 4);
    memcpy(&len, data + o + 4, 4);
    memcpy(m->pool + po, data + o + 8, (size_t)len);
    m->pool[po + (size_t)len] = 0;
    m->off[i] = (uint32_t)po;
    m->len[i] = (uint32_t)len;
    if (m->len[i] > m->maxlen) m->maxlen = m->len[i];
    po += (size_t)len + 1;
    o += 8 + (size_t)len;
  }
  for (int i = 0; i < count; i++)
    st_strmap_put(&m->map, m->pool + m->off[i], m->len[i], i, 0);
  m->space = st_strmap_get(&m->map, " ", 1);
  t->vt = &l2c_vt;
  t->impl = m;
  t->vocab = count;
  t->bos = 1;
  t->eos = 2;
  return ST_OK;
}
