/* model.h - transformer models (Llama family, GPT-2) as a config plus
 * their parameters on a backend.
 *
 * Parameters live in "slots": per layer ST_NSLOTS of them, plus ST_NGLOBAL
 * global ones. Weights are stored [out, in] (nn.Linear layout) whatever the
 * checkpoint used; GPT-2's Conv1D [in, out] is transposed on import/export.
 * Q, K and V are one fused slot [(NH+2*NKV)*HS, C] and gate/up one slot
 * [2H, C], so each costs a single GEMM; the named HF tensors are row ranges
 * of these slots (st_param). Import, export, PEFT keys and the trainable
 * modules of a plan all come from that one table.
 *
 * Storage comes in two kinds (weights.h has the details):
 *  - flat (st_model_new, st_model_load): every parameter in fp32 in one
 *    buffer, params;
 *  - split (st_model_alloc_as, st_model_store_as, st_model_load_as in
 *    model_load.h): norms, biases and position embeddings in an fp32
 *    buffer per slot; the weight matrices (q k v o gate up down, embed,
 *    head) per named tensor in their frozen dtype (bf16, f16 or f32),
 *    owned or used in place from a file's read-only mapping, until a
 *    trainer widens a slot to fp32 because something in it trains, and
 *    narrows it again when the plan freezes it. A frozen 8B model then
 *    costs 16 GB in bf16 instead of 32. */
#ifndef ST_MODEL_H
#define ST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "fs.h"

typedef enum { ST_ARCH_LLAMA = 0, ST_ARCH_GPT2 = 1 } st_arch;
typedef enum {
  ST_ROPE_DEFAULT = 0, ST_ROPE_LINEAR, ST_ROPE_LLAMA3, ST_ROPE_YARN
} st_rope_type;

typedef struct st_config {
  st_arch arch;
  int n_layers;   /* L */
  int dim;        /* C */
  int hidden;     /* MLP width H (GPT-2: 4C) */
  int n_heads;    /* NH */
  int n_kv_heads; /* NKV (GPT-2: = NH) */
  int head_dim;   /* HS */
  int vocab;      /* V */
  int max_seq;    /* context length (GPT-2: n_positions) */
  float norm_eps;
  float rope_theta; /* Llama only */
  int tied;         /* head shares the token embedding */
  int qkv_bias;     /* Llama family with q/k/v bias (Qwen2); GPT-2 always has biases */
  /* RoPE variant (Llama family), transformers' rope_parameters; zero for
   * the plain RoPE of rope_theta. st_rope_freqs turns them into the
   * per-pair inverse frequencies, once per model. */
  st_rope_type rope_type;
  float rope_factor;    /* linear, llama3, yarn: factor */
  float rope_low_freq;  /* llama3: low_freq_factor */
  float rope_high_freq; /* llama3: high_freq_factor */
  int rope_orig_max;    /* llama3, yarn: original_max_position_embeddings */
  float rope_beta_fast, rope_beta_slow; /* yarn (32 and 1 in transformers) */
  int rope_truncate;    /* yarn: floor/ceil the correction range */
  float rope_attn_factor; /* yarn: the factor on cos and sin (attention_factor,
                             resolved at load); 0 elsewhere (= 1) */
  /* Sliding-window attention: in layers l >= window_from, query t attends
   * to keys t-window+1..t only (transformers' sliding_window); window 0:
   * full causal attention in every layer. */
  int window;
  int window_from;
} st_config;

/* the window of layer l (0: full causal attention) */
static inline int st_layer_window(const st_config *c, int l) {
  return c->window > 0 && l >= c->window_from ? c->window : 0;
}

/* Per-pair inverse frequencies freq[HS/2] and the factor on cos and sin of
 * the config's RoPE, as transformers' ROPE_INIT_FUNCTIONS compute them in
 * float32 (default, linear, llama3, yarn). */
void st_rope_freqs(const st_config *c, float *freq, float *scale);
/* the RoPE fields are consistent and give finite positive frequencies */
int st_rope_validate(const st_config *c);

