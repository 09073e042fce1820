/* train.c - forward, masked backward and AdamW for one model under a plan.
 *
 * The stack is split at k0 = max(lowest_trainable, 0). Blocks below k0 run
 * forward through one shared scratch block and two ping-pong residual
 * buffers, so the frozen prefix costs no activation memory. Blocks from k0
 * up keep their activations and their input h_l for backward. Backward walks
 * from the head down to lowest_trainable and stops there.
 *
 * Checkpointing (plan.recompute): blocks from k0 up keep only their input
 * h_l and share the scratch block; the backward runs block l's forward again
 * from h_l into the scratch just before its backward (the top block's
 * activations are still there from the forward). The same ops on the same
 * inputs give bitwise the same activations, so the gradients do not change.
 *
 * The head runs over R rows at a time (R = N unless N x V logits would pass
 * HEAD_FLOATS): logits, loss and its gradient, the head's weight gradient
 * and the gradient into the final norm, chunk by chunk, so a large
 * vocabulary costs R x V floats of logits instead of N x V. The logits live
 * in the backward scratch (layer.h: its spare span), idle until the first
 * block's backward: memory is the larger of the two, not their sum.
 *
 * Accumulation: a step over K micro-batches runs K forwards and backwards
 * into the same gradients, each micro-batch's loss gradient scaled by 1 /
 * (the K batches' target count), so the sum is the gradient of the mean
 * over all their targets: the update of one batch K times larger.
 *
 * Data parallelism (st_trainer_sync): the counts of targets are summed over
 * the replicas before the first backward and each loss gradient scaled by
 * 1 / (the global count), so the replicas' gradients add up to the global
 * batch's; the sync hears when each group's gradients are complete, and
 * sums them over the replicas before the update.
 *
 * Storage (weights.h): with a split-storage model, each plan widens the
 * matrix slots it trains to fp32 (exactly: AdamW updates fp32 masters) and
 * narrows those it freezes back to their frozen dtype, so a frozen layer
 * keeps its weights in bf16 or f16 and the GEMMs widen them as they go.
 *
 * Fused updates (st_trainer_set_fused): AdamW runs on each block's tensors
 * as soon as the backward has finished their gradients, before it moves on
 * down, so the blocks' gradients share one block-sized pool instead of one
 * buffer per tensor: full fine-tuning holds 12 bytes per trainable weight
 * plus one block's gradients instead of 16. Nothing below a block reads
 * its weights, so the update is bitwise the unfused one. It needs the
 * gradient norm of no other tensor first: no clipping, one micro-batch, no
 * sums over replicas. Global tensors (embeddings, which a tied head also
 * feeds first, the final norm) and adapters update after the backward.
 *
 * LoRA: the trainer owns an adapter set that follows its plans (lora.h) and
 * is attached to the model while the trainer lives, so evaluation and
 * generation during a run see the adapters. Only A and B of adapters that
 * train get gradients and AdamW state; the adapted W stays frozen. An
 * adapter whose layer leaves LoRA mode stays in the model, frozen. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "layer.h"
#include "lora.h"
#include "train.h"
#include "weights.h"

/* the most logits floats held at once (128 MiB) */
#define HEAD_FLOATS (1L << 25)

struct st_trainer {
  st_model *m;
  const st_backend *be;
  st_plan plan;
  int B, T, N;
  int R;               /* head rows per chunk; logits are [R,V] */
  int lowest, k0;
  int recompute;       /* plan.recompute: acts[] unused, scratch is every block's */
  int *below;          /* [L] backward depth per block (layer.h) */
  /* activations (reallocated by set_plan) */
  st_acts *acts;       /* [L], allocated for l >= k0 */
  st_acts scratch;     /* the frozen prefix's block, when k0 > 0 */
  float **h;           /* [L+1] residual stream; h[l] kept for l >= k0 */
  float *pp[2];        /* ping-pong residual for the prefix */
  float *lnf, *lnf_mean, *lnf_rstd, *losses, *dres; /* logits: bs.dact on */
  int32_t *tok, *tgt;  /* device */
  st_bwd_scratch bs;
  /* per named tensor (m->tab): gradient and AdamW state, trainable only */
  float **grad, **m1, **m2; /* m1[i] set: tensor i trains */
  int *t_adam;         /* per-tensor step count for bias correction */
  int fused;           /* AdamW per block during the backward (see the top) */
  float *pool;         /* fused: the blocks' gradients, one block at a time */
  size_t pool_n;       /* its floats */
  const st_optim *fopt; /* fused: the running step's settings */
  double fused_ss;     /* fused: sum of squares of the gradients applied */
  int fused_bad;       /* fused: a block's gradient was not finite */
  st_layer_grads *lg;  /* [L] views of grad into the block's slots */
  int broken;          /* a plan change failed half-way: refuse to go on */
  st_lora *lora;       /* adapters (NULL until a plan has LoRA layers) */
  int steps;
  st_trainer_sync sync; /* data parallelism; zeroed: none */
  int last_micro;      /* the step's last micro-batch runs: gradients complete */
};

st_optim st_optim_default(void) {
  return (st_optim){1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f};
}

static size_t param_n(const st_param *q) { return (size_t)q->rows * q->cols; }

