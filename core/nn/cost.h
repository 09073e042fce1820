/* cost.h - the FLOP model of one transformer block, per token: the one place
 * that counts them. Plans (st_plan_flops, st_plan_layer_bwd), the trace's
 * per-layer wgrad/dgrad FLOPs and the Lua model info all come from here.
 *
 * Counted: each linear map, 2 FLOPs per weight per token in the forward, in
 * its input gradient and in its weight gradient; attention, 4.T.NH.HS per
 * token forward (QK^T and AV over T positions) and twice that backward; LoRA
 * adapters (see st_layer_cost). Norms, activations, RoPE and softmax are
 * elementwise and not counted. Every term is an integer, so the sums are
 * exact in double whatever their order. */
#ifndef ST_COST_H
#define ST_COST_H

#include "model.h"
#include "plan.h"

typedef struct st_layer_flops {
  double fwd;      /* the block's forward: linear maps and attention */
  double lora_fwd; /* its adapters' own forward (not in the full baseline) */
  double dgrad;    /* input gradients, from the top down to `below` */
  double wgrad;    /* weight gradients: trainable tensors and adapters */
} st_layer_flops;

/* Per-token FLOPs of layer l at context T when it trains as lp says and
 * backward reaches down to op position `below` (layer.h): ST_OP_LN1 when the
 * layer's input gradient is needed (above the lowest trainable layer),
 * st_layer_lowest_op() in the lowest trainable layer, ST_NOPS for no
 * backward. Weight gradients count the trainable tensors of the linear maps
 * the backward reaches; input gradients each linear map strictly above
 * `below`, and attention when the gradient into q, k, v is needed (below <=
 * ST_OP_QKV).
 *
 * A LoRA adapter on a module in x out with rank r: forward A x 2r.in and
 * B (Ax) 2r.out (lora_fwd); backward dB += dy^T (Ax) 2r.out, d(Ax) = dy B
 * 2r.out and dA += d(Ax)^T x 2r.in (wgrad), and the input gradient d(Ax) A
 * 2r.in only where the module's input gradient is needed (dgrad). W's own
 * input gradient is counted as for any linear map.
 *
 * Activation checkpointing runs a block's forward twice: its second forward
 * is fwd + lora_fwd of st_layer_cost(..., ST_NOPS) (st_plan_layer_recompute,
 * plan.h). */
st_layer_flops st_layer_cost(const st_model *m, int l, int T,
                             const st_layer_plan *lp, int below);

/* full fine-tuning of every module of layer l with its input gradient (the
 * baseline of st_plan_flops, the trace's wgrad/dgrad FLOPs) */
st_layer_flops st_layer_cost_full(const st_model *m, int l, int T);

#endif
