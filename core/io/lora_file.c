/* lora_file.c - strata's own adapter file: every adapter of a set with its
 * training state, for run checkpoints (lora.h has the layout). PEFT's
 * format (lora_peft.c) carries no optimizer state, per-adapter dropout or
 * which adapters train, so checkpoints use this one and export converts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lora.h"
#include "lora_io.h"
#include "safetensors.h"

enum { A_W, B_W, A_M, A_V, B_M, B_V, NBUF };
static const char *const prefix[NBUF] = {"", "", "adam_m/", "adam_v/",
                                         "adam_m/", "adam_v/"};
static const char *const suffix[NBUF] = {".lora_A.weight", ".lora_B.weight",
                                         ".lora_A.weight", ".lora_A.weight",
                                         ".lora_B.weight", ".lora_B.weight"};

int st_lora_save(const st_lora *lo, const char *path) {
  const st_model *m = lo->m;
  const st_backend *be = m->be;
  int n = lo->n, ne = 0, rc = ST_ERR;
  st_sft_entry *e = calloc((size_t)n * (NBUF + 1), sizeof *e);
  char **names = calloc((size_t)n * (NBUF + 1), sizeof *names);
  float **bufs = calloc((size_t)n * NBUF, sizeof *bufs);
  int32_t *steps = calloc((size_t)n + 1, sizeof *steps);
  json_t *meta = json_array();
  char *meta_s = NULL, seed_s[32];
  if (!e || !names || !bufs || !steps || !meta) {
    st_err("out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const st_adapter *a = &lo->a[i];
    const st_param *w = &m->tab[a->param];
    char mod[128];
    st_adapter_path(m, a, mod, sizeof mod);
    json_array_append_new(
        meta, json_pack("{s:s,s:i,s:f,s:b,s:f,s:b,s:I}", "module", mod, "rank",
                        a->rank, "alpha", (double)a->alpha, "rslora", a->rslora,
                        "dropout", (double)a->dropout, "train", a->train,
                        "draws", (json_int_t)a->draws));
    const float *dev[NBUF] = {a->A, a->B, a->mA, a->vA, a->mB, a->vB};
    for (int b = 0; b < (a->train ? NBUF : 2); b++) {
      int isA = b == A_W || b == A_M || b == A_V;
      size_t k = isA ? (size_t)a->rank * w->cols : (size_t)w->rows * a->rank;
      float **h = &bufs[(size_t)i * NBUF + b];
      size_t len = strlen(prefix[b]) + strlen(mod) + strlen(suffix[b]) + 1;
      if (!(*h = st_malloc(k * sizeof **h)) || !(names[ne] = st_malloc(len)))
        goto done;
      be->download(*h, dev[b], k * sizeof **h);
      snprintf(names[ne], len, "%s%s%s", prefix[b], mod, suffix[b]);
      e[ne] = (st_sft_entry){.name = names[ne], .dtype = ST_SFT_F32, .ndim = 2,
                             .data = *h};
      e[ne].shape[0] = isA ? a->rank : w->rows;
      e[ne].shape[1] = isA ? w->cols : a->rank;
      ne++;
    }
    if (a->train) {
      size_t len = strlen(mod) + 8;
      if (!(names[ne] = st_malloc(len))) goto done;
      snprintf(names[ne], len, "adam_t/%s", mod);
      steps[i] = a->adam_t;
      e[ne] = (st_sft_entry){.name = names[ne], .dtype = ST_SFT_I32, .ndim = 1,
                             .data = &steps[i]};
      e[ne].shape[0] = 1;
      ne++;
    }
  }
  meta_s = json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(9));
  snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)lo->seed);
  const char *keys[] = {"lora", "seed"}, *vals[] = {meta_s, seed_s};
  if (!meta_s) st_err("out of memory");
  else rc = st_sft_write(path, e, ne, keys, vals, 2);
done:
  for (int i = 0; names && i < n * (NBUF + 1); i++) free(names[i]);
  for (int i = 0; bufs && i < n * NBUF; i++) free(bufs[i]);
  free(names);
  free(bufs);
  free(e);
  free(steps);
  free(meta_s);
  json_decref(meta);
  return rc;
}

/* tensor prefix+mod+suffix into dev (k floats, shape [r0, r1]) */
static int read_to(const st_sft *f, const st_backend *be, const char *pre,
                   const char *mod, const char *suf, float *dev, int64_t r0,
                   int64_t r1, float *host) {
  char key[256];
  snprintf(key, sizeof key, "%s%s%s", pre, mod, suf);
  const st_sft_tensor *t = st_sft_find(f, key);
  if (!t) return st_err("%s: no tensor '%s'", f->path, key);
  if (t->ndim != 2 || t->shape[0] != r0 || t->shape[1] != r1)
    return st_err("%s: '%s' is not [%lld, %lld]", f->path, key, (long long)r0,
                  (long long)r1);
  if (st_sft_read_f32(f, t, host, (size_t)(r0 * r1))) return ST_ERR;
  be->upload(dev, host, (size_t)(r0 * r1) * sizeof *host);
  return ST_OK;
}