static void free_acts(st_trainer *t) {
  const st_backend *be = t->be;
  int L = t->m->cfg.n_layers;
  for (int l = 0; l < L; l++) st_acts_free(&t->acts[l], be);
  st_acts_free(&t->scratch, be);
  for (int l = 0; l <= L; l++)
    if (t->h[l]) be->free(t->h[l]), t->h[l] = NULL;
  for (int i = 0; i < 2; i++)
    if (t->pp[i]) be->free(t->pp[i]), t->pp[i] = NULL;
}

static int alloc_acts(st_trainer *t) {
  const st_backend *be = t->be;
  int L = t->m->cfg.n_layers;
  size_t NC = (size_t)t->N * t->m->cfg.dim * sizeof(float);
  for (int l = t->k0; l < L && !t->recompute; l++) {
    if (st_acts_alloc_layer(&t->acts[l], t->m, l, t->B, t->T)) return ST_ERR;
    t->acts[l].train = 1;
    t->acts[l].drop_buf = t->bs.lora_tmp;
  }
  for (int l = t->k0; l <= L; l++)
    if (!(t->h[l] = be->alloc(NC))) return ST_ERR;
  if (t->k0 > 0 || t->recompute) {
    if (st_acts_alloc(&t->scratch, t->m, t->B, t->T)) return ST_ERR;
    /* adapters below k0 never train, so a training forward is the same
     * there; from k0 up, those that train draw dropout */
    t->scratch.train = t->recompute;
    t->scratch.drop_buf = t->recompute ? t->bs.lora_tmp : NULL;
  }
  if (t->k0 > 0)
    for (int i = 0; i < 2; i++)
      if (!(t->pp[i] = be->alloc(NC))) return ST_ERR;
  return ST_OK;
}

/* where block l's activations live during a step (l >= k0) */
static st_acts *block_acts(st_trainer *t, int l) {
  return t->recompute ? &t->scratch : &t->acts[l];
}

/* Rebuilds the gradient views of the blocks from the per-tensor buffers. */
static void build_views(st_trainer *t) {
  const st_model *m = t->m;
  int L = m->cfg.n_layers;
  memset(t->lg, 0, (size_t)L * sizeof *t->lg);
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    if (q->group != ST_G_LAYER) continue;
    st_layer_grads *g = &t->lg[q->layer];
    size_t rel = q->offset - m->off[st_slot_index(&m->cfg, q->layer, q->slot)];
    st_grad_view v = {t->grad[i], 0, 0};
    if (q->is_bias) {
      v.row0 = (int)rel;
      v.rows = q->cols * q->rows;
    } else {
      v.row0 = (int)(rel / (size_t)q->cols);
      v.rows = q->rows;
    }
    g->v[q->slot][g->nv[q->slot]++] = v;
  }
}

/* Attaches the adapters to the model and sizes the buffers that depend on
 * them: backward scratch and activations. */
static int attach_lora(st_trainer *t) {
  if (t->lora && st_lora_attach(t->m, t->lora->n ? t->lora : NULL)) return ST_ERR;
  st_bwd_scratch_free(&t->bs, t->be);
  if (st_bwd_scratch_alloc(&t->bs, t->m, t->B, t->T,
                           (size_t)t->R * t->m->cfg.vocab))
    return ST_ERR;
  free_acts(t);
  return alloc_acts(t);
}

/* The model's storage follows plan p: matrix slots with a trainable tensor
 * in fp32, the others in their frozen dtype (narrowed first, so the
 * memory they free is there for the widening). */
static int follow_plan(st_model *m, const st_plan *p) {
  int ns = m->cfg.n_layers * ST_NSLOTS + ST_NGLOBAL;
  char *train = st_calloc((size_t)ns, 1);
  if (!train) return ST_ERR;
  for (int i = 0; i < m->n_tab; i++)
    if (st_plan_param_trainable(p, m, &m->tab[i]))
      train[st_slot_index(&m->cfg, m->tab[i].layer, m->tab[i].slot)] = 1;
  int rc = ST_OK;
  for (int pass = 0; pass < 2 && rc == ST_OK; pass++)
    for (int i = 0; i < m->n_tab && rc == ST_OK; i++) {
      const st_param *q = &m->tab[i];
      if (train[st_slot_index(&m->cfg, q->layer, q->slot)] != pass) continue;
      rc = pass ? st_slot_widen(m, q->layer, q->slot)
                : st_slot_narrow(m, q->layer, q->slot);
    }
  free(train);
  return rc;
}

/* is tensor i's gradient a view into the fused pool? */
static int pooled(const st_trainer *t, int i) {
  return t->fused && t->m->tab[i].group == ST_G_LAYER;
}

static void free_grads(st_trainer *t) {
  for (int i = 0; i < t->m->n_tab; i++) {
    if (t->grad[i] && !pooled(t, i)) t->be->free(t->grad[i]);
    t->grad[i] = NULL;
  }
  if (t->pool) t->be->free(t->pool);
  t->pool = NULL;
  t->pool_n = 0;
}

/* Gradient buffers (zeroed) for the tensors that train (m1[i] set): each
 * its own, or, fused, the blocks' tensors at their offsets in one pool as
 * large as the largest block's share. */
