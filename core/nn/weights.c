/* weights.c - split storage of the weight matrices: fp32 slot buffers,
 * half-precision and mapped tensors, widening, narrowing and the GEMMs
 * that read them (weights.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "weights.h"

/* floats a GEMM widens at once: 16 MB, enough rows that each chunk's GEMM
 * runs at full rate (Qwen2-1.5B's 17920 x 1536 MLP slot is 7 chunks, an 8B
 * head 126), small next to the weights themselves */
#define WIDEN_CHUNK ((size_t)1 << 22)

int st_slot_is_matrix(int layer, int slot) {
  if (layer < 0) return slot == ST_WTE || slot == ST_HEAD;
  return slot == ST_QKV_W || slot == ST_ATO_W || slot == ST_FC_W ||
         slot == ST_PRJ_W;
}

static int slot_layer(const st_model *m, int si) {
  int L = m->cfg.n_layers;
  return si < L * ST_NSLOTS ? si / ST_NSLOTS : -1;
}
static int slot_kind(const st_model *m, int si) {
  int L = m->cfg.n_layers;
  return si < L * ST_NSLOTS ? si % ST_NSLOTS : si - L * ST_NSLOTS;
}
static int is_matrix(const st_model *m, int si) {
  return st_slot_is_matrix(slot_layer(m, si), slot_kind(m, si));
}
static int n_slots(const st_model *m) {
  return m->cfg.n_layers * ST_NSLOTS + ST_NGLOBAL;
}
static const int *slot_tensors(const st_model *m, int si) {
  return m->stab + (size_t)si * ST_SLOT_TENSORS;
}
/* columns of a matrix slot (every tensor of a slot has the same) */
static int slot_cols(const st_model *m, int si) {
  return m->tab[slot_tensors(m, si)[0]].cols;
}
static size_t tensor_n(const st_param *p) { return (size_t)p->rows * p->cols; }
/* a tensor's first element inside its slot */
static size_t rel_of(const st_model *m, const st_param *p) {
  return p->offset - m->off[st_slot_index(&m->cfg, p->layer, p->slot)];
}
static int slot_of(const st_model *m, const st_param *p) {
  return st_slot_index(&m->cfg, p->layer, p->slot);
}

/* conversions of host buffers: the cpu backend's, whose device is the host */
static const st_backend *host_ops(void) { return st_backend_cpu(); }

static void release_data(st_model *m, st_store *s) {
  if (s->owned && s->data) m->be->free(s->data);
  s->data = NULL;
  s->owned = s->mapped = 0;
}

/* ------------------------------------------------------------------ */
/* allocation                                                          */

/* the scratch holds a chunk, and at least one row of any matrix slot (a
 * chunk is never smaller) */
static int alloc_scratch(st_model *m) {
  size_t n = 0;
  for (int si = 0; si < n_slots(m); si++) {
    if (!m->size[si] || !is_matrix(m, si)) continue;
    size_t K = (size_t)slot_cols(m, si);
    size_t want = m->size[si] < WIDEN_CHUNK ? m->size[si] : WIDEN_CHUNK;
    if (want < K) want = K;
    if (want > n) n = want;
  }
  if (m->wscratch) m->be->free(m->wscratch);
  m->wscratch_n = n;
  m->wscratch = m->be->alloc(n * sizeof(float));
  return m->wscratch ? ST_OK : ST_ERR;
}

/* points the tensors of slot si into its fp32 buffer */
static void point_into_w32(st_model *m, int si) {
  const int *ts = slot_tensors(m, si);
  for (int k = 0; k < ST_SLOT_TENSORS && ts[k] >= 0; k++) {
    st_store *s = &m->st[ts[k]];
    s->dt = ST_DT_F32;
    s->data = m->w32[si] + rel_of(m, &m->tab[ts[k]]);
    s->owned = s->mapped = 0;
  }
}

int st_model_split(st_model *m, st_dtype frozen) {
  for (int si = 0; si < n_slots(m); si++) {
    if (!m->size[si] || is_matrix(m, si)) continue;
    if (!(m->w32[si] = m->be->alloc(m->size[si] * sizeof(float)))) return ST_ERR;
    point_into_w32(m, si);
  }
  for (int i = 0; i < m->n_tab; i++)
    if (st_slot_is_matrix(m->tab[i].layer, m->tab[i].slot))
      m->st[i] = (st_store){frozen, frozen, NULL, 0, 0};
  return alloc_scratch(m);
}

