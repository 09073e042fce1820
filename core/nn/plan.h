/* plan.h - where to train: a mode per layer, validated against a model.
 *
 * Each layer is frozen, full (its trainable modules train) or lora. The
 * embeddings, final norm and head carry their own flags. From these the plan
 * derives lowest_trainable: backward stops there, nothing below it is
 * differentiated, and activations are kept only from there up. */
#ifndef ST_PLAN_H
#define ST_PLAN_H

#include "model.h"

typedef enum { ST_FROZEN = 0, ST_FULL = 1, ST_LORA = 2 } st_mode;

/* bit i = module i of the layer, in st_plan_modules() order */
typedef unsigned st_modmask;
#define ST_ALL_MODULES 0xffffffffu

typedef struct st_lora_spec {
  int rank;
  float alpha;
  st_modmask modules;
  int rslora; /* scale alpha/sqrt(r) instead of alpha/r */
  float dropout;
} st_lora_spec;

typedef struct st_plan {
  int n_layers;
  st_mode *mode;        /* [L] */
  st_modmask *modules;  /* [L] trainable modules of a full layer */
  st_lora_spec *lora;   /* [L] for lora layers */
  int embed, final_norm, head; /* trainable flags (tied head: head = embed) */
  uint64_t seed; /* LoRA: initial A of new adapters and dropout draw from it */
  /* activation checkpointing: the trainer keeps only each block's input from
   * the lowest trainable layer up and runs a block's forward again inside
   * the backward, so activations cost one block plus the inputs; costs
   * st_flops.recompute_fwd more FLOPs, and gives bitwise the same gradients
   * on a deterministic backend */
  int recompute;
} st_plan;

/* all frozen */
int st_plan_new(st_plan *p, int n_layers);
void st_plan_free(st_plan *p);
int st_plan_copy(st_plan *dst, const st_plan *src);
/* "all" | "top:K" | "3,5,7" (layers full; head/final norm/embeddings train
 * only for "all") */
int st_plan_parse(st_plan *p, const st_model *m, const char *spec);
/* checks ranges, module masks, non-empty trainable set */
int st_plan_validate(const st_plan *p, const st_model *m);

/* module names of a layer for this architecture (q k v o gate up down
 * attn_norm mlp_norm | c_attn attn.c_proj c_fc mlp.c_proj ln_1 ln_2) */
int st_plan_modules(const st_model *m, const char ***names);
int st_module_index(const st_model *m, const char *name); /* -1 if unknown */

/* One layer's entry of a plan. */
typedef struct st_layer_plan {
  st_mode mode;
  st_modmask modules;       /* ST_FULL: its trainable modules */
  const st_lora_spec *lora; /* ST_LORA: rank and adapted modules, else NULL */
} st_layer_plan;
st_layer_plan st_plan_layer(const st_plan *p, int l);
/* does layer parameter q train (full-weight training; LoRA adapters are
 * separate) under its layer's entry lp? */
int st_layer_param_trainable(const st_model *m, const st_param *q,
                             const st_layer_plan *lp);
/* lowest op position (st_op, model.h) of layer l with trainable weights
 * under lp, a linear op with a LoRA adapter counting; ST_NOPS: none */
int st_layer_lowest_op(const st_model *m, int l, const st_layer_plan *lp);

/* is this named parameter trainable under the plan (full-weight training,
 * LoRA adapters are separate)? */
int st_plan_param_trainable(const st_plan *p, const st_model *m,
                            const st_param *q);
/* -1 when embeddings train (full backward), else the lowest layer with
 * anything trainable, L when only final norm/head train */
int st_plan_lowest(const st_plan *p, const st_model *m);
/* st_layer_lowest_op() of layer l under the plan: the backward depth of the
 * lowest trainable layer (layer.h); ST_NOPS: nothing trains in layer l */
int st_plan_layer_below(const st_plan *p, const st_model *m, int l);

/* FLOP accounting per token (docs/ARCHITECTURE.md): full fine-tuning and
 * this plan, summed from the per-layer cost model (cost.h) plus the head */
typedef struct st_flops {
  double fwd, bwd, full_bwd; /* per token */
  double lora_fwd;           /* the adapters' own forward (0 without LoRA) */
  double recompute_fwd;      /* checkpointing's second forward (0 without) */
  double ideal_ratio;        /* (fwd + lora_fwd + recompute_fwd + bwd) /
                                (fwd + full_bwd): the baseline is full
                                fine-tuning without checkpointing */
} st_flops;
st_flops st_plan_flops(const st_plan *p, const st_model *m, int T);
/* the share of st_plan_flops().bwd that layer l does (per token); *lora_fwd
 * (may be NULL) gets its adapters' extra forward FLOPs */
double st_plan_layer_bwd(const st_plan *p, const st_model *m, int T, int l,
                         double *lora_fwd);
/* the forward FLOPs per token that checkpointing (p->recompute) runs again
 * for layer l inside the backward: its forward and its adapters', for the
 * layers the backward reaches except the top one, whose activations the
 * forward leaves in place (0 without checkpointing) */
double st_plan_layer_recompute(const st_plan *p, const st_model *m, int T,
                               int l);

#endif
