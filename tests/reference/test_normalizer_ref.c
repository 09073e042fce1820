/* test_normalizer_ref.c - the Unicode normalizers (NFC, NFD, NFKC, NFKD,
 * Lowercase, and NFKC then Lowercase in a Sequence) against Hugging Face
 * tokenizers: tests/fixtures/normalizers, written by
 * scripts/make_normalizer_reference.py.
 *
 * Per tokenizer and string (330 each): the normalizer's output equals HF's
 * normalize_str exactly, and encode(text) equals HF's ids (a byte-level BPE
 * behind Qwen2's pre-tokenizer, so the ids spell the normalized text).
 * table.jsonl runs every character that some normalizer changes (where HF
 * and Python agree on it) through each normalizer and compares SHA-256s. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sha256.h"
#include "test.h"
#include "tok_internal.h"
#include "tokenizer.h"

#define DIR "tests/fixtures/normalizers/"

static int shown = 0; /* mismatches printed so far (all are counted) */

/* one tokenizer of the fixtures, and its normalizer on its own */
typedef struct {
  const char *name;
  st_tokenizer *tok;
  st_pipeline *pipe;
  st_pipe_ctx *ctx;
} subject;

static int subject_load(subject *s, const char *name) {
  char path[256];
  snprintf(path, sizeof path, DIR "%s.json", name);
  s->name = name;
  int rc = st_tokenizer_load(&s->tok, path);
  CHECK_MSG(rc == ST_OK, "%s: load: %s", path, st_errmsg());
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  CHECK_MSG(root != NULL, "%s: %s", path, e.text);
  if (rc || !root) {
    json_decref(root);
    return ST_ERR;
  }
  rc = st_pipe_parse(&s->pipe, json_object_get(root, "normalizer"), NULL, NULL);
  CHECK_MSG(rc == ST_OK, "%s: normalizer: %s", path, st_errmsg());
  json_decref(root);
  if (rc == ST_OK) s->ctx = st_pipe_ctx_new(s->pipe);
  return rc == ST_OK && s->ctx ? ST_OK : ST_ERR;
}

static void subject_free(subject *s) {
  st_pipe_ctx_free(s->ctx);
  st_pipe_free(s->pipe);
  st_tokenizer_free(s->tok);
}

/* text normalized by s into out (emptied first) */
static int normalize(subject *s, const char *text, size_t n, st_sbuf *out) {
  out->n = 0;
  return st_pipe_normalize(s->pipe, s->ctx, text, n, out);
}

static void check_case(subject *s, const json_t *c, int line, st_sbuf *nb) {
  const json_t *text = json_object_get(c, "text");
  const json_t *want = json_object_get(c, "normalized");
  const json_t *ids = json_object_get(c, "ids");
  const char *t = json_string_value(text);
  size_t tn = json_string_length(text);

  int rc = normalize(s, t, tn, nb);
  int same = rc == ST_OK && nb->n == json_string_length(want) &&
             (nb->n == 0 || !memcmp(nb->p, json_string_value(want), nb->n));
  CHECK_MSG(same, "%s:%d: normalized text differs for \"%s\" (%s)", s->name,
            line, t, rc ? st_errmsg() : "no error");
  if (!same && rc == ST_OK && shown++ < 20)
    fprintf(stderr, "    want \"%s\"\n    got  \"%.*s\"\n",
            json_string_value(want), (int)nb->n, nb->p);

  size_t n = json_array_size(ids);
  int32_t *got = NULL;
  int ng = 0;
  rc = st_tokenizer_encode(s->tok, t, tn, 0, &got, &ng);
  CHECK_MSG(rc == ST_OK, "%s:%d: encode failed: %s", s->name, line,
            st_errmsg());
  same = rc == ST_OK && ng == (int)n;
  for (size_t i = 0; same && i < n; i++)
    same = got[i] == json_integer_value(json_array_get(ids, i));
  CHECK_MSG(same, "%s:%d: ids differ for \"%s\"", s->name, line, t);
  free(got);
}

