/* eval.c - loss/perplexity, verbalizer classification and generation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "forward.h"
#include "stats.h"

/* at most this many logits floats per forward (256 MiB): a large
 * vocabulary scoring many positions splits the batch instead of exhausting
 * memory */
#define MAX_LOGITS (1L << 26)

static int check_ids(const st_dataset *ds, int V) {
  size_t nT = (size_t)ds->n * ds->T;
  for (size_t j = 0; j < nT; j++)
    if (ds->tgt[j] >= V || ds->tok[j] < 0 || ds->tok[j] >= V)
      return st_err("%s: token id %d (example %zu) is outside the model's "
                    "vocabulary of %d; is this the model's tokenizer?",
                    ds->path, ds->tgt[j] >= V ? ds->tgt[j] : ds->tok[j],
                    j / ds->T, V);
  return ST_OK;
}

/* ------------------------------------------------------------- metrics */

void st_eval_metrics(const int32_t *gold, const int32_t *pred, int n, int K,
                     double *accuracy, double *macro_f1, int *confusion) {
  long *tp = calloc((size_t)K * 3, sizeof *tp), *fp = tp + K, *fn = fp + K;
  int correct = 0;
  if (confusion) memset(confusion, 0, (size_t)K * K * sizeof *confusion);
  for (int i = 0; i < n; i++) {
    if (confusion) confusion[gold[i] * K + pred[i]]++;
    if (!tp) continue;
    if (gold[i] == pred[i]) {
      correct++;
      tp[gold[i]]++;
    } else {
      fp[pred[i]]++;
      fn[gold[i]]++;
    }
  }
  double f1 = 0;
  int present = 0;
  for (int k = 0; tp && k < K; k++) {
    if (tp[k] + fp[k] + fn[k] == 0) continue; /* in neither gold nor pred */
    present++;
    f1 += 2.0 * tp[k] / (2.0 * tp[k] + fp[k] + fn[k]);
  }
  *accuracy = n ? (double)correct / n : NAN;
  *macro_f1 = present ? f1 / present : NAN;
  free(tp);
}

/* ---------------------------------------------------------------- jobs */

/* One row through the model. cls LOSS: the example's own tokens up to its
 * last target; ALL: its prompt, every class scored at the prompt's last
 * position (single-token verbalizers); c >= 0: the prompt followed by class
 * c's continuation. A classification row also takes the example's loss
 * when every target lies inside the prompt-long prefix it shares with the
 * example's own row. */
enum { LOSS = -2, ALL = -1 };
typedef struct job {
  int ex, cls, len;
  int loss; /* the row scores the example's targets */
} job;

typedef struct evaluation {
  st_model *m;
  const st_dataset *ds;
  const st_eval_opts *o;
  int K, V, T;
  job *jobs;
  int nj;
  int *left;       /* [n] jobs of each example not yet run */
  int done;        /* examples whose jobs all ran */
  /* loss */
  double sum;
  long ntok, hits;
  /* classification: scores [n*K] */
  double *sc;
} evaluation;

/* the row's first class position, and whether t is a scored position */
static int cls_pos(const evaluation *e, const job *j) {
  return j->cls == LOSS ? INT32_MAX : e->ds->prompt_len[j->ex] - 1;
}
static int scored(const evaluation *e, const job *j, int t) {
  if (j->loss && e->ds->tgt[(size_t)j->ex * e->T + t] >= 0) return 1;
  int p = cls_pos(e, j);
  return j->cls == ALL ? t == p : j->cls >= 0 && t >= p;
}

static int cand_len(const st_dataset *ds, int i, int c) {
  size_t o = (size_t)i * ds->n_classes + c;
  return (int)(ds->cand_off[o + 1] - ds->cand_off[o]);
}

/* the example's last target + 1 (0: none) */
static int loss_len(const st_dataset *ds, int i) {
  for (int t = ds->T - 1; t >= 0; t--)
    if (ds->tgt[(size_t)i * ds->T + t] >= 0) return t + 1;
  return 0;
}

