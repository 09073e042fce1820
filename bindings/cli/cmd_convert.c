/* cmd_convert.c - `strata convert <model> <out-folder>`: write a model
 * (typically a llama2.c .bin) as an HF folder that transformers loads. */
#include <stdio.h>

#include "backend.h"
#include "commands.h"
#include "error.h"
#include "model.h"
#include "model_io.h"

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "the model to convert: a llama2.c .bin (or any model\n"
                               "strata loads)"},
    {"out-folder", CLI_ARG, .help = "written: config.json and model.safetensors (F32)"},
    {0}};
static const cli_spec spec = {"convert", opts, NULL, NULL};

int cmd_convert(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *out = cli_str(&a, "out-folder");
  const st_backend *be = st_backend_get("cpu");
  st_model *m;
  if (!be || st_model_load(&m, cli_str(&a, "model"), be) != ST_OK) return 1;
  int rc = st_save_hf(m, out);
  if (rc == ST_OK)
    printf("wrote %s/config.json and %s/model.safetensors (%zu parameters)\n",
           out, out, m->n_params);
  st_model_free(m);
  return rc == ST_OK ? 0 : 1;
}
