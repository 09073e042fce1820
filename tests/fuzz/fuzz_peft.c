/* fuzz_peft.c - a PEFT adapter folder: the input split at its first NUL
 * into adapter_config.json and adapter_model.safetensors, loaded with
 * st_lora_load_peft_model onto a fresh tiny model (fuzz_model.h: GPT-2 when
 * the config names a GPT-2 module, else Llama). */
#include "fuzz_common.h"
#include "error.h"
#include "fuzz_model.h"
#include "lora_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n1;
  const char *dir = fz_split_files("adapter", "adapter_config.json",
                                   "adapter_model.safetensors", data, size, &n1);
  int gpt2 = memmem(data, n1, "c_attn", 6) || memmem(data, n1, "c_fc", 4);
  st_config c = fz_tiny_cfg(gpt2);
  st_model *m = NULL;
  if (st_model_new(&m, &c, st_backend_cpu()) != ST_OK) abort();
  unsigned char *written = calloc((size_t)m->n_tab, 1);
  st_lora *lo = NULL;
  if (st_lora_load_peft_model(&lo, m, dir, written) == ST_OK) st_lora_free(lo);
  free(written);
  st_model_free(m);
  return 0;
}
