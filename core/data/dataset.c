/* dataset.c - loading (through the token cache), splitting and batching.
 * The format readers are dataset_text.c, dataset_table.c and
 * dataset_chat.c, the row building dataset_build.c, the cache file
 * dataset_cache.c. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "dataset_internal.h"
#include "error.h"
#include "fs.h"
#include "sampler.h"

st_data_opts st_data_opts_default(void) {
  st_data_opts o = {0};
  o.seq_len = 256;
  o.header = -1;
  o.text_key = "text";
  o.messages_key = "messages";
  o.role_key = "role";
  o.content_key = "content";
  o.instruction_key = "instruction";
  o.input_key = "input";
  o.output_key = "output";
  return o;
}

static const char *format_name(st_ds_format f) {
  static const char *n[] = {"auto", "text", "jsonl", "tsv", "csv", "chat",
                            "alpaca"};
  return n[f];
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcasecmp(s + a - b, suf);
}

static int resolve_format(const char *path, int is_dir, st_ds_format *f) {
  if (*f != ST_DS_AUTO) return ST_OK;
  if (is_dir || ends_with(path, ".txt")) *f = ST_DS_TEXT;
  else if (ends_with(path, ".jsonl") || ends_with(path, ".json")) *f = ST_DS_JSONL;
  else if (ends_with(path, ".tsv")) *f = ST_DS_TSV;
  else if (ends_with(path, ".csv")) *f = ST_DS_CSV;
  else
    return st_err("%s: cannot tell the format from the extension; give one "
                  "(text, jsonl, tsv, csv)", path);
  return ST_OK;
}

/* ------------------------------------------------------------ input files */

/* Data is a regular file: opening a FIFO blocks until someone writes to it,
 * and a device may never end */
static int regular(const char *path, const struct stat *st) {
  if (S_ISREG(st->st_mode)) return ST_OK;
  return st_err("%s: not a regular file (%s); data must be a file or a folder "
                "of them", path, S_ISFIFO(st->st_mode) ? "a FIFO" :
                S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device" :
                S_ISSOCK(st->st_mode) ? "a socket" : "not a file");
}

