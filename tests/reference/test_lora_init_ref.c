/* test_lora_init_ref.c - the lora.init_from / modules_to_save regression,
 * against PEFT (scripts/make_lora_init_reference.py): a run starts from a
 * PEFT adapter with target_modules [q_proj] and modules_to_save
 * [input_layernorm] (non-unit norms), keeps every norm frozen and trains
 * nothing. The adapter it saves (RUN/adapter) must still carry the norms:
 * loaded on the base model, it gives PEFT's logits of base + the original
 * adapter within 1e-4. Before the fix the run dropped them and fell back to
 * the base model's norms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "assets.h"
#include "lora.h"
#include "lora_io.h"
#include "model_io.h"
#include "safetensors.h"
#include "test.h"

int main(void) {
  char bin[ST_PATH_MAX], train[ST_PATH_MAX], dev[ST_PATH_MAX];
  if (!st_asset_local("models/stories260K/stories260K.bin", bin, sizeof bin) ||
      !st_asset_local("data/sst2/train.tsv", train, sizeof train) ||
      !st_asset_local("data/sst2/dev.tsv", dev, sizeof dev))
    SKIP("stories260K or SST-2 not found (set STRATA_SHARED)");
  char tmp[] = "/tmp/strata_lora_init_XXXXXX", cmd[4096], ad[600];
  CHECK(mkdtemp(tmp) != NULL);
  const char *strata = getenv("STRATA_BIN");
  snprintf(cmd, sizeof cmd,
           "%s --threads 1 run recipes/quickstart.yaml --set model=%s --set data.train=%s "
           "--set data.eval=%s --set train.steps=0 --set trace.samples=4 "
           "--set eval.max_samples=8 --set data.max_samples=64 --set policy.script=all "
           "--set policy.params.lora=true --set policy.params.final_norm=false "
           "--set 'lora={rank: 4, alpha: 8, modules: [q]}' "
           "--set lora.init_from=tests/fixtures/lora/init_from_peft --out %s/run >%s/log 2>&1",
           strata ? strata : "build/strata", bin, train, dev, tmp, tmp);
  int rc = system(cmd);
  CHECK_MSG(rc == 0, "the run failed (exit %d): see %s/log", WEXITSTATUS(rc), tmp);
  snprintf(ad, sizeof ad, "%s/run/adapter", tmp);

  st_sft *f = NULL;
  st_model *m = NULL;
  st_lora *lo = NULL;
  OK(st_sft_open(&f, "tests/fixtures/lora/init_from_ref.safetensors"));
  OK(st_model_load(&m, bin, st_backend_get("cpu")));
  if (rc == 0 && m) OK(st_lora_load_peft_model(&lo, m, ad, NULL));
  const st_sft_tensor *tt = f ? st_sft_find(f, "tokens") : NULL,
                      *tl = f ? st_sft_find(f, "logits") : NULL;
  CHECK(tt && tl && tt->ndim == 2);
  if (lo && tt && tl) {
    int B = (int)tt->shape[0], T = (int)tt->shape[1], V = m->cfg.vocab;
    int32_t *tok = malloc(tt->numel * sizeof *tok);
    float *ref = malloc(tl->numel * sizeof *ref), *got = malloc(tl->numel * sizeof *got);
    OK(st_sft_read_i32(f, tt, tok, tt->numel));
    OK(st_sft_read_f32(f, tl, ref, tl->numel));
    OK(st_lora_attach(m, lo));
    OK(st_model_logits(m, tok, B, T, got));
    double worst = 0;
    for (size_t i = 0; i < (size_t)B * T * V; i++)
      if (fabs(got[i] - ref[i]) > worst) worst = fabs(got[i] - ref[i]);
    printf("the run's saved adapter: logits within %.2e of PEFT's\n", worst);
    CHECK_MSG(worst <= 1e-4, "logits differ from PEFT's by %g: the run's adapter lost "
              "the modules_to_save it started from?", worst);
    st_lora_attach(m, NULL);
    free(tok), free(ref), free(got);
  }
  st_lora_free(lo);
  st_model_free(m);
  st_sft_close(f);
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  if (system(cmd)) printf("note: %s left behind\n", tmp);
  TEST_DONE();
}