/* per-layer slots; absent ones (e.g. Llama biases) have size 0 */
enum {
  ST_LN1_W, ST_LN1_B, /* input_layernorm | ln_1 */
  ST_QKV_W, ST_QKV_B, /* q,k,v fused | c_attn */
  ST_ATO_W, ST_ATO_B, /* o_proj | attn.c_proj */
  ST_LN2_W, ST_LN2_B, /* post_attention_layernorm | ln_2 */
  ST_FC_W, ST_FC_B,   /* gate,up fused [2H,C] | c_fc [4C,C] */
  ST_PRJ_W, ST_PRJ_B, /* down_proj | mlp.c_proj */
  ST_NSLOTS
};
/* The op positions of a block, bottom to top: each owns the weight and bias
 * slots of the same name above. QKV, ATO, FC and PRJ are the linear maps,
 * LN1 and LN2 the norms. Backward depth is a position (layer.h); ST_NOPS as a
 * depth means nothing to reach. */
typedef enum {
  ST_OP_LN1, ST_OP_QKV, ST_OP_ATO, ST_OP_LN2, ST_OP_FC, ST_OP_PRJ, ST_NOPS
} st_op;
/* the op position a per-layer slot belongs to */
static inline st_op st_slot_op(int slot) {
  switch (slot) {
  case ST_LN1_W: case ST_LN1_B: return ST_OP_LN1;
  case ST_QKV_W: case ST_QKV_B: return ST_OP_QKV;
  case ST_ATO_W: case ST_ATO_B: return ST_OP_ATO;
  case ST_LN2_W: case ST_LN2_B: return ST_OP_LN2;
  case ST_FC_W: case ST_FC_B: return ST_OP_FC;
  case ST_PRJ_W: case ST_PRJ_B: return ST_OP_PRJ;
  }
  return ST_NOPS;
}
/* the weight slot of an op position */
static inline int st_op_weight_slot(st_op op) {
  static const int w[ST_NOPS] = {ST_LN1_W, ST_QKV_W, ST_ATO_W,
                                 ST_LN2_W, ST_FC_W, ST_PRJ_W};
  return w[op];
}
static inline int st_slot_is_weight(int slot) {
  st_op op = st_slot_op(slot);
  return op != ST_NOPS && slot == st_op_weight_slot(op);
}
static inline int st_op_is_linear(st_op op) {
  return op != ST_OP_LN1 && op != ST_OP_LN2;
}
/* global slots */
enum { ST_WTE, ST_WPE, ST_LNF_W, ST_LNF_B, ST_HEAD, ST_NGLOBAL };

/* where a parameter belongs, for plans */
typedef enum { ST_G_EMBED, ST_G_LAYER, ST_G_FINAL_NORM, ST_G_HEAD } st_group;

/* One named tensor of the checkpoint (HF naming), a row range of a slot. */
typedef struct st_param {
  char name[96];      /* e.g. "model.layers.3.self_attn.q_proj.weight" */
  const char *module; /* short module name: q k v o gate up down attn_norm
                         mlp_norm | c_attn attn.c_proj c_fc mlp.c_proj ln_1
                         ln_2 | embed pos final_norm head */
  st_group group;
  int layer;          /* 0..L-1 for ST_G_LAYER, else -1 */
  int slot;           /* per-layer slot, or global slot for non-layer groups */
  size_t offset;      /* in floats from the start of the flat layout (into
                         st_model.params when the storage is flat) */
  int rows, cols;     /* stored shape; vectors have rows = 1 */
  int row0;           /* first row inside its slot (fused q/k/v, gate/up) */
  int conv1d;         /* checkpoint stores it transposed, [cols, rows] */
  int is_bias;        /* 1-D tensor */
} st_param;

/* Where one named tensor's values are. */
typedef struct st_store {
  st_dtype dt;     /* the dtype they are held in now */
  st_dtype frozen; /* the dtype they are held in while frozen (split) */
  void *data;      /* device [rows, cols] in dt, the stored layout; NULL
                      until written (split storage) */
  int owned;       /* data is this tensor's own allocation */
  int mapped;      /* data lies in a read-only file mapping (in place) */
} st_store;

/* something the model keeps alive for its tensors (a file mapping) */
typedef struct st_keep {
  void *p;
  void (*release)(void *);
} st_keep;

