/* tok_export.c - a model's tokenizer as the Hugging Face files that
 * AutoTokenizer.from_pretrained(folder) loads, for exported model folders.
 *
 * HF folders: the tokenizer files are copied byte for byte. GPT-2's
 * encoder.json + vocab.bpe are the files GPT2TokenizerFast reads under the
 * names vocab.json + merges.txt.
 *
 * llama2.c tokenizer.bin: a tokenizer.json in the layout of HF's (legacy)
 * Llama converter. The normalizer prepends "▁" and writes every space as
 * "▁" (run.c's dummy prefix, only for non-empty text); no pre-tokenizer,
 * because run.c merges across the whole text; BPE with byte_fallback over
 * the <0xNN> tokens (ids 3..258, as run.c falls back to byte + 3); BOS by a
 * template; <unk>, <s>, </s> (ids 0, 1, 2) as special added tokens.
 *
 * The merges. run.c merges, step by step, the adjacent pair whose
 * concatenation is the best-scoring vocabulary entry, leftmost among equal
 * scores; HF's BPE merges the pair of lowest rank, leftmost among equal
 * ranks. So every pair of tokens (a, b) whose concatenation is a token c
 * scoring above run.c's floor of -1e10 becomes a merge, ranked by c's score,
 * best first. Then both pick the same pair at every step, except among
 * different pairs of equal score: run.c orders those by position, HF by rank,
 * and no rank order equals a position order. The order cannot matter when,
 * within each group of pairs of equal score,
 *   (1) no two different pairs can overlap, (x, y) and (y, z), and
 *   (2) nothing a pair of the group makes grows, by merges scoring at least
 *       as well, into a token that takes a symbol another pair of the group
 *       needs (a right side on its left, a left side on its right),
 * because then the group's pairs, and what follows from each before the
 * group is done, touch disjoint symbols, so any order ends the same. Both
 * are checked here and the note names the first place where one fails
 * (tok512.bin has none). Ties are ranked by token id, then the longer left
 * part first.
 *
 * tokenizer_config.json names PreTrainedTokenizerFast, not
 * LlamaTokenizerFast: transformers 5 builds LlamaTokenizerFast's pipeline in
 * its own __init__ (a Metaspace pre-tokenizer that adds no "▁" to text that
 * starts with a space) instead of reading tokenizer.json's, which would
 * encode " Hello" without run.c's dummy prefix. split_special_tokens: run.c
 * reads "<s>" in text as three characters, and so does transformers then. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "tok_internal.h"

#define SP "\xE2\x96\x81" /* U+2581 "▁", the tokenizer.json space */

/* ------------------------------------------------------------- files */

static int is_file(const char *path) {
  struct stat st;
  return !stat(path, &st) && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
  struct stat st;
  return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int copy_file(const char *src, const char *dst) {
  char *data;
  size_t n;
  if (st_read_file(src, &data, &n)) return ST_ERR;
  int rc = st_write_file_atomic(dst, data, n);
  free(data);
  return rc;
}

/* writes and releases o */
static int write_json(const char *dir, const char *name, json_t *o) {
  char path[ST_PATH_MAX];
  if (!o) return st_err("%s/%s: out of memory building the JSON", dir, name);
  int rc = st_path_join(path, sizeof path, dir, name);
  st_atomic a;
  FILE *f = rc == ST_OK ? st_atomic_open(&a, path) : NULL;
  if (!f) rc = ST_ERR;
  else if (json_dumpf(o, f, JSON_INDENT(2))) {
    st_atomic_abort(&a);
    rc = st_err("%s: cannot write", path);
  } else {
    rc = st_atomic_commit(&a);
  }
  json_decref(o);
  return rc;
}

/* the note: the first reason kept, later ones counted */
typedef struct {
  char *s;
  size_t cap;
  int count;
  const char *what; /* its first words */
} note;

static void note_add(note *nt, const char *fmt, ...) ST_PRINTF(2, 3);
static void note_add(note *nt, const char *fmt, ...) {
  if (nt->count++ || !nt->s || !nt->cap) return;
  int k = snprintf(nt->s, nt->cap, "%s", nt->what);
  if (k < 0 || (size_t)k >= nt->cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(nt->s + k, nt->cap - (size_t)k, fmt, ap);
  va_end(ap);
}

static void note_finish(note *nt) {
  if (nt->count > 1 && nt->s && nt->cap) {
    size_t k = strlen(nt->s);
    snprintf(nt->s + k, nt->cap - k, " (%d places in all)", nt->count);
  }
}

/* ---------------------------------------------------------- HF folders */

static const char *const hf_files[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.json",     "merges.txt",            "tokenizer.model",
    "added_tokens.json", "chat_template.jinja"};
#define N_HF_FILES (sizeof hf_files / sizeof hf_files[0])

/* GPT-2's own special token is all GPT2TokenizerFast needs to be told */
static json_t *gpt2_config(void) {
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b}",
                   "tokenizer_class", "GPT2TokenizerFast",
                   "bos_token", "<|endoftext|>", "eos_token", "<|endoftext|>",
                   "unk_token", "<|endoftext|>", "add_prefix_space", 0,
                   "add_bos_token", 0, "clean_up_tokenization_spaces", 0);
}

