/* cost.c - the per-layer FLOP model (see cost.h). */
#include "cost.h"

st_layer_flops st_layer_cost(const st_model *m, int l, int T,
                             const st_layer_plan *lp, int below) {
  const st_config *c = &m->cfg;
  double att = 4.0 * T * c->n_heads * c->head_dim;
  st_layer_flops f = {0};
  f.fwd = att;
  for (int op = ST_OP_LN1; op < ST_NOPS; op++) {
    if (!st_op_is_linear(op)) continue; /* norms: elementwise, not counted */
    int slot = st_op_weight_slot(op);
    int reached = op >= below; /* backward runs this op */
    int dgrad = op > below;    /* ... and needs the gradient into its input */
    double mm = 2.0 * (double)st_slot_size(m, l, slot);
    f.fwd += mm;
    if (dgrad) f.dgrad += mm;
    /* the named tensors of this slot (q, k, v share one) */
    for (int i = 0; i < m->n_tab; i++) {
      const st_param *q = &m->tab[i];
      if (q->group != ST_G_LAYER || q->layer != l || q->slot != slot) continue;
      if (reached && st_layer_param_trainable(m, q, lp))
        f.wgrad += 2.0 * q->rows * q->cols;
      int k = st_module_index(m, q->module);
      if (lp->mode != ST_LORA || q->is_bias || k < 0 ||
          !(lp->lora->modules >> k & 1u))
        continue;
      double r = lp->lora->rank, in = q->cols, out = q->rows;
      f.lora_fwd += 2 * r * (in + out);
      if (reached) f.wgrad += 2 * r * out + 2 * r * out + 2 * r * in;
      if (dgrad) f.dgrad += 2 * r * in;
    }
  }
  if (below <= ST_OP_QKV) f.dgrad += 2 * att; /* attention backward */
  return f;
}

st_layer_flops st_layer_cost_full(const st_model *m, int l, int T) {
  st_layer_plan full = {ST_FULL, ST_ALL_MODULES, NULL};
  return st_layer_cost(m, l, T, &full, ST_OP_LN1);
}
