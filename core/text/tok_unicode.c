/* tok_unicode.c - the normalizers of tokenizer.json that need Unicode's
 * tables: NFC, NFD, NFKC, NFKD and Lowercase, on utf8proc's.
 *
 * HF tokenizers' Lowercase is Rust's char::to_lowercase on each character
 * in turn: the full lowercase mapping but without context, so 'Σ' becomes
 * 'σ' at the end of a word too (no final-sigma rule, unlike
 * str::to_lowercase). utf8proc's tolower is the simple mapping; the two
 * differ only where SpecialCasing.txt has an unconditional lowercase of
 * more than one character, and that is 'İ' (U+0130) alone: "i\u0307".
 *
 * Unicode versions differ: tokenizers (0.23) normalizes with Unicode 9.0
 * tables (the unicode-normalization-alignments crate) and lowercases with
 * its Rust's (16.0); Debian's utf8proc 2.8 has 15.0. On every character
 * both know the results are the same (tests/reference/test_normalizer_ref.c
 * covers each one whose mapping is not the identity). Characters added
 * after 9.0 that decompose (e.g. U+32FF, U+1FBF0..9) or are combining marks
 * (e.g. U+1ABF, U+08CA) are normalized here and left alone by tokenizers,
 * and the cased letters new in 16.0 are lowercased only by tokenizers. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "error.h"
#include "tok_internal.h"

static const char *const FORM_NAME[] = {"NFC", "NFD", "NFKC", "NFKD",
                                        "Lowercase"};

int st_unicode_form(const char *name) {
  for (int f = 0; f < (int)(sizeof FORM_NAME / sizeof *FORM_NAME); f++)
    if (!strcmp(name, FORM_NAME[f])) return f;
  return -1;
}

static int is_ascii(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] >= 0x80) return 0;
  return 1;
}

static int lowercase(const char *s, size_t n, st_sbuf *o) {
  const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k < 0)
      return st_err("normalizer Lowercase: text is not valid UTF-8 (byte %zu)",
                    i);
    i += (size_t)k;
    if (cp == 0x130) { /* 'İ' -> 'i' + COMBINING DOT ABOVE */
      if (st_sbuf_put(o, "i\xCC\x87", 3)) return ST_ERR;
      continue;
    }
    char enc[4];
    int e = st_utf8_encode((uint32_t)utf8proc_tolower(cp), enc);
    if (st_sbuf_put(o, enc, (size_t)e)) return ST_ERR;
  }
  return ST_OK;
}

int st_unicode_normalize(int form, const char *s, size_t n, st_sbuf *o) {
  if (is_ascii(s, n)) { /* every form leaves ASCII alone */
    if (form != ST_LOWERCASE) return st_sbuf_put(o, s, n);
    if (st_sbuf_reserve(o, n)) return ST_ERR;
    for (size_t i = 0; i < n; i++)
      o->p[o->n++] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    return ST_OK;
  }
  if (form == ST_LOWERCASE) return lowercase(s, n, o);
  /* utf8proc_NFC and friends use these options, but stop at a NUL byte */
  utf8proc_option_t opt = UTF8PROC_STABLE;
  opt |= form == ST_NFC || form == ST_NFKC ? UTF8PROC_COMPOSE
                                           : UTF8PROC_DECOMPOSE;
  if (form == ST_NFKC || form == ST_NFKD) opt |= UTF8PROC_COMPAT;
  utf8proc_uint8_t *d = NULL;
  utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s,
                                    (utf8proc_ssize_t)n, &d, opt);
  if (r < 0)
    return st_err("normalizer %s: %s", FORM_NAME[form], utf8proc_errmsg(r));
  int rc = st_sbuf_put(o, d, (size_t)r);
  free(d);
  return rc;
}
