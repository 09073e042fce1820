/* tok_pretok.c - the text pipeline around a BPE model, as Hugging Face
 * tokenizers runs it: normalizers (the Unicode ones in tok_unicode.c),
 * pre-tokenizers (PCRE2 regex splits, ByteLevel, Metaspace) and decoders,
 * parsed from tokenizer.json. Nothing downstream needs offsets into the
 * original text, so normalizers rewrite the text without alignments.
 *
 * Regexes in tokenizer.json are written for Oniguruma; PCRE2 with
 * PCRE2_UTF | PCRE2_UCP reads them the same way except for \s (PCRE2's
 * also matches U+180E) and \h (a hex digit in Oniguruma), which we rewrite.
 * Matches are iterated like the onig crate's find_iter so that empty matches
 * split text the same way. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tok_internal.h"

/* ------------------------------------------------------------ byte level */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes map to U+0100.. in byte order */
static int bl_printable(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

uint32_t st_bytelevel_char(unsigned byte) {
  if (bl_printable(byte)) return byte;
  uint32_t k = 0;
  for (unsigned b = 0; b < byte; b++) k += !bl_printable(b);
  return 256 + k;
}

int st_bytelevel_byte(uint32_t cp) {
  if (cp < 256) return bl_printable(cp) ? (int)cp : -1;
  if (cp >= 256 + 68) return -1;
  uint32_t k = cp - 256;
  for (unsigned b = 0; b < 256; b++)
    if (!bl_printable(b) && k-- == 0) return (int)b;
  return -1;
}

/* UTF-8 of each byte's alphabet character, precomputed once per pipeline */
typedef struct { char s[4]; uint8_t n; } bl_char;

/* ------------------------------------------------------------------ regex */

typedef struct { pcre2_code *code; int jit; } regex;

static const char *GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

/* Oniguruma's \s is Unicode White_Space; PCRE2's (UCP) also has U+180E */
#define ONIG_SPACE                                                          \
  "\\t\\n\\x0B\\f\\r\\x20\\x85\\xA0\\x{1680}\\x{2000}-\\x{200A}\\x{2028}"    \
  "\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Oniguruma -> PCRE2: \s and \S spelled out as Oniguruma has them (\S inside
 * a class is left alone), \h/\H are hex digits */
static int onig_to_pcre2(const char *p, size_t n, st_sbuf *o) {
  int in_class = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\\' && i + 1 < n) {
      char e = p[++i];
      const char *rep = NULL;
      if (e == 's') rep = in_class ? ONIG_SPACE : "[" ONIG_SPACE "]";
      else if (e == 'S' && !in_class) rep = "[^" ONIG_SPACE "]";
      else if (e == 'h') rep = in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
      else if (e == 'H' && !in_class) rep = "[^0-9a-fA-F]";
      if (rep) {
        if (st_sbuf_put(o, rep, strlen(rep))) return ST_ERR;
      } else if (st_sbuf_putc(o, '\\') || st_sbuf_putc(o, e)) {
        return ST_ERR;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = 1;
      if (st_sbuf_putc(o, c)) return ST_ERR;
      /* a ']' right after '[' or '[^' is a literal */
      if (i + 1 < n && p[i + 1] == '^' && st_sbuf_putc(o, p[++i])) return ST_ERR;
      if (i + 1 < n && p[i + 1] == ']' && st_sbuf_putc(o, p[++i])) return ST_ERR;
      continue;
    }
    if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {
      const char *end = strstr(p + i, ":]"); /* POSIX class [:alpha:] */
      if (end && (size_t)(end - p) < n) {
        size_t len = (size_t)(end - (p + i)) + 2;
        if (st_sbuf_put(o, p + i, len)) return ST_ERR;
        i += len - 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = 0;
    if (st_sbuf_putc(o, c)) return ST_ERR;
  }
  return ST_OK;
}

static int re_compile(regex *r, const char *pat, size_t n, int literal) {
  st_sbuf b = {0};
  uint32_t opts = PCRE2_UTF;
  if (literal) {
    opts |= PCRE2_LITERAL; /* LITERAL does not combine with UCP */
    if (st_sbuf_put(&b, pat, n)) return ST_ERR;
  } else {
    opts |= PCRE2_UCP;
    if (onig_to_pcre2(pat, n, &b)) {
      free(b.p);
      return ST_ERR;
    }
  }
  int err;
  PCRE2_SIZE at;
  r->code = pcre2_compile((PCRE2_SPTR)(b.p ? b.p : ""), b.n, opts, &err, &at,
                          NULL);
  free(b.p);
  if (!r->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return st_err("regex '%.*s': %s at offset %zu", (int)n, pat,
                  (const char *)msg, (size_t)at);
  }
  r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
  return ST_OK;
}

/* 1: a match [*ms, *me) at or after `from`; 0: none; ST_ERR */
static int re_find(const regex *r, pcre2_match_data *md, const char *s,
                   size_t n, size_t from, size_t *ms, size_t *me) {
  int rc = r->jit ? pcre2_jit_match(r->code, (PCRE2_SPTR)s, n, from, 0, md,
                                    NULL)
                  : PCRE2_ERROR_JIT_STACKLIMIT;
  /* the JIT's small stack can run out on very long runs (e.g. \s+(?!\S)
   * over megabytes of spaces); the interpreter keeps its frames on the heap */
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, from,
                     PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return st_err("regex match: %s", (const char *)msg);
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
  *ms = ov[0];
  *me = ov[1];
  return 1;
}

static size_t utf8_len(unsigned char c) {
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* --------------------------------------------------------------- objects */

enum { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS };
enum { PS_NEVER, PS_FIRST, PS_ALWAYS };

enum { N_PREPEND, N_REPLACE, N_STRIP, N_UNICODE };
typedef struct {
  int kind;
  char *a, *b; /* Prepend: a; Replace: content b (pattern in re) */
  size_t an, bn;
  regex re;
  int left, right; /* Strip */
  int form;        /* Unicode: ST_NFC .. ST_LOWERCASE */
} norm;

enum { P_SPLIT, P_BYTELEVEL, P_METASPACE };
typedef struct {
  int kind;
  regex re;       /* Split; ByteLevel with use_regex */
  int has_re;
  int behavior, invert;
  int add_prefix_space;
  char rep[4];    /* Metaspace replacement character */
  size_t rep_n;
  int prepend, split;
} pretok;

enum { D_BYTELEVEL, D_METASPACE, D_REPLACE, D_BYTEFALLBACK, D_FUSE, D_STRIP };
typedef struct {
  int kind;
  regex re;       /* Replace */
  char *b;
  size_t bn;
  uint32_t ch;    /* Strip content / Metaspace replacement */
  int start, stop, prepend;
} decoder;

struct st_pipeline {
  norm *norms;
  int nnorm;
  pretok *pres;
  int npre;
  decoder *decs;
  int ndec, has_decoder;
  int bytelevel;  /* the last pre-tokenizer is ByteLevel: spans stay raw */
  bl_char bl[256];
  regex word;     /* one \w character as Rust's regex has it */
};

struct st_pipe_ctx {
  pcre2_match_data *md;
  struct seg { size_t s, e; int m; } *seg;
  size_t nseg, capseg;
  st_spans a, b;
  st_sbuf n1, n2;
};

int st_spans_push(st_spans *v, size_t off, size_t len, int at_start) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 64;
    st_span *p = realloc(v->p, cap * sizeof *p);
    if (!p) return st_err("out of memory (%zu spans)", cap);
    v->p = p;
    v->cap = cap;
  }
  v->p[v->n++] = (st_span){off, len, at_start};
  return ST_OK;
}

