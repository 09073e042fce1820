/* cmd_eval.c - strata eval <model> --data FILE: loss/perplexity, and for
 * classification data accuracy and macro-F1; optional generations; JSON. */
#include <jansson.h>
#include <math.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "dataset.h"
#include "error.h"
#include "model_io.h"
#include "runner.h"
#include "strata_lua.h"
#include "fs.h"
#include "eval.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "llama2.c .bin, a Hugging Face folder, or a run folder\n"
                              "(RUN, RUN@best, RUN@step-N)"},
    /* data */
    {"--data", CLI_STR, "FILE",
     .help = ".txt (or a folder of them), .jsonl, .tsv or .csv; for a\n"
             "run folder, default: the run's own eval set, built as the\n"
             "run built it (its numbers are the run's, bit for bit)"},
    {"--format", CLI_ENUM, "auto|text|jsonl|tsv|csv", "auto", .help = "how to read FILE (auto: by its extension)"},
    {"--seq-len", CLI_INT, "T", .range = "1..",
     .help = "positions per example (default min(256, context): longer\n"
             "than trace's and train.seq_len's 128, so fewer examples\n"
             "are cut short)"},
    {"--separator", CLI_STR, "S", .help = "text: split files into documents at S"},
    {"--samples", CLI_INT, "N", .range = "1..", .alias = "--max-samples",
     .help = "evaluate the first N examples only (default: all;\n"
             "recipe: eval.samples)"},
    {"--no-cache", CLI_FLAG, .help = "do not read or write the token cache"},
    /* classification */
    {"--task", CLI_ENUM, "classification|lm",
     .help = "classification is implied by --verbalizers; lm skips it"},
    {"--template", CLI_STR, "T",
     .help = "prompt; {name} a header column, {0} {1} columns by\n"
             "index; \\n \\t escapes. e.g. 'Review: {sentence}\\nSentiment:'\n"
             "(recipe: data.template)"},
    {"--verbalizers", CLI_STR, "V",
     .help = "LABEL=TEXT entries split by ',', text verbatim (\\, for a\n"
             "comma): '0= negative,1= positive', or a JSON object\n"
             "'{\"0\":\" negative\",...}' (recipe: data.verbalizers)"},
    {"--label-column", CLI_STR, "C", .alias = "--label-col",
     .help = "label column, name or index (default \"label\";\n"
             "recipe: data.label_column)"},
    {"--header", CLI_ENUM, "yes|no",
     .help = "the first line is a header (default: when a column is\n"
             "referred to by name)"},
    /* generation */
    {"--generate", CLI_INT, "N", "0", .help = "print continuations of the first N prompts (prompt\n"
                                      "datasets)", .range = "0.."},
    {"--max-tokens", CLI_INT, "M", "32", .help = "new tokens per continuation (generate's default is\n"
                                         "64: here they are printed beside references)",
     .range = "0.."},
    {"--temperature", CLI_NUM, "T", "0", .help = "0: greedy, so the continuations are reproducible\n"
                                         "(generate's default is 1: it samples)", .range = "0.."},
    {"--seed", CLI_INT, "S", "1", .help = "sampling seed", .range = "0.."},
    /* other */
    {"--batch", CLI_INT, "B", "8", .help = "rows per forward pass (a run's own eval set: the\n"
                                    "run's, 32)", .range = "1.."},
    {"--tokenizer", CLI_STR, "F", .help = "tokenizer file or folder (default: beside a\n"
                                          "llama2.c model, or the model's folder)"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {"--json", CLI_STR, "OUT", .help = "also write the metrics as JSON to OUT"},
    {0}};
static const cli_spec spec = {
    "eval", opts,
    "Loss and perplexity over the loss-bearing tokens of FILE; with --verbalizers,\n"
    "zero/few-shot classification accuracy and macro-F1 (each class scored by the\n"
    "log-likelihood of its verbalizer after the prompt).",
    NULL};

/* \n \t \\ in command-line templates */
static char *unescape(const char *s) {
  char *o = malloc(strlen(s) + 1), *d = o;
  if (!o) return NULL;
  for (; *s; s++) {
    if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
      s++;
      *d++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
    } else {
      *d++ = *s;
    }
  }
  *d = 0;
  return o;
}

