/* llama2c.c - load karpathy/llama2.c "version 0" checkpoints.
 *
 * Layout (run.c): a header of 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; vocab_size < 0 means the classifier is
 * not shared with the embedding), then fp32 arrays, each for all layers:
 * token_embedding [V,C], rms_att [L,C], wq [L,C,C], wk [L,KV,C],
 * wv [L,KV,C], wo [L,C,C], rms_ffn [L,C], w1 [L,H,C], w2 [L,C,H],
 * w3 [L,H,C], rms_final [C], freq_cis_real and freq_cis_imag
 * [seq_len*HS/2] each (unused: we compute RoPE), wcls [V,C] if unshared.
 *
 * llama2.c rotates interleaved pairs (2i, 2i+1) of each head; the HF layout
 * (and our rope kernel) rotates (i, i+HS/2). The q and k rows are permuted
 * on load exactly as HF's convert_llama_weights_to_hf.py does.
 *
 * In split storage (model_load.h) with f32 frozen matrices, every matrix
 * but q and k is used in place from the file's mapping, which the model
 * then keeps. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "model.h"
#include "model_io.h"
#include "model_load.h"
#include "weights.h"

/* what load builds besides a frozen dtype code (model_load.h) */
enum { AS_FLAT = -2, AS_LAYOUT = -3 };

#define HEADER_BYTES 28
#define MAGIC_V1 0x616b3432 /* "ak42": llama2.c's later export versions */

/* permute(w, n_heads) of convert_llama_weights_to_hf:
 * w.view(heads, HS/2, 2, cols).transpose(1, 2).reshape(heads*HS, cols),
 * i.e. out row h*HS + j*HS/2 + i = in row h*HS + 2i + j. */
static void permute_rope(float *dst, const float *src, int heads, int hs,
                         int cols) {
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < hs / 2; i++)
      for (int j = 0; j < 2; j++)
        memcpy(dst + ((size_t)h * hs + (size_t)j * hs / 2 + i) * cols,
               src + ((size_t)h * hs + 2 * (size_t)i + j) * cols,
               (size_t)cols * sizeof(float));
}

/* src stays mapped while the model lives when in_place (split storage):
 * a weight matrix may then point into it */
static int set_named(st_model *m, const char *fmt, int layer, const float *src,
                     size_t n, int in_place) {
  char name[96];
  snprintf(name, sizeof name, fmt, layer);
  const st_param *p = st_model_find(m, name);
  if (!p) return st_err("internal: no parameter %s", name);
  if (in_place && st_slot_is_matrix(p->layer, p->slot))
    return st_param_load(m, p, src, ST_DT_F32, 1);
  return st_model_set(m, p, src, n);
}

static int copy_weights(st_model *m, const float *w, int in_place) {
  const st_config *c = &m->cfg;
  size_t C = (size_t)c->dim, H = (size_t)c->hidden, V = (size_t)c->vocab;
  size_t KV = (size_t)c->n_kv_heads * c->head_dim;
  int L = c->n_layers;
  const float *emb = w;
  const float *rms_att = emb + V * C, *wq = rms_att + L * C;
  const float *wk = wq + L * C * C, *wv = wk + L * KV * C;
  const float *wo = wv + L * KV * C, *rms_ffn = wo + L * C * C;
  const float *w1 = rms_ffn + L * C, *w2 = w1 + L * H * C;
  const float *w3 = w2 + L * C * H, *rms_final = w3 + L * H * C;
  const float *wcls = rms_final + C + (size_t)c->max_seq * c->head_dim;

  float *tmp = st_malloc(C * C * sizeof(float)); /* KV <= C */
  if (!tmp) return ST_ERR;
  const int ip = in_place;
  int rc = set_named(m, "model.embed_tokens.weight", 0, emb, V * C, ip);
  for (int l = 0; l < L && rc == ST_OK; l++) {
    rc |= set_named(m, "model.layers.%d.input_layernorm.weight", l, rms_att + l * C, C, 0);
    permute_rope(tmp, wq + l * C * C, c->n_heads, c->head_dim, (int)C);
    rc |= set_named(m, "model.layers.%d.self_attn.q_proj.weight", l, tmp, C * C, 0);
    permute_rope(tmp, wk + l * KV * C, c->n_kv_heads, c->head_dim, (int)C);
    rc |= set_named(m, "model.layers.%d.self_attn.k_proj.weight", l, tmp, KV * C, 0);
    rc |= set_named(m, "model.layers.%d.self_attn.v_proj.weight", l, wv + l * KV * C, KV * C, ip);
    rc |= set_named(m, "model.layers.%d.self_attn.o_proj.weight", l, wo + l * C * C, C * C, ip);
    rc |= set_named(m, "model.layers.%d.post_attention_layernorm.weight", l, rms_ffn + l * C, C, 0);
    rc |= set_named(m, "model.layers.%d.mlp.gate_proj.weight", l, w1 + l * H * C, H * C, ip);
    rc |= set_named(m, "model.layers.%d.mlp.down_proj.weight", l, w2 + l * C * H, C * H, ip);
    rc |= set_named(m, "model.layers.%d.mlp.up_proj.weight", l, w3 + l * H * C, H * C, ip);
  }
  if (rc == ST_OK) rc = set_named(m, "model.norm.weight", 0, rms_final, C, 0);
  if (rc == ST_OK && !c->tied) rc = set_named(m, "lm_head.weight", 0, wcls, V * C, ip);
  free(tmp);
  return rc == ST_OK ? ST_OK : ST_ERR;
}

