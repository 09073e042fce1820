/* test_tokenizer_json_ref.c - the tokenizer.json that st_tokenizer_export_hf
 * writes for a llama2.c tokenizer encodes as the llama2.c tokenizer does.
 *
 * tests/fixtures/tokenizer_json/tok512.json holds Hugging Face's ids for 500+
 * strings on the export of stories260K's tok512.bin
 * (scripts/make_tokenizer_json_reference.py). The test exports tok512.bin
 * again; its tokenizer.json must be the very file HF read (sha256). Then per
 * string:
 *  (a) strata's llama2.c tokenizer gives HF's ids (for text holding U+2581,
 *      which HF reads as a space, the run.c port's "llama2c" ids), and
 *      [1] + ids with BOS;
 *  (b) strata's tokenizer.json reader on the export gives HF's ids (with
 *      special tokens matched in text: "ids_added"), [1] + ids with BOS,
 *      and decodes HF's ids as HF does.
 * Bytes that are not UTF-8: (a) gives the run.c port's ids, (b) refuses the
 * text with an error naming UTF-8 and decodes the port's ids as HF does.
 *
 * Then the export's other paths, against values worked out by hand in the
 * comments: tied merge scores whose order matters (the note, and the
 * difference it warns of), bad files (errors naming file and token), HF
 * folders (files byte for byte), GPT-2's encoder.json + vocab.bpe. */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assets.h"
#include "error.h"
#include "sha256.h"
#include "test.h"
#include "tokenizer.h"

#define FIX "tests/fixtures/tokenizer_json/"

static int shown = 0; /* mismatches printed (all are counted) */

/* ------------------------------------------------------------- helpers */

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s, (void)f, (void)w;
  return remove(p);
}

static void rmtree(const char *d) { nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

/* whole file, or NULL; *n its length */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *d = malloc((size_t)len + 1);
  *n = fread(d, 1, (size_t)len, f);
  d[*n] = 0;
  fclose(f);
  return d;
}

static int same_file(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  int same = x && y && na == nb && !memcmp(x, y, na);
  free(x);
  free(y);
  return same;
}

static int exists(const char *path) {
  struct stat st;
  return !stat(path, &st);
}

static int32_t *ids_of(const json_t *a, size_t *n) {
  *n = json_array_size(a);
  int32_t *v = malloc((*n + 1) * sizeof *v);
  for (size_t i = 0; i < *n; i++)
    v[i] = (int32_t)json_integer_value(json_array_get(a, i));
  return v;
}

static void show(const char *what, const int32_t *ids, int n) {
  fprintf(stderr, "    %s [", what);
  for (int i = 0; i < n && i < 40; i++) fprintf(stderr, "%s%d", i ? "," : "", ids[i]);
  fprintf(stderr, "%s]\n", n > 40 ? ",..." : "");
}

/* encode(text) == want, and with BOS [1] + want */
static void check_encode(const st_tokenizer *t, const char *who, const char *s,
                         size_t len, const int32_t *want, size_t n) {
  int32_t *got = NULL;
  int ng = 0;
  int rc = st_tokenizer_encode(t, s, len, 0, &got, &ng);
  int same = rc == ST_OK && ng == (int)n && !memcmp(got, want, n * sizeof *want);
  CHECK_MSG(same, "%s: ids differ for \"%.60s\" (%s)", who, s,
            rc ? st_errmsg() : "");
  if (!same && shown++ < 20) {
    show("want", want, (int)n);
    show("got ", got, ng);
  }
  free(got);
  rc = st_tokenizer_encode(t, s, len, 1, &got, &ng);
  CHECK_MSG(rc == ST_OK && ng == (int)n + 1 && got[0] == 1 &&
                !memcmp(got + 1, want, n * sizeof *want),
            "%s: with BOS not [1] + ids for \"%.60s\"", who, s);
  free(got);
}

