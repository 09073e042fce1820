/* trace.c - transition-trace collection (see trace.h). */
#include <cblas.h>
#include <lapacke.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cost.h"
#include "error.h"
#include "forward.h"
#include "fs.h"
#include "plan.h"
#include "sampler.h"
#include "trace.h"
#include "weights.h"
#include "train.h"

const char *const st_measure_names[ST_NMEASURES] = {
    "delta_norm", "delta_rel", "cos_prev", "lens_loss", "basis_dev"};

int st_measure_index(const char *name) {
  for (int i = 0; i < ST_NMEASURES; i++)
    if (!strcmp(st_measure_names[i], name)) return i;
  return -1;
}

/* --- pinv(W_U)^T ------------------------------------------------------ */

/* W = U S Vt (W: [V,C]); pinv(W)^T = U S^+ Vt, with singular values below
 * max(V,C) * eps * s_max treated as zero (numpy's default rcond). */
static int pinv_t(const float *W, int V, int C, float *out) {
  int k = V < C ? V : C, rc = ST_ERR;
  double *a = malloc((size_t)V * C * sizeof *a), *s = malloc(k * sizeof *s);
  double *u = malloc((size_t)V * k * sizeof *u), *vt = malloc((size_t)k * C * sizeof *vt);
  if (!a || !s || !u || !vt) { st_err("pinv: out of memory"); goto done; }
  for (size_t i = 0; i < (size_t)V * C; i++) a[i] = W[i];
  lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', V, C, a, C, s, u, k, vt, C);
  if (info) { st_err("pinv: LAPACKE_dgesdd failed (info %d)", (int)info); goto done; }
  double cut = (V > C ? V : C) * 2.220446049250313e-16 * s[0];
  for (int j = 0; j < k; j++) s[j] = s[j] > cut ? 1.0 / s[j] : 0.0;
  /* (U S^+) Vt: scale U's columns, then one GEMM; a is free again */
  for (int r = 0; r < V; r++)
    for (int j = 0; j < k; j++) u[(size_t)r * k + j] *= s[j];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, C, k, 1.0, u, k, vt, C, 0.0, a, C);
  for (size_t i = 0; i < (size_t)V * C; i++) out[i] = (float)a[i];
  rc = ST_OK;
done:
  free(a); free(s); free(u); free(vt);
  return rc;
}

int st_unembed_pinv_t(const st_model *m, float **out) {
  int V = m->cfg.vocab, C = m->cfg.dim;
  size_t n = (size_t)V * C;
  float *W = st_malloc(n * sizeof *W), *P = st_malloc(n * sizeof *P);
  if (!W || !P) { free(W); free(P); return ST_ERR; }
  /* through st_model_get: a frozen head may be held in bf16/f16 or mapped */
  if (st_model_get(m, st_head_param(m), W, n)) { free(W); free(P); return ST_ERR; }
  /* keyed by the matrix itself: a changed head never reads a stale file */
  uint64_t key = st_fnv1a(W, n * sizeof *W, ST_FNV_INIT);
  char name[64], path[ST_PATH_MAX];
  snprintf(name, sizeof name, "pinv/%016llx-%dx%d.f32", (unsigned long long)key, V, C);
  /* caching is best effort: without a cache folder it is computed anyway */
  int cached = st_cache_path(name, path, sizeof path) == ST_OK;
  if (!cached) snprintf(path, sizeof path, "(no cache: %s)", st_errmsg());
  FILE *f = cached ? fopen(path, "rb") : NULL;
  if (f) {
    size_t got = fread(P, sizeof *P, n, f);
    int extra = fgetc(f);
    fclose(f);
    if (got == n && extra == EOF) { free(W); *out = P; return ST_OK; }
    /* short or long file: a stale or corrupt cache entry, recompute */
  }
  /* a minute or more for a GPT-2-sized vocabulary: say so */
  if ((size_t)V * C > 4u << 20)
    fprintf(stderr, "strata: computing pinv(W_U) for the %dx%d unembedding (once per "
                    "model; cached in %s)\n", V, C, path);
  if (pinv_t(W, V, C, P)) goto fail;
  /* caching is best effort; the temporary file has a name of its own
   * (fs.h): sweeps trace the same model in parallel processes */
  if (cached) st_write_file_atomic(path, P, n * sizeof *P);
  free(W);
  *out = P;
  return ST_OK;
fail:
  free(W); free(P);
  return ST_ERR;
}

/* --- collection -------------------------------------------------------- */

