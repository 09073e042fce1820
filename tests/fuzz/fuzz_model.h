/* fuzz_model.h - the small fixed models of the PEFT and sharded-index
 * harnesses (and of make_seeds.c, which writes their seeds). */
#ifndef ST_FUZZ_MODEL_H
#define ST_FUZZ_MODEL_H
#include <string.h>

#include "backend.h"
#include "model.h"

/* gpt2 != 0: GPT-2 (tied head, biases), else Llama with q/k/v bias */
static st_config fz_tiny_cfg(int gpt2) {
  st_config c;
  memset(&c, 0, sizeof c);
  c.arch = gpt2 ? ST_ARCH_GPT2 : ST_ARCH_LLAMA;
  c.n_layers = 2;
  c.dim = 16;
  c.n_heads = 4;
  c.n_kv_heads = gpt2 ? 4 : 2;
  c.head_dim = 4;
  c.hidden = gpt2 ? 64 : 40;
  c.vocab = 32;
  c.max_seq = 64;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tied = gpt2;
  c.qkv_bias = !gpt2;
  return c;
}
#endif
