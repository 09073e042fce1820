/* test_export_ref.c - strata export against what transformers makes of the
 * exported folder (tests/fixtures/export, scripts/make_export_reference.py):
 * stories260K exported in F32 and BF16 with st_export_hf, loaded back by
 * strata, gives AutoTokenizer's token ids for the committed prompts and
 * transformers' logits within 1e-4; `strata score` of the F32 export writes
 * the same tokens, and log-probabilities equal to the log-softmax of
 * transformers' logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "assets.h"
#include "model_io.h"
#include "safetensors.h"
#include "test.h"
#include "tokenizer.h"

#define FIX "tests/fixtures/export/reference.safetensors"
#define NP 6

static char prompts[NP][256];

static void read_prompts(void) {
  FILE *f = fopen("tests/fixtures/export/prompts.txt", "r");
  CHECK(f != NULL);
  for (int i = 0; f && i < NP; i++) {
    char line[256];
    CHECK(fgets(line, sizeof line, f) != NULL);
    line[strcspn(line, "\n")] = 0;
    char *d = prompts[i];
    for (char *s = line; *s; s++) { /* the file's \n escapes */
      if (*s == '\\' && s[1] == 'n') *d++ = '\n', s++;
      else if (*s == '\\' && s[1] == '\\') *d++ = '\\', s++;
      else *d++ = *s;
    }
    *d = 0;
  }
  if (f) fclose(f);
}

static float *read_f32(const st_sft *f, const char *name, size_t *n) {
  const st_sft_tensor *t = st_sft_find(f, name);
  CHECK_MSG(t != NULL, "fixture lacks %s", name);
  if (!t) return NULL;
  float *x = malloc(t->numel * sizeof *x);
  CHECK(st_sft_read_f32(f, t, x, t->numel) == ST_OK);
  *n = t->numel;
  return x;
}

static int32_t *read_i32(const st_sft *f, const char *name, size_t *n) {
  const st_sft_tensor *t = st_sft_find(f, name);
  CHECK_MSG(t != NULL, "%s lacks %s", f->path, name);
  if (!t) return NULL;
  int32_t *x = malloc(t->numel * sizeof *x);
  CHECK(st_sft_read_i32(f, t, x, t->numel) == ST_OK);
  *n = t->numel;
  return x;
}

/* export m in dtype, load it back, compare ids and logits with the fixture */
static void check_export(st_model *src, const char *tok, const char *dir,
                         const char *dtype, const int32_t *ref_tok, const int32_t *len,
                         const float *ref_logits, int T) {
  OK(st_export_hf(src, NULL, tok, dir, dtype, NULL, 0));
  st_model *m = NULL;
  st_tokenizer *tk = NULL;
  char tp[ST_PATH_MAX];
  OK(st_model_load(&m, dir, st_backend_get("cpu")));
  OK(st_model_tokenizer(dir, tp, sizeof tp));
  OK(st_tokenizer_load(&tk, tp));
  if (!m || !tk) return;
  int V = m->cfg.vocab;
  float *lg = malloc((size_t)T * V * sizeof *lg);
  double worst = 0;
  for (int p = 0; p < NP; p++) {
    int32_t *ids = NULL;
    int n = 0;
    OK(st_tokenizer_encode(tk, prompts[p], strlen(prompts[p]), 1, &ids, &n));
    CHECK_MSG(n == len[p], "%s prompt %d: %d tokens, AutoTokenizer %d", dtype, p, n, len[p]);
    for (int t = 0; t < n && n == len[p]; t++)
      CHECK_MSG(ids[t] == ref_tok[p * T + t], "%s prompt %d token %d: %d, AutoTokenizer %d",
                dtype, p, t, ids[t], ref_tok[p * T + t]);
    if (n == len[p]) {
      OK(st_model_logits(m, ids, 1, n, lg));
      for (size_t i = 0; i < (size_t)n * V; i++) {
        double d = fabs(lg[i] - ref_logits[(size_t)p * T * V + i]);
        if (d > worst) worst = d;
      }
    }
    free(ids);
  }
  printf("%s export: logits within %.2e of transformers'\n", dtype, worst);
  CHECK_MSG(worst <= 1e-4, "%s: logits differ by %g", dtype, worst);
  free(lg);
  st_tokenizer_free(tk);
  st_model_free(m);
}