static void check_decode(const st_tokenizer *t, const int32_t *ids, size_t n,
                         const json_t *want) {
  char *dec = NULL;
  size_t len = 0;
  int rc = st_tokenizer_decode_len(t, ids, (int)n, &dec, &len);
  int same = rc == ST_OK && len == json_string_length(want) &&
             !memcmp(dec, json_string_value(want), len);
  CHECK_MSG(same, "decode differs from HF's \"%.60s\"", json_string_value(want));
  free(dec);
}

/* ------------------------------------------------ the tok512.bin export */

static void check_tok512(const char *tmp) {
  char bin[4096], out[4096], p[4200];
  int have = st_asset_local("models/stories260K/tok512.bin", bin, sizeof bin);
  CHECK_MSG(have >= 0, "tok512.bin: %s", st_errmsg());
  if (have != 1) {
    printf("tok512.bin not found: the stories260K export is not checked\n");
    return;
  }
  json_error_t e;
  json_t *fx = json_load_file(FIX "tok512.json", JSON_ALLOW_NUL, &e);
  CHECK_MSG(fx != NULL, FIX "tok512.json: %s", e.text);
  if (!fx) return;
  path_in(out, sizeof out, tmp, "tok512");
  mkdir(out, 0777);
  char note[512];
  OK(st_tokenizer_export_hf_note(bin, out, note, sizeof note));
  CHECK_MSG(!note[0], "tok512.bin: unexpected note: %s", note);
  char hex[65];
  OK(st_sha256_file(path_in(p, sizeof p, out, "tokenizer.json"), hex));
  CHECK_MSG(!strcmp(hex, json_string_value(json_object_get(fx, "tokenizer_json_sha256"))),
            "the exported tokenizer.json is not the file the fixture's ids came "
            "from (sha256 %s): rerun scripts/make_tokenizer_json_reference.py", hex);

  st_tokenizer *l2c = NULL, *hf = NULL;
  OK(st_tokenizer_load(&l2c, bin));
  OK(st_tokenizer_load(&hf, out));
  CHECK(st_tokenizer_bos(hf) == 1 && st_tokenizer_eos(hf) == 2);
  CHECK(st_tokenizer_vocab(hf) == st_tokenizer_vocab(l2c));
  size_t i, n, k, cases = 0, differ = 0;
  json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    const json_t *text = json_object_get(c, "text");
    const char *s = json_string_value(text);
    size_t len = json_string_length(text);
    int32_t *ids = ids_of(json_object_get(c, "ids"), &n);
    const json_t *l = json_object_get(c, "llama2c"), *a = json_object_get(c, "ids_added");
    int32_t *lw = l ? ids_of(l, &k) : ids, *aw = a ? ids_of(a, &k) : ids;
    size_t ln = l ? json_array_size(l) : n, an = a ? json_array_size(a) : n;
    check_encode(l2c, "llama2.c", s, len, lw, ln);
    check_encode(hf, "tokenizer.json", s, len, aw, an);
    check_decode(hf, ids, n, json_object_get(c, "decoded"));
    differ += l != NULL;
    if (lw != ids) free(lw);
    if (aw != ids) free(aw);
    free(ids);
    cases++;
  }
  CHECK_MSG(cases >= 300, "only %zu cases", cases);
  /* the only strings where HF differs from run.c: the ones with U+2581 */
  CHECK_MSG(differ > 0 && differ < 10, "%zu cases with U+2581", differ);

  size_t raw = 0;
  json_array_foreach(json_object_get(fx, "raw"), i, c) {
    const char *h = json_string_value(json_object_get(c, "hex"));
    size_t len = strlen(h) / 2;
    char *b = malloc(len + 1);
    for (size_t j = 0; j < len; j++) {
      unsigned v;
      sscanf(h + 2 * j, "%2x", &v);
      b[j] = (char)v;
    }
    int32_t *ids = ids_of(json_object_get(c, "llama2c"), &n);
    check_encode(l2c, "llama2.c (not UTF-8)", b, len, ids, n);
    int32_t *got = NULL;
    int ng = 0;
    int rc = st_tokenizer_encode(hf, b, len, 0, &got, &ng);
    CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "UTF-8"),
              "tokenizer.json took bytes that are not UTF-8 (%s)", h);
    free(got);
    check_decode(hf, ids, n, json_object_get(c, "decoded"));
    free(ids);
    free(b);
    raw++;
  }
  CHECK(raw >= 10);
  printf("tok512.bin -> tokenizer.json: %zu strings (%zu with U+2581), %zu not UTF-8\n",
         cases, differ, raw);
  st_tokenizer_free(l2c);
  st_tokenizer_free(hf);
  json_decref(fx);
}

