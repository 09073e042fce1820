/* cmd_export.c - from a finished run to a model people use:
 *   strata export <source> <out-folder> [--dtype D]   an HF folder:
 *     config.json, model.safetensors (LoRA merged), tokenizer files,
 *     generation_config.json (st_export_hf), for AutoModelForCausalLM and
 *     AutoTokenizer with no network
 *   strata export <source> <out-folder> --adapter-only   a PEFT adapter folder
 * `strata merge` and `strata export-adapter` are the same two, kept as
 * aliases. The source is
 *   a run folder, RUN@best or RUN@step-N (core/io/run_folder.c): its base
 *     model as its checkpoint names it, the tensors trained in full
 *     ("weight/<name>"), the adapters; for --adapter-only the full-trained
 *     tensors go in as modules_to_save;
 *   any model strata loads (file or HF folder), for a full export;
 *   a strata adapter file (*.safetensors) or a PEFT adapter folder, with
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
#include "model_load.h"
#include "safetensors.h"

#define SOURCE_HELP                                                       \
  "a run folder (RUN, RUN@best, RUN@step-N), a model, a strata\n"          \
  "adapter file (*.safetensors) or a PEFT adapter folder"
#define MODEL_HELP                                                        \
  "the base model of an adapter file or PEFT folder (a run\n"              \
  "folder's checkpoint names its own)"
#define LOGITS_HELP                                                       \
  "verification: a safetensors file with \"tokens\" [B,T]; strata's\n"    \
  "logits of the adapted, unmerged model for them go to\n"                 \
  "--logits-out as \"logits\" [B,T,V] (scripts/check_peft_adapter.py)"

static const cli_opt export_opts[] = {
    {"source", CLI_ARG, .help = SOURCE_HELP},
    {"out-folder", CLI_ARG, .help = "written (new, or empty): an HF folder with\n"
                                    "config.json, model.safetensors, the tokenizer files\n"
                                    "and generation_config.json; with --adapter-only a\n"
                                    "PEFT folder"},
    {"--adapter-only", CLI_FLAG, .help = "write the LoRA adapters as a PEFT folder\n"
                                         "(adapter_config.json, adapter_model.safetensors;\n"
                                         "a run's tensors trained in full go in as\n"
                                         "modules_to_save) instead of the merged model"},
    {"--dtype", CLI_ENUM, "f32|bf16|f16", .help = "weights' dtype (default: the base model's)"},
    {"--model", CLI_STR, "M", .help = MODEL_HELP},
    {"--base-name", CLI_STR, "NAME",
     .help = "--adapter-only: base_model_name_or_path in\n"
             "adapter_config.json (default: the base model's path)"},
    {"--logits", CLI_STR, "TOKENS", .help = LOGITS_HELP},
    {"--logits-out", CLI_STR, "FILE", .help = "where --logits writes (the two go together)"},
    {0}};
static const char export_about[] =
    "A run folder exports the model it trained: its base model, the\n"
    "checkpoint's weights, its adapters merged, so `strata eval` of the\n"
    "export gives the run's final numbers. `strata merge` is `strata export`,\n"
    "and `strata export-adapter` is `strata export --adapter-only`.";
static const cli_spec export_spec = {"export", export_opts, export_about, NULL};
static const cli_spec merge_spec = {"merge", export_opts, export_about, NULL};
static const cli_spec adapter_spec = {"export-adapter", export_opts, export_about, NULL};

static int is_file(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* The adapters of src with their base model, unmerged (--adapter-only and
 * --logits need them apart): a run (its checkpoint's base, full-trained
 * tensors and adapter file), a PEFT folder or an adapter file (--model). */