/* ------------------------------------------------------------------ */
/* widening and narrowing                                              */

static int widen_slot(st_model *m, int si) {
  if (m->params || m->w32[si] || !m->size[si]) return ST_OK;
  const st_backend *be = m->be;
  float *w = be->alloc(m->size[si] * sizeof(float));
  if (!w) return ST_ERR;
  const int *ts = slot_tensors(m, si);
  for (int k = 0; k < ST_SLOT_TENSORS && ts[k] >= 0; k++) {
    const st_param *p = &m->tab[ts[k]];
    st_store *s = &m->st[ts[k]];
    if (s->data)
      be->widen(w + rel_of(m, p), p->cols, s->data, s->dt, p->cols, p->rows,
                p->cols);
    release_data(m, s);
  }
  m->w32[si] = w;
  point_into_w32(m, si);
  return ST_OK;
}

static int narrow_slot(st_model *m, int si) {
  if (m->params || !m->w32[si] || !is_matrix(m, si)) return ST_OK;
  const st_backend *be = m->be;
  const int *ts = slot_tensors(m, si);
  int k, n = 0;
  for (k = 0; k < ST_SLOT_TENSORS && ts[k] >= 0; k++, n++)
    if (m->st[ts[k]].frozen == ST_DT_F32) return ST_OK; /* stays fp32 */
  void *h[ST_SLOT_TENSORS] = {0};
  for (k = 0; k < n; k++) {
    const st_param *p = &m->tab[ts[k]];
    st_dtype dt = m->st[ts[k]].frozen;
    if (!(h[k] = be->alloc(tensor_n(p) * st_dtype_size(dt)))) {
      while (k--) be->free(h[k]);
      return ST_ERR;
    }
    be->narrow(h[k], dt, m->w32[si] + rel_of(m, p), tensor_n(p));
  }
  for (k = 0; k < n; k++) {
    st_store *s = &m->st[ts[k]];
    *s = (st_store){s->frozen, s->frozen, h[k], 1, 0};
  }
  be->free(m->w32[si]);
  m->w32[si] = NULL;
  return ST_OK;
}

int st_slot_widen(st_model *m, int layer, int slot) {
  return widen_slot(m, st_slot_index(&m->cfg, layer, slot));
}
int st_slot_narrow(st_model *m, int layer, int slot) {
  return narrow_slot(m, st_slot_index(&m->cfg, layer, slot));
}

int st_model_narrow_all(st_model *m) {
  for (int si = 0; si < n_slots(m); si++)
    if (narrow_slot(m, si)) return ST_ERR;
  return ST_OK;
}

int st_model_store_as(st_model *m, st_dtype frozen) {
  const st_backend *be = m->be;
  if (m->params) {
    /* flat -> split: every slot gets its own fp32 buffer (a copy), then
     * the matrices narrow out of theirs */
    for (int si = 0; si < n_slots(m); si++) {
      if (!m->size[si]) continue;
      if (!(m->w32[si] = be->alloc(m->size[si] * sizeof(float)))) return ST_ERR;
      be->copy(m->w32[si], m->params + m->off[si], m->size[si] * sizeof(float));
      point_into_w32(m, si);
    }
    be->free(m->params);
    m->params = NULL;
    if (alloc_scratch(m)) return ST_ERR;
  }
  for (int i = 0; i < m->n_tab; i++)
    if (st_slot_is_matrix(m->tab[i].layer, m->tab[i].slot)) m->st[i].frozen = frozen;
  for (int si = 0; si < n_slots(m); si++)
    if (m->size[si] && is_matrix(m, si) &&
        (widen_slot(m, si) || narrow_slot(m, si)))
      return ST_ERR;
  return ST_OK;
}

/* ------------------------------------------------------------------ */
/* single tensors                                                      */

float *st_param_f32(const st_model *m, const st_param *p) {
  const st_store *s = &m->st[p - m->tab];
  return s->dt == ST_DT_F32 && !s->mapped ? s->data : NULL;
}

/* makes tensor i writable: its own storage in its dtype (a mapped or
 * unwritten half tensor gets an allocation, a mapped one its values), or
 * for an fp32 tensor its slot's fp32 buffer */