/* the mapping a model keeps while tensors point into it */
typedef struct mapping {
  void *p;
  size_t n;
} mapping;
static void unmap(void *k) {
  mapping *mp = k;
  munmap(mp->p, mp->n);
  free(mp);
}

static int load(st_model **out, const char *path, const st_backend *be,
                int mode) {
  *out = NULL;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return st_err("%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return st_err("%s: not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  if (size < HEADER_BYTES) {
    close(fd);
    return st_err("%s: truncated: expected at least %d bytes (llama2.c "
                  "header), got %zu", path, HEADER_BYTES, size);
  }
  /* read-only: a tensor used in place can never be written */
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return st_err("%s: mmap: %s", path, strerror(errno));

  int32_t h[7];
  memcpy(h, map, sizeof h);
  int rc = ST_OK;
  st_model *m = NULL;
  if (h[0] == MAGIC_V1) {
    rc = st_err("%s: llama2.c export version %d (magic \"ak42\"); only the "
                "legacy version 0 format is supported", path, h[1]);
    goto out;
  }
  st_config c = {0};
  c.arch = ST_ARCH_LLAMA;
  c.dim = h[0];
  c.hidden = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab = h[5] < 0 && h[5] != INT32_MIN ? -h[5] : h[5];
  c.tied = h[5] > 0;
  c.max_seq = h[6];
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  if (c.n_heads > 0 && c.dim % c.n_heads) {
    rc = st_err("%s: bad header: dim %d is not a multiple of n_heads %d", path,
                c.dim, c.n_heads);
    goto out;
  }
  if (st_config_validate(&c) != ST_OK) {
    rc = st_err_prefix("%s: bad header (dim=%d hidden_dim=%d n_layers=%d "
                       "n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d): ",
                       path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    goto out;
  }
  /* validated dims keep this well inside 64 bits */
  uint64_t C = (uint64_t)c.dim, H = (uint64_t)c.hidden, V = (uint64_t)c.vocab,
           L = (uint64_t)c.n_layers,
           KV = (uint64_t)c.n_kv_heads * (uint64_t)c.head_dim;
  uint64_t floats = V * C + L * (2 * C + 2 * C * C + 2 * KV * C + 3 * H * C) +
                    C + (uint64_t)c.max_seq * (uint64_t)c.head_dim +
                    (c.tied ? 0 : V * C);
  uint64_t expect = HEADER_BYTES + 4 * floats;
  if (size < expect) {
    rc = st_err("%s: truncated: expected %llu bytes, got %zu", path,
                (unsigned long long)expect, size);
    goto out;
  }
  if (size > expect) {
    rc = st_err("%s: expected %llu bytes from the header, got %zu (not a "
                "llama2.c version 0 checkpoint?)", path,
                (unsigned long long)expect, size);
    goto out;
  }
  if ((rc = st_model_layout(&m, &c, be)) != ST_OK) goto out;
  snprintf(m->path, sizeof m->path, "%s", path);
  if (mode == AS_LAYOUT) goto out;
  int split = mode != AS_FLAT;
  rc = split ? st_model_alloc_as(m, mode == ST_FROZEN_AUTO ? ST_DT_F32
                                                          : (st_dtype)mode)
             : st_model_alloc(m);
  if (rc == ST_OK)
    rc = copy_weights(m, (const float *)((const char *)map + HEADER_BYTES), split);
  int kept = 0;
  for (int i = 0; rc == ST_OK && i < m->n_tab; i++) kept |= m->st[i].mapped;
  if (rc == ST_OK && kept) {
    mapping *mp = st_malloc(sizeof *mp);
    if (!mp) rc = ST_ERR;
    else {
      *mp = (mapping){map, size};
      map = NULL; /* the model unmaps it */
      rc = st_model_keep(m, mp, unmap);
    }
  }
  if (rc != ST_OK) {
    st_err_prefix("%s: ", path);
    st_model_free(m);
    m = NULL;
  }
out:
  if (map) munmap(map, size);
  *out = m;
  return rc == ST_OK ? ST_OK : ST_ERR;
}

int st_load_llama2c(st_model **out, const char *path, const st_backend *be) {
  return load(out, path, be, AS_FLAT);
}

int st_load_llama2c_as(st_model **out, const char *path, const st_backend *be,
                       int frozen) {
  return load(out, path, be, frozen);
}

int st_load_llama2c_layout(st_model **out, const char *path,
                           const st_backend *be) {
  return load(out, path, be, AS_LAYOUT);
}
