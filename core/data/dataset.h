/* dataset.h - training and evaluation data as fixed-length examples, the
 * token cache behind them, and seeded batching.
 *
 * An example is one row of T positions: tok[t] is the input token and
 * tgt[t] the token that should follow it, or -1 (no loss: prompt, padding).
 * A sequence s[0..L-1] fills a row as tok[t] = s[t], tgt[t] = s[t+1], so a
 * row holds sequences of up to T+1 tokens.
 *
 * Formats (ST_DS_AUTO picks by extension: .txt text, .jsonl/.json jsonl,
 * .tsv, .csv; chat and alpaca are never picked):
 *  - text: each file is one document, or, with `separator`, the file is
 *    split into documents at every occurrence of that string. A path that is
 *    a folder reads its *.txt files in name order. Documents are encoded
 *    with BOS, followed by EOS (when the tokenizer has one distinct from
 *    BOS), concatenated into one stream and cut into rows of T positions
 *    (consecutive rows overlap by one token, so every stream token but the
 *    first is a target once). The last row is padded. Every non-pad
 *    position carries loss.
 *  - jsonl: one JSON object per line, blank lines skipped. {"text": ...}
 *    lines (the key is `text_key`) are documents, packed as above;
 *    {"prompt": ..., "completion": ...} lines are one example each, with
 *    loss only on the completion and a final EOS. With verbalizers the file
 *    is a classification table whose columns are the object's keys (string
 *    or number values).
 *  - chat: JSONL rows {"messages": [{"role": ..., "content": ...}, ...]}
 *    (the three key names are options; `roles` renames roles first, e.g.
 *    ShareGPT's human/gpt to user/assistant). `render`, the chat template,
 *    turns each conversation into text segments, each trained or not; the
 *    row holds the tokens of the whole text (st_chat_encode) with loss on
 *    the trained ones only. The template writes every special token, BOS
 *    and end-of-turn tokens included: nothing is added.
 *  - alpaca: JSONL rows {"instruction", "input", "output"} (key names are
 *    options), rendered as the conversation user = instruction, or
 *    instruction + "\n\n" + input when input is not empty; assistant =
 *    output.
 *  - tsv / csv: classification tables. TSV splits on tabs with no quoting
 *    (GLUE style); CSV follows RFC 4180 (quotes, "" escapes, quoted line
 *    breaks). Fields are trimmed of surrounding whitespace.
 *
 * Prompt examples (prompt/completion and classification): the prompt and
 * the continuation are split as the tokenizer sees the whole text, as in
 * lm-evaluation-harness: full = encode(prompt + continuation), and the
 * prompt is the longest prefix of encode(prompt) that every class's `full`
 * shares; the rest of `full` is the continuation. SentencePiece's dummy
 * prefix and merges across the boundary then cannot make a class's tokens
 * differ from what the model sees in running text.
 *
 * Classification: `templ` renders a row into the prompt: {name} is the
 * column of that name (needs a header), {0}, {1}, ... a column by index,
 * {{ and }} literal braces. The label column (`label_col`: name or index,
 * default "label") is matched exactly against `labels`; class k's
 * continuation is `verbalizers[k]`. The training example is prompt + the
 * gold class's verbalizer with loss only on the verbalizer; every class's
 * continuation ids are kept for scoring.
 *
 * Too long: a prompt example with more than T+1 tokens loses prompt tokens
 * from the start (BOS is kept) until it fits; a completion that does not fit
 * even then is cut at its end. Each load prints one warning line with the
 * count. A verbalizer that does not fit is an error. A conversation longer
 * than T+1 tokens is cut at its end; one with no trained token left is
 * skipped, and counted in its own warning. A conversation with no trained
 * segment at all is an error. */
#ifndef ST_DATASET_H
#define ST_DATASET_H

#include <stdint.h>

#include "fs.h"
#include "tokenizer.h"

typedef enum {
  ST_DS_AUTO = 0,
  ST_DS_TEXT,
  ST_DS_JSONL,
  ST_DS_TSV,
  ST_DS_CSV,
  ST_DS_CHAT,
  ST_DS_ALPACA,
} st_ds_format;

/* ---- chat: conversations rendered by a template into segments ---- */

typedef struct st_chat_msg {
  const char *role, *content;
} st_chat_msg;

/* A rendered conversation: text pieces, each trained (loss on its tokens)
 * or not. Piece i is text[i ? end[i-1] : 0 .. end[i]). */
typedef struct st_segments {
  char *text;
  size_t len, cap;
  size_t *end;
  unsigned char *train;
  int n, ncap;
} st_segments;

int st_segments_add(st_segments *s, const char *text, size_t len, int train);
void st_segments_clear(st_segments *s); /* empty, keeping the memory */
void st_segments_free(st_segments *s);

/* A chat template: appends the segments of msgs[0..n-1] to out. ST_OK, or
 * ST_ERR with st_err saying why (a role it refuses, ...); the caller adds
 * file:line. */
typedef int (*st_chat_render)(void *ctx, const st_chat_msg *msgs, int n,
                              st_segments *out);

/* The tokens of a rendered conversation and which of them are trained.
 * The ids are those of the whole text: encode(concatenated pieces), no
 * BOS added, exactly what HF's apply_chat_template(tokenize=True) gives. A
 * token is trained when it holds a character of a trained piece (the rule
 * of HF's return_assistant_tokens_mask). Where encoding each run of
 * equally-flagged pieces on its own gives the same ids (runs that meet at
 * special tokens or pre-tokenizer splits: the usual case) each token is in
 * one run; otherwise a run boundary at character c is placed after the
 * longest common prefix of encode(text[0..c)) and the ids, and the token
 * there counts as holding characters on both sides when encode(text[0..c))
 * is longer than that prefix. ids, train: malloc'ed [*n]. */