int main(void) {
  char bin[ST_PATH_MAX], tok[ST_PATH_MAX], tmp[] = "/tmp/strata_export_XXXXXX";
  if (!st_asset_local("models/stories260K/stories260K.bin", bin, sizeof bin) ||
      !st_asset_local("models/stories260K/tok512.bin", tok, sizeof tok))
    SKIP("stories260K not found (set STRATA_SHARED)");
  CHECK(mkdtemp(tmp) != NULL);
  read_prompts();
  st_sft *f = NULL;
  OK(st_sft_open(&f, FIX));
  if (!f) TEST_DONE();
  size_t nt, nl, n32, n16;
  int32_t *ref_tok = read_i32(f, "tokens", &nt), *len = read_i32(f, "lengths", &nl);
  float *l32 = read_f32(f, "logits_f32", &n32), *l16 = read_f32(f, "logits_bf16", &n16);
  int T = (int)(nt / NP);
  st_model *m = NULL;
  OK(st_model_load(&m, bin, st_backend_get("cpu")));
  char d32[600], d16[600], out[600], cmd[2400];
  snprintf(d32, sizeof d32, "%s/f32", tmp);
  snprintf(d16, sizeof d16, "%s/bf16", tmp);
  if (m && ref_tok && len && l32 && l16) {
    check_export(m, tok, d32, "float32", ref_tok, len, l32, T);
    check_export(m, tok, d16, "bfloat16", ref_tok, len, l16, T);
  }
  /* strata score of the F32 export */
  const char *strata = getenv("STRATA_BIN");
  snprintf(out, sizeof out, "%s/score.safetensors", tmp);
  snprintf(cmd, sizeof cmd, "%s score %s --data tests/fixtures/export/prompts.txt --out %s >/dev/null",
           strata ? strata : "build/strata", d32, out);
  int rc = system(cmd);
  CHECK_MSG(rc == 0, "%s: exit %d", cmd, WEXITSTATUS(rc));
  st_sft *s = NULL;
  if (rc == 0) OK(st_sft_open(&s, out));
  if (s && m && l32 && ref_tok) {
    size_t n1, n2;
    int32_t *stok = read_i32(s, "tokens", &n1);
    float *lp = read_f32(s, "logprobs", &n2);
    int V = m->cfg.vocab;
    CHECK_MSG(n1 == nt, "score: %zu tokens, the fixture %zu", n1, nt);
    double worst = 0;
    for (int p = 0; stok && lp && n1 == nt && p < NP; p++)
      for (int t = 0; t < len[p]; t++) {
        CHECK(stok[p * T + t] == ref_tok[p * T + t]);
        if (t == 0) continue;
        const float *row = l32 + ((size_t)p * T + t - 1) * V;
        double mx = row[0], z = 0;
        for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++) z += exp(row[v] - mx);
        double want = row[ref_tok[p * T + t]] - mx - log(z);
        double d = fabs(lp[p * T + t] - want);
        if (d > worst) worst = d;
      }
    printf("strata score: log-probs within %.2e of transformers'\n", worst);
    CHECK_MSG(worst <= 1e-4, "score: log-probs differ by %g", worst);
    free(stok);
    free(lp);
  }
  st_sft_close(s);
  st_sft_close(f);
  st_model_free(m);
  free(ref_tok), free(len), free(l32), free(l16);
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  if (system(cmd)) printf("note: %s left behind\n", tmp);
  TEST_DONE();
}
