/* fuzz_hf_config.c - a Hugging Face config.json: st_hfconfig_read, and on
 * success writing the config back (st_hfconfig_write) and reading that. */
#include "fuzz_common.h"
#include "error.h"
#include "hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_put("config.json", data, size);
  st_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (st_hfconfig_read(path, &cfg) != ST_OK) return 0;
  const char *out = fz_path("config_out.json");
  st_config back;
  memset(&back, 0, sizeof back);
  if (st_hfconfig_write(out, &cfg, NULL) == ST_OK) (void)st_hfconfig_read(out, &back);
  return 0;
}
