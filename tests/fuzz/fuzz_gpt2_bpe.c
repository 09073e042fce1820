/* fuzz_gpt2_bpe.c - GPT-2's encoder.json + vocab.bpe: the input split at its
 * first NUL into the two files of a folder; st_tokenizer_load on the
 * folder, then encode/decode (fuzz_tok_common.h). */
#include "fuzz_common.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n1, off2;
  fz_split(data, size, &n1, &off2);
  static char dir[700];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s", fz_path("gpt2"));
    mkdir(dir, 0755);
  }
  fz_put("gpt2/encoder.json", data, n1);
  fz_put("gpt2/vocab.bpe", data + off2, size - off2);
  fz_exercise_tokenizer(dir);
  return 0;
}
