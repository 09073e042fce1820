/* cmd_lora.c - what to do with LoRA adapters after training:
 *   strata merge <source> <out-folder>           W += scale B A, HF folder
 *   strata export-adapter <source> <out-folder>  a PEFT adapter folder
 * The source is
 *   a run folder: the base model named in summary.json (or --model), the
 *     tensors trained in full from checkpoint.safetensors ("weight/<name>"),
 *     the adapters from lora.safetensors (st_trainer_save_lora's file); the
 *     exported folder carries the full-trained modules as modules_to_save;
 *   a strata adapter file (*.safetensors), with --model;
 *   a PEFT adapter folder (adapter_config.json, modules_to_save too), with
 *     --model.
 * --logits TOKENS --logits-out FILE (verification, scripts/
 * check_peft_adapter.py): strata's logits of the adapted, unmerged model for
 * the "tokens" [B,T] of a safetensors file, written as "logits" [B,T,V]. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "error.h"
#include "fs.h"
#include "lora.h"
#include "lora_io.h"
#include "model.h"
#include "model_io.h"
#include "safetensors.h"

#define SOURCE_HELP                                                       \
  "a run folder (with lora.safetensors), a strata adapter\n"               \
  "file (*.safetensors) or a PEFT adapter folder"
#define MODEL_HELP                                                        \
  "the base model (default for a run folder: the model its\n"             \
  "summary.json names; required for the other sources)"
#define LOGITS_HELP                                                       \
  "verification: a safetensors file with \"tokens\" [B,T]; strata's\n"    \
  "logits of the adapted, unmerged model for them go to\n"                 \
  "--logits-out as \"logits\" [B,T,V] (scripts/check_peft_adapter.py)"

static const cli_opt merge_opts[] = {
    {"source", CLI_ARG, .help = SOURCE_HELP},
    {"out-folder", CLI_ARG, .help = "written: an HF folder (config.json, model.safetensors)"},
    {"--model", CLI_STR, "M", .help = MODEL_HELP},
    {"--logits", CLI_STR, "TOKENS", .help = LOGITS_HELP},
    {"--logits-out", CLI_STR, "FILE", .help = "where --logits writes (the two go together)"},
    {0}};
static const cli_opt export_opts[] = {
    {"source", CLI_ARG, .help = SOURCE_HELP},
    {"out-folder", CLI_ARG, .help = "written: adapter_config.json and\n"
                                    "adapter_model.safetensors (PEFT); a run's tensors\n"
                                    "trained in full go in as modules_to_save"},
    {"--model", CLI_STR, "M", .help = MODEL_HELP},
    {"--base-name", CLI_STR, "NAME",
     .help = "base_model_name_or_path in adapter_config.json\n"
             "(default: the base model's path)"},
    {"--logits", CLI_STR, "TOKENS", .help = LOGITS_HELP},
    {"--logits-out", CLI_STR, "FILE", .help = "where --logits writes (the two go together)"},
    {0}};
static const cli_spec merge_spec = {"merge", merge_opts, NULL, NULL};
static const cli_spec export_spec = {"export-adapter", export_opts, NULL, NULL};

static int is_file(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* the base model of a run: --model, else summary.json's "model" */
static int run_model(const char *dir, const char *given, char *out, size_t n) {
  if (given) {
    snprintf(out, n, "%s", given);
    return ST_OK;
  }
  char p[ST_PATH_MAX];
  snprintf(p, sizeof p, "%s/summary.json", dir);
  json_error_t je;
  json_t *j = json_load_file(p, 0, &je);
  const char *s = j ? json_string_value(json_object_get(j, "model")) : NULL;
  int rc = s ? ST_OK
             : st_err("%s: no summary.json naming the base model; give it with "
                      "--model", dir);
  if (s) snprintf(out, n, "%s", s);
  json_decref(j);
  return rc;
}

/* tensors a run trained in full: "weight/<name>" of its checkpoint, into m;
 * full[i] marks them */
static int apply_checkpoint(st_model *m, const char *dir, int *n_applied,
                            unsigned char *full) {
  char p[ST_PATH_MAX];
  snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
  *n_applied = 0;
  if (!is_file(p)) return ST_OK;
  st_sft *f;
  if (st_sft_open(&f, p)) return ST_ERR;
  int rc = ST_OK;
  float *buf = NULL;
  for (int i = 0; i < f->n && rc == ST_OK; i++) {
    if (strncmp(f->t[i].name, "weight/", 7)) continue;
    const st_param *q = st_model_find(m, f->t[i].name + 7);
    if (!q) {
      rc = st_err("%s: '%s' is not a tensor of the base model", p, f->t[i].name);
      break;
    }
    free(buf);
    if (!(buf = st_malloc(f->t[i].numel * sizeof *buf)) ||
        st_sft_read_f32(f, &f->t[i], buf, f->t[i].numel) ||
        st_model_set(m, q, buf, f->t[i].numel))
      rc = ST_ERR;
    else
      (*n_applied)++, full[q - m->tab] = 1;
  }
  free(buf);
  st_sft_close(f);
  return rc;
}

