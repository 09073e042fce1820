/* tokenizer.h - text <-> token ids. One interface over the llama2.c
 * tokenizer.bin, Hugging Face tokenizer.json (BPE: byte-level and
 * SentencePiece-style) and GPT-2 encoder.json + vocab.bpe.
 *
 * Ids match the reference exactly: llama2.c's run.c encode for .bin files,
 * HF tokenizers' encode(text, add_special_tokens=False) for the others
 * (tests/reference/test_tokenizer_ref.c). Decoding matches HF's
 * decode(ids, skip_special_tokens=False); llama2.c decoding is run.c's, with
 * the dummy-prefix space dropped at the start of the sequence as well as
 * after BOS, and BOS/EOS writing nothing, so decode(encode(s)) == s.
 *
 * BOS is the token a tokenizer.json's post-processor template puts first
 * (else tokenizer_config.json's bos_token when add_bos_token is true); EOS
 * is tokenizer_config.json's eos_token, else the first of </s>,
 * <|end_of_text|>, <|endoftext|>, <|im_end|>, <|eot_id|> that exists.
 * GPT-2 files: no BOS, EOS <|endoftext|>. llama2.c: BOS 1, EOS 2.
 *
 * Not supported (load fails with a message): models other than BPE, BPE
 * dropout and subword prefixes/suffixes, and pipeline steps outside
 * normalizers Sequence/Prepend/Replace/Strip/NFC/NFD/NFKC/NFKD/Lowercase,
 * pre-tokenizers Sequence/Split/ByteLevel/Metaspace/Digits/Whitespace/
 * WhitespaceSplit and decoders Sequence/ByteLevel/Metaspace/Replace/
 * ByteFallback/Fuse/Strip. The Unicode normalizers use utf8proc's tables,
 * which are newer than HF's: characters added to Unicode since 9.0 can
 * normalize differently (tok_unicode.c lists how).
 *
 * A loaded tokenizer is read-only: threads may encode with one at once. */
#ifndef ST_TOKENIZER_H
#define ST_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tokenizer st_tokenizer;

/* path: a llama2.c tokenizer .bin, a tokenizer.json, or a folder holding
 * tokenizer.json or encoder.json + vocab.bpe (or vocab.json + merges.txt) */
int st_tokenizer_load(st_tokenizer **out, const char *path);
void st_tokenizer_free(st_tokenizer *t);
/* the tokenizer that goes with a model (st_model_load's path): the HF
 * folder itself, or beside a model file its folder's tokenizer.json /
 * encoder.json, tokenizer.bin, else the first tok*.bin by name. Writes the
 * path for st_tokenizer_load into out[n]; ST_ERR + st_err when none. */
int st_tokenizer_find(const char *model_path, char *out, size_t n);

/* ids is malloc'ed; *n its length. bos: prepend BOS when the tokenizer has
 * one. Text for BPE tokenizers must be valid UTF-8 (else ST_ERR). */
int st_tokenizer_encode(const st_tokenizer *t, const char *text, size_t len,
                        int bos, int32_t **ids, int *n);
/* decode a sequence: malloc'ed NUL-terminated string; ids outside the
 * vocabulary are an error */
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

/* ---- export (tok_export.c): the tokenizer as Hugging Face files ----
 * Writes the tokenizer at tok_path (what st_tokenizer_find returns) into the
 * existing folder out_dir, each file atomically, so AutoTokenizer loads it:
 *  - an HF folder (or a tokenizer.json file, with the files beside it): the
 *    tokenizer files present, byte for byte: tokenizer.json,
 *    tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt,
 *    tokenizer.model, added_tokens.json, chat_template.jinja; GPT-2's
 *    encoder.json + vocab.bpe as vocab.json + merges.txt, with a
 *    tokenizer_config.json naming GPT2TokenizerFast when there is none. A
 *    folder without any writes nothing (the note says so).
 *  - a llama2.c .bin: tokenizer.json, tokenizer_config.json and
 *    special_tokens_map.json that encode valid UTF-8 text exactly as
 *    st_tokenizer_encode does (bos 0 / 1: add_special_tokens False / True),
 *    but for text holding U+2581 (tokenizer.json's spelling of a space,
 *    which HF then reads as one) and, where special tokens are matched in
 *    text (HF tokenizers by default; not transformers, told
 *    split_special_tokens), the strings <unk>, <s>, </s>. A vocabulary whose
 *    tied merge scores can order merges differently in HF's BPE is written
 *    all the same, with a note naming where (tok_export.c says when).
 * Bad files are an error naming the file and token. note[n] (NULL: not
 * wanted) gets "" or one line for the user. */
int st_tokenizer_export_hf(const char *tok_path, const char *out_dir);
int st_tokenizer_export_hf_note(const char *tok_path, const char *out_dir,
                                char *note, size_t n);

#endif
