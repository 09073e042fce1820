/* eval.c - loss/perplexity, verbalizer classification and generation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"

/* at most this many logits floats per batch (256 MiB): a large vocabulary
 * shrinks the batch instead of exhausting memory */
#define MAX_LOGITS (1L << 26)

static int batch_rows(const st_model *m, int B, int T) {
  long cap = MAX_LOGITS / ((long)T * m->cfg.vocab);
  if (cap < 1) cap = 1;
  return B < cap ? B : (int)cap;
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

int st_eval_loss(st_model *m, const st_dataset *ds, int B, st_eval_result *r) {
  int V = m->cfg.vocab, T = ds->T;
  if (B < 1) return st_err("eval: batch size %d, expected >= 1", B);
  if (check_ids(ds, V)) return ST_ERR;
  B = batch_rows(m, B, T);
  int32_t *tok = st_malloc((size_t)B * T * sizeof *tok);
  float *logits = st_malloc((size_t)B * T * V * sizeof *logits);
  int rc = ST_ERR;
  double sum = 0;
  long ntok = 0, hits = 0;
  if (!tok || !logits) goto done;
  for (int i0 = 0; i0 < ds->n; i0 += B) {
    int nb = ds->n - i0 < B ? ds->n - i0 : B, Tb = 0;
    for (int b = 0; b < nb; b++) /* cut to the last loss position */
      for (int t = T - 1; t >= Tb; t--)
        if (ds->tgt[(size_t)(i0 + b) * T + t] >= 0) {
          Tb = t + 1;
          break;
        }
    if (Tb == 0) continue;
    for (int b = 0; b < nb; b++)
      memcpy(tok + (size_t)b * Tb, ds->tok + (size_t)(i0 + b) * T,
             (size_t)Tb * sizeof *tok);
    if (st_model_logits(m, tok, nb, Tb, logits)) goto done;
#pragma omp parallel for collapse(2) reduction(+ : sum, ntok, hits)
    for (int b = 0; b < nb; b++)
      for (int t = 0; t < Tb; t++) {
        int y = ds->tgt[(size_t)(i0 + b) * T + t];
        if (y < 0) continue;
        const float *x = logits + ((size_t)b * Tb + t) * V;
        sum += lse(x, V) - x[y];
        ntok++;
        int am = 0;
        for (int v = 1; v < V; v++)
          if (x[v] > x[am]) am = v;
        hits += am == y;
      }
  }
  r->n_examples = ds->n;
  r->n_tokens = ntok;
  r->loss = ntok ? sum / ntok : NAN;
  r->ppl = exp(r->loss);
  r->token_acc = ntok ? (double)hits / ntok : NAN;
  rc = ST_OK;
done:
  free(tok);
  free(logits);
  return rc;
}

/* ------------------------------------------------------------ classify */

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

typedef struct { int ex, cls; } job; /* cls -1: one row scores every class */

int st_eval_classify(st_model *m, const st_dataset *ds, int B,
                     st_eval_result *r, int32_t *pred, double *scores) {
  int K = ds->n_classes, V = m->cfg.vocab, T = ds->T, n = ds->n;
  if (K < 2 || !ds->cand || !ds->prompt_len)
    return st_err("%s: not a classification dataset (no verbalizers)",
                  ds->path);
  if (B < 1) return st_err("eval: batch size %d, expected >= 1", B);
  if (check_ids(ds, V)) return ST_ERR;
  for (int64_t j = 0; j < ds->cand_off[(size_t)n * K]; j++)
    if (ds->cand[j] < 0 || ds->cand[j] >= V)
      return st_err("%s: verbalizer token %d is outside the model's "
                    "vocabulary of %d", ds->path, ds->cand[j], V);
  B = batch_rows(m, B, T);
  job *jobs = st_malloc((size_t)n * K * sizeof *jobs);
  double *sc = st_calloc((size_t)n * K, sizeof *sc);
  int32_t *pr = st_malloc((size_t)n * sizeof *pr);
  int32_t *tok = st_malloc((size_t)B * T * sizeof *tok);
  float *logits = st_malloc((size_t)B * T * V * sizeof *logits);
  int *conf = st_malloc((size_t)K * K * sizeof *conf);
  int *len = st_malloc((size_t)B * sizeof *len);
  int rc = ST_ERR, nj = 0;
  if (!jobs || !sc || !pr || !tok || !logits || !conf || !len) goto done;
  for (int i = 0; i < n; i++) {
    int single = 1;
    for (int c = 0; c < K; c++)
      single &= ds->cand_off[(size_t)i * K + c + 1] -
                    ds->cand_off[(size_t)i * K + c] == 1;
    if (single) jobs[nj++] = (job){i, -1};
    else
      for (int c = 0; c < K; c++) jobs[nj++] = (job){i, c};
  }
  for (int j0 = 0; j0 < nj; j0 += B) {
    int nb = nj - j0 < B ? nj - j0 : B, Tb = 0;
    for (int b = 0; b < nb; b++) {
      const job *jb = &jobs[j0 + b];
      size_t o = (size_t)jb->ex * K + (jb->cls < 0 ? 0 : jb->cls);
      len[b] = ds->prompt_len[jb->ex] +
               (jb->cls < 0 ? 0 : (int)(ds->cand_off[o + 1] - ds->cand_off[o]) - 1);
      if (len[b] > Tb) Tb = len[b];
    }
    for (int b = 0; b < nb; b++) {
      const job *jb = &jobs[j0 + b];
      int p = ds->prompt_len[jb->ex];
      int32_t *row = tok + (size_t)b * Tb;
      memcpy(row, ds->tok + (size_t)jb->ex * T, (size_t)p * sizeof *row);
      if (jb->cls >= 0)
        memcpy(row + p, ds->cand + ds->cand_off[(size_t)jb->ex * K + jb->cls],
               (size_t)(len[b] - p) * sizeof *row);
      for (int t = len[b]; t < Tb; t++) row[t] = ds->pad;
    }
    if (st_model_logits(m, tok, nb, Tb, logits)) goto done;
    for (int b = 0; b < nb; b++) {
      const job *jb = &jobs[j0 + b];
      int i = jb->ex, p = ds->prompt_len[i];
      const float *lg = logits + (size_t)b * Tb * V;
      if (jb->cls < 0) {
        const float *x = lg + (size_t)(p - 1) * V;
        double z = lse(x, V);
        for (int c = 0; c < K; c++)
          sc[(size_t)i * K + c] = x[ds->cand[ds->cand_off[(size_t)i * K + c]]] - z;
        continue;
      }
      size_t o = (size_t)i * K + jb->cls;
      double s = 0;
      for (int64_t q = ds->cand_off[o]; q < ds->cand_off[o + 1]; q++) {
        const float *x = lg + (size_t)(p - 1 + (q - ds->cand_off[o])) * V;
        s += x[ds->cand[q]] - lse(x, V);
      }
      sc[o] = s;
    }
  }
  int correct = 0;
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < K; c++)
      if (sc[(size_t)i * K + c] > sc[(size_t)i * K + best]) best = c;
    pr[i] = best;
    correct += best == ds->label[i];
  }
  st_eval_metrics(ds->label, pr, n, K, &r->accuracy, &r->macro_f1, conf);
  free(r->confusion);
  r->confusion = conf;
  conf = NULL;
  r->n_classes = K;
  r->n_correct = correct;
  r->n_examples = n;
  if (pred) memcpy(pred, pr, (size_t)n * sizeof *pred);
  if (scores) memcpy(scores, sc, (size_t)n * K * sizeof *scores);
  rc = ST_OK;
done:
  free(jobs);
  free(sc);
  free(pr);
  free(tok);
  free(logits);
  free(conf);
  free(len);
  return rc;
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
  float *logits = st_malloc((size_t)cap * V * sizeof *logits);
  int rc = ST_ERR, n = p;
  if (!seq || !logits) goto done;
  memcpy(seq, ds->tok + (size_t)i * ds->T, (size_t)p * sizeof *seq);
  int bos = st_tokenizer_bos(tk), eos = st_tokenizer_eos(tk);
  for (; n < cap; n++) {
    if (st_model_logits(m, seq, 1, n, logits)) goto done;
    int next = st_sample(logits + (size_t)(n - 1) * V, V, temperature, rng);
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