static void re_free(regex *r) {
  if (r->code) pcre2_code_free(r->code);
  r->code = NULL;
}

void st_pipe_free(st_pipeline *p) {
  if (!p) return;
  for (int i = 0; i < p->nnorm; i++) {
    free(p->norms[i].a);
    free(p->norms[i].b);
    re_free(&p->norms[i].re);
  }
  for (int i = 0; i < p->npre; i++) re_free(&p->pres[i].re);
  for (int i = 0; i < p->ndec; i++) {
    re_free(&p->decs[i].re);
    free(p->decs[i].b);
  }
  re_free(&p->word);
  free(p->norms);
  free(p->pres);
  free(p->decs);
  free(p);
}

st_pipe_ctx *st_pipe_ctx_new(const st_pipeline *p) {
  st_pipe_ctx *c = st_calloc(1, sizeof *c);
  if (!c) return NULL;
  /* 16 pairs: more capture groups still match (rc 0), ovector[0..1] is set */
  c->md = pcre2_match_data_create(16, NULL);
  if (!c->md) {
    free(c);
    st_err("out of memory (regex match data)");
    return NULL;
  }
  return c;
}

void st_pipe_ctx_free(st_pipe_ctx *c) {
  if (!c) return;
  pcre2_match_data_free(c->md);
  free(c->seg);
  free(c->a.p);
  free(c->b.p);
  free(c->n1.p);
  free(c->n2.p);
  free(c);
}

int st_pipe_bytelevel(const st_pipeline *p) { return p->bytelevel; }

/* ---------------------------------------------------------------- parsing */

