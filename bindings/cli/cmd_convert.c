/* cmd_convert.c - `strata convert <model> <out-folder>`: write a model
 * (typically a llama2.c .bin) as an HF folder that transformers loads, with
 * its tokenizer, so AutoTokenizer.from_pretrained(out) works too. */
#include <stdio.h>

#include "backend.h"
#include "commands.h"
#include "error.h"
#include "fs.h"
#include "model.h"
#include "model_io.h"
#include "tokenizer.h"

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "the model to convert: a llama2.c .bin (or any model\n"
                               "strata loads); its tokenizer comes along"},
    {"out-folder", CLI_ARG, .help = "written: config.json, model.safetensors and the\n"
                                    "tokenizer: a llama2.c one as tokenizer.json,\n"
                                    "tokenizer_config.json and special_tokens_map.json;\n"
                                    "an HF folder's tokenizer files as they are"},
    {0}};
static const cli_spec spec = {"convert", opts, NULL, NULL};

int cmd_convert(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *model = cli_str(&a, "model"), *out = cli_str(&a, "out-folder");
  const st_backend *be = st_backend_get("cpu");
  st_model *m;
  if (!be || st_model_load(&m, model, be) != ST_OK) return ST_ERR;
  /* no tokenizer is no reason to withhold the weights: say so and go on */
  char tok[ST_PATH_MAX], note[1024] = "";
  int have_tok = st_model_tokenizer(model, tok, sizeof tok) == ST_OK;
  if (!have_tok)
    fprintf(stderr, "strata: note: no tokenizer beside %s (tokenizer.json, "
                    "tokenizer.bin or tok*.bin): %s gets none\n", model, out);
  int rc = st_save_hf(m, out);
  if (rc == ST_OK && have_tok)
    rc = st_tokenizer_export_hf_note(tok, out, note, sizeof note);
  if (note[0]) fprintf(stderr, "strata: note: %s\n", note);
  /* with a note, the note says what became of the tokenizer */
  int tok_ok = have_tok && !note[0];
  if (rc == ST_OK)
    printf("wrote %s/config.json and %s/model.safetensors (%zu parameters)%s%s\n",
           out, out, m->n_params, tok_ok ? " and the tokenizer of " : "",
           tok_ok ? tok : "");
  st_model_free(m);
  return rc;
}