typedef struct ctx {
  st_model *m;
  st_trace *tr;
  int N, C, V;
  const int32_t *tgt;   /* host [N] of this batch */
  const int32_t *tgt_d; /* device */
  float *cur, *prev;    /* host [N,C] */
  const float *pinv;    /* host [V,C] */
  float *lnf, *stats, *logits, *losses, *hloss; /* device; hloss host [N] */
  double *sum, *sumsq;  /* [(L+1)*NM] */
  const int *keep_slot; /* [N]: kept-vector slot of each token, or -1 */
} ctx;

static double dot(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static void on_hidden(void *vp, int l, const float *h) {
  ctx *c = vp;
  const st_backend *be = c->m->be;
  int C = c->C, N = c->N;
  be->download(c->cur, h, (size_t)N * C * sizeof(float));
  /* logit lens: the model's own final norm and head applied to h_l */
  st_final_norm(c->m, c->lnf, c->stats, c->stats + N, h, N);
  st_head_fwd(c->m, c->logits, c->lnf, N);
  be->softmax_ce(c->losses, c->logits, c->tgt_d, N, c->V, 0.0f);
  be->download(c->hloss, c->losses, (size_t)N * sizeof(float));
  double *s = c->sum + l * ST_NMEASURES, *q = c->sumsq + l * ST_NMEASURES;
  for (int i = 0; i < N; i++) {
    int y = c->tgt[i];
    if (y < 0) continue;
    const float *x = c->cur + (size_t)i * C, *p = c->prev + (size_t)i * C;
    double v[ST_NMEASURES] = {0};
    double xx = dot(x, x, C);
    if (l > 0) {
      double pp = dot(p, p, C), xp = dot(x, p, C);
      double d2 = xx - 2 * xp + pp;
      v[ST_M_DELTA_NORM] = sqrt(d2 > 0 ? d2 : 0);
      v[ST_M_DELTA_REL] = v[ST_M_DELTA_NORM] / (sqrt(pp) + 1e-12);
      v[ST_M_COS_PREV] = xp / (sqrt(xx * pp) + 1e-12);
    }
    v[ST_M_LENS_LOSS] = c->hloss[i];
    const float *sy = c->pinv + (size_t)y * C;
    v[ST_M_BASIS_DEV] = 1 - dot(x, sy, C) / (sqrt(xx * dot(sy, sy, C)) + 1e-12);
    for (int k = 0; k < ST_NMEASURES; k++) {
      s[k] += v[k];
      q[k] += v[k] * v[k];
    }
    if (c->keep_slot[i] >= 0)
      memcpy(c->tr->kept + ((size_t)l * c->tr->keep + c->keep_slot[i]) * C, x,
             C * sizeof *x);
  }
  float *t = c->prev;
  c->prev = c->cur;
  c->cur = t;
}

void st_trace_free(st_trace *tr) {
  free(tr->m);
  free(tr->params);
  free(tr->wgrad_flops);
  free(tr->dgrad_flops);
  free(tr->kept);
  free(tr->grad_norm);
  free(tr->grad_ratio);
  memset(tr, 0, sizeof *tr);
}

int st_trace_collect(st_trace *tr, st_model *m, const int32_t *tok,
                     const int32_t *tgt, int M, int T, int keep,
                     uint64_t seed) {
  return st_trace_collect_cb(tr, m, tok, tgt, M, T, keep, seed, NULL, NULL);
}

int st_trace_collect_cb(st_trace *tr, st_model *m, const int32_t *tok,
                        const int32_t *tgt, int M, int T, int keep,
                        uint64_t seed, st_trace_progress progress, void *pctx) {
  const st_config *cf = &m->cfg;
  const st_backend *be = m->be;
  int L = cf->n_layers, C = cf->dim, V = cf->vocab;
  memset(tr, 0, sizeof *tr);
  if (M < 1 || T < 1) return st_err("trace: no sequences to trace");
  long total = 0;
  for (long i = 0; i < (long)M * T; i++) {
    if (tgt[i] >= V)
      return st_err("trace: target id %d at position %ld is outside the vocabulary (0..%d)",
                    tgt[i], i, V - 1);
    total += tgt[i] >= 0;
  }
  if (!total) return st_err("trace: the data has no loss-bearing tokens");
  if (keep < 0) return st_err("trace: keep must be >= 0");
  if (keep > total) keep = (int)total;
  tr->n_layers = L;
  tr->dim = C;
  tr->n_seqs = M;
  tr->seq_len = T;
  tr->keep = keep;
  tr->n_tokens = total;
  size_t nm = (size_t)(L + 1) * ST_NMEASURES;
  tr->m = st_calloc(nm, sizeof *tr->m);
  tr->params = st_calloc(L, sizeof *tr->params);
  tr->wgrad_flops = st_calloc(L, sizeof *tr->wgrad_flops);
  tr->dgrad_flops = st_calloc(L, sizeof *tr->dgrad_flops);
  tr->kept = st_calloc((size_t)(L + 1) * (keep ? keep : 1) * C, sizeof(float));
  if (!tr->m || !tr->params || !tr->wgrad_flops || !tr->dgrad_flops || !tr->kept) {
    st_trace_free(tr);
    return ST_ERR;
  }
  for (int l = 0; l < L; l++) {
    st_layer_flops f = st_layer_cost_full(m, l, T);
    tr->params[l] = st_layer_params(m, l);
    tr->wgrad_flops[l] = f.wgrad;
    tr->dgrad_flops[l] = f.dgrad;
  }

  /* which loss-bearing tokens to keep: a seeded partial shuffle */
  int *pick = NULL;
  if (keep) {
    pick = st_malloc(sizeof *pick * (size_t)keep);
    if (!pick) { st_trace_free(tr); return ST_ERR; }
    st_rng rng;
    st_rng_seed(&rng, seed);
    for (int j = 0; j < keep; j++) {
      long r;
      int dup;
      do { /* rejection keeps the picks distinct */
        r = (long)(st_rng_next(&rng) % (uint64_t)total);
        dup = 0;
        for (int k = 0; k < j; k++) dup |= pick[k] == r;
      } while (dup);
      pick[j] = (int)r;
    }
  }

  int bs = M < 8 ? M : 8, rc = ST_ERR; /* sequences per forward */
  size_t N = (size_t)bs * T;
  ctx c = {.m = m, .tr = tr, .C = C, .V = V};
  c.cur = st_malloc(N * C * sizeof(float));
  c.prev = st_malloc(N * C * sizeof(float));
  c.hloss = st_malloc(N * sizeof(float));
  c.sum = st_calloc(nm, sizeof(double));
  c.sumsq = st_calloc(nm, sizeof(double));
  int *slot = st_malloc(N * sizeof(int));
  float *pinv = NULL;
  int32_t *tgt_d = be->alloc(N * sizeof(int32_t));
  c.lnf = be->alloc(N * C * sizeof(float));
  c.stats = be->alloc(2 * N * sizeof(float));
  c.logits = be->alloc(N * V * sizeof(float));
  c.losses = be->alloc(N * sizeof(float));
  if (!c.cur || !c.prev || !c.hloss || !c.sum || !c.sumsq || !slot || !tgt_d ||
      !c.lnf || !c.stats || !c.logits || !c.losses)
    goto done;
  if (st_unembed_pinv_t(m, &pinv)) goto done;
  c.pinv = pinv;
  c.keep_slot = slot;
  c.tgt_d = tgt_d;
  long seen = 0; /* loss-bearing tokens before this batch */
  for (int s0 = 0; s0 < M; s0 += bs) {
    int nb = M - s0 < bs ? M - s0 : bs;
    c.N = nb * T;
    c.tgt = tgt + (size_t)s0 * T;
    for (int i = 0; i < c.N; i++) {
      slot[i] = -1;
      if (c.tgt[i] < 0) continue;
      for (int j = 0; j < keep; j++)
        if (pick[j] == seen) slot[i] = j;
      seen++;
    }
    be->upload(tgt_d, c.tgt, (size_t)c.N * sizeof(int32_t));
    if (st_model_forward(m, tok + (size_t)s0 * T, nb, T, on_hidden, &c, NULL))
      goto done;
    if (progress) progress(pctx, s0 + nb, M);
  }
  for (size_t k = 0; k < nm; k++) {
    double mean = c.sum[k] / total, var = c.sumsq[k] / total - mean * mean;
    tr->m[k].mean = mean;
    tr->m[k].std = sqrt(var > 0 ? var : 0);
  }
  rc = ST_OK;
done:
  free(c.cur); free(c.prev); free(c.hloss); free(c.sum); free(c.sumsq);
  free(slot); free(pick); free(pinv);
  if (tgt_d) be->free(tgt_d);
  if (c.lnf) be->free(c.lnf);
  if (c.stats) be->free(c.stats);
  if (c.logits) be->free(c.logits);
  if (c.losses) be->free(c.losses);
  if (rc) st_trace_free(tr);
  return rc;
}

/* --- the gradient probe ------------------------------------------------ */

/* sum of squares of parameter p's host copy w[n] */
static double sumsq(const float *w, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)w[i] * w[i];
  return s;
}

