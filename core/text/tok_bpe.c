/* tok_bpe.c - BPE tokenizers: Hugging Face tokenizer.json (model type BPE,
 * byte-level or SentencePiece-style) and GPT-2 encoder.json + vocab.bpe.
 *
 * Encode follows HF tokenizers step by step so ids match exactly:
 *   1. added tokens with normalized=false are cut out of the raw text
 *      (leftmost-longest, honouring single_word/lstrip/rstrip);
 *   2. each remaining piece is normalized, then added tokens with
 *      normalized=true are cut out of the normalized text;
 *   3. the pre-tokenizer splits each piece into words (tok_pretok.c);
 *   4. each word becomes one symbol per character (byte_fallback to <0xXX>,
 *      else <unk>, fused when fuse_unk) and the BPE model merges adjacent
 *      pairs lowest merge rank first, leftmost first among equal ranks.
 * When the last pre-tokenizer is ByteLevel the words stay raw bytes and the
 * model reads each byte's alphabet character from a 256-entry table, so the
 * byte-to-unicode text is never built. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tok_internal.h"

typedef struct {
  const char *s; /* what is matched: content, or normalized content */
  uint32_t n;
  int32_t id;
  uint8_t lstrip, rstrip, single_word;
} atok;

/* added tokens sorted by first byte, longest first: bucket b is
 * t[start[b], start[b+1]) */
typedef struct {
  atok *t;
  int n;
  int start[257];
} matcher;

typedef struct {
  int nid;
  const char **str;   /* id -> token string (added tokens override) */
  uint32_t *slen;     /* UINT32_MAX: no token has this id */
  char *pool;
  st_strmap vocab;    /* model vocabulary */
  st_strmap raw;      /* byte-level ignore_merges: raw bytes -> id */
  char *raw_pool;
  st_pairmap merges;
  int32_t unk;        /* -1: none */
  int unk_missing;    /* unk_token names no vocabulary entry */
  int fuse_unk, byte_fallback, ignore_merges;
  int32_t bytefb[256]; /* <0xXX> */
  int32_t blid[256];   /* id of each byte's byte-level character */
  char **owned;        /* added-token strings */
  int nowned;
  int32_t *added;      /* ids of the added tokens */
  int nadded;
  matcher raw_m, norm_m;
  st_pipeline *pipe;
} bpe;

static void matcher_free(matcher *m) { free(m->t); }

static void bpe_free(void *p) {
  bpe *m = p;
  if (!m) return;
  free(m->str);
  free(m->slen);
  free(m->pool);
  free(m->raw_pool);
  st_strmap_free(&m->vocab);
  st_strmap_free(&m->raw);
  st_pairmap_free(&m->merges);
  for (int i = 0; i < m->nowned; i++) free(m->owned[i]);
  free(m->owned);
  free(m->added);
  matcher_free(&m->raw_m);
  matcher_free(&m->norm_m);
  st_pipe_free(m->pipe);
  free(m);
}

/* ------------------------------------------------------------ the model */

/* per encode call: scratch that grows to the longest word seen */
typedef struct {
  st_ivec sym;
  int32_t *a; /* 4 arrays of cap: ranks/new ids (scan) or prev/next (heap) */
  struct hc { int32_t rank, pos, id; } *heap;
  size_t cap;
} scratch;

static int scratch_fit(scratch *s, size_t n) {
  if (n <= s->cap) return ST_OK;
  size_t cap = s->cap ? s->cap : 64;
  while (cap < n) cap *= 2;
  free(s->a);
  free(s->heap);
  s->a = st_malloc(4 * cap * sizeof *s->a);
  s->heap = st_malloc(3 * cap * sizeof *s->heap);
  if (!s->a || !s->heap) {
    s->cap = 0;
    return ST_ERR;
  }
  s->cap = cap;
  return ST_OK;
}

static inline void pair_rank(const bpe *m, int32_t a, int32_t b, int32_t *rank,
                             int32_t *id) {
  const st_pairmap_slot *s = st_pairmap_get(&m->merges, a, b);
  *rank = s ? s->rank : INT32_MAX;
  *id = s ? s->id : -1;
}

/* Short words: rescan the pair ranks after each merge (O(n^2), but n is a
 * handful of characters and the arrays stay in L1). Picks the lowest rank,
 * leftmost on ties: the same order as HF's heap. */
