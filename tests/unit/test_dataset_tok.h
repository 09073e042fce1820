/* test_dataset_tok.h - a tiny llama2.c tokenizer whose encoding the data
 * tests can compute by hand: ids 0/1/2 = <unk>/BOS/EOS, 3..258 the byte
 * tokens, then every printable ASCII character (id = 259 + c - 32, so
 * " " = 259) and one merge, "ab" (id TK_AB). llama2.c encoding is then a
 * " " dummy prefix, one token per character (bytes + 3 for the rest) and
 * every "ab" merged. Also temp folders and small file helpers. */
#ifndef ST_TEST_DATASET_TOK_H
#define ST_TEST_DATASET_TOK_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TK_BOS 1
#define TK_EOS 2
#define TK_SP 259
#define TK_AB (259 + 95)
#define TK_VOCAB (TK_AB + 1)

static inline int tk_char(unsigned char c) {
  return c >= 32 && c <= 126 ? 259 + c - 32 : c + 3;
}

/* reference encoding of s, with BOS; returns the count */
static inline int tk_ref(const char *s, int32_t *out) {
  int n = 0;
  out[n++] = TK_BOS;
  if (!*s) return n;
  out[n++] = TK_SP;
  for (; *s; s++) {
    if (s[0] == 'a' && s[1] == 'b') {
      out[n++] = TK_AB;
      s++;
    } else {
      out[n++] = tk_char((unsigned char)*s);
    }
  }
  return n;
}

static inline void tk_put(FILE *f, const char *s, int len, float score) {
  fwrite(&score, 4, 1, f);
  fwrite(&len, 4, 1, f);
  fwrite(s, 1, (size_t)len, f);
}

static inline void tk_write(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  int32_t maxlen = 16;
  fwrite(&maxlen, 4, 1, f);
  tk_put(f, "<unk>", 5, 0);
  tk_put(f, "\n<s>\n", 5, 0);
  tk_put(f, "\n</s>\n", 6, 0);
  char b[16];
  for (int i = 0; i < 256; i++) {
    snprintf(b, sizeof b, "<0x%02X>", i);
    tk_put(f, b, 6, 0);
  }
  for (int c = 32; c <= 126; c++) {
    b[0] = (char)c;
    tk_put(f, b, 1, 0);
  }
  tk_put(f, "ab", 2, 1.0f);
  fclose(f);
}

static inline int rm_entry_(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}
static inline void rm_tree(const char *d) { nftw(d, rm_entry_, 16, FTW_DEPTH | FTW_PHYS); }

static inline void make_tmpdir(char *buf) {
  strcpy(buf, "/tmp/strata_data_XXXXXX");
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    exit(1);
  }
}

static inline void put_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, strlen(text), f) != strlen(text)) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

#endif
