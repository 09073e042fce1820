/* layer.c - one transformer block, forward and masked backward. */
#include <math.h>
#include <stddef.h>

#include "error.h"
#include "layer.h"
#include "lora.h"
#include "weights.h"

int st_qkv_dim(const st_config *c) {
  return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
}
int st_fc_dim(const st_config *c) {
  return c->arch == ST_ARCH_LLAMA ? 2 * c->hidden : c->hidden;
}

/* Lays the buffers of one block out in one allocation (or just counts when
 * base == NULL). */
static size_t acts_layout(st_acts *a, float *base, const st_config *c, int B,
                          int T) {
  size_t N = (size_t)B * T, C = c->dim, o = 0;
  int ln = c->arch == ST_ARCH_GPT2;
#define TAKE(field, n)                    \
  do {                                    \
    a->field = base ? base + o : NULL;    \
    o += (n);                             \
  } while (0)
  TAKE(ln1, N * C);
  TAKE(ln1_rstd, N);
  TAKE(ln1_mean, ln ? N : 0);
  TAKE(qkv, N * st_qkv_dim(c));
  TAKE(att, N * c->n_heads * c->head_dim);
  TAKE(lse, (size_t)B * c->n_heads * T);
  TAKE(res1, N * C);
  TAKE(ln2, N * C);
  TAKE(ln2_rstd, N);
  TAKE(ln2_mean, ln ? N : 0);
  TAKE(fc, N * st_fc_dim(c));
  TAKE(act, N * c->hidden);
#undef TAKE
  if (!ln) a->ln1_mean = a->ln2_mean = NULL;
  return o;
}

size_t st_acts_floats(const st_config *c, int B, int T) {
  st_acts a;
  return acts_layout(&a, NULL, c, B, T);
}

int st_acts_alloc_layer(st_acts *a, const st_model *m, int layer, int B,
                        int T) {
  size_t n = st_acts_floats(&m->cfg, B, T);
  size_t nl = (size_t)B * T * st_lora_layer_ranks(m->lora, layer);
  float *base = m->be->alloc((n + nl) * sizeof(float));
  if (!base) return ST_ERR;
  acts_layout(a, base, &m->cfg, B, T);
  a->base = base;
  a->lora = m->lora;
  a->lora_ax = m->lora ? base + n : NULL;
  a->train = 0;
  a->drop_buf = NULL;
  return ST_OK;
}

int st_acts_alloc(st_acts *a, const st_model *m, int B, int T) {
  return st_acts_alloc_layer(a, m, -1, B, T);
}

void st_acts_free(st_acts *a, const st_backend *be) {
  if (a->base) be->free(a->base);
  a->base = NULL;
}

size_t st_bwd_scratch_floats(const st_model *m, int B, int T) {
  const st_config *c = &m->cfg;
  return (size_t)B * T *
         ((size_t)c->hidden + (size_t)c->n_heads * c->head_dim + st_qkv_dim(c) +
          st_lora_max_rank(m->lora) + st_lora_max_in(m->lora));
}

int st_bwd_scratch_alloc(st_bwd_scratch *s, const st_model *m, int B, int T,
                         size_t spare) {
  const st_config *c = &m->cfg;
  size_t N = (size_t)B * T;
  size_t nact = N * c->hidden, nln = N * c->dim,
         natt = N * c->n_heads * c->head_dim, nqkv = N * st_qkv_dim(c);
  size_t ndax = N * st_lora_max_rank(m->lora);
  size_t rest = st_bwd_scratch_floats(m, B, T);
  if (spare < rest) spare = rest;
  float *p = m->be->alloc((nln + spare) * sizeof(float));
  if (!p) return ST_ERR;
  s->base = p;
  s->dln = p;
  s->dact = s->dln + nln;
  s->datt = s->dact + nact;
  s->dqkv = s->datt + natt;
  s->lora_dax = ndax ? s->dqkv + nqkv : NULL;
  s->lora_tmp = st_lora_max_in(m->lora) ? s->dqkv + nqkv + ndax : NULL;
  s->spare = spare;
  return ST_OK;
}

void st_bwd_scratch_free(st_bwd_scratch *s, const st_backend *be) {
  if (s->base) be->free(s->base);
  s->base = NULL;
}

/* y[N,OC] = x[N,IC] W[OC,IC]^T (+ b), W the matrix of slot wslot of layer
 * l in whatever storage it has (weights.h) */
