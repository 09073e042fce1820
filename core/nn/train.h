/* train.h - the training loop's state: activations, gradients and AdamW
 * moments for one model under one plan.
 *
 * Memory follows the plan: activations only for layers >= lowest_trainable,
 * gradients and moments only for trainable tensors. st_trainer_set_plan()
 * switches plans between steps and keeps the moments of tensors that stay
 * trainable. */
#ifndef ST_TRAIN_H
#define ST_TRAIN_H

#include "model.h"
#include "plan.h"

typedef struct st_optim {
  float lr, beta1, beta2, eps, weight_decay, grad_clip; /* clip <= 0: off */
} st_optim;
/* AdamW settings for C callers (bench, tests): lr 1e-3, betas 0.9 and
 * 0.999, eps 1e-8, no weight decay, clip 1. Recipes and strata.trainer take
 * theirs from the recipe schema; tests/unit/test_defaults.c checks the two
 * agree. */
st_optim st_optim_default(void);

typedef struct st_trainer st_trainer;

int st_trainer_new(st_trainer **out, st_model *m, const st_plan *plan, int B,
                   int T);
void st_trainer_free(st_trainer *t);
int st_trainer_set_plan(st_trainer *t, const st_plan *plan);
const st_plan *st_trainer_plan(const st_trainer *t);

/* forward + masked backward on host tokens/targets [B,T] (target < 0:
 * no loss). Gradients accumulate; the loss is the mean over loss-bearing
 * tokens. After an error (a non-finite loss) the head's gradients may be
 * partly accumulated: zero them (st_trainer_step does). */
int st_trainer_fwdbwd(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                      float *loss);
/* clip, AdamW update, zero grads; returns the pre-clip gradient norm */
int st_trainer_update(st_trainer *t, const st_optim *o, float *grad_norm);
/* One training step, the only one: forward, masked backward, the
 * non-finite check, clipping and AdamW at o->lr. The runner, strata.trainer
 * and the tests all step through it, so failure behaves the same
 * everywhere: an invalid lr, a bad batch, a non-finite loss or gradient
 * norm is an error "step N: ..." that leaves the weights untouched and the
 * gradients zeroed. loss and grad_norm (pre-clip) may be NULL. */
int st_trainer_step(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                    const st_optim *o, float *loss, float *grad_norm);
/* The same step over K micro-batches of the trainer's B rows, tok/tgt
 * [K*B,T] (micro-batch k: rows kB..kB+B-1), one after another into the
 * same gradients: gradient accumulation. Each micro-batch is weighted by
 * its share of the K batches' loss-bearing targets (counted before the
 * first backward), so the update is that of one batch K times larger
 * within float rounding; *loss is the mean over all those targets. A
 * micro-batch without targets is skipped; K batches without any are an
 * error. Activation memory stays that of B rows. */
int st_trainer_step_k(st_trainer *t, const int32_t *tok, const int32_t *tgt,
                      int K, const st_optim *o, float *loss, float *grad_norm);
int st_trainer_zero_grad(st_trainer *t);

/* Fused updates (on != 0; off by default): each block's AdamW update runs
 * during the backward, as soon as its gradients are complete, and the
 * blocks' gradients share one block-sized buffer: full fine-tuning holds 12
 * bytes per trainable weight (plus one block's gradients) instead of 16.
 * The weights after a step are bitwise those of the unfused step. A step
 * must then have no gradient clipping (o->grad_clip 0), one micro-batch and
 * no sync; st_trainer_fwdbwd and st_trainer_grad of a block's tensor are
 * refused (no gradients are kept), and a non-finite gradient leaves the
 * trainer unusable (the blocks above it were updated). A trainer created
 * fused never holds the per-tensor gradients (backend memory is touched
 * when allocated, so allocating and freeing them would still count in the
 * peak resident memory). */
int st_trainer_new_fused(st_trainer **out, st_model *m, const st_plan *plan,
                         int B, int T, int fused);
