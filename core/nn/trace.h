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
 * The pseudo-inverse comes from LAPACK's SVD and is cached on disk. */
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
} st_trace;

static inline st_stat st_trace_get(const st_trace *t, int l, int measure) {
  return t->m[l * ST_NMEASURES + measure];
}
int st_measure_index(const char *name); /* -1 if unknown */

/* tok, tgt: host [M,T]; keep: vectors sampled per latent space (seeded) */
int st_trace_collect(st_trace *tr, st_model *m, const int32_t *tok,
                     const int32_t *tgt, int M, int T, int keep,
                     uint64_t seed);
void st_trace_free(st_trace *tr);
int st_trace_write_json(const st_trace *tr, const char *path);

/* pinv(W_U)^T as [V, C] host floats, computed by SVD or read from the cache
 * ($STRATA_CACHE or $XDG_CACHE_HOME/strata or ~/.cache/strata). */
int st_unembed_pinv_t(const st_model *m, float **out);

#endif
