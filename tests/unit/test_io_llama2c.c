/* test_io_llama2c.c - llama2.c v0 loading on a synthetic checkpoint whose
 * every float is its own index, so each tensor's placement (and the Meta ->
 * HF rotary permutation of q/k rows) is checked against explicit index
 * formulas; malformed files give errors naming the file. */
#include <string.h>

#include "model.h"
#include "model_io.h"
#include "test.h"
#include "test_io_util.h"

enum { C = 8, H = 12, L = 2, NH = 2, NKV = 1, V = 10, SEQ = 6, HS = C / NH, KV = NKV * HS };

static char dir[64], path[512];

/* file offsets (in floats, after the header) of each array */
static size_t o_emb, o_att, o_wq, o_wk, o_wv, o_wo, o_ffn, o_w1, o_w2, o_w3, o_fin, o_freq,
    o_cls, o_end;

static void offsets(int tied) {
  size_t at = 0;
  o_emb = at; at += V * C;
  o_att = at; at += L * C;
  o_wq = at; at += L * C * C;
  o_wk = at; at += L * KV * C;
  o_wv = at; at += L * KV * C;
  o_wo = at; at += L * C * C;
  o_ffn = at; at += L * C;
  o_w1 = at; at += L * H * C;
  o_w2 = at; at += L * C * H;
  o_w3 = at; at += L * H * C;
  o_fin = at; at += C;
  o_freq = at; at += SEQ * HS; /* real and imag halves */
  o_cls = at; at += tied ? 0 : V * C;
  o_end = at;
}

/* header + floats with value = index; returns the byte size */
static size_t write_ckpt(const char *p, const int32_t hdr[7], int tied, long trim) {
  offsets(tied);
  size_t n = 28 + o_end * 4;
  uint8_t *b = malloc(n + 8);
  memcpy(b, hdr, 28);
  for (size_t i = 0; i < o_end; i++) {
    float v = (float)i;
    memcpy(b + 28 + 4 * i, &v, 4);
  }
  memset(b + n, 0, 8);
  write_bytes(p, b, (size_t)((long)n + trim));
  free(b);
  return n;
}

/* value of parameter `name` at stored [r, c] */
static float at(const st_model *m, const char *name, int r, int c) {
  const st_param *p = st_model_find(m, name);
  if (!p) return -1;
  return m->params[p->offset + (size_t)r * p->cols + c];
}

static void check_synthetic(int tied) {
  int32_t hdr[7] = {C, H, L, NH, NKV, tied ? V : -V, SEQ};
  pjoin(path, dir, tied ? "tied.bin" : "untied.bin");
  write_ckpt(path, hdr, tied, 0);
  st_model *m = NULL;
  CHECK(st_load_llama2c(&m, path, st_backend_cpu()) == ST_OK);
  if (!m) {
    fprintf(stderr, "%s\n", st_errmsg());
    return;
  }
  const st_config *c = &m->cfg;
  CHECK(c->arch == ST_ARCH_LLAMA && c->dim == C && c->hidden == H && c->n_layers == L &&
        c->n_heads == NH && c->n_kv_heads == NKV && c->vocab == V && c->max_seq == SEQ &&
        c->head_dim == HS && c->tied == tied && c->qkv_bias == 0);
  CHECK(c->norm_eps == 1e-5f && c->rope_theta == 10000.0f);
  CHECK(!strcmp(m->path, path));
  int bad = 0;
  char nm[96];
  for (int r = 0; r < V; r++)
    for (int k = 0; k < C; k++) {
      bad += at(m, "model.embed_tokens.weight", r, k) != (float)(o_emb + r * C + k);
      if (!tied) bad += at(m, "lm_head.weight", r, k) != (float)(o_cls + r * C + k);
    }
  for (int k = 0; k < C; k++) bad += at(m, "model.norm.weight", 0, k) != (float)(o_fin + k);
  for (int l = 0; l < L; l++) {
#define N(s) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, s), nm)
    for (int k = 0; k < C; k++) {
      bad += at(m, N("input_layernorm.weight"), 0, k) != (float)(o_att + l * C + k);
      bad += at(m, N("post_attention_layernorm.weight"), 0, k) != (float)(o_ffn + l * C + k);
    }
    /* file row rin = h*HS + 2i + j (Meta pairs) -> row h*HS + j*HS/2 + i */
    for (int rin = 0; rin < C; rin++)
      for (int k = 0; k < C; k++) {
        int h = rin / HS, i = (rin % HS) / 2, j = rin % 2, rout = h * HS + j * HS / 2 + i;
        bad += at(m, N("self_attn.q_proj.weight"), rout, k) != (float)(o_wq + (l * C + rin) * C + k);
        bad += at(m, N("self_attn.o_proj.weight"), rin, k) != (float)(o_wo + (l * C + rin) * C + k);
      }
    for (int rin = 0; rin < KV; rin++)
      for (int k = 0; k < C; k++) {
        int h = rin / HS, i = (rin % HS) / 2, j = rin % 2, rout = h * HS + j * HS / 2 + i;
        bad += at(m, N("self_attn.k_proj.weight"), rout, k) != (float)(o_wk + (l * KV + rin) * C + k);
        bad += at(m, N("self_attn.v_proj.weight"), rin, k) != (float)(o_wv + (l * KV + rin) * C + k);
      }
    for (int r = 0; r < H; r++)
      for (int k = 0; k < C; k++) {
        /* fused [gate; up]: w1 rows then w3 rows */
        const float *fc = st_slot(m, l, ST_FC_W);
        bad += fc[r * C + k] != (float)(o_w1 + (l * H + r) * C + k);
        bad += fc[(H + r) * C + k] != (float)(o_w3 + (l * H + r) * C + k);
      }
    for (int r = 0; r < C; r++)
      for (int k = 0; k < H; k++)
        bad += at(m, N("mlp.down_proj.weight"), r, k) != (float)(o_w2 + (l * C + r) * H + k);
#undef N
  }
  CHECK_MSG(bad == 0, "%d misplaced values (tied=%d)", bad, tied);
  /* the q permutation as one explicit case: head 1, HS=4: rows 4,5,6,7 of
   * the file become rows 4,6,5,7 */
  CHECK(at(m, "model.layers.0.self_attn.q_proj.weight", 6, 0) == (float)(o_wq + 5 * C));
  st_model_free(m);
}