static int print_generations(st_model *m, st_tokenizer *tk,
                             const st_dataset *ds, int count, int max_new,
                             float temp, uint64_t seed, json_t *arr) {
  st_rng rng;
  st_rng_seed(&rng, seed);
  if (count > ds->n) count = ds->n;
  int T = ds->T;
  int32_t *seq = st_malloc((size_t)(2 * T + 1) * sizeof *seq);
  if (!seq) return ST_ERR;
  int rc = ST_OK;
  for (int i = 0; i < count && rc == ST_OK; i++) {
    char *prompt = NULL, *ref = NULL, *out = NULL;
    int p = ds->prompt_len ? ds->prompt_len[i] : 0, n = p;
    /* the prompt, then the reference: the targets from the prompt on */
    memcpy(seq, ds->tok + (size_t)i * T, (size_t)p * sizeof *seq);
    for (int t = 0; t < T; t++)
      if (ds->tgt[(size_t)i * T + t] >= 0) seq[n++] = ds->tgt[(size_t)i * T + t];
    rc = st_eval_generate(m, tk, ds, i, max_new, temp, &rng, &out);
    if (rc == ST_OK) rc = st_tokenizer_decode(tk, seq, p, &prompt);
    if (rc == ST_OK) rc = st_eval_decode_tail(tk, seq, p, n, &ref);
    if (rc == ST_OK) {
      printf("--- example %d\nprompt:    %s\nreference: %s\ngenerated: %s\n", i,
             prompt, ref, out);
      json_array_append_new(arr, json_pack("{s:i,s:s,s:s,s:s}", "example", i,
                                           "prompt", prompt, "reference", ref,
                                           "generated", out));
    }
    free(prompt);
    free(ref);
    free(out);
  }
  free(seq);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *model = cli_str(&a, "model");
  const char *data = cli_str(&a, "--data");
  const char *task = cli_str(&a, "--task");
  const char *templ_s = cli_str(&a, "--template");
  const char *verb_s = cli_str(&a, "--verbalizers");
  const char *tokpath = cli_str(&a, "--tokenizer");
  const char *json_out = cli_str(&a, "--json");

  st_data_opts o = st_data_opts_default();
  o.path = data;
  o.format = (st_ds_format)cli_enum(&a, "--format"); /* the order of st_ds_format */
  o.separator = cli_str(&a, "--separator");
  o.label_col = cli_str(&a, "--label-column");
  o.no_cache = cli_on(&a, "--no-cache");
  if (cli_given(&a, "--header")) o.header = cli_enum(&a, "--header") == 0;
  int B = (int)cli_int(&a, "--batch"), max_samples = (int)cli_int(&a, "--samples");
  int seq_len = (int)cli_int(&a, "--seq-len"), gen = (int)cli_int(&a, "--generate");
  int max_new = (int)cli_int(&a, "--max-tokens");
  float temp = (float)cli_num(&a, "--temperature");
  uint64_t seed = (uint64_t)cli_int(&a, "--seed");
  if (task && !strcmp(task, "classification") && !verb_s)
    return st_err("eval: --task classification needs --verbalizers");
  if (verb_s && !templ_s)
    return st_err("eval: --verbalizers needs a --template");
  if (templ_s && !verb_s)
    return st_err("eval: --template needs --verbalizers");

  char tp[ST_PATH_MAX];
  if (!tokpath) {
    if (st_model_tokenizer(model, tp, sizeof tp)) return ST_ERR;
    tokpath = tp;
  }
  const st_backend *be = st_backend_get(cli_str(&a, "--device"));
  if (!be) return ST_ERR;

  st_model *m = NULL;
  st_tokenizer *tk = NULL;
  st_dataset full = {0}, sub = {0};
  st_eval_result r = {0};
  char **labels = NULL, **verbs = NULL, *templ = NULL;
  int K = 0, rc = ST_ERR, *idx = NULL;
  json_t *j = json_object(), *gens = json_array();
  if (st_model_load(&m, model, be) || st_tokenizer_load(&tk, tokpath)) goto done;
  if (!seq_len) seq_len = m->cfg.max_seq < 256 ? m->cfg.max_seq : 256;
  if (seq_len > m->cfg.max_seq) {
    st_err("eval: --seq-len %d exceeds the model's context of %d", seq_len,
           m->cfg.max_seq);
    goto done;
  }
  o.seq_len = seq_len;
  if (verb_s) {
    if (st_verbalizers_parse(verb_s, &K, &labels, &verbs)) goto done;
    if (!(templ = unescape(templ_s))) {
      st_err("out of memory");
      goto done;
    }
    o.templ = templ;
    o.n_classes = K;
    o.labels = (const char *const *)labels;
    o.verbalizers = (const char *const *)verbs;
  }
  if (!data) {
    st_run_ref run;
    if (st_run_resolve(model, &run)) goto done;
    if (!run.is_run) {
      st_err("eval: --data is needed (only a run folder has an eval set of its own)");
      goto done;
    }
    if (verb_s || templ_s || cli_given(&a, "--seq-len") || cli_given(&a, "--format")) {
      st_err("eval: --template, --verbalizers, --seq-len and --format describe --data; "
             "a run's own eval set is built from its recipe");
      goto done;
    }
    lua_State *L = sl_newstate();
    if (!L) {
      st_err("out of memory");
      goto done;
    }
    luaL_openlibs(L);
    int cls = 1;
    int lrc = sl_run_eval_data(L, run.dir, tk, m, &full, &cls);
    sl_close(L);
    if (lrc) goto done;
    if (!cls) task = "lm";
    if (!cli_given(&a, "--batch")) B = SL_EVAL_BATCH;
    data = "the run's eval set";
  } else if (st_dataset_load(&full, tk, &o)) {
    goto done;
  }
  const st_dataset *ds = &full;
  if (max_samples && max_samples < full.n) {
    if (!(idx = st_malloc((size_t)max_samples * sizeof *idx))) goto done;
    for (int i = 0; i < max_samples; i++) idx[i] = i;
    if (st_dataset_subset(&sub, &full, idx, max_samples)) goto done;
    ds = &sub;
  }
  printf("data: %s: %d examples of %d positions%s%s\n", data, ds->n, ds->T,
         ds->n_classes ? ", classification" : "",
         full.from_cache ? " (token cache)" : "");
  /* loss and classification in one pass, as a run evaluates, so `strata
   * eval RUN` gives the run's numbers */
  int cls = ds->n_classes && !(task && !strcmp(task, "lm"));
  sl_eval_progress pg = {.what = "eval", .tty = isatty(STDOUT_FILENO)};
  st_eval_opts eo = sl_eval_opts(&pg, cls);
  eo.batch = B;
  if (st_eval_run(m, ds, &eo, &r, NULL, NULL)) goto done;
  printf("loss %.4f  perplexity %.3f  token accuracy %.4f  (%ld tokens)\n",
         r.loss, r.ppl, r.token_acc, r.n_tokens);
  json_object_set_new(j, "model", json_string(model));
  json_object_set_new(j, "data", json_string(data));
  json_object_set_new(j, "n_examples", json_integer(ds->n));
  json_object_set_new(j, "seq_len", json_integer(ds->T));
  json_object_set_new(j, "n_tokens", json_integer(r.n_tokens));
  json_object_set_new(j, "loss", json_real(r.loss));
  json_object_set_new(j, "perplexity", json_real(r.ppl));
  json_object_set_new(j, "token_accuracy", json_real(r.token_acc));
  json_object_set_new(j, "truncated", json_integer(full.n_truncated));
  if (cls) {
    printf("accuracy %.4f (%d/%d)  macro-F1 %.4f  MCC %.4f\n", r.accuracy, r.n_correct,
           ds->n, r.macro_f1, r.mcc);
    json_t *cl = json_array(), *cm = json_array();
    for (int k = 0; k < ds->n_classes; k++) {
      json_array_append_new(cl, json_pack("{s:s,s:s}", "label", ds->classes[k],
                                           "verbalizer", ds->verbalizers[k]));
      json_t *row = json_array();
      for (int c = 0; c < ds->n_classes; c++)
        json_array_append_new(row, json_integer(r.confusion[k * ds->n_classes + c]));
      json_array_append_new(cm, row);
    }
    json_object_set_new(j, "accuracy", json_real(r.accuracy));
    json_object_set_new(j, "macro_f1", json_real(r.macro_f1));
    json_object_set_new(j, "mcc", isnan(r.mcc) ? json_null() : json_real(r.mcc));
    json_object_set_new(j, "n_correct", json_integer(r.n_correct));
    json_object_set_new(j, "classes", cl);
    json_object_set_new(j, "confusion", cm);
  }
  if (gen > 0) {
    if (print_generations(m, tk, ds, gen, max_new, temp, seed, gens)) goto done;
    json_object_set(j, "generations", gens);
  }
  if (json_out && sl_write_json(j, json_out)) goto done;
  rc = ST_OK;
done:
  json_decref(j);
  json_decref(gens);
  st_eval_result_free(&r);
  st_dataset_free(&sub);
  st_dataset_free(&full);
  st_verbalizers_free(K, labels, verbs);
  free(templ);
  free(idx);
  st_tokenizer_free(tk);
  st_model_free(m);
  return rc;
}
