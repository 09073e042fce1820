/* eval.h - evaluation of a model on a dataset: loss and perplexity over the
 * loss-bearing tokens, classification by verbalizer likelihood, and
 * generation from prompts.
 *
 * Each row runs only as far as its last scored position (the model is
 * causal, so what follows cannot change the logits before it), and the head
 * computes logits only at the scored positions (st_model_logits_at): the
 * targets for the loss, the prompt's last position for single-token
 * verbalizers. Rows are sorted by length and packed up to B x T positions
 * per forward, so batches are as long as their rows, not T. Loss and
 * classification asked for together share the rows they can (single-token
 * verbalizers: one row per example for both). Log-softmax is taken in
 * double. */
#ifndef ST_EVAL_H
#define ST_EVAL_H

#include <stdint.h>

#include "dataset.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

typedef struct st_eval_result {
  int n_examples;
  long n_tokens;       /* loss-bearing tokens */
  double loss;         /* mean -log p(target) over them, nats */
  double ppl;          /* exp(loss) */
  double token_acc;    /* share where argmax logit == target */
  /* classification (n_classes > 0 after st_eval_classify) */
  int n_classes;
  int n_correct;
  double accuracy;
  double macro_f1;
  double mcc;          /* Matthews correlation (sklearn's, multiclass too) */
  int *confusion;      /* [K*K], confusion[gold*K + pred], malloc'ed */
} st_eval_result;

/* called after each forward with the examples finished so far and their
 * total (ds->n), for examples/s and an ETA */
typedef void (*st_eval_progress)(void *ctx, int done, int total);

typedef struct st_eval_opts {
  int batch;         /* B: a forward takes up to B x ds->T positions */
  int loss;          /* loss, perplexity and token accuracy */
  int classify;      /* classification, when ds has classes (alone: an
                        error when it has none) */
  st_eval_progress progress; /* may be NULL */
  void *ctx;
  /* benchmarks only: the evaluation as strata ran it before it scored
   * only where needed: B rows per forward in dataset order, logits at every
   * position, no rows shared between loss and classification; the results
   * are the same up to float rounding */
  int full_logits;
} st_eval_opts;
/* batch B, loss and classification, no progress */
st_eval_opts st_eval_opts_default(int batch);

/* Loss and/or classification of ds in one pass, as o says; fills the
 * fields of what was asked (the loss's below, and st_eval_classify's);
 * pred[n] and scores[n*K] as in st_eval_classify. */
int st_eval_run(st_model *m, const st_dataset *ds, const st_eval_opts *o,
                st_eval_result *r, int32_t *pred, double *scores);

/* Loss, perplexity and token accuracy over ds; fills those fields. */
int st_eval_loss(st_model *m, const st_dataset *ds, int B, st_eval_result *r);

/* For each example, the total log-likelihood of every class's
 * continuation after the shared prompt; the prediction is the argmax (ties:
 * the lower class index). Fills the classification fields; pred[n] and
 * scores[n*K] receive the predictions and log-likelihoods when not NULL.
 * When every continuation is one token, one row per example scores all
 * classes; otherwise each class gets its own row. */
int st_eval_classify(st_model *m, const st_dataset *ds, int B,
                     st_eval_result *r, int32_t *pred, double *scores);

/* accuracy and macro-F1 from gold and predicted classes 0..K-1. Macro-F1
 * averages per-class F1 = 2TP / (2TP + FP + FN) over the classes that occur
 * in gold or pred (scikit-learn's f1_score(average="macro")); confusion
 * [K*K] is filled when not NULL. */
void st_eval_metrics(const int32_t *gold, const int32_t *pred, int n, int K,
                     double *accuracy, double *macro_f1, int *confusion);

/* Continues example i's prompt (tok[i][0..prompt_len)) for up to max_new
 * tokens, greedy at temperature 0 else sampled; stops at EOS/BOS or the
 * model's context. *text (malloc'ed) is the decoded continuation. */
int st_eval_generate(st_model *m, const st_tokenizer *tk, const st_dataset *ds,
                     int i, int max_new, float temperature, st_rng *rng,
                     char **text);

/* the text ids[p..n) add after ids[0..p): decodes both and keeps the
 * difference, so a leading space that decoding the tail alone would drop
 * (SentencePiece) survives (malloc'ed) */
int st_eval_decode_tail(const st_tokenizer *tk, const int32_t *ids, int p,
                        int n, char **text);

void st_eval_result_free(st_eval_result *r);

#endif
