/* forward.c - inference forward over the whole stack, keeping no
 * activations beyond one block's scratch. Used by generate, eval and trace. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "layer.h"

void st_embed(const st_model *m, float *h0, const int32_t *tok_dev, int B,
              int T) {
  m->be->embed_fwd(h0, tok_dev, st_global(m, ST_WTE), st_global(m, ST_WPE), B,
                   T, m->cfg.dim);
}

const float *st_head_weight(const st_model *m) {
  return m->cfg.tied ? st_global(m, ST_WTE) : st_global(m, ST_HEAD);
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
  m->be->gemm(0, 1, N, c->vocab, c->dim, 1.0f, x, c->dim, st_head_weight(m),
              c->dim, 0.0f, logits, c->vocab);
}

int st_model_forward(st_model *m, const int32_t *tok, int B, int T,
                     st_hidden_fn fn, void *ctx, float *logits) {
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
  int rc = ST_ERR;
  st_acts a = {0};
  int32_t *tok_d = be->alloc(N * sizeof *tok_d);
  float *h[2] = {be->alloc(N * C * sizeof(float)),
                 be->alloc(N * C * sizeof(float))};
  float *lnf = be->alloc(N * C * sizeof(float));
  float *stats = be->alloc(2 * N * sizeof(float));
  float *lg = logits ? be->alloc(N * c->vocab * sizeof(float)) : NULL;
  if (!tok_d || !h[0] || !h[1] || !lnf || !stats || (logits && !lg) ||
      st_acts_alloc(&a, m, B, T))
    goto done;
  be->upload(tok_d, tok, N * sizeof *tok_d);
  st_embed(m, h[0], tok_d, B, T);
  if (fn) fn(ctx, 0, h[0]);
  for (int l = 0; l < c->n_layers; l++) {
    st_layer_fwd(m, l, &a, h[l & 1], h[(l + 1) & 1], B, T);
    if (fn) fn(ctx, l + 1, h[(l + 1) & 1]);
  }
  if (logits) {
    st_final_norm(m, lnf, stats, stats + N, h[c->n_layers & 1], (int)N);
    st_head_fwd(m, lg, lnf, (int)N);
    be->download(logits, lg, N * c->vocab * sizeof(float));
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

int st_model_logits(st_model *m, const int32_t *tok, int B, int T,
                    float *logits) {
  return st_model_forward(m, tok, B, T, NULL, NULL, logits);
}
