/* fuzz_sharded.c - a sharded Hugging Face folder: a fixed config.json (the
 * tiny Llama of fuzz_model.h) and two fixed shards a.safetensors and
 * b.safetensors holding its tensors, with model.safetensors.index.json from
 * the input; st_load_hf on the folder. */
#include "fuzz_common.h"
#include "error.h"
#include "fuzz_model.h"
#include "hf_config.h"
#include "model_io.h"
#include "safetensors.h"

static char dir[700];

/* the folder of the fixed files, written once */
static void setup(void) {
  snprintf(dir, sizeof dir, "%s", fz_path("sharded"));
  mkdir(dir, 0755);
  st_config c = fz_tiny_cfg(0);
  st_model *m = NULL;
  if (st_model_new(&m, &c, st_backend_cpu()) != ST_OK) abort();
  st_model_init_random(m, 3);
  int n = m->n_tab;
  st_sft_entry *e = calloc((size_t)n, sizeof *e);
  float **bufs = calloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const st_param *p = &m->tab[i];
    bufs[i] = malloc((size_t)p->rows * p->cols * 4);
    st_model_get(m, p, bufs[i], (size_t)p->rows * p->cols);
    e[i] = (st_sft_entry){p->name, ST_SFT_F32, p->is_bias ? 1 : 2,
                          {p->is_bias ? p->cols : p->rows, p->cols}, bufs[i]};
  }
  if (st_hfconfig_write(fz_path("sharded/config.json"), &c, NULL) != ST_OK ||
      st_sft_write(fz_path("sharded/a.safetensors"), e, n / 2, NULL, NULL, 0) != ST_OK ||
      st_sft_write(fz_path("sharded/b.safetensors"), e + n / 2, n - n / 2, NULL, NULL, 0) != ST_OK) {
    fprintf(stderr, "fuzz_sharded setup: %s\n", st_errmsg());
    abort();
  }
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
  free(e);
  st_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) setup();
  fz_put("sharded/model.safetensors.index.json", data, size);
  st_model *m = NULL;
  if (st_load_hf(&m, dir, st_backend_cpu()) == ST_OK) st_model_free(m);
  return 0;
}