/* dir's tokenizer files into out; json_file (a tokenizer.json by another
 * name, or NULL) is written as tokenizer.json */
static int export_folder(const char *dir, const char *json_file,
                         const char *out, note *nt) {
  char src[ST_PATH_MAX], dst[ST_PATH_MAX];
  int copied = 0;
  for (size_t i = 0; i < N_HF_FILES; i++) {
    const char *name = hf_files[i];
    if (i == 0 && json_file) {
      if (st_path_join(dst, sizeof dst, out, name) || copy_file(json_file, dst))
        return ST_ERR;
      copied++;
      continue;
    }
    if (st_path_join(src, sizeof src, dir, name)) return ST_ERR;
    if (!is_file(src)) continue;
    if (st_path_join(dst, sizeof dst, out, name) || copy_file(src, dst))
      return ST_ERR;
    copied++;
  }
  /* GPT-2 as OpenAI released it: the same two files under other names */
  char enc[ST_PATH_MAX], bpe[ST_PATH_MAX], v[ST_PATH_MAX], m[ST_PATH_MAX];
  if (st_path_join(enc, sizeof enc, dir, "encoder.json") ||
      st_path_join(bpe, sizeof bpe, dir, "vocab.bpe") ||
      st_path_join(v, sizeof v, dir, "vocab.json") ||
      st_path_join(m, sizeof m, dir, "merges.txt"))
    return ST_ERR;
  if (is_file(enc) && is_file(bpe) && !is_file(v) && !is_file(m)) {
    if (st_path_join(v, sizeof v, out, "vocab.json") || copy_file(enc, v) ||
        st_path_join(m, sizeof m, out, "merges.txt") || copy_file(bpe, m))
      return ST_ERR;
    char cfg[ST_PATH_MAX];
    if (st_path_join(src, sizeof src, dir, "tokenizer.json") ||
        st_path_join(cfg, sizeof cfg, dir, "tokenizer_config.json"))
      return ST_ERR;
    if (!json_file && !is_file(src) && !is_file(cfg) &&
        write_json(out, "tokenizer_config.json", gpt2_config()))
      return ST_ERR;
    copied++;
  }
  if (!copied)
    note_add(nt, "no tokenizer files (tokenizer.json, vocab.json + "
                 "merges.txt, encoder.json + vocab.bpe); none written");
  return ST_OK;
}

/* ---------------------------------------------------------- llama2.c */

typedef struct {
  int n;
  const char **s;  /* run.c's token strings, into the file's bytes */
  uint32_t *len;
  float *score;
  char *pool;      /* tokenizer.json's strings, each NUL-terminated */
  size_t *hoff;
  uint32_t *hlen;
  st_strmap raw;   /* run.c string -> first id, as run.c looks it up */
  int32_t space;   /* " ", or -1 */
} l2c;

static void l2c_free(l2c *v) {
  free(v->s);
  free(v->len);
  free(v->score);
  free(v->pool);
  free(v->hoff);
  free(v->hlen);
  st_strmap_free(&v->raw);
}

static const char *hstr(const l2c *v, int32_t i) { return v->pool + v->hoff[i]; }