static int alloc_grads(st_trainer *t) {
  const st_model *m = t->m;
  int L = m->cfg.n_layers;
  size_t *used = st_calloc((size_t)L, sizeof *used), most = 0;
  if (!used) return ST_ERR;
  size_t *off = st_calloc((size_t)m->n_tab, sizeof *off);
  if (!off) {
    free(used);
    return ST_ERR;
  }
  for (int i = 0; i < m->n_tab; i++) {
    if (!t->m1[i] || !pooled(t, i)) continue;
    int l = m->tab[i].layer;
    off[i] = used[l];
    used[l] += param_n(&m->tab[i]);
    if (used[l] > most) most = used[l];
  }
  int rc = ST_OK; /* backend memory comes zero-filled */
  if (most && !(t->pool = t->be->alloc(most * sizeof(float)))) rc = ST_ERR;
  if (t->pool) t->pool_n = most;
  for (int i = 0; i < m->n_tab && rc == ST_OK; i++) {
    if (!t->m1[i]) continue;
    if (pooled(t, i))
      t->grad[i] = t->pool + off[i];
    else if (!(t->grad[i] = t->be->alloc(param_n(&m->tab[i]) * sizeof(float))))
      rc = ST_ERR;
  }
  free(used);
  free(off);
  return rc;
}

/* set_plan's answer for a plan refused before anything changed */
#define REFUSED 1
static int set_plan(st_trainer *t, const st_plan *plan);

/* A plan change that fails after it started changing buffers leaves views,
 * activations and state that no longer agree; the trainer then refuses
 * every further call instead of touching freed memory. */
int st_trainer_set_plan(st_trainer *t, const st_plan *plan) {
  if (t->broken)
    return st_err("trainer: unusable after a failed plan change");
  if (st_plan_validate(plan, t->m)) return ST_ERR;
  int rc = set_plan(t, plan);
  if (rc == ST_OK) return ST_OK;
  if (rc == REFUSED) return ST_ERR; /* nothing was changed */
  t->broken = 1;
  return st_err_prefix("plan change failed, the trainer is unusable: ");
}

static int set_plan(st_trainer *t, const st_plan *plan) {
  st_model *m = t->m;
  const st_backend *be = t->be;
  int has_lora = 0;
  for (int l = 0; l < plan->n_layers; l++) has_lora |= plan->mode[l] == ST_LORA;
  /* the one refusal that needs the adapters: a rank change */
  if (t->lora && st_lora_check_plan(t->lora, plan)) return REFUSED;
  if (has_lora && !t->lora && st_lora_new(&t->lora, m, plan->seed)) return ST_ERR;
  if (t->lora && st_lora_apply_plan(t->lora, plan)) return ST_ERR;
  st_plan np;
  if (st_plan_copy(&np, plan)) return ST_ERR;
  if (follow_plan(m, &np)) {
    st_plan_free(&np);
    return ST_ERR;
  }
  /* moments of tensors that stay trainable are kept; new ones start at 0 */
  for (int i = 0; i < m->n_tab; i++) {
    int want = st_plan_param_trainable(&np, m, &m->tab[i]);
    if (want && !t->m1[i]) {
      size_t bytes = param_n(&m->tab[i]) * sizeof(float);
      if (!(t->m1[i] = be->alloc(bytes)) || !(t->m2[i] = be->alloc(bytes))) {
        st_plan_free(&np);
        return ST_ERR;
      }
      t->t_adam[i] = 0;
    } else if (!want && t->m1[i]) {
      be->free(t->m1[i]);
      be->free(t->m2[i]);
      t->m1[i] = t->m2[i] = NULL;
    }
  }
  free_grads(t);
  if (alloc_grads(t)) {
    st_plan_free(&np);
    return ST_ERR;
  }
  st_plan_free(&t->plan);
  t->plan = np;
  int L = m->cfg.n_layers;
  t->lowest = st_plan_lowest(&t->plan, m);
  t->k0 = t->lowest < 0 ? 0 : t->lowest;
  t->recompute = t->plan.recompute != 0;
  for (int l = 0; l < L; l++)
    t->below[l] =
        l > t->lowest ? ST_OP_LN1 : st_plan_layer_below(&t->plan, m, l);
  build_views(t);
  return attach_lora(t);
}

static int head_rows(const st_config *c, int N) {
  long r = HEAD_FLOATS / c->vocab;
  return r >= N ? N : r > 0 ? (int)r : 1;
}

int st_trainer_new(st_trainer **out, st_model *m, const st_plan *plan, int B,
                   int T) {
  return st_trainer_new_fused(out, m, plan, B, T, 0);
}

