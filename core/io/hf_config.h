/* hf_config.h - Hugging Face config.json <-> st_config. */
#ifndef ST_HF_CONFIG_H
#define ST_HF_CONFIG_H

#include "model.h"

/* model_type llama | mistral | qwen2 (q/k/v bias) -> Llama family,
 * gpt2 -> GPT-2. Missing shape keys and features strata does not compute
 * (another activation, rope_scaling, o/mlp biases) are errors naming the
 * file and key. */
int st_hfconfig_read(const char *path, st_config *cfg);
/* Writes a config.json that transformers loads (LlamaForCausalLM,
 * Qwen2ForCausalLM when qkv_bias, GPT2LMHeadModel), atomically (fs.h). */
int st_hfconfig_write(const char *path, const st_config *cfg);

#endif
