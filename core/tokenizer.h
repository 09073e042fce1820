/* tokenizer.h - text <-> token ids. One interface over the llama2.c
 * tokenizer.bin, Hugging Face tokenizer.json (BPE: byte-level and
 * SentencePiece-style) and GPT-2 encoder.json + vocab.bpe. */
#ifndef ST_TOKENIZER_H
#define ST_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tokenizer st_tokenizer;

/* path: a llama2.c tokenizer .bin, a tokenizer.json, or a folder holding
 * tokenizer.json or encoder.json + vocab.bpe (or vocab.json + merges.txt) */
int st_tokenizer_load(st_tokenizer **out, const char *path);
void st_tokenizer_free(st_tokenizer *t);

/* ids is malloc'ed; *n its length. bos: prepend BOS when the tokenizer has
 * one. */
int st_tokenizer_encode(const st_tokenizer *t, const char *text, size_t len,
                        int bos, int32_t **ids, int *n);
/* decode a sequence: malloc'ed NUL-terminated string */
int st_tokenizer_decode(const st_tokenizer *t, const int32_t *ids, int n,
                        char **text);
/* the same, with its length: the text may hold NUL bytes (<0x00> tokens) */
int st_tokenizer_decode_len(const st_tokenizer *t, const int32_t *ids, int n,
                            char **text, size_t *len);
int st_tokenizer_vocab(const st_tokenizer *t);
int st_tokenizer_bos(const st_tokenizer *t); /* -1 if none */
int st_tokenizer_eos(const st_tokenizer *t); /* -1 if none */
/* stable identity for cache keys (hash of the files' content) */
uint64_t st_tokenizer_hash(const st_tokenizer *t);

#endif