/* the most named tensors one slot holds (q, k, v) */
#define ST_SLOT_TENSORS 3

typedef struct st_model {
  st_config cfg;
  const st_backend *be;
  float *params;   /* flat storage: device, n_params floats; split: NULL */
  size_t n_params;
  size_t *off;     /* [L*ST_NSLOTS + ST_NGLOBAL] offsets in floats */
  size_t *size;    /* same indexing, 0 = absent */
  st_param *tab;   /* the named tensors, in checkpoint order */
  int n_tab;
  st_store *st;    /* [n_tab] where each tensor's values are */
  int *stab;       /* [slots * ST_SLOT_TENSORS] the tab indices of each
                      slot's tensors by row, -1 after the last */
  float **w32;     /* split: [slots] the slot's own fp32 buffer, NULL while
                      its tensors are held one by one */
  float *wscratch; /* split: device scratch a GEMM widens a frozen matrix
                      into, chunk by chunk (weights.c) */
  size_t wscratch_n;
  st_keep *keep;   /* what the tensors in place need kept (mappings) */
  int n_keep;
  char path[ST_PATH_MAX]; /* where it was loaded from, for messages */
  /* the weights' dtype in that file, as torch names it ("float32",
   * "bfloat16", "float16"): what an export writes by default */
  char dtype[12];
  /* LoRA adapters every forward adds (lora.h; NULL: none). Not owned. */
  const struct st_lora *lora;
  /* RoPE (Llama family): device [head_dim/2] inverse frequencies and the
   * factor on cos and sin, from st_rope_freqs at st_model_new */
  float *rope_freq;
  float rope_scale;
} st_model;

/* Creates a model with zeroed parameters on `be` in flat storage;
 * validates cfg, and refuses a sliding window on a backend without one
 * (backend.h). */
int st_model_new(st_model **out, const st_config *cfg, const st_backend *be);
/* The same in two halves, so a loader can check a file's tensors against
 * the layout before a config's claimed sizes cost any memory: the layout
 * (tab, off, size, n_params; params NULL), then the parameters. */
int st_model_layout(st_model **out, const st_config *cfg, const st_backend *be);
int st_model_alloc(st_model *m);
void st_model_free(st_model *m);
int st_config_validate(const st_config *cfg);

/* slot pointers: the slot's fp32 values, NULL when absent or (split
 * storage) while its tensors are held one by one (a frozen weight matrix:
 * read it through weights.h) */
float *st_slot(const st_model *m, int layer, int slot);
size_t st_slot_size(const st_model *m, int layer, int slot);
float *st_global(const st_model *m, int slot);
size_t st_global_size(const st_model *m, int slot);
/* index into off/size */
static inline int st_slot_index(const st_config *c, int layer, int slot) {
  return layer < 0 ? c->n_layers * ST_NSLOTS + slot : layer * ST_NSLOTS + slot;
}

const st_param *st_model_find(const st_model *m, const char *name);
/* Copies a host tensor given in the checkpoint's layout (transposing
 * Conv1D) into the parameter, and back. n = rows*cols must match. Into a
 * tensor held in bf16 or f16 the values are rounded to nearest even; a
 * tensor in place in a file mapping gets its own copy first (the file is
 * never written). Get widens exactly. */
int st_model_set(st_model *m, const st_param *p, const float *host, size_t n);
/* the tensor's shape in the checkpoint ([in, out] for Conv1D); returns
 * its rank */
int st_param_shape(const st_param *p, int64_t *shape);
int st_model_get(const st_model *m, const st_param *p, float *host, size_t n);

/* GPT-2-style init: N(0, 0.02) weights, residual projections scaled by
 * 1/sqrt(2L), norms 1, biases 0. Deterministic in seed. */
void st_model_init_random(st_model *m, uint64_t seed);

/* parameter counts: per layer, and the total */
size_t st_layer_params(const st_model *m, int layer);

/* Inference forward: logits[B,T,V] on the host for tokens tok[B,T] (host).
 * Keeps no activations; used by generate, eval and tests. */
int st_model_logits(st_model *m, const int32_t *tok, int B, int T,
                    float *logits);

#endif
