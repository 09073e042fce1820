/* fuzz_tok_common.h - what the tokenizer harnesses do with a tokenizer that
 * loaded: encode a few short strings, decode the ids, and decode the first
 * ids of the vocabulary. */
#ifndef ST_FUZZ_TOK_COMMON_H
#define ST_FUZZ_TOK_COMMON_H
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"

static inline void fz_exercise_tokenizer(const char *path) {
  st_tokenizer *t = NULL;
  if (st_tokenizer_load(&t, path) != ST_OK) return;
  static const char *texts[] = {"Hello world, ab abab!", " \xc3\xa9t\xc3\xa9 \xe2\x82\xac 12345\n\n\tx",
                                "<|endoftext|>a<s></s>", ""};
  for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
    int32_t *ids = NULL;
    int n = 0;
    if (st_tokenizer_encode(t, texts[k], strlen(texts[k]), (int)(k & 1), &ids, &n) == ST_OK) {
      char *s = NULL;
      size_t len = 0;
      if (st_tokenizer_decode_len(t, ids, n, &s, &len) == ST_OK) free(s);
    }
    free(ids);
  }
  int v = st_tokenizer_vocab(t);
  int32_t first[64];
  int m = v < 64 ? v : 64;
  for (int i = 0; i < m; i++) first[i] = i;
  char *s = NULL;
  if (m > 0 && st_tokenizer_decode(t, first, m, &s) == ST_OK) free(s);
  (void)st_tokenizer_bos(t);
  (void)st_tokenizer_eos(t);
  (void)st_tokenizer_hash(t);
  st_tokenizer_free(t);
}
#endif