int st_trace_gradients(st_trace *tr, st_model *m, const int32_t *tok,
                       const int32_t *tgt, int M, int T) {
  int L = m->cfg.n_layers, V = m->cfg.vocab;
  if (!tr->m || tr->n_layers != L)
    return st_err("trace gradients: collect the trace of this model first");
  if (M < 1 || T < 1) return st_err("trace gradients: no sequences");
  long total = 0;
  for (long i = 0; i < (long)M * T; i++) {
    if (tok[i] < 0 || tok[i] >= V)
      return st_err("trace gradients: token id %d at position %ld is outside the "
                    "vocabulary (0..%d)", tok[i], i, V - 1);
    if (tgt[i] >= V)
      return st_err("trace gradients: target id %d at position %ld is outside the "
                    "vocabulary (0..%d)", tgt[i], i, V - 1);
    total += tgt[i] >= 0;
  }
  if (!total) return st_err("trace gradients: the data has no loss-bearing tokens");
  /* the layers' tensors get one double accumulator each, back to back */
  size_t *at = st_calloc((size_t)m->n_tab, sizeof *at), nacc = 0, wmax = 0;
  if (!at) return ST_ERR;
  for (int i = 0; i < m->n_tab; i++) {
    size_t n = (size_t)m->tab[i].rows * m->tab[i].cols;
    if (n > wmax) wmax = n;
    at[i] = nacc;
    if (m->tab[i].group == ST_G_LAYER) nacc += n;
  }
  int bs = M < 8 ? M : 8, rc = ST_ERR;
  size_t N = (size_t)bs * T;
  st_plan plan = {0};
  st_trainer *t = NULL;
  double *acc = st_calloc(nacc ? nacc : 1, sizeof *acc);
  float *g = st_malloc(wmax * sizeof *g);
  int32_t *btok = st_malloc(N * sizeof *btok), *btgt = st_malloc(N * sizeof *btgt);
  double *gn = st_calloc((size_t)L, sizeof *gn), *wn = st_calloc((size_t)L, sizeof *wn);
  if (!acc || !g || !btok || !btgt || !gn || !wn) goto done;
  if (st_plan_parse(&plan, m, "all") || st_trainer_new(&t, m, &plan, bs, T)) goto done;
  double loss_sum = 0;
  for (int s0 = 0; s0 < M; s0 += bs) {
    int nb = M - s0 < bs ? M - s0 : bs;
    /* the last micro-batch is padded with rows that carry no loss */
    size_t n = (size_t)nb * T;
    memcpy(btok, tok + (size_t)s0 * T, n * sizeof *btok);
    memcpy(btgt, tgt + (size_t)s0 * T, n * sizeof *btgt);
    for (size_t i = n; i < N; i++) btok[i] = 0, btgt[i] = -1;
    long nvalid = 0;
    for (size_t i = 0; i < n; i++) nvalid += btgt[i] >= 0;
    if (!nvalid) continue;
    float loss;
    if (st_trainer_fwdbwd(t, btok, btgt, &loss)) {
      st_err_prefix("trace gradients: sequences %d..%d: ", s0, s0 + nb - 1);
      goto done;
    }
    /* the micro-batch's gradient is of its own mean loss: weighted by its
     * share of the tokens, the sum is the gradient of the whole mean */
    double w = (double)nvalid / total;
    loss_sum += w * loss;
    for (int i = 0; i < m->n_tab; i++) {
      const st_param *p = &m->tab[i];
      if (p->group != ST_G_LAYER) continue;
      size_t pn = (size_t)p->rows * p->cols;
      if (st_trainer_grad(t, p, g, pn)) goto done;
      for (size_t j = 0; j < pn; j++) acc[at[i] + j] += w * g[j];
    }
    if (st_trainer_zero_grad(t)) goto done;
  }
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *p = &m->tab[i];
    if (p->group != ST_G_LAYER) continue;
    size_t pn = (size_t)p->rows * p->cols;
    for (size_t j = 0; j < pn; j++) gn[p->layer] += acc[at[i] + j] * acc[at[i] + j];
    if (st_model_get(m, p, g, pn)) goto done;
    wn[p->layer] += sumsq(g, pn);
  }
  for (int l = 0; l < L; l++) {
    gn[l] = sqrt(gn[l]);
    wn[l] = wn[l] > 0 ? gn[l] / sqrt(wn[l]) : NAN; /* now the ratio */
  }
  st_flops f = st_plan_flops(&plan, m, T);
  free(tr->grad_norm);
  free(tr->grad_ratio);
  tr->grad_norm = gn;
  tr->grad_ratio = wn;
  gn = wn = NULL;
  tr->grad_loss = loss_sum;
  tr->grad_tokens = (long)M * T;
  tr->grad_fwd_flops = (double)M * T * f.fwd;
  tr->grad_bwd_flops = (double)M * T * f.bwd;
  rc = ST_OK;
