/* test_gpt2_ref.c - a tiny random GPT-2 (tests/fixtures/gpt2_tiny, HF
 * format: Conv1D weights, tied head, non-zero biases and norm gains) against
 * transformers' GPT2LMHeadModel (fixture: scripts/make_reference.py). The
 * targets include ignored positions, so the loss is a mean over the rest,
 * and the wte gradient must include the tied head's contribution. */
#include "model_io.h"
#include "ref_check.h"

static int load(st_model **m, const st_backend *be) {
  return st_load_hf(m, "tests/fixtures/gpt2_tiny", be);
}

int main(void) {
  ref_check("tests/fixtures/ref/gpt2_tiny.safetensors", load,
            "transformer.h.0.attn.c_attn.weight");
  TEST_DONE();
}
