/* cmd_generate.c - strata generate <model> --prompt TEXT: prints the prompt
 * followed by the continuation, streaming as tokens arrive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

int cmd_generate(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-')
    return st_err("usage: strata generate <model> --prompt TEXT [--temperature T] "
                  "[--max-tokens N] [--seed S] [--tokenizer F]");
  const char *prompt = cli_opt(argc, argv, "--prompt");
  const char *tokpath = cli_opt(argc, argv, "--tokenizer");
  const char *temp_s = cli_opt(argc, argv, "--temperature");
  const char *max_s = cli_opt(argc, argv, "--max-tokens");
  const char *seed_s = cli_opt(argc, argv, "--seed");
  if (!prompt) return st_err("generate: --prompt is required");
  float temp = temp_s ? strtof(temp_s, NULL) : 1.0f;
  int max_new = max_s ? atoi(max_s) : 64;
  if (max_new < 0) return st_err("generate: --max-tokens must be >= 0");
  st_rng rng;
  st_rng_seed(&rng, seed_s ? strtoull(seed_s, NULL, 10) : 1);

  char tp[600];
  if (!tokpath) {
    if (st_tokenizer_find(argv[1], tp, sizeof tp)) return ST_ERR;
    tokpath = tp;
  }
  st_model *m = NULL;
  st_tokenizer *tok = NULL;
  int32_t *ids = NULL;
  char *text = NULL;
  int rc = ST_ERR, n = 0;
  const char *dev = cli_opt(argc, argv, "--device");
  const st_backend *be = st_backend_get(dev ? dev : "cpu");
  if (!be) return ST_ERR;
  if (st_model_load(&m, argv[1], be) ||
      st_tokenizer_load(&tok, tokpath) ||
      st_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n))
    goto done;
  int V = m->cfg.vocab, cap = n + max_new;
  if (cap > m->cfg.max_seq) cap = m->cfg.max_seq;
  int32_t *seq = realloc(ids, (size_t)(cap > n ? cap : n) * sizeof *seq);
  float *logits = NULL;
  if (!seq) { st_err("out of memory"); goto done; }
  ids = seq;
  logits = malloc((size_t)cap * V * sizeof *logits);
  if (!logits) { st_err("out of memory"); goto done; }
  int bos = st_tokenizer_bos(tok), eos = st_tokenizer_eos(tok);
  int skip = n > 0 && ids[0] == bos; /* decode without the BOS */
  size_t printed = 0;
  fputs(prompt, stdout);
  for (; n < cap; n++) {
    if (st_model_logits(m, ids, 1, n, logits)) { free(logits); goto done; }
    int next = st_sample(logits + (size_t)(n - 1) * V, V, temp, &rng);
    if (next == eos || next == bos) break;
    ids[n] = next;
    free(text);
    text = NULL;
    if (st_tokenizer_decode(tok, ids + skip, n + 1 - skip, &text)) {
      free(logits);
      goto done;
    }
    /* the decoded text grows; print what is new past the prompt */
    size_t len = strlen(text), start = strlen(prompt);
    if (printed < start) printed = start;
    if (len > printed) {
      fwrite(text + printed, 1, len - printed, stdout);
      printed = len;
      fflush(stdout);
    }
  }
  putchar('\n');
  free(logits);
  rc = ST_OK;
done:
  free(ids);
  free(text);
  st_tokenizer_free(tok);
  st_model_free(m);
  return rc;
}
