/* model_load.h - loading a model in split storage (weights.h): frozen
 * weight matrices in low precision, memory-mapped files used in place, and
 * the layout alone (what `strata info` prints) without reading a weight.
 *
 * frozen_dtype names the dtype frozen weight matrices are held in:
 *   "auto"  each tensor in its file's dtype (a llama2.c file is f32);
 *   "bf16", "f16", "f32"  that dtype, converted on load when the file's
 *           differs (narrowing rounds to nearest even).
 * A tensor whose file dtype is its frozen dtype is used in place from the
 * file's read-only mapping on the cpu backend, with no copy: loading costs
 * only the norms, and memory grows only as far as the forward touches the
 * weights' pages; a stray write faults instead of changing the file. On
 * cuda the tensors are uploaded in their frozen dtype. Trainable tensors
 * are widened to fp32 by the trainer (train.h) when its plan is set. */
#ifndef ST_MODEL_LOAD_H
#define ST_MODEL_LOAD_H

#include "model.h"

/* frozen dtype codes: a st_dtype, or each tensor's file dtype */
#define ST_FROZEN_AUTO (-1)
/* "auto" | "bf16" | "f16" | "f32" -> its code; an error names the value */
int st_frozen_dtype_parse(const char *s, int *frozen);

/* st_model_load (model_io.h) in split storage. frozen_dtype NULL: flat
 * storage, exactly st_model_load. A run folder loads its base this way,
 * then writes its checkpoint's tensors and merges its adapters into it. */
int st_model_load_as(st_model **out, const char *path, const st_backend *be,
                     const char *frozen_dtype);
int st_load_hf_as(st_model **out, const char *path, const st_backend *be,
                  int frozen);
int st_load_llama2c_as(st_model **out, const char *path, const st_backend *be,
                       int frozen);

/* The model's config, layout and table with no parameter storage
 * (m->params NULL, no tensor written): the file headers are checked, the
 * weights never read. For a run folder, its base model's. */
int st_model_load_layout(st_model **out, const char *path,
                         const st_backend *be);
/* the readers' parts of it */
int st_load_hf_layout(st_model **out, const char *path, const st_backend *be);
int st_load_llama2c_layout(st_model **out, const char *path,
                           const st_backend *be);

#endif
