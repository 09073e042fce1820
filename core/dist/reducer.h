/* reducer.h - a trainer's gradients summed over the ranks of a data-parallel
 * job, in per-layer buckets, only what trains (strata issue #16).
 *
 * The reducer is the trainer's sync (train.h: st_trainer_sync):
 *  - targets: the step's target counts are summed over the ranks, so each
 *    rank weights its rows by their share of the GLOBAL count and the sum
 *    of the ranks' gradients is the global batch's mean-loss gradient (no
 *    division by N afterwards);
 *  - ready(g): group g's gradients are complete; its bucket (layer g's
 *    trainable tensors and the A and B of its adapters that train; L: the
 *    final norm and the head; -1: the embeddings) is packed into one
 *    buffer and its sum started, so it travels while the layers below run
 *    their backward; the sums started before are tested, which is what
 *    moves them on in Open MPI;
 *  - finish: the buckets not started yet (a rank whose last micro-batch
 *    had no targets ran no backward) are started in the same order, all
 *    are waited for and unpacked, and the loss is summed.
 * Frozen tensors and frozen adapters are in no bucket: they send nothing.
 * The buckets are laid out again at every step from the trainer's plan, so
 * an on_step plan change needs nothing here. */
#ifndef ST_REDUCER_H
#define ST_REDUCER_H

#include <stddef.h>

#include "model.h"
#include "train.h"

typedef struct st_reducer st_reducer;

/* attaches itself to t (st_trainer_set_sync); m is t's model */
int st_reducer_new(st_reducer **out, st_trainer *t, const st_model *m);
/* detaches from the trainer and frees */
void st_reducer_free(st_reducer *r);

typedef struct st_reduce_stats {
  size_t bytes;      /* gradient payload of a step: 4 x the values that train */
  size_t full_bytes; /* the same for full fine-tuning: 4 x every parameter */
  int buckets;       /* non-empty buckets of a step */
  int steps;         /* steps reduced so far */
  double comm_s;     /* seconds in the reducer over those steps: packing,
                        starting, testing, waiting (which includes waiting
                        for slower ranks), unpacking, the counts and loss */
} st_reduce_stats;
void st_reducer_stats(const st_reducer *r, st_reduce_stats *s);

/* the gradient payload of trainer t's current plan, in bytes (4 x the
 * trainable values, LoRA A and B of adapters that train included), and
 * that of full fine-tuning (4 x the model's parameters) */
size_t st_reduce_bytes(const st_trainer *t, const st_model *m);
size_t st_reduce_full_bytes(const st_model *m);

#endif