static void linear_fwd(const st_model *m, int l, int wslot, float *y,
                       const float *x, int N, int IC, int OC) {
  st_wgemm(m, l, wslot, 1, N, 1.0f, x, IC, 0.0f, y, OC);
  const float *b = st_slot(m, l, wslot + 1);
  if (b) m->be->add_bias(y, b, N, OC, OC);
}

/* Weight gradients of a linear slot, one GEMM per trainable named tensor:
 * dW[rows] += dy[:, rows]^T x, db[rows] += sum dy[:, rows]. */
static void linear_wgrad(const st_backend *be, const st_layer_grads *g,
                         int wslot, const float *dy, const float *x, int N,
                         int IC, int OC) {
  for (int i = 0; i < g->nv[wslot]; i++) {
    const st_grad_view *v = &g->v[wslot][i];
    if (v->g)
      be->gemm(1, 0, v->rows, IC, N, 1.0f, dy + v->row0, OC, x, IC, 1.0f,
               v->g, IC);
  }
  for (int i = 0; i < g->nv[wslot + 1]; i++) {
    const st_grad_view *v = &g->v[wslot + 1][i];
    if (v->g) be->bias_grad(v->g, dy + v->row0, N, v->rows, OC);
  }
}

/* dx[N,IC] = dy[N,OC] W[OC,IC] */
static void linear_dgrad(const st_model *m, int l, int wslot, float *dx,
                         const float *dy, int N, int IC, int OC) {
  st_wgemm(m, l, wslot, 0, N, 1.0f, dy, OC, 0.0f, dx, IC);
}

/* LoRA adapters of the linear op with weight slot `wslot`, input x[N,IC]
 * and output y[N,OC]: for each adapter on rows [row0, row0+rows) of the
 * slot, ax = A xd and y[:, rows] += scale ax B^T (ldc = OC writes inside
 * the fused output). xd = dropout(x) in a training forward of an adapter
 * that trains, else x. ax is kept for backward. */
static int dropping(const st_acts *a, const st_adapter *d) {
  return a->train && d->train && d->dropout > 0;
}

static void lora_fwd(const st_model *m, const st_acts *a, int l, int wslot,
                     const float *x, float *y, int N, int IC, int OC) {
  const st_lora *lo = a->lora;
  if (!lo) return;
  const st_backend *be = m->be;
  int first, n = st_lora_layer(lo, l, &first);
  float *ax = a->lora_ax;
  for (int i = first; i < first + n; ax += (size_t)N * lo->a[i].rank, i++) {
    const st_adapter *d = &lo->a[i];
    const st_param *w = &m->tab[d->param];
    if (w->slot != wslot) continue;
    const float *xd = x;
    if (dropping(a, d)) {
      be->dropout(a->drop_buf, x, (size_t)N * IC, d->dropout,
                  st_adapter_drop_key(lo, d), lo->row0 * (uint64_t)IC);
      xd = a->drop_buf;
    }
    be->gemm(0, 1, N, d->rank, IC, 1.0f, xd, IC, d->A, IC, 0.0f, ax, d->rank);
    be->gemm(0, 1, N, w->rows, d->rank, d->scale, ax, d->rank, d->B, d->rank,
             1.0f, y + w->row0, OC);
  }
}

/* Backward of those adapters from dy[N,OC] (the slot's output gradient):
 *   dB += scale dy[:,rows]^T ax          (adapters that train)
 *   dax = scale dy[:,rows] B
 *   dA += dax^T xd                       (adapters that train)
 *   dx += dropout'(dax A)                (when dx != NULL: input needed)
 * dropout' applies the forward's mask again (same key). */