static int merge_scan(const bpe *m, int32_t *ids, int n, scratch *sc) {
  int32_t *rank = sc->a, *nid = sc->a + sc->cap;
  for (int i = 0; i + 1 < n; i++) pair_rank(m, ids[i], ids[i + 1], &rank[i], &nid[i]);
  while (n > 1) {
    int best = 0;
    for (int i = 1; i + 1 < n; i++)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == INT32_MAX) break;
    ids[best] = nid[best];
    int tail = n - best - 2; /* symbols after the removed one */
    memmove(ids + best + 1, ids + best + 2, (size_t)tail * sizeof *ids);
    if (tail > 1) {
      memmove(rank + best + 1, rank + best + 2, (size_t)(tail - 1) * sizeof *rank);
      memmove(nid + best + 1, nid + best + 2, (size_t)(tail - 1) * sizeof *nid);
    }
    n--;
    if (best > 0) pair_rank(m, ids[best - 1], ids[best], &rank[best - 1], &nid[best - 1]);
    if (best + 1 < n) pair_rank(m, ids[best], ids[best + 1], &rank[best], &nid[best]);
  }
  return n;
}

static inline int hc_before(const struct hc *a, const struct hc *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void hc_push(struct hc *h, int *n, struct hc c) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!hc_before(&c, &h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = c;
}

static struct hc hc_pop(struct hc *h, int *n) {
  struct hc top = h[0], last = h[--(*n)];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    const struct hc *best = &last;
    if (l < *n && hc_before(&h[l], best)) { m = l; best = &h[l]; }
    if (r < *n && hc_before(&h[r], best)) m = r;
    if (m == i) break;
    h[i] = h[m];
    i = m;
  }
  if (*n > 0) h[i] = last;
  return top;
}

static void hc_pair(const bpe *m, struct hc *h, int *hn, const int32_t *ids,
                    int32_t i, int32_t j) {
  int32_t rank, id;
  pair_rank(m, ids[i], ids[j], &rank, &id);
  if (id >= 0) hc_push(h, hn, (struct hc){rank, i, id});
}

/* Long words: HF's Word::merge_all - a heap of candidate merges over a
 * linked list of symbols, skipping entries that went stale. */
static int merge_heap(const bpe *m, int32_t *ids, int n, scratch *sc) {
  int32_t *prev = sc->a, *next = sc->a + sc->cap;
  struct hc *h = sc->heap;
  int hn = 0;
  for (int i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  for (int i = 0; i + 1 < n; i++) hc_pair(m, h, &hn, ids, i, i + 1);
  while (hn > 0) {
    struct hc c = hc_pop(h, &hn);
    int32_t i = c.pos, j = next[i];
    if (ids[i] < 0 || j < 0) continue;
    const st_pairmap_slot *s = st_pairmap_get(&m->merges, ids[i], ids[j]);
    if (!s || s->id != c.id) continue;
    ids[i] = c.id;
    ids[j] = -1;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) hc_pair(m, h, &hn, ids, prev[i], i);
    if (next[i] >= 0) hc_pair(m, h, &hn, ids, i, next[i]);
  }
  int k = 0;
  for (int i = 0; i < n; i++)
    if (ids[i] >= 0) ids[k++] = ids[i];
  return k;
}

/* a character with no vocabulary entry: its bytes as <0xXX> tokens, else
 * <unk>. HF leaves a pending <unk> pending across byte-fallback tokens. */
static int missing_char(const bpe *m, const char *c, size_t n, st_ivec *sym,
                        int *unk_pending) {
  if (m->byte_fallback) {
    size_t k = 0;
    while (k < n && m->bytefb[(unsigned char)c[k]] >= 0) k++;
    if (k == n) {
      for (k = 0; k < n; k++)
        if (st_ivec_push(sym, m->bytefb[(unsigned char)c[k]])) return ST_ERR;
      return ST_OK;
    }
  }
  if (m->unk_missing)
    return st_err("encode: the unk_token is not in the vocabulary");
  if (m->unk < 0) return ST_OK; /* HF drops the character */
  if (*unk_pending && !m->fuse_unk && st_ivec_push(sym, m->unk)) return ST_ERR;
  *unk_pending = 1;
  return ST_OK;
}

static inline int known_char(const bpe *m, int32_t id, st_ivec *sym,
                             int *unk_pending) {
  if (*unk_pending) {
    *unk_pending = 0;
    if (st_ivec_push(sym, m->unk)) return ST_ERR;
  }
  return st_ivec_push(sym, id);
}