int st_trainer_new_fused(st_trainer **out, st_model *m, const st_plan *plan,
                         int B, int T, int fused) {
  const st_config *c = &m->cfg;
  const st_backend *be = m->be;
  if (B < 1 || T < 1 || T > c->max_seq)
    return st_err("trainer: batch %dx%d invalid (context is %d)", B, T,
                  c->max_seq);
  /* positions are counted in int (kernels, the batcher) */
  if ((long long)B * T > INT_MAX)
    return st_err("trainer: batch %d x %d = %lld positions; at most %d fit in "
                  "one batch", B, T, (long long)B * T, INT_MAX);
  st_trainer *t = st_calloc(1, sizeof *t);
  if (!t) return ST_ERR;
  t->m = m;
  t->be = be;
  t->fused = fused != 0;
  t->B = B;
  t->T = T;
  t->N = B * T;
  t->R = head_rows(c, t->N);
  int L = c->n_layers, n = m->n_tab;
  size_t N = (size_t)t->N, C = c->dim;
  t->below = st_calloc((size_t)L, sizeof *t->below);
  t->acts = st_calloc((size_t)L, sizeof *t->acts);
  t->h = st_calloc((size_t)L + 1, sizeof *t->h);
  t->lg = st_calloc((size_t)L, sizeof *t->lg);
  t->grad = st_calloc((size_t)n, sizeof *t->grad);
  t->m1 = st_calloc((size_t)n, sizeof *t->m1);
  t->m2 = st_calloc((size_t)n, sizeof *t->m2);
  t->t_adam = st_calloc((size_t)n, sizeof *t->t_adam);
  if (!t->below || !t->acts || !t->h || !t->lg || !t->grad || !t->m1 ||
      !t->m2 || !t->t_adam)
    goto fail;
  if (!(t->lnf = be->alloc(N * C * sizeof(float))) ||
      !(t->lnf_mean = be->alloc(N * sizeof(float))) ||
      !(t->lnf_rstd = be->alloc(N * sizeof(float))) ||
      !(t->losses = be->alloc(N * sizeof(float))) ||
      !(t->dres = be->alloc(N * C * sizeof(float))) ||
      !(t->tok = be->alloc(N * sizeof(int32_t))) ||
      !(t->tgt = be->alloc(N * sizeof(int32_t))))
    goto fail;
  if (st_trainer_set_plan(t, plan)) goto fail;
  *out = t;
  return ST_OK;
fail:
  st_trainer_free(t);
  return ST_ERR;
}

void st_trainer_free(st_trainer *t) {
  if (!t) return;
  const st_backend *be = t->be;
  if (t->acts && t->h) free_acts(t);
  if (t->grad && t->m1) free_grads(t);
  for (int i = 0; t->m1 && i < t->m->n_tab; i++) {
    if (t->m1[i]) be->free(t->m1[i]);
    if (t->m2[i]) be->free(t->m2[i]);
  }
  float *bufs[] = {t->lnf, t->lnf_mean, t->lnf_rstd, t->losses, t->dres};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if (bufs[i]) be->free(bufs[i]);
  if (t->tok) be->free(t->tok);
  if (t->tgt) be->free(t->tgt);
  st_bwd_scratch_free(&t->bs, be);
  if (t->lora && t->m->lora == t->lora) t->m->lora = NULL;
  st_lora_free(t->lora);
  st_plan_free(&t->plan);
  free(t->below);
  free(t->acts);
  free(t->h);
  free(t->lg);
  free(t->grad);
  free(t->m1);
  free(t->m2);
  free(t->t_adam);
  free(t);
}

const st_plan *st_trainer_plan(const st_trainer *t) { return &t->plan; }
int st_trainer_steps_done(const st_trainer *t) { return t->steps; }

/* gradient buffer of a global slot's tensor, or NULL */
static float *global_grad(const st_trainer *t, int slot) {
  const st_model *m = t->m;
  for (int i = 0; i < m->n_tab; i++)
    if (m->tab[i].group != ST_G_LAYER && m->tab[i].slot == slot)
      return t->grad[i];
  return NULL;
}

static void forward(st_trainer *t) {
  const st_model *m = t->m;
  int L = m->cfg.n_layers, B = t->B, T = t->T;
  float *x = t->k0 == 0 ? t->h[0] : t->pp[0];
  st_embed(m, x, t->tok, B, T);
  for (int l = 0; l < L; l++) {
    if (l < t->k0) {
      float *y = l + 1 == t->k0 ? t->h[t->k0] : t->pp[(l + 1) & 1];
      st_layer_fwd(m, l, &t->scratch, x, y, B, T);
      x = y;
    } else {
      st_layer_fwd(m, l, block_acts(t, l), t->h[l], t->h[l + 1], B, T);
    }
  }
  st_final_norm(m, t->lnf, t->lnf_mean, t->lnf_rstd, t->h[L], t->N);
}

/* does the backward go below the head (into the final norm)? */
static int below_head(const st_trainer *t) {
  return t->lowest < t->m->cfg.n_layers || global_grad(t, ST_LNF_W);
}

/* The head chunk by chunk (see the top): losses[N], the head's weight
 * gradient, and dL/d(final norm output) into bs.dln when the backward goes
 * on; dscale scales the loss gradient. Returns the sum of the losses. */
static double head(st_trainer *t, float dscale) {
  const st_model *m = t->m;
  const st_config *c = &m->cfg;
  const st_backend *be = t->be;
  int N = t->N, C = c->dim, V = c->vocab, on = below_head(t);
  float *dhead = global_grad(t, c->tied ? ST_WTE : ST_HEAD);
  float *logits = t->bs.dact; /* [R,V] in the idle backward scratch */
  for (int r0 = 0; r0 < N; r0 += t->R) {
    int n = N - r0 < t->R ? N - r0 : t->R;
    const float *x = t->lnf + (size_t)r0 * C;
    st_head_fwd(m, logits, x, n);
    /* logits become dL/dlogits */
    be->softmax_ce(t->losses + r0, logits, t->tgt + r0, n, V, dscale);
    if (dhead)
      be->gemm(1, 0, V, C, n, 1.0f, logits, V, x, C, 1.0f, dhead, C);
    if (on)
      st_wgemm(m, -1, st_head_slot(m), 0, n, 1.0f, logits, V, 0.0f,
               t->bs.dln + (size_t)r0 * C, C);
  }
  return be->sum(t->losses, (size_t)N);
}