/* the records of a llama2.c tokenizer file (format: tok_llama2c.c) */
static int l2c_read(l2c *v, const char *d, size_t n) {
  if (n < 4) return st_err("not a llama2.c tokenizer (%zu bytes)", n);
  int count = 0;
  for (size_t o = 4; o < n; count++) {
    int32_t len;
    if (n - o < 8) return st_err("token %d: truncated record header", count);
    memcpy(&len, d + o + 4, 4);
    if (len < 0 || (size_t)len > n - o - 8)
      return st_err("token %d: length %d runs past the end of the file", count, len);
    o += 8 + (size_t)len;
    if (count == INT32_MAX / 4) return st_err("too many tokens");
  }
  if (count < 259)
    return st_err("%d tokens; a llama2.c tokenizer has at least 259 "
                  "(<unk>, BOS, EOS and 256 byte tokens)", count);
  v->n = count;
  v->s = st_malloc((size_t)count * sizeof *v->s);
  v->len = st_malloc((size_t)count * sizeof *v->len);
  v->score = st_malloc((size_t)count * sizeof *v->score);
  if (!v->s || !v->len || !v->score || st_strmap_init(&v->raw, (size_t)count))
    return ST_ERR;
  size_t o = 4;
  for (int i = 0; i < count; i++) {
    int32_t len;
    memcpy(&v->score[i], d + o, 4);
    memcpy(&len, d + o + 4, 4);
    v->s[i] = d + o + 8;
    v->len[i] = (uint32_t)len;
    o += 8 + (size_t)len;
  }
  for (int i = 0; i < count; i++) st_strmap_put(&v->raw, v->s[i], v->len[i], i, 0);
  v->space = st_strmap_get(&v->raw, " ", 1);
  return ST_OK;
}

/* tokenizer.json's names: <unk> <s> </s>, then each string with its spaces
 * as "▁"; each must be text, the byte tokens named as byte_fallback looks
 * them up, and no name may repeat (the vocab is a map from name to id) */
static int l2c_names(l2c *v) {
  static const char *special[3] = {"<unk>", "<s>", "</s>"};
  st_sbuf b = {0};
  v->hoff = st_malloc((size_t)v->n * sizeof *v->hoff);
  v->hlen = st_malloc((size_t)v->n * sizeof *v->hlen);
  if (!v->hoff || !v->hlen) return ST_ERR;
  for (int i = 0; i < v->n; i++) {
    const char *s = v->s[i];
    uint32_t len = v->len[i];
    size_t start = b.n;
    if (i < 3) {
      if (st_sbuf_put(&b, special[i], strlen(special[i]))) goto fail;
    } else {
      if (memchr(s, 0, len)) {
        st_err("token %d holds a NUL byte", i);
        goto fail;
      }
      if (st_utf8_valid_prefix((const unsigned char *)s, len) != len) {
        st_err("token %d is not valid UTF-8, which tokenizer.json cannot hold", i);
        goto fail;
      }
      for (uint32_t k = 0; k < len; k++)
        if (s[k] == ' ' ? st_sbuf_put(&b, SP, 3) : st_sbuf_putc(&b, s[k])) goto fail;
    }
    v->hoff[i] = start;
    v->hlen[i] = (uint32_t)(b.n - start);
    if (st_sbuf_putc(&b, 0)) goto fail;
    if (i >= 3 && i < 259) {
      char want[8];
      snprintf(want, sizeof want, "<0x%02X>", i - 3);
      if (v->hlen[i] != 6 || memcmp(b.p + start, want, 6)) {
        st_err("token %d is '%.*s', not %s: ids 3..258 are run.c's byte "
               "fallback, which tokenizer.json finds by that name", i,
               (int)len, s, want);
        goto fail;
      }
    }
  }
  v->pool = b.p;
  st_strmap names;
  if (st_strmap_init(&names, (size_t)v->n)) return ST_ERR;
  int rc = ST_OK;
  for (int i = 0; i < v->n && rc == ST_OK; i++) {
    st_strmap_put(&names, hstr(v, i), v->hlen[i], i, 0);
    int32_t j = st_strmap_get(&names, hstr(v, i), v->hlen[i]);
    if (j != i)
      rc = st_err("tokens %d and %d are both '%s' in tokenizer.json (spaces "
                  "written '" SP "'), whose vocab holds one id per string", j, i,
                  hstr(v, i));
  }
  st_strmap_free(&names);
  return rc;
fail:
  free(b.p);
  return ST_ERR;
}

typedef struct {
  float score; /* of c */
  int32_t a, b, c;
  uint32_t alen;
} merge;

