/* model_file.c - st_model_load: the reader a path calls for, by what it
 * is (a folder or config.json: Hugging Face; else a llama2.c .bin). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "model_io.h"

int st_model_load(st_model **out, const char *path, const st_backend *be) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return st_err("%s: %s", path, strerror(errno));
  size_t n = strlen(path);
  if (S_ISDIR(st.st_mode) || (n >= 5 && !strcmp(path + n - 5, ".json")))
    return st_load_hf(out, path, be);
  return st_load_llama2c(out, path, be);
}
