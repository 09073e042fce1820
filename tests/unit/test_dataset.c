/* test_dataset.c - every format against hand-built token rows (the
 * tokenizer of test_dataset_tok.h encodes one token per character), the
 * bad inputs, truncation, the token cache, the split and the batcher. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "dataset.h"
#include "error.h"
#include "test.h"
#include "test_dataset_tok.h"

static char dir[64], tokpath[128];
static st_tokenizer *tk;

static const char *fpath(const char *name) {
  static char p[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static int load(st_dataset *ds, const char *name, const char *content,
                st_data_opts o) {
  if (content) put_file(fpath(name), content);
  o.path = fpath(name);
  return st_dataset_load(ds, tk, &o);
}

static int has(const char *needle) {
  int ok = strstr(st_errmsg(), needle) != NULL;
  if (!ok) fprintf(stderr, "  message was: %s\n", st_errmsg());
  return ok;
}

/* the packed rows of a stream s[0..S-1] with T positions */
static void check_packed(const st_dataset *ds, const int32_t *s, int S) {
  int T = ds->T, n = (S - 1 + T - 1) / T;
  CHECK_MSG(ds->n == n, "n %d, expected %d", ds->n, n);
  if (ds->n != n) return;
  for (int j = 0; j < n * T; j++) {
    CHECK(ds->tok[j] == (j < S ? s[j] : TK_EOS));
    CHECK(ds->tgt[j] == (j + 1 < S ? s[j + 1] : -1));
  }
  CHECK(ds->prompt_len == NULL && ds->n_classes == 0);
}

static void test_text(void) {
  st_data_opts o = st_data_opts_default();
  st_dataset ds;
  o.seq_len = 4;
  o.no_cache = 1;
  /* one document: BOS " hello ab" EOS */
  int32_t s[32];
  int S = tk_ref("hello ab", s);
  s[S++] = TK_EOS;
  CHECK(S == 10 && s[8] == TK_AB);
  CHECK(load(&ds, "one.txt", "hello ab", o) == ST_OK);
  check_packed(&ds, s, S);
  /* by hand: the last row holds s[8], s[9] and padding */
  CHECK(ds.n == 3 && ds.tok[8] == TK_AB && ds.tok[9] == TK_EOS &&
        ds.tgt[8] == TK_EOS && ds.tgt[9] == -1 && ds.tok[11] == TK_EOS);
  st_dataset_free(&ds);

  /* two documents by separator (a blank third one is skipped), by folder,
   * and by JSONL all give the same stream */
  S = tk_ref("ab", s);
  s[S++] = TK_EOS;
  S += tk_ref("cd", s + S);
  s[S++] = TK_EOS;
  o.separator = "\n\n";
  CHECK(load(&ds, "sep.txt", "ab\n\ncd\n\n\n", o) == ST_OK);
  check_packed(&ds, s, S);
  st_dataset_free(&ds);
  o.separator = NULL;
  mkdir(fpath("docs"), 0755);
  put_file(fpath("docs/1.txt"), "ab");
  put_file(fpath("docs/2.txt"), "cd");
  put_file(fpath("docs/readme.md"), "not read");
  CHECK(load(&ds, "docs", NULL, o) == ST_OK);
  check_packed(&ds, s, S);
  st_dataset_free(&ds);
  CHECK(load(&ds, "t.jsonl", "{\"text\": \"ab\"}\n\n{\"text\": \"cd\"}\n", o) == ST_OK);
  check_packed(&ds, s, S);
  st_dataset_free(&ds);
}

static void test_prompt_completion(void) {
  st_data_opts o = st_data_opts_default();
  st_dataset ds;
  o.seq_len = 8;
  o.no_cache = 1;
  CHECK(load(&ds, "pc.jsonl",
             "{\"prompt\": \"Q:\", \"completion\": \" A\"}\n"
             "{\"prompt\": \"xa\", \"completion\": \"b\"}\n", o) == ST_OK);
  CHECK(ds.n == 2 && ds.prompt_len && ds.n_classes == 0);
  const int Q = tk_char('Q'), C = tk_char(':'), A = tk_char('A'), X = tk_char('x');
  /* BOS " Q: A" EOS, loss on " ", "A", EOS */
  int32_t tok0[8] = {1, TK_SP, Q, C, TK_SP, A, TK_EOS, TK_EOS};
  int32_t tgt0[8] = {-1, -1, -1, TK_SP, A, TK_EOS, -1, -1};
  /* "xab" encodes as " x ab": the merge crosses the boundary, so the
   * prompt is BOS " x" and the completion "ab" */
  int32_t tok1[8] = {1, TK_SP, X, TK_AB, TK_EOS, TK_EOS, TK_EOS, TK_EOS};
  int32_t tgt1[8] = {-1, -1, TK_AB, TK_EOS, -1, -1, -1, -1};
  CHECK(!memcmp(ds.tok, tok0, sizeof tok0) && !memcmp(ds.tgt, tgt0, sizeof tgt0));
  CHECK(!memcmp(ds.tok + 8, tok1, sizeof tok1) &&
        !memcmp(ds.tgt + 8, tgt1, sizeof tgt1));
  CHECK(ds.prompt_len[0] == 4 && ds.prompt_len[1] == 3 && ds.n_truncated == 0);
  st_dataset_free(&ds);
}