/* one pre-token -> ids appended to out */
static int encode_word(const bpe *m, const char *s, size_t n, int bytelevel,
                       scratch *sc, st_ivec *out) {
  if (m->ignore_merges) { /* a whole word in the vocabulary is one token */
    int32_t id = bytelevel ? st_strmap_get(&m->raw, s, n)
                           : st_strmap_get(&m->vocab, s, n);
    if (id >= 0) return st_ivec_push(out, id);
  }
  st_ivec *sym = &sc->sym;
  sym->n = 0;
  /* the byte-level loop writes unchecked: at most 2 tokens per byte */
  if (st_ivec_reserve(sym, 4 * n + 1)) return ST_ERR;
  int unk = 0;
  const unsigned char *u = (const unsigned char *)s;
  if (bytelevel) {
    for (size_t i = 0; i < n; i++) {
      int32_t id = m->blid[u[i]];
      if (id >= 0 && !unk) {
        sym->p[sym->n++] = id;
        continue;
      }
      if (id >= 0) {
        if (known_char(m, id, sym, &unk)) return ST_ERR;
        continue;
      }
      char c[4];
      int k = st_utf8_encode(st_bytelevel_char(u[i]), c);
      if (missing_char(m, c, (size_t)k, sym, &unk)) return ST_ERR;
    }
  } else {
    for (size_t i = 0; i < n;) {
      size_t k = u[i] < 0x80 ? 1 : u[i] < 0xE0 ? 2 : u[i] < 0xF0 ? 3 : 4;
      int32_t id = st_strmap_get(&m->vocab, s + i, k);
      if (id >= 0 ? known_char(m, id, sym, &unk)
                  : missing_char(m, s + i, k, sym, &unk))
        return ST_ERR;
      i += k;
    }
  }
  if (unk && st_ivec_push(sym, m->unk)) return ST_ERR;
  if (sym->n > INT_MAX / 4) return st_err("encode: word too long");
  int k = (int)sym->n;
  if (k > 1) {
    if (scratch_fit(sc, (size_t)k)) return ST_ERR;
    k = k <= 48 ? merge_scan(m, sym->p, k, sc) : merge_heap(m, sym->p, k, sc);
  }
  if (st_ivec_reserve(out, (size_t)k)) return ST_ERR;
  memcpy(out->p + out->n, sym->p, (size_t)k * sizeof *sym->p);
  out->n += (size_t)k;
  return ST_OK;
}

/* --------------------------------------------------------- added tokens */

static int atok_cmp(const void *pa, const void *pb) {
  const atok *a = pa, *b = pb;
  unsigned ca = (unsigned char)a->s[0], cb = (unsigned char)b->s[0];
  if (ca != cb) return ca < cb ? -1 : 1;
  if (a->n != b->n) return a->n > b->n ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static void matcher_index(matcher *m) {
  qsort(m->t, (size_t)m->n, sizeof *m->t, atok_cmp);
  int k = 0;
  for (int b = 0; b <= 256; b++) {
    while (k < m->n && (unsigned char)m->t[k].s[0] < b) k++;
    m->start[b] = k;
  }
}

/* leftmost, then longest match at or after `from`; -1 when none */
static long matcher_find(const matcher *m, const char *s, size_t n,
                         size_t from, const atok **hit) {
  for (size_t i = from; i < n; i++) {
    unsigned b = (unsigned char)s[i];
    for (int k = m->start[b]; k < m->start[b + 1]; k++) {
      const atok *t = &m->t[k];
      if (t->n <= n - i && !memcmp(s + i, t->s, t->n)) {
        *hit = t;
        return (long)i;
      }
    }
  }
  return -1;
}

static size_t last_char(const char *s, size_t n) { /* its offset */
  size_t k = n - 1;
  while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  return k;
}

typedef struct { size_t off, len; int32_t id; } piece; /* id -1: text */
typedef struct { piece *p; size_t n, cap; } pieces;

static int piece_push(pieces *v, size_t off, size_t len, int32_t id) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 16;
    piece *p = realloc(v->p, cap * sizeof *p);
    if (!p) return st_err("out of memory (%zu pieces)", cap);
    v->p = p;
    v->cap = cap;
  }
  v->p[v->n++] = (piece){off, len, id};
  return ST_OK;
}

/* HF AddedVocabulary::find_matches: cut s into text and added-token pieces */
static int split_added(const matcher *m, const st_pipeline *pipe,
                       st_pipe_ctx *pc, const char *s, size_t n, pieces *out) {
  out->n = 0;
  size_t start = 0, from = 0;
  const atok *t;
  long at;
  while (m->n && (at = matcher_find(m, s, n, from, &t)) >= 0) {
    size_t ms = (size_t)at, me = ms + t->n;
    from = me; /* the match is consumed even when rejected below */
    if (t->single_word) { /* no word character may touch it */
      size_t k = ms > 0 ? last_char(s, ms) : 0;
      if ((ms > 0 && st_pipe_is_word(pipe, pc, s + k, n - k)) ||
          st_pipe_is_word(pipe, pc, s + me, n - me))
        continue;
    }
    if (t->lstrip) { /* swallow the whitespace before it */
      size_t k = ms;
      while (k > start) {
        size_t c = k - 1;
        while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
        uint32_t cp;
        st_utf8_decode((const unsigned char *)s + c, &cp);
        if (!st_unicode_is_space(cp)) break;
        k = c;
      }
      ms = k;
    }
    if (t->rstrip) {
      uint32_t cp;
      while (me < n) {
        int k = st_utf8_decode((const unsigned char *)s + me, &cp);
        if (!st_unicode_is_space(cp)) break;
        me += (size_t)k;
      }
    }
    if (start < ms && piece_push(out, start, ms - start, -1)) return ST_ERR;
    if (piece_push(out, ms, me - ms, t->id)) return ST_ERR;
    start = me;
  }
  if (start < n && piece_push(out, start, n - start, -1)) return ST_ERR;
  return ST_OK;
}

