/* test_tokenizer.c - tokenizer pieces with known answers: the hash maps,
 * UTF-8 repair (Unicode's own example), GPT-2's byte alphabet, run.c's merge
 * order on a hand-built tokenizer.bin, bad files and bad input, and that a
 * shared tokenizer gives the same ids from many threads. The reference
 * comparison against HF tokenizers is tests/reference/test_tokenizer_ref.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "test.h"
#include "tok_internal.h"
#include "tokenizer.h"

static char tmpdir[] = "/tmp/strata_tok_XXXXXX";

static const char *tpath(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ & 7];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, n, f);
  fclose(f);
}

static int err_has(const char *needle) { return strstr(st_errmsg(), needle) != NULL; }

static void test_maps(void) {
  /* strmap against the obvious answer; keys differ in length and content */
  enum { N = 5000 };
  static char keys[N][12];
  st_strmap m;
  CHECK(st_strmap_init(&m, N) == ST_OK);
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i * 7919);
    st_strmap_put(&m, keys[i], strlen(keys[i]), i, 0);
  }
  int bad = 0;
  for (int i = 0; i < N; i++) bad += st_strmap_get(&m, keys[i], strlen(keys[i])) != i;
  CHECK(bad == 0);
  CHECK(st_strmap_get(&m, "k1", 2) == -1);
  CHECK(st_strmap_get(&m, "k0x", 2) == 0); /* length counts, not the NUL */
  st_strmap_put(&m, keys[3], strlen(keys[3]), 99, 0); /* keep */
  CHECK(st_strmap_get(&m, keys[3], strlen(keys[3])) == 3);
  st_strmap_put(&m, keys[3], strlen(keys[3]), 99, 1); /* overwrite */
  CHECK(st_strmap_get(&m, keys[3], strlen(keys[3])) == 99);
  CHECK(m.n == N);
  st_strmap_free(&m);

  st_pairmap p;
  CHECK(st_pairmap_init(&p, 3) == ST_OK);
  st_pairmap_put(&p, 1, 2, 0, 10);
  st_pairmap_put(&p, 2, 1, 1, 11);
  st_pairmap_put(&p, 1, 2, 5, 12); /* a repeated merge takes the later rank */
  const st_pairmap_slot *s = st_pairmap_get(&p, 1, 2);
  CHECK(s && s->rank == 5 && s->id == 12);
  s = st_pairmap_get(&p, 2, 1);
  CHECK(s && s->rank == 1 && s->id == 11);
  CHECK(st_pairmap_get(&p, 2, 2) == NULL);
  CHECK(p.n == 2);
  st_pairmap_free(&p);
}

static void test_utf8(void) {
  /* Unicode 15, ch. 3, Table 3-11: "U+FFFD for maximal subparts" */
  const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const char want[] = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                      "b\xEF\xBF\xBD"
                      "c\xEF\xBF\xBD\xEF\xBF\xBD"
                      "d";
  st_sbuf b = {0};
  CHECK(st_sbuf_put_lossy(&b, in, sizeof in - 1) == ST_OK);
  CHECK(b.n == sizeof want - 1 && !memcmp(b.p, want, b.n));
  /* surrogates and overlongs are invalid, one U+FFFD per byte here */
  b.n = 0;
  CHECK(st_sbuf_put_lossy(&b, "\xED\xA0\x80\xC0\xAF", 5) == ST_OK);
  CHECK(b.n == 15);
  free(b.p);
  CHECK(st_utf8_valid_prefix((const unsigned char *)"ab\xC3\xA9\xFF", 5) == 4);
  CHECK(st_utf8_valid_prefix((const unsigned char *)"\xF0\x9F\x98\x80", 4) == 4);
  CHECK(st_utf8_valid_prefix((const unsigned char *)"\xF0\x9F\x98", 3) == 0);
}

static void test_bytelevel(void) {
  /* GPT-2's alphabet: space is 'Ġ' (U+0120), newline 'Ċ' (U+010A) */
  CHECK(st_bytelevel_char(' ') == 0x120);
  CHECK(st_bytelevel_char('\n') == 0x10A);
  CHECK(st_bytelevel_char('A') == 'A');
  CHECK(st_bytelevel_char(0) == 0x100);
  CHECK(st_bytelevel_char(0x7F) == 0x121);
  CHECK(st_bytelevel_char(0xAD) == 0x143);
  CHECK(st_bytelevel_char(0xFF) == 0xFF);
  int bad = 0;
  for (unsigned b = 0; b < 256; b++) bad += st_bytelevel_byte(st_bytelevel_char(b)) != (int)b;
  CHECK(bad == 0);
  CHECK(st_bytelevel_byte(' ') == -1 && st_bytelevel_byte(0x144) == -1);
}