static int writable(st_model *m, int i) {
  st_store *s = &m->st[i];
  const st_param *p = &m->tab[i];
  if (s->data && !s->mapped) return ST_OK;
  if (s->dt == ST_DT_F32) return widen_slot(m, slot_of(m, p));
  size_t bytes = tensor_n(p) * st_dtype_size(s->dt);
  void *d = m->be->alloc(bytes);
  if (!d) return ST_ERR;
  if (s->data) m->be->upload(d, s->data, bytes); /* mapped: host memory */
  s->data = d;
  s->owned = 1;
  s->mapped = 0;
  return ST_OK;
}

int st_param_load(st_model *m, const st_param *p, const void *src,
                  st_dtype dt, int in_place) {
  int i = (int)(p - m->tab);
  st_store *s = &m->st[i];
  if (in_place && m->be->host && !m->params && !m->w32[slot_of(m, p)] &&
      dt == s->frozen && (uintptr_t)src % st_dtype_size(dt) == 0) {
    release_data(m, s);
    *s = (st_store){dt, dt, (void *)src, 0, 1};
    return ST_OK;
  }
  if (writable(m, i)) return ST_ERR;
  size_t n = tensor_n(p);
  if (dt == s->dt) {
    m->be->upload(s->data, src, n * st_dtype_size(dt));
    return ST_OK;
  }
  /* a dtype change: through fp32 on the host */
  float *tmp = st_malloc(n * sizeof *tmp);
  if (!tmp) return ST_ERR;
  host_ops()->widen(tmp, p->cols, src, dt, p->cols, p->rows, p->cols);
  int rc = st_param_write(m, p, tmp);
  free(tmp);
  return rc;
}

int st_param_read(const st_model *m, const st_param *p, float *host) {
  const st_store *s = &m->st[p - m->tab];
  size_t n = tensor_n(p);
  if (!s->data) return st_err("%s: never written", p->name);
  if (s->dt == ST_DT_F32) {
    m->be->download(host, s->data, n * sizeof(float));
    return ST_OK;
  }
  uint16_t *h = st_malloc(n * sizeof *h);
  if (!h) return ST_ERR;
  m->be->download(h, s->data, n * sizeof *h);
  host_ops()->widen(host, p->cols, h, s->dt, p->cols, p->rows, p->cols);
  free(h);
  return ST_OK;
}

int st_param_write(st_model *m, const st_param *p, const float *host) {
  int i = (int)(p - m->tab);
  if (writable(m, i)) return ST_ERR;
  st_store *s = &m->st[i];
  size_t n = tensor_n(p);
  if (s->dt == ST_DT_F32) {
    m->be->upload(s->data, host, n * sizeof(float));
    return ST_OK;
  }
  uint16_t *h = st_malloc(n * sizeof *h);
  if (!h) return ST_ERR;
  host_ops()->narrow(h, s->dt, host, n);
  m->be->upload(s->data, h, n * sizeof *h);
  free(h);
  return ST_OK;
}

int st_slot_write(st_model *m, int si, size_t at, const float *host,
                  size_t n) {
  if (m->params || m->w32[si]) {
    float *base = m->params ? m->params + m->off[si] : m->w32[si];
    m->be->upload(base + at, host, n * sizeof(float));
    return ST_OK;
  }
  const int *ts = slot_tensors(m, si);
  uint16_t *h = st_malloc(n * sizeof *h);
  if (!h) return ST_ERR;
  int rc = ST_OK;
  for (int k = 0; k < ST_SLOT_TENSORS && ts[k] >= 0 && rc == ST_OK; k++) {
    const st_param *p = &m->tab[ts[k]];
    size_t lo = rel_of(m, p), hi = lo + tensor_n(p);
    size_t a = lo > at ? lo : at, b = hi < at + n ? hi : at + n;
    if (a >= b || (rc = writable(m, ts[k]))) continue;
    /* writable() may have given the whole slot an fp32 buffer */
    if (m->w32[si]) {
      free(h);
      return st_slot_write(m, si, at, host, n);
    }
    const st_store *s = &m->st[ts[k]];
    host_ops()->narrow(h, s->dt, host + (a - at), b - a);
    m->be->upload((char *)s->data + (a - lo) * st_dtype_size(s->dt), h,
                  (b - a) * st_dtype_size(s->dt));
  }
  free(h);
  return rc;
}