/* ---------------------------------------------------------------- encode */

typedef struct {
  st_pipe_ctx *pc;
  st_sbuf work;
  st_spans spans;
  pieces outer, inner;
  scratch sc;
} enc_ctx;

static int encode_normalized(const bpe *m, enc_ctx *c, size_t off, size_t len,
                             int at_start, st_ivec *out) {
  c->spans.n = 0;
  if (st_pipe_pretokenize(m->pipe, c->pc, &c->work, (st_span){off, len, at_start},
                          &c->spans))
    return ST_ERR;
  int bl = st_pipe_bytelevel(m->pipe);
  for (size_t i = 0; i < c->spans.n; i++)
    if (encode_word(m, c->work.p + c->spans.p[i].off, c->spans.p[i].len, bl,
                    &c->sc, out))
      return ST_ERR;
  return ST_OK;
}

/* one raw-text piece between non-normalized added tokens */
static int encode_piece(const bpe *m, enc_ctx *c, const char *s, size_t n,
                        int at_start, st_ivec *out) {
  c->work.n = 0;
  if (st_pipe_normalize(m->pipe, c->pc, s, n, &c->work)) return ST_ERR;
  size_t nn = c->work.n;
  if (!m->norm_m.n) return encode_normalized(m, c, 0, nn, at_start, out);
  if (split_added(&m->norm_m, m->pipe, c->pc, c->work.p, nn, &c->inner))
    return ST_ERR;
  for (size_t i = 0; i < c->inner.n; i++) {
    const piece *p = &c->inner.p[i];
    if (p->id >= 0 ? st_ivec_push(out, p->id)
                   : encode_normalized(m, c, p->off, p->len,
                                       at_start && p->off == 0, out))
      return ST_ERR;
  }
  return ST_OK;
}

static int bpe_encode(const st_tokenizer *t, const char *text, size_t len,
                      st_ivec *out) {
  const bpe *m = t->impl;
  size_t ok = st_utf8_valid_prefix((const unsigned char *)text, len);
  if (ok != len) return st_err("encode: text is not valid UTF-8 (byte %zu)", ok);
  enc_ctx c = {0};
  if (!(c.pc = st_pipe_ctx_new(m->pipe))) return ST_ERR;
  int rc = split_added(&m->raw_m, m->pipe, c.pc, text, len, &c.outer);
  for (size_t i = 0; i < c.outer.n && rc == ST_OK; i++) {
    const piece *p = &c.outer.p[i];
    rc = p->id >= 0 ? st_ivec_push(out, p->id)
                    : encode_piece(m, &c, text + p->off, p->len, p->off == 0, out);
  }
  st_pipe_ctx_free(c.pc);
  free(c.work.p);
  free(c.spans.p);
  free(c.outer.p);
  free(c.inner.p);
  free(c.sc.sym.p);
  free(c.sc.a);
  free(c.sc.heap);
  return rc;
}

/* ---------------------------------------------------------------- decode */

static int bpe_decode(const st_tokenizer *t, const int32_t *ids, int n,
                      st_sbuf *out) {
  const bpe *m = t->impl;
  st_sbuf s = {0};
  size_t *off = st_malloc(((size_t)n + 1) * sizeof *off);
  if (!off) return ST_ERR;
  size_t k = 0;
  int rc = ST_OK;
  off[0] = 0;
  for (int i = 0; i < n && rc == ST_OK; i++) {
    if (m->slen[ids[i]] == UINT32_MAX) continue; /* HF skips unknown ids */
    rc = st_sbuf_put(&s, m->str[ids[i]], m->slen[ids[i]]);
    off[++k] = s.n;
  }
  if (rc == ST_OK) rc = st_pipe_decode(m->pipe, s.p ? s.p : "", off, k, out);
  free(s.p);
  free(off);
  return rc;
}

static const st_tok_vt bpe_vt = {bpe_encode, bpe_decode, bpe_free};

/* ------------------------------------------------------------- building */

typedef struct { const char *s; size_t n; int32_t id; } ventry;

/* Tables are indexed by id, so ids must be about as many as the entries: a
 * 50 KB file must not claim a gigabyte through one id of 10^9. Real
 * vocabularies are dense, with at most a few holes. */
static int id_bound_ok(int32_t id, size_t entries) {
  return (size_t)id < 2 * entries + 1024;
}

