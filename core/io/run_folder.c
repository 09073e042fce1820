/* run_folder.c - a run folder is a model everywhere a model is accepted
 * (model_io.h): the base model, the chosen checkpoint's trained tensors,
 * its LoRA adapters merged.
 *
 * A run writes recipe.resolved.yaml when it starts; that file is what makes
 * a folder a run. Its checkpoints (the runner's runner_ckpt.c) carry in
 * their metadata "base_model" (absolute), "base_sha256" and "lora" (the
 * adapter file, relative to the folder), so nothing here depends on the
 * working directory the run was started from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "lora.h"
#include "lora_io.h"
#include "model_io.h"
#include "model_load.h"
#include "safetensors.h"

static int is_dir(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

static int is_file(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* "@best", "@step-N", "@last" -> the checkpoint's name in the folder */
static int checkpoint_name(const char *spec, const char *sel, char *out, size_t n) {
  if (!sel || !strcmp(sel, "last")) return snprintf(out, n, "checkpoint.safetensors"), ST_OK;
  if (!strcmp(sel, "best")) return snprintf(out, n, "best.safetensors"), ST_OK;
  char *end;
  if (!strncmp(sel, "step-", 5) && sel[5] >= '0' && sel[5] <= '9') {
    long s = strtol(sel + 5, &end, 10);
    if (!*end && s >= 0 && s <= 1000000000)
      return snprintf(out, n, "checkpoints/step-%ld.safetensors", s), ST_OK;
  }
  return st_err("%s: after '@' expected best, last or step-N, not '%s'", spec, sel);
}

static const char *missing_hint(const char *sel) {
  if (!sel || !strcmp(sel, "last"))
    return "it has no checkpoint yet (a run writes one every "
           "output.checkpoint_every steps and at the end)";
  if (!strcmp(sel, "best"))
    return "it kept no best checkpoint (that takes output.keep: best and an "
           "evaluation during training)";
  return "it kept no checkpoint of that step (output.keep: all keeps one per "
         "checkpoint, in checkpoints/)";
}

int st_run_resolve(const char *spec, st_run_ref *r) {
  memset(r, 0, sizeof *r);
  char sel[64] = "", yaml[ST_PATH_MAX], name[64];
  const char *at = strrchr(spec, '@');
  if (at && !strchr(at, '/') && strlen(at + 1) < sizeof sel) {
    snprintf(sel, sizeof sel, "%s", at + 1);
    if (st_pathf(r->dir, sizeof r->dir, "%.*s", (int)(at - spec), spec)) return ST_ERR;
  } else {
    at = NULL;
    if (st_pathf(r->dir, sizeof r->dir, "%s", spec)) return ST_ERR;
  }
  if (!is_dir(r->dir) || st_path_join(yaml, sizeof yaml, r->dir, "recipe.resolved.yaml") ||
      !is_file(yaml)) {
    st_err_clear();
    if (!at) return ST_OK;
    /* a path that merely holds an '@' is no run */
    struct stat sb;
    if (stat(spec, &sb) == 0) return ST_OK;
    return st_err("%s: %s is not a run folder (no recipe.resolved.yaml)", spec, r->dir);
  }
  r->is_run = 1;
  if (checkpoint_name(spec, at ? sel : NULL, name, sizeof name) ||
      st_path_join(r->ckpt, sizeof r->ckpt, r->dir, name))
    return ST_ERR;
  if (!is_file(r->ckpt))
    return st_err("%s: no %s: %s", spec, name, missing_hint(at ? sel : NULL));
  st_sft *f;
  if (st_sft_open(&f, r->ckpt)) return ST_ERR;
  const char *base = st_sft_meta(f, "base_model"), *sha = st_sft_meta(f, "base_sha256"),
             *lora = st_sft_meta(f, "lora"), *step = st_sft_meta(f, "step");
  int rc = ST_OK;
  if (!base || !sha || strlen(sha) != 64)
    rc = st_err("%s: does not name its base model (a checkpoint from an older "
                "strata); load its base and adapters with strata export --model",
                r->ckpt);
  else if (st_pathf(r->base, sizeof r->base, "%s", base))
    rc = ST_ERR;
  if (rc == ST_OK) {
    snprintf(r->base_sha256, sizeof r->base_sha256, "%s", sha);
    r->step = step ? atoi(step) : 0;
    if (lora && lora[0] && st_path_join(r->lora, sizeof r->lora, r->dir, lora)) rc = ST_ERR;
  }
  st_sft_close(f);
  if (rc) return ST_ERR;
  if (r->lora[0] && !is_file(r->lora))
    return st_err("%s: its adapter file %s is missing", r->ckpt, r->lora);
  char now[65];
  if (st_model_sha256(r->base, now))
    return st_err_prefix("%s: its base model: ", spec);
  if (strcmp(now, r->base_sha256))
    return st_err("%s: its base model %s changed since the run (sha256 %.12s... "
                  "then, %.12s... now); the run's weights apply only to the model "
                  "they were trained from", spec, r->base, r->base_sha256, now);
  return ST_OK;
}

int st_model_base(const char *spec, char *out, size_t n) {
  char cur[ST_PATH_MAX];
  snprintf(cur, sizeof cur, "%s", spec);
  for (int depth = 0; depth < 16; depth++) { /* a run may start from a run */
    st_run_ref r;
    if (st_run_resolve(cur, &r)) return ST_ERR;
    if (!r.is_run) return st_pathf(out, n, "%s", cur);
    snprintf(cur, sizeof cur, "%s", r.base);
  }
  return st_err("%s: runs based on runs nest more than 16 deep", spec);
}

int st_run_apply_weights(st_model *m, const char *path, unsigned char *trained,
                         int *n_applied) {
  st_sft *f;
  if (n_applied) *n_applied = 0;
  if (st_sft_open(&f, path)) return ST_ERR;
  int rc = ST_OK;
  float *buf = NULL;
  for (int i = 0; i < f->n && rc == ST_OK; i++) {
    const st_sft_tensor *t = &f->t[i];
    if (strncmp(t->name, "weight/", 7)) continue;
    const st_param *q = st_model_find(m, t->name + 7);
    if (!q) {
      rc = st_err("%s: '%s' is not a tensor of the base model", path, t->name);
      break;
    }
    free(buf);
    if (!(buf = st_malloc(t->numel * sizeof *buf)) ||
        st_sft_read_f32(f, t, buf, t->numel) || st_model_set(m, q, buf, t->numel)) {
      rc = ST_ERR;
    } else {
      if (trained) trained[q - m->tab] = 1;
      if (n_applied) (*n_applied)++;
    }
  }
  free(buf);
  st_sft_close(f);
  return rc;
}

int st_run_load(st_model **out, const st_run_ref *r, const char *spec,
                const st_backend *be, const char *frozen_dtype) {
  *out = NULL;
  st_model *m;
  /* in split storage the base's frozen matrices never pass through fp32;
   * the checkpoint's tensors and the merge write into them (narrowing) */
  if (st_model_load_as(&m, r->base, be, frozen_dtype))
    return st_err_prefix("%s: base model: ", spec);
  st_lora *lo = NULL;
  int rc = st_run_apply_weights(m, r->ckpt, NULL, NULL);
  if (rc == ST_OK && r->lora[0]) {
    rc = st_lora_load(&lo, m, r->lora);
    if (rc == ST_OK) rc = st_lora_merge(m, lo);
  }
  st_lora_free(lo);
  if (rc) {
    st_model_free(m);
    return ST_ERR;
  }
  snprintf(m->path, sizeof m->path, "%s", spec);
  *out = m;
  return ST_OK;
}
