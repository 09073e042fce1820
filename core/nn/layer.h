/* layer.h - one transformer block, forward and backward, written out per op
 * as in llm.c. The block is the same for both architectures up to the norm
 * (RMSNorm | LayerNorm), positions (RoPE | none) and MLP (SwiGLU | GELU).
 *
 * Backward runs the block's ops in reverse and does only the work the plan
 * needs: a weight gradient where the parameter trains (grad pointer set), and
 * the gradient into an op's input only while something trainable lies below
 * it. Op positions (st_op, model.h): ST_OP_LN1, QKV, ATO (attention out),
 * LN2, FC, PRJ, bottom to top (a linear op with a training LoRA adapter is a
 * trainable position). `below` is the lowest position backward must reach:
 * in the lowest trainable block the position of its lowest trainable op, and
 * ST_OP_LN1 in every block above it (whose input gradient is needed). */
#ifndef ST_LAYER_H
#define ST_LAYER_H

#include "model.h"

/* Activations of one block for N = B*T tokens; one allocation. */
typedef struct st_acts {
  float *ln1, *ln1_mean, *ln1_rstd; /* [N,C] [N] [N] (mean: LayerNorm only) */
  float *qkv;                       /* [N,QKVD] after RoPE */
  float *att, *lse;                 /* [N,NH*HS] [B,NH,T] */
  float *res1;                      /* [N,C] x + attention */
  float *ln2, *ln2_mean, *ln2_rstd; /* [N,C] [N] [N] */
  float *fc;                        /* [N,FCD] gate|up (Llama) or pre-GELU */
  float *act;                       /* [N,H] SwiGLU / GELU output */
  /* LoRA (lora.h): the adapters these buffers were sized for, taken from
   * model->lora when allocated; the set must not gain adapters while the
   * buffers live (the trainer reallocates them when its set grows) */
  const struct st_lora *lora;
  float *lora_ax;  /* [N, rank] per adapter of the block, in order: A·x */
  int train;       /* training forward: adapters that train draw dropout */
  float *drop_buf; /* [N, widest adapter input]: dropout(x) when training
                      with dropout; the trainer's (st_bwd_scratch.lora_tmp) */
  void *base;
} st_acts;

/* per-parameter gradient pointers of a block: [slot] -> rows of the slot
 * that train. A slot may hold several named tensors (q,k,v); each has its
 * own gradient buffer or none. */
typedef struct st_grad_view {
  float *g;      /* NULL: frozen */
  int row0, rows;
} st_grad_view;
#define ST_MAX_VIEWS 3
typedef struct st_layer_grads {
  st_grad_view v[ST_NSLOTS][ST_MAX_VIEWS];
  int nv[ST_NSLOTS];
} st_layer_grads;

int st_qkv_dim(const st_config *c);
int st_fc_dim(const st_config *c); /* rows of FC: 2H (Llama) | H (GPT-2) */
size_t st_acts_floats(const st_config *c, int B, int T);
/* with room for the adapters of model->lora in any layer */
int st_acts_alloc(st_acts *a, const st_model *m, int B, int T);
/* with room for the adapters of model->lora in `layer` only */
int st_acts_alloc_layer(st_acts *a, const st_model *m, int layer, int B,
                        int T);
void st_acts_free(st_acts *a, const st_backend *be);

/* out[N,C] = block(x[N,C]); out may not alias x */
void st_layer_fwd(const st_model *m, int l, st_acts *a, const float *x,
                  float *out, int B, int T);

/* Scratch buffers for backward, shared by all blocks: dln, then the rest
 * in one span of at least `spare` floats (st_bwd_scratch_alloc), which a
 * caller may use while no block's backward runs: the trainer's head puts
 * its logits there, between the forward and the first block's backward,
 * leaving dL/d(final norm output) in dln. */
typedef struct st_bwd_scratch {
  float *dln;  /* [N,C] */
  float *dact; /* [N,H]; the spare span starts here */
  float *datt; /* [N,NH*HS] */
  float *dqkv; /* [N,QKVD] */
  /* LoRA, when model->lora was set at allocation (else NULL) */
  float *lora_dax; /* [N, largest rank]: dL/d(A·x) */
  float *lora_tmp; /* [N, widest adapter input]: dropout(x), d(A·x) A */
  size_t spare; /* floats from dact on */
  void *base;
} st_bwd_scratch;
/* floats the blocks' backward needs after dln (with model->lora's adapters) */
size_t st_bwd_scratch_floats(const st_model *m, int B, int T);
int st_bwd_scratch_alloc(st_bwd_scratch *s, const st_model *m, int B, int T,
                         size_t spare);
void st_bwd_scratch_free(st_bwd_scratch *s, const st_backend *be);

/* dres[N,C] holds dL/d(out) on entry and dL/dx on return when below ==
 * ST_OP_LN1
 * (in place: the residual gradient flows down through the stack).
 * Adapters of the block (a->lora) that train accumulate dA and dB; the
 * gradient through every adapter joins its module's input gradient where
 * that is needed. The backward consumes the activations: a->fc holds its
 * own gradient afterwards, so a second backward needs the forward again. */
void st_layer_bwd(const st_model *m, int l, const st_acts *a, const float *x,
                  float *dres, const st_layer_grads *g, int below,
                  st_bwd_scratch *s, int B, int T);

#endif