/* the vocabulary: strings copied into one pool, the map and id -> string */
static int build_vocab(bpe *m, const ventry *v, size_t nv, int32_t max_id) {
  size_t bytes = 0;
  for (size_t i = 0; i < nv; i++) bytes += v[i].n;
  m->nid = max_id + 1;
  m->pool = st_malloc(bytes + 1);
  m->str = st_calloc((size_t)m->nid, sizeof *m->str);
  m->slen = st_malloc((size_t)m->nid * sizeof *m->slen);
  if (!m->pool || !m->str || !m->slen || st_strmap_init(&m->vocab, nv))
    return ST_ERR;
  for (int32_t i = 0; i < m->nid; i++) m->slen[i] = UINT32_MAX;
  size_t o = 0;
  for (size_t i = 0; i < nv; i++) {
    char *p = m->pool + o;
    memcpy(p, v[i].s, v[i].n);
    o += v[i].n;
    st_strmap_put(&m->vocab, p, v[i].n, v[i].id, 1);
    m->str[v[i].id] = p;
    m->slen[v[i].id] = (uint32_t)v[i].n;
  }
  return ST_OK;
}

/* merge number `rank` of a + b (concatenation must be in the vocabulary) */
static int add_merge(bpe *m, const char *a, size_t an, const char *b,
                     size_t bn, int32_t rank, st_sbuf *tmp) {
  int32_t ia = st_strmap_get(&m->vocab, a, an);
  int32_t ib = st_strmap_get(&m->vocab, b, bn);
  tmp->n = 0;
  if (st_sbuf_put(tmp, a, an) || st_sbuf_put(tmp, b, bn)) return ST_ERR;
  int32_t ic = st_strmap_get(&m->vocab, tmp->p, tmp->n);
  if (ia < 0 || ib < 0 || ic < 0)
    return st_err("merge %d ('%.*s' '%.*s'): '%.*s' is not in the vocabulary",
                  rank + 1, (int)an, a, (int)bn, b,
                  ia < 0 ? (int)an : ib < 0 ? (int)bn : (int)tmp->n,
                  ia < 0 ? a : ib < 0 ? b : tmp->p);
  st_pairmap_put(&m->merges, ia, ib, rank, ic);
  return ST_OK;
}

/* tables that depend on the vocabulary and pipeline */
static int finish_model(bpe *m) {
  char name[8];
  for (int b = 0; b < 256; b++) {
    snprintf(name, sizeof name, "<0x%02X>", b);
    m->bytefb[b] = st_strmap_get(&m->vocab, name, 6);
    char c[4];
    int k = st_utf8_encode(st_bytelevel_char((unsigned)b), c);
    m->blid[b] = st_strmap_get(&m->vocab, c, (size_t)k);
  }
  if (!(m->ignore_merges && st_pipe_bytelevel(m->pipe))) return ST_OK;
  /* ignore_merges on raw words: the vocabulary mapped back to bytes */
  size_t bytes = 0, count = 0;
  for (int32_t i = 0; i < m->nid; i++)
    if (m->slen[i] != UINT32_MAX) bytes += m->slen[i], count++;
  m->raw_pool = st_malloc(bytes + 1);
  if (!m->raw_pool || st_strmap_init(&m->raw, count)) return ST_ERR;
  size_t o = 0;
  for (uint64_t k = 0; k <= m->vocab.mask; k++) {
    const st_strmap_slot *sl = &m->vocab.slot[k];
    if (!sl->key) continue;
    size_t start = o;
    int ok = 1;
    const unsigned char *u = (const unsigned char *)sl->key;
    for (uint32_t j = 0; j < sl->len && ok;) {
      uint32_t cp;
      j += (uint32_t)st_utf8_decode(u + j, &cp);
      int b = st_bytelevel_byte(cp);
      if (b < 0) ok = 0;
      else m->raw_pool[o++] = (char)b;
    }
    if (ok) st_strmap_put(&m->raw, m->raw_pool + start, o - start, sl->val, 0);
    else o = start;
  }
  return ST_OK;
}

static char *own(bpe *m, const char *s, size_t n) {
  char **o = realloc(m->owned, (size_t)(m->nowned + 1) * sizeof *o);
  if (!o) {
    st_err("out of memory");
    return NULL;
  }
  m->owned = o;
  char *d = st_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  m->owned[m->nowned++] = d;
  return d;
}

typedef struct {
  const char *s;
  size_t n;
  int32_t id;
  int special, lstrip, rstrip, single_word, normalized;
} added_spec;

