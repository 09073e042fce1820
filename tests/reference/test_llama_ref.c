/* test_llama_ref.c - stories260K (llama2.c .bin, GQA, tied head) against
 * transformers' LlamaForCausalLM on the same weights converted by
 * `strata convert` (fixture: scripts/make_reference.py). Loading the .bin
 * directly means the q/k permutation and RoPE pairing of our llama2.c
 * import must agree with HF's half-split convention. */
#include "assets.h"
#include "model_io.h"
#include "ref_check.h"

static char bin[1024];

static int load(st_model **m, const st_backend *be) {
  return st_load_llama2c(m, bin, be);
}

int main(void) {
  int found = st_asset_local("models/stories260K/stories260K.bin", bin,
                             sizeof bin);
  if (found == ST_ERR) {
    fprintf(stderr, "%s\n", st_errmsg());
    return 1;
  }
  if (!found) SKIP("stories260K.bin not found (set STRATA_SHARED)");
  ref_check("tests/fixtures/ref/llama_stories260K.safetensors", load,
            "model.layers.0.self_attn.q_proj.weight");
  TEST_DONE();
}