done:
  st_trainer_free(t);
  /* the probe's full plan widened every matrix to fp32: back to the frozen dtype */
  if (st_model_narrow_all(m)) rc = ST_ERR;
  st_plan_free(&plan);
  free(at); free(acc); free(g); free(btok); free(btgt); free(gn); free(wn);
  return rc;
}

/* --- trace.json ------------------------------------------------------------ */

/* {"mean": v} for a measure that is one number per layer, not a mean over
 * tokens (so it has no spread) */
static json_t *single(double v) {
  json_t *o = json_object();
  json_object_set_new(o, "mean", json_real(v));
  return o;
}

int st_trace_write_json(const st_trace *tr, const char *path) {
  json_t *o = json_object(), *layers = json_array();
  json_object_set_new(o, "n_layers", json_integer(tr->n_layers));
  json_object_set_new(o, "n_tokens", json_integer(tr->n_tokens));
  json_object_set_new(o, "n_seqs", json_integer(tr->n_seqs));
  json_object_set_new(o, "seq_len", json_integer(tr->seq_len));
  json_t *rep = json_object();
  const char *raw = "h_l raw: the embedding output at l = 0, else block l-1's output "
                    "(h_L is before the final norm)";
  json_object_set_new(rep, "delta_norm", json_string(raw));
  json_object_set_new(rep, "delta_rel", json_string(raw));
  json_object_set_new(rep, "cos_prev", json_string(raw));
  json_object_set_new(rep, "basis_dev", json_string(raw));
  json_object_set_new(rep, "lens_loss", json_string("final norm, then the head, applied to h_l"));
  if (tr->grad_norm) {
    json_object_set_new(rep, "grad_norm", json_string("the weights of block l-1 (space l)"));
    json_object_set_new(rep, "grad_ratio", json_string("the weights of block l-1 (space l)"));
    json_t *gr = json_object();
    json_object_set_new(gr, "loss", json_real(tr->grad_loss));
    json_object_set_new(gr, "tokens", json_integer(tr->grad_tokens));
    json_object_set_new(gr, "fwd_flops", json_real(tr->grad_fwd_flops));
    json_object_set_new(gr, "bwd_flops", json_real(tr->grad_bwd_flops));
    json_object_set_new(o, "gradients", gr);
  }
  json_object_set_new(o, "representations", rep);
  for (int l = 0; l <= tr->n_layers; l++) {
    json_t *e = json_object();
    json_object_set_new(e, "space", json_integer(l));
    for (int k = 0; k < ST_NMEASURES; k++) {
      st_stat s = st_trace_get(tr, l, k);
      json_t *ms = json_object();
      json_object_set_new(ms, "mean", json_real(s.mean));
      json_object_set_new(ms, "std", json_real(s.std));
      json_object_set_new(e, st_measure_names[k], ms);
    }
    if (l > 0) {
      json_object_set_new(e, "params", json_integer((json_int_t)tr->params[l - 1]));
      json_object_set_new(e, "wgrad_flops", json_real(tr->wgrad_flops[l - 1]));
      json_object_set_new(e, "dgrad_flops", json_real(tr->dgrad_flops[l - 1]));
      if (tr->grad_norm) {
        json_object_set_new(e, "grad_norm", single(tr->grad_norm[l - 1]));
        json_object_set_new(e, "grad_ratio", single(tr->grad_ratio[l - 1]));
      }
    }
    json_array_append_new(layers, e);
  }
  json_object_set_new(o, "spaces", layers);
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  int rc = ST_ERR;
  if (f && json_dumpf(o, f, JSON_INDENT(1) | JSON_REAL_PRECISION(8)) != 0) {
    st_atomic_abort(&a);
    st_err("%s: cannot write trace JSON", path);
  } else if (f) {
    rc = st_atomic_commit(&a);
  }
  json_decref(o);
  return rc;
}
