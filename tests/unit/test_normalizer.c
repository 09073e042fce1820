/* test_normalizer.c - tokenizer.json's Unicode normalizers: every one loads,
 * alone and inside a Sequence, while an unknown type is still refused by
 * name; known answers from the Unicode standard and from HF tokenizers'
 * Lowercase (per character: no final sigma, 'İ' -> "i̇"); invalid UTF-8 is
 * an error, never a crash. The comparison against HF on 330 strings and
 * every changed character is tests/reference/test_normalizer_ref.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "test.h"
#include "tok_internal.h"
#include "tokenizer.h"

static char tmpdir[] = "/tmp/strata_norm_XXXXXX";
static char path[600];

static int err_has(const char *needle) { return strstr(st_errmsg(), needle) != NULL; }

/* load a one-token tokenizer.json with this normalizer object */
static int load_with(const char *normalizer, st_tokenizer **t) {
  FILE *f = fopen(path, "w");
  fprintf(f, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
             " \"normalizer\": %s}", normalizer);
  fclose(f);
  *t = NULL;
  return st_tokenizer_load(t, path);
}

static void test_load(void) {
  const char *ok[] = {
      "{\"type\": \"NFC\"}", "{\"type\": \"NFD\"}", "{\"type\": \"NFKC\"}",
      "{\"type\": \"NFKD\"}", "{\"type\": \"Lowercase\"}",
      "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFD\"},"
      " {\"type\": \"Lowercase\"}, {\"type\": \"NFKC\"}, {\"type\": \"NFKD\"},"
      " {\"type\": \"NFC\"}]}",
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    st_tokenizer *t;
    int rc = load_with(ok[i], &t);
    CHECK_MSG(rc == ST_OK && t, "%s: %s", ok[i], st_errmsg());
    st_tokenizer_free(t);
  }
  /* unknown types, and names that differ only in case, are refused by name */
  const char *bad[][2] = {
      {"{\"type\": \"BertNormalizer\"}", "normalizer 'BertNormalizer' is not supported"},
      {"{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"},"
       " {\"type\": \"StripAccents\"}]}", "normalizer 'StripAccents' is not supported"},
      {"{\"type\": \"nfc\"}", "normalizer 'nfc' is not supported"},
      {"{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}", "'Precompiled'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    st_tokenizer *t;
    int rc = load_with(bad[i][0], &t);
    CHECK_MSG(rc == ST_ERR && !t && err_has(bad[i][1]) && err_has("tokenizer.json"),
              "%s: %s", bad[i][0], st_errmsg());
  }
}

/* normalize with the tokenizer.json normalizer object `json` */
static int norm(const char *json, const char *s, size_t n, st_sbuf *out) {
  json_t *o = json_loads(json, 0, NULL);
  st_pipeline *p = NULL;
  st_pipe_ctx *c = NULL;
  int rc = st_pipe_parse(&p, o, NULL, NULL);
  if (rc == ST_OK && !(c = st_pipe_ctx_new(p))) rc = ST_ERR;
  out->n = 0;
  if (rc == ST_OK) rc = st_pipe_normalize(p, c, s, n, out);
  st_pipe_ctx_free(c);
  st_pipe_free(p);
  json_decref(o);
  return rc;
}

static void test_known(void) {
  struct { const char *type, *in, *want; } k[] = {
      {"NFC", "cafe\xCC\x81", "caf\xC3\xA9"},                       /* e + acute */
      {"NFC", "A\xCC\x8A \xE2\x84\xAB", "\xC3\x85 \xC3\x85"},       /* Å, Angstrom sign */
      {"NFC", "e\xCC\xA3\xCC\x82", "\xE1\xBB\x87"},                 /* reordered, then ệ */
      {"NFC", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C"}, /* jamo -> 한 */
      {"NFC", "\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC"},         /* exclusion: क़ */
      {"NFD", "\xC3\xA9", "e\xCC\x81"},
      {"NFD", "\xED\x95\x9C", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"},
      {"NFKC", "\xEF\xAC\x81", "fi"},                               /* ﬁ */
      {"NFKC", "\xE2\x91\xA0\xEF\xBC\xA1", "1A"},                   /* ①Ａ */
      {"NFKC", "\xE3\x84\xB1\xE3\x85\x8F", "\xEA\xB0\x80"},         /* ㄱㅏ -> 가 */
      {"NFKD", "\xC2\xBD", "1\xE2\x81\x84" "2"},                    /* ½ */
      {"NFKD", "a\xC2\xA0" "b", "a b"},                             /* no-break space */
      {"Lowercase", "HeLLo", "hello"},
      {"Lowercase", "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83"},
      {"Lowercase", "\xC4\xB0I", "i\xCC\x87i"},                      /* İI */
      {"Lowercase", "\xE1\xBA\x9E\xC3\x84", "\xC3\x9F\xC3\xA4"},     /* ẞÄ */
      {"Lowercase", "\xC7\x85", "\xC7\x86"},                         /* ǅ */
  };
  st_sbuf b = {0};
  for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
    char json[64];
    snprintf(json, sizeof json, "{\"type\": \"%s\"}", k[i].type);
    size_t wn = strlen(k[i].want);
    int rc = norm(json, k[i].in, strlen(k[i].in), &b);
    CHECK_MSG(rc == ST_OK && b.n == wn && !memcmp(b.p, k[i].want, wn),
              "%s of \"%s\": got \"%.*s\"", k[i].type, k[i].in, (int)b.n, b.p);
  }
  /* a NUL is a character like any other */
  CHECK(norm("{\"type\": \"NFC\"}", "\0e\xCC\x81", 4, &b) == ST_OK && b.n == 3 &&
        !memcmp(b.p, "\0\xC3\xA9", 3));
  CHECK(norm("{\"type\": \"Lowercase\"}", "\0\xC3\x89", 3, &b) == ST_OK && b.n == 3 &&
        !memcmp(b.p, "\0\xC3\xA9", 3));
  /* a Sequence applies its steps in order */
  CHECK(norm("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"},"
             " {\"type\": \"Lowercase\"}]}", "\xE2\x85\xAB", 3, &b) == ST_OK &&
        b.n == 3 && !memcmp(b.p, "xii", 3)); /* Ⅻ */
  free(b.p);
}

static void test_invalid(void) {
  const char *bytes[] = {"\xC3", "a\x80", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82",
                         "\xF4\x90\x80\x80", "ok\xFF"};
  const char *types[] = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase"};
  st_sbuf b = {0};
  for (size_t t = 0; t < 5; t++) {
    char json[64];
    snprintf(json, sizeof json, "{\"type\": \"%s\"}", types[t]);
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++) {
      int rc = norm(json, bytes[i], strlen(bytes[i]), &b);
      CHECK_MSG(rc == ST_ERR && err_has(types[t]), "%s of bytes %zu: %s", types[t], i,
                rc ? st_errmsg() : "accepted");
    }
  }
  free(b.p);
  /* through the tokenizer: the text is checked before any normalizer */
  st_tokenizer *t;
  int32_t *ids = NULL;
  int n;
  if (load_with("{\"type\": \"NFC\"}", &t) == ST_OK) {
    CHECK(st_tokenizer_encode(t, "a\xCC", 2, 0, &ids, &n) == ST_ERR && err_has("UTF-8"));
    st_tokenizer_free(t);
  }
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
  test_load();
  test_known();
  test_invalid();
  unlink(path);
  rmdir(tmpdir);
  TEST_DONE();
}
