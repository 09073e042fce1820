/* cmd_trace.c - strata trace <model> --data FILE: one no-grad forward pass
 * over M sequences, then the per-layer table of the transition trace with a
 * bar chart of one measure, and optionally the JSON. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "commands.h"
#include "dataset.h"
#include "error.h"
#include "fs.h"
#include "model.h"
#include "model_io.h"
#include "tokenizer.h"
#include "svg.h"
#include "runner.h"
#include "trace.h"

/* the names and defaults of the recipe's trace.* keys (strata run) */
static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "llama2.c .bin, or a Hugging Face folder"},
    {"--data", CLI_STR, "FILE", .required = 1,
     .help = ".txt (or a folder of them), .jsonl, .tsv or .csv; the first\n"
             "M examples are traced"},
    {"--samples", CLI_INT, "M", "64", .help = "sequences traced (recipe: trace.samples)", .range = "1.."},
    {"--seq-len", CLI_INT, "T", "128", .help = "positions per sequence, at most the model's context\n"
                                       "(recipe: trace.seq_len)", .range = "2.."},
    {"--keep", CLI_INT, "K", "0", .help = "sampled hidden vectors kept per layer in the JSON\n"
                                  "(recipe: trace.keep)", .range = "0.."},
    {"--measure", CLI_ENUM, "delta_norm|delta_rel|cos_prev|lens_loss|basis_dev", "delta_norm",
     .help = "the measure the bar chart shows (recipe: trace.measure)"},
    {"--format", CLI_ENUM, "auto|text|jsonl|tsv|csv", "auto", .help = "how to read --data (auto: by its extension)"},
    {"--template", CLI_STR, "T", .help = "classification prompt; {name} a header column,\n"
                                         "{0} {1} columns by index (with --verbalizers)"},
    {"--verbalizers", CLI_STR, "V", .help = "LABEL=TEXT entries split by ',', e.g.\n"
                                            "'0= negative,1= positive'; traces the prompts\n"
                                            "with their verbalizers"},
    {"--label-column", CLI_STR, "C", .alias = "--label-col",
     .help = "label column, name or index (default \"label\";\n"
             "recipe: data.label_column)"},
    {"--tokenizer", CLI_STR, "F", .help = "tokenizer file or folder (default: beside a\n"
                                          "llama2.c model, or the model's folder)"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {"--json", CLI_STR, "OUT", .help = "also write the trace as JSON to OUT (the run\n"
                                       "folder's trace.json format)"},
    {0}};
static const cli_spec spec = {"trace", opts, NULL, NULL};

static void bar(double v, double max, int width) {
  int n = max > 0 ? (int)(v / max * width + 0.5) : 0;
  for (int i = 0; i < n && i < width; i++) fputs("\u2588", stdout);
}

void cli_print_trace(const st_trace *tr, int measure) {
  printf("%5s %12s %10s %9s %10s %10s  %s\n", "space", "delta_norm", "delta_rel",
         "cos_prev", "lens_loss", "basis_dev", st_measure_names[measure]);
  double max = 0;
  for (int l = 0; l <= tr->n_layers; l++) {
    double v = st_trace_get(tr, l, measure).mean;
    if (v > max) max = v;
  }
  for (int l = 0; l <= tr->n_layers; l++) {
    printf("%5d", l);
    for (int k = 0; k < ST_NMEASURES; k++) {
      static const int w[] = {12, 10, 9, 10, 10};
      if (l == 0 && k <= ST_M_COS_PREV) printf(" %*s", w[k], "-");
      else printf(" %*.4f", w[k], st_trace_get(tr, l, k).mean);
    }
    printf("  ");
    bar(st_trace_get(tr, l, measure).mean, max, 30);
    putchar('\n');
  }
}

int cmd_trace(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *model = cli_str(&a, "model"), *data = cli_str(&a, "--data");
  long long M = cli_int(&a, "--samples"), T = cli_int(&a, "--seq-len");
  int keep = (int)cli_int(&a, "--keep");
  int measure = st_measure_index(cli_str(&a, "--measure"));
  if (measure < 0) return st_err("trace: unknown measure '%s'", cli_str(&a, "--measure"));
  if (cli_given(&a, "--verbalizers") != cli_given(&a, "--template"))
    return st_err("trace: --template and --verbalizers go together");
  if (cli_given(&a, "--label-column") && !cli_given(&a, "--verbalizers"))
    return st_err("trace: --label-column needs --template and --verbalizers");
  const st_backend *be = st_backend_get(cli_str(&a, "--device"));
  if (!be) return ST_ERR;

  char tp[ST_PATH_MAX];
  const char *tokpath = cli_str(&a, "--tokenizer");
  if (!tokpath) {
    if (st_model_tokenizer(model, tp, sizeof tp)) return ST_ERR;
    tokpath = tp;
  }
  st_model *m = NULL;
  st_tokenizer *tok = NULL;
  st_dataset ds = {0}, sub = {0};
  st_trace tr = {0};
  int K = 0, rc = ST_ERR;
  char **labels = NULL, **verb = NULL;
  if (st_model_load(&m, model, be) || st_tokenizer_load(&tok, tokpath)) goto done;
  if (T > m->cfg.max_seq) T = m->cfg.max_seq;
  st_data_opts o = st_data_opts_default();
  o.path = data;
  o.seq_len = (int)T;
  o.format = (st_ds_format)cli_enum(&a, "--format"); /* the order of st_ds_format */
  const char *vs = cli_str(&a, "--verbalizers");
  if (vs) {
    if (st_verbalizers_parse(vs, &K, &labels, &verb)) goto done;
    o.n_classes = K;
    o.labels = (const char *const *)labels;
    o.verbalizers = (const char *const *)verb;
    o.templ = cli_str(&a, "--template");
    o.label_col = cli_str(&a, "--label-column");
  }
  if (st_dataset_load(&ds, tok, &o)) goto done;
  /* the first M examples: the trace is a snapshot of the task's data */
  if (M > ds.n) M = ds.n;
  int *idx = malloc((size_t)M * sizeof *idx);
  if (!idx) {
    st_err("out of memory");
    goto done;
  }
  for (int i = 0; i < M; i++) idx[i] = i;
  int sr = st_dataset_subset(&sub, &ds, idx, (int)M);
  free(idx);
  if (sr) goto done;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sl_eval_progress pg = {.what = "trace", .tty = isatty(STDOUT_FILENO)};
  if (st_trace_collect_cb(&tr, m, sub.tok, sub.tgt, sub.n, sub.T, keep, 1, sl_progress, &pg))
    goto done;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("trace: %d sequences x %d positions, %ld loss-bearing tokens, %.2f s\n",
         sub.n, sub.T, tr.n_tokens,
         (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
  cli_print_trace(&tr, measure);
  const char *js = cli_str(&a, "--json");
  if (js && st_trace_write_json(&tr, js)) goto done;
  rc = ST_OK;
done:
  st_trace_free(&tr);
  st_dataset_free(&sub);
  st_dataset_free(&ds);
  if (labels) st_verbalizers_free(K, labels, verb);
  st_tokenizer_free(tok);
  st_model_free(m);
  return rc;
}
