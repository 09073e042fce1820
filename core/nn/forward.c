/* forward.c - inference forward over the whole stack, keeping no
 * activations beyond one block's scratch. Used by generate, eval and trace.
 * The final norm and the head, the widest GEMM of a small model (V x C per
 * position), run only on the positions a caller scores. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "layer.h"
#include "weights.h"

void st_embed(const st_model *m, float *h0, const int32_t *tok_dev, int B,
              int T) {
  const float *wpe = st_global(m, ST_WPE);
  const st_store *s = NULL; /* the token table's storage */
  for (int i = 0; i < m->n_tab && !s; i++)
    if (m->tab[i].group == ST_G_EMBED && m->tab[i].slot == ST_WTE) s = &m->st[i];
  if (s->dt == ST_DT_F32)
    m->be->embed_fwd(h0, tok_dev, s->data, wpe, B, T, m->cfg.dim);
  else
    m->be->embed_fwd_h(h0, tok_dev, s->data, s->dt, wpe, B, T, m->cfg.dim);
}

int st_head_slot(const st_model *m) {
  return m->cfg.tied ? ST_WTE : ST_HEAD;
}

const st_param *st_head_param(const st_model *m) {
  int slot = st_head_slot(m);
  for (int i = 0; i < m->n_tab; i++)
    if (m->tab[i].group != ST_G_LAYER && m->tab[i].slot == slot) return &m->tab[i];
  return NULL;
}

const float *st_head_weight(const st_model *m) {
  return st_global(m, st_head_slot(m));
}

void st_final_norm(const st_model *m, float *out, float *mean, float *rstd,
                   const float *h, int N) {
  const st_config *c = &m->cfg;
  if (c->arch == ST_ARCH_GPT2)
    m->be->layernorm_fwd(out, mean, rstd, h, st_global(m, ST_LNF_W),
                         st_global(m, ST_LNF_B), N, c->dim, c->norm_eps);
  else
    m->be->rmsnorm_fwd(out, rstd, h, st_global(m, ST_LNF_W), N, c->dim,
                       c->norm_eps);
}

void st_head_fwd(const st_model *m, float *logits, const float *x, int N) {
  const st_config *c = &m->cfg;
  st_wgemm(m, -1, st_head_slot(m), 1, N, 1.0f, x, c->dim, 0.0f, logits,
           c->vocab);
}

/* the forward of st_model_forward and st_model_logits_at: pos == NULL
 * scores every position */
static int forward_rows(st_model *m, const int32_t *tok, int B, int T,
                        st_hidden_fn fn, void *ctx, const int32_t *pos,
                        int npos, float *logits) {
  const st_config *c = &m->cfg;
  const st_backend *be = m->be;
  if (B < 1 || T < 1) return st_err("forward: empty batch (B=%d, T=%d)", B, T);
  if (T > c->max_seq)
    return st_err("forward: sequence length %d exceeds the model's context %d",
                  T, c->max_seq);
  for (long i = 0; i < (long)B * T; i++)
    if (tok[i] < 0 || tok[i] >= c->vocab)
      return st_err("forward: token id %d at position %ld is outside the "
                    "vocabulary (0..%d)", tok[i], i, c->vocab - 1);
  size_t N = (size_t)B * T, C = c->dim;
  if (!pos) npos = (int)N;
  for (int i = 0; pos && i < npos; i++)
    if (pos[i] < 0 || (size_t)pos[i] >= N || (i && pos[i] <= pos[i - 1]))
      return st_err("forward: position %d (entry %d) is not ascending within "
                    "0..%zu", pos[i], i, N - 1);
  size_t R = (size_t)npos; /* rows through the final norm and the head */
  int rc = ST_ERR;
  st_acts a = {0};
  int32_t *tok_d = be->alloc(N * sizeof *tok_d);
  float *h[2] = {be->alloc(N * C * sizeof(float)),
                 be->alloc(N * C * sizeof(float))};
  float *lnf = logits ? be->alloc(R * C * sizeof(float)) : NULL;
  float *stats = logits ? be->alloc(2 * R * sizeof(float)) : NULL;
  float *lg = logits && R ? be->alloc(R * c->vocab * sizeof(float)) : NULL;
  if (!tok_d || !h[0] || !h[1] || (logits && (!lnf || !stats || (R && !lg))) ||
      st_acts_alloc(&a, m, B, T))
    goto done;
  be->upload(tok_d, tok, N * sizeof *tok_d);
  st_embed(m, h[0], tok_d, B, T);
  if (fn) fn(ctx, 0, h[0]);
  for (int l = 0; l < c->n_layers; l++) {
    st_layer_fwd(m, l, &a, h[l & 1], h[(l + 1) & 1], B, T);
    if (fn) fn(ctx, l + 1, h[(l + 1) & 1]);
  }
  if (logits && R) {
    float *top = h[c->n_layers & 1], *rows = top;
    if (pos) {
      /* gather the scored rows [R,C], one copy per run of adjacent ones,
       * into the other residual buffer (free now) */
      rows = h[(c->n_layers + 1) & 1];
      for (size_t i = 0, j; i < R; i = j) {
        for (j = i + 1; j < R && pos[j] == pos[j - 1] + 1; j++) {}
        be->copy(rows + i * C, top + (size_t)pos[i] * C, (j - i) * C * sizeof(float));
      }
    }
    st_final_norm(m, lnf, stats, stats + R, rows, (int)R);
    st_head_fwd(m, lg, lnf, (int)R);
    be->download(logits, lg, R * c->vocab * sizeof(float));
  }
  rc = ST_OK;
done:
  st_acts_free(&a, be);
  if (tok_d) be->free(tok_d);
  for (int i = 0; i < 2; i++)
    if (h[i]) be->free(h[i]);
  if (lnf) be->free(lnf);
  if (stats) be->free(stats);
  if (lg) be->free(lg);
  return rc;
}

int st_model_forward(st_model *m, const int32_t *tok, int B, int T,
                     st_hidden_fn fn, void *ctx, float *logits) {
  return forward_rows(m, tok, B, T, fn, ctx, NULL, 0, logits);
}

int st_model_logits(st_model *m, const int32_t *tok, int B, int T,
                    float *logits) {
  return forward_rows(m, tok, B, T, NULL, NULL, NULL, 0, logits);
}

int st_model_logits_at(st_model *m, const int32_t *tok, int B, int T,
                       const int32_t *pos, int npos, float *logits) {
  if (npos < 0) return st_err("forward: %d positions", npos);
  return forward_rows(m, tok, B, T, NULL, NULL, pos, npos, logits);
}
