/* tokenizer_bench.c - the C side of bench/tokenizer_bench.py.
 *
 *   tokenizer_bench TOKENIZER FILE [--lines] [--reps N]
 *       encode FILE (whole, or line by line with --lines) N times on one
 *       thread; print one JSON line: bytes, tokens, best seconds, MB/s.
 *   tokenizer_bench TOKENIZER --ids
 *       read JSON strings, one per line, from stdin; print each one's ids
 *       as a JSON list (the bench script diffs them against HF).
 *   tokenizer_bench TOKENIZER --decode
 *       read JSON id lists from stdin; print each decoded as a JSON string. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "tokenizer.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int ids_mode(const st_tokenizer *t) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    json_error_t e;
    json_t *j = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!json_is_string(j)) {
      fprintf(stderr, "tokenizer_bench: stdin: not a JSON string: %s\n", e.text);
      return 2;
    }
    int32_t *ids;
    int n;
    if (st_tokenizer_encode(t, json_string_value(j), json_string_length(j), 0,
                            &ids, &n)) {
      fprintf(stderr, "tokenizer_bench: %s\n", st_errmsg());
      return 2;
    }
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    puts("]");
    free(ids);
    json_decref(j);
  }
  free(line);
  return 0;
}

static int decode_mode(const st_tokenizer *t) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!json_is_array(j)) {
      fprintf(stderr, "tokenizer_bench: stdin: not a JSON list: %s\n", e.text);
      return 2;
    }
    size_t n = json_array_size(j);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(j, i));
    char *text;
    size_t len;
    if (st_tokenizer_decode_len(t, ids, (int)n, &text, &len)) {
      fprintf(stderr, "tokenizer_bench: %s\n", st_errmsg());
      return 2;
    }
    json_t *s = json_stringn(text, len);
    char *out = json_dumps(s, JSON_ENCODE_ANY);
    puts(out ? out : "null");
    free(out);
    json_decref(s);
    free(text);
    free(ids);
    json_decref(j);
  }
  free(line);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tokenizer_bench TOKENIZER FILE [--lines] [--reps N]\n"
                    "       tokenizer_bench TOKENIZER --ids < strings.jsonl\n"
                    "       tokenizer_bench TOKENIZER --decode < ids.jsonl\n");
    return 2;
  }
  st_tokenizer *t;
  if (st_tokenizer_load(&t, argv[1])) {
    fprintf(stderr, "tokenizer_bench: %s\n", st_errmsg());
    return 2;
  }
  if (!strcmp(argv[2], "--ids") || !strcmp(argv[2], "--decode")) {
    int rc = !strcmp(argv[2], "--ids") ? ids_mode(t) : decode_mode(t);
    st_tokenizer_free(t);
    return rc;
  }
  int lines = 0, reps = 5;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--lines")) lines = 1;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)n + 1);
  if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "tokenizer_bench: cannot read %s\n", argv[2]);
    return 2;
  }
  fclose(f);
  double best = 1e30;
  long tokens = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    tokens = 0;
    for (long a = 0; a < n;) {
      long b = n;
      if (lines) { /* each line with its newline, as the Python side splits */
        const char *nl = memchr(text + a, '\n', (size_t)(n - a));
        b = nl ? nl - text + 1 : n;
      }
      int32_t *ids;
      int k;
      if (st_tokenizer_encode(t, text + a, (size_t)(b - a), 0, &ids, &k)) {
        fprintf(stderr, "tokenizer_bench: %s\n", st_errmsg());
        return 2;
      }
      tokens += k;
      free(ids);
      a = b;
    }
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  printf("{\"bytes\": %ld, \"tokens\": %ld, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n",
         n, tokens, best, n / best / 1e6);
  free(text);
  st_tokenizer_free(t);
  return 0;
}
