/* fuzz_tokenizer_bin.c - a llama2.c tokenizer .bin (tok*.bin):
 * st_tokenizer_load, then encode/decode (fuzz_tok_common.h). */
#include "fuzz_common.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_exercise_tokenizer(fz_put("tok512.bin", data, size));
  return 0;
}