static int build_jobs(evaluation *e, int loss, int classify) {
  const st_dataset *ds = e->ds;
  int n = ds->n, K = e->K;
  e->jobs = st_malloc(((size_t)n * (K + 1) + 1) * sizeof *e->jobs);
  e->left = st_calloc((size_t)n + 1, sizeof *e->left);
  if (!e->jobs || !e->left) return ST_ERR;
  for (int i = 0; i < n; i++) {
    int ll = loss ? loss_len(ds, i) : 0, first = e->nj;
    if (classify) {
      int p = ds->prompt_len[i], single = 1;
      if (p < 1) return st_err("%s: example %d has an empty prompt", ds->path, i);
      for (int c = 0; c < K; c++) single &= cand_len(ds, i, c) == 1;
      if (single) e->jobs[e->nj++] = (job){i, ALL, p, 0};
      else
        for (int c = 0; c < K; c++)
          e->jobs[e->nj++] = (job){i, c, p + cand_len(ds, i, c) - 1, 0};
      if (ll && ll <= p && !e->o->full_logits) {
        e->jobs[first].loss = 1; /* the prompt's rows are the example's */
        ll = 0;
      }
    }
    if (ll) e->jobs[e->nj++] = (job){i, LOSS, ll, 1};
    e->left[i] = e->nj - first;
    e->done += !e->left[i];
  }
  return ST_OK;
}

/* longest first: a batch's rows have nearly the same length, so little of
 * a forward goes to padding; ties keep the dataset's order */
static int by_len(const void *a, const void *b) {
  const job *x = a, *y = b;
  if (x->len != y->len) return y->len - x->len;
  if (x->ex != y->ex) return x->ex - y->ex;
  return x->cls - y->cls;
}

/* log-sum-exp of one row of logits, in double */
static double lse(const float *x, int V) {
  float mx = x[0];
  for (int v = 1; v < V; v++)
    if (x[v] > mx) mx = x[v];
  double s = 0;
  for (int v = 0; v < V; v++) s += exp((double)x[v] - mx);
  return mx + log(s);
}

/* Scores the batch jobs[j0..j1) from the logits of its np scored
 * positions pos[] (rows b*Tb + t): in that order, or with full_logits at
 * every position of the batch. */
static void score(evaluation *e, int j0, int j1, const float *logits,
                  const int32_t *pos, int np, double *z, int32_t *am) {
  const st_dataset *ds = e->ds;
  int V = e->V, K = e->K, full = e->o->full_logits;
#define ROW(q) (logits + (size_t)(full ? pos[q] : (q)) * V)
  /* log-sum-exp and argmax per scored position: the costly part, parallel */
#pragma omp parallel for schedule(static)
  for (int q = 0; q < np; q++) {
    const float *x = ROW(q);
    z[q] = lse(x, V);
    int a = 0;
    for (int v = 1; v < V; v++)
      if (x[v] > x[a]) a = v;
    am[q] = a;
  }
  for (int b = 0, q = 0; b < j1 - j0; b++) {
    const job *j = &e->jobs[j0 + b];
    int i = j->ex, p = cls_pos(e, j);
    size_t o = (size_t)i * K + (j->cls > 0 ? j->cls : 0);
    double s = 0;
    for (int t = 0; t < j->len; t++) {
      if (!scored(e, j, t)) continue;
      int r = q++;
      const float *x = ROW(r);
      int y = ds->tgt[(size_t)i * e->T + t];
      if (j->loss && y >= 0) {
        e->sum += z[r] - x[y];
        e->ntok++;
        e->hits += am[r] == y;
      }
      if (j->cls == ALL && t == p)
        for (int c = 0; c < K; c++)
          e->sc[(size_t)i * K + c] = x[ds->cand[ds->cand_off[(size_t)i * K + c]]] - z[r];
      else if (j->cls >= 0 && t >= p)
        s += x[ds->cand[ds->cand_off[o] + (t - p)]] - z[r];
    }
    if (j->cls >= 0) e->sc[o] = s;
    if (!--e->left[i]) e->done++;
  }
#undef ROW
}

/* Runs every job: batches of rows of nearly one length (padded to the
 * longest, the first, by at most an eighth), up to B*T positions and
 * MAX_LOGITS logits per forward; with full_logits, B rows in dataset order
 * and logits at every position. */