/* one adapter entry of the metadata into lo */
static int load_one(st_lora *lo, const st_sft *f, json_t *j, int fresh) {
  const st_model *m = lo->m;
  const char *mod = json_string_value(json_object_get(j, "module"));
  json_t *jr = json_object_get(j, "rank");
  if (!mod || !json_is_integer(jr))
    return st_err("%s: metadata 'lora': an entry lacks module or rank", f->path);
  char wname[160];
  snprintf(wname, sizeof wname, "%s.weight", mod);
  const st_param *w = st_model_find(m, wname);
  int k = w && w->group == ST_G_LAYER ? st_module_index(m, w->module) : -1;
  if (k < 0)
    return st_err("%s: adapter on '%s', which this model does not have",
                  f->path, mod);
  int rank = (int)json_integer_value(jr);
  st_adapter *a = st_lora_find(lo, w->layer, k);
  if (a && a->rank != rank)
    return st_err("%s: %s: rank %d in the file, %d in the trainer's plan",
                  f->path, mod, rank, a->rank);
  if (!a && st_lora_add(lo, w->layer, k, rank,
                        (float)json_number_value(json_object_get(j, "alpha")),
                        json_is_true(json_object_get(j, "rslora")),
                        (float)json_number_value(json_object_get(j, "dropout")),
                        &a))
    return st_err_prefix("%s: ", f->path);
  int train = !fresh && a->train;
  if (train && !json_is_true(json_object_get(j, "train")))
    return st_err("%s: %s trains under the plan but the file has no AdamW "
                  "state for it", f->path, mod);
  a->draws = (uint64_t)json_integer_value(json_object_get(j, "draws"));
  size_t na = (size_t)rank * w->cols, nb = (size_t)w->rows * rank;
  float *h = st_malloc((na > nb ? na : nb) * sizeof *h);
  if (!h) return ST_ERR;
  const st_backend *be = m->be;
  int rc = read_to(f, be, "", mod, ".lora_A.weight", a->A, rank, w->cols, h) ||
           read_to(f, be, "", mod, ".lora_B.weight", a->B, w->rows, rank, h);
  if (!rc && train) {
    rc = read_to(f, be, "adam_m/", mod, ".lora_A.weight", a->mA, rank, w->cols, h) ||
         read_to(f, be, "adam_v/", mod, ".lora_A.weight", a->vA, rank, w->cols, h) ||
         read_to(f, be, "adam_m/", mod, ".lora_B.weight", a->mB, w->rows, rank, h) ||
         read_to(f, be, "adam_v/", mod, ".lora_B.weight", a->vB, w->rows, rank, h);
    char key[160];
    snprintf(key, sizeof key, "adam_t/%s", mod);
    const st_sft_tensor *t = st_sft_find(f, key);
    int32_t step = 0;
    if (!rc && (!t || t->numel != 1))
      rc = st_err("%s: no one-element tensor '%s'", f->path, key);
    else if (!rc && st_sft_read_i32(f, t, &step, 1))
      rc = ST_ERR;
    a->adam_t = step;
  }
  free(h);
  return rc ? ST_ERR : ST_OK;
}

static int load(st_lora *lo, const char *path, int fresh) {
  st_sft *f;
  if (st_sft_open(&f, path)) return ST_ERR;
  const char *ms = st_sft_meta(f, "lora"), *ss = st_sft_meta(f, "seed");
  int rc = ST_OK;
  json_error_t je;
  json_t *meta = ms ? json_loads(ms, 0, &je) : NULL;
  if (!ms || !ss) rc = st_err("%s: not a strata adapter file (no 'lora' and "
                              "'seed' metadata)", path);
  else if (!json_is_array(meta))
    rc = st_err("%s: metadata 'lora' is not a JSON list", path);
  if (rc == ST_OK && fresh) lo->seed = strtoull(ss, NULL, 10);
  size_t i;
  json_t *j;
  if (rc == ST_OK)
    json_array_foreach(meta, i, j) if ((rc = load_one(lo, f, j, fresh))) break;
  /* every adapter that trains must come back with its state */
  for (int k = 0; rc == ST_OK && !fresh && k < lo->n; k++) {
    char mod[128];
    int found = 0;
    st_adapter_path(lo->m, &lo->a[k], mod, sizeof mod);
    json_array_foreach(meta, i, j) {
      const char *s = json_string_value(json_object_get(j, "module"));
      found |= s && !strcmp(s, mod);
    }
    if (lo->a[k].train && !found)
      rc = st_err("%s: no adapter for %s, which trains under the plan", path,
                  mod);
  }
  json_decref(meta);
  st_sft_close(f);
  return rc;
}

int st_lora_load(st_lora **out, const st_model *m, const char *path) {
  if (st_lora_new(out, m, 0)) return ST_ERR;
  if (load(*out, path, 1) == ST_OK) return ST_OK;
  st_lora_free(*out);
  *out = NULL;
  return ST_ERR;
}

int st_lora_load_into(st_lora *lo, const char *path) {
  return load(lo, path, 0);
}

int st_trainer_save_lora(const st_trainer *t, const char *path) {
  const st_lora *lo = st_trainer_lora(t);
  if (!lo || !lo->n)
    return st_err("%s: the trainer has no LoRA adapters to save", path);
  return st_lora_save(lo, path);
}

static int load_into(st_lora *lo, void *path) { return st_lora_load_into(lo, path); }

int st_trainer_load_lora(st_trainer *t, const char *path) {
  return st_trainer_edit_lora(t, load_into, (void *)path);
}
