/* lora_io.h - LoRA adapters in files: PEFT folders (lora_peft.c) and
 * strata's own adapter file with training state (lora_file.c), which also
 * carries a trainer's adapters in a run's checkpoints. */
#ifndef ST_LORA_IO_H
#define ST_LORA_IO_H

#include "lora.h"
#include "train.h"

/* --- PEFT (lora_peft.c) --------------------------------------------------
 * A folder that peft.PeftModel.from_pretrained loads onto the HF model
 * st_save_hf writes: adapter_config.json (peft_type LORA, task_type
 * CAUSAL_LM, r, lora_alpha, target_modules, layers_to_transform,
 * rank_pattern/alpha_pattern where adapters differ, fan_in_fan_out for
 * GPT-2's Conv1D, use_rslora, lora_dropout, bias "none") and
 * adapter_model.safetensors with base_model.model.<module>.lora_A.weight
 * [r, in] and .lora_B.weight [out, r]. */
int st_lora_save_peft(const st_model *m, const st_lora *lo, const char *dir,
                      const char *base_model_name);
/* The same, plus the tensors of m trained in full (full[i] != 0 for
 * m->tab[i], e.g. a run's "ever trained" flags; NULL: none): their modules
 * go to modules_to_save with m's current values, so the folder carries the
 * whole fine-tune. Refused: a trained tied embedding, a module that is
 * both trained in full and adapted. */
int st_lora_save_peft_full(const st_model *m, const st_lora *lo,
                           const unsigned char *full, const char *dir,
                           const char *base_model_name);
/* Reads such a folder for model m. Errors: adapters whose shapes differ from
 * m's modules, unknown or non-linear target modules, rank < 1, layer indices
 * outside the model, PEFT features strata does not compute (DoRA, biases,
 * modules_to_save, which only st_lora_load_peft_model takes). */
int st_lora_load_peft(st_lora **out, const st_model *m, const char *dir);
/* The same, and a folder with modules_to_save: their tensors are written
 * into m (and flagged in written[n_tab] when not NULL). */
int st_lora_load_peft_model(st_lora **out, st_model *m, const char *dir,
                            unsigned char *written);

/* --- strata's adapter file with training state (lora_file.c) -------------
 * One safetensors file: <module>.lora_A.weight / .lora_B.weight per
 * adapter, adam_m/, adam_v/ (F32) and adam_t/ (I32) for those that train,
 * and in the metadata "lora" (JSON: module, rank, alpha, rslora, dropout,
 * train, draws per adapter) and "seed". */
int st_lora_save(const st_lora *lo, const char *path);
/* A new set from the file (no training state: every adapter frozen). */
int st_lora_load(st_lora **out, const st_model *m, const char *path);
/* Into an existing set (the trainer's, already following its plan): adds
 * the file's other adapters frozen, sets A and B, and restores the AdamW
 * state and dropout position of every adapter that trains; an adapter that
 * trains but has no state in the file is an error. */
int st_lora_load_into(st_lora *lo, const char *path);

/* A trainer's adapters with their AdamW state and dropout position (the
 * file above), and the inverse into a trainer created with the plan that
 * was current when it was saved. */
int st_trainer_save_lora(const st_trainer *t, const char *path);
int st_trainer_load_lora(st_trainer *t, const char *path);

#endif