static void lora_bwd(const st_model *m, const st_acts *a, int l, int wslot,
                     const float *dy, const float *x, float *dx,
                     st_bwd_scratch *s, int N, int IC, int OC) {
  const st_lora *lo = a->lora;
  if (!lo) return;
  const st_backend *be = m->be;
  int first, n = st_lora_layer(lo, l, &first);
  const float *ax = a->lora_ax;
  for (int i = first; i < first + n; ax += (size_t)N * lo->a[i].rank, i++) {
    const st_adapter *d = &lo->a[i];
    const st_param *w = &m->tab[d->param];
    if (w->slot != wslot || (!d->train && !dx)) continue;
    int r = d->rank, drop = dropping(a, d);
    const float *dyr = dy + w->row0;
    if (d->train)
      be->gemm(1, 0, w->rows, r, N, d->scale, dyr, OC, ax, r, 1.0f, d->dB, r);
    be->gemm(0, 0, N, r, w->rows, d->scale, dyr, OC, d->B, r, 0.0f,
             s->lora_dax, r);
    uint64_t key = drop ? st_adapter_drop_key(lo, d) : 0;
    if (d->train) {
      const float *xd = x;
      if (drop) {
        be->dropout(s->lora_tmp, x, (size_t)N * IC, d->dropout, key, lo->row0 * (uint64_t)IC);
        xd = s->lora_tmp;
      }
      be->gemm(1, 0, r, IC, N, 1.0f, s->lora_dax, r, xd, IC, 1.0f, d->dA, IC);
    }
    if (!dx) continue;
    if (drop) {
      be->gemm(0, 0, N, IC, r, 1.0f, s->lora_dax, r, d->A, IC, 0.0f,
               s->lora_tmp, IC);
      be->dropout(s->lora_tmp, s->lora_tmp, (size_t)N * IC, d->dropout, key,
                  lo->row0 * (uint64_t)IC);
      be->acc(dx, s->lora_tmp, (size_t)N * IC);
    } else {
      be->gemm(0, 0, N, IC, r, 1.0f, s->lora_dax, r, d->A, IC, 1.0f, dx, IC);
    }
  }
}

static void norm_fwd(const st_model *m, float *out, float *mean, float *rstd,
                     const float *x, const float *w, const float *b, int N) {
  const st_config *c = &m->cfg;
  if (c->arch == ST_ARCH_GPT2)
    m->be->layernorm_fwd(out, mean, rstd, x, w, b, N, c->dim, c->norm_eps);
  else
    m->be->rmsnorm_fwd(out, rstd, x, w, N, c->dim, c->norm_eps);
}

static void norm_bwd(const st_model *m, float *dx, float *dw, float *db,
                     const float *dout, const float *x, const float *w,
                     const float *mean, const float *rstd, int N) {
  const st_config *c = &m->cfg;
  if (c->arch == ST_ARCH_GPT2)
    m->be->layernorm_bwd(dx, dw, db, dout, x, w, mean, rstd, N, c->dim);
  else
    m->be->rmsnorm_bwd(dx, dw, dout, x, w, rstd, N, c->dim);
}

void st_layer_fwd(const st_model *m, int l, st_acts *a, const float *x,
                  float *out, int B, int T) {
  const st_config *c = &m->cfg;
  const st_backend *be = m->be;
  int N = B * T, C = c->dim, QKVD = st_qkv_dim(c), AD = c->n_heads * c->head_dim;
  int FCD = st_fc_dim(c), H = c->hidden;
#define P(s) st_slot(m, l, s)
  norm_fwd(m, a->ln1, a->ln1_mean, a->ln1_rstd, x, P(ST_LN1_W), P(ST_LN1_B), N);
  linear_fwd(m, l, ST_QKV_W, a->qkv, a->ln1, N, C, QKVD);
  lora_fwd(m, a, l, ST_QKV_W, a->ln1, a->qkv, N, C, QKVD);
  if (c->arch == ST_ARCH_LLAMA)
    be->rope(a->qkv, B, T, c->n_heads, c->n_kv_heads, c->head_dim,
             m->rope_freq, m->rope_scale, 0);
  be->attn_fwd(a->att, a->lse, a->qkv, B, T, c->n_heads, c->n_kv_heads,
               c->head_dim, st_layer_window(c, l));
  linear_fwd(m, l, ST_ATO_W, a->res1, a->att, N, AD, C);
  lora_fwd(m, a, l, ST_ATO_W, a->att, a->res1, N, AD, C);
  be->acc(a->res1, x, (size_t)N * C);
  norm_fwd(m, a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, P(ST_LN2_W),
           P(ST_LN2_B), N);
  linear_fwd(m, l, ST_FC_W, a->fc, a->ln2, N, C, FCD);
  lora_fwd(m, a, l, ST_FC_W, a->ln2, a->fc, N, C, FCD);
  if (c->arch == ST_ARCH_LLAMA)
    be->swiglu_fwd(a->act, a->fc, N, H);
  else
    be->gelu_fwd(a->act, a->fc, (size_t)N * H);
  linear_fwd(m, l, ST_PRJ_W, out, a->act, N, H, C);
  lora_fwd(m, a, l, ST_PRJ_W, a->act, out, N, H, C);
  be->acc(out, a->res1, (size_t)N * C);
}

