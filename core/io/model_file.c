/* model_file.c - st_model_load: the reader a path calls for, by what it
 * is (a run folder, maybe with @best or @step-N: run_folder.c; another
 * folder or config.json: Hugging Face; else a llama2.c .bin); the same in
 * split storage, st_model_load_as, and the layout alone
 * (model_load.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "model_io.h"
#include "model_load.h"
#include "tokenizer.h"
#include "weights.h"

/* a folder, config.json, or else a llama2.c file */
static int is_hf(const char *path, const struct stat *st) {
  size_t n = strlen(path);
  return S_ISDIR(st->st_mode) || (n >= 5 && !strcmp(path + n - 5, ".json"));
}

int st_model_load(st_model **out, const char *path, const st_backend *be) {
  *out = NULL;
  st_run_ref run;
  if (st_run_resolve(path, &run)) return ST_ERR;
  if (run.is_run) return st_run_load(out, &run, path, be, NULL);
  struct stat st;
  if (stat(path, &st) != 0) return st_err("%s: %s", path, strerror(errno));
  return is_hf(path, &st) ? st_load_hf(out, path, be)
                          : st_load_llama2c(out, path, be);
}

int st_frozen_dtype_parse(const char *s, int *frozen) {
  static const struct { const char *name; int code; } k[] = {
      {"auto", ST_FROZEN_AUTO}, {"bf16", ST_DT_BF16}, {"f16", ST_DT_F16},
      {"f32", ST_DT_F32}};
  for (size_t i = 0; s && i < sizeof k / sizeof *k; i++)
    if (!strcmp(s, k[i].name)) {
      *frozen = k[i].code;
      return ST_OK;
    }
  return st_err("frozen_dtype '%s': expected auto, bf16, f16 or f32",
                s ? s : "(null)");
}

int st_model_load_as(st_model **out, const char *path, const st_backend *be,
                     const char *frozen_dtype) {
  *out = NULL;
  if (!frozen_dtype) return st_model_load(out, path, be);
  int frozen;
  if (st_frozen_dtype_parse(frozen_dtype, &frozen)) return ST_ERR;
  st_run_ref run;
  if (st_run_resolve(path, &run)) return ST_ERR;
  if (run.is_run) return st_run_load(out, &run, path, be, frozen_dtype);

  struct stat st;
  if (stat(path, &st) != 0) return st_err("%s: %s", path, strerror(errno));
  return is_hf(path, &st) ? st_load_hf_as(out, path, be, frozen)
                          : st_load_llama2c_as(out, path, be, frozen);
}

int st_model_load_layout(st_model **out, const char *path,
                         const st_backend *be) {
  *out = NULL;
  st_run_ref run;
  if (st_run_resolve(path, &run)) return ST_ERR;
  const char *p = run.is_run ? run.base : path;
  struct stat st;
  if (stat(p, &st) != 0) return st_err("%s: %s", p, strerror(errno));
  int rc = is_hf(p, &st) ? st_load_hf_layout(out, p, be)
                         : st_load_llama2c_layout(out, p, be);
  if (rc == ST_OK) snprintf((*out)->path, sizeof (*out)->path, "%s", path);
  return rc;
}

int st_model_tokenizer(const char *spec, char *out, size_t n) {
  char base[ST_PATH_MAX];
  if (st_model_base(spec, base, sizeof base)) return ST_ERR;
  return st_tokenizer_find(base, out, n);
}
