/* cmd_info.c - `strata info <model>`: architecture, dimensions and where
 * the parameters are (per layer, embeddings, head). It reads the config
 * and the file headers only, never a weight (model_load.h), so a large
 * model answers at once. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "error.h"
#include "model.h"
#include "model_io.h"
#include "model_load.h"

static size_t slots(const st_model *m, int layer, const int *s, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += st_slot_size(m, layer, s[i]);
  return t;
}

static const cli_opt opts[] = {
    {"model", CLI_ARG, .help = "llama2.c .bin, or a Hugging Face folder"},
    {0}};
static const cli_spec spec = {"info", opts, NULL, NULL};

int cmd_info(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  const char *path = cli_str(&a, "model");
  const st_backend *be = st_backend_get("cpu");
  st_model *m;
  if (!be || st_model_load_layout(&m, path, be) != ST_OK) return 1;
  const st_config *c = &m->cfg;
  int gpt2 = c->arch == ST_ARCH_GPT2;
  printf("model       %s\n", path);
  printf("arch        %s%s\n", gpt2 ? "gpt2" : "llama",
         c->qkv_bias ? " (q/k/v bias)" : "");
  printf("layers %d  dim %d  hidden %d  heads %d  kv_heads %d  head_dim %d\n",
         c->n_layers, c->dim, c->hidden, c->n_heads, c->n_kv_heads, c->head_dim);
  printf("vocab %d  max_seq %d  norm_eps %g", c->vocab, c->max_seq, c->norm_eps);
  if (!gpt2) printf("  rope_theta %g", c->rope_theta);
  printf("  tied %s\n", c->tied ? "yes" : "no");
  /* what changes the computation beyond the shapes, so a user can check it
   * against the folder's config.json */
  if (!gpt2) {
    static const char *const rope[] = {"default", "linear", "llama3", "yarn"};
    printf("rope %s", rope[c->rope_type]);
    if (c->rope_type != ST_ROPE_DEFAULT) printf(" (factor %g)", c->rope_factor);
    if (c->window > 0)
      printf("  sliding_window %d from layer %d", c->window, c->window_from);
    printf("\n");
  }
  printf("\n");

  static const int attn[] = {ST_QKV_W, ST_QKV_B, ST_ATO_W, ST_ATO_B};
  static const int mlp[] = {ST_FC_W, ST_FC_B, ST_PRJ_W, ST_PRJ_B};
  static const int norm[] = {ST_LN1_W, ST_LN1_B, ST_LN2_W, ST_LN2_B};
  printf("%-11s %12s %12s %12s %12s\n", "layer", "attn", "mlp", "norms", "total");
  size_t layers = 0;
  for (int l = 0; l < c->n_layers; l++) {
    printf("%-11d %12zu %12zu %12zu %12zu\n", l, slots(m, l, attn, 4),
           slots(m, l, mlp, 4), slots(m, l, norm, 4), st_layer_params(m, l));
    layers += st_layer_params(m, l);
  }
  printf("%-11s %51zu\n", "all layers", layers);
  printf("%-11s %51zu\n", "embed", st_global_size(m, ST_WTE));
  if (gpt2) printf("%-11s %51zu\n", "pos", st_global_size(m, ST_WPE));
  printf("%-11s %51zu\n", "final_norm",
         st_global_size(m, ST_LNF_W) + st_global_size(m, ST_LNF_B));
  if (c->tied) printf("%-11s %51s\n", "head", "(tied to embed)");
  else printf("%-11s %51zu\n", "head", st_global_size(m, ST_HEAD));
  printf("%-11s %51zu  (%.1f MB as f32", "total", m->n_params,
         m->n_params * 4.0 / 1e6);
  if (m->dtype[0] && strcmp(m->dtype, "float32"))
    printf(", %.1f MB as the file's %s", m->n_params * 2.0 / 1e6, m->dtype);
  printf(")\n");
  st_model_free(m);
  return 0;
}
