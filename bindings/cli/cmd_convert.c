/* cmd_convert.c - `strata convert <model> <out-folder>`: write a model
 * (typically a llama2.c .bin) as an HF folder that transformers loads. */
#include <stdio.h>

#include "backend.h"
#include "commands.h"
#include "error.h"
#include "model.h"

int cmd_convert(int argc, char **argv) {
  if (argc != 3) return st_err("usage: strata convert <llama2c.bin> <out-folder>");
  const st_backend *be = st_backend_get("cpu");
  st_model *m;
  if (!be || st_model_load(&m, argv[1], be) != ST_OK) return 1;
  int rc = st_save_hf(m, argv[2]);
  if (rc == ST_OK)
    printf("wrote %s/config.json and %s/model.safetensors (%zu parameters)\n",
           argv[2], argv[2], m->n_params);
  st_model_free(m);
  return rc == ST_OK ? 0 : 1;
}