int st_trainer_set_fused(st_trainer *t, int on);

/* Data parallelism (core/dist/): the trainer as one replica of several,
 * each stepping on its own rows of the same global batch. With a sync, a
 * step (st_trainer_step_k, st_trainer_fwdbwd):
 *  - counts each micro-batch's loss-bearing targets and passes them to
 *    targets(), which replaces them with their sums over the replicas;
 *    each loss gradient is scaled by 1 / (the global total), so the
 *    replicas' gradients add up to that of the global batch's mean loss;
 *  - calls ready(g) as group g's gradients become complete, during the
 *    last micro-batch's backward: g = L (final norm and head), then each
 *    layer from the top down to the lowest trainable one, then -1
 *    (embeddings) when they train. A replica whose last micro-batch has
 *    no targets runs no backward and calls none;
 *  - calls finish(&loss_sum) after the backward, before the update: it
 *    leaves every trainable gradient summed over the replicas and turns
 *    this replica's summed token losses into their sum over all.
 * targets and finish return ST_OK or ST_ERR + st_err; ready cannot fail
 * (it keeps an error for finish). A replica that fails in between returns
 * the error without calling finish: the caller must end the job. */
typedef struct st_trainer_sync {
  int (*targets)(void *ctx, long *counts, int K);
  void (*ready)(void *ctx, int group);
  int (*finish)(void *ctx, double *loss_sum);
  void *ctx;
} st_trainer_sync;
/* s == NULL: the trainer alone (the default); *s is copied */
void st_trainer_set_sync(st_trainer *t, const st_trainer_sync *s);
/* a trainable parameter's gradient buffer (backend memory, the model's
 * stored layout), NULL when it is frozen */
float *st_trainer_grad_buf(const st_trainer *t, const st_param *p);

/* gradient of a named parameter (host copy, checkpoint layout); error if
 * the parameter is frozen */
int st_trainer_grad(const st_trainer *t, const st_param *p, float *host,
                    size_t n);
int st_trainer_steps_done(const st_trainer *t);
/* AdamW state of a trainable parameter (host copies in the model's stored
 * layout; either pointer may be NULL) and its step count, and the inverse,
 * for checkpoints and tests */
int st_trainer_get_state(const st_trainer *t, const st_param *p, float *m,
                         float *v, size_t n, int *step);
int st_trainer_set_state(st_trainer *t, const st_param *p, const float *m,
                         const float *v, size_t n, int step);
/* device bytes held for activations, gradients and optimizer state */
size_t st_trainer_bytes(const st_trainer *t);
/* the part of it that grows with B x T: block activations and kept block
 * inputs (checkpointing, plan.recompute, keeps the inputs and one block),
 * the head's buffers, the backward scratch (which holds the logits while
 * the head runs: B.T.V floats, at most 2^25 of them, the head running in
 * row chunks beyond) */
size_t st_trainer_act_bytes(const st_trainer *t);
/* what st_trainer_bytes would be for a new trainer of plan p at B x T,
 * without allocating it: to tell whether it fits before trying */
size_t st_trainer_estimate_bytes(const st_model *m, const st_plan *p, int B,
                                 int T, int fused);

/* LoRA (lora.h). A plan with LoRA layers gives the trainer an adapter set
 * (seeded by plan->seed) that it attaches to the model in place of any
 * other; it follows later plans and is freed with the trainer, so save or
 * merge it first. NULL while no plan had LoRA layers. */
struct st_lora *st_trainer_lora(const st_trainer *t);
/* Lets a caller change the trainer's adapter set in place (created first,
 * seeded by the plan, when the trainer has none), e.g. read a checkpoint's
 * adapters into it; then re-attaches it to the model and re-sizes what
 * follows from it. edit returns ST_OK or ST_ERR + st_err. */
int st_trainer_edit_lora(st_trainer *t, int (*edit)(struct st_lora *lo, void *ctx),
                         void *ctx);

#endif