/* base model (+ a run's full-trained tensors) and the adapters of src */
static int load_source(const char *src, const char *model, st_model **m,
                       st_lora **lo, char *model_path, size_t n, int *nfull,
                       unsigned char **full) {
  const st_backend *be = st_backend_get("cpu");
  char p[ST_PATH_MAX];
  if (!be) return ST_ERR;
  snprintf(p, sizeof p, "%s/adapter_config.json", src);
  int peft = is_file(p), file = is_file(src);
  snprintf(p, sizeof p, "%s/lora.safetensors", src);
  int run = !peft && !file && is_file(p);
  if (!peft && !file && !run)
    return st_err("%s: neither a run folder with lora.safetensors, a strata "
                  "adapter file nor a PEFT adapter folder", src);
  if (run) {
    if (run_model(src, model, model_path, n)) return ST_ERR;
  } else if (!model) {
    return st_err("%s: give the base model with --model", src);
  } else {
    snprintf(model_path, n, "%s", model);
  }
  if (st_model_load(m, model_path, be)) return ST_ERR;
  int rc = (*full = st_calloc((size_t)(*m)->n_tab, 1)) ? ST_OK : ST_ERR;
  *nfull = 0;
  if (rc) {
  } else if (run) {
    rc = apply_checkpoint(*m, src, nfull, *full);
    if (rc == ST_OK) rc = st_lora_load(lo, *m, p);
  } else if (peft) {
    rc = st_lora_load_peft_model(lo, *m, src, *full);
    for (int i = 0; rc == ST_OK && i < (*m)->n_tab; i++) *nfull += (*full)[i];
  } else {
    rc = st_lora_load(lo, *m, src);
  }
  if (rc) {
    free(*full);
    st_model_free(*m);
    return ST_ERR;
  }
  printf("base model %s; %d adapters", model_path, (*lo)->n);
  if (*nfull)
    printf("; %d tensors trained in full from %s", *nfull,
           run ? "the run's checkpoint.safetensors" : "modules_to_save");
  printf("\n");
  return ST_OK;
}

/* --logits / --logits-out */
static int write_logits(st_model *m, const st_lora *lo, const char *in,
                        const char *out) {
  st_sft *f;
  if (st_sft_open(&f, in)) return ST_ERR;
  const st_sft_tensor *t = st_sft_find(f, "tokens");
  int rc = ST_ERR;
  float *tf = NULL, *logits = NULL;
  int32_t *tok = NULL;
  if (!t || t->ndim != 2) {
    st_err("%s: no 2-D tensor 'tokens'", in);
    goto done;
  }
  int B = (int)t->shape[0], T = (int)t->shape[1], V = m->cfg.vocab;
  size_t N = (size_t)B * T;
  if (!(tok = st_malloc(N * sizeof *tok)) ||
      !(logits = st_malloc(N * V * sizeof *logits)))
    goto done;
  if (t->dtype == ST_SFT_I32) {
    if (st_sft_read_i32(f, t, tok, N)) goto done;
  } else {
    if (!(tf = st_malloc(N * sizeof *tf)) || st_sft_read_f32(f, t, tf, N)) goto done;
    for (size_t i = 0; i < N; i++) tok[i] = (int32_t)tf[i];
  }
  if (st_lora_attach(m, lo) || st_model_logits(m, tok, B, T, logits)) goto done;
  st_lora_attach(m, NULL);
  st_sft_entry e = {.name = "logits", .dtype = ST_SFT_F32, .ndim = 3,
                    .shape = {B, T, V}, .data = logits};
  rc = st_sft_write(out, &e, 1, NULL, NULL, 0);
  if (rc == ST_OK) printf("wrote strata's logits [%d, %d, %d] to %s\n", B, T, V, out);
done:
  st_lora_attach(m, NULL);
  free(tf);
  free(tok);
  free(logits);
  st_sft_close(f);
  return rc;
}

static int run_cmd(int argc, char **argv, int merge) {
  cli_args a;
  int prc = cli_parse(&a, merge ? &merge_spec : &export_spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *src = cli_str(&a, "source"), *dst = cli_str(&a, "out-folder");
  const char *lin = cli_str(&a, "--logits"), *lout = cli_str(&a, "--logits-out");
  if (!lin != !lout) return st_err("%s: --logits and --logits-out go together", argv[0]);
  st_model *m;
  st_lora *lo;
  char model_path[ST_PATH_MAX];
  int nfull = 0;
  unsigned char *full = NULL;
  if (load_source(src, cli_str(&a, "--model"), &m, &lo, model_path, sizeof model_path,
                  &nfull, &full))
    return 1;
  int rc = lin ? write_logits(m, lo, lin, lout) : ST_OK;
  if (rc == ST_OK && merge) {
    rc = st_lora_merge(m, lo);
    if (rc == ST_OK) rc = st_save_hf(m, dst);
    if (rc == ST_OK)
      printf("merged %d adapters; wrote %s/config.json and %s/model.safetensors\n",
             lo->n, dst, dst);
  } else if (rc == ST_OK) {
    const char *name = cli_str(&a, "--base-name");
    rc = st_lora_save_peft_full(m, lo, full, dst, name ? name : model_path);
    if (rc == ST_OK)
      printf("wrote %s/adapter_config.json and %s/adapter_model.safetensors "
             "(load with peft.PeftModel.from_pretrained on the base model)\n",
             dst, dst);
    if (rc == ST_OK && nfull)
      printf("the %d tensors trained in full are in it as modules_to_save\n", nfull);
  }
  free(full);
  st_lora_free(lo);
  st_model_free(m);
  return rc == ST_OK ? 0 : 1;
}

int cmd_merge(int argc, char **argv) { return run_cmd(argc, argv, 1); }
int cmd_export_adapter(int argc, char **argv) { return run_cmd(argc, argv, 0); }