/* --------------------------------------------- small llama2.c tokenizers */

/* <unk>, BOS, EOS (run.c's export names), <0x00>..<0xFF> (byte 0x0A named
 * bad_nl instead, when given), then tok[0..n) with their scores */
static void write_bin(const char *path, const char *const *tok, const float *score,
                      int n, const char *bad_nl) {
  FILE *f = fopen(path, "wb");
  int32_t maxlen = 16;
  fwrite(&maxlen, 4, 1, f);
  char name[16];
  for (int i = 0; i < 259 + n; i++) {
    const char *s = name;
    float sc = 0;
    if (i == 0) s = "<unk>";
    else if (i == 1) s = "\n<s>\n";
    else if (i == 2) s = "\n</s>\n";
    else if (i < 259) snprintf(name, sizeof name, "<0x%02X>", i - 3);
    else s = tok[i - 259], sc = score[i - 259];
    if (i == 13 && bad_nl) s = bad_nl;
    int32_t len = (int32_t)strlen(s);
    fwrite(&sc, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite(s, 1, (size_t)len, f);
  }
  fclose(f);
}

/* export dir/name.bin into dir/name/; the note into note */
static int export_bin(const char *dir, const char *name, const char *const *tok,
                      const float *score, int n, const char *bad_nl, char *note,
                      size_t nn, char *out, size_t on) {
  char bin[4096];
  snprintf(bin, sizeof bin, "%s/%s.bin", dir, name);
  write_bin(bin, tok, score, n, bad_nl);
  snprintf(out, on, "%s/%s", dir, name);
  mkdir(out, 0777);
  return st_tokenizer_export_hf_note(bin, out, note, nn);
}

/* encode text with the .bin and with the export */
static void both(const char *dir, const char *name, const char *text,
                 const int32_t *l2c_want, const int32_t *hf_want, int n) {
  char bin[4096], out[4096];
  snprintf(bin, sizeof bin, "%s/%s.bin", dir, name);
  snprintf(out, sizeof out, "%s/%s", dir, name);
  st_tokenizer *a = NULL, *b = NULL;
  OK(st_tokenizer_load(&a, bin));
  OK(st_tokenizer_load(&b, out));
  check_encode(a, name, text, strlen(text), l2c_want, (size_t)n);
  check_encode(b, name, text, strlen(text), hf_want, (size_t)n);
  st_tokenizer_free(a);
  st_tokenizer_free(b);
}

static void check_ties(const char *tmp) {
  char note[512], out[4096];
  /* "ab" and "bc" score the same. In "abc" run.c merges the leftmost pair,
   * a+b; HF's BPE the first-ranked: "bc" has the lower id, so b+c. */
  const char *ov[] = {" ", "a", "b", "c", "bc", "ab"};
  const float ovs[] = {-10, -20, -20, -20, -1, -1};
  OK(export_bin(tmp, "overlap", ov, ovs, 6, NULL, note, sizeof note, out, sizeof out));
  CHECK_MSG(strstr(note, "overlap.bin: tokenizer.json written") &&
                strstr(note, "'a' + 'b' and 'b' + 'c'"), "note: '%s'", note);
  both(tmp, "overlap", "abc", (const int32_t[]){259, 264, 262},
       (const int32_t[]){259, 260, 263}, 3);

  /* "zw" and "xy" score the same; xy + z makes "xyz", which scores better.
   * In "xyzw" run.c merges x+y first and then xy+z: [" ", xyz, w]; HF
   * merges z+w first ("zw" has the lower id), then x+y: [" ", xy, zw]. */
  const char *gr[] = {" ", "x", "y", "z", "w", "zw", "xy", "xyz"};
  const float grs[] = {-10, -20, -20, -20, -20, -5, -5, -1};
  OK(export_bin(tmp, "grow", gr, grs, 8, NULL, note, sizeof note, out, sizeof out));
  CHECK_MSG(strstr(note, "'xyz'") && strstr(note, "taking 'z'"), "note: '%s'", note);
  both(tmp, "grow", "xyzw", (const int32_t[]){259, 266, 263},
       (const int32_t[]){259, 265, 264}, 3);

  /* equal scores that cannot meet: no note, same ids */
  const char *ok[] = {" ", "a", "b", "c", "d", "ab", "cd"};
  const float oks[] = {-10, -20, -20, -20, -20, -1, -1};
  OK(export_bin(tmp, "apart", ok, oks, 7, NULL, note, sizeof note, out, sizeof out));
  CHECK_MSG(!note[0], "note: '%s'", note);
  both(tmp, "apart", "abcd", (const int32_t[]){259, 264, 265},
       (const int32_t[]){259, 264, 265}, 3);
}

static void check_bad_bins(const char *tmp) {
  char note[512], out[4096];
  const char *one[] = {" "};
  const float sc[] = {-1, -1};
  int rc = export_bin(tmp, "bad_byte", one, sc, 1, "<0x0a>", note, sizeof note,
                      out, sizeof out);
  CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "bad_byte.bin") &&
                strstr(st_errmsg(), "token 13") && strstr(st_errmsg(), "<0x0A>"),
            "%s", st_errmsg());
  const char *dup[] = {" x", "\xE2\x96\x81x"}; /* both "▁x" in tokenizer.json */
  rc = export_bin(tmp, "dup", dup, sc, 2, NULL, note, sizeof note, out,
                  sizeof out);
  CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "dup.bin") &&
                strstr(st_errmsg(), "tokens 259 and 260"), "%s", st_errmsg());
  const char *bad8[] = {"\xFF"};
  rc = export_bin(tmp, "not_utf8", bad8, sc, 1, NULL, note, sizeof note, out,
                  sizeof out);
  CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "not_utf8.bin") &&
                strstr(st_errmsg(), "token 259") && strstr(st_errmsg(), "UTF-8"),
            "%s", st_errmsg());
  char bin[4096];
  path_in(bin, sizeof bin, tmp, "short.bin");
  write_file(bin, "\x10\0\0\0\0\0\0\0\x05\0\0\0ab", 14); /* length 5, 2 bytes */
  rc = st_tokenizer_export_hf(bin, tmp);
  CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "short.bin") &&
                strstr(st_errmsg(), "token 0"), "%s", st_errmsg());
  rc = st_tokenizer_export_hf(bin, "/nonexistent/strata_out");
  CHECK_MSG(rc != ST_OK && strstr(st_errmsg(), "/nonexistent/strata_out"), "%s",
            st_errmsg());
}

