/* export.c - a model as a Hugging Face folder that transformers loads with
 * no network (AutoModelForCausalLM and AutoTokenizer.from_pretrained):
 * config.json, model.safetensors in the chosen dtype, the tokenizer files
 * (tok_export.c: an HF tokenizer copied through, a llama2.c one converted)
 * and generation_config.json (the source folder's, else one naming BOS and
 * EOS).
 *
 * The folder is built as <out>.tmp and renamed into place, so a failure
 * never leaves a half-written export, and an existing non-empty <out> is
 * refused rather than mixed with. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "model_io.h"
#include "tokenizer.h"

static int rmtree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? ST_OK : st_err("%s: %s", dir, strerror(errno));
  struct dirent *e;
  char p[ST_PATH_MAX];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
        st_path_join(p, sizeof p, dir, e->d_name) == ST_OK)
      remove(p); /* the export writes plain files only */
  closedir(d);
  return rmdir(dir) == 0 ? ST_OK : st_err("%s: %s", dir, strerror(errno));
}

static int empty_or_absent(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n == 0;
}

static int generation_config(const char *src_dir, const char *tok_path,
                             const char *dir) {
  char from[ST_PATH_MAX], to[ST_PATH_MAX];
  if (st_path_join(to, sizeof to, dir, "generation_config.json")) return ST_ERR;
  struct stat sb;
  if (src_dir && st_path_join(from, sizeof from, src_dir, "generation_config.json") == ST_OK &&
      stat(from, &sb) == 0 && S_ISREG(sb.st_mode)) {
    FILE *f = fopen(from, "rb");
    char *buf = f ? st_malloc((size_t)sb.st_size + 1) : NULL;
    int ok = buf && fread(buf, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size;
    if (f) fclose(f);
    int rc = ok ? st_write_file_atomic(to, buf, (size_t)sb.st_size)
                : st_err("%s: cannot read", from);
    free(buf);
    return rc;
  }
  json_t *o = json_object();
  st_tokenizer *tk = NULL;
  if (tok_path && st_tokenizer_load(&tk, tok_path) == ST_OK) {
    if (st_tokenizer_bos(tk) >= 0)
      json_object_set_new(o, "bos_token_id", json_integer(st_tokenizer_bos(tk)));
    if (st_tokenizer_eos(tk) >= 0)
      json_object_set_new(o, "eos_token_id", json_integer(st_tokenizer_eos(tk)));
  }
  st_tokenizer_free(tk);
  st_err_clear();
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(o);
  int rc = s ? st_write_file_atomic(to, s, strlen(s)) : st_err("out of memory");
  free(s);
  return rc;
}

int st_export_hf(const st_model *m, const char *src_dir, const char *tok_path,
                 const char *out, const char *dtype, char *note, size_t nn) {
  char tmp[ST_PATH_MAX];
  if (!empty_or_absent(out))
    return st_err("%s exists and is not empty: remove it or choose another folder", out);
  if (st_pathf(tmp, sizeof tmp, "%s.tmp", out) || rmtree(tmp) || st_mkdirs(tmp))
    return ST_ERR;
  int rc = st_save_hf_as(m, tmp, dtype);
  if (note && nn) note[0] = 0;
  if (rc == ST_OK && tok_path) rc = st_tokenizer_export_hf_note(tok_path, tmp, note, nn);
  if (rc == ST_OK) rc = generation_config(src_dir, tok_path, tmp);
  if (rc == ST_OK) {
    rmdir(out); /* empty, or absent */
    if (rename(tmp, out) != 0) rc = st_err("%s: cannot rename %s into place: %s", out, tmp,
                                           strerror(errno));
  }
  if (rc) {
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", st_errmsg());
    rmtree(tmp);
    return st_err("%s", keep);
  }
  return ST_OK;
}
