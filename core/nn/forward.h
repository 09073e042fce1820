/* forward.h - pieces of the forward pass shared by inference, training and
 * trace collection. */
#ifndef ST_FORWARD_H
#define ST_FORWARD_H

#include "model.h"

/* h0[B,T,C] = token (+ position) embedding of device tokens */
void st_embed(const st_model *m, float *h0, const int32_t *tok_dev, int B,
              int T);
void st_final_norm(const st_model *m, float *out, float *mean, float *rstd,
                   const float *h, int N);
/* the unembedding: lm_head, or the token embedding when tied: its global
 * slot, its named tensor (read it with st_model_get), and its fp32 values
 * on the device, NULL while it is held in half precision or in place
 * (split storage, weights.h) */
int st_head_slot(const st_model *m);
const st_param *st_head_param(const st_model *m);
const float *st_head_weight(const st_model *m);
/* logits[N,V] = x[N,C] W_U^T */
void st_head_fwd(const st_model *m, float *logits, const float *x, int N);

/* Called with each latent space h_l (device [B*T,C]), l = 0..L. */
typedef void (*st_hidden_fn)(void *ctx, int l, const float *h);
/* No-grad forward of host tokens; calls fn per latent space when set and
 * writes host logits[B,T,V] when logits != NULL. */
int st_model_forward(st_model *m, const int32_t *tok, int B, int T,
                     st_hidden_fn fn, void *ctx, float *logits);
/* No-grad forward of host tokens tok[B,T] that scores only the flat
 * positions pos[0..npos) (b*T + t, strictly ascending): host logits[npos,V]
 * in that order. The final norm and the head run on those rows alone, so
 * scoring one position per row costs V.C per row instead of T.V.C. */
int st_model_logits_at(st_model *m, const int32_t *tok, int B, int T,
                       const int32_t *pos, int npos, float *logits);

#endif