/* a llama2.c tokenizer.bin: <unk>, BOS, EOS, 256 bytes, then `extra` */
static void write_l2c(const char *path, const char **extra, const float *score,
                      int n, int nbytes) {
  FILE *f = fopen(path, "wb");
  int32_t maxlen = 8;
  fwrite(&maxlen, 4, 1, f);
  const char *head[3] = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int i = 0; i < 3 + nbytes + n; i++) {
    char buf[16];
    const char *s = i < 3 ? head[i] : buf;
    if (i >= 3 && i < 3 + nbytes) snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
    if (i >= 3 + nbytes) s = extra[i - 3 - nbytes];
    float sc = i >= 3 + nbytes ? score[i - 3 - nbytes] : 0.0f;
    int32_t len = (int32_t)strlen(s);
    fwrite(&sc, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite(s, 1, (size_t)len, f);
  }
  fclose(f);
}

static int encode_eq(const st_tokenizer *t, const char *s, int bos,
                     const int32_t *want, int nw) {
  int32_t *ids;
  int n;
  if (st_tokenizer_encode(t, s, strlen(s), bos, &ids, &n)) return 0;
  int ok = n == nw && !memcmp(ids, want, (size_t)n * sizeof *ids);
  if (!ok) {
    fprintf(stderr, "  \"%s\": got", s);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
  }
  free(ids);
  return ok;
}

static int decode_eq(const st_tokenizer *t, const int32_t *ids, int n, const char *want) {
  char *s;
  if (st_tokenizer_decode(t, ids, n, &s)) return 0;
  int ok = !strcmp(s, want);
  if (!ok) fprintf(stderr, "  decode: got \"%s\", want \"%s\"\n", s, want);
  free(s);
  return ok;
}

static void test_llama2c(void) {
  /* ids: 259 " ", 260 a, 261 b, 262 ab, 263 " a", 264 " ab", 265 ba, 266 bb */
  const char *extra[] = {" ", "a", "b", "ab", " a", " ab", "ba", "bb"};
  const float score[] = {0, 0, 0, -1, -2, -0.5f, -1, -2e10f};
  const char *path = tpath("tok.bin");
  write_l2c(path, extra, score, 8, 256);
  st_tokenizer *t;
  CHECK(st_tokenizer_load(&t, path) == ST_OK);
  if (!t) return;
  CHECK(st_tokenizer_vocab(t) == 267 && st_tokenizer_bos(t) == 1 && st_tokenizer_eos(t) == 2);
  /* "ab": [" ",a,b]; best pair ab (-1) beats " a" (-2); then " ab" */
  CHECK(encode_eq(t, "ab", 0, (int32_t[]){264}, 1));
  CHECK(encode_eq(t, "ab", 1, (int32_t[]){1, 264}, 2));
  /* "aba": ab and ba tie at -1, the leftmost merges; then " ab" + a */
  CHECK(encode_eq(t, "aba", 0, (int32_t[]){264, 260}, 2));
  /* a pair scoring <= -1e10 never merges (run.c's starting best) */
  CHECK(encode_eq(t, "bb", 0, (int32_t[]){259, 261, 261}, 3));
  /* byte fallback: e-acute is C3 A9 -> ids 0xC3+3, 0xA9+3 */
  CHECK(encode_eq(t, "\xC3\xA9", 0, (int32_t[]){259, 198, 172}, 3));
  CHECK(encode_eq(t, "", 1, (int32_t[]){1}, 1));
  /* decode: the space after BOS (and at the start) goes, bytes are raw */
  CHECK(decode_eq(t, (int32_t[]){1, 264, 260}, 3, "aba"));
  CHECK(decode_eq(t, (int32_t[]){264, 263, 2}, 3, "ab a"));
  CHECK(decode_eq(t, (int32_t[]){259, 198, 172}, 3, "\xC3\xA9"));
  int32_t bad = 267;
  char *s;
  CHECK(st_tokenizer_decode(t, &bad, 1, &s) == ST_ERR && err_has("267"));
  st_tokenizer_free(t);

  /* a long text: the heap merge must still agree with the rules above */
  const char *p2 = tpath("tok2.bin");
  write_l2c(p2, extra, score, 8, 256);
  CHECK(st_tokenizer_load(&t, p2) == ST_OK);
  enum { R = 2000 };
  char *text = malloc(2 * R + 1);
  for (int i = 0; i < R; i++) memcpy(text + 2 * i, "ab", 2);
  text[2 * R] = 0;
  int32_t *ids;
  int n;
  CHECK(st_tokenizer_encode(t, text, 2 * R, 0, &ids, &n) == ST_OK);
  /* every "ab" merges (-1) before any "ba" could; " ab" then takes the first */
  int ok = n == R && ids[0] == 264;
  for (int i = 1; i < n && ok; i++) ok = ids[i] == 262;
  CHECK(ok);
  free(ids);
  free(text);
  st_tokenizer_free(t);
}

