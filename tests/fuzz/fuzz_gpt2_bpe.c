/* fuzz_gpt2_bpe.c - GPT-2's encoder.json + vocab.bpe: the input split at its
 * first NUL into the two files of a folder; st_tokenizer_load on the
 * folder, then encode/decode (fuzz_tok_common.h). */
#include "fuzz_common.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n1;
  const char *dir = fz_split_files("gpt2", "encoder.json", "vocab.bpe", data, size, &n1);
  fz_exercise_tokenizer(dir);
  return 0;
}