int st_chat_encode(const st_tokenizer *tk, const st_segments *s,
                   int32_t **ids, unsigned char **train, int *n);

typedef struct st_data_opts {
  const char *path;
  st_ds_format format;
  int seq_len;           /* T */
  const char *separator; /* text: document separator; NULL: file = document */
  const char *text_key;  /* jsonl documents: "text" */
  /* chat and alpaca */
  const char *messages_key, *role_key, *content_key; /* "messages" "role"
                                                        "content" */
  const char *instruction_key, *input_key, *output_key; /* "instruction"
                                                           "input" "output" */
  int n_roles;                      /* role renames: role_from[i] -> */
  const char *const *role_from;     /* role_to[i] */
  const char *const *role_to;
  st_chat_render render;            /* the chat template; required */
  void *render_ctx;
  /* classification; n_classes == 0 otherwise */
  const char *templ;     /* e.g. "Review: {sentence}\nSentiment:" */
  const char *label_col; /* name or index; NULL: "label" */
  int header;            /* -1: auto (a header iff a column is named), 0, 1 */
  int n_classes;
  const char *const *labels;      /* [K] label values as written in the file */
  const char *const *verbalizers; /* [K] continuations, e.g. " negative" */
  int no_cache;          /* 1: neither read nor write the token cache */
} st_data_opts;

/* defaults: auto format, T = 256, header auto, cache on, the key names
 * above (the recipe schema declares the same: tests/unit/test_chat.c) */
st_data_opts st_data_opts_default(void);

typedef struct st_dataset {
  int n, T;
  int32_t *tok, *tgt;  /* [n,T] */
  /* prompt examples: prompt tokens (with BOS) of each row; NULL for packed
   * text */
  int32_t *prompt_len; /* [n] */
  /* classification */
  int n_classes;       /* K; 0 when not classification */
  char **classes;      /* [K] label values */
  char **verbalizers;  /* [K] */
  int32_t *label;      /* [n] gold class */
  /* continuation ids of class c for example i:
   * cand[cand_off[i*K+c] .. cand_off[i*K+c+1]) */
  int64_t *cand_off;   /* [n*K+1] */
  int32_t *cand;
  int pad;             /* pad token in tok (EOS, else 0) */
  int n_truncated;     /* examples cut to fit T */
  int n_skipped;       /* conversations with no trained token within T */
  int from_cache;      /* loaded from the token cache */
  char path[ST_PATH_MAX];
} st_dataset;

/* Reads, tokenizes (or loads from the token cache) and validates. Errors
 * name the file and line: malformed JSON, a missing column, a label without
 * a verbalizer, a conversation the template refuses, an empty dataset.
 * Chat data is rendered before the cache is looked up, so the cache key
 * holds what the template made of it, and rendered again to build rows
 * when the cache misses. */
int st_dataset_load(st_dataset *ds, const st_tokenizer *tok,
                    const st_data_opts *o);
void st_dataset_free(st_dataset *ds);

/* out = the examples idx[0..m-1] of ds, in that order (a deep copy) */
int st_dataset_subset(st_dataset *out, const st_dataset *ds, const int *idx,
                      int m);
/* share of the examples held out for eval when no eval file is given */
#define ST_DS_EVAL_FRACTION 0.1

/* train/eval split: round(fraction * n) examples (at least one of each when
 * fraction > 0) chosen by a shuffle seeded with `seed` go to eval; both
 * parts keep the file order. */
int st_dataset_split(const st_dataset *ds, double fraction, uint64_t seed,
                     st_dataset *train, st_dataset *eval);

/* "0= negative,1= positive": entries split at ',' and each at its first
 * '='; the text after '=' is kept verbatim (leading spaces matter). "\,"
 * is a literal comma, "\n" "\t" "\\" the usual escapes. A spec starting
 * with '{' is a JSON object {"0": " negative", ...}. Fills malloc'ed
 * arrays; free with st_verbalizers_free. */
int st_verbalizers_parse(const char *spec, int *K, char ***labels,
                         char ***verbalizers);
void st_verbalizers_free(int K, char **labels, char **verbalizers);

/* Batches of B rows in a seeded order. Each epoch is a fresh permutation,
 * a function of (seed, epoch) only, so (epoch, index) - the next example
 * to read - is all a checkpoint needs to resume the exact sequence. A batch
 * that runs past the end of an epoch continues into the next. */
typedef struct st_batcher {
  const st_dataset *ds;
  int B;
  uint64_t seed;
  int shuffle;  /* 0: file order every epoch */
  long epoch;   /* epochs completed */
  long index;   /* next position in this epoch's order */
  int *order;   /* [n] */
  int shard, shards; /* data parallelism: this rank's rows (st_batcher_shard) */
} st_batcher;

int st_batcher_init(st_batcher *b, const st_dataset *ds, int B, uint64_t seed,
                    int shuffle);
void st_batcher_free(st_batcher *b);
/* Data parallelism: of every batch of B rows, hand out only shard s of
 * n: rows s*B/n .. (s+1)*B/n - 1, while the position still moves on by B
 * rows, so (epoch, index) is the global position on every rank and a
 * checkpoint resumes with any n that divides B. An error when n does not
 * divide B. Default: shard 0 of 1. */
int st_batcher_shard(st_batcher *b, int s, int n);
/* tok, tgt: host [B/n,T] (the shard's rows); ids: [B/n] example indices,
 * may be NULL */
void st_batcher_next(st_batcher *b, int32_t *tok, int32_t *tgt, int *ids);
int st_batcher_seek(st_batcher *b, long epoch, long index);

#endif
