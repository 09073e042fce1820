/* fuzz_tokenizer_json.c - a Hugging Face tokenizer.json: st_tokenizer_load
 * on the file, then encode/decode (fuzz_tok_common.h). */
#include "fuzz_common.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_exercise_tokenizer(fz_put("tokenizer.json", data, size));
  return 0;
}
