/* tiny_model.h - the trainer tests' model and weight snapshot: a random
 * 4-layer model of either architecture (GPT-2's head tied, Llama's q/k/v
 * with biases), and every weight plus a trainer's adapters as one host
 * vector, to compare two training paths bit for bit or within rounding. */
#ifndef ST_TINY_MODEL_H
#define ST_TINY_MODEL_H
#include <stdlib.h>

#include "lora.h"
#include "model.h"
#include "test.h"
#include "train.h"

static inline st_model *tiny(st_arch arch) {
  st_config c = {.arch = arch, .n_layers = 4, .dim = 32, .n_heads = 4,
                 .n_kv_heads = arch == ST_ARCH_LLAMA ? 2 : 4, .head_dim = 8,
                 .hidden = arch == ST_ARCH_LLAMA ? 48 : 128, .vocab = 64,
                 .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = 10000,
                 .tied = arch == ST_ARCH_GPT2,
                 .qkv_bias = arch == ST_ARCH_LLAMA};
  st_model *m = NULL;
  OK(st_model_new(&m, &c, st_backend_cpu()));
  st_model_init_random(m, 3);
  return m;
}

/* the model's weights and t's adapters (t may be NULL), as one host vector
 * of *n floats (malloc'ed) */
static inline float *snapshot(const st_model *m, const st_trainer *t, size_t *n) {
  const st_lora *lo = t ? st_trainer_lora(t) : NULL;
  size_t total = m->n_params;
  for (int i = 0; lo && i < lo->n; i++)
    total += (size_t)lo->a[i].rank *
             (m->tab[lo->a[i].param].cols + m->tab[lo->a[i].param].rows);
  float *w = malloc(total * sizeof *w), *p = w + m->n_params;
  m->be->download(w, m->params, m->n_params * sizeof *w);
  for (int i = 0; lo && i < lo->n; i++) {
    const st_adapter *a = &lo->a[i];
    OK(st_adapter_get(lo, a, p, p + (size_t)a->rank * m->tab[a->param].cols));
    p += (size_t)a->rank * (m->tab[a->param].cols + m->tab[a->param].rows);
  }
  *n = total;
  return w;
}
#endif
