/* test_tokenizer_ref.c - every tokenizer against the ids that Hugging Face
 * tokenizers (or, for llama2.c, a Python port of run.c) produced for the
 * same strings: the .jsonl files in tests/fixtures/tokenizer, written by
 * scripts/make_tokenizer_reference.py.
 *
 * Per case: encode(text) == ids exactly; encode(text, bos) == [bos] + ids;
 * decode(ids) == the reference's decode (so decode(encode(s)) == s wherever
 * the reference round-trips). variants.jsonl carries small tokenizer.json
 * files inline, one per pipeline feature. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assets.h"
#include "error.h"
#include "test.h"
#include "tokenizer.h"

#define DIR "tests/fixtures/tokenizer/"

static int shown = 0; /* mismatches printed so far (all are counted) */

static void show_ids(const char *what, const int32_t *ids, int n) {
  fprintf(stderr, "    %s [", what);
  for (int i = 0; i < n && i < 40; i++) fprintf(stderr, "%s%d", i ? "," : "", ids[i]);
  fprintf(stderr, "%s]\n", n > 40 ? ",..." : "");
}

/* one case; name/line for messages */
static void check_case(const st_tokenizer *t, const json_t *c, const char *name,
                       int line, int bos) {
  const json_t *text = json_object_get(c, "text");
  const json_t *ids = json_object_get(c, "ids");
  const char *decoded = json_string_value(json_object_get(c, "decoded"));
  size_t n = json_array_size(ids);
  int32_t *want = malloc((n + 1) * sizeof *want);
  for (size_t i = 0; i < n; i++)
    want[i] = (int32_t)json_integer_value(json_array_get(ids, i));

  if (json_is_string(text)) {
    const char *s = json_string_value(text);
    size_t len = json_string_length(text);
    int32_t *got = NULL;
    int ng = 0;
    int rc = st_tokenizer_encode(t, s, len, 0, &got, &ng);
    CHECK_MSG(rc == ST_OK, "%s:%d: encode failed: %s", name, line, st_errmsg());
    int same = rc == ST_OK && ng == (int)n && !memcmp(got, want, n * sizeof *want);
    CHECK_MSG(same, "%s:%d: ids differ for \"%.60s\"", name, line, s);
    if (!same && shown++ < 20) {
      show_ids("want", want, (int)n);
      show_ids("got ", got, ng);
    }
    free(got);
    if (bos >= 0) { /* with BOS: exactly one more token in front */
      rc = st_tokenizer_encode(t, s, len, 1, &got, &ng);
      CHECK_MSG(rc == ST_OK && ng == (int)n + 1 && got[0] == bos &&
                    !memcmp(got + 1, want, n * sizeof *want),
                "%s:%d: encode with BOS is not [bos] + ids", name, line);
      free(got);
    }
  }
  char *dec = NULL;
  int rc = st_tokenizer_decode(t, want, (int)n, &dec);
  CHECK_MSG(rc == ST_OK, "%s:%d: decode failed: %s", name, line, st_errmsg());
  int same = rc == ST_OK && decoded && !strcmp(dec, decoded);
  CHECK_MSG(same, "%s:%d: decode differs", name, line);
  if (!same && shown++ < 20)
    fprintf(stderr, "    want \"%s\"\n    got  \"%s\"\n", decoded ? decoded : "?",
            dec ? dec : "?");
  free(dec);
  free(want);
}

/* the tokenizer a header names: "fixture:x.json" or "shared:<rel>";
 * 0 when a shared asset is not here */
static int resolve(const char *spec, char *path, size_t cap) {
  if (!strncmp(spec, "fixture:", 8)) {
    snprintf(path, cap, DIR "%s", spec + 8);
    return 1;
  }
  const char *rel = spec + 7;
  char probe[4096];
  if (!strcmp(rel, "tokenizers/gpt2")) { /* a folder: check both files */
    int a = st_asset_local("tokenizers/gpt2/vocab.bpe", probe, sizeof probe);
    int b = st_asset_local("tokenizers/gpt2/encoder.json", probe, sizeof probe);
    if (a != 1 || b != 1) return 0;
    char *slash = strrchr(probe, '/');
    *slash = 0;
    snprintf(path, cap, "%s", probe);
    return 1;
  }
  return st_asset_local(rel, path, cap) == 1;
}

