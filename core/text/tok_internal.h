/* tok_internal.h - what the tokenizer files share: the st_tokenizer object
 * (a small vtable over the llama2.c and BPE implementations), growable
 * buffers, open-addressing hash maps and UTF-8 helpers. Not a public header. */
#ifndef ST_TOK_INTERNAL_H
#define ST_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- growable buffers ---- */
typedef struct { char *p; size_t n, cap; } st_sbuf;       /* bytes */
typedef struct { int32_t *p; size_t n, cap; } st_ivec;    /* int32 */

int st_sbuf_reserve(st_sbuf *b, size_t extra);
int st_sbuf_put(st_sbuf *b, const void *s, size_t n);
static inline int st_sbuf_putc(st_sbuf *b, char c) { return st_sbuf_put(b, &c, 1); }
int st_ivec_reserve(st_ivec *v, size_t extra);
int st_ivec_push(st_ivec *v, int32_t x);

/* 64-bit hash of a byte string (also the tokenizer identity hash) */
uint64_t st_hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---- string -> int32 map: open addressing, linear probing. Keys are not
 * copied: they must outlive the map (callers keep them in one pool). The
 * capacity is fixed by init (load <= 1/2), so a failed put is a bug. ---- */
typedef struct { const char *key; uint32_t len; int32_t val; } st_strmap_slot;
typedef struct { st_strmap_slot *slot; uint64_t mask; size_t n; } st_strmap;

int st_strmap_init(st_strmap *m, size_t max_entries);
/* insert; if the key is present, overwrite when `overwrite`, else keep */
void st_strmap_put(st_strmap *m, const char *key, size_t len, int32_t val,
                   int overwrite);
int32_t st_strmap_get(const st_strmap *m, const char *key, size_t len); /* -1 */
void st_strmap_free(st_strmap *m);

/* ---- (id, id) -> (rank, id) map for BPE merges ---- */
typedef struct { uint64_t key; int32_t rank, id; } st_pairmap_slot;
typedef struct { st_pairmap_slot *slot; uint64_t mask; size_t n; } st_pairmap;

int st_pairmap_init(st_pairmap *m, size_t max_entries);
void st_pairmap_put(st_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* the slot for (a, b), or NULL */
const st_pairmap_slot *st_pairmap_get(const st_pairmap *m, int32_t a, int32_t b);
void st_pairmap_free(st_pairmap *m);

/* ---- UTF-8 ---- */
/* length of the valid UTF-8 prefix (== n when all valid) */
size_t st_utf8_valid_prefix(const unsigned char *s, size_t n);
/* decode one code point of valid UTF-8, return its byte length */
int st_utf8_decode(const unsigned char *s, uint32_t *cp);
int st_utf8_encode(uint32_t cp, char out[4]);
/* Unicode White_Space (Rust's char::is_whitespace) */
int st_unicode_is_space(uint32_t cp);
/* append s to b, replacing invalid UTF-8 like Rust's String::from_utf8_lossy
 * (one U+FFFD per maximal invalid subpart) */
int st_sbuf_put_lossy(st_sbuf *b, const char *s, size_t n);

/* ---- Unicode normalizers (tok_unicode.c) ---- */
enum { ST_NFC, ST_NFD, ST_NFKC, ST_NFKD, ST_LOWERCASE };
/* the form a tokenizer.json normalizer type names ("NFC", ..., "Lowercase"),
 * or -1 */
int st_unicode_form(const char *type);
/* append s normalized as HF tokenizers does to b; invalid UTF-8 is ST_ERR */
int st_unicode_normalize(int form, const char *s, size_t n, st_sbuf *b);

/* ---- files ---- */
/* whole file, NUL-terminated; *n without the NUL */
int st_read_file(const char *path, char **data, size_t *n);

/* ---- the object ---- */
typedef struct st_tok_vt {
  int (*encode)(const st_tokenizer *t, const char *text, size_t len,
                st_ivec *out);
  int (*decode)(const st_tokenizer *t, const int32_t *ids, int n,
                st_sbuf *out);
  void (*free)(void *impl);
} st_tok_vt;

struct st_tokenizer {
  const st_tok_vt *vt;
  void *impl;
  int vocab, bos, eos;
  uint64_t hash;
};

/* loaders: fill t->vt, impl, vocab, bos, eos (hash is set by the caller) */
int st_tok_llama2c_load(st_tokenizer *t, const char *data, size_t n);
/* tokenizer.json text; config (tokenizer_config.json text) may be NULL */
int st_tok_hf_load(st_tokenizer *t, const char *json, size_t n,
                   const char *config, size_t config_n);
/* GPT-2 encoder.json (or vocab.json) and vocab.bpe (or merges.txt) */
int st_tok_gpt2_load(st_tokenizer *t, const char *encoder_json, size_t en,
                     const char *merges, size_t mn);

/* ---- the HF pipeline around the BPE model (tok_pretok.c) ---- */
typedef struct json_t json_t;
typedef struct st_pipeline st_pipeline;

/* a piece of a work buffer: pre-tokens are spans, not copies */
typedef struct { size_t off, len; int at_start; } st_span;
typedef struct { st_span *p; size_t n, cap; } st_spans;
int st_spans_push(st_spans *v, size_t off, size_t len, int at_start);

/* normalizer, pre_tokenizer, decoder objects of a tokenizer.json (any may be
 * NULL or JSON null) */
int st_pipe_parse(st_pipeline **out, const json_t *normalizer,
                  const json_t *pre_tokenizer, const json_t *decoder);
/* GPT-2: ByteLevel pre-tokenizer (GPT-2 regex, no prefix space) + decoder */
int st_pipe_gpt2(st_pipeline **out);
void st_pipe_free(st_pipeline *p);

/* per-call matching state (PCRE2 match data); one per encode call, so a
 * const tokenizer can be shared by threads */
typedef struct st_pipe_ctx st_pipe_ctx;
st_pipe_ctx *st_pipe_ctx_new(const st_pipeline *p);
void st_pipe_ctx_free(st_pipe_ctx *c);

/* append the normalized s to out */
int st_pipe_normalize(const st_pipeline *p, st_pipe_ctx *c, const char *s,
                      size_t n, st_sbuf *out);
/* Pre-tokenize the span in of work (appending rewritten text to work when a
 * step changes it) into spans appended to out. When this returns with
 * st_pipe_bytelevel(p) set, the spans are raw bytes that the model reads
 * through the byte-level alphabet. */
int st_pipe_pretokenize(const st_pipeline *p, st_pipe_ctx *c, st_sbuf *work,
                        st_span in, st_spans *out);
int st_pipe_bytelevel(const st_pipeline *p);
/* whether the character at s (n bytes left) is a word character (\w) */
int st_pipe_is_word(const st_pipeline *p, st_pipe_ctx *c, const char *s,
                    size_t n);
/* decode: the tokens' strings (tok i is s[off[i], off[i+1])) -> text */
int st_pipe_decode(const st_pipeline *p, const char *s, const size_t *off,
                   size_t n, st_sbuf *out);

/* GPT-2's byte <-> unicode alphabet */
uint32_t st_bytelevel_char(unsigned byte);
int st_bytelevel_byte(uint32_t cp); /* -1 outside the alphabet */

#endif
