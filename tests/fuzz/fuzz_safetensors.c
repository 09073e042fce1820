/* fuzz_safetensors.c - the safetensors header and data: st_sft_open, then
 * every tensor read (st_sft_read_f32, or st_sft_read_i32 for I32). */
#include "fuzz_common.h"
#include "error.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_put("model.safetensors", data, size);
  st_sft *f = NULL;
  if (st_sft_open(&f, path) != ST_OK) return 0;
  (void)st_sft_meta(f, "format");
  for (int i = 0; i < f->n; i++) {
    const st_sft_tensor *t = &f->t[i];
    (void)st_sft_find(f, t->name);
    size_t n = t->numel ? t->numel : 1;
    if (t->dtype == ST_SFT_I32) {
      int32_t *dst = malloc(n * sizeof *dst);
      if (dst) (void)st_sft_read_i32(f, t, dst, t->numel);
      free(dst);
    } else {
      float *dst = malloc(n * sizeof *dst);
      if (dst) (void)st_sft_read_f32(f, t, dst, t->numel);
      free(dst);
    }
  }
  st_sft_close(f);
  return 0;
}