static void expect_bad(const char *name, const int32_t hdr[7], long trim, const char *what) {
  pjoin(path, dir, name);
  write_ckpt(path, hdr, hdr[5] > 0, trim);
  st_model *m = (st_model *)1;
  CHECK_ERR(st_load_llama2c(&m, path, st_backend_cpu()), name, what);
  CHECK(m == NULL);
}

static void check_bad(void) {
  int32_t ok[7] = {C, H, L, NH, NKV, V, SEQ};
  char want[128];
  offsets(1);
  snprintf(want, sizeof want, "truncated: expected %zu bytes, got %zu", 28 + o_end * 4,
           28 + o_end * 4 - 4);
  expect_bad("trunc.bin", ok, -4, want);
  expect_bad("long.bin", ok, 4, "not a llama2.c version 0");
  int32_t h1[7] = {C, H, L, 3, 1, V, SEQ}; /* dim % n_heads */
  expect_bad("heads.bin", h1, 0, "bad header");
  int32_t h2[7] = {C, H, L, NH, 0, V, SEQ};
  expect_bad("kv.bin", h2, 0, "bad header");
  int32_t h3[7] = {C, H, L, 2, 1, V, -5};
  expect_bad("seq.bin", h3, 0, "max_seq");
  int32_t h4[7] = {0x616b3432, 1, 0, 0, 0, 0, 0};
  expect_bad("v1.bin", h4, 0, "version 1");
  /* an absurd header is refused before any allocation */
  pjoin(path, dir, "huge.bin");
  int32_t h5[7] = {1 << 22, 1 << 24, 4000, 1 << 10, 1 << 10, 1 << 23, 1 << 20};
  write_bytes(path, h5, 28);
  st_model *m = NULL;
  CHECK_ERR(st_load_llama2c(&m, path, st_backend_cpu()), "huge.bin", "bad header");
  pjoin(path, dir, "short.bin");
  write_bytes(path, h5, 10);
  CHECK_ERR(st_load_llama2c(&m, path, st_backend_cpu()), "short.bin",
            "expected at least 28 bytes");
  CHECK_ERR(st_load_llama2c(&m, dir, st_backend_cpu()), dir, "not a regular file");
  CHECK_ERR(st_model_load(&m, "/nonexistent/m.bin", st_backend_cpu()), "/nonexistent/m.bin",
            "No such file");
  /* st_model_load picks llama2.c for a plain file */
  pjoin(path, dir, "via_load.bin");
  write_ckpt(path, ok, 1, 0);
  CHECK(st_model_load(&m, path, st_backend_cpu()) == ST_OK && m && m->cfg.dim == C);
  st_model_free(m);
}

int main(void) {
  tmpdir(dir);
  check_synthetic(0);
  check_synthetic(1);
  check_bad();
  rmtree(dir);
  TEST_DONE();
}
