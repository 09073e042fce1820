/* dataset_internal.h - what the dataset files share: the example builder that
 * every format feeds, the format readers and the token cache. Not a public
 * header. */
#ifndef ST_DATASET_INTERNAL_H
#define ST_DATASET_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "tok_internal.h" /* st_ivec / st_sbuf, shared with the tokenizer */

/* One input file held in memory; `name` is what messages show. */
typedef struct ds_file {
  char name[ST_PATH_MAX];
  char *data;
  size_t len;
} ds_file;

/* Accumulates examples: packed documents go to `stream`, prompt examples
 * straight to rows. */
typedef struct ds_build {
  const st_tokenizer *tk;
  int T, K, bos, eos, pad;
  st_ivec stream;           /* packed token stream */
  st_ivec tok, tgt, plen;   /* rows of prompt examples */
  st_ivec label, clen, cand; /* classification: gold, [n*K] lengths, ids */
  int n, n_trunc, n_skip;
  st_sbuf scratch;
} ds_build;

/* a document: BOS + text (+ EOS), appended to the stream; blank documents
 * are skipped */
int ds_add_doc(ds_build *b, const char *text, size_t len);
/* a prompt example with nc continuations (nc == 1: prompt/completion, with
 * EOS appended when add_eos); gold is the one trained on. `where` (file:line)
 * prefixes errors. */
int ds_add_example(ds_build *b, const char *prompt, const char *const *conts,
                   int nc, int gold, int add_eos, const char *where);
/* a tokenized conversation: ids[0..n-1], loss on the tokens with train[i]
 * set; cut at its end to T+1 tokens, skipped (n_skip) when no trained
 * token is left */
int ds_add_masked(ds_build *b, const int32_t *ids, const unsigned char *train,
                  int n);

/* the readers: text (documents), jsonl (documents, prompt/completion or
 * classification rows), tsv/csv (classification rows), chat and alpaca
 * (conversations) */
int ds_read_text(ds_build *b, const ds_file *f, const char *separator);
int ds_read_jsonl(ds_build *b, const ds_file *f, const st_data_opts *o);
/* chat / alpaca rows through o->render. With b NULL the rows are only
 * rendered, and their segments hashed into *h (the cache key); with b they
 * are tokenized into rows. */
int ds_read_chat(ds_build *b, const ds_file *f, const st_data_opts *o,
                 uint64_t *h);

/* JSONL, line by line: `where` is "file:line" of the current line */
typedef struct ds_lines {
  const ds_file *f;
  const char *p;
  int ln;
  char where[ST_PATH_MAX + 16];
} ds_lines;
/* the next non-blank line's JSON object into *obj (the previous one is
 * released; the caller releases the last): 1, 0 at the end, or ST_ERR for
 * a line that is not a JSON object */
int ds_jsonl_next(ds_lines *it, json_t **obj);
/* obj[key] as a string, or NULL with st_err "where: missing key ..." */
const char *ds_json_str(json_t *obj, const char *key, const char *where);
int ds_read_table(ds_build *b, const ds_file *f, const st_data_opts *o,
                  int csv);

/* Classification rows (dataset_table.c), shared by tables and jsonl: the
 * template and label column resolved against column names. */
typedef struct ds_part { const char *lit; size_t len; int col; } ds_part;
typedef struct ds_cls {
  const st_data_opts *o;
  ds_part *part;
  int nparts, label_col, max_col;
  st_sbuf text;
} ds_cls;
/* names: the header (NULL when the file has none); where: file:line */
int ds_cls_init(ds_cls *c, const st_data_opts *o, const char *const *names,
                int nnames, const char *where);
int ds_cls_row(ds_cls *c, ds_build *b, const char *const *fields, int nf,
               const char *where);
void ds_cls_free(ds_cls *c);
/* Column names the template and label column refer to, in first-use
 * order (malloc'ed copies); whether any reference is by name, by index. */
int ds_cls_names(const st_data_opts *o, char ***names, int *n, int *named,
                 int *indexed);

/* The token cache (dataset_cache.c). read: 1 = loaded, 0 = absent; a stale or
 * corrupt file also returns 0 and describes itself in `why`. */
int ds_cache_read(st_dataset *ds, const char *path, uint64_t key, char *why,
                  size_t whyn);
int ds_cache_write(const st_dataset *ds, const char *path, uint64_t key);

#endif
