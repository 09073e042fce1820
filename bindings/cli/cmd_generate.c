/* cmd_generate.c - strata generate <model> --prompt TEXT: prints the prompt
 * followed by the continuation, streaming as tokens arrive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "fs.h"
#include "model.h"
#include "model_io.h"
#include "sampler.h"
#include "tokenizer.h"

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "llama2.c .bin, or a Hugging Face folder"},
    {"--prompt", CLI_STR, "TEXT", .help = "the text to continue", .required = 1},
    {"--temperature", CLI_NUM, "T", "1", .help = "sampling temperature; 0: greedy (argmax)",
     .range = "0.."},
    {"--max-tokens", CLI_INT, "N", "64", .help = "new tokens at most (fewer at an end-of-text\n"
                                         "token or the model's context)", .range = "0.."},
    {"--seed", CLI_INT, "S", "1", .help = "sampling seed", .range = "0.."},
    {"--tokenizer", CLI_STR, "F", .help = "tokenizer file or folder (default: beside a\n"
                                          "llama2.c model, or the model's folder)"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {0}};
static const cli_spec spec = {"generate", opts, NULL, NULL};

int cmd_generate(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *model = cli_str(&a, "model");
  const char *prompt = cli_str(&a, "--prompt");
  const char *tokpath = cli_str(&a, "--tokenizer");
  float temp = (float)cli_num(&a, "--temperature");
  long long max_new = cli_int(&a, "--max-tokens");
  st_rng rng;
  st_rng_seed(&rng, (uint64_t)cli_int(&a, "--seed"));

  char tp[ST_PATH_MAX];
  if (!tokpath) {
    if (st_model_tokenizer(model, tp, sizeof tp)) return ST_ERR;
    tokpath = tp;
  }
  st_model *m = NULL;
  st_tokenizer *tok = NULL;
  int32_t *ids = NULL;
  char *text = NULL;
  int rc = ST_ERR, n = 0;
  const st_backend *be = st_backend_get(cli_str(&a, "--device"));
  if (!be) return ST_ERR;
  if (st_model_load(&m, model, be) ||
      st_tokenizer_load(&tok, tokpath) ||
      st_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n))
    goto done;
  int V = m->cfg.vocab;
  int cap = n + max_new > m->cfg.max_seq ? m->cfg.max_seq : (int)(n + max_new);
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
