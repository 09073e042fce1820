/* fuzz_llama2c.c - a llama2.c model .bin: st_load_llama2c on the CPU
 * backend, then st_model_free. */
#include "fuzz_common.h"
#include "error.h"
#include "model_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_put("model.bin", data, size);
  st_model *m = NULL;
  if (st_load_llama2c(&m, path, st_backend_cpu()) == ST_OK) st_model_free(m);
  return 0;
}