static int run_jobs(evaluation *e) {
  const st_dataset *ds = e->ds;
  int V = e->V, T = e->T, B = e->o->batch, full = e->o->full_logits;
  long budget = (long)B * T, cap = MAX_LOGITS / V;
  if (cap < 1) cap = 1;
  if (full && B > cap / T) B = cap / T > 0 ? (int)(cap / T) : 1;
  if (!full) qsort(e->jobs, (size_t)e->nj, sizeof *e->jobs, by_len);
  /* rows per forward; scored positions per forward (one row's always fit) */
  size_t rows_max = full ? (size_t)B : (size_t)budget;
  size_t pos_max = full ? (size_t)B * T : (size_t)(cap > T ? cap : T);
  if (pos_max > (size_t)budget) pos_max = (size_t)budget;
  int32_t *tok = st_malloc((size_t)budget * sizeof *tok);
  int32_t *pos = st_malloc(pos_max * sizeof *pos), *am = st_malloc(pos_max * sizeof *am);
  double *z = st_malloc(pos_max * sizeof *z);
  float *logits = st_malloc(pos_max * V * sizeof *logits);
  int rc = ST_ERR;
  if (!tok || !pos || !am || !z || !logits) goto done;
  for (int j0 = 0, j1; j0 < e->nj; j0 = j1) {
    int Tb = 0;
    size_t np = 0;
    for (j1 = j0; j1 < e->nj && (size_t)(j1 - j0) < rows_max; j1++) {
      const job *j = &e->jobs[j1];
      int tb = j->len > Tb ? j->len : Tb, ns = 0;
      for (int t = 0; t < j->len; t++) ns += scored(e, j, t);
      /* the first row always goes; sorted, a row pads to the first's
       * length, by at most an eighth of it */
      if (j1 > j0 && (np + ns > pos_max || (long)(j1 - j0 + 1) * tb > budget ||
                      (!full && 8 * (Tb - j->len) > Tb)))
        break;
      Tb = tb;
      np += ns;
    }
    int nb = j1 - j0;
    for (int b = 0, q = 0; b < nb; b++) {
      const job *j = &e->jobs[j0 + b];
      int i = j->ex, p = ds->prompt_len ? ds->prompt_len[i] : 0;
      int32_t *row = tok + (size_t)b * Tb;
      int own = j->cls >= 0 ? p : j->len; /* the example's own tokens */
      memcpy(row, ds->tok + (size_t)i * T, (size_t)own * sizeof *row);
      if (j->cls >= 0)
        memcpy(row + p, ds->cand + ds->cand_off[(size_t)i * e->K + j->cls],
               (size_t)(j->len - p) * sizeof *row);
      /* padding: any id will do, causal attention never reads it */
      for (int t = j->len; t < Tb; t++) row[t] = row[0];
      for (int t = 0; t < j->len; t++)
        if (scored(e, j, t)) pos[q++] = b * Tb + t;
    }
    if (full ? st_model_logits(e->m, tok, nb, Tb, logits)
             : st_model_logits_at(e->m, tok, nb, Tb, pos, (int)np, logits))
      goto done;
    score(e, j0, j1, logits, pos, (int)np, z, am);
    if (e->o->progress) e->o->progress(e->o->ctx, e->done, ds->n);
  }
  rc = ST_OK;
done:
  free(tok);
  free(pos);
  free(am);
  free(z);
  free(logits);
  return rc;
}

st_eval_opts st_eval_opts_default(int batch) {
  return (st_eval_opts){.batch = batch, .loss = 1, .classify = 1};
}

int st_eval_run(st_model *m, const st_dataset *ds, const st_eval_opts *o,
                st_eval_result *r, int32_t *pred, double *scores) {
  int V = m->cfg.vocab, n = ds->n, K = ds->n_classes;
  /* with the loss asked for too, data without classes just skips it */
  int classify = o->classify && (K > 0 || !o->loss);
  if (o->batch < 1) return st_err("eval: batch size %d, expected >= 1", o->batch);
  if (!o->loss && !o->classify)
    return st_err("eval: neither the loss nor classification asked for");
  if (classify && (K < 2 || !ds->cand || !ds->prompt_len))
    return st_err("%s: not a classification dataset (no verbalizers)", ds->path);
  if (check_ids(ds, V)) return ST_ERR;
  for (int64_t j = 0; classify && j < ds->cand_off[(size_t)n * K]; j++)
    if (ds->cand[j] < 0 || ds->cand[j] >= V)
      return st_err("%s: verbalizer token %d is outside the model's "
                    "vocabulary of %d", ds->path, ds->cand[j], V);
  evaluation e = {.m = m, .ds = ds, .o = o, .K = classify ? K : 0, .V = V, .T = ds->T};
  int rc = ST_ERR;
  int32_t *pr = NULL;
  int *conf = NULL;
  if (classify && (!(e.sc = st_calloc((size_t)n * K, sizeof *e.sc)) ||
                   !(pr = st_malloc((size_t)n * sizeof *pr)) ||
                   !(conf = st_malloc((size_t)K * K * sizeof *conf))))
    goto done;
  if (build_jobs(&e, o->loss, classify) || run_jobs(&e)) goto done;
  r->n_examples = n;
  if (o->loss) {
    r->n_tokens = e.ntok;
    r->loss = e.ntok ? e.sum / e.ntok : NAN;
    r->ppl = exp(r->loss);
    r->token_acc = e.ntok ? (double)e.hits / e.ntok : NAN;
  }
  if (classify) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
      int best = 0; /* ties: the lower class */
      for (int c = 1; c < K; c++)
        if (e.sc[(size_t)i * K + c] > e.sc[(size_t)i * K + best]) best = c;
      pr[i] = best;
      correct += best == ds->label[i];
    }
    st_eval_metrics(ds->label, pr, n, K, &r->accuracy, &r->macro_f1, conf);
    if (st_mcc((const int *)ds->label, (const int *)pr, n, &r->mcc)) r->mcc = NAN;
    free(r->confusion);
    r->confusion = conf;
    conf = NULL;
    r->n_classes = K;
    r->n_correct = correct;
    if (pred) memcpy(pred, pr, (size_t)n * sizeof *pred);
    if (scores) memcpy(scores, e.sc, (size_t)n * K * sizeof *scores);
  }
  rc = ST_OK;