/* group g's gradients are complete for the step (train.h: st_trainer_sync) */
static void grads_ready(st_trainer *t, int g) {
  if (t->sync.ready && t->last_micro) t->sync.ready(t->sync.ctx, g);
}

/* Fused: AdamW on block l's tensors, whose gradients are complete, then
 * their pool space zeroed for the block below. A block whose gradient is
 * not finite stops every update from there on (fused_bad). */
static void fused_update(st_trainer *t, int l) {
  const st_model *m = t->m;
  const st_backend *be = t->be;
  const st_optim *o = t->fopt;
  if (t->fused_bad) return;
  double ss = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (t->m1[i] && m->tab[i].layer == l && pooled(t, i))
      ss += be->sumsq(t->grad[i], param_n(&m->tab[i]));
  t->fused_ss += ss;
  if (!isfinite(ss)) {
    t->fused_bad = 1;
    return;
  }
  for (int i = 0; i < m->n_tab; i++) {
    if (!t->m1[i] || m->tab[i].layer != l || !pooled(t, i)) continue;
    size_t n = param_n(&m->tab[i]);
    be->adamw(st_param_f32(m, &m->tab[i]), t->grad[i], t->m1[i], t->m2[i], n,
              o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
              ++t->t_adam[i]);
    be->zero(t->grad[i], n * sizeof(float));
  }
}

static void backward(st_trainer *t) {
  const st_model *m = t->m;
  const st_config *c = &m->cfg;
  const st_backend *be = t->be;
  int L = c->n_layers, N = t->N, C = c->dim;
  /* head() left dL/d(final norm output) in bs.dln */
  if (!below_head(t)) {
    grads_ready(t, L);
    return;
  }
  be->zero(t->dres, (size_t)N * C * sizeof(float));
  if (c->arch == ST_ARCH_GPT2)
    be->layernorm_bwd(t->dres, global_grad(t, ST_LNF_W),
                      global_grad(t, ST_LNF_B), t->bs.dln, t->h[L],
                      st_global(m, ST_LNF_W), t->lnf_mean, t->lnf_rstd, N, C);
  else
    be->rmsnorm_bwd(t->dres, global_grad(t, ST_LNF_W), t->bs.dln, t->h[L],
                    st_global(m, ST_LNF_W), t->lnf_rstd, N, C);
  grads_ready(t, L);
  for (int l = L - 1; l >= 0 && l >= t->lowest; l--) {
    /* h[l+1] is no longer needed: the forward again writes the same values */
    if (t->recompute && l < L - 1)
      st_layer_fwd(m, l, &t->scratch, t->h[l], t->h[l + 1], t->B, t->T);
    st_layer_bwd(m, l, block_acts(t, l), t->h[l], t->dres, &t->lg[l],
                 t->below[l], &t->bs, t->B, t->T);
    grads_ready(t, l);
    if (t->fopt) fused_update(t, l);
  }
  if (t->lowest < 0) {
    be->embed_bwd(global_grad(t, ST_WTE), global_grad(t, ST_WPE), t->dres,
                  t->tok, t->B, t->T, C);
    grads_ready(t, -1);
  }
}

/* Forward and backward of one micro-batch, host tok/tgt [B,T] with nvalid
 * loss-bearing targets, of a step with `total` of them; adds its summed
 * token losses to *sum. */
static int micro_step(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                      long nvalid, long total, double *sum) {
  const st_backend *be = t->be;
  if (!nvalid) return ST_OK; /* no loss, no gradient: nothing to run */
  be->upload(t->tok, tok, (size_t)t->N * sizeof *tok);
  be->upload(t->tgt, tgt, (size_t)t->N * sizeof *tgt);
  forward(t);
  double s = head(t, 1.0f / (float)total);
  *sum += s;
  /* the head's gradients may hold non-finite values now: a failed step
   * zeroes every gradient (st_trainer_step) */
  if (!isfinite(s)) return ST_ERR; /* the caller reports the loss */
  backward(t);
  return ST_OK;
}

