/* model_io.h - models from and to files: a llama2.c .bin (llama2c.c), a
 * Hugging Face folder (hf_folder.c, hf_config.c, safetensors.c), and the
 * dispatch between them (model_file.c). */
#ifndef ST_MODEL_IO_H
#define ST_MODEL_IO_H

#include "model.h"

/* Loads a llama2.c .bin or an HF folder / config.json + safetensors. */
int st_model_load(st_model **out, const char *path, const st_backend *be);
int st_load_llama2c(st_model **out, const char *path, const st_backend *be);
int st_load_hf(st_model **out, const char *dir, const st_backend *be);
/* Writes config.json + model.safetensors that transformers loads. */
int st_save_hf(const st_model *m, const char *dir);

#endif