static void test_bad_files(void) {
  st_tokenizer *t = NULL;
  CHECK(st_tokenizer_load(&t, tpath("missing.bin")) == ST_ERR && t == NULL &&
        err_has("missing.bin"));
  CHECK(st_tokenizer_load(&t, tmpdir) == ST_ERR && err_has("no tokenizer.json"));

  /* llama2.c: truncated record, too few tokens */
  const char *extra[] = {" "};
  const float score[] = {0};
  write_l2c(tpath("short.bin"), extra, score, 1, 10);
  CHECK(st_tokenizer_load(&t, tpath("short.bin")) == ST_ERR && err_has("at least 259"));
  char rec[4 + 8 + 3] = {8, 0, 0, 0};
  int32_t len = 100;
  memcpy(rec + 8, &len, 4);
  write_file(tpath("trunc.bin"), rec, sizeof rec);
  CHECK(st_tokenizer_load(&t, tpath("trunc.bin")) == ST_ERR && err_has("token 0") &&
        err_has("trunc.bin"));

  struct { const char *json, *err; } cases[] = {
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []", "line"},
      {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "WordPiece"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
       "'ab' is not in the vocabulary"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a a\"]}}",
       "merges[0]"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
       " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}", "BertPreTokenizer"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
       " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"},"
       " \"behavior\": \"Isolated\", \"invert\": false}}", "regex '(a'"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", "vocab['a']"},
      /* one far id would size the id tables in gigabytes */
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
       " \"added_tokens\": [{\"id\": 1073741822, \"content\": \"<x>\"}]}",
       "added_tokens[0] '<x>': id 1073741822 is far outside the 2 entries"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 999999999},"
       " \"merges\": []}}", "vocab['b']: id 999999999 is far outside"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [],"
       " \"continuing_subword_prefix\": \"##\"}}", "continuing_subword_prefix"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p = tpath("bad.json");
    write_file(p, cases[i].json, strlen(cases[i].json));
    t = NULL;
    int rc = st_tokenizer_load(&t, p);
    CHECK_MSG(rc == ST_ERR && t == NULL && err_has(cases[i].err) && err_has("bad.json"),
              "case %zu: %s", i, st_errmsg());
  }
}

