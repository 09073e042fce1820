/* model_io.h - models from and to files: a llama2.c .bin (llama2c.c), a
 * Hugging Face folder (hf_folder.c, hf_config.c, safetensors.c), and the
 * dispatch between them (model_file.c). */
#ifndef ST_MODEL_IO_H
#define ST_MODEL_IO_H

#include "model.h"

/* A run folder as a model (run_folder.c): "RUN" is its last checkpoint,
 * "RUN@best" the best one (output.keep: best), "RUN@step-N" the one of
 * step N (output.keep: all). A checkpoint's metadata names the base model
 * (an absolute path), its content hash and the checkpoint's adapter file;
 * the model is the base with the checkpoint's trained tensors in place and
 * its adapters merged. */
typedef struct st_run_ref {
  int is_run;                  /* 0: the spec is not a run folder */
  char dir[ST_PATH_MAX];       /* the run folder */
  char ckpt[ST_PATH_MAX];      /* the chosen checkpoint file */
  char lora[ST_PATH_MAX];      /* its adapter file, "" if none */
  char base[ST_PATH_MAX];      /* the base model */
  char base_sha256[65];        /* the base model's hash when the run began */
  int step;                    /* the checkpoint's step */
} st_run_ref;
/* Resolves spec; is_run = 0 (ST_OK) for a path that is no run folder. A
 * run folder with no such checkpoint, or whose base model is missing or
 * changed, is an error naming them. */
int st_run_resolve(const char *spec, st_run_ref *r);
/* The base model of spec when it is a run, else spec itself, into out:
 * where its tokenizer is found (st_tokenizer_find). */
int st_model_base(const char *spec, char *out, size_t n);
/* The tokenizer that goes with a model, a run folder's being its base
 * model's (st_tokenizer_find on st_model_base). */
int st_model_tokenizer(const char *spec, char *out, size_t n);
/* A checkpoint's trained tensors ("weight/<name>") into m; trained[n_tab]
 * marks them and *n_applied counts them (either may be NULL). */
int st_run_apply_weights(st_model *m, const char *ckpt, unsigned char *trained,
                         int *n_applied);
/* The model of a resolved run (st_model_load calls it); m->path = spec.
 * frozen_dtype: as st_model_load_as (model_load.h), NULL for flat storage. */
int st_run_load(st_model **out, const st_run_ref *r, const char *spec,
                const st_backend *be, const char *frozen_dtype);
/* The model's content hash (lowercase hex): a file's sha256; an HF
 * folder's over config.json and its *.safetensors files; a run's over its
 * base's, its checkpoint's and its adapters'. Cached by path, inode, size
 * and mtime (model_hash.c). */
int st_model_sha256(const char *path, char hex[65]);

/* Loads a llama2.c .bin, an HF folder / config.json + safetensors, or a
 * run folder (above). */
int st_model_load(st_model **out, const char *path, const st_backend *be);
int st_load_llama2c(st_model **out, const char *path, const st_backend *be);
int st_load_hf(st_model **out, const char *dir, const st_backend *be);
/* Writes config.json + model.safetensors that transformers loads, in the
 * model's own dtype (m->dtype), or in dtype ("float32", "bfloat16",
 * "float16") with st_save_hf_as. */
int st_save_hf(const st_model *m, const char *dir);
int st_save_hf_as(const st_model *m, const char *dir, const char *dtype);
/* A complete HF folder for transformers (export.c): the weights in dtype
 * (NULL: the model's), the tokenizer at tok_path (NULL: none) as HF files,
 * and generation_config.json (src_dir's when it has one). Built aside and
 * renamed into place; a non-empty out is refused. note[nn] (may be NULL)
 * gets "" or the tokenizer export's one line for the user. */
int st_export_hf(const st_model *m, const char *src_dir, const char *tok_path,
                 const char *out, const char *dtype, char *note, size_t nn);

#endif
