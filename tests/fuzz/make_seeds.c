/* make_seeds.c - writes the seeds of tests/fuzz/corpus that strata's own
 * writers make: PEFT folders for the tiny models of fuzz_model.h (config,
 * NUL, safetensors), the sharded index of fuzz_sharded.c, a small
 * safetensors file and the llama2.c tokenizer of test_dataset_tok.h.
 *   build-fuzz/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
 * The other seeds are small hand-written files and copies of fixtures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fuzz_model.h"
#include "lora.h"
#include "lora_io.h"
#include "plan.h"
#include "safetensors.h"
#include "../unit/test_dataset_tok.h"

static const char *out;

static const char *join(const char *a, const char *b) {
  static char p[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", a, b);
  return p[k];
}

static void die(const char *what) {
  fprintf(stderr, "make_seeds: %s: %s\n", what, st_errmsg());
  exit(1);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  if (fread(b, 1, *n, f) != *n) die(path);
  fclose(f);
  return b;
}

/* config \0 safetensors of a PEFT folder with adapters on `mods` */
static void peft_seed(int gpt2, const char *name, int layers_mask, int rank) {
  st_config c = fz_tiny_cfg(gpt2);
  st_model *m = NULL;
  st_lora *lo = NULL;
  if (st_model_new(&m, &c, st_backend_cpu()) != ST_OK) die("model");
  st_model_init_random(m, 7);
  if (st_lora_new(&lo, m, 1) != ST_OK) die("lora");
  const char **names;
  int nm = st_plan_modules(m, &names);
  for (int l = 0; l < c.n_layers; l++) {
    if (!(layers_mask >> l & 1)) continue;
    for (int k = 0; k < nm; k++)
      if (st_lora_target(m, l, k) && st_lora_add(lo, l, k, rank, 2.0f * rank, 0, 0.0f, NULL) != ST_OK)
        die("lora_add");
  }
  char tmp[] = "/tmp/strata_seeds_XXXXXX";
  if (!mkdtemp(tmp)) die("mkdtemp");
  if (st_lora_save_peft(m, lo, tmp, "tiny") != ST_OK) die("save_peft");
  size_t n1, n2;
  char *a = slurp(join(tmp, "adapter_config.json"), &n1);
  char *b = slurp(join(tmp, "adapter_model.safetensors"), &n2);
  FILE *f = fopen(join(join(out, "peft"), name), "wb");
  fwrite(a, 1, n1, f);
  fputc(0, f);
  fwrite(b, 1, n2, f);
  fclose(f);
  remove(join(tmp, "adapter_config.json"));
  remove(join(tmp, "adapter_model.safetensors"));
  rmdir(tmp);
  free(a);
  free(b);
  st_lora_free(lo);
  st_model_free(m);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  out = argv[1];
  const char *sub[] = {"peft", "sharded", "safetensors", "tokenizer_bin"};
  for (int i = 0; i < 4; i++) mkdir(join(out, sub[i]), 0755);
  peft_seed(0, "llama_all", 3, 2);
  peft_seed(0, "llama_layer1", 2, 1);
  peft_seed(1, "gpt2_all", 3, 2);

  /* the index of fuzz_sharded.c's shards: first half in a, rest in b */
  st_config c = fz_tiny_cfg(0);
  st_model *m = NULL;
  if (st_model_new(&m, &c, st_backend_cpu()) != ST_OK) die("model");
  FILE *f = fopen(join(join(out, "sharded"), "index.json"), "wb");
  fprintf(f, "{\"metadata\": {\"total_size\": %zu}, \"weight_map\": {", m->n_params * 4);
  for (int i = 0; i < m->n_tab; i++)
    fprintf(f, "%s\"%s\": \"%s\"", i ? ", " : "", m->tab[i].name,
            i < m->n_tab / 2 ? "a.safetensors" : "b.safetensors");
  fprintf(f, "}}\n");
  fclose(f);
  f = fopen(join(join(out, "sharded"), "one_shard.json"), "wb");
  fprintf(f, "{\"weight_map\": {\"%s\": \"a.safetensors\"}}\n", m->tab[0].name);
  fclose(f);
  st_model_free(m);

  /* safetensors: F32 and I32 tensors, a scalar, metadata */
  float w[12];
  for (int i = 0; i < 12; i++) w[i] = 0.25f * (float)i - 1.0f;
  int32_t ids[5] = {1, -2, 3, 40000, 5};
  float s = 3.5f;
  st_sft_entry e[3] = {{"layer.weight", ST_SFT_F32, 2, {3, 4}, w},
                       {"ids", ST_SFT_I32, 1, {5}, ids},
                       {"scale", ST_SFT_F32, 0, {0}, &s}};
  const char *mk[] = {"note"}, *mv[] = {"seed"};
  if (st_sft_write(join(join(out, "safetensors"), "mixed.safetensors"), e, 3, mk, mv, 1) != ST_OK)
    die("sft");
  if (st_sft_write(join(join(out, "safetensors"), "one.safetensors"), e, 1, NULL, NULL, 0) != ST_OK)
    die("sft");

  tk_write(join(join(out, "tokenizer_bin"), "tok_ab.bin"));
  return 0;
}