/* forward + masked backward of K micro-batches [K*B,T] (see the top) */
static int fwdbwd_k(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                    int K, float *loss) {
  if (t->broken) return st_err("trainer: unusable after a failed plan change");
  if (K < 1) return st_err("accumulate: %d micro-batches, expected >= 1", K);
  const st_config *c = &t->m->cfg;
  size_t N = (size_t)t->N;
  /* every micro-batch is checked and counted before the first backward;
   * nvalid[K + k]: micro-batch k's count over every replica (the sync's) */
  long *nvalid = st_calloc(2 * (size_t)K, sizeof *nvalid), total = 0;
  if (!nvalid) return ST_ERR;
  for (size_t i = 0; i < (size_t)K * N; i++) {
    if (tok[i] < 0 || tok[i] >= c->vocab) {
      free(nvalid);
      return st_err("token id %d at position %zu is outside the vocabulary "
                    "(0..%d)", tok[i], i, c->vocab - 1);
    }
    if (tgt[i] >= c->vocab) {
      free(nvalid);
      return st_err("target id %d at position %zu is outside the vocabulary",
                    tgt[i], i);
    }
    nvalid[i / N] += tgt[i] >= 0;
  }
  long *global = nvalid + K;
  memcpy(global, nvalid, (size_t)K * sizeof *nvalid);
  if (t->sync.targets && t->sync.targets(t->sync.ctx, global, K)) {
    free(nvalid);
    return ST_ERR;
  }
  for (int k = 0; k < K; k++) total += global[k];
  if (!total) {
    free(nvalid);
    return st_err(K > 1 ? "none of the %d micro-batches has a loss-bearing "
                          "token" : "batch has no loss-bearing tokens", K);
  }
  double sum = 0;
  int rc = ST_OK;
  for (int k = 0; k < K && rc == ST_OK; k++) {
    t->last_micro = k == K - 1;
    rc = micro_step(t, tok + k * N, tgt + k * N, nvalid[k], total, &sum);
    /* the next training forward draws fresh dropout masks (a micro-batch
     * that trained on any replica counts, so the replicas agree) */
    for (int i = 0; rc == ST_OK && global[k] && t->lora && i < t->lora->n; i++)
      if (t->lora->a[i].train) t->lora->a[i].draws++;
  }
  t->last_micro = 0;
  free(nvalid);
  if (rc == ST_OK && t->sync.finish && t->sync.finish(t->sync.ctx, &sum))
    return ST_ERR;
  *loss = (float)(sum / total);
  if (rc || !isfinite(*loss)) return st_err("loss is %g (not finite)", *loss);
  return ST_OK;
}

int st_trainer_fwdbwd(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                      float *loss) {
  if (t->fused)
    return st_err("trainer: fused updates keep no gradients to inspect; "
                  "step with st_trainer_step");
  return fwdbwd_k(t, tok, tgt, 1, loss);
}

int st_trainer_set_fused(st_trainer *t, int on) {
  if (t->broken) return st_err("trainer: unusable after a failed plan change");
  if ((on != 0) == t->fused) return ST_OK;
  free_grads(t);
  t->fused = on != 0;
  if (alloc_grads(t)) {
    t->broken = 1;
    return st_err_prefix("fused updates: ");
  }
  build_views(t);
  return ST_OK;
}

/* sizes of an adapter's A and B */
static size_t lora_na(const st_trainer *t, const st_adapter *a) {
  return (size_t)a->rank * t->m->tab[a->param].cols;
}
static size_t lora_nb(const st_trainer *t, const st_adapter *a) {
  return (size_t)t->m->tab[a->param].rows * a->rank;
}

int st_trainer_zero_grad(st_trainer *t) {
  /* the pool once, not once per block whose views share it */
  if (t->pool) t->be->zero(t->pool, t->pool_n * sizeof(float));
  for (int i = 0; i < t->m->n_tab; i++)
    if (t->grad[i] && !pooled(t, i))
      t->be->zero(t->grad[i], param_n(&t->m->tab[i]) * sizeof(float));
  for (int i = 0; t->lora && i < t->lora->n; i++) {
    const st_adapter *a = &t->lora->a[i];
    if (!a->train) continue;
    t->be->zero(a->dA, lora_na(t, a) * sizeof(float));
    t->be->zero(a->dB, lora_nb(t, a) * sizeof(float));
  }
  return ST_OK;
}

int st_trainer_update(st_trainer *t, const st_optim *o, float *grad_norm) {
  if (t->broken) return st_err("trainer: unusable after a failed plan change");
  const st_model *m = t->m;
  const st_backend *be = t->be;
  /* fused: the blocks' tensors were updated during the backward */
  double ss = t->fused_ss;
  for (int i = 0; i < m->n_tab; i++)
    if (t->grad[i] && !pooled(t, i))
      ss += be->sumsq(t->grad[i], param_n(&m->tab[i]));
  for (int i = 0; t->lora && i < t->lora->n; i++) {
    const st_adapter *a = &t->lora->a[i];
    if (a->train)
      ss += be->sumsq(a->dA, lora_na(t, a)) + be->sumsq(a->dB, lora_nb(t, a));
  }
  float norm = (float)sqrt(ss);
  if (grad_norm) *grad_norm = norm;
  if (!isfinite(norm)) {
    st_trainer_zero_grad(t);
    if (t->fused) {
      /* blocks above the bad one are updated already: no way back */
      t->broken = 1;
      return st_err("gradient norm is %g (not finite); with fused updates the "
                    "blocks above the first non-finite gradient were updated, "
                    "so the trainer stops here", norm);
    }
    return st_err("gradient norm is %g (not finite); the weights were not updated", norm);
  }
  float s = o->grad_clip > 0 && norm > o->grad_clip ? o->grad_clip / norm : 1;
  for (int i = 0; i < m->n_tab; i++) {
    if (!t->grad[i] || pooled(t, i)) continue;
    size_t n = param_n(&m->tab[i]);
    if (s != 1) be->scale(t->grad[i], s, n);
    be->adamw(st_param_f32(m, &m->tab[i]), t->grad[i], t->m1[i], t->m2[i], n,
              o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
              ++t->t_adam[i]);
  }
  /* adapters: A and B share one step count */
  for (int i = 0; t->lora && i < t->lora->n; i++) {
    st_adapter *a = &t->lora->a[i];
    if (!a->train) continue;
    size_t na = lora_na(t, a), nb = lora_nb(t, a);
    if (s != 1) be->scale(a->dA, s, na), be->scale(a->dB, s, nb);
    a->adam_t++;
    be->adamw(a->A, a->dA, a->mA, a->vA, na, o->lr, o->beta1, o->beta2, o->eps,
              o->weight_decay, a->adam_t);
    be->adamw(a->B, a->dB, a->mB, a->vB, nb, o->lr, o->beta1, o->beta2, o->eps,
              o->weight_decay, a->adam_t);
  }
  t->steps++;
  return st_trainer_zero_grad(t);
}

