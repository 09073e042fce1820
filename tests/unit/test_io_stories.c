/* test_io_stories.c - the real stories260K checkpoint: header, parameter
 * count, values against the raw file bytes (with the q/k permutation), and
 * an HF save -> load round trip that preserves every bit. Skipped (77) when
 * the shared asset is not present. */
#include <string.h>

#include "assets.h"
#include "model.h"
#include "model_io.h"
#include "test.h"
#include "test_io_util.h"

int main(void) {
  char bin[1024], dir[64];
  int r = st_asset_local("models/stories260K/stories260K.bin", bin, sizeof bin);
  if (r == 0) SKIP("stories260K.bin not found (set STRATA_SHARED)");
  CHECK_MSG(r == 1, "%s", st_errmsg());
  if (r != 1) TEST_DONE();

  st_model *m = NULL;
  CHECK(st_model_load(&m, bin, st_backend_cpu()) == ST_OK);
  if (!m) {
    fprintf(stderr, "%s\n", st_errmsg());
    TEST_DONE();
  }
  const st_config *c = &m->cfg;
  CHECK(c->dim == 64 && c->hidden == 172 && c->n_layers == 5 && c->n_heads == 8 &&
        c->n_kv_heads == 4 && c->vocab == 512 && c->max_seq == 512 && c->head_dim == 8 &&
        c->tied == 1);
  /* 264128 floats in the file minus 2 * 512 * 4 rotary tables */
  CHECK(m->n_params == 260032);

  /* raw file: embedding first, then rms_att (5*64), then wq */
  FILE *f = fopen(bin, "rb");
  float *raw = malloc(264128 * 4);
  CHECK(f && fseek(f, 28, SEEK_SET) == 0 && fread(raw, 4, 264128, f) == 264128);
  if (f) fclose(f);
  CHECK(!memcmp(st_global(m, ST_WTE), raw, 512 * 64 * 4));
  const float *wq = raw + 512 * 64 + 5 * 64;
  const st_param *q = st_model_find(m, "model.layers.0.self_attn.q_proj.weight");
  int bad = 0;
  for (int rin = 0; rin < 64; rin++) {
    int h = rin / 8, i = (rin % 8) / 2, j = rin % 2, rout = h * 8 + j * 4 + i;
    bad += memcmp(m->params + q->offset + rout * 64, wq + rin * 64, 64 * 4) != 0;
  }
  CHECK(bad == 0);
  free(raw);

  /* HF round trip */
  tmpdir(dir);
  char out[512];
  pjoin(out, dir, "hf/stories");
  CHECK(st_save_hf(m, out) == ST_OK);
  st_model *b = NULL;
  CHECK(st_model_load(&b, out, st_backend_cpu()) == ST_OK);
  if (b) {
    CHECK(!memcmp(&b->cfg, &m->cfg, sizeof m->cfg));
    CHECK(b->n_params == m->n_params && !memcmp(b->params, m->params, m->n_params * 4));
    st_model_free(b);
  } else {
    fprintf(stderr, "%s\n", st_errmsg());
  }
  rmtree(dir);
  st_model_free(m);
  TEST_DONE();
}
