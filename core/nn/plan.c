/* plan.c - per-layer training modes, their validation, and the plan's FLOP
 * totals (the per-layer cost model is cost.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "error.h"
#include "plan.h"

static const char *llama_modules[] = {"q", "k", "v", "o", "gate", "up",
                                      "down", "attn_norm", "mlp_norm"};
static const char *gpt2_modules[] = {"c_attn", "attn.c_proj", "c_fc",
                                     "mlp.c_proj", "ln_1", "ln_2"};

int st_plan_modules(const st_model *m, const char ***names) {
  if (m->cfg.arch == ST_ARCH_GPT2) {
    *names = gpt2_modules;
    return (int)(sizeof gpt2_modules / sizeof *gpt2_modules);
  }
  *names = llama_modules;
  return (int)(sizeof llama_modules / sizeof *llama_modules);
}

int st_module_index(const st_model *m, const char *name) {
  const char **names;
  int n = st_plan_modules(m, &names);
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], name)) return i;
  return -1;
}

int st_plan_new(st_plan *p, int n_layers) {
  memset(p, 0, sizeof *p);
  p->n_layers = n_layers;
  p->mode = st_calloc((size_t)n_layers, sizeof *p->mode);
  p->modules = st_calloc((size_t)n_layers, sizeof *p->modules);
  p->lora = st_calloc((size_t)n_layers, sizeof *p->lora);
  if (!p->mode || !p->modules || !p->lora) {
    st_plan_free(p);
    return ST_ERR;
  }
  for (int l = 0; l < n_layers; l++) p->modules[l] = ST_ALL_MODULES;
  return ST_OK;
}

void st_plan_free(st_plan *p) {
  free(p->mode);
  free(p->modules);
  free(p->lora);
  memset(p, 0, sizeof *p);
}

int st_plan_copy(st_plan *dst, const st_plan *src) {
  if (st_plan_new(dst, src->n_layers)) return ST_ERR;
  size_t L = (size_t)src->n_layers;
  memcpy(dst->mode, src->mode, L * sizeof *src->mode);
  memcpy(dst->modules, src->modules, L * sizeof *src->modules);
  memcpy(dst->lora, src->lora, L * sizeof *src->lora);
  dst->embed = src->embed;
  dst->final_norm = src->final_norm;
  dst->head = src->head;
  dst->seed = src->seed;
  dst->recompute = src->recompute;
  return ST_OK;
}

static int parse_int(const char *s, const char *spec, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || (*end && *end != ',') || v < -1000000 || v > 1000000)
    return st_err("trainable spec '%s': '%s' is not an integer", spec, s);
  *out = (int)v;
  return ST_OK;
}

int st_plan_parse(st_plan *p, const st_model *m, const char *spec) {
  int L = m->cfg.n_layers;
  if (st_plan_new(p, L)) return ST_ERR;
  if (!strcmp(spec, "all")) {
    for (int l = 0; l < L; l++) p->mode[l] = ST_FULL;
    p->embed = p->final_norm = p->head = 1;
  } else if (!strncmp(spec, "top:", 4)) {
    int k = 0;
    if (parse_int(spec + 4, spec, &k)) goto fail;
    if (k < 1 || k > L) {
      st_err("trainable spec '%s': K must be in 1..%d", spec, L);
      goto fail;
    }
    for (int l = L - k; l < L; l++) p->mode[l] = ST_FULL;
  } else {
    for (const char *s = spec; *s;) {
      int l = 0;
      if (parse_int(s, spec, &l)) goto fail;
      if (l < 0 || l >= L) {
        st_err("trainable spec '%s': layer %d out of range 0..%d", spec, l,
               L - 1);
        goto fail;
      }
      p->mode[l] = ST_FULL;
      s = strchr(s, ',');
      if (!s) break;
      s++;
    }
  }
  if (st_plan_validate(p, m)) goto fail;
  return ST_OK;
fail:
  st_plan_free(p);
  return ST_ERR;
}

static int param_module(const st_model *m, const st_param *q) {
  return q->group == ST_G_LAYER ? st_module_index(m, q->module) : -1;
}

st_layer_plan st_plan_layer(const st_plan *p, int l) {
  st_layer_plan lp = {p->mode[l], p->modules[l],
                      p->mode[l] == ST_LORA ? &p->lora[l] : NULL};
  return lp;
}

int st_layer_param_trainable(const st_model *m, const st_param *q,
                             const st_layer_plan *lp) {
  if (lp->mode != ST_FULL) return 0;
  int i = param_module(m, q);
  return i >= 0 && (lp->modules >> i & 1u);
}

int st_plan_param_trainable(const st_plan *p, const st_model *m,
                            const st_param *q) {
  switch (q->group) {
  case ST_G_EMBED: return p->embed || (m->cfg.tied && p->head);
  case ST_G_FINAL_NORM: return p->final_norm;
  case ST_G_HEAD: return p->head;
  case ST_G_LAYER: {
    st_layer_plan lp = st_plan_layer(p, q->layer);
    return st_layer_param_trainable(m, q, &lp);
  }
  }
  return 0;
}

int st_layer_lowest_op(const st_model *m, int l, const st_layer_plan *lp) {
  int lowest = ST_NOPS;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (q->group != ST_G_LAYER || q->layer != l) continue;
    int k = param_module(m, q);
    int trains = st_layer_param_trainable(m, q, lp) ||
                 (lp->mode == ST_LORA && st_slot_is_weight(q->slot) &&
                  k >= 0 && (lp->lora->modules >> k & 1u));
    int op = st_slot_op(q->slot);
    if (trains && op < lowest) lowest = op;
  }
  return lowest;
}

int st_plan_layer_below(const st_plan *p, const st_model *m, int l) {
  st_layer_plan lp = st_plan_layer(p, l);
  return st_layer_lowest_op(m, l, &lp);
}

int st_plan_lowest(const st_plan *p, const st_model *m) {
  if (p->embed || (m->cfg.tied && p->head)) return -1;
  for (int l = 0; l < p->n_layers; l++)
    if (st_plan_layer_below(p, m, l) < ST_NOPS) return l;
  return m->cfg.n_layers;
}

/* the weight of module k in layer l when it is a linear map (LoRA's
 * targets), else NULL (norms) */
