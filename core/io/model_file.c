/* model_file.c - st_model_load: the reader a path calls for, by what it
 * is (a run folder, maybe with @best or @step-N: run_folder.c; another
 * folder or config.json: Hugging Face; else a llama2.c .bin). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "model_io.h"
#include "tokenizer.h"

int st_model_load(st_model **out, const char *path, const st_backend *be) {
  *out = NULL;
  st_run_ref run;
  if (st_run_resolve(path, &run)) return ST_ERR;
  if (run.is_run) return st_run_load(out, &run, path, be);
  struct stat st;
  if (stat(path, &st) != 0) return st_err("%s: %s", path, strerror(errno));
  size_t n = strlen(path);
  if (S_ISDIR(st.st_mode) || (n >= 5 && !strcmp(path + n - 5, ".json")))
    return st_load_hf(out, path, be);
  return st_load_llama2c(out, path, be);
}

int st_model_tokenizer(const char *spec, char *out, size_t n) {
  char base[ST_PATH_MAX];
  if (st_model_base(spec, base, sizeof base)) return ST_ERR;
  return st_tokenizer_find(base, out, n);
}