/* best score first; ties by token id, then the longer left part */
static int merge_cmp(const void *pa, const void *pb) {
  const merge *x = pa, *y = pb;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->c != y->c) return x->c < y->c ? -1 : 1;
  return x->alen > y->alen ? -1 : x->alen < y->alen;
}

/* every (a, b) whose concatenation run.c would merge into a token c, sorted;
 * pairs tokenizer.json cannot spell (c one of <unk> <s> </s> under another
 * string in the .bin) go to the note instead */
static int l2c_merges(const l2c *v, merge **out, size_t *nout, note *nt) {
  size_t cap = 1024, n = 0;
  merge *m = st_malloc(cap * sizeof *m);
  if (!m) return ST_ERR;
  for (int32_t c = 0; c < v->n; c++) {
    /* run.c's best_score starts at -1e10: nothing at or below it merges */
    if (!(v->score[c] > -1e10f)) continue;
    if (st_strmap_get(&v->raw, v->s[c], v->len[c]) != c) continue;
    for (uint32_t k = 1; k < v->len[c]; k++) {
      int32_t a = st_strmap_get(&v->raw, v->s[c], k);
      int32_t b = st_strmap_get(&v->raw, v->s[c] + k, v->len[c] - k);
      if (a < 0 || b < 0) continue;
      if (v->hlen[a] + v->hlen[b] != v->hlen[c] ||
          memcmp(hstr(v, a), hstr(v, c), v->hlen[a]) ||
          memcmp(hstr(v, b), hstr(v, c) + v->hlen[a], v->hlen[b])) {
        note_add(nt, "tokens %d + %d make token %d, which tokenizer.json "
                     "names '%s', so that merge is left out", a, b, c, hstr(v, c));
        continue;
      }
      if (n == cap) {
        merge *g = realloc(m, 2 * cap * sizeof *m);
        if (!g) {
          free(m);
          return st_err("out of memory (%zu merges)", 2 * cap);
        }
        m = g;
        cap *= 2;
      }
      m[n++] = (merge){v->score[c], a, b, c, k};
    }
  }
  qsort(m, n, sizeof *m, merge_cmp);
  *out = m;
  *nout = n;
  return ST_OK;
}

/* merges by component: the merges whose left (right) side is token t are
 * idx[start[t] .. start[t+1]), in rank order */
typedef struct {
  size_t *start, *idx;
} by_side;

static int by_side_build(by_side *bs, const merge *m, size_t n, int ntok,
                         int right) {
  bs->start = st_calloc((size_t)ntok + 1, sizeof *bs->start);
  bs->idx = st_malloc((n + 1) * sizeof *bs->idx);
  if (!bs->start || !bs->idx) return ST_ERR;
  for (size_t i = 0; i < n; i++) bs->start[(right ? m[i].b : m[i].a) + 1]++;
  for (int t = 0; t < ntok; t++) bs->start[t + 1] += bs->start[t];
  for (size_t i = 0; i < n; i++) bs->idx[bs->start[right ? m[i].b : m[i].a]++] = i;
  for (int t = ntok; t > 0; t--) bs->start[t] = bs->start[t - 1]; /* undo the ++ */
  bs->start[0] = 0;
  return ST_OK;
}

/* conditions (1) and (2) of the header comment, for each group [g, e) of two
 * or more merges of equal score. Stamps are g + 1, so nothing is cleared
 * between groups. */