/* truncation: one warning line with the count, on every load */
static void test_truncation(void) {
  st_data_opts o = st_data_opts_default();
  st_dataset ds;
  o.seq_len = 4;
  char cache[128], errf[128];
  snprintf(cache, sizeof cache, "%s/cache", dir);
  setenv("STRATA_CACHE", cache, 1);
  snprintf(errf, sizeof errf, "%s/stderr.txt", dir);
  const char *data = "{\"prompt\": \"hello\", \"completion\": \" w\"}\n"
                     "{\"prompt\": \"\", \"completion\": \"abcdefg\"}\n"
                     "{\"prompt\": \"q\", \"completion\": \"r\"}\n";
  for (int pass = 0; pass < 2; pass++) {
    fflush(stderr);
    int saved = dup(2), fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = load(&ds, "long.jsonl", data, o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK(rc == ST_OK && ds.from_cache == pass);
    FILE *f = fopen(errf, "r");
    char buf[512] = "";
    size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = 0;
    if (f) fclose(f);
    CHECK_MSG(strstr(buf, "long.jsonl: 2 examples longer than 4 tokens were "
                          "truncated\n") != NULL, "stderr: %s", buf);
    CHECK(strchr(buf, '\n') == buf + strlen(buf) - 1); /* one line */
    if (rc) continue;
    CHECK(ds.n_truncated == 2 && ds.n == 3);
    /* prompt cut from the start, BOS kept: BOS "o" | " w" EOS */
    const int O = tk_char('o'), W = tk_char('w');
    int32_t tok0[4] = {1, O, TK_SP, W}, tgt0[4] = {-1, TK_SP, W, TK_EOS};
    /* empty prompt, completion cut at its end: BOS | " ab c d" */
    int32_t tok1[4] = {1, TK_SP, TK_AB, tk_char('c')};
    int32_t tgt1[4] = {TK_SP, TK_AB, tk_char('c'), tk_char('d')};
    CHECK(!memcmp(ds.tok, tok0, sizeof tok0) && !memcmp(ds.tgt, tgt0, sizeof tgt0));
    CHECK(!memcmp(ds.tok + 4, tok1, sizeof tok1) &&
          !memcmp(ds.tgt + 4, tgt1, sizeof tgt1));
    CHECK(ds.prompt_len[0] == 2 && ds.prompt_len[1] == 1);
    st_dataset_free(&ds);
  }
}

static const char *verbs2[] = {" n", " y"}, *labels01[] = {"0", "1"};

static st_data_opts cls_opts(const char *templ) {
  st_data_opts o = st_data_opts_default();
  o.seq_len = 16;
  o.no_cache = 1;
  o.templ = templ;
  o.n_classes = 2;
  o.labels = labels01;
  o.verbalizers = verbs2;
  return o;
}

static void test_classification(void) {
  st_dataset ds;
  /* SST-2 dev style: header "sentence<TAB>label"; fields are trimmed */
  st_data_opts o = cls_opts("R:{sentence}\nS:");
  CHECK(load(&ds, "dev.tsv", "sentence\tlabel\nab c \t1\n\nx\t0\n", o) == ST_OK);
  CHECK(ds.n == 2 && ds.n_classes == 2);
  int32_t P[32];
  int np = tk_ref("R:ab c\nS:", P);
  CHECK(np == 10);
  if (ds.n == 2 && ds.cand_off) {
    CHECK(ds.label[0] == 1 && ds.label[1] == 0);
    CHECK(ds.prompt_len[0] == np && !memcmp(ds.tok, P, (size_t)np * 4));
    /* continuations " n" / " y", each after the shared prompt */
    const int64_t off[5] = {0, 2, 4, 6, 8};
    CHECK(!memcmp(ds.cand_off, off, sizeof off));
    CHECK(ds.cand[0] == TK_SP && ds.cand[1] == tk_char('n') &&
          ds.cand[2] == TK_SP && ds.cand[3] == tk_char('y'));
    /* the gold row: loss only on " y" */
    for (int t = 0; t < 16; t++) {
      int want = t == np - 1 ? TK_SP : t == np ? tk_char('y') : -1;
      CHECK_MSG(ds.tgt[t] == want, "t %d: %d != %d", t, ds.tgt[t], want);
    }
    CHECK(ds.tok[np] == TK_SP && ds.tok[np + 1] == tk_char('y') &&
          ds.tok[np + 2] == TK_EOS);
    np = tk_ref("R:x\nS:", P);
    CHECK(ds.prompt_len[1] == np && !memcmp(ds.tok + 16, P, (size_t)np * 4));
    CHECK(!strcmp(ds.classes[1], "1") && !strcmp(ds.verbalizers[0], " n"));
  }
  st_dataset_free(&ds);

  /* SST-2 train style: no header, label first, columns by index */
  static const char *qv[] = {"!", "?"};
  o = cls_opts("{1}");
  o.label_col = "0";
  o.verbalizers = qv;
  CHECK(load(&ds, "train.tsv", "1\tab\n0\tcd\n", o) == ST_OK);
  CHECK(ds.n == 2 && ds.label && ds.label[0] == 1 && ds.label[1] == 0);
  if (ds.n == 2 && ds.cand) {
    CHECK(ds.prompt_len[0] == 3 && ds.cand[1] == tk_char('?'));
    CHECK(ds.cand_off[2] == 2); /* single-token continuations */
  }
  st_dataset_free(&ds);
  /* an empty first field (found by tests/fuzz/fuzz_dataset: trimming it
   * computed NULL + 0 before the buffer existed) */
  o.label_col = "1";
  o.templ = "{0}x";
  CHECK(load(&ds, "empty_first.tsv", "\t1\n  \t0\n", o) == ST_OK);
  CHECK(ds.n == 2 && ds.label && ds.label[0] == 1 && ds.label[1] == 0);
  st_dataset_free(&ds);
  o.label_col = "0";
  o.templ = "{1}";

  /* CSV quoting */
  o = cls_opts("{text}");
  CHECK(load(&ds, "q.csv", "text,label\n\"x, \"\"y\"\"\",1\n", o) == ST_OK);
  np = tk_ref("x, \"y\"", P);
  CHECK(ds.n == 1 && ds.prompt_len && ds.prompt_len[0] == np &&
        !memcmp(ds.tok, P, (size_t)np * 4));
  st_dataset_free(&ds);

  /* JSONL rows: columns are keys, numbers match labels as written */
  o = cls_opts("{s}");
  o.label_col = "y";
  CHECK(load(&ds, "c.jsonl", "{\"s\": \"ab\", \"y\": 1}\n{\"s\": \"c\", \"y\": 0}\n",
             o) == ST_OK);
  CHECK(ds.n == 2 && ds.label && ds.label[0] == 1 && ds.label[1] == 0);
  st_dataset_free(&ds);
}

static void test_bad_input(void) {
  st_dataset ds;
  st_data_opts o = st_data_opts_default();
  o.no_cache = 1;
  o.seq_len = 16;
  CHECK(load(&ds, "bad.jsonl", "{\"text\": \"a\"}\n{\"text\": }\n", o) == ST_ERR);
  CHECK(has("bad.jsonl:2: invalid JSON"));
  CHECK(load(&ds, "bad.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n"
                               "{\"prompt\": \"c\"}\n", o) == ST_ERR);
  CHECK(has("bad.jsonl:2: missing key \"completion\""));
  CHECK(load(&ds, "bad.jsonl", "[1, 2]\n", o) == ST_ERR);
  CHECK(has("bad.jsonl:1: expected a JSON object"));
  CHECK(load(&ds, "empty.txt", "", o) == ST_ERR && has("empty.txt: no examples"));
  CHECK(load(&ds, "blank.jsonl", "\n\n", o) == ST_ERR && has("no examples"));
  CHECK(load(&ds, "x.tsv", "a\tb\n", o) == ST_ERR && has("template"));
  CHECK(load(&ds, "x.dat", "a", o) == ST_ERR && has("x.dat: cannot tell the format"));

  o = cls_opts("R:{sentnce}");
  CHECK(load(&ds, "bad.tsv", "sentence\tlabel\nx\t1\n", o) == ST_ERR);
  CHECK(has("bad.tsv:1: no column named \"sentnce\" (columns: sentence, label)"));
  o = cls_opts("{sentence}");
  CHECK(load(&ds, "bad.tsv", "sentence\tlabel\nx\t1\ny\t2\n", o) == ST_ERR);
  CHECK(has("bad.tsv:3: label \"2\" has no verbalizer (labels: 0, 1)"));
  CHECK(load(&ds, "hdr.tsv", "sentence\tlabel\n", o) == ST_ERR && has("no examples"));
  o.header = 0;
  CHECK(load(&ds, "bad.tsv", "x\t1\n", o) == ST_ERR && has("has no header"));
  o = cls_opts("{1}");
  o.label_col = "0";
  CHECK(load(&ds, "bad.tsv", "1\tok\n0\n", o) == ST_ERR);
  CHECK(has("bad.tsv:2: 1 column, but column 1 is used"));
  o = cls_opts("{text}");
  CHECK(load(&ds, "bad.csv", "text,label\n\"open,1\n", o) == ST_ERR);
  CHECK(has("bad.csv:2: unterminated quoted field"));
  o = cls_opts("{1}");
  CHECK(load(&ds, "bad.jsonl", "{\"a\": 1}\n", o) == ST_ERR && has("not index"));
  o = cls_opts("{a}");
  CHECK(load(&ds, "bad.jsonl", "{\"a\": \"x\"}\n", o) == ST_ERR);
  CHECK(has("bad.jsonl:1: missing key \"label\""));
  static const char *longv[] = {" n", " xyzw"};
  o = cls_opts("{0}");
  o.label_col = "1";
  o.seq_len = 4;
  o.verbalizers = longv;
  CHECK(load(&ds, "v.tsv", "a\t1\n", o) == ST_ERR);
  CHECK(has("v.tsv:1: verbalizer \" xyzw\" is 5 tokens, more than seq_len 4"));
  o = cls_opts("{0");
  CHECK(load(&ds, "v.tsv", "a\t1\n", o) == ST_ERR && has("unclosed"));
}

static int count_files(const char *d) {
  DIR *dd = opendir(d);
  int n = 0;
  struct dirent *e;
  while (dd && (e = readdir(dd)))
    if (e->d_name[0] != '.') n++;
  if (dd) closedir(dd);
  return n;
}

static int same(const st_dataset *a, const st_dataset *b) {
  size_t nT = (size_t)a->n * a->T;
  int ok = a->n == b->n && a->T == b->T && a->n_classes == b->n_classes &&
           !memcmp(a->tok, b->tok, nT * 4) && !memcmp(a->tgt, b->tgt, nT * 4) &&
           a->n_truncated == b->n_truncated && a->pad == b->pad;
  if (ok && a->prompt_len)
    ok = b->prompt_len && !memcmp(a->prompt_len, b->prompt_len, (size_t)a->n * 4);
  if (ok && a->n_classes) {
    size_t nK = (size_t)a->n * a->n_classes;
    ok = !memcmp(a->label, b->label, (size_t)a->n * 4) &&
         !memcmp(a->cand_off, b->cand_off, (nK + 1) * 8) &&
         !memcmp(a->cand, b->cand, (size_t)a->cand_off[nK] * 4) &&
         !strcmp(a->verbalizers[1], b->verbalizers[1]);
  }
  return ok;
}

static void corrupt(const char *path, long at, int truncate_to_half) {
  FILE *f = fopen(path, "r+b");
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  if (truncate_to_half) {
    fclose(f);
    if (truncate(path, n / 2)) perror("truncate");
    return;
  }
  if (at < 0) at += n;
  fseek(f, at, SEEK_SET);
  int c = fgetc(f);
  fseek(f, at, SEEK_SET);
  fputc(c ^ 0x5a, f);
  fclose(f);
}

static void test_cache(void) {
  char cache[128], tokdir[160];
  snprintf(cache, sizeof cache, "%s/cache2", dir);
  snprintf(tokdir, sizeof tokdir, "%s/tokens", cache);
  setenv("STRATA_CACHE", cache, 1);
  st_data_opts o = cls_opts("R:{sentence}\nS:");
  o.no_cache = 0;
  const char *data = "sentence\tlabel\nab c\t1\nx\t0\nyy\t1\n";
  st_dataset a, b;
  CHECK(load(&a, "c.tsv", data, o) == ST_OK && a.from_cache == 0);
  CHECK(count_files(tokdir) == 1);
  CHECK(load(&b, "c.tsv", NULL, o) == ST_OK && b.from_cache == 1);
  CHECK(same(&a, &b));
  st_dataset_free(&b);
  char file[512] = "";
  DIR *dd = opendir(tokdir);
  struct dirent *e;
  while (dd && (e = readdir(dd)))
    if (e->d_name[0] != '.') snprintf(file, sizeof file, "%s/%s", tokdir, e->d_name);
  if (dd) closedir(dd);
  /* each kind of damage is detected and the cache rebuilt in place */
  for (int kind = 0; kind < 4; kind++) {
    if (kind == 0) corrupt(file, 0, 1);        /* truncated */
    if (kind == 1) corrupt(file, 0, 0);        /* bad magic */
    if (kind == 2) corrupt(file, 100, 0);      /* payload: checksum */
    if (kind == 3) corrupt(file, 16, 0);       /* key */
    CHECK(load(&b, "c.tsv", NULL, o) == ST_OK);
    CHECK_MSG(b.from_cache == 0, "damage %d not detected", kind);
    CHECK(same(&a, &b));
    st_dataset_free(&b);
    CHECK(load(&b, "c.tsv", NULL, o) == ST_OK && b.from_cache == 1);
    st_dataset_free(&b);
  }
  CHECK(count_files(tokdir) == 1); /* no temporary left behind */
  /* a changed file, template or verbalizer is a different key */
  CHECK(load(&b, "c.tsv", "sentence\tlabel\nab c\t1\nx\t0\nyz\t1\n", o) == ST_OK);
  CHECK(b.from_cache == 0 && count_files(tokdir) == 2);
  st_dataset_free(&b);
  o.templ = "R:{sentence}";
  CHECK(load(&b, "c.tsv", NULL, o) == ST_OK && b.from_cache == 0);
  st_dataset_free(&b);
  o.no_cache = 1;
  CHECK(load(&b, "c.tsv", NULL, o) == ST_OK && b.from_cache == 0);
  CHECK(count_files(tokdir) == 3);
  st_dataset_free(&b);
  st_dataset_free(&a);
}

/* ten prompt examples; example i's prompt is the letter 'a' + i */
static void ten(st_dataset *ds) {
  char buf[1024] = "";
  for (int i = 0; i < 10; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
             "{\"prompt\": \"%c\", \"completion\": \"z\"}\n", 'c' + i);
  st_data_opts o = st_data_opts_default();
  o.seq_len = 6;
  o.no_cache = 1;
  CHECK(load(ds, "ten.jsonl", buf, o) == ST_OK && ds->n == 10);
}
static int which(const st_dataset *ds, int i) { return ds->tok[(size_t)i * ds->T + 2] - tk_char('c'); }

static void test_split_batch(void) {
  st_dataset ds, tr, ev, tr2, ev2;
  ten(&ds);
  if (ds.n != 10) return;
  CHECK(st_dataset_split(&ds, 0.3, 7, &tr, &ev) == ST_OK);
  CHECK(ev.n == 3 && tr.n == 7);
  int seen[10] = {0};
  for (int i = 0; i < ev.n; i++) seen[which(&ev, i)]++;
  for (int i = 0; i < tr.n; i++) seen[which(&tr, i)]++;
  for (int i = 0; i < 10; i++) CHECK(seen[i] == 1);
  for (int i = 1; i < ev.n; i++) CHECK(which(&ev, i) > which(&ev, i - 1));
  for (int i = 1; i < tr.n; i++) CHECK(which(&tr, i) > which(&tr, i - 1));
  CHECK(st_dataset_split(&ds, 0.3, 7, &tr2, &ev2) == ST_OK && same(&ev, &ev2));
  st_dataset_free(&tr2);
  st_dataset_free(&ev2);
  int differs = 0;
  for (uint64_t s = 8; s < 20 && !differs; s++) {
    CHECK(st_dataset_split(&ds, 0.3, s, &tr2, &ev2) == ST_OK);
    differs = !same(&ev, &ev2);
    st_dataset_free(&tr2);
    st_dataset_free(&ev2);
  }
  CHECK(differs);
  CHECK(st_dataset_split(&ds, 1.5, 7, &tr2, &ev2) == ST_ERR);
  st_dataset_free(&tr);
  st_dataset_free(&ev);

  /* batches: each epoch a permutation, wrapping mid-batch */
  st_batcher b;
  int32_t tok[4 * 6], tgt[4 * 6];
  int ids[30];
  CHECK(st_batcher_init(&b, &ds, 3, 5, 1) == ST_OK);
  for (int k = 0; k < 10; k++) {
    st_batcher_next(&b, tok, tgt, ids + 3 * k);
    for (int r = 0; r < 3; r++)
      CHECK(!memcmp(tok + r * 6, ds.tok + ids[3 * k + r] * 6, 24) &&
            !memcmp(tgt + r * 6, ds.tgt + ids[3 * k + r] * 6, 24));
  }
  CHECK(b.epoch == 3 && b.index == 0);
  int identity = 1, same_order = 1;
  for (int e = 0; e < 3; e++) {
    int cnt[10] = {0};
    for (int i = 0; i < 10; i++) {
      cnt[ids[e * 10 + i]]++;
      identity &= ids[e * 10 + i] == i;
      if (e) same_order &= ids[e * 10 + i] == ids[i];
    }
    for (int i = 0; i < 10; i++) CHECK(cnt[i] == 1);
  }
  CHECK(!identity && !same_order);
  /* resume from (epoch 1, index 4): the same continuation */
  st_batcher c;
  int more[6];
  CHECK(st_batcher_init(&c, &ds, 3, 5, 1) == ST_OK);
  CHECK(st_batcher_seek(&c, 1, 4) == ST_OK);
  st_batcher_next(&c, tok, tgt, more);
  st_batcher_next(&c, tok, tgt, more + 3);
  CHECK(!memcmp(more, ids + 14, sizeof more));
  CHECK(st_batcher_seek(&c, 0, 10) == ST_ERR);
  st_batcher_free(&c);
  st_batcher_free(&b);
  CHECK(st_batcher_init(&b, &ds, 4, 5, 0) == ST_OK);
  st_batcher_next(&b, tok, tgt, ids);
  st_batcher_next(&b, tok, tgt, ids + 4);
  st_batcher_next(&b, tok, tgt, ids + 8);
  for (int i = 0; i < 12; i++) CHECK(ids[i] == i % 10);
  CHECK(b.epoch == 1 && b.index == 2);
  st_batcher_free(&b);
  st_dataset_free(&ds);
}

static void test_verbalizers(void) {
  int K;
  char **l, **v;
  CHECK(st_verbalizers_parse("0= negative,1= positive", &K, &l, &v) == ST_OK);
  CHECK(K == 2 && !strcmp(l[0], "0") && !strcmp(v[0], " negative") &&
        !strcmp(l[1], "1") && !strcmp(v[1], " positive"));
  st_verbalizers_free(K, l, v);
  CHECK(st_verbalizers_parse("a=x\\,y,b=1=2\\n", &K, &l, &v) == ST_OK);
  CHECK(K == 2 && !strcmp(v[0], "x,y") && !strcmp(l[1], "b") &&
        !strcmp(v[1], "1=2\n"));
  st_verbalizers_free(K, l, v);
  CHECK(st_verbalizers_parse("{\"neg\": \" bad\", \"pos\": \" good\"}", &K, &l, &v) == ST_OK);
  CHECK(K == 2 && !strcmp(l[0], "neg") && !strcmp(v[1], " good"));
  st_verbalizers_free(K, l, v);
  CHECK(st_verbalizers_parse("0 negative,1= positive", &K, &l, &v) == ST_ERR);
  CHECK(has("not LABEL=TEXT"));
  CHECK(st_verbalizers_parse("0= only", &K, &l, &v) == ST_ERR && has("at least two"));
  CHECK(st_verbalizers_parse("{\"0\": 1, \"1\": \"x\"}", &K, &l, &v) == ST_ERR);
}

int main(void) {
  make_tmpdir(dir);
  snprintf(tokpath, sizeof tokpath, "%s/tok.bin", dir);
  tk_write(tokpath);
  if (st_tokenizer_load(&tk, tokpath)) {
    fprintf(stderr, "tokenizer: %s\n", st_errmsg());
    return 1;
  }
  CHECK(st_tokenizer_bos(tk) == TK_BOS && st_tokenizer_eos(tk) == TK_EOS);
  test_text();
  test_prompt_completion();
  test_truncation();
  test_classification();
  test_bad_input();
  test_cache();
  test_split_batch();
  test_verbalizers();
  st_tokenizer_free(tk);
  rm_tree(dir);
  TEST_DONE();
}