/* register added tokens: id -> content, and the two matchers */
static int add_tokens(bpe *m, const added_spec *a, int na) {
  m->raw_m.t = st_calloc((size_t)na + 1, sizeof *m->raw_m.t);
  m->norm_m.t = st_calloc((size_t)na + 1, sizeof *m->norm_m.t);
  m->added = st_calloc((size_t)na + 1, sizeof *m->added);
  if (!m->raw_m.t || !m->norm_m.t || !m->added) return ST_ERR;
  st_pipe_ctx *pc = st_pipe_ctx_new(m->pipe);
  if (!pc) return ST_ERR;
  st_sbuf nb = {0};
  int rc = ST_OK;
  for (int i = 0; i < na && rc == ST_OK; i++) {
    char *content = own(m, a[i].s, a[i].n);
    if (!content) {
      rc = ST_ERR;
      break;
    }
    m->str[a[i].id] = content;
    m->slen[a[i].id] = (uint32_t)a[i].n;
    m->added[m->nadded++] = a[i].id;
    if (a[i].n == 0) continue;
    atok t = {content, (uint32_t)a[i].n, a[i].id, (uint8_t)a[i].lstrip,
              (uint8_t)a[i].rstrip, (uint8_t)a[i].single_word};
    if (!a[i].normalized) {
      m->raw_m.t[m->raw_m.n++] = t;
      continue;
    }
    /* matched in normalized text, so its pattern is normalized too */
    nb.n = 0;
    rc = st_pipe_normalize(m->pipe, pc, content, a[i].n, &nb);
    if (rc == ST_OK && nb.n > 0) { /* HF also decodes it to this form */
      if (!(t.s = own(m, nb.p, nb.n))) {
        rc = ST_ERR;
        break;
      }
      t.n = (uint32_t)nb.n;
      m->norm_m.t[m->norm_m.n++] = t;
      m->str[a[i].id] = t.s;
      m->slen[a[i].id] = t.n;
    }
  }
  free(nb.p);
  st_pipe_ctx_free(pc);
  matcher_index(&m->raw_m);
  matcher_index(&m->norm_m);
  return rc;
}

static int32_t token_id(const bpe *m, const char *s) {
  if (!s) return -1;
  size_t n = strlen(s);
  for (int i = 0; i < m->nadded; i++) /* added tokens first, as HF does */
    if (m->slen[m->added[i]] == n && !memcmp(m->str[m->added[i]], s, n))
      return m->added[i];
  return st_strmap_get(&m->vocab, s, n);
}

/* ---------------------------------------------------- tokenizer.json */

/* BOS: the first special token of the post-processor's single template */
static int32_t template_bos(const json_t *pp) {
  const char *type = json_string_value(json_object_get(pp, "type"));
  if (!type) return -1;
  if (!strcmp(type, "Sequence")) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(pp, "processors"), i, v) {
      int32_t id = template_bos(v);
      if (id >= 0) return id;
    }
    return -1;
  }
  if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
    const json_t *id = json_array_get(json_object_get(pp, "cls"), 1);
    return json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
  }
  if (strcmp(type, "TemplateProcessing")) return -1;
  const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
  const char *name = json_string_value(
      json_object_get(json_object_get(first, "SpecialToken"), "id"));
  if (!name) return -1;
  const json_t *st = json_object_get(json_object_get(pp, "special_tokens"), name);
  const json_t *id = json_array_get(json_object_get(st, "ids"), 0);
  return json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
}

/* tokenizer_config.json's bos_token/eos_token: "str" or {"content": "str"} */
static const char *config_token(const json_t *cfg, const char *key) {
  const json_t *v = json_object_get(cfg, key);
  if (json_is_object(v)) v = json_object_get(v, "content");
  return json_string_value(v);
}

static void resolve_bos_eos(st_tokenizer *t, const bpe *m, const json_t *pp,
                            const json_t *cfg) {
  t->bos = pp ? template_bos(pp) : -1;
  if (t->bos < 0 && cfg && json_is_true(json_object_get(cfg, "add_bos_token")))
    t->bos = token_id(m, config_token(cfg, "bos_token"));
  if (t->bos >= m->nid) t->bos = -1;
  t->eos = cfg ? token_id(m, config_token(cfg, "eos_token")) : -1;
  static const char *eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>",
                                    "<|im_end|>", "<|eot_id|>"};
  for (int i = 0; i < 5 && t->eos < 0; i++) t->eos = token_id(m, eos_names[i]);
}

static int parse_model_flags(bpe *m, const json_t *model) {
  const char *p = json_string_value(json_object_get(model, "continuing_subword_prefix"));
  const char *s = json_string_value(json_object_get(model, "end_of_word_suffix"));
  if ((p && *p) || (s && *s))
    return st_err("model: continuing_subword_prefix / end_of_word_suffix are "
                  "not supported");
  const json_t *d = json_object_get(model, "dropout");
  if (json_is_number(d) && json_number_value(d) > 0)
    return st_err("model: BPE dropout is not supported");
  m->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
  m->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
  m->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
  return ST_OK;
}