/* ------------------------------------------------------------ HF folders */

static void check_folders(const char *tmp) {
  char src[4096], out[4096], a[4200], b[4200], note[512];
  /* every listed file, byte for byte (tokenizer.model with a NUL); others stay */
  path_in(src, sizeof src, tmp, "hf_src");
  path_in(out, sizeof out, tmp, "hf_out");
  mkdir(src, 0777);
  mkdir(out, 0777);
  static const char *names[] = {"tokenizer.json", "tokenizer_config.json",
                                "special_tokens_map.json", "vocab.json", "merges.txt",
                                "tokenizer.model", "added_tokens.json",
                                "chat_template.jinja"};
  for (int i = 0; i < 8; i++) {
    char body[64];
    int len = snprintf(body, sizeof body, "{\"file\": %d}\n\x01", i);
    if (i == 5) body[3] = 0;
    write_file(path_in(a, sizeof a, src, names[i]), body, (size_t)len);
  }
  write_file(path_in(a, sizeof a, src, "README.md"), "not a tokenizer", 15);
  OK(st_tokenizer_export_hf_note(src, out, note, sizeof note));
  CHECK_MSG(!note[0], "note: %s", note);
  for (int i = 0; i < 8; i++)
    CHECK_MSG(same_file(path_in(a, sizeof a, src, names[i]),
                        path_in(b, sizeof b, out, names[i])),
              "%s is not copied byte for byte", names[i]);
  CHECK(!exists(path_in(b, sizeof b, out, "README.md")));

  /* a tokenizer.json by another name: written as tokenizer.json, with the
   * files beside it */
  path_in(out, sizeof out, tmp, "json_out");
  mkdir(out, 0777);
  write_file(path_in(a, sizeof a, src, "my.json"), " {\"model\": 1}", 13);
  OK(st_tokenizer_export_hf(a, out));
  CHECK(same_file(a, path_in(b, sizeof b, out, "tokenizer.json")));
  CHECK(same_file(path_in(a, sizeof a, src, "chat_template.jinja"),
                  path_in(b, sizeof b, out, "chat_template.jinja")));

  /* GPT-2's release files under the names GPT2TokenizerFast reads */
  path_in(src, sizeof src, tmp, "gpt2_src");
  path_in(out, sizeof out, tmp, "gpt2_out");
  mkdir(src, 0777);
  mkdir(out, 0777);
  size_t n;
  char *enc = slurp(FIX "gpt2/encoder.json", &n);
  CHECK(enc != NULL);
  if (!enc) return;
  write_file(path_in(a, sizeof a, src, "encoder.json"), enc, n);
  free(enc);
  char *bpe = slurp(FIX "gpt2/vocab.bpe", &n);
  write_file(path_in(a, sizeof a, src, "vocab.bpe"), bpe, n);
  free(bpe);
  OK(st_tokenizer_export_hf_note(src, out, note, sizeof note));
  CHECK(same_file(FIX "gpt2/encoder.json", path_in(b, sizeof b, out, "vocab.json")));
  CHECK(same_file(FIX "gpt2/vocab.bpe", path_in(b, sizeof b, out, "merges.txt")));
  json_error_t e;
  json_t *cfg = json_load_file(path_in(b, sizeof b, out, "tokenizer_config.json"), 0, &e);
  CHECK_MSG(cfg && !strcmp(json_string_value(json_object_get(cfg, "tokenizer_class")),
                           "GPT2TokenizerFast"), "tokenizer_config.json: %s", e.text);
  json_decref(cfg);
  st_tokenizer *x = NULL, *y = NULL;
  OK(st_tokenizer_load(&x, src));
  OK(st_tokenizer_load(&y, out));
  CHECK(st_tokenizer_hash(x) == st_tokenizer_hash(y)); /* the same two files */
  st_tokenizer_free(x);
  st_tokenizer_free(y);

  /* no tokenizer files: nothing written, and the note says so */
  path_in(src, sizeof src, tmp, "empty_src");
  path_in(out, sizeof out, tmp, "empty_out");
  mkdir(src, 0777);
  mkdir(out, 0777);
  OK(st_tokenizer_export_hf_note(src, out, note, sizeof note));
  CHECK_MSG(strstr(note, "empty_src") && strstr(note, "no tokenizer files"),
            "note: %s", note);
  CHECK(!exists(path_in(b, sizeof b, out, "tokenizer.json")));
}

int main(void) {
  char tmp[] = "/tmp/strata_tokjson_XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  check_tok512(tmp);
  check_ties(tmp);
  check_bad_bins(tmp);
  check_folders(tmp);
  rmtree(tmp);
  TEST_DONE();
}