int st_trainer_step(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                    const st_optim *o, float *loss, float *grad_norm) {
  return st_trainer_step_k(t, tok, tgt, 1, o, loss, grad_norm);
}

int st_trainer_step_k(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                      int K, const st_optim *o, float *loss, float *grad_norm) {
  int step = t->steps + 1;
  float l = 0, gn = NAN; /* l stays finite when the forward never ran */
  int rc = ST_OK;
  if (!(o->lr >= 0 && isfinite(o->lr)))
    rc = st_err("step %d: lr %g: expected a finite number >= 0", step, o->lr);
  else if (t->fused && (o->grad_clip > 0 || K > 1 || t->sync.finish))
    rc = st_err("step %d: fused updates need no gradient clipping, one "
                "micro-batch and one process (got clip %g, %d micro-batches%s)",
                step, o->grad_clip, K, t->sync.finish ? ", several replicas" : "");
  else {
    t->fopt = t->fused ? o : NULL; /* the backward updates the blocks */
    t->fused_ss = 0;
    t->fused_bad = 0;
    if (fwdbwd_k(t, tok, tgt, K, &l))
      rc = isfinite(l) ? st_err_prefix("step %d: ", step)
                       : st_err("step %d: loss is %s; the weights were not "
                                "updated (lower lr?)", step, isnan(l) ? "nan" : "inf");
    else if (st_trainer_update(t, o, &gn))
      rc = st_err_prefix("step %d: ", step);
    t->fopt = NULL;
    t->fused_ss = 0;
  }
  /* a failed step leaves no half-accumulated gradient behind */
  if (rc && !t->broken) st_trainer_zero_grad(t);
  if (loss) *loss = l;
  if (grad_norm) *grad_norm = gn;
  return rc;
}

int st_trainer_grad(const st_trainer *t, const st_param *p, float *host,
                    size_t n) {
  const st_model *m = t->m;
  long i = p - m->tab;
  if (i < 0 || i >= m->n_tab) return st_err("%s: not a model parameter", p->name);
  if (!t->grad[i]) return st_err("%s: frozen under this plan (no gradient)", p->name);
  if (pooled(t, (int)i))
    return st_err("%s: fused updates keep no block gradients", p->name);
  size_t pn = param_n(p);
  if (n != pn) return st_err("%s: has %zu elements, not %zu", p->name, pn, n);
  if (!p->conv1d) {
    t->be->download(host, t->grad[i], pn * sizeof(float));
    return ST_OK;
  }
  float *tmp = st_malloc(pn * sizeof(float));
  if (!tmp) return ST_ERR;
  t->be->download(tmp, t->grad[i], pn * sizeof(float));
  /* stored [rows=out, cols=in]; checkpoint layout is [in, out] */
  for (int r = 0; r < p->rows; r++)
    for (int c = 0; c < p->cols; c++)
      host[(size_t)c * p->rows + r] = tmp[(size_t)r * p->cols + c];
  free(tmp);
  return ST_OK;
}

/* Floats of what a step holds per token position: block activations, the
 * kept block inputs, the prefix's buffers, the head's (final norm, logits,
 * losses, the residual gradient), the backward scratch and the adapters'
 * A·x (ranks: their sum over the blocks from k0 up; widest: the largest
 * sum of one block) and scratch. */
static size_t act_floats(const st_config *c, int B, int T, int k0,
                         int recompute, size_t ranks, size_t widest,
                         size_t max_rank, size_t max_in) {
  size_t N = (size_t)B * T, C = c->dim, fl = 0, R = (size_t)head_rows(c, B * T);
  int L = c->n_layers;
  size_t acts = st_acts_floats(c, B, T);
  int blocks = recompute ? 0 : L - k0; /* acts[l] */
  int shared = k0 > 0 || recompute;    /* the scratch block */
  fl += (size_t)(blocks + shared) * acts + (size_t)(L + 1 - k0) * N * C;
  if (k0 > 0) fl += 2 * N * C;
  fl += N * C + 2 * N + N + N * C; /* head, less its logits */
  /* bs: dln, then the larger of the blocks' scratch and the logits */
  size_t rest = N * ((size_t)c->hidden + (size_t)c->n_heads * c->head_dim +
                     st_qkv_dim(c) + max_rank + max_in);
  fl += N * C + (rest > R * (size_t)c->vocab ? rest : R * (size_t)c->vocab);
  fl += N * ((recompute ? 0 : ranks) + (shared ? widest : 0));
  return fl;
}

