/* lora.h - LoRA adapters (Hu et al. 2021) on a model's linear modules.
 *
 * An adapter on the linear module W [out, in] of a layer adds
 *   y = W x + scale * B (A dropout(x)),  A [r, in], B [out, r],
 *   scale = alpha / r, or alpha / sqrt(r) with rsLoRA,
 * where the module is a named tensor of the model table (q, k, v, o, gate,
 * up, down | c_attn, attn.c_proj, c_fc, mlp.c_proj): a row range of a fused
 * slot, so the adapter writes its output columns inside the slot's GEMM
 * output. New adapters start as PEFT's do: A ~ U(-1/sqrt(in), 1/sqrt(in))
 * (kaiming_uniform_ with a = sqrt(5)), B = 0, so the model's output is
 * unchanged until B trains.
 *
 * A set of adapters (st_lora) is attached to a model (model->lora): every
 * forward then includes it (training, inference, trace, eval, generate).
 * The trainer owns one built from its plan; PEFT import builds one from an
 * adapter folder. Dropout is drawn only in training forwards and only for
 * adapters that train; a frozen adapter is part of the model. */
#ifndef ST_LORA_H
#define ST_LORA_H

#include <stdint.h>

#include "model.h"
#include "plan.h"

/* the most adapters one layer can hold (Llama: q k v o gate up down) */
#define ST_LORA_MAX_PER_LAYER 7

typedef struct st_adapter {
  int layer, module; /* module: index in st_plan_modules() */
  int param;         /* the adapted weight: index into model->tab */
  int rank, rslora;
  float alpha, dropout, scale;
  float *A, *B;      /* device: A [rank, in], B [out, rank] */
  /* training state (the trainer's): gradients and AdamW moments exist
   * while train is set */
  int train;
  float *dA, *dB, *mA, *vA, *mB, *vB;
  int adam_t;        /* AdamW steps taken */
  uint64_t draws;    /* training forwards so far: the dropout stream */
} st_adapter;

typedef struct st_lora {
  const st_model *m; /* the model it was built for (layout, backend) */
  int n, cap;
  st_adapter *a;     /* ordered by layer, then slot, then first row */
  uint64_t seed;
  /* the first row (of B x T) this process's batch holds in the global
   * batch: a data-parallel rank's rows are further down it, and dropout
   * masks are drawn per global row, so N ranks draw one process's masks */
  uint64_t row0;
} st_lora;

/* An empty set for model m. */
int st_lora_new(st_lora **out, const st_model *m, uint64_t seed);
/* Frees the adapters (and training state); detaches nothing: detach first
 * with st_lora_attach(m, NULL) if it is attached. */
void st_lora_free(st_lora *lo);
/* The adapted weight of module k in layer l: the named tensor, or NULL
 * when the module is not linear (a norm) or unknown. */
const st_param *st_lora_target(const st_model *m, int layer, int module);
/* Adds an adapter with A and B zero. Errors: layer or module out of range,
 * not linear, rank < 1, alpha <= 0, dropout outside [0,1), already there. */
int st_lora_add(st_lora *lo, int layer, int module, int rank, float alpha,
                int rslora, float dropout, st_adapter **out);
st_adapter *st_lora_find(const st_lora *lo, int layer, int module);
/* adapters of layer l are lo->a[*first .. *first + count) */
int st_lora_layer(const st_lora *lo, int layer, int *first);
/* sum of ranks of layer l's adapters; l < 0: the largest over layers */
int st_lora_layer_ranks(const st_lora *lo, int layer);
int st_lora_max_rank(const st_lora *lo);
/* widest input of any adapter (for scratch buffers) */
int st_lora_max_in(const st_lora *lo);

/* Makes the set follow plan p: adapters of p's LoRA layers train (new ones
 * start at A = PEFT init from (p->seed, layer, module), B = 0; existing ones
 * keep A and B and take p's alpha, dropout and rsLoRA), every other adapter
 * stays as a frozen part of the model. A rank change of an existing adapter
 * is an error and leaves the set unchanged. Allocates and frees training
 * state to match. */
int st_lora_apply_plan(st_lora *lo, const st_plan *p);
/* whether st_lora_apply_plan would accept the plan (ranks are kept) */
int st_lora_check_plan(const st_lora *lo, const st_plan *p);
/* allocates (on = 1) or frees (0) the gradients and moments of one adapter */
int st_adapter_set_train(const st_lora *lo, st_adapter *a, int on);

/* host copies of A [rank*in] and B [out*rank] (either may be NULL) */
int st_adapter_get(const st_lora *lo, const st_adapter *a, float *A, float *B);
int st_adapter_set(const st_lora *lo, st_adapter *a, const float *A,
                   const float *B);
/* the gradients, host copies; error when the adapter does not train */
int st_adapter_grad(const st_lora *lo, const st_adapter *a, float *dA,
                    float *dB);
/* HF module path: "model.layers.3.self_attn.q_proj" */
void st_adapter_path(const st_model *m, const st_adapter *a, char *buf,
                     size_t n);
/* the dropout seed of the adapter's current training forward */
uint64_t st_adapter_drop_key(const st_lora *lo, const st_adapter *a);

/* Attaches lo to m (NULL detaches). lo must have been built for a model of
 * the same configuration. */
int st_lora_attach(st_model *m, const st_lora *lo);
/* W += scale B A for every adapter, into m (the model lo was built for or
 * one of the same configuration); detaches lo from m if attached, since the
 * delta is now in the weights. A W held in bf16 or f16 (weights.h) is
 * widened, added to in fp32 and narrowed back (rounding to nearest even,
 * as PEFT's merge in the weight's dtype does). */
int st_lora_merge(st_model *m, const st_lora *lo);

#endif