static int hf_build(st_tokenizer *t, bpe *m, const json_t *root,
                    const json_t *cfg) {
  const json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) return st_err("no \"model\" object");
  const char *type = json_string_value(json_object_get(model, "type"));
  if (type ? strcmp(type, "BPE") != 0 : !json_object_get(model, "merges"))
    return st_err("model type '%s' is not supported (only BPE)",
                  type ? type : "?");
  const json_t *vocab = json_object_get(model, "vocab");
  const json_t *merges = json_object_get(model, "merges");
  if (!json_is_object(vocab)) return st_err("model: \"vocab\" is not an object");
  if (!json_is_array(merges)) return st_err("model: \"merges\" is not a list");
  if (parse_model_flags(m, model)) return ST_ERR;
  if (st_pipe_parse(&m->pipe, json_object_get(root, "normalizer"),
                    json_object_get(root, "pre_tokenizer"),
                    json_object_get(root, "decoder")))
    return ST_ERR;

  /* vocabulary and added tokens decide the id range */
  size_t nv = json_object_size(vocab);
  ventry *v = st_malloc((nv + 1) * sizeof *v);
  if (!v) return ST_ERR;
  int32_t max_id = -1;
  size_t k = 0;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    json_int_t id = json_integer_value(val);
    if (!json_is_integer(val) || id < 0 || id >= INT32_MAX / 2) {
      free(v);
      return st_err("model.vocab['%s']: id is not an integer in range", key);
    }
    v[k++] = (ventry){key, strlen(key), (int32_t)id};
    if (id > max_id) max_id = (int32_t)id;
  }
  const json_t *added = json_object_get(root, "added_tokens");
  size_t na = json_is_array(added) ? json_array_size(added) : 0;
  added_spec *a = st_calloc(na + 1, sizeof *a);
  if (!a) {
    free(v);
    return ST_ERR;
  }
  for (size_t i = 0; i < na; i++) {
    const json_t *o = json_array_get(added, i);
    const json_t *c = json_object_get(o, "content");
    json_int_t id = json_integer_value(json_object_get(o, "id"));
    if (!json_is_string(c) || id < 0 || id >= INT32_MAX / 2) {
      free(v);
      free(a);
      return st_err("added_tokens[%zu]: needs \"id\" and \"content\"", i);
    }
    a[i] = (added_spec){json_string_value(c), json_string_length(c), (int32_t)id,
                        json_is_true(json_object_get(o, "special")),
                        json_is_true(json_object_get(o, "lstrip")),
                        json_is_true(json_object_get(o, "rstrip")),
                        json_is_true(json_object_get(o, "single_word")),
                        json_is_true(json_object_get(o, "normalized"))};
    if (id > max_id) max_id = (int32_t)id;
  }
  if (max_id < 0) {
    free(v);
    free(a);
    return st_err("model: empty vocabulary");
  }
  for (size_t i = 0; i < k + na; i++) {
    int32_t id = i < k ? v[i].id : a[i - k].id;
    if (id_bound_ok(id, k + na)) continue;
    if (i < k) st_err("model.vocab['%s']: id %d is far outside the %zu entries (ids must be "
                      "dense or bounded by the vocabulary size)", v[i].s, id, k + na);
    else st_err("added_tokens[%zu] '%s': id %d is far outside the %zu entries (ids must be "
                "dense or bounded by the vocabulary size)", i - k, a[i - k].s, id, k + na);
    free(v);
    free(a);
    return ST_ERR;
  }
  int rc = build_vocab(m, v, k, max_id);
  free(v);

  /* merges: "a b" strings or ["a", "b"] pairs */
  size_t nm = json_array_size(merges);
  st_sbuf tmp = {0};
  if (rc == ST_OK) rc = st_pairmap_init(&m->merges, nm);
  for (size_t i = 0; i < nm && rc == ST_OK; i++) {
    const json_t *e = json_array_get(merges, i);
    if (json_is_string(e)) {
      const char *s = json_string_value(e), *sp = strchr(s, ' ');
      if (!sp || strchr(sp + 1, ' '))
        rc = st_err("model.merges[%zu]: '%s' is not two tokens split by one "
                    "space", i, s);
      else
        rc = add_merge(m, s, (size_t)(sp - s), sp + 1, strlen(sp + 1),
                       (int32_t)i, &tmp);
    } else if (json_is_array(e) && json_array_size(e) == 2 &&
               json_is_string(json_array_get(e, 0)) &&
               json_is_string(json_array_get(e, 1))) {
      const json_t *x = json_array_get(e, 0), *y = json_array_get(e, 1);
      rc = add_merge(m, json_string_value(x), json_string_length(x),
                     json_string_value(y), json_string_length(y), (int32_t)i,
                     &tmp);
    } else {
      rc = st_err("model.merges[%zu]: neither \"a b\" nor [\"a\", \"b\"]", i);
    }
  }
  free(tmp.p);

  const char *unk = json_string_value(json_object_get(model, "unk_token"));
  m->unk = unk ? st_strmap_get(&m->vocab, unk, strlen(unk)) : -1;
  m->unk_missing = unk && m->unk < 0;
  if (rc == ST_OK) rc = finish_model(m);
  if (rc == ST_OK) rc = add_tokens(m, a, (int)na);
  free(a);
  if (rc) return ST_ERR;
  t->vocab = m->nid;
  resolve_bos_eos(t, m, json_object_get(root, "post_processor"), cfg);
  return ST_OK;
}