int st_param_widen_to(const st_model *m, const st_param *p, float *dev) {
  const st_store *s = &m->st[p - m->tab];
  if (!s->data) return st_err("%s: never written", p->name);
  if (s->mapped && s->dt == ST_DT_F32) /* host memory (cpu): a copy */
    m->be->copy(dev, s->data, tensor_n(p) * sizeof(float));
  else
    m->be->widen(dev, p->cols, s->data, s->dt, p->cols, p->rows, p->cols);
  return ST_OK;
}

int st_param_narrow_from(st_model *m, const st_param *p, const float *dev) {
  int i = (int)(p - m->tab);
  if (writable(m, i)) return ST_ERR;
  st_store *s = &m->st[i];
  m->be->narrow(s->data, s->dt, dev, tensor_n(p));
  return ST_OK;
}

/* ------------------------------------------------------------------ */

int st_model_keep(st_model *m, void *p, void (*release)(void *)) {
  struct st_keep *k = realloc(m->keep, (size_t)(m->n_keep + 1) * sizeof *k);
  if (!k) {
    release(p);
    return st_err("out of memory");
  }
  m->keep = k;
  k[m->n_keep++] = (struct st_keep){p, release};
  return ST_OK;
}

size_t st_model_bytes(const st_model *m, size_t *mapped) {
  size_t b = m->params ? m->n_params * sizeof(float) : 0, mb = 0;
  for (int si = 0; si < n_slots(m); si++)
    if (m->w32[si]) b += m->size[si] * sizeof(float);
  for (int i = 0; i < m->n_tab && !m->params; i++) {
    const st_store *s = &m->st[i];
    size_t n = tensor_n(&m->tab[i]) * st_dtype_size(s->dt);
    if (s->owned) b += n;
    if (s->mapped) mb += n;
  }
  if (mapped) *mapped = mb;
  return b + m->wscratch_n * sizeof(float);
}

/* ------------------------------------------------------------------ */
/* GEMMs                                                               */

/* rows [r0, r0+nr) of matrix slot si widened to dst[nr, K] */
static void gather(const st_model *m, int si, int r0, int nr, float *dst) {
  const int *ts = slot_tensors(m, si);
  int K = slot_cols(m, si);
  for (int k = 0; k < ST_SLOT_TENSORS && ts[k] >= 0; k++) {
    const st_param *p = &m->tab[ts[k]];
    const st_store *s = &m->st[ts[k]];
    int lo = p->row0 > r0 ? p->row0 : r0;
    int hi = p->row0 + p->rows < r0 + nr ? p->row0 + p->rows : r0 + nr;
    if (lo >= hi) continue;
    const char *src = (const char *)s->data +
                      (size_t)(lo - p->row0) * K * st_dtype_size(s->dt);
    m->be->widen(dst + (size_t)(lo - r0) * K, K, src, s->dt, K, hi - lo, K);
  }
}

void st_wgemm(const st_model *m, int layer, int slot, int transW, int M,
              float alpha, const float *A, int lda, float beta, float *C,
              int ldc) {
  const st_backend *be = m->be;
  int si = st_slot_index(&m->cfg, layer, slot);
  int K = slot_cols(m, si), R = (int)(m->size[si] / (size_t)K);
  const float *w = st_slot(m, layer, slot);
  if (w) {
    if (transW) be->gemm(0, 1, M, R, K, alpha, A, lda, w, K, beta, C, ldc);
    else be->gemm(0, 0, M, K, R, alpha, A, lda, w, K, beta, C, ldc);
    return;
  }
  /* blocks of W's rows, widened into the scratch: the output columns
   * C[:, r0:r0+n] of a forward; for an input gradient the inner dimension,
   * accumulated block after block */
  float *x = m->wscratch;
  int step = (int)(m->wscratch_n / (size_t)K);
  for (int r0 = 0; r0 < R; r0 += step) {
    int n = R - r0 < step ? R - r0 : step;
    gather(m, si, r0, n, x);
    if (transW)
      be->gemm(0, 1, M, n, K, alpha, A, lda, x, K, beta, C + r0, ldc);
    else
      be->gemm(0, 0, M, K, n, alpha, A + r0, lda, x, K, r0 ? 1.0f : beta, C, ldc);
  }
}