static int check_ties(const l2c *v, const merge *m, size_t n, note *nt) {
  size_t ntok = (size_t)v->n;
  size_t *lst = st_calloc(ntok, sizeof *lst), *rst = st_calloc(ntok, sizeof *rst);
  size_t *seen = st_calloc(ntok, sizeof *seen), *rone = st_malloc(ntok * sizeof *rone);
  int32_t *queue = st_malloc(ntok * sizeof *queue);
  by_side L = {0}, R = {0};
  int rc = lst && rst && seen && rone && queue ? ST_OK : ST_ERR;
  if (rc == ST_OK) rc = by_side_build(&L, m, n, v->n, 0);
  if (rc == ST_OK) rc = by_side_build(&R, m, n, v->n, 1);
  for (size_t g = 0, e; g < n && rc == ST_OK; g = e) {
    for (e = g + 1; e < n && m[e].score == m[g].score; e++) {}
    if (e - g < 2) continue;
    size_t stamp = g + 1;
    for (size_t i = g; i < e; i++) { /* rone: the one merge ending in b */
      lst[m[i].a] = stamp;
      rone[m[i].b] = rst[m[i].b] == stamp ? SIZE_MAX : i;
      rst[m[i].b] = stamp;
    }
    for (size_t i = g; i < e; i++) { /* (1): m[i] starts where another ends */
      int32_t y = m[i].a;
      if (rst[y] != stamp || rone[y] == i) continue;
      size_t j = g;
      while (j == i || m[j].b != y) j++;
      note_add(nt, "'%s' + '%s' and '%s' + '%s' score the same (%g) and can "
                   "overlap on '%s', where run.c merges the left pair first "
                   "and HF's BPE the first-ranked", hstr(v, m[j].a), hstr(v, y),
               hstr(v, y), hstr(v, m[i].b), (double)m[i].score, hstr(v, y));
    }
    /* (2): what the group makes, grown by merges ranked before e */
    size_t qn = 0;
    for (size_t i = g; i < e; i++)
      if (seen[m[i].c] != stamp) {
        seen[m[i].c] = stamp;
        queue[qn++] = m[i].c;
      }
    for (size_t q = 0; q < qn; q++) {
      int32_t x = queue[q];
      for (int side = 0; side < 2; side++) {
        const by_side *bs = side ? &R : &L; /* x on the left, then the right */
        for (size_t k = bs->start[x]; k < bs->start[x + 1]; k++) {
          size_t i = bs->idx[k];
          if (i >= e) break;
          int32_t w = side ? m[i].a : m[i].b; /* the neighbour x takes */
          if ((side ? rst[w] : lst[w]) == stamp)
            note_add(nt, "'%s', made by one of several merges of equal score "
                         "(%g), merges on into '%s', taking '%s' that another "
                         "of them may need (run.c orders such ties by "
                         "position, HF's BPE by rank)", hstr(v, x),
                     (double)m[g].score, hstr(v, m[i].c), hstr(v, w));
          if (seen[m[i].c] != stamp) {
            seen[m[i].c] = stamp;
            queue[qn++] = m[i].c;
          }
        }
      }
    }
  }
  free(lst);
  free(rst);
  free(seen);
  free(rone);
  free(queue);
  free(L.start);
  free(L.idx);
  free(R.start);
  free(R.idx);
  return rc;
}

static json_t *added_token(int id, const char *content) {
  return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content",
                   content, "single_word", 0, "lstrip", 0, "rstrip", 0,
                   "normalized", 0, "special", 1);
}

static json_t *template_processing(void) {
  return json_pack(
      "{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}],"
      " s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
      " s:{s:{s:s, s:[i], s:[s]}}}",
      "type", "TemplateProcessing",
      "single", "SpecialToken", "id", "<s>", "type_id", 0,
                "Sequence", "id", "A", "type_id", 0,
      "pair", "SpecialToken", "id", "<s>", "type_id", 0,
              "Sequence", "id", "A", "type_id", 0,
              "SpecialToken", "id", "<s>", "type_id", 1,
              "Sequence", "id", "B", "type_id", 1,
      "special_tokens", "<s>", "id", "<s>", "ids", 1, "tokens", "<s>");
}

static json_t *l2c_model(const l2c *v, const merge *m, size_t nm) {
  json_t *vocab = json_object(), *merges = json_array();
  int bad = !vocab || !merges;
  for (int32_t i = 0; i < v->n && !bad; i++)
    bad = json_object_set_new_nocheck(vocab, hstr(v, i), json_integer(i));
  st_sbuf b = {0};
  for (size_t i = 0; i < nm && !bad; i++) {
    b.n = 0;
    bad = st_sbuf_put(&b, hstr(v, m[i].a), v->hlen[m[i].a]) || st_sbuf_putc(&b, ' ') ||
          st_sbuf_put(&b, hstr(v, m[i].b), v->hlen[m[i].b]) ||
          json_array_append_new(merges, json_stringn_nocheck(b.p, b.n));
  }
  free(b.p);
  if (bad) {
    json_decref(vocab);
    json_decref(merges);
    return NULL;
  }
  return json_pack("{s:s, s:n, s:s, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type",
                   "BPE", "dropout", "unk_token", "<unk>",
                   "continuing_subword_prefix", "end_of_word_suffix",
                   "fuse_unk", 1, "byte_fallback", 1, "ignore_merges", 0,
                   "vocab", vocab, "merges", merges);
}

