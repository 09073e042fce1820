/* hf_config.h - Hugging Face config.json <-> st_config. */
#ifndef ST_HF_CONFIG_H
#define ST_HF_CONFIG_H

#include "model.h"

/* model_type llama | mistral | qwen2 (q/k/v bias) -> Llama family,
 * gpt2 -> GPT-2. RoPE settings are read from the top-level rope_theta /
 * rope_scaling (transformers 4.x) or rope_parameters (5.x): default,
 * linear, llama3 and yarn; sliding windows from Mistral's sliding_window
 * and Qwen2's use_sliding_window / max_window_layers / layer_types. Missing
 * shape keys, features strata does not compute (another activation or
 * rope_type, o/mlp biases, ...) and keys it does not know are errors naming
 * the file and key. */
int st_hfconfig_read(const char *path, st_config *cfg);
/* Writes a config.json that transformers loads (LlamaForCausalLM,
 * MistralForCausalLM with a window in every layer, Qwen2ForCausalLM when
 * qkv_bias, GPT2LMHeadModel), atomically (fs.h); RoPE in the top-level
 * rope_theta / rope_scaling style. */
int st_hfconfig_write(const char *path, const st_config *cfg, const char *dtype);

#endif