static const char *jstr(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static int jbool(const json_t *o, const char *key, int dflt) {
  const json_t *v = json_object_get(o, key);
  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static char *dupn(const char *s, size_t n) {
  char *d = st_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

/* a {"String": s} or {"Regex": r} pattern */
static int parse_pattern(regex *re, const json_t *pat, const char *where) {
  const json_t *s = json_object_get(pat, "String");
  const json_t *r = json_object_get(pat, "Regex");
  if (json_is_string(s))
    return re_compile(re, json_string_value(s), json_string_length(s), 1);
  if (json_is_string(r))
    return re_compile(re, json_string_value(r), json_string_length(r), 0);
  return st_err("%s: pattern is neither {\"String\": ..} nor {\"Regex\": ..}",
                where);
}

/* a single character given as a JSON string (Metaspace replacement, Strip) */
static int parse_char(const json_t *v, uint32_t *cp, const char *where) {
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (!s || n == 0 || st_utf8_valid_prefix((const unsigned char *)s, n) != n ||
      utf8_len((unsigned char)s[0]) != n)
    return st_err("%s: expected a one-character string", where);
  st_utf8_decode((const unsigned char *)s, cp);
  return ST_OK;
}

static int parse_prepend_scheme(const json_t *o, int *out, const char *where) {
  const char *s = jstr(o, "prepend_scheme");
  if (!s) { /* older files: add_prefix_space */
    *out = jbool(o, "add_prefix_space", 1) ? PS_ALWAYS : PS_NEVER;
    return ST_OK;
  }
  if (!strcmp(s, "first")) *out = PS_FIRST;
  else if (!strcmp(s, "always")) *out = PS_ALWAYS;
  else if (!strcmp(s, "never")) *out = PS_NEVER;
  else return st_err("%s: unknown prepend_scheme '%s'", where, s);
  return ST_OK;
}

static void *grow(void *arr, int n, size_t size) {
  void *p = realloc(arr, (size_t)(n + 1) * size);
  if (!p) st_err("out of memory");
  return p;
}

static int parse_normalizer(st_pipeline *p, const json_t *o) {
  if (!o || json_is_null(o)) return ST_OK;
  const char *type = jstr(o, "type");
  if (!type) return st_err("normalizer: missing \"type\"");
  if (!strcmp(type, "Sequence")) {
    const json_t *list = json_object_get(o, "normalizers");
    size_t i;
    const json_t *v;
    if (!json_is_array(list)) return st_err("normalizer Sequence: no list");
    json_array_foreach(list, i, v) if (parse_normalizer(p, v)) return ST_ERR;
    return ST_OK;
  }
  norm *ns = grow(p->norms, p->nnorm, sizeof *ns);
  if (!ns) return ST_ERR;
  p->norms = ns;
  norm *n = memset(&ns[p->nnorm], 0, sizeof *n);
  if (!strcmp(type, "Prepend")) {
    const json_t *v = json_object_get(o, "prepend");
    if (!json_is_string(v)) return st_err("normalizer Prepend: no string");
    n->kind = N_PREPEND;
    n->an = json_string_length(v);
    if (!(n->a = dupn(json_string_value(v), n->an))) return ST_ERR;
  } else if (!strcmp(type, "Replace")) {
    const json_t *v = json_object_get(o, "content");
    if (!json_is_string(v)) return st_err("normalizer Replace: no content");
    n->kind = N_REPLACE;
    n->bn = json_string_length(v);
    if (!(n->b = dupn(json_string_value(v), n->bn))) return ST_ERR;
    p->nnorm++; /* owned from here on, so st_pipe_free releases it */
    return parse_pattern(&n->re, json_object_get(o, "pattern"),
                         "normalizer Replace");
  } else if (!strcmp(type, "Strip")) {
    n->kind = N_STRIP;
    n->left = jbool(o, "strip_left", 1);
    n->right = jbool(o, "strip_right", 1);
  } else if ((n->form = st_unicode_form(type)) >= 0) {
    n->kind = N_UNICODE;
  } else {
    return st_err("normalizer '%s' is not supported (supported: Sequence, "
                  "Prepend, Replace, Strip, NFC, NFD, NFKC, NFKD, Lowercase)",
                  type);
  }
  p->nnorm++;
  return ST_OK;
}

static int add_split(st_pipeline *p, const char *pat, size_t n, int literal,
                     int behavior, int invert) {
  pretok *ps = grow(p->pres, p->npre, sizeof *ps);
  if (!ps) return ST_ERR;
  p->pres = ps;
  pretok *t = memset(&ps[p->npre++], 0, sizeof *t);
  t->kind = P_SPLIT;
  t->behavior = behavior;
  t->invert = invert;
  t->has_re = 1;
  return re_compile(&t->re, pat, n, literal);
}

static int parse_pretok(st_pipeline *p, const json_t *o) {
  if (!o || json_is_null(o)) return ST_OK;
  const char *type = jstr(o, "type");
  if (!type) return st_err("pre_tokenizer: missing \"type\"");
  if (!strcmp(type, "Sequence")) {
    const json_t *list = json_object_get(o, "pretokenizers");
    size_t i;
    const json_t *v;
    if (!json_is_array(list)) return st_err("pre_tokenizer Sequence: no list");
    json_array_foreach(list, i, v) if (parse_pretok(p, v)) return ST_ERR;
    return ST_OK;
  }
  if (!strcmp(type, "Split")) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                  "MergedWithNext", "Contiguous"};
    const char *b = jstr(o, "behavior");
    int behavior = -1;
    for (int i = 0; b && i < 5; i++)
      if (!strcmp(b, names[i])) behavior = i;
    if (behavior < 0)
      return st_err("pre_tokenizer Split: unknown behavior '%s'", b ? b : "");
    const json_t *pat = json_object_get(o, "pattern");
    const json_t *s = json_object_get(pat, "String");
    const json_t *r = json_object_get(pat, "Regex");
    const json_t *v = json_is_string(s) ? s : r;
    if (!json_is_string(v))
      return st_err("pre_tokenizer Split: pattern is neither String nor Regex");
    return add_split(p, json_string_value(v), json_string_length(v), v == s,
                     behavior, jbool(o, "invert", 0));
  }
  if (!strcmp(type, "Digits")) /* char::is_numeric */
    return add_split(p, "\\p{N}", 5, 0,
                     jbool(o, "individual_digits", 0) ? B_ISOLATED
                                                      : B_CONTIGUOUS, 0);
  if (!strcmp(type, "Whitespace"))
    return add_split(p, "\\w+|[^\\w\\s]+", 12, 0, B_REMOVED, 1);
  if (!strcmp(type, "WhitespaceSplit"))
    return add_split(p, "\\s+", 3, 0, B_REMOVED, 0);
  pretok *ps = grow(p->pres, p->npre, sizeof *ps);
  if (!ps) return ST_ERR;
  p->pres = ps;
  pretok *t = memset(&ps[p->npre], 0, sizeof *t);
  if (!strcmp(type, "ByteLevel")) {
    t->kind = P_BYTELEVEL;
    t->add_prefix_space = jbool(o, "add_prefix_space", 1);
    p->npre++;
    if (jbool(o, "use_regex", 1)) {
      t->has_re = 1;
      return re_compile(&t->re, GPT2_PATTERN, strlen(GPT2_PATTERN), 0);
    }
    return ST_OK;
  }
  if (!strcmp(type, "Metaspace")) {
    uint32_t cp;
    const json_t *rep = json_object_get(o, "replacement");
    if (parse_char(rep, &cp, "pre_tokenizer Metaspace replacement") ||
        parse_prepend_scheme(o, &t->prepend, "pre_tokenizer Metaspace"))
      return ST_ERR;
    t->kind = P_METASPACE;
    t->rep_n = (size_t)st_utf8_encode(cp, t->rep);
    t->split = jbool(o, "split", 1);
    p->npre++;
    return ST_OK;
  }
  return st_err("pre_tokenizer '%s' is not supported (supported: Sequence, "
                "Split, ByteLevel, Metaspace, Digits, Whitespace, "
                "WhitespaceSplit)", type);
}

static int parse_decoder(st_pipeline *p, const json_t *o) {
  if (!o || json_is_null(o)) return ST_OK;
  const char *type = jstr(o, "type");
  if (!type) return st_err("decoder: missing \"type\"");
  p->has_decoder = 1;
  if (!strcmp(type, "Sequence")) {
    const json_t *list = json_object_get(o, "decoders");
    size_t i;
    const json_t *v;
    if (!json_is_array(list)) return st_err("decoder Sequence: no list");
    json_array_foreach(list, i, v) if (parse_decoder(p, v)) return ST_ERR;
    return ST_OK;
  }
  decoder *ds = grow(p->decs, p->ndec, sizeof *ds);
  if (!ds) return ST_ERR;
  p->decs = ds;
  decoder *d = memset(&ds[p->ndec], 0, sizeof *d);
  if (!strcmp(type, "ByteLevel")) d->kind = D_BYTELEVEL;
  else if (!strcmp(type, "ByteFallback")) d->kind = D_BYTEFALLBACK;
  else if (!strcmp(type, "Fuse")) d->kind = D_FUSE;
  else if (!strcmp(type, "Strip")) {
    d->kind = D_STRIP;
    if (parse_char(json_object_get(o, "content"), &d->ch, "decoder Strip"))
      return ST_ERR;
    d->start = (int)json_integer_value(json_object_get(o, "start"));
    d->stop = (int)json_integer_value(json_object_get(o, "stop"));
  } else if (!strcmp(type, "Metaspace")) {
    d->kind = D_METASPACE;
    if (parse_char(json_object_get(o, "replacement"), &d->ch,
                   "decoder Metaspace replacement") ||
        parse_prepend_scheme(o, &d->prepend, "decoder Metaspace"))
      return ST_ERR;
  } else if (!strcmp(type, "Replace")) {
    const json_t *v = json_object_get(o, "content");
    if (!json_is_string(v)) return st_err("decoder Replace: no content");
    d->kind = D_REPLACE;
    d->bn = json_string_length(v);
    if (!(d->b = dupn(json_string_value(v), d->bn))) return ST_ERR;
    p->ndec++;
    return parse_pattern(&d->re, json_object_get(o, "pattern"),
                         "decoder Replace");
  } else {
    return st_err("decoder '%s' is not supported (supported: Sequence, "
                  "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)",
                  type);
  }
  p->ndec++;
  return ST_OK;
}

/* Rust regex's \w (added tokens' single_word): Alphabetic, marks, decimal
 * digits, connector punctuation, joiners */
static const char *WORD_PATTERN =
    "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]";

static int finish(st_pipeline *p) {
  p->bytelevel = p->npre > 0 && p->pres[p->npre - 1].kind == P_BYTELEVEL;
  for (unsigned b = 0; b < 256; b++)
    p->bl[b].n = (uint8_t)st_utf8_encode(st_bytelevel_char(b), p->bl[b].s);
  return re_compile(&p->word, WORD_PATTERN, strlen(WORD_PATTERN), 0);
}

int st_pipe_is_word(const st_pipeline *p, st_pipe_ctx *c, const char *s,
                    size_t n) {
  return n > 0 && pcre2_match(p->word.code, (PCRE2_SPTR)s, n, 0,
                              PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, c->md,
                              NULL) >= 0;
}

int st_pipe_parse(st_pipeline **out, const json_t *normalizer,
                  const json_t *pre_tokenizer, const json_t *decoder) {
  *out = NULL;
  st_pipeline *p = st_calloc(1, sizeof *p);
  if (!p) return ST_ERR;
  if (parse_normalizer(p, normalizer) || parse_pretok(p, pre_tokenizer) ||
      parse_decoder(p, decoder) || finish(p)) {
    st_pipe_free(p);
    return ST_ERR;
  }
  *out = p;
  return ST_OK;
}

int st_pipe_gpt2(st_pipeline **out) {
  *out = NULL;
  st_pipeline *p = st_calloc(1, sizeof *p);
  if (!p) return ST_ERR;
  p->pres = st_calloc(1, sizeof *p->pres);
  p->decs = st_calloc(1, sizeof *p->decs);
  if (!p->pres || !p->decs) {
    st_pipe_free(p);
    return ST_ERR;
  }
  p->npre = 1;
  p->pres[0].kind = P_BYTELEVEL;
  p->pres[0].has_re = 1;
  p->ndec = 1;
  p->decs[0].kind = D_BYTELEVEL;
  p->has_decoder = 1;
  if (re_compile(&p->pres[0].re, GPT2_PATTERN, strlen(GPT2_PATTERN), 0) ||
      finish(p)) {
    st_pipe_free(p);
    return ST_ERR;
  }
  *out = p;
  return ST_OK;
}

/* ---------------------------------------------------------- normalizing */

/* HF's Replace: non-overlapping matches, left to right, like find_iter */
static int replace_all(const regex *re, pcre2_match_data *md, const char *s,
                       size_t n, const char *with, size_t wn, st_sbuf *o) {
  size_t at = 0, from = 0, ms, me;
  long last_end = -1;
  while (from <= n) {
    int rc = re_find(re, md, s, n, from, &ms, &me);
    if (rc < 0) return ST_ERR;
    if (rc == 0) break;
    if (ms == me && (long)me == last_end) {
      if (me >= n) break;
      from = me + utf8_len((unsigned char)s[me]);
      continue;
    }
    if (st_sbuf_put(o, s + at, ms - at) || st_sbuf_put(o, with, wn))
      return ST_ERR;
    at = me;
    from = me;
    last_end = (long)me;
  }
  return st_sbuf_put(o, s + at, n - at);
}

static int strip_space(const char *s, size_t n, int left, int right,
                       st_sbuf *o) {
  const unsigned char *u = (const unsigned char *)s;
  size_t a = 0, b = n;
  uint32_t cp;
  while (left && a < b) {
    int k = st_utf8_decode(u + a, &cp);
    if (!st_unicode_is_space(cp)) break;
    a += (size_t)k;
  }
  while (right && b > a) {
    size_t k = b - 1;
    while (k > a && (u[k] & 0xC0) == 0x80) k--;
    st_utf8_decode(u + k, &cp);
    if (!st_unicode_is_space(cp)) break;
    b = k;
  }
  return st_sbuf_put(o, s + a, b - a);
}

int st_pipe_normalize(const st_pipeline *p, st_pipe_ctx *c, const char *s,
                      size_t n, st_sbuf *out) {
  const char *cur = s;
  size_t curn = n;
  st_sbuf *bufs[2] = {&c->n1, &c->n2};
  for (int i = 0; i < p->nnorm; i++) {
    const norm *nm = &p->norms[i];
    st_sbuf *o = bufs[i & 1];
    o->n = 0;
    int rc = ST_OK;
    switch (nm->kind) {
    case N_PREPEND:
      if (curn) rc = st_sbuf_put(o, nm->a, nm->an);
      if (!rc) rc = st_sbuf_put(o, cur, curn);
      break;
    case N_REPLACE:
      rc = replace_all(&nm->re, c->md, cur, curn, nm->b, nm->bn, o);
      break;
    case N_STRIP:
      rc = strip_space(cur, curn, nm->left, nm->right, o);
      break;
    default: /* N_UNICODE */
      rc = st_unicode_normalize(nm->form, cur, curn, o);
    }
    if (rc) return ST_ERR;
    cur = o->p ? o->p : "";
    curn = o->n;
  }
  return st_sbuf_put(out, cur, curn);
}

/* --------------------------------------------------------- pre-tokenizing */

static int seg_push(st_pipe_ctx *c, size_t s, size_t e, int m) {
  if (c->nseg == c->capseg) {
    size_t cap = c->capseg ? 2 * c->capseg : 256;
    struct seg *p = realloc(c->seg, cap * sizeof *p);
    if (!p) return st_err("out of memory (%zu segments)", cap);
    c->seg = p;
    c->capseg = cap;
  }
  c->seg[c->nseg++] = (struct seg){s, e, m};
  return ST_OK;
}

/* HF's NormalizedString::split: the regex cuts the span into match and
 * non-match segments, `behavior` decides what becomes a piece. */
static int split_span(st_pipe_ctx *c, const regex *re, int behavior,
                      int invert, const char *base, st_span sp,
                      st_spans *dst) {
  const char *s = base + sp.off;
  size_t n = sp.len, prev = 0, from = 0, ms, me;
  long last_end = -1;
  c->nseg = 0;
  while (from <= n) {
    int rc = re_find(re, c->md, s, n, from, &ms, &me);
    if (rc < 0) return ST_ERR;
    if (rc == 0) break;
    /* onig find_iter: no empty match right where the last match ended */
    if (ms == me && (long)me == last_end) {
      if (me >= n) break;
      from = me + utf8_len((unsigned char)s[me]);
      continue;
    }
    if (behavior == B_ISOLATED) { /* every segment is a piece: emit now */
      if (ms > prev && st_spans_push(dst, sp.off + prev, ms - prev,
                                     sp.at_start && prev == 0))
        return ST_ERR;
      if (me > ms && st_spans_push(dst, sp.off + ms, me - ms,
                                   sp.at_start && ms == 0))
        return ST_ERR;
    } else if ((ms != prev && seg_push(c, prev, ms, invert)) ||
               seg_push(c, ms, me, !invert)) {
      return ST_ERR;
    }
    prev = me;
    from = me;
    last_end = (long)me;
  }
  if (behavior == B_ISOLATED)
    return prev < n ? st_spans_push(dst, sp.off + prev, n - prev,
                                    sp.at_start && prev == 0)
                    : ST_OK;
  if (prev != n && seg_push(c, prev, n, invert)) return ST_ERR;

  /* fold into pieces (HF's SplitDelimiterBehavior); keep[] marks survivors */
  struct seg *g = c->seg;
  size_t k = 0;
  int prev_m = 0;
  switch (behavior) {
  case B_REMOVED:
    for (size_t i = 0; i < c->nseg; i++)
      if (!g[i].m) g[k++] = g[i];
    break;
  case B_CONTIGUOUS:
    for (size_t i = 0; i < c->nseg; i++) {
      if (g[i].m == prev_m && k > 0) g[k - 1].e = g[i].e;
      else g[k++] = g[i];
      prev_m = g[i].m;
    }
    break;
  case B_MERGED_PREV:
    for (size_t i = 0; i < c->nseg; i++) {
      int m = g[i].m;
      if (m && !prev_m && k > 0) g[k - 1].e = g[i].e;
      else g[k++] = g[i];
      prev_m = m;
    }
    break;
  default: /* B_MERGED_NEXT: the same fold from the right */
    k = c->nseg;
    for (size_t i = c->nseg; i-- > 0;) {
      int m = g[i].m;
      if (m && !prev_m && k < c->nseg) g[k].s = g[i].s;
      else g[--k] = g[i];
      prev_m = m;
    }
    memmove(g, g + k, (c->nseg - k) * sizeof *g);
    k = c->nseg - k;
  }
  for (size_t i = 0; i < k; i++)
    if (g[i].e > g[i].s &&
        st_spans_push(dst, sp.off + g[i].s, g[i].e - g[i].s,
                      sp.at_start && g[i].s == 0))
      return ST_ERR;
  return ST_OK;
}

/* map each byte of the span to its alphabet character (a ByteLevel that is
 * not the last pre-tokenizer, so later steps see the mapped text) */
static int bl_transform(const st_pipeline *p, st_sbuf *w, st_span *sp) {
  if (st_sbuf_reserve(w, 2 * sp->len)) return ST_ERR;
  size_t off = w->n;
  for (size_t i = 0; i < sp->len; i++) {
    const bl_char *b = &p->bl[(unsigned char)w->p[sp->off + i]];
    memcpy(w->p + w->n, b->s, b->n);
    w->n += b->n;
  }
  sp->off = off;
  sp->len = w->n - off;
  return ST_OK;
}

static int metaspace(const pretok *t, st_sbuf *w, st_span sp,
                     st_spans *dst) {
  /* replace ' ' by the replacement, then prepend it per the scheme */
  if (st_sbuf_reserve(w, sp.len * t->rep_n + t->rep_n)) return ST_ERR;
  size_t off = w->n;
  const char *s = w->p + sp.off;
  for (size_t i = 0; i < sp.len; i++) {
    if (s[i] == ' ') {
      memcpy(w->p + w->n, t->rep, t->rep_n);
      w->n += t->rep_n;
    } else {
      w->p[w->n++] = s[i];
    }
  }
  size_t len = w->n - off;
  int starts = len >= t->rep_n && !memcmp(w->p + off, t->rep, t->rep_n);
  if (!starts && (t->prepend == PS_ALWAYS ||
                  (t->prepend == PS_FIRST && sp.at_start))) {
    memmove(w->p + off + t->rep_n, w->p + off, len);
    memcpy(w->p + off, t->rep, t->rep_n);
    w->n += t->rep_n;
    len += t->rep_n;
  }
  if (!t->split) return st_spans_push(dst, off, len, sp.at_start);
  /* MergedWithNext on the replacement: a piece starts at each one */
  const char *q = w->p + off;
  size_t start = 0;
  for (size_t i = 1; i + t->rep_n <= len; i++) {
    if (memcmp(q + i, t->rep, t->rep_n)) continue;
    if (st_spans_push(dst, off + start, i - start, sp.at_start && start == 0))
      return ST_ERR;
    start = i;
    i += t->rep_n - 1;
  }
  return st_spans_push(dst, off + start, len - start,
                       sp.at_start && start == 0);
}

static int apply_pretok(const st_pipeline *p, st_pipe_ctx *c, int last,
                        const pretok *t, st_sbuf *w, st_span sp,
                        st_spans *dst) {
  if (t->kind == P_SPLIT)
    return split_span(c, &t->re, t->behavior, t->invert, w->p, sp, dst);
  if (t->kind == P_METASPACE) return metaspace(t, w, sp, dst);
  /* ByteLevel */
  if (t->add_prefix_space && w->p[sp.off] != ' ') {
    if (st_sbuf_reserve(w, sp.len + 1)) return ST_ERR;
    size_t off = w->n;
    w->p[w->n++] = ' ';
    memcpy(w->p + w->n, w->p + sp.off, sp.len);
    w->n += sp.len;
    sp.off = off;
    sp.len++;
  }
  size_t first = dst->n;
  if (t->has_re) {
    if (split_span(c, &t->re, B_ISOLATED, 0, w->p, sp, dst)) return ST_ERR;
  } else if (st_spans_push(dst, sp.off, sp.len, sp.at_start)) {
    return ST_ERR;
  }
  if (!last)
    for (size_t i = first; i < dst->n; i++)
      if (bl_transform(p, w, &dst->p[i])) return ST_ERR;
  return ST_OK;
}

int st_pipe_pretokenize(const st_pipeline *p, st_pipe_ctx *c, st_sbuf *work,
                        st_span in, st_spans *out) {
  if (in.len == 0) return ST_OK;
  if (p->npre == 0) return st_spans_push(out, in.off, in.len, in.at_start);
  st_spans *src = &c->a;
  src->n = 0;
  if (st_spans_push(src, in.off, in.len, in.at_start)) return ST_ERR;
  for (int k = 0; k < p->npre; k++) {
    int last = k == p->npre - 1;
    st_spans *dst = last ? out : (src == &c->a ? &c->b : &c->a);
    if (!last) dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
      if (apply_pretok(p, c, last, &p->pres[k], work, src->p[i], dst))
        return ST_ERR;
    src = dst;
  }
  return ST_OK;
}

/* --------------------------------------------------------------- decoding */

/* a list of strings: tok i is s.p[off[i], off[i+1]) */
typedef struct { st_sbuf s; size_t *off; size_t n, cap; } toks;

static int toks_reserve(toks *t, size_t n) {
  if (n + 1 <= t->cap) return ST_OK;
  size_t cap = t->cap ? 2 * t->cap : 64;
  while (cap < n + 1) cap *= 2;
  size_t *p = realloc(t->off, cap * sizeof *p);
  if (!p) return st_err("out of memory (%zu tokens)", cap);
  t->off = p;
  t->cap = cap;
  return ST_OK;
}

static int toks_reset(toks *t) {
  t->n = 0;
  t->s.n = 0;
  if (toks_reserve(t, 1)) return ST_ERR;
  t->off[0] = 0;
  return ST_OK;
}

/* close the token written since off[n] */
static int toks_end(toks *t) {
  if (toks_reserve(t, t->n + 1)) return ST_ERR;
  t->off[++t->n] = t->s.n;
  return ST_OK;
}

static void toks_free(toks *t) {
  free(t->s.p);
  free(t->off);
}

static int byte_of(const char *s, size_t n) { /* "<0xXX>" -> XX, else -1 */
  if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* one decoder step: in -> out (out starts empty) */
static int decode_step(const st_pipeline *p, const decoder *d,
                       pcre2_match_data *md, const toks *in, toks *out) {
  st_sbuf pend = {0}; /* ByteFallback: bytes waiting for a non-byte token */
  int rc = ST_OK;
  if (toks_reset(out)) return ST_ERR;
  for (size_t i = 0; i < in->n && rc == ST_OK; i++) {
    /* an earlier step may have left empty tokens and no buffer (Fuse of
     * nothing): NULL + 0 is undefined */
    const char *s = in->s.p ? in->s.p + in->off[i] : "";
    size_t n = in->off[i + 1] - in->off[i];
    const unsigned char *u = (const unsigned char *)s;
    switch (d->kind) {
    case D_BYTELEVEL: { /* all into one string; per token, map back when
                           every char is in the alphabet, else keep it */
      size_t at = pend.n;
      int ok = 1;
      for (size_t j = 0; j < n && ok;) {
        uint32_t cp;
        j += (size_t)st_utf8_decode(u + j, &cp);
        int b = st_bytelevel_byte(cp);
        if (b < 0) ok = 0;
        else rc = st_sbuf_putc(&pend, (char)b);
      }
      if (!ok) {
        pend.n = at;
        rc = st_sbuf_put(&pend, s, n);
      }
      break;
    }
    case D_METASPACE: {
      for (size_t j = 0; j < n && rc == ST_OK;) {
        uint32_t cp;
        int k = st_utf8_decode(u + j, &cp);
        if (cp != d->ch) rc = st_sbuf_put(&out->s, s + j, (size_t)k);
        else if (!(i == 0 && d->prepend != PS_NEVER))
          rc = st_sbuf_putc(&out->s, ' ');
        j += (size_t)k;
      }
      if (rc == ST_OK) rc = toks_end(out);
      break;
    }
    case D_REPLACE:
      rc = replace_all(&d->re, md, s, n, d->b, d->bn, &out->s);
      if (rc == ST_OK) rc = toks_end(out);
      break;
    case D_BYTEFALLBACK: {
      int b = byte_of(s, n);
      if (b >= 0) {
        char c = (char)b;
        rc = st_sbuf_put(&pend, &c, 1);
        break;
      }
      if (pend.n) { /* flush: valid UTF-8 as one token, else U+FFFD per byte */
        if (st_utf8_valid_prefix((unsigned char *)pend.p, pend.n) == pend.n) {
          rc = st_sbuf_put(&out->s, pend.p, pend.n);
          if (rc == ST_OK) rc = toks_end(out);
        } else {
          for (size_t j = 0; j < pend.n && rc == ST_OK; j++) {
            rc = st_sbuf_put(&out->s, "\xEF\xBF\xBD", 3);
            if (rc == ST_OK) rc = toks_end(out);
          }
        }
        pend.n = 0;
      }
      if (rc == ST_OK) rc = st_sbuf_put(&out->s, s, n);
      if (rc == ST_OK) rc = toks_end(out);
      break;
    }
    case D_FUSE:
      rc = st_sbuf_put(&out->s, s, n);
      break;
    default: { /* D_STRIP: up to start/stop copies of ch at either end */
      char enc[4];
      size_t cl = (size_t)st_utf8_encode(d->ch, enc);
      size_t a = 0, b = n;
      for (int k = 0; k < d->start && b - a >= cl && !memcmp(s + a, enc, cl);
           k++)
        a += cl;
      for (int k = 0; k < d->stop && b - a >= cl &&
                      !memcmp(s + b - cl, enc, cl);
           k++)
        b -= cl;
      rc = st_sbuf_put(&out->s, s + a, b - a);
      if (rc == ST_OK) rc = toks_end(out);
    }
    }
  }
  if (rc == ST_OK && d->kind == D_BYTELEVEL) {
    rc = st_sbuf_put_lossy(&out->s, pend.p ? pend.p : "", pend.n);
    if (rc == ST_OK) rc = toks_end(out);
  } else if (rc == ST_OK && d->kind == D_BYTEFALLBACK && pend.n) {
    if (st_utf8_valid_prefix((unsigned char *)pend.p, pend.n) == pend.n) {
      rc = st_sbuf_put(&out->s, pend.p, pend.n);
      if (rc == ST_OK) rc = toks_end(out);
    } else {
      for (size_t j = 0; j < pend.n && rc == ST_OK; j++) {
        rc = st_sbuf_put(&out->s, "\xEF\xBF\xBD", 3);
        if (rc == ST_OK) rc = toks_end(out);
      }
    }
  } else if (rc == ST_OK && d->kind == D_FUSE) {
    rc = toks_end(out);
  }
  free(pend.p);
  return rc;
}

int st_pipe_decode(const st_pipeline *p, const char *s, const size_t *off,
                   size_t n, st_sbuf *out) {
  if (!p->has_decoder) { /* HF joins the tokens with spaces */
    for (size_t i = 0; i < n; i++)
      if ((i && st_sbuf_putc(out, ' ')) ||
          st_sbuf_put(out, s + off[i], off[i + 1] - off[i]))
        return ST_ERR;
    return ST_OK;
  }
  toks a = {0}, b = {0};
  int rc = st_sbuf_put(&a.s, s, off[n]);
  if (rc == ST_OK) rc = toks_reserve(&a, n);
  if (rc == ST_OK) {
    memcpy(a.off, off, (n + 1) * sizeof *off);
    a.n = n;
  }
  pcre2_match_data *md = pcre2_match_data_create(16, NULL);
  if (!md) rc = st_err("out of memory (regex match data)");
  toks *in = &a, *o = &b;
  for (int i = 0; i < p->ndec && rc == ST_OK; i++) {
    rc = decode_step(p, &p->decs[i], md, in, o);
    toks *t = in;
    in = o;
    o = t;
  }
  if (rc == ST_OK) rc = st_sbuf_put(out, in->s.p, in->n ? in->off[in->n] : 0);
  if (md) pcre2_match_data_free(md);
  toks_free(&a);
  toks_free(&b);
  return rc;
}
