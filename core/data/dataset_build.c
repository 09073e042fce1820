/* dataset_build.c - turning tokenized documents, prompt examples and
 * conversations into rows of T positions (see dataset.h for the rules). */
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "error.h"

static int push_n(st_ivec *v, const int32_t *x, int n) {
  if (st_ivec_reserve(v, (size_t)n)) return ST_ERR;
  memcpy(v->p + v->n, x, (size_t)n * sizeof *x);
  v->n += (size_t)n;
  return ST_OK;
}

int ds_add_doc(ds_build *b, const char *text, size_t len) {
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                     text[i] == '\r'))
    i++;
  if (i == len) return ST_OK;
  int32_t *ids = NULL;
  int n = 0;
  if (st_tokenizer_encode(b->tk, text, len, 1, &ids, &n)) return ST_ERR;
  int rc = push_n(&b->stream, ids, n);
  free(ids);
  if (rc == ST_OK && b->eos >= 0 && b->eos != b->bos)
    rc = st_ivec_push(&b->stream, b->eos);
  return rc;
}

/* encode(prompt + cont) with BOS */
static int encode_joined(ds_build *b, const char *prompt, const char *cont,
                         int32_t **ids, int *n) {
  b->scratch.n = 0;
  if (st_sbuf_put(&b->scratch, prompt, strlen(prompt)) ||
      st_sbuf_put(&b->scratch, cont, strlen(cont)))
    return ST_ERR;
  return st_tokenizer_encode(b->tk, b->scratch.p, b->scratch.n, 1, ids, n);
}

int ds_add_example(ds_build *b, const char *prompt, const char *const *conts,
                   int nc, int gold, int add_eos, const char *where) {
  int rc = ST_ERR, np = 0, T = b->T;
  int32_t *P = NULL, **F = st_calloc((size_t)nc, sizeof *F);
  int *nf = st_calloc((size_t)nc, sizeof *nf);
  if (!F || !nf) goto done;
  if (st_tokenizer_encode(b->tk, prompt, strlen(prompt), 1, &P, &np)) goto done;
  /* the shared prompt: the longest prefix of encode(prompt) that every
   * encode(prompt + continuation) starts with */
  int p = np;
  for (int c = 0; c < nc; c++) {
    if (encode_joined(b, prompt, conts[c], &F[c], &nf[c])) goto done;
    int k = 0;
    while (k < p && k < nf[c] && F[c][k] == P[k]) k++;
    p = k;
  }
  int qmax = 0, extra = add_eos && b->eos >= 0;
  for (int c = 0; c < nc; c++) {
    int q = nf[c] - p + (c == gold ? extra : 0);
    if (q == 0) {
      st_err("%s: continuation \"%s\" adds no tokens to the prompt", where,
             conts[c]);
      goto done;
    }
    if (nc > 1 && q > T) {
      st_err("%s: verbalizer \"%s\" is %d tokens, more than seq_len %d allows",
             where, conts[c], q, T);
      goto done;
    }
    if (q > qmax) qmax = q;
  }
  if (nc > 1 && p == 0) {
    st_err("%s: the prompt is empty and the tokenizer has no BOS, so the "
           "first verbalizer token cannot be scored", where);
    goto done;
  }
  /* too long: drop prompt tokens after BOS, then cut the completion */
  int keep = p > 0 && P[0] == b->bos ? 1 : 0, drop = 0;
  /* a class needs one prompt position to score its first token */
  int maxdrop = p - keep - (nc > 1 && keep == 0 ? 1 : 0);
  int excess = p + qmax - (T + 1);
  if (excess > 0) {
    b->n_trunc++;
    drop = excess < maxdrop ? excess : maxdrop;
  }
  int pl = p - drop; /* prompt tokens kept */
  int qg = nf[gold] - p + extra;
  if (pl + qg > T + 1) qg = T + 1 - pl;
  /* the gold sequence s = P[0..keep) P[keep+drop..p) F[gold][p..] (EOS) */
  size_t r = b->tok.n;
  if (st_ivec_reserve(&b->tok, (size_t)T) || st_ivec_reserve(&b->tgt, (size_t)T))
    goto done;
  int L = pl + qg;
  int32_t *s = st_malloc((size_t)(L + 1) * sizeof *s);
  if (!s) goto done;
  for (int i = 0; i < pl; i++) s[i] = P[i < keep ? i : i + drop];
  for (int j = 0; j < qg; j++)
    s[pl + j] = p + j < nf[gold] ? F[gold][p + j] : b->eos;
  for (int t = 0; t < T; t++) {
    b->tok.p[r + t] = t < L ? s[t] : b->pad;
    b->tgt.p[r + t] = t + 1 < L && t + 1 >= pl ? s[t + 1] : -1;
  }
  free(s);
  b->tok.n += T;
  b->tgt.n += T;
  if (st_ivec_push(&b->plen, pl)) goto done;
  if (b->K > 0) {
    if (st_ivec_push(&b->label, gold)) goto done;
    for (int c = 0; c < nc; c++)
      if (st_ivec_push(&b->clen, nf[c] - p) ||
          push_n(&b->cand, F[c] + p, nf[c] - p))
        goto done;
  }
  b->n++;
  rc = ST_OK;
done:
  free(P);
  if (F)
    for (int c = 0; c < nc; c++) free(F[c]);
  free(F);
  free(nf);
  return rc;
}

int ds_add_masked(ds_build *b, const int32_t *ids, const unsigned char *train,
                  int n) {
  int T = b->T, L = n > T + 1 ? T + 1 : n;
  /* the first trained token; token 0 has no position to be predicted from */
  int first = 1;
  while (first < L && !train[first]) first++;
  if (first >= L) {
    b->n_skip++;
    return ST_OK;
  }
  if (L < n) b->n_trunc++;
  size_t r = b->tok.n;
  if (st_ivec_reserve(&b->tok, (size_t)T) || st_ivec_reserve(&b->tgt, (size_t)T))
    return ST_ERR;
  for (int t = 0; t < T; t++) {
    b->tok.p[r + t] = t < L ? ids[t] : b->pad;
    b->tgt.p[r + t] = t + 1 < L && train[t + 1] ? ids[t + 1] : -1;
  }
  b->tok.n += T;
  b->tgt.n += T;
  if (st_ivec_push(&b->plen, first)) return ST_ERR;
  b->n++;
  return ST_OK;
}