done:
  free(e.jobs);
  free(e.left);
  free(e.sc);
  free(pr);
  free(conf);
  return rc;
}

int st_eval_loss(st_model *m, const st_dataset *ds, int B, st_eval_result *r) {
  st_eval_opts o = st_eval_opts_default(B);
  o.classify = 0;
  return st_eval_run(m, ds, &o, r, NULL, NULL);
}

int st_eval_classify(st_model *m, const st_dataset *ds, int B,
                     st_eval_result *r, int32_t *pred, double *scores) {
  st_eval_opts o = st_eval_opts_default(B);
  o.loss = 0;
  return st_eval_run(m, ds, &o, r, pred, scores);
}

/* ------------------------------------------------------------ generate */

int st_eval_generate(st_model *m, const st_tokenizer *tk, const st_dataset *ds,
                     int i, int max_new, float temperature, st_rng *rng,
                     char **text) {
  *text = NULL;
  if (!ds->prompt_len)
    return st_err("%s: generation needs prompt examples (prompt/completion or "
                  "classification data)", ds->path);
  if (i < 0 || i >= ds->n)
    return st_err("%s: example %d outside 0..%d", ds->path, i, ds->n - 1);
  int p = ds->prompt_len[i], V = m->cfg.vocab;
  if (p < 1) return st_err("%s: example %d has an empty prompt", ds->path, i);
  int cap = p + (max_new > 0 ? max_new : 0);
  if (cap > m->cfg.max_seq) cap = m->cfg.max_seq;
  if (cap < p) cap = p;
  int32_t *seq = st_malloc((size_t)cap * sizeof *seq);
  float *logits = st_malloc((size_t)V * sizeof *logits);
  int rc = ST_ERR, n = p;
  if (!seq || !logits) goto done;
  memcpy(seq, ds->tok + (size_t)i * ds->T, (size_t)p * sizeof *seq);
  int bos = st_tokenizer_bos(tk), eos = st_tokenizer_eos(tk);
  for (; n < cap; n++) {
    int32_t last = n - 1; /* only the next token's logits are needed */
    if (st_model_logits_at(m, seq, 1, n, &last, 1, logits)) goto done;
    int next = st_sample(logits, V, temperature, rng);
    if (next == eos || next == bos) break;
    seq[n] = next;
  }
  if (st_eval_decode_tail(tk, seq, p, n, text)) goto done;
  rc = ST_OK;
done:
  free(seq);
  free(logits);
  return rc;
}

int st_eval_decode_tail(const st_tokenizer *tk, const int32_t *ids, int p,
                        int n, char **text) {
  char *all = NULL, *head = NULL;
  *text = NULL;
  int rc = st_tokenizer_decode(tk, ids, n, &all);
  if (rc == ST_OK) rc = st_tokenizer_decode(tk, ids, p, &head);
  if (rc == ST_OK) {
    size_t hl = strlen(head);
    if (strncmp(all, head, hl))
      rc = st_tokenizer_decode(tk, ids + p, n - p, text);
    else if (!(*text = strdup(all + hl)))
      rc = st_err("out of memory");
  }
  free(all);
  free(head);
  return rc;
}

void st_eval_result_free(st_eval_result *r) {
  free(r->confusion);
  r->confusion = NULL;
}
