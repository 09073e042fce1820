/* layer.c - one transformer block, forward and masked backward. */
#include <math.h>
#include <stddef.h>

#include "error.h"
#include "layer.h"

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

int st_acts_alloc(st_acts *a, const st_model *m, int B, int T) {
  size_t n = st_acts_floats(&m->cfg, B, T);
  float *base = m->be->alloc(n * sizeof(float));
  if (!base) return ST_ERR;
  acts_layout(a, base, &m->cfg, B, T);
  a->base = base;
  return ST_OK;
}

void st_acts_free(st_acts *a, const st_backend *be) {
  if (a->base) be->free(a->base);
  a->base = NULL;
}

int st_bwd_scratch_alloc(st_bwd_scratch *s, const st_model *m, int B, int T) {
  const st_config *c = &m->cfg;
  size_t N = (size_t)B * T;
  size_t nact = N * c->hidden, nfc = N * st_fc_dim(c), nln = N * c->dim,
         natt = N * c->n_heads * c->head_dim, nqkv = N * st_qkv_dim(c);
  float *p = m->be->alloc((nact + nfc + nln + natt + nqkv) * sizeof(float));
  if (!p) return ST_ERR;
  s->base = p;
  s->dact = p;
  s->dfc = s->dact + nact;
  s->dln = s->dfc + nfc;
  s->datt = s->dln + nln;
  s->dqkv = s->datt + natt;
  return ST_OK;
}

void st_bwd_scratch_free(st_bwd_scratch *s, const st_backend *be) {
  if (s->base) be->free(s->base);
  s->base = NULL;
}

/* y[N,OC] = x[N,IC] W[OC,IC]^T (+ b) */
static void linear_fwd(const st_backend *be, float *y, const float *x,
                       const float *W, const float *b, int N, int IC, int OC) {
  be->gemm(0, 1, N, OC, IC, 1.0f, x, IC, W, IC, 0.0f, y, OC);
  if (b) be->add_bias(y, b, N, OC, OC);
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
static void linear_dgrad(const st_backend *be, float *dx, const float *dy,
                         const float *W, int N, int IC, int OC) {
  be->gemm(0, 0, N, IC, OC, 1.0f, dy, OC, W, IC, 0.0f, dx, IC);
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
  linear_fwd(be, a->qkv, a->ln1, P(ST_QKV_W), P(ST_QKV_B), N, C, QKVD);
  if (c->arch == ST_ARCH_LLAMA)
    be->rope(a->qkv, B, T, c->n_heads, c->n_kv_heads, c->head_dim,
             c->rope_theta, 0);
  be->attn_fwd(a->att, a->lse, a->qkv, B, T, c->n_heads, c->n_kv_heads,
               c->head_dim);
  linear_fwd(be, a->res1, a->att, P(ST_ATO_W), P(ST_ATO_B), N, AD, C);
  be->acc(a->res1, x, (size_t)N * C);
  norm_fwd(m, a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, P(ST_LN2_W),
           P(ST_LN2_B), N);
  linear_fwd(be, a->fc, a->ln2, P(ST_FC_W), P(ST_FC_B), N, C, FCD);
  if (c->arch == ST_ARCH_LLAMA)
    be->swiglu_fwd(a->act, a->fc, N, H);
  else
    be->gelu_fwd(a->act, a->fc, (size_t)N * H);
  linear_fwd(be, out, a->act, P(ST_PRJ_W), P(ST_PRJ_B), N, H, C);
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

  /* 5: down / mlp.c_proj. dres = dL/dout is also dL/dres1's residual part */
  linear_wgrad(be, g, ST_PRJ_W, dres, a->act, N, H, C);
  if (below >= 5) return;
  linear_dgrad(be, s->dact, dres, P(ST_PRJ_W), N, H, C);
  if (c->arch == ST_ARCH_LLAMA)
    be->swiglu_bwd(s->dfc, s->dact, a->fc, N, H);
  else
    be->gelu_bwd(s->dfc, a->fc, s->dact, (size_t)N * H);
  /* 4: gate,up / c_fc */
  linear_wgrad(be, g, ST_FC_W, s->dfc, a->ln2, N, C, FCD);
  if (below >= 4) return;
  linear_dgrad(be, s->dln, s->dfc, P(ST_FC_W), N, C, FCD);
  /* 3: post-attention norm; its input gradient joins the residual (dres
   * becomes dL/dres1 in place) */
  norm_bwd(m, dres, gview(g, ST_LN2_W), gview(g, ST_LN2_B), s->dln, a->res1,
           P(ST_LN2_W), a->ln2_mean, a->ln2_rstd, N);
  if (below >= 3) return;
  /* 2: o_proj / attn.c_proj */
  linear_wgrad(be, g, ST_ATO_W, dres, a->att, N, AD, C);
  if (below >= 2) return;
  linear_dgrad(be, s->datt, dres, P(ST_ATO_W), N, AD, C);
  be->attn_bwd(s->dqkv, s->datt, a->qkv, a->att, a->lse, B, T, c->n_heads,
               c->n_kv_heads, c->head_dim);
  if (c->arch == ST_ARCH_LLAMA)
    be->rope(s->dqkv, B, T, c->n_heads, c->n_kv_heads, c->head_dim,
             c->rope_theta, 1);
  /* 1: q,k,v / c_attn */
  linear_wgrad(be, g, ST_QKV_W, s->dqkv, a->ln1, N, C, QKVD);
  if (below >= 1) return;
  linear_dgrad(be, s->dln, s->dqkv, P(ST_QKV_W), N, C, QKVD);
  /* 0: input norm; dres becomes dL/dx (residual + norm path) */
  norm_bwd(m, dres, gview(g, ST_LN1_W), gview(g, ST_LN1_B), s->dln, x,
           P(ST_LN1_W), a->ln1_mean, a->ln1_rstd, N);
#undef P
}