/* <name>.jsonl: a header, then the cases */
static void check_cases(subject *s) {
  char path[256];
  snprintf(path, sizeof path, DIR "%s.jsonl", s->name);
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "%s: cannot open", path);
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  int ln = 0, cases = 0;
  st_sbuf nb = {0};
  while (getline(&line, &cap, f) > 0) {
    json_error_t e;
    json_t *j = json_loads(line, JSON_ALLOW_NUL, &e);
    CHECK_MSG(j != NULL, "%s:%d: %s", path, ln + 1, e.text);
    if (!j) break;
    if (++ln == 1)
      CHECK_MSG(st_tokenizer_vocab(s->tok) ==
                    json_integer_value(json_object_get(j, "vocab")),
                "%s: vocab %d", path, st_tokenizer_vocab(s->tok));
    else {
      check_case(s, j, ln, &nb);
      cases++;
    }
    json_decref(j);
  }
  printf("%s: %d cases\n", path, cases);
  CHECK_MSG(cases >= 300, "%s: only %d cases", path, cases);
  free(nb.p);
  free(line);
  fclose(f);
}

static void short_hash(const char *s, size_t n, char hex[17]) {
  st_sha256_ctx c;
  uint8_t h[32];
  st_sha256_init(&c);
  st_sha256_update(&c, s, n);
  st_sha256_final(&c, h);
  for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

/* table.jsonl: {"text": 256 characters, "<name>": hash of its output, ...} */
static void check_table(subject *subj, int ns) {
  FILE *f = fopen(DIR "table.jsonl", "r");
  CHECK_MSG(f != NULL, "table.jsonl: cannot open");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  int ln = 0;
  long chars = 0, seen = 0;
  st_sbuf nb = {0};
  while (getline(&line, &cap, f) > 0) {
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    CHECK_MSG(j != NULL, "table.jsonl:%d: %s", ln + 1, e.text);
    if (!j) break;
    if (++ln == 1) {
      chars = (long)json_integer_value(json_object_get(j, "chars"));
      CHECK(json_array_size(json_object_get(j, "normalizers")) == (size_t)ns);
      json_decref(j);
      continue;
    }
    const char *t = json_string_value(json_object_get(j, "text"));
    size_t tn = json_string_length(json_object_get(j, "text"));
    for (size_t i = 0; i < tn; i++) seen += ((unsigned char)t[i] & 0xC0) != 0x80;
    uint32_t first = 0;
    if (tn) st_utf8_decode((const unsigned char *)t, &first);
    for (int k = 0; k < ns; k++) {
      const char *want = json_string_value(json_object_get(j, subj[k].name));
      char got[17] = "";
      int rc = normalize(&subj[k], t, tn, &nb);
      if (rc == ST_OK) short_hash(nb.p, nb.n, got);
      CHECK_MSG(rc == ST_OK && want && !strcmp(got, want),
                "table.jsonl:%d: %s differs (the line from U+%04X)", ln,
                subj[k].name, (unsigned)first);
    }
    json_decref(j);
  }
  printf("table.jsonl: %ld characters\n", seen);
  CHECK_MSG(seen == chars && chars > 7000, "table.jsonl: %ld of %ld characters",
            seen, chars);
  free(nb.p);
  free(line);
  fclose(f);
}

int main(void) {
  const char *names[] = {"nfc",       "nfd",           "nfkc", "nfkd",
                         "lowercase", "nfkc_lowercase"};
  enum { NS = sizeof names / sizeof *names };
  subject s[NS] = {0};
  int ok = 1;
  for (int i = 0; i < NS; i++) ok &= subject_load(&s[i], names[i]) == ST_OK;
  if (ok) {
    for (int i = 0; i < NS; i++) check_cases(&s[i]);
    check_table(s, NS);
  }
  for (int i = 0; i < NS; i++) subject_free(&s[i]);
  TEST_DONE();
}
