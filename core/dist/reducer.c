/* reducer.c - per-layer gradient buckets summed over the ranks (reducer.h).
 *
 * Bucket b = group b - 1 (0: embeddings, 1..L: layers 0..L-1, L+1: final
 * norm and head). Buckets start in the order the backward completes them,
 * L+1 down to 0, on every rank, which is the order MPI and NCCL need the
 * collectives in. Two ways to sum one:
 *  - host (the CPU backend; CUDA without NCCL): every bucket lives in one
 *    host buffer; a bucket's members are copied in (be->download: a memcpy
 *    on the CPU), summed in place by one MPI_Iallreduce, and copied back
 *    (be->upload);
 *  - device (CUDA with NCCL, dist_nccl.h): the members are summed where
 *    they are, in place, as one NCCL group on the communication stream;
 *    the compute stream waits for all of them before the update. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"
#include "dist_nccl.h"
#include "error.h"
#include "lora.h"
#include "reducer.h"

typedef struct member {
  float *grad; /* backend buffer */
  size_t n, off; /* values, and where they go in the host buffer */
} member;

typedef struct bucket {
  size_t off, n; /* its part of the host buffer */
  int first, count; /* its members: mem[first .. first+count) */
  int started;
  st_dist_req req;
} bucket;

struct st_reducer {
  st_trainer *t;
  const st_model *m;
  const st_backend *be;
  int device;       /* sums on the device through NCCL */
  int nb;           /* L + 2 */
  bucket *b;        /* [nb] */
  member *mem;
  int nmem, capmem;
  float *host;      /* every bucket, contiguous (host mode) */
  size_t cap;       /* floats in host */
  float **ptrs;     /* [nmem] device mode: the members' buffers and sizes */
  size_t *sizes;
  int err;          /* an error in ready(), reported by finish() */
  char errmsg[256];
  st_reduce_stats st;
  double t_in;      /* when the current reducer call began */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int group_of(const st_model *m, const st_param *q) {
  switch (q->group) {
  case ST_G_EMBED: return -1;
  case ST_G_LAYER: return q->layer;
  default: return m->cfg.n_layers; /* final norm, head */
  }
}

static int add_member(st_reducer *r, float *grad, size_t n) {
  if (r->nmem == r->capmem) {
    int cap = r->capmem ? 2 * r->capmem : 64;
    member *g = realloc(r->mem, (size_t)cap * sizeof *g);
    if (!g) return st_err("out of memory");
    r->mem = g;
    r->capmem = cap;
  }
  r->mem[r->nmem++] = (member){grad, n, 0};
  return ST_OK;
}

/* the buckets of the trainer's current plan */
static int layout(st_reducer *r) {
  const st_model *m = r->m;
  const st_lora *lo = st_trainer_lora(r->t);
  r->nmem = 0;
  size_t off = 0;
  int buckets = 0;
  for (int b = r->nb - 1; b >= 0; b--) {
    bucket *k = &r->b[b];
    int g = b - 1;
    *k = (bucket){.off = off, .first = r->nmem};
    for (int i = 0; i < m->n_tab; i++) {
      float *grad = st_trainer_grad_buf(r->t, &m->tab[i]);
      if (grad && group_of(m, &m->tab[i]) == g &&
          add_member(r, grad, (size_t)m->tab[i].rows * m->tab[i].cols))
        return ST_ERR;
    }
    for (int i = 0; lo && i < lo->n; i++) {
      const st_adapter *a = &lo->a[i];
      if (!a->train || a->layer != g) continue;
      const st_param *w = &m->tab[a->param];
      if (add_member(r, a->dA, (size_t)a->rank * w->cols) ||
          add_member(r, a->dB, (size_t)w->rows * a->rank))
        return ST_ERR;
    }
    k->count = r->nmem - k->first;
    for (int j = k->first; j < r->nmem; j++) {
      r->mem[j].off = off;
      off += r->mem[j].n;
    }
    k->n = off - k->off;
    buckets += k->n > 0;
  }
  if (r->device) {
    float **p = realloc(r->ptrs, (size_t)(r->nmem + 1) * sizeof *p);
    if (p) r->ptrs = p;
    size_t *z = p ? realloc(r->sizes, (size_t)(r->nmem + 1) * sizeof *z) : NULL;
    if (z) r->sizes = z;
    if (!p || !z) return st_err("gradient buckets: out of memory");
    for (int j = 0; j < r->nmem; j++) r->ptrs[j] = r->mem[j].grad, r->sizes[j] = r->mem[j].n;
  } else if (off > r->cap) {
    float *h = realloc(r->host, off * sizeof *h);
    if (!h) return st_err("gradient buckets: out of memory for %zu floats", off);
    r->host = h;
    r->cap = off;
  }
  r->st.bytes = off * sizeof(float);
  r->st.buckets = buckets;
  return ST_OK;
}

static int start(st_reducer *r, bucket *k) {
  k->started = 1;
  if (!k->n) return ST_OK;
  if (r->device) return st_nccl_sum_start(r->ptrs + k->first, r->sizes + k->first, k->count);
  for (int j = k->first; j < k->first + k->count; j++)
    r->be->download(r->host + r->mem[j].off, r->mem[j].grad,
                    r->mem[j].n * sizeof(float));
  return st_dist_isum_f32(r->host + k->off, k->n, &k->req);
}

static int targets(void *ctx, long *counts, int K) {
  st_reducer *r = ctx;
  double t0 = now_s();
  r->err = 0;
  double *c = st_malloc((size_t)K * sizeof *c);
  if (!c) return ST_ERR;
  for (int k = 0; k < K; k++) c[k] = (double)counts[k];
  int rc = st_dist_sum_f64(c, (size_t)K);
  for (int k = 0; rc == ST_OK && k < K; k++) counts[k] = (long)c[k];
  free(c);
  if (rc == ST_OK) rc = layout(r);
  r->st.comm_s += now_s() - t0;
  return rc;
}

static void ready(void *ctx, int g) {
  st_reducer *r = ctx;
  double t0 = now_s();
  bucket *k = &r->b[g + 1];
  if (!r->err && !k->started && start(r, k)) {
    r->err = 1;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", st_errmsg());
  }
  /* move the earlier sums on while this rank goes on with its backward */
  for (int b = r->nb - 1; b > g + 1 && !r->err; b--) {
    int done;
    if (r->b[b].req.impl && st_dist_test(&r->b[b].req, &done)) {
      r->err = 1;
      snprintf(r->errmsg, sizeof r->errmsg, "%s", st_errmsg());
    }
  }
  r->st.comm_s += now_s() - t0;
}

static int finish(void *ctx, double *loss_sum) {
  st_reducer *r = ctx;
  double t0 = now_s();
  int rc = r->err ? st_err("%s", r->errmsg) : ST_OK;
  for (int b = r->nb - 1; b >= 0 && rc == ST_OK; b--)
    if (!r->b[b].started) rc = start(r, &r->b[b]);
  if (rc == ST_OK) rc = st_dist_sum_f64(loss_sum, 1);
  if (rc == ST_OK && r->device) rc = st_nccl_sum_join();
  for (int b = r->nb - 1; b >= 0 && !r->device; b--) {
    bucket *k = &r->b[b];
    if (st_dist_wait(&k->req) && rc == ST_OK) rc = ST_ERR;
    for (int j = k->first; rc == ST_OK && j < k->first + k->count; j++)
      r->be->upload(r->mem[j].grad, r->host + r->mem[j].off,
                    r->mem[j].n * sizeof(float));
  }
  for (int b = 0; b < r->nb; b++) r->b[b].started = 0;
  r->st.steps += rc == ST_OK;
  r->st.comm_s += now_s() - t0;
  return rc ? st_err_prefix("gradient sum over %d ranks: ", st_dist_size()) : ST_OK;
}

int st_reducer_new(st_reducer **out, st_trainer *t, const st_model *m) {
  st_reducer *r = st_calloc(1, sizeof *r);
  if (!r) return ST_ERR;
  r->t = t;
  r->m = m;
  r->be = m->be;
  r->nb = m->cfg.n_layers + 2;
  r->device = st_nccl_available() && !strcmp(r->be->name, "cuda");
  if (!(r->b = st_calloc((size_t)r->nb, sizeof *r->b)) ||
      (r->device && st_nccl_init())) {
    free(r->b);
    free(r);
    return ST_ERR;
  }
  r->st.full_bytes = st_reduce_full_bytes(m);
  st_trainer_sync s = {targets, ready, finish, r};
  st_trainer_set_sync(t, &s);
  *out = r;
  return ST_OK;
}

void st_reducer_free(st_reducer *r) {
  if (!r) return;
  st_trainer_set_sync(r->t, NULL);
  for (int b = 0; b < r->nb; b++) st_dist_wait(&r->b[b].req);
  free(r->b);
  free(r->mem);
  free(r->host);
  free(r->ptrs);
  free(r->sizes);
  free(r);
}

void st_reducer_stats(const st_reducer *r, st_reduce_stats *s) { *s = r->st; }

size_t st_reduce_bytes(const st_trainer *t, const st_model *m) {
  size_t n = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (st_trainer_grad_buf(t, &m->tab[i]))
      n += (size_t)m->tab[i].rows * m->tab[i].cols;
  const st_lora *lo = st_trainer_lora(t);
  for (int i = 0; lo && i < lo->n; i++)
    if (lo->a[i].train)
      n += (size_t)lo->a[i].rank * (m->tab[lo->a[i].param].cols + m->tab[lo->a[i].param].rows);
  return n * sizeof(float);
}

size_t st_reduce_full_bytes(const st_model *m) {
  size_t n = 0;
  for (int i = 0; i < m->n_tab; i++) n += (size_t)m->tab[i].rows * m->tab[i].cols;
  return n * sizeof(float);
}
