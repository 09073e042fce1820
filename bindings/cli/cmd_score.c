/* cmd_score.c - strata score <model> (--text T | --data FILE) --out F:
 * per-token log-probabilities (and with --logits the logits) of texts, for
 * comparison with other tools (transformers, llama.cpp, vLLM's
 * prompt_logprobs). Each text is scored alone (batch 1, its own length), so
 * no padding can change a number. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "model.h"
#include "model_io.h"
#include "safetensors.h"
#include "tokenizer.h"

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "llama2.c .bin, a Hugging Face folder, or a run folder\n"
                              "(RUN, RUN@best, RUN@step-N)"},
    {"--text", CLI_LIST, "TEXT", .help = "a text to score (repeatable)"},
    {"--data", CLI_STR, "FILE", .help = "texts to score, one per line (\\n and \\t escapes\n"
                                        "are read as such; empty lines skipped)"},
    {"--out", CLI_STR, "F.safetensors", .required = 1,
     .help = "written: tokens I32 [N,T] (-1 past a text's end),\n"
             "lengths I32 [N], logprobs F32 [N,T]: log p(token t |\n"
             "tokens before t), 0 at t = 0 and past the end"},
    {"--logits", CLI_FLAG, .help = "also write logits F32 [N,T,V] (large: V floats per\n"
                                   "token)"},
    {"--no-bos", CLI_FLAG, .help = "do not put the tokenizer's BOS first (HF's\n"
                                   "add_special_tokens=False)"},
    {"--tokenizer", CLI_STR, "F", .help = "tokenizer file or folder (default: the model's)"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {0}};
static const cli_spec spec = {
    "score", opts,
    "Prints each text's token count, total log-probability and perplexity;\n"
    "the arrays go to --out. Row t of the logits predicts token t+1, as\n"
    "transformers' model(ids).logits does.",
    NULL};

/* \n \t \\ escapes, in place */
static void unescape(char *s) {
  char *d = s;
  for (; *s; s++) {
    if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
      s++;
      *d++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
    } else {
      *d++ = *s;
    }
  }
  *d = 0;
}

static int read_lines(const char *path, char ***out, int *n) {
  FILE *f = fopen(path, "r");
  if (!f) return st_err("%s: cannot read", path);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = ST_OK;
  while ((len = getline(&line, &cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (!len) continue;
    char **g = realloc(*out, (size_t)(*n + 1) * sizeof *g);
    if (!g || !(g[*n] = strdup(line))) {
      if (g) *out = g;
      rc = st_err("out of memory");
      break;
    }
    *out = g;
    unescape(g[(*n)++]);
  }
  free(line);
  fclose(f);
  return rc;
}

int cmd_score(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *model = cli_str(&a, "model"), *data = cli_str(&a, "--data");
  const char *out = cli_str(&a, "--out"), *tokpath = cli_str(&a, "--tokenizer");
  int want_logits = cli_on(&a, "--logits"), bos = !cli_on(&a, "--no-bos");
  int nt = cli_count(&a, "--text");
  if (!data && !nt) return st_err("score: give --text or --data");
  char **texts = NULL, tp[ST_PATH_MAX];
  int n = 0, rc = ST_ERR, T = 0, V = 0;
  int32_t **ids = NULL, *lens = NULL, *tok = NULL;
  float *lp = NULL, *lg = NULL, *one = NULL;
  st_model *m = NULL;
  st_tokenizer *tk = NULL;
  for (int i = 0; i < nt; i++) {
    char **g = realloc(texts, (size_t)(n + 1) * sizeof *g);
    if (!g) goto oom;
    texts = g;
    if (!(texts[n] = strdup(cli_item(&a, "--text", i)))) goto oom;
    unescape(texts[n++]);
  }
  if (data && read_lines(data, &texts, &n)) goto done;
  if (!n) {
    st_err("score: %s holds no text", data);
    goto done;
  }
  if (!tokpath) {
    if (st_model_tokenizer(model, tp, sizeof tp)) goto done;
    tokpath = tp;
  }
  const st_backend *be = st_backend_get(cli_str(&a, "--device"));
  if (!be || st_model_load(&m, model, be) || st_tokenizer_load(&tk, tokpath)) goto done;
  V = m->cfg.vocab;
  if (!(ids = calloc((size_t)n, sizeof *ids)) || !(lens = calloc((size_t)n, sizeof *lens)))
    goto oom;
  for (int i = 0; i < n; i++) {
    if (st_tokenizer_encode(tk, texts[i], strlen(texts[i]), bos, &ids[i], &lens[i])) {
      st_err_prefix("text %d: ", i + 1);
      goto done;
    }
    if (lens[i] < 1 || lens[i] > m->cfg.max_seq) {
      st_err("text %d: %d tokens; the model takes 1..%d", i + 1, lens[i], m->cfg.max_seq);
      goto done;
    }
    if (lens[i] > T) T = lens[i];
  }
  size_t NT = (size_t)n * T;
  if (!(tok = malloc(NT * sizeof *tok)) || !(lp = calloc(NT, sizeof *lp)) ||
      !(one = malloc((size_t)T * V * sizeof *one)) ||
      (want_logits && !(lg = calloc(NT * V, sizeof *lg))))
    goto oom;
  printf("%-6s %8s %14s %12s\n", "text", "tokens", "log-prob", "perplexity");
  for (int i = 0; i < n; i++) {
    int L = lens[i];
    for (int t = 0; t < T; t++) tok[(size_t)i * T + t] = t < L ? ids[i][t] : -1;
    if (st_model_logits(m, ids[i], 1, L, one)) goto done;
    double sum = 0;
    for (int t = 1; t < L; t++) { /* log-softmax of row t-1 at token t */
      const float *row = one + (size_t)(t - 1) * V;
      double mx = row[0], z = 0;
      for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
      for (int v = 0; v < V; v++) z += exp(row[v] - mx);
      double l = row[ids[i][t]] - mx - log(z);
      lp[(size_t)i * T + t] = (float)l;
      sum += l;
    }
    if (lg) memcpy(lg + (size_t)i * T * V, one, (size_t)L * V * sizeof *lg);
    printf("%-6d %8d %14.4f %12.4f\n", i + 1, L, sum, L > 1 ? exp(-sum / (L - 1)) : NAN);
  }
  st_sft_entry e[4] = {
      {"tokens", ST_SFT_I32, 2, {n, T}, tok},
      {"lengths", ST_SFT_I32, 1, {n}, lens},
      {"logprobs", ST_SFT_F32, 2, {n, T}, lp},
      {"logits", ST_SFT_F32, 3, {n, T, V}, lg}};
  rc = st_sft_write(out, e, lg ? 4 : 3, NULL, NULL, 0);
  if (rc == ST_OK) printf("wrote %s: tokens, lengths, logprobs%s [%d texts x %d positions]\n",
                          out, lg ? ", logits" : "", n, T);
  goto done;
oom:
  st_err("out of memory");
done:
  for (int i = 0; i < n; i++) {
    free(texts[i]);
    if (ids) free(ids[i]);
  }
  free(texts);
  free(ids);
  free(lens);
  free(tok);
  free(lp);
  free(lg);
  free(one);
  st_tokenizer_free(tk);
  st_model_free(m);
  return rc;
}