static const st_param *linear_weight(const st_model *m, int l, int k) {
  const char **names;
  st_plan_modules(m, &names);
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (q->group == ST_G_LAYER && q->layer == l && !q->is_bias &&
        (q->slot == ST_QKV_W || q->slot == ST_ATO_W || q->slot == ST_FC_W ||
         q->slot == ST_PRJ_W) && !strcmp(q->module, names[k]))
      return q;
  }
  return NULL;
}

int st_plan_validate(const st_plan *p, const st_model *m) {
  int L = m->cfg.n_layers;
  if (p->n_layers != L)
    return st_err("plan has %d layers but the model has %d", p->n_layers, L);
  const char **names;
  int nmod = st_plan_modules(m, &names);
  st_modmask valid = nmod >= 32 ? ST_ALL_MODULES : ((1u << nmod) - 1u);
  int any = p->embed || p->final_norm || p->head;
  for (int l = 0; l < L; l++) {
    switch (p->mode[l]) {
    case ST_FROZEN: break;
    case ST_FULL:
      if (p->modules[l] != ST_ALL_MODULES && (p->modules[l] & ~valid))
        return st_err("layer %d: module mask 0x%x names modules this "
                      "architecture does not have", l, p->modules[l]);
      if (!(p->modules[l] & valid))
        return st_err("layer %d: mode full with no trainable module", l);
      any = 1;
      break;
    case ST_LORA: {
      const st_lora_spec *s = &p->lora[l];
      if (s->rank < 1) return st_err("layer %d: LoRA rank must be >= 1", l);
      if (!(s->modules & valid) || (s->modules & ~valid))
        return st_err("layer %d: LoRA modules mask 0x%x is empty or names "
                      "unknown modules", l, s->modules);
      for (int k = 0; k < nmod; k++)
        if (s->modules >> k & 1u && !linear_weight(m, l, k))
          return st_err("layer %d: LoRA adapts linear modules; '%s' is a "
                        "norm", l, names[k]);
      if (!(s->alpha > 0) || !(s->alpha < 1e30f))
        return st_err("layer %d: LoRA alpha = %g, expected > 0", l, s->alpha);
      if (!(s->dropout >= 0 && s->dropout < 1))
        return st_err("layer %d: LoRA dropout = %g, expected 0 <= p < 1", l,
                      s->dropout);
      any = 1;
      break;
    }
    default: return st_err("layer %d: unknown mode %d", l, (int)p->mode[l]);
    }
  }
  if (!any) return st_err("plan trains nothing: every layer, the embeddings, "
                          "the final norm and the head are frozen");
  return ST_OK;
}

/* backward FLOPs per token of layer l under the plan (0 below the lowest
 * trainable layer); *lora_fwd gets its adapters' extra forward FLOPs */
double st_plan_layer_bwd(const st_plan *p, const st_model *m, int T, int l,
                         double *lora_fwd) {
  int lowest = st_plan_lowest(p, m);
  if (lora_fwd) *lora_fwd = 0;
  if (l < lowest) return 0;
  st_layer_plan lp = st_plan_layer(p, l);
  /* above the lowest trainable layer the input gradient is needed */
  int below = l > lowest ? ST_OP_LN1 : st_layer_lowest_op(m, l, &lp);
  st_layer_flops c = st_layer_cost(m, l, T, &lp, below);
  if (lora_fwd) *lora_fwd = c.lora_fwd;
  return c.dgrad + c.wgrad;
}

double st_plan_layer_recompute(const st_plan *p, const st_model *m, int T,
                               int l) {
  int lowest = st_plan_lowest(p, m);
  /* the trainer's backward recomputes layers max(lowest, 0) .. L-2 */
  if (!p->recompute || l < lowest || l >= m->cfg.n_layers - 1) return 0;
  st_layer_plan lp = st_plan_layer(p, l);
  st_layer_flops c = st_layer_cost(m, l, T, &lp, ST_NOPS);
  return c.fwd + c.lora_fwd;
}

st_flops st_plan_flops(const st_plan *p, const st_model *m, int T) {
  const st_config *c = &m->cfg;
  int L = c->n_layers;
  double head = 2.0 * c->vocab * c->dim;
  st_flops f = {0};
  /* full: input and weight gradients everywhere */
  for (int l = 0; l < L; l++) {
    st_layer_flops full = st_layer_cost_full(m, l, T);
    f.fwd += full.fwd;
    f.full_bwd += full.dgrad + full.wgrad;
  }
  f.fwd += head;
  f.full_bwd += 2 * head;

  int lowest = st_plan_lowest(p, m);
  if (p->head || (c->tied && p->embed)) f.bwd += head;
  if (lowest < L) f.bwd += head; /* input gradient into the stack */
  for (int l = 0; l < L; l++) {
    double lf;
    f.bwd += st_plan_layer_bwd(p, m, T, l, &lf);
    f.lora_fwd += lf;
    f.recompute_fwd += st_plan_layer_recompute(p, m, T, l);
  }
  f.ideal_ratio = (f.fwd + f.lora_fwd + f.recompute_fwd + f.bwd) /
                  (f.fwd + f.full_bwd);
  return f;
}