int st_tok_hf_load(st_tokenizer *t, const char *json, size_t n,
                   const char *config, size_t config_n) {
  json_error_t e;
  json_t *root = json_loadb(json, n, 0, &e);
  if (!root) return st_err("line %d: %s", e.line, e.text);
  json_t *cfg = NULL;
  if (config) {
    cfg = json_loadb(config, config_n, 0, &e);
    if (!cfg) {
      json_decref(root);
      return st_err("tokenizer_config.json line %d: %s", e.line, e.text);
    }
  }
  bpe *m = st_calloc(1, sizeof *m);
  int rc = m ? hf_build(t, m, root, cfg) : ST_ERR;
  json_decref(root);
  json_decref(cfg);
  if (rc) {
    bpe_free(m);
    return ST_ERR;
  }
  t->vt = &bpe_vt;
  t->impl = m;
  return ST_OK;
}

/* --------------------------------------------------------------- GPT-2 */

int st_tok_gpt2_load(st_tokenizer *t, const char *encoder_json, size_t en,
                     const char *merges, size_t mn) {
  json_error_t e;
  json_t *vocab = json_loadb(encoder_json, en, 0, &e);
  if (!vocab) return st_err("encoder.json line %d: %s", e.line, e.text);
  bpe *m = st_calloc(1, sizeof *m);
  size_t nv = json_object_size(vocab), k = 0;
  ventry *v = m ? st_malloc((nv + 1) * sizeof *v) : NULL;
  int rc = v ? ST_OK : ST_ERR;
  int32_t max_id = -1;
  const char *key;
  json_t *val;
  if (rc == ST_OK && !json_is_object(vocab)) rc = st_err("encoder.json: not an object");
  if (rc == ST_OK) json_object_foreach(vocab, key, val) {
    json_int_t id = json_integer_value(val);
    if (!json_is_integer(val) || id < 0 || id >= INT32_MAX / 2) {
      rc = st_err("encoder.json['%s']: id is not an integer in range", key);
      break;
    }
    v[k++] = (ventry){key, strlen(key), (int32_t)id};
    if (id > max_id) max_id = (int32_t)id;
  }
  if (rc == ST_OK && max_id < 0) rc = st_err("encoder.json: empty vocabulary");
  for (size_t i = 0; rc == ST_OK && i < k; i++)
    if (!id_bound_ok(v[i].id, k))
      rc = st_err("encoder.json['%s']: id %d is far outside the %zu entries (ids must be "
                  "dense or bounded by the vocabulary size)", v[i].s, v[i].id, k);
  if (rc == ST_OK) rc = build_vocab(m, v, k, max_id);
  free(v);
  json_decref(vocab);

  /* merges: "#version" lines skipped, then one "a b" per line, in rank order */
  size_t lines = 1;
  for (size_t i = 0; i < mn; i++) lines += merges[i] == '\n';
  if (rc == ST_OK) rc = st_pairmap_init(&m->merges, lines);
  st_sbuf tmp = {0};
  int32_t rank = 0;
  for (size_t i = 0, ln = 1; i < mn && rc == ST_OK; ln++) {
    const char *line = merges + i, *end = memchr(line, '\n', mn - i);
    size_t len = end ? (size_t)(end - line) : mn - i;
    i += len + 1;
    if (len && line[len - 1] == '\r') len--;
    if (len == 0 || (len >= 8 && !memcmp(line, "#version", 8))) continue;
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len ||
        memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line)))
      rc = st_err("merges line %zu: not two tokens split by one space", ln);
    else
      rc = add_merge(m, line, (size_t)(sp - line), sp + 1,
                     len - (size_t)(sp + 1 - line), rank++, &tmp);
  }
  free(tmp.p);
  if (rc == ST_OK) rc = st_pipe_gpt2(&m->pipe);
  if (rc == ST_OK) {
    m->unk = -1;
    rc = finish_model(m);
  }
  /* <|endoftext|> is GPT-2's one special token, and its EOS */
  int32_t eot = rc == ST_OK ? st_strmap_get(&m->vocab, "<|endoftext|>", 13) : -1;
  if (rc == ST_OK && eot >= 0) {
    added_spec a = {"<|endoftext|>", 13, eot, 1, 0, 0, 0, 0};
    rc = add_tokens(m, &a, 1);
  } else if (rc == ST_OK) {
    rc = add_tokens(m, NULL, 0);
  }
  if (rc) {
    bpe_free(m);
    return ST_ERR;
  }
  t->vt = &bpe_vt;
  t->impl = m;
  t->vocab = m->nid;
  t->bos = -1;
  t->eos = eot;
  return ST_OK;
}
