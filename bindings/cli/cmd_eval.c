/* cmd_eval.c - strata eval <model> --data FILE: loss/perplexity, and for
 * classification data accuracy and macro-F1; optional generations; JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dataset.h"
#include "error.h"
#include "eval.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

static const char *help =
    "usage: strata eval <model> --data FILE [options]\n"
    "\n"
    "Loss and perplexity over the loss-bearing tokens of FILE; with\n"
    "verbalizers, zero/few-shot classification accuracy and macro-F1 (each\n"
    "class scored by the log-likelihood of its verbalizer after the prompt).\n"
    "\n"
    "data:\n"
    "  --data FILE            .txt (or a folder of them), .jsonl, .tsv, .csv\n"
    "  --format F             text | jsonl | tsv | csv (default: by extension)\n"
    "  --seq-len T            positions per example (default min(256, context))\n"
    "  --separator S          text: split files into documents at S\n"
    "  --max-samples N        evaluate the first N examples only\n"
    "  --no-cache             do not read or write the token cache\n"
    "classification:\n"
    "  --task classification  (implied by --verbalizers); --task lm skips it\n"
    "  --template T           prompt; {name} a header column, {0} {1} columns\n"
    "                         by index; \\n \\t escapes. e.g.\n"
    "                         'Review: {sentence}\\nSentiment:'\n"
    "  --verbalizers V        LABEL=TEXT entries split by ',', text verbatim\n"
    "                         (\\, for a comma): '0= negative,1= positive',\n"
    "                         or a JSON object '{\"0\":\" negative\",...}'\n"
    "  --label-col C          label column, name or index (default \"label\")\n"
    "  --header yes|no        first line is a header (default: when a column\n"
    "                         is referred to by name)\n"
    "generation (prompt datasets):\n"
    "  --generate N           print continuations of the first N prompts\n"
    "  --max-tokens M         (default 32)  --temperature T (default 0: greedy)\n"
    "  --seed S               sampling seed (default 1)\n"
    "other:\n"
    "  --batch B              rows per forward pass (default 8)\n"
    "  --tokenizer F          default: beside a llama2.c model, or its folder\n"
    "  --device cpu|cuda      (default cpu)\n"
    "  --json OUT             also write the metrics as JSON\n";

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

static int parse_int(const char *s, const char *flag, int lo, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > 1 << 30)
    return st_err("eval: %s needs an integer >= %d, got \"%s\"", flag, lo, s);
  *out = (int)v;
  return ST_OK;
}

static int write_json(json_t *j, const char *path) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_REAL_PRECISION(10)))
    return st_err("%s: cannot write", tmp);
  if (rename(tmp, path)) {
    remove(tmp);
    return st_err("%s: cannot rename into place", path);
  }
  return ST_OK;
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
  if (cli_flag(argc, argv, "--help") || cli_flag(argc, argv, "-h")) {
    fputs(help, stdout);
    return 0;
  }
  if (argc < 2 || argv[1][0] == '-')
    return st_err("usage: strata eval <model> --data FILE [options] (see "
                  "strata eval --help)");
  const char *model = argv[1];
  const char *data = cli_opt(argc, argv, "--data");
  const char *fmt_s = cli_opt(argc, argv, "--format");
  const char *task = cli_opt(argc, argv, "--task");
  const char *templ_s = cli_opt(argc, argv, "--template");
  const char *verb_s = cli_opt(argc, argv, "--verbalizers");
  const char *header_s = cli_opt(argc, argv, "--header");
  const char *tokpath = cli_opt(argc, argv, "--tokenizer");
  const char *dev = cli_opt(argc, argv, "--device");
  const char *json_out = cli_opt(argc, argv, "--json");
  const char *s;
  if (!data) return st_err("eval: --data FILE is required");

  st_data_opts o = st_data_opts_default();
  o.path = data;
  o.separator = cli_opt(argc, argv, "--separator");
  o.label_col = cli_opt(argc, argv, "--label-col");
  o.no_cache = cli_flag(argc, argv, "--no-cache");
  int B = 8, max_samples = 0, seq_len = 0, gen = 0, max_new = 32;
  float temp = 0;
  uint64_t seed = 1;
  if (fmt_s) {
    static const char *names[] = {"auto", "text", "jsonl", "tsv", "csv"};
    o.format = (st_ds_format)-1;
    for (int i = 0; i < 5; i++)
      if (!strcmp(fmt_s, names[i])) o.format = (st_ds_format)i;
    if ((int)o.format < 0)
      return st_err("eval: --format %s: expected text, jsonl, tsv or csv", fmt_s);
  }
  if (header_s) {
    if (!strcmp(header_s, "yes")) o.header = 1;
    else if (!strcmp(header_s, "no")) o.header = 0;
    else return st_err("eval: --header %s: expected yes or no", header_s);
  }
  if (task && strcmp(task, "classification") && strcmp(task, "lm"))
    return st_err("eval: --task %s: expected classification or lm", task);
  if (task && !strcmp(task, "classification") && !verb_s)
    return st_err("eval: --task classification needs --verbalizers");
  if (verb_s && !templ_s)
    return st_err("eval: --verbalizers needs a --template");
  if (((s = cli_opt(argc, argv, "--batch")) && parse_int(s, "--batch", 1, &B)) ||
      ((s = cli_opt(argc, argv, "--max-samples")) &&
       parse_int(s, "--max-samples", 1, &max_samples)) ||
      ((s = cli_opt(argc, argv, "--seq-len")) &&
       parse_int(s, "--seq-len", 1, &seq_len)) ||
      ((s = cli_opt(argc, argv, "--generate")) &&
       parse_int(s, "--generate", 0, &gen)) ||
      ((s = cli_opt(argc, argv, "--max-tokens")) &&
       parse_int(s, "--max-tokens", 0, &max_new)))
    return ST_ERR;
  if ((s = cli_opt(argc, argv, "--temperature"))) temp = strtof(s, NULL);
  if ((s = cli_opt(argc, argv, "--seed"))) seed = strtoull(s, NULL, 10);

  char tp[600];
  if (!tokpath) {
    if (st_tokenizer_find(model, tp, sizeof tp)) return ST_ERR;
    tokpath = tp;
  }
  const st_backend *be = st_backend_get(dev ? dev : "cpu");
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
  if (st_dataset_load(&full, tk, &o)) goto done;
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
  if (st_eval_loss(m, ds, B, &r)) goto done;
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
  if (ds->n_classes && !(task && !strcmp(task, "lm"))) {
    if (st_eval_classify(m, ds, B, &r, NULL, NULL)) goto done;
    printf("accuracy %.4f (%d/%d)  macro-F1 %.4f\n", r.accuracy, r.n_correct,
           ds->n, r.macro_f1);
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
    json_object_set_new(j, "n_correct", json_integer(r.n_correct));
    json_object_set_new(j, "classes", cl);
    json_object_set_new(j, "confusion", cm);
  }
  if (gen > 0) {
    if (print_generations(m, tk, ds, gen, max_new, temp, seed, gens)) goto done;
    json_object_set(j, "generations", gens);
  }
  if (json_out && write_json(j, json_out)) goto done;
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