static json_t *l2c_tokenizer_json(const l2c *v, const merge *m, size_t nm) {
  /* without a " " token run.c adds no prefix and spaces fall back to <0x20> */
  json_t *norm = v->space < 0 ? json_null() : json_pack(
      "{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence",
      "normalizers", "type", "Prepend", "prepend", SP, "type", "Replace",
      "pattern", "String", " ", "content", SP);
  json_t *dec = json_pack(
      "{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}",
      "type", "Sequence", "decoders", "type", "Replace", "pattern", "String",
      SP, "content", " ", "type", "ByteFallback", "type", "Fuse", "type",
      "Strip", "content", " ", "start", 1, "stop", 0);
  return json_pack("{s:s, s:n, s:n, s:[o, o, o], s:o, s:n, s:o, s:o, s:o}",
                   "version", "1.0", "truncation", "padding", "added_tokens",
                   added_token(0, "<unk>"), added_token(1, "<s>"),
                   added_token(2, "</s>"), "normalizer", norm, "pre_tokenizer",
                   "post_processor", template_processing(), "decoder", dec,
                   "model", l2c_model(v, m, nm));
}

static int export_l2c(const char *data, size_t n, const char *out, note *nt) {
  l2c v = {0};
  merge *m = NULL;
  size_t nm = 0;
  int rc = l2c_read(&v, data, n);
  if (rc == ST_OK) rc = l2c_names(&v);
  if (rc == ST_OK) rc = l2c_merges(&v, &m, &nm, nt);
  if (rc == ST_OK) rc = check_ties(&v, m, nm, nt);
  if (rc == ST_OK) rc = write_json(out, "tokenizer.json", l2c_tokenizer_json(&v, m, nm));
  if (rc == ST_OK)
    rc = write_json(out, "tokenizer_config.json", json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b}",
        "tokenizer_class", "PreTrainedTokenizerFast", "bos_token", "<s>",
        "eos_token", "</s>", "unk_token", "<unk>", "add_bos_token", 1,
        "add_eos_token", 0, "clean_up_tokenization_spaces", 0,
        "split_special_tokens", 1, "legacy", 1));
  if (rc == ST_OK)
    rc = write_json(out, "special_tokens_map.json",
                    json_pack("{s:s, s:s, s:s}", "bos_token", "<s>", "eos_token",
                              "</s>", "unk_token", "<unk>"));
  free(m);
  l2c_free(&v);
  return rc;
}

/* --------------------------------------------------------------- entry */

int st_tokenizer_export_hf_note(const char *tok_path, const char *out_dir,
                                char *note_buf, size_t n) {
  char what[ST_PATH_MAX + 64] = "";
  note nt = {note_buf, n, 0, what};
  if (note_buf && n) note_buf[0] = 0;
  if (!is_dir(out_dir)) return st_err("%s: not a folder", out_dir);
  int rc;
  if (is_dir(tok_path)) {
    snprintf(what, sizeof what, "%s: ", tok_path);
    rc = export_folder(tok_path, NULL, out_dir, &nt);
  } else {
    char *data;
    size_t len;
    if (st_read_file(tok_path, &data, &len)) return ST_ERR;
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", data[i])) i++;
    if (i < len && data[i] == '{') { /* a tokenizer.json: its folder's files */
      char dir[ST_PATH_MAX];
      snprintf(dir, sizeof dir, "%s", tok_path);
      char *slash = strrchr(dir, '/');
      if (slash) *slash = 0;
      else snprintf(dir, sizeof dir, ".");
      snprintf(what, sizeof what, "%s: ", dir);
      rc = export_folder(dir, tok_path, out_dir, &nt);
    } else {
      snprintf(what, sizeof what, "%s: tokenizer.json written, but it can "
               "encode differently: ", tok_path);
      rc = export_l2c(data, len, out_dir, &nt);
      if (rc) st_err_prefix("%s: ", tok_path);
    }
    free(data);
  }
  if (rc == ST_OK) note_finish(&nt);
  else if (note_buf && n) note_buf[0] = 0;
  return rc;
}

int st_tokenizer_export_hf(const char *tok_path, const char *out_dir) {
  return st_tokenizer_export_hf_note(tok_path, out_dir, NULL, 0);
}