size_t st_trainer_act_bytes(const st_trainer *t) {
  size_t ranks = 0;
  for (int l = t->k0; t->lora && l < t->m->cfg.n_layers; l++)
    ranks += (size_t)st_lora_layer_ranks(t->lora, l);
  return sizeof(float) *
         act_floats(&t->m->cfg, t->B, t->T, t->k0, t->recompute, ranks,
                    (size_t)st_lora_layer_ranks(t->lora, -1),
                    (size_t)st_lora_max_rank(t->lora),
                    (size_t)st_lora_max_in(t->lora));
}

/* floats of the fused gradient pool under plan p (NULL: not fused) */
static size_t pool_floats(const st_model *m, const st_plan *p) {
  size_t most = 0;
  for (int l = 0; p && l < m->cfg.n_layers; l++) {
    size_t n = 0;
    for (int i = 0; i < m->n_tab; i++)
      if (m->tab[i].layer == l && m->tab[i].group == ST_G_LAYER &&
          st_plan_param_trainable(p, m, &m->tab[i]))
        n += param_n(&m->tab[i]);
    if (n > most) most = n;
  }
  return most;
}

size_t st_trainer_estimate_bytes(const st_model *m, const st_plan *p, int B,
                                 int T, int fused) {
  const st_config *c = &m->cfg;
  int lowest = st_plan_lowest(p, m), k0 = lowest < 0 ? 0 : lowest;
  size_t fl = fused ? pool_floats(m, p) : 0;
  size_t ranks = 0, widest = 0, max_rank = 0, max_in = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (st_plan_param_trainable(p, m, &m->tab[i]))
      fl += (fused && m->tab[i].group == ST_G_LAYER ? 2 : 3) * param_n(&m->tab[i]);
  const char **names;
  int nmod = st_plan_modules(m, &names);
  for (int l = 0; l < c->n_layers; l++) {
    if (p->mode[l] != ST_LORA) continue;
    size_t r = (size_t)p->lora[l].rank, sum = 0;
    for (int k = 0; k < nmod; k++) {
      const st_param *w = st_lora_target(m, l, k);
      if (!w || !(p->lora[l].modules >> k & 1u)) continue;
      sum += r;
      fl += 4 * r * ((size_t)w->cols + w->rows); /* A, B, grads, moments */
      if ((size_t)w->cols > max_in) max_in = (size_t)w->cols;
    }
    if (l >= k0) ranks += sum;
    if (sum > widest) widest = sum;
    if (sum && r > max_rank) max_rank = r;
  }
  return sizeof(float) * (fl + act_floats(c, B, T, k0, p->recompute != 0, ranks,
                                          widest, max_rank, max_in));
}

size_t st_trainer_bytes(const st_trainer *t) {
  const st_model *m = t->m;
  size_t fl = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (t->m1[i]) fl += (pooled(t, i) ? 2 : 3) * param_n(&m->tab[i]);
  fl += pool_floats(m, t->fused ? &t->plan : NULL);
  /* adapters: A and B; gradients and moments of those that train */
  for (int i = 0; t->lora && i < t->lora->n; i++) {
    const st_adapter *a = &t->lora->a[i];
    fl += (a->train ? 4 : 1) * (lora_na(t, a) + lora_nb(t, a));
  }
  return fl * sizeof(float) + st_trainer_act_bytes(t);
}

st_lora *st_trainer_lora(const st_trainer *t) { return t->lora; }

void st_trainer_set_sync(st_trainer *t, const st_trainer_sync *s) {
  t->sync = s ? *s : (st_trainer_sync){0};
}

float *st_trainer_grad_buf(const st_trainer *t, const st_param *p) {
  long i = p - t->m->tab;
  return i >= 0 && i < t->m->n_tab ? t->grad[i] : NULL;
}

int st_trainer_edit_lora(st_trainer *t, int (*edit)(st_lora *lo, void *ctx),
                         void *ctx) {
  if (t->broken) return st_err("trainer: unusable after a failed plan change");
  if (!t->lora && st_lora_new(&t->lora, t->m, t->plan.seed)) return ST_ERR;
  if (edit(t->lora, ctx)) return ST_ERR;
  /* the edit may add frozen adapters: the buffers follow */
  return attach_lora(t);
}

static int state_check(const st_trainer *t, const st_param *p, size_t n,
                       long *idx) {
  long i = p - t->m->tab;
  if (i < 0 || i >= t->m->n_tab) return st_err("%s: not a model parameter", p->name);
  if (!t->grad[i]) return st_err("%s: frozen under this plan (no optimizer state)", p->name);
  if (n != param_n(p)) return st_err("%s: has %zu elements, not %zu", p->name, param_n(p), n);
  *idx = i;
  return ST_OK;
}

int st_trainer_get_state(const st_trainer *t, const st_param *p, float *m,
                         float *v, size_t n, int *step) {
  long i = 0;
  if (state_check(t, p, n, &i)) return ST_ERR;
  if (m) t->be->download(m, t->m1[i], n * sizeof(float));
  if (v) t->be->download(v, t->m2[i], n * sizeof(float));
  if (step) *step = t->t_adam[i];
  return ST_OK;
}

int st_trainer_set_state(st_trainer *t, const st_param *p, const float *m,
                         const float *v, size_t n, int step) {
  long i = 0;
  if (state_check(t, p, n, &i)) return ST_ERR;
  t->be->upload(t->m1[i], m, n * sizeof(float));
  t->be->upload(t->m2[i], v, n * sizeof(float));
  t->t_adam[i] = step;
  return ST_OK;
}