/* a fixture file of cases after a header line; 1 if it ran, 0 if skipped */
static int check_file(const char *file) {
  char fpath[512];
  snprintf(fpath, sizeof fpath, DIR "%s", file);
  FILE *f = fopen(fpath, "r");
  CHECK_MSG(f != NULL, "%s: cannot open", fpath);
  if (!f) return 1;
  char *line = NULL;
  size_t cap = 0;
  int ln = 0, ran = 1, bos = -1, cases = 0;
  st_tokenizer *t = NULL;
  while (getline(&line, &cap, f) > 0) {
    ln++;
    json_error_t e;
    json_t *j = json_loads(line, JSON_ALLOW_NUL, &e);
    CHECK_MSG(j != NULL, "%s:%d: %s", fpath, ln, e.text);
    if (!j) break;
    if (ln == 1) {
      char path[4096];
      if (!resolve(json_string_value(json_object_get(j, "tokenizer")), path,
                   sizeof path)) {
        printf("%s: shared tokenizer not found, not checked\n", file);
        ran = 0;
        json_decref(j);
        break;
      }
      int rc = st_tokenizer_load(&t, path);
      CHECK_MSG(rc == ST_OK, "%s: load: %s", path, st_errmsg());
      if (rc) {
        json_decref(j);
        break;
      }
      bos = (int)json_integer_value(json_object_get(j, "bos"));
      CHECK_MSG(st_tokenizer_bos(t) == bos, "%s: bos %d, want %d", file,
                st_tokenizer_bos(t), bos);
      CHECK_MSG(st_tokenizer_eos(t) == json_integer_value(json_object_get(j, "eos")),
                "%s: eos %d", file, st_tokenizer_eos(t));
      CHECK_MSG(st_tokenizer_vocab(t) == json_integer_value(json_object_get(j, "vocab")),
                "%s: vocab %d", file, st_tokenizer_vocab(t));
    } else {
      check_case(t, j, file, ln, bos);
      cases++;
    }
    json_decref(j);
  }
  if (ran) printf("%s: %d cases\n", file, cases);
  CHECK_MSG(!ran || cases >= 300, "%s: only %d cases", file, cases);
  st_tokenizer_free(t);
  free(line);
  fclose(f);
  return ran;
}

/* variants.jsonl: {"name", "tokenizer": {...}, "cases": [...]} per line */
static void check_variants(void) {
  FILE *f = fopen(DIR "variants.jsonl", "r");
  CHECK_MSG(f != NULL, "variants.jsonl: cannot open");
  if (!f) return;
  char tmp[] = "/tmp/strata_tokvar_XXXXXX";
  int fd = mkstemp(tmp);
  CHECK(fd >= 0);
  if (fd < 0) {
    fclose(f);
    return;
  }
  close(fd);
  char *line = NULL;
  size_t cap = 0;
  int ln = 0, ntok = 0, ncase = 0;
  while (getline(&line, &cap, f) > 0) {
    ln++;
    json_error_t e;
    json_t *j = json_loads(line, JSON_ALLOW_NUL, &e);
    CHECK_MSG(j != NULL, "variants.jsonl:%d: %s", ln, e.text);
    if (!j) continue;
    const char *name = json_string_value(json_object_get(j, "name"));
    json_dump_file(json_object_get(j, "tokenizer"), tmp, 0);
    st_tokenizer *t = NULL;
    int rc = st_tokenizer_load(&t, tmp);
    CHECK_MSG(rc == ST_OK, "variant %s: load: %s", name, st_errmsg());
    if (rc == ST_OK) {
      size_t i;
      json_t *c;
      json_array_foreach(json_object_get(j, "cases"), i, c) {
        check_case(t, c, name, (int)i, st_tokenizer_bos(t));
        ncase++;
      }
      ntok++;
    }
    st_tokenizer_free(t);
    json_decref(j);
  }
  printf("variants.jsonl: %d tokenizers, %d cases\n", ntok, ncase);
  unlink(tmp);
  free(line);
  fclose(f);
}

int main(void) {
  int ran = 0;
  ran += check_file("sp.jsonl");
  ran += check_file("sp_meta.jsonl");
  ran += check_file("bl.jsonl");
  ran += check_file("gpt2.jsonl");
  ran += check_file("tok512.jsonl");
  check_variants();
  if (ran < 5) printf("(%d of 5 tokenizers checked; shared assets missing)\n", ran);
  TEST_DONE();
}