static float *gview(const st_layer_grads *g, int slot) {
  /* norm slots hold one tensor each */
  return g->nv[slot] ? g->v[slot][0].g : NULL;
}

void st_layer_bwd(const st_model *m, int l, const st_acts *a, const float *x,
                  float *dres, const st_layer_grads *g, int below,
                  st_bwd_scratch *s, int B, int T) {
  const st_config *c = &m->cfg;
  const st_backend *be = m->be;
  int N = B * T, C = c->dim, QKVD = st_qkv_dim(c), AD = c->n_heads * c->head_dim;
  int FCD = st_fc_dim(c), H = c->hidden;

  /* PRJ: down / mlp.c_proj. dres = dL/dout is also dL/dres1's residual part */
  linear_wgrad(be, g, ST_PRJ_W, dres, a->act, N, H, C);
  if (below < ST_OP_PRJ)
    linear_dgrad(m, l, ST_PRJ_W, s->dact, dres, N, H, C);
  lora_bwd(m, a, l, ST_PRJ_W, dres, a->act, below < ST_OP_PRJ ? s->dact : NULL,
           s, N, H, C);
  if (below >= ST_OP_PRJ) return;
  /* dL/d(FC output) is written over FC's output: nothing reads that after
   * the activation's backward, and the block saves N x FCD floats of
   * backward scratch (the largest buffer after fc itself) */
  float *dfc = a->fc;
  if (c->arch == ST_ARCH_LLAMA)
    be->swiglu_bwd(dfc, s->dact, a->fc, N, H);
  else
    be->gelu_bwd(dfc, a->fc, s->dact, (size_t)N * H);
  /* FC: gate,up / c_fc */
  linear_wgrad(be, g, ST_FC_W, dfc, a->ln2, N, C, FCD);
  if (below < ST_OP_FC)
    linear_dgrad(m, l, ST_FC_W, s->dln, dfc, N, C, FCD);
  lora_bwd(m, a, l, ST_FC_W, dfc, a->ln2, below < ST_OP_FC ? s->dln : NULL,
           s, N, C, FCD);
  if (below >= ST_OP_FC) return;
  /* LN2: post-attention norm; its input gradient joins the residual (dres
   * becomes dL/dres1 in place) */
  norm_bwd(m, dres, gview(g, ST_LN2_W), gview(g, ST_LN2_B), s->dln, a->res1,
           P(ST_LN2_W), a->ln2_mean, a->ln2_rstd, N);
  if (below >= ST_OP_LN2) return;
  /* ATO: o_proj / attn.c_proj */
  linear_wgrad(be, g, ST_ATO_W, dres, a->att, N, AD, C);
  if (below < ST_OP_ATO)
    linear_dgrad(m, l, ST_ATO_W, s->datt, dres, N, AD, C);
  lora_bwd(m, a, l, ST_ATO_W, dres, a->att, below < ST_OP_ATO ? s->datt : NULL,
           s, N, AD, C);
  if (below >= ST_OP_ATO) return;
  be->attn_bwd(s->dqkv, s->datt, a->qkv, a->att, a->lse, B, T, c->n_heads,
               c->n_kv_heads, c->head_dim, st_layer_window(c, l));
  if (c->arch == ST_ARCH_LLAMA)
    be->rope(s->dqkv, B, T, c->n_heads, c->n_kv_heads, c->head_dim,
             m->rope_freq, m->rope_scale, 1);
  /* QKV: q,k,v / c_attn */
  linear_wgrad(be, g, ST_QKV_W, s->dqkv, a->ln1, N, C, QKVD);
  if (below < ST_OP_QKV)
    linear_dgrad(m, l, ST_QKV_W, s->dln, s->dqkv, N, C, QKVD);
  lora_bwd(m, a, l, ST_QKV_W, s->dqkv, a->ln1,
           below < ST_OP_QKV ? s->dln : NULL, s, N, C, QKVD);
  if (below >= ST_OP_QKV) return;
  /* LN1: input norm; dres becomes dL/dx (residual + norm path) */
  norm_bwd(m, dres, gview(g, ST_LN1_W), gview(g, ST_LN1_B), s->dln, x,
           P(ST_LN1_W), a->ln1_mean, a->ln1_rstd, N);
#undef P
}