static int load_source(const char *src, const char *model, st_model **m,
                       st_lora **lo, char *model_path, size_t n, int *nfull,
                       unsigned char **full) {
  const st_backend *be = st_backend_get("cpu");
  char p[ST_PATH_MAX];
  st_run_ref run;
  if (!be || st_run_resolve(src, &run)) return ST_ERR;
  snprintf(p, sizeof p, "%s/adapter_config.json", src);
  int peft = !run.is_run && is_file(p), file = !run.is_run && is_file(src);
  if (run.is_run && !run.lora[0])
    return st_err("%s: the run trained no LoRA adapters; export the whole model "
                  "(without --adapter-only)", src);
  if (!run.is_run && !peft && !file)
    return st_err("%s: neither a run folder, a strata adapter file nor a PEFT "
                  "adapter folder", src);
  if (run.is_run) {
    if (model) return st_err("%s: a run folder's checkpoint names its base model; drop --model", src);
    snprintf(model_path, n, "%s", run.base);
  } else if (!model) {
    return st_err("%s: give the base model with --model", src);
  } else {
    snprintf(model_path, n, "%s", model);
  }
  if (st_model_load(m, model_path, be)) return ST_ERR;
  int rc = (*full = st_calloc((size_t)(*m)->n_tab, 1)) ? ST_OK : ST_ERR;
  *nfull = 0;
  if (rc) {
  } else if (run.is_run) {
    rc = st_run_apply_weights(*m, run.ckpt, *full, nfull);
    if (rc == ST_OK) rc = st_lora_load(lo, *m, run.lora);
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
           run.is_run ? run.ckpt : "modules_to_save");
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

static const char *torch_dtype(const char *d) {
  return !d ? NULL : !strcmp(d, "bf16") ? "bfloat16" : !strcmp(d, "f16") ? "float16" : "float32";
}

/* the whole model, LoRA merged, as an HF folder */
static int export_model(cli_args *a, const char *src, const char *dst) {
  const char *model = cli_str(a, "--model");
  const char *dtype = torch_dtype(cli_str(a, "--dtype"));
  st_model *m = NULL;
  st_lora *lo = NULL;
  char base[ST_PATH_MAX], tok[ST_PATH_MAX], src_dir[ST_PATH_MAX] = "";
  int nfull = 0, rc;
  unsigned char *full = NULL;
  st_run_ref run;
  if (st_run_resolve(src, &run)) return ST_ERR;
  char p[ST_PATH_MAX];
  snprintf(p, sizeof p, "%s/adapter_config.json", src);
  struct stat ds;
  char cfg[ST_PATH_MAX];
  snprintf(cfg, sizeof cfg, "%s/config.json", src);
  if (!run.is_run && !is_file(p) && stat(src, &ds) == 0 && S_ISDIR(ds.st_mode) &&
      !is_file(cfg))
    return st_err("%s: neither a run folder (no recipe.resolved.yaml), an HF model "
                  "folder (no config.json) nor a PEFT adapter folder (no "
                  "adapter_config.json)", src);
  if (!run.is_run && (is_file(p) || model)) { /* an adapter with its base */
    if (load_source(src, model, &m, &lo, base, sizeof base, &nfull, &full)) return ST_ERR;
    rc = st_lora_merge(m, lo);
  } else {
    /* a run or a plain model: st_model_load merges a run's adapters as
     * the run's final evaluation did */
    /* with --dtype bf16/f16 the frozen weights stay in it: an 8B run
     * exports without 32 GB of fp32 */
    const char *as = cli_str(a, "--dtype");
    rc = st_model_load_as(&m, src, st_backend_get("cpu"), as && strcmp(as, "f32") ? as : NULL);
    if (rc == ST_OK) rc = st_model_base(src, base, sizeof base);
  }
  /* the base model's folder: its generation_config.json comes along */
  struct stat sb;
  if (rc == ST_OK && stat(base, &sb) == 0) {
    snprintf(src_dir, sizeof src_dir, "%s", base);
    char *slash = S_ISDIR(sb.st_mode) ? NULL : strrchr(src_dir, '/');
    if (slash) *slash = 0;
    else if (!S_ISDIR(sb.st_mode)) snprintf(src_dir, sizeof src_dir, ".");
  }
  int have_tok = rc == ST_OK && st_model_tokenizer(base, tok, sizeof tok) == ST_OK;
  if (rc == ST_OK && !have_tok)
    fprintf(stderr, "strata: note: %s; the export has no tokenizer files\n", st_errmsg());
  char note[512] = "";
  if (rc == ST_OK)
    rc = st_export_hf(m, src_dir[0] ? src_dir : NULL, have_tok ? tok : NULL, dst, dtype, note,
                      sizeof note);
  if (rc == ST_OK && note[0]) fprintf(stderr, "strata: note: %s\n", note);
  if (rc == ST_OK)
    printf("wrote %s: config.json, model.safetensors (%s, %zu parameters%s)%s, "
           "generation_config.json\n", dst, dtype ? dtype : m->dtype[0] ? m->dtype : "float32",
           m->n_params, lo ? ", LoRA merged" : run.is_run ? ", the run's weights" : "",
           have_tok ? ", the tokenizer" : "");
  free(full);
  st_lora_free(lo);
  st_model_free(m);
  return rc;
}

static int run_cmd(int argc, char **argv, const cli_spec *spec, int adapter) {
  cli_args a;
  int prc = cli_parse(&a, spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *src = cli_str(&a, "source"), *dst = cli_str(&a, "out-folder");
  const char *lin = cli_str(&a, "--logits"), *lout = cli_str(&a, "--logits-out");
  adapter = adapter || cli_on(&a, "--adapter-only");
  if (!lin != !lout) return st_err("%s: --logits and --logits-out go together", argv[0]);
  if (!adapter && !lin) return export_model(&a, src, dst) ? 1 : 0;
  if (adapter && cli_given(&a, "--dtype"))
    return st_err("%s: --dtype is for the whole model; an adapter folder is F32", argv[0]);
  st_model *m;
  st_lora *lo;
  char model_path[ST_PATH_MAX];
  int nfull = 0;
  unsigned char *full = NULL;
  if (load_source(src, cli_str(&a, "--model"), &m, &lo, model_path, sizeof model_path,
                  &nfull, &full))
    return 1;
  int rc = lin ? write_logits(m, lo, lin, lout) : ST_OK;
  if (rc == ST_OK && !adapter) {
    free(full);
    st_lora_free(lo);
    st_model_free(m);
    return export_model(&a, src, dst) ? 1 : 0;
  }
  if (rc == ST_OK) {
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

int cmd_export(int argc, char **argv) { return run_cmd(argc, argv, &export_spec, 0); }
int cmd_merge(int argc, char **argv) { return run_cmd(argc, argv, &merge_spec, 0); }
int cmd_export_adapter(int argc, char **argv) { return run_cmd(argc, argv, &adapter_spec, 1); }