static int read_one(ds_file *f, const char *path) {
  snprintf(f->name, sizeof f->name, "%s", path);
  struct stat st;
  if (stat(path, &st)) return st_err("%s: %s", path, strerror(errno));
  if (regular(path, &st)) return ST_ERR;
  FILE *fp = fopen(path, "rb");
  if (!fp) return st_err("%s: %s", path, strerror(errno));
  long n = -1;
  if (fseek(fp, 0, SEEK_END) == 0) n = ftell(fp);
  if (n < 0 || fseek(fp, 0, SEEK_SET)) {
    fclose(fp);
    return st_err("%s: cannot read", path);
  }
  f->data = st_malloc((size_t)n + 1);
  if (!f->data || fread(f->data, 1, (size_t)n, fp) != (size_t)n) {
    fclose(fp);
    return f->data ? st_err("%s: read error", path) : ST_ERR;
  }
  fclose(fp);
  f->data[n] = 0;
  f->len = (size_t)n;
  return ST_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* a file, or a folder's *.txt files in name order */
static int read_inputs(const char *path, int is_dir, ds_file **files, int *nf) {
  *files = NULL;
  *nf = 0;
  if (!is_dir) {
    *files = st_calloc(1, sizeof **files);
    if (!*files) return ST_ERR;
    *nf = 1;
    return read_one(*files, path);
  }
  DIR *d = opendir(path);
  if (!d) return st_err("%s: %s", path, strerror(errno));
  char **names = NULL;
  int n = 0, rc = ST_OK;
  struct dirent *e;
  while (rc == ST_OK && (e = readdir(d))) {
    if (e->d_name[0] == '.' || !ends_with(e->d_name, ".txt")) continue;
    char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
    if (!nn || !(nn[n] = strdup(e->d_name))) rc = st_err("out of memory");
    if (nn) names = nn;
    if (rc == ST_OK) n++;
  }
  closedir(d);
  if (rc == ST_OK && n == 0) rc = st_err("%s: no .txt files in this folder", path);
  if (rc == ST_OK) {
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *files = st_calloc((size_t)n, sizeof **files);
    if (!*files) rc = ST_ERR;
    else *nf = n;
  }
  for (int i = 0; i < n; i++) {
    char full[ST_PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    if (rc == ST_OK) rc = read_one(&(*files)[i], full);
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ------------------------------------------------------------ cache key */

static uint64_t hash_str(uint64_t h, const char *s) {
  uint64_t n = s ? strlen(s) + 1 : 0; /* NULL and "" hash differently */
  h = st_fnv1a(&n, sizeof n, h);
  return s ? st_fnv1a(s, n, h) : h;
}

/* rendered: what the chat template made of the rows (0 otherwise) */
static uint64_t cache_key(const st_tokenizer *tk, const st_data_opts *o,
                          st_ds_format fmt, const ds_file *files, int nf,
                          uint64_t rendered) {
  uint64_t h = hash_str(ST_FNV_INIT, "strata token cache 1");
  uint64_t th = st_tokenizer_hash(tk);
  int64_t nums[] = {fmt, o->seq_len, o->header, o->n_classes, nf};
  h = st_fnv1a(&th, sizeof th, h);
  h = st_fnv1a(nums, sizeof nums, h);
  h = hash_str(h, o->separator);
  h = hash_str(h, o->templ);
  h = hash_str(h, o->label_col);
  h = hash_str(h, o->text_key);
  h = st_fnv1a(&rendered, sizeof rendered, h);
  for (int k = 0; k < o->n_classes; k++)
    h = hash_str(hash_str(h, o->labels[k]), o->verbalizers[k]);
  /* contents in reading order, not names: a renamed copy shares the cache */
  for (int i = 0; i < nf; i++) {
    uint64_t len = files[i].len;
    h = st_fnv1a(&len, sizeof len, h);
    h = st_fnv1a(files[i].data, files[i].len, h);
  }
  return h;
}

/* ------------------------------------------------------------ building */

static int copy_ivec(int32_t **dst, const st_ivec *v) {
  *dst = st_malloc(v->n * sizeof **dst);
  if (!*dst) return ST_ERR;
  memcpy(*dst, v->p, v->n * sizeof **dst);
  return ST_OK;
}

static int finish(ds_build *b, st_dataset *ds, const st_data_opts *o) {
  int T = b->T;
  ds->T = T;
  ds->pad = b->pad;
  ds->n_truncated = b->n_trunc;
  ds->n_skipped = b->n_skip;
  if (b->stream.n >= 2) {
    /* packed: row r covers stream[r*T .. r*T+T] (T inputs, T targets) */
    size_t S = b->stream.n, n = (S - 1 + (size_t)T - 1) / (size_t)T;
    if (n > 1u << 30) return st_err("%s: too many rows", o->path);
    ds->n = (int)n;
    ds->tok = st_malloc(n * T * sizeof *ds->tok);
    ds->tgt = st_malloc(n * T * sizeof *ds->tgt);
    if (!ds->tok || !ds->tgt) return ST_ERR;
    for (size_t r = 0; r < n; r++)
      for (int t = 0; t < T; t++) {
        size_t j = r * T + t;
        ds->tok[j] = j < S ? b->stream.p[j] : b->pad;
        ds->tgt[j] = j + 1 < S ? b->stream.p[j + 1] : -1;
      }
    return ST_OK;
  }
  if (b->n == 0) return ST_OK;
  ds->n = b->n;
  if (copy_ivec(&ds->tok, &b->tok) || copy_ivec(&ds->tgt, &b->tgt) ||
      copy_ivec(&ds->prompt_len, &b->plen))
    return ST_ERR;
  int K = b->K;
  if (K == 0) return ST_OK;
  ds->n_classes = K;
  ds->classes = st_calloc((size_t)K, sizeof *ds->classes);
  ds->verbalizers = st_calloc((size_t)K, sizeof *ds->verbalizers);
  ds->cand_off = st_malloc(((size_t)b->n * K + 1) * sizeof *ds->cand_off);
  if (!ds->classes || !ds->verbalizers || !ds->cand_off ||
      copy_ivec(&ds->label, &b->label) || copy_ivec(&ds->cand, &b->cand))
    return ST_ERR;
  for (int k = 0; k < K; k++)
    if (!(ds->classes[k] = strdup(o->labels[k])) ||
        !(ds->verbalizers[k] = strdup(o->verbalizers[k])))
      return st_err("out of memory");
  ds->cand_off[0] = 0;
  for (size_t j = 0; j < (size_t)b->n * K; j++)
    ds->cand_off[j + 1] = ds->cand_off[j] + b->clen.p[j];
  return ST_OK;
}

static void build_free(ds_build *b) {
  st_ivec *v[] = {&b->stream, &b->tok, &b->tgt, &b->plen, &b->label, &b->clen,
                  &b->cand};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->p);
  free(b->scratch.p);
}

static int check_opts(const st_data_opts *o, st_ds_format fmt) {
  if (o->seq_len < 1 || o->seq_len > (1 << 20))
    return st_err("%s: seq_len = %d, expected 1..%d", o->path, o->seq_len,
                  1 << 20);
  if (o->n_classes < 0 || o->n_classes == 1)
    return st_err("%s: classification needs at least two classes (%d given)",
                  o->path, o->n_classes);
  if (o->n_classes > 0) {
    if (!o->templ || !*o->templ)
      return st_err("%s: classification needs a prompt template", o->path);
    if (fmt == ST_DS_TEXT)
      return st_err("%s: plain text has no labels; use tsv, csv or jsonl for "
                    "classification", o->path);
    for (int k = 0; k < o->n_classes; k++) {
      if (!o->labels[k] || !o->verbalizers[k] || !*o->verbalizers[k])
        return st_err("%s: class %d has no label or an empty verbalizer",
                      o->path, k);
      for (int j = 0; j < k; j++)
        if (!strcmp(o->labels[j], o->labels[k]))
          return st_err("%s: label \"%s\" has two verbalizers", o->path,
                        o->labels[k]);
    }
  } else if (fmt == ST_DS_TSV || fmt == ST_DS_CSV) {
    return st_err("%s: %s files are classification tables: give a template "
                  "and verbalizers", o->path, format_name(fmt));
  }
  int chat = fmt == ST_DS_CHAT || fmt == ST_DS_ALPACA;
  if (chat && o->n_classes)
    return st_err("%s: %s data is not a classification table", o->path,
                  format_name(fmt));
  if (chat && !o->render)
    return st_err("%s: %s data needs a chat template", o->path,
                  format_name(fmt));
  if (!o->text_key || (chat && (!o->messages_key || !o->role_key ||
                                !o->content_key || !o->instruction_key ||
                                !o->input_key || !o->output_key)))
    return st_err("%s: a JSON key name is not set", o->path);
  return ST_OK;
}

int st_dataset_load(st_dataset *ds, const st_tokenizer *tk,
                    const st_data_opts *o) {
  memset(ds, 0, sizeof *ds);
  if (!o->path) return st_err("dataset: no data path");
  struct stat st;
  if (stat(o->path, &st)) return st_err("%s: %s", o->path, strerror(errno));
  int is_dir = S_ISDIR(st.st_mode);
  if (!is_dir && regular(o->path, &st)) return ST_ERR;
  st_ds_format fmt = o->format;
  if (resolve_format(o->path, is_dir, &fmt) || check_opts(o, fmt))
    return ST_ERR;
  if (is_dir && fmt != ST_DS_TEXT)
    return st_err("%s: a folder is read as text files only", o->path);

  ds_file *files = NULL;
  int nf = 0, rc = ST_ERR;
  ds_build b = {0};
  char cpath[ST_PATH_MAX] = "", why[128];
  if (read_inputs(o->path, is_dir, &files, &nf)) goto done;
  /* chat rows are rendered (and checked) first: the key holds the result,
   * so a changed template cannot reuse stale tokens */
  int chat = fmt == ST_DS_CHAT || fmt == ST_DS_ALPACA;
  uint64_t rendered = chat ? ST_FNV_INIT : 0;
  for (int i = 0; chat && i < nf; i++)
    if (ds_read_chat(NULL, &files[i], o, &rendered)) goto done;
  uint64_t key = cache_key(tk, o, fmt, files, nf, rendered);
  if (!o->no_cache) {
    char name[64];
    snprintf(name, sizeof name, "tokens/%016llx.bin", (unsigned long long)key);
    if (st_cache_path(name, cpath, sizeof cpath)) goto done;
    if (ds_cache_read(ds, cpath, key, why, sizeof why)) {
      ds->from_cache = 1;
      rc = ST_OK;
      goto done;
    }
    if (why[0])
      fprintf(stderr, "strata: note: token cache %s is stale (%s); rebuilding\n",
              cpath, why);
  }
  b.tk = tk;
  b.T = o->seq_len;
  b.K = o->n_classes;
  b.bos = st_tokenizer_bos(tk);
  b.eos = st_tokenizer_eos(tk);
  b.pad = b.eos >= 0 ? b.eos : 0;
  for (int i = 0; i < nf; i++) {
    int r = fmt == ST_DS_TEXT    ? ds_read_text(&b, &files[i], o->separator)
            : fmt == ST_DS_JSONL ? ds_read_jsonl(&b, &files[i], o)
            : chat               ? ds_read_chat(&b, &files[i], o, NULL)
                                 : ds_read_table(&b, &files[i], o, fmt == ST_DS_CSV);
    if (r) goto done;
  }
  if (finish(&b, ds, o)) goto done;
  if (ds->n == 0) {
    if (ds->n_skipped)
      st_err("%s: no examples: all %d conversations have their first trained "
             "token past seq_len %d", o->path, ds->n_skipped, ds->T);
    else
      st_err("%s: no examples (the data is empty)", o->path);
    goto done;
  }
  if (cpath[0] && ds_cache_write(ds, cpath, key))
    fprintf(stderr, "strata: warning: token cache not written: %s\n",
            st_errmsg());
  rc = ST_OK;
done:
  if (rc == ST_OK) {
    snprintf(ds->path, sizeof ds->path, "%s", o->path);
    if (ds->n_truncated)
      fprintf(stderr, "strata: warning: %s: %d example%s longer than %d "
              "tokens %s truncated\n", o->path, ds->n_truncated,
              ds->n_truncated == 1 ? "" : "s", ds->T,
              ds->n_truncated == 1 ? "was" : "were");
    if (ds->n_skipped)
      fprintf(stderr, "strata: warning: %s: %d conversation%s skipped: no "
              "trained token within %d tokens\n", o->path, ds->n_skipped,
              ds->n_skipped == 1 ? "" : "s", ds->T);
  } else {
    st_dataset_free(ds);
  }
  build_free(&b);
  for (int i = 0; i < nf; i++) free(files[i].data);
  free(files);
  return rc;
}

void st_dataset_free(st_dataset *ds) {
  if (!ds) return;
  for (int k = 0; k < ds->n_classes; k++) {
    if (ds->classes) free(ds->classes[k]);
    if (ds->verbalizers) free(ds->verbalizers[k]);
  }
  free(ds->classes);
  free(ds->verbalizers);
  free(ds->tok);
  free(ds->tgt);
  free(ds->prompt_len);
  free(ds->label);
  free(ds->cand_off);
  free(ds->cand);
  memset(ds, 0, sizeof *ds);
}

/* ------------------------------------------------------------ subsets */

int st_dataset_subset(st_dataset *out, const st_dataset *ds, const int *idx,
                      int m) {
  memset(out, 0, sizeof *out);
  int T = ds->T, K = ds->n_classes;
  out->n = m;
  out->T = T;
  out->pad = ds->pad;
  out->n_classes = K;
  snprintf(out->path, sizeof out->path, "%s", ds->path);
  size_t nc = 0;
  for (int j = 0; j < m; j++) {
    if (idx[j] < 0 || idx[j] >= ds->n)
      return st_err("subset: example %d outside 0..%d", idx[j], ds->n - 1);
    if (K) nc += (size_t)(ds->cand_off[(size_t)(idx[j] + 1) * K] -
                          ds->cand_off[(size_t)idx[j] * K]);
  }
  out->tok = st_malloc((size_t)m * T * sizeof *out->tok);
  out->tgt = st_malloc((size_t)m * T * sizeof *out->tgt);
  if (!out->tok || !out->tgt) goto fail;
  if (ds->prompt_len && !(out->prompt_len = st_malloc((size_t)m * 4))) goto fail;
  if (K) {
    out->classes = st_calloc((size_t)K, sizeof *out->classes);
    out->verbalizers = st_calloc((size_t)K, sizeof *out->verbalizers);
    out->label = st_malloc((size_t)m * 4);
    out->cand_off = st_malloc(((size_t)m * K + 1) * sizeof *out->cand_off);
    out->cand = st_malloc(nc * sizeof *out->cand);
    if (!out->classes || !out->verbalizers || !out->label || !out->cand_off ||
        !out->cand)
      goto fail;
    for (int k = 0; k < K; k++)
      if (!(out->classes[k] = strdup(ds->classes[k])) ||
          !(out->verbalizers[k] = strdup(ds->verbalizers[k]))) {
        st_err("out of memory");
        goto fail;
      }
    out->cand_off[0] = 0;
  }
  for (int j = 0; j < m; j++) {
    size_t i = (size_t)idx[j];
    memcpy(out->tok + (size_t)j * T, ds->tok + i * T, T * sizeof *out->tok);
    memcpy(out->tgt + (size_t)j * T, ds->tgt + i * T, T * sizeof *out->tgt);
    if (ds->prompt_len) out->prompt_len[j] = ds->prompt_len[i];
    if (!K) continue;
    out->label[j] = ds->label[i];
    for (int c = 0; c < K; c++) {
      int64_t a = ds->cand_off[i * K + c], e = ds->cand_off[i * K + c + 1];
      int64_t o = out->cand_off[(size_t)j * K + c];
      memcpy(out->cand + o, ds->cand + a, (size_t)(e - a) * sizeof *out->cand);
      out->cand_off[(size_t)j * K + c + 1] = o + (e - a);
    }
  }
  return ST_OK;
fail:
  st_dataset_free(out);
  return ST_ERR;
}

static void shuffle(int *a, int n, st_rng *r) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(st_rng_next(r) % (uint64_t)(i + 1)), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

static int cmp_int(const void *a, const void *b) {
  return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

int st_dataset_split(const st_dataset *ds, double fraction, uint64_t seed,
                     st_dataset *train, st_dataset *eval) {
  memset(train, 0, sizeof *train);
  memset(eval, 0, sizeof *eval);
  if (!(fraction > 0 && fraction < 1))
    return st_err("%s: eval fraction %g, expected 0 < f < 1", ds->path,
                  fraction);
  if (ds->n < 2)
    return st_err("%s: %d example%s cannot be split into train and eval",
                  ds->path, ds->n, ds->n == 1 ? "" : "s");
  int ne = (int)(fraction * ds->n + 0.5);
  if (ne < 1) ne = 1;
  if (ne > ds->n - 1) ne = ds->n - 1;
  int *idx = st_malloc((size_t)ds->n * sizeof *idx);
  if (!idx) return ST_ERR;
  for (int i = 0; i < ds->n; i++) idx[i] = i;
  st_rng r;
  st_rng_seed(&r, seed ^ 0x73706c6974ull); /* "split" */
  shuffle(idx, ds->n, &r);
  qsort(idx, (size_t)ne, sizeof *idx, cmp_int);
  qsort(idx + ne, (size_t)(ds->n - ne), sizeof *idx, cmp_int);
  int rc = st_dataset_subset(eval, ds, idx, ne);
  if (rc == ST_OK) rc = st_dataset_subset(train, ds, idx + ne, ds->n - ne);
  if (rc) st_dataset_free(eval);
  free(idx);
  return rc;
}

/* ------------------------------------------------------------ verbalizers */

void st_verbalizers_free(int K, char **labels, char **verbalizers) {
  for (int k = 0; k < K; k++) {
    if (labels) free(labels[k]);
    if (verbalizers) free(verbalizers[k]);
  }
  free(labels);
  free(verbalizers);
}

static int add_verb(int *K, char ***labels, char ***verbs, const char *l,
                    size_t ln, const char *v, size_t vn) {
  char **a = realloc(*labels, (size_t)(*K + 1) * sizeof *a);
  if (a) *labels = a;
  char **b = a ? realloc(*verbs, (size_t)(*K + 1) * sizeof *b) : NULL;
  if (b) *verbs = b;
  if (!a || !b) return st_err("out of memory");
  (*labels)[*K] = strndup(l, ln);
  (*verbs)[*K] = strndup(v, vn);
  (*K)++;
  if (!(*labels)[*K - 1] || !(*verbs)[*K - 1]) return st_err("out of memory");
  return ST_OK;
}

static int parse_json_verbs(const char *spec, int *K, char ***labels,
                            char ***verbs) {
  json_error_t e;
  json_t *o = json_loads(spec, 0, &e);
  if (!o || !json_is_object(o)) {
    json_decref(o);
    return st_err("verbalizers: expected a JSON object {\"label\": \"text\"}: %s",
                  o ? "not an object" : e.text);
  }
  const char *key;
  json_t *v;
  int rc = ST_OK;
  json_object_foreach(o, key, v) {
    if (!json_is_string(v)) {
      rc = st_err("verbalizers: the value of \"%s\" must be a string", key);
      break;
    }
    if ((rc = add_verb(K, labels, verbs, key, strlen(key), json_string_value(v),
                       json_string_length(v))))
      break;
  }
  json_decref(o);
  return rc;
}

int st_verbalizers_parse(const char *spec, int *K, char ***labels,
                         char ***verbalizers) {
  *K = 0;
  *labels = *verbalizers = NULL;
  const char *s = spec;
  while (*s == ' ') s++;
  int rc = ST_OK;
  if (*s == '{') {
    rc = parse_json_verbs(s, K, labels, verbalizers);
  } else {
    size_t n = strlen(spec);
    char *buf = st_malloc(n + 1);
    if (!buf) return ST_ERR;
    const char *p = spec;
    while (rc == ST_OK && *p) {
      /* one entry: unescape up to an unescaped ',' */
      size_t m = 0, eq = (size_t)-1;
      for (; *p && *p != ','; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
          c = *++p;
          c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        } else if (c == '=' && eq == (size_t)-1) {
          eq = m;
        }
        buf[m++] = c;
      }
      if (*p == ',') p++;
      if (eq == (size_t)-1 || eq == 0)
        rc = st_err("verbalizers: entry \"%.*s\" is not LABEL=TEXT", (int)m, buf);
      else
        rc = add_verb(K, labels, verbalizers, buf, eq, buf + eq + 1, m - eq - 1);
    }
    free(buf);
  }
  if (rc == ST_OK && *K < 2)
    rc = st_err("verbalizers: \"%s\" gives %d class%s; classification needs "
                "at least two", spec, *K, *K == 1 ? "" : "es");
  if (rc) {
    st_verbalizers_free(*K, *labels, *verbalizers);
    *K = 0;
    *labels = *verbalizers = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------ batching */

static void epoch_order(st_batcher *b) {
  int n = b->ds->n;
  for (int i = 0; i < n; i++) b->order[i] = i;
  if (!b->shuffle) return;
  st_rng r;
  uint64_t e = (uint64_t)b->epoch;
  st_rng_seed(&r, st_fnv1a(&e, sizeof e, b->seed ^ ST_FNV_INIT));
  shuffle(b->order, n, &r);
}

int st_batcher_init(st_batcher *b, const st_dataset *ds, int B, uint64_t seed,
                    int shuffle_) {
  memset(b, 0, sizeof *b);
  if (B < 1) return st_err("batch size %d, expected >= 1", B);
  if (ds->n < 1) return st_err("%s: no examples to batch", ds->path);
  b->ds = ds;
  b->B = B;
  b->seed = seed;
  b->shuffle = shuffle_;
  b->shards = 1;
  b->order = st_malloc((size_t)ds->n * sizeof *b->order);
  if (!b->order) return ST_ERR;
  epoch_order(b);
  return ST_OK;
}

void st_batcher_free(st_batcher *b) {
  free(b->order);
  b->order = NULL;
}

int st_batcher_seek(st_batcher *b, long epoch, long index) {
  if (epoch < 0 || index < 0 || index >= b->ds->n)
    return st_err("%s: data position (epoch %ld, index %ld) outside the %d "
                  "examples", b->ds->path, epoch, index, b->ds->n);
  b->epoch = epoch;
  b->index = index;
  epoch_order(b);
  return ST_OK;
}

int st_batcher_shard(st_batcher *b, int s, int n) {
  if (n < 1 || s < 0 || s >= n)
    return st_err("batch shard %d of %d: expected 0 <= shard < shards", s, n);
  if (b->B % n)
    return st_err("batch size %d does not divide into %d equal shards", b->B, n);
  b->shard = s;
  b->shards = n;
  return ST_OK;
}

void st_batcher_next(st_batcher *b, int32_t *tok, int32_t *tgt, int *ids) {
  const st_dataset *ds = b->ds;
  size_t T = (size_t)ds->T;
  int rows = b->B / b->shards, lo = b->shard * rows;
  for (int r = 0; r < b->B; r++) {
    int i = b->order[b->index], o = r - lo;
    if (o >= 0 && o < rows) {
      memcpy(tok + o * T, ds->tok + (size_t)i * T, T * sizeof *tok);
      memcpy(tgt + o * T, ds->tgt + (size_t)i * T, T * sizeof *tgt);
      if (ids) ids[o] = i;
    }
    if (++b->index == ds->n) {
      b->index = 0;
      b->epoch++;
      epoch_order(b);
    }
  }
}
