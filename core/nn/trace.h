/* trace.h - the transition trace: one no-grad forward pass over the task's
 * data that measures, for every latent space h_0..h_L, how the hidden state
 * moves and how far it still is from the target (arXiv 2406.11753).
 *
 * Over loss-bearing tokens (target >= 0) it records mean and std of:
 *   delta_norm  ||h_l - h_{l-1}||                 (l >= 1; the seed's
 *                                                  semantic deviation)
 *   delta_rel   ||h_l - h_{l-1}|| / ||h_{l-1}||   (l >= 1)
 *   cos_prev    cos(h_l, h_{l-1})                 (l >= 1)
 *   lens_loss   CE(head(final_norm(h_l)), y)      (logit lens)
 *   basis_dev   1 - cos(h_l, s_y), s_y = row y of pinv(W_U)^T
 * The pseudo-inverse comes from LAPACK's SVD and is cached on disk.
 * Which representation each measure reads: h_0 is the embedding output
 * (plus positions for GPT-2) and h_l for l >= 1 the output of block l-1,
 * raw: h_L is the last block's output BEFORE the final norm (transformers'
 * output_hidden_states[-1] is after it). delta_norm, delta_rel, cos_prev
 * and basis_dev use the raw h_l; lens_loss applies the final norm, then
 * the head. trace.json repeats this in its "representations" object.
 *
 * st_trace_gradients adds the gradient-based measures of SmartFRZ- and
 * AutoFreeze-style selection, per layer l (0..L-1), from one full backward
 * pass of the mean loss over the same batch:
 *   grad_norm   ||dLoss/dW_l||  over every tensor of block l
 *   grad_ratio  ||dLoss/dW_l|| / ||W_l||
 * and what that probe cost. */
#ifndef ST_TRACE_H
#define ST_TRACE_H

#include <stdint.h>

#include "model.h"

enum {
  ST_M_DELTA_NORM, ST_M_DELTA_REL, ST_M_COS_PREV, ST_M_LENS_LOSS,
  ST_M_BASIS_DEV, ST_NMEASURES
};
extern const char *const st_measure_names[ST_NMEASURES];

typedef struct st_stat { double mean, std; } st_stat;

typedef struct st_trace {
  int n_layers;       /* L; there are L+1 latent spaces */
  int dim;
  long n_tokens;      /* loss-bearing tokens measured */
  int n_seqs, seq_len;
  st_stat *m;         /* [(L+1) * ST_NMEASURES]; delta measures at l=0 are 0 */
  size_t *params;     /* [L] parameters of layer l (h_{l} = layer(h_{l-1})) */
  double *wgrad_flops;/* [L] per token: weight gradient of layer l */
  double *dgrad_flops;/* [L] per token: input gradient through layer l */
  int keep;           /* sampled hidden vectors kept per space */
  float *kept;        /* [(L+1) * keep * dim] */
  /* st_trace_gradients; NULL and 0 until it runs */
  double *grad_norm;  /* [L] */
  double *grad_ratio; /* [L] */
  double grad_loss;   /* the mean loss whose gradient was taken */
  long grad_tokens;   /* positions it ran (M.T) */
  double grad_fwd_flops, grad_bwd_flops; /* the probe's cost, in all */
} st_trace;

static inline st_stat st_trace_get(const st_trace *t, int l, int measure) {
  return t->m[l * ST_NMEASURES + measure];
}
int st_measure_index(const char *name); /* -1 if unknown */

/* tok, tgt: host [M,T]; keep: vectors sampled per latent space (seeded) */
int st_trace_collect(st_trace *tr, st_model *m, const int32_t *tok,
                     const int32_t *tgt, int M, int T, int keep,
                     uint64_t seed);
/* the same, calling progress(ctx, sequences done, M) after each batch's
 * forward, for a caller that shows sequences/s and an ETA (NULL: none) */
typedef void (*st_trace_progress)(void *ctx, int done, int total);
int st_trace_collect_cb(st_trace *tr, st_model *m, const int32_t *tok,
                        const int32_t *tgt, int M, int T, int keep,
                        uint64_t seed, st_trace_progress progress, void *ctx);
/* After st_trace_collect: one forward and full backward pass (every layer,
 * the embeddings, final norm and head trainable, through the trainer of
 * train.h, freed again) of the mean loss over the loss-bearing tokens of
 * tok/tgt [M,T], in micro-batches of up to 8 sequences weighted by their
 * share of the tokens; fills grad_norm, grad_ratio, grad_loss and the
 * FLOPs (M.T tokens at the cost model's forward and full backward). The
 * weights are not changed. */
int st_trace_gradients(st_trace *tr, st_model *m, const int32_t *tok,
                       const int32_t *tgt, int M, int T);
void st_trace_free(st_trace *tr);
int st_trace_write_json(const st_trace *tr, const char *path);

/* pinv(W_U)^T as [V, C] host floats, computed by SVD or read from the cache
 * ($STRATA_CACHE or $XDG_CACHE_HOME/strata or ~/.cache/strata). */
int st_unembed_pinv_t(const st_model *m, float **out);

#endif