/* GPT-2's encoder.json: an id of 10^9 in a small file is refused by name */
static void test_encoder_ids(void) {
  char dir[600], p[700];
  snprintf(dir, sizeof dir, "%s/gpt2bad", tmpdir);
  CHECK(mkdir(dir, 0755) == 0);
  const char *enc = "{\"a\": 0, \"b\": 1, \"ab\": 1000000000}";
  const char *bpe = "#version: 0.2\na b\n";
  snprintf(p, sizeof p, "%s/encoder.json", dir);
  write_file(p, enc, strlen(enc));
  snprintf(p, sizeof p, "%s/vocab.bpe", dir);
  write_file(p, bpe, strlen(bpe));
  st_tokenizer *t = NULL;
  CHECK_MSG(st_tokenizer_load(&t, dir) == ST_ERR && t == NULL &&
                err_has("encoder.json['ab']: id 1000000000 is far outside the 3 entries"),
            "%s", st_errmsg());
  /* a merge with an empty side (found by fuzz_gpt2_bpe: it hashed a NULL
   * key) is refused as malformed */
  const char *enc2 = "{\"a\": 0, \"b\": 1, \"ab\": 2}";
  const char *bpe2 = "#version: 0.2\n \n";
  snprintf(p, sizeof p, "%s/encoder.json", dir);
  write_file(p, enc2, strlen(enc2));
  snprintf(p, sizeof p, "%s/vocab.bpe", dir);
  write_file(p, bpe2, strlen(bpe2));
  CHECK_MSG(st_tokenizer_load(&t, dir) == ST_ERR && t == NULL &&
                err_has("merges line 2: not two tokens split by one space"),
            "%s", st_errmsg());
  snprintf(p, sizeof p, "%s/encoder.json", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/vocab.bpe", dir);
  unlink(p);
  rmdir(dir);
}

static void test_bpe_input(void) {
  st_tokenizer *t, *t2;
  CHECK(st_tokenizer_load(&t, "tests/fixtures/tokenizer/bl.json") == ST_OK);
  if (!t) return;
  int32_t *ids;
  int n;
  CHECK(st_tokenizer_encode(t, "ok\xFF", 3, 0, &ids, &n) == ST_ERR && err_has("UTF-8") &&
        err_has("byte 2"));
  int32_t bad = -1;
  char *s;
  CHECK(st_tokenizer_decode(t, &bad, 1, &s) == ST_ERR);

  /* a megabyte of whitespace: \s+(?!\S) backtracks over the whole run */
  size_t big = 1 << 20;
  char *text = malloc(big + 1);
  for (size_t i = 0; i < big; i++) text[i] = i % 1000 == 999 ? '\n' : ' ';
  text[big] = 0;
  CHECK(st_tokenizer_encode(t, text, big, 0, &ids, &n) == ST_OK);
  CHECK(st_tokenizer_decode(t, ids, n, &s) == ST_OK && !strcmp(s, text));
  free(s);
  free(ids);
  free(text);

  /* identity: same content, same hash; another tokenizer, another hash */
  CHECK(st_tokenizer_load(&t2, "tests/fixtures/tokenizer/bl.json") == ST_OK);
  CHECK(st_tokenizer_hash(t) == st_tokenizer_hash(t2));
  st_tokenizer_free(t2);
  CHECK(st_tokenizer_load(&t2, "tests/fixtures/tokenizer/sp.json") == ST_OK);
  CHECK(st_tokenizer_hash(t) != st_tokenizer_hash(t2));
  st_tokenizer_free(t2);
  st_tokenizer_free(t);
}

/* found by tests/fuzz/fuzz_tokenizer_json: decoding nothing through Fuse
 * then Strip handed Strip an empty token with no buffer (NULL + 0, which
 * clang's UBSan reports) */
static void test_empty_decode(void) {
  const char *json =
      "{\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, "
      "{\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}, "
      "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
      "\"merges\": [\"a b\"]}}";
  write_file(tpath("fuse_strip.json"), json, strlen(json));
  st_tokenizer *t;
  CHECK(st_tokenizer_load(&t, tpath("fuse_strip.json")) == ST_OK);
  if (!t) return;
  char *s = NULL;
  size_t len = 1;
  CHECK(st_tokenizer_decode_len(t, NULL, 0, &s, &len) == ST_OK && s && len == 0 && !*s);
  free(s);
  int32_t ab = 2;
  CHECK(st_tokenizer_decode(t, &ab, 1, &s) == ST_OK && !strcmp(s, "ab"));
  free(s);
  st_tokenizer_free(t);
}

/* encode is const and keeps its scratch per call: threads may share it */
static void test_threads(void) {
  st_tokenizer *t;
  CHECK(st_tokenizer_load(&t, "tests/fixtures/tokenizer/sp_meta.json") == ST_OK);
  if (!t) return;
  enum { K = 64 };
  char text[K][64];
  int32_t *serial[K], *par[K];
  int ns[K], np[K], bad = 0;
  for (int i = 0; i < K; i++) {
    snprintf(text[i], sizeof text[i], "Thou art %d times the knave\xC3\xA9, sirrah %d", i, i * 37);
    CHECK(st_tokenizer_encode(t, text[i], strlen(text[i]), 1, &serial[i], &ns[i]) == ST_OK);
  }
#pragma omp parallel for reduction(+ : bad)
  for (int i = 0; i < K; i++)
    bad += st_tokenizer_encode(t, text[i], strlen(text[i]), 1, &par[i], &np[i]) != ST_OK;
  CHECK(bad == 0);
  for (int i = 0; i < K; i++) {
    CHECK(ns[i] == np[i] && !memcmp(serial[i], par[i], (size_t)ns[i] * sizeof(int32_t)));
    free(serial[i]);
    free(par[i]);
  }
  st_tokenizer_free(t);
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_maps();
  test_utf8();
  test_bytelevel();
  test_llama2c();
  test_bad_files();
  test_encoder_ids();
  test_bpe_input();
  test_empty_decode();
  test_threads();
  const char *names[] = {"tok.bin", "tok2.bin", "short.bin", "trunc.bin", "bad.json",
                         "fuse_strip.json"};
  for (int i = 0; i < 6; i++) unlink(tpath(names[i]));
  rmdir(tmpdir);
  TEST_DONE();
}
