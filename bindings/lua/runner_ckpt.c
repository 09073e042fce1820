/* runner_ckpt.c - checkpoints of a run, for --resume.
 *
 * One file, DIR/checkpoint.safetensors, replaced atomically (st_sft_write
 * writes .tmp and renames), so a crash or a NaN leaves the last good one:
 *   weight/<name>  F32  every tensor trained so far (a plan switch may have
 *                       frozen it since; the frozen rest comes from the
 *                       model file)
 *   adam_m/<name>, adam_v/<name>  F32, adam_t/<name>  I32 [1]
 *                       AdamW state of the tensors trainable now
 *   __metadata__        step, epoch and index (the batcher's position; its
 *                       order is a function of (seed, epoch), so this is all
 *                       of the data RNG), plan (JSON), wall_s, zero-shot
 *                       metrics, "lora": the adapter file, the selection
 *                       state (best, best_step, stale, stopped), and
 *                       base_model + base_sha256, which make the folder a
 *                       model anywhere (core/io/run_folder.c)
 * LoRA adapters, their AdamW state and dropout position are in
 * lora-<step>.safetensors (st_trainer_save_lora), written before the main
 * file that names it; then lora.safetensors is made a hard link to it and
 * older ones are removed, except the best checkpoint's.
 * output.keep: best makes best.safetensors a hard link to the checkpoint of
 * the best evaluation; all links each one as checkpoints/step-N.safetensors
 * (the main file is replaced by rename, so a link keeps the old content).
 * Policies that draw at random reseed from (seed, step), so nothing else
 * carries random state. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "lora.h"
#include "lora_io.h"
#include "runner.h"
#include "safetensors.h"

static size_t pnum(const st_param *q) { return (size_t)q->rows * q->cols; }

static void shape_of(const st_param *q, st_sft_entry *e, int stored) {
  if (q->rows == 1) {
    e->ndim = 1;
    e->shape[0] = q->cols;
  } else {
    e->ndim = 2;
    int swap = q->conv1d && !stored; /* checkpoint layout of Conv1D */
    e->shape[0] = swap ? q->cols : q->rows;
    e->shape[1] = swap ? q->rows : q->cols;
  }
}

/* lora-*.safetensors other than `keep` and the best checkpoint's */
static void remove_old_lora(const char *dir, const char *keep, int best_step) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char best[64];
  snprintf(best, sizeof best, "lora-%d.safetensors", best_step);
  while (d && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (strncmp(e->d_name, "lora-", 5) || n < 12 ||
        strcmp(e->d_name + n - 12, ".safetensors") || !strcmp(e->d_name, keep) ||
        (best_step > 0 && !strcmp(e->d_name, best)))
      continue;
    char p[ST_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    remove(p);
  }
  if (d) closedir(d);
}

/* dst becomes another name of src, atomically (a link swapped in) */
static int swap_link(const char *src, const char *dst) {
  char tmp[ST_PATH_MAX];
  if (st_pathf(tmp, sizeof tmp, "%s.tmp", dst)) return ST_ERR;
  remove(tmp);
  if (link(src, tmp) || rename(tmp, dst)) {
    remove(tmp);
    return st_err("%s: cannot link %s: %s", dst, src, strerror(errno));
  }
  return ST_OK;
}

int sl_ckpt_mark_best(const char *dir) {
  char src[ST_PATH_MAX], dst[ST_PATH_MAX];
  if (st_pathf(src, sizeof src, "%s/checkpoint.safetensors", dir) ||
      st_pathf(dst, sizeof dst, "%s/best.safetensors", dir))
    return ST_ERR;
  return swap_link(src, dst);
}

int sl_ckpt_save(const char *dir, st_trainer *t, const st_model *m,
                  const sl_run_state *s) {
  const st_plan *plan = st_trainer_plan(t);
  int n = m->n_tab, ne = 0, rc = ST_ERR;
  st_sft_entry *e = calloc((size_t)n * 4, sizeof *e);
  char **names = calloc((size_t)n * 4, sizeof *names);
  float **bufs = calloc((size_t)n * 3, sizeof *bufs);
  int32_t *steps = calloc((size_t)n, sizeof *steps);
  char *plan_s = NULL;
  if (!e || !names || !bufs || !steps) {
    st_err("out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const st_param *q = &m->tab[i];
    int now = st_plan_param_trainable(plan, m, q);
    if (!s->touched[i] && !now) continue;
    size_t k = pnum(q);
    for (int b = 0; b < 3; b++)
      if (!(bufs[3 * i + b] = st_malloc(k * sizeof(float)))) goto done;
    if (st_model_get(m, q, bufs[3 * i], k)) goto done;
    static const char *pre[] = {"weight/", "adam_m/", "adam_v/", "adam_t/"};
    for (int b = 0; b < (now ? 4 : 1); b++) {
      size_t len = strlen(pre[b]) + strlen(q->name) + 1;
      if (!(names[ne] = malloc(len))) goto done;
      snprintf(names[ne], len, "%s%s", pre[b], q->name);
      e[ne].name = names[ne];
      if (b < 3) {
        e[ne].dtype = ST_SFT_F32;
        shape_of(q, &e[ne], b > 0);
        e[ne].data = bufs[3 * i + b];
      } else {
        e[ne].dtype = ST_SFT_I32;
        e[ne].ndim = 1;
        e[ne].shape[0] = 1;
        e[ne].data = &steps[i];
      }
      ne++;
    }
    if (now && st_trainer_get_state(t, q, bufs[3 * i + 1], bufs[3 * i + 2], k,
                                    &steps[i]))
      goto done;
  }
  json_t *pj = sl_plan_json(plan, m);
  plan_s = json_dumps(pj, JSON_COMPACT);
  json_decref(pj);
  char v[9][64];
  snprintf(v[0], 64, "%d", s->step);
  snprintf(v[1], 64, "%ld", s->epoch);
  snprintf(v[2], 64, "%ld", s->index);
  snprintf(v[3], 64, "%.17g", s->wall_s);
  snprintf(v[4], 64, "%.17g", s->zs_loss);
  snprintf(v[5], 64, "%.17g", s->zs_acc);
  snprintf(v[6], 64, "%.17g", s->best);
  snprintf(v[7], 64, "%d", s->best_step);
  snprintf(v[8], 64, "%d", s->stale);
  /* LoRA adapters go to their own file, named by step so that the main
   * file, written last, always names a complete one */
  const st_lora *lo = st_trainer_lora(t);
  char lora_name[64] = "", path[ST_PATH_MAX];
  if (lo && lo->n) {
    snprintf(lora_name, sizeof lora_name, "lora-%d.safetensors", s->step);
    snprintf(path, sizeof path, "%s/%s", dir, lora_name);
    if (st_trainer_save_lora(t, path)) goto done;
  }
  const char *keys[] = {"step", "epoch", "index", "wall_s", "zero_shot_loss",
                        "zero_shot_accuracy", "plan", "lora", "best", "best_step",
                        "stale", "stopped", "base_model", "base_sha256"};
  const char *vals[] = {v[0], v[1], v[2], v[3], v[4], v[5], plan_s, lora_name,
                        v[6], v[7], v[8], s->stopped, s->base_model ? s->base_model : "",
                        s->base_sha256 ? s->base_sha256 : ""};
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
  rc = st_sft_write(path, e, ne, keys, vals, 14);
  if (rc == ST_OK && s->keep == SL_KEEP_ALL) {
    char kept[ST_PATH_MAX];
    rc = st_pathf(kept, sizeof kept, "%s/checkpoints", dir);
    if (rc == ST_OK) rc = st_mkdirs(kept);
    if (rc == ST_OK)
      rc = st_pathf(kept, sizeof kept, "%s/checkpoints/step-%d.safetensors", dir, s->step);
    if (rc == ST_OK) rc = swap_link(path, kept);
  }
  if (rc == ST_OK && lora_name[0]) {
    /* lora.safetensors: the adapters of the latest checkpoint under a fixed
     * name (strata merge / export-adapter read it), a hard link swapped in */
    char src[ST_PATH_MAX], dst[ST_PATH_MAX];
    snprintf(src, sizeof src, "%s/%s", dir, lora_name);
    snprintf(dst, sizeof dst, "%s/lora.safetensors", dir);
    rc = swap_link(src, dst);
    if (s->keep != SL_KEEP_ALL)
      remove_old_lora(dir, lora_name, s->keep == SL_KEEP_BEST ? s->best_step : 0);
  }
done:
  for (int i = 0; i < 4 * n && names; i++) free(names[i]);
  for (int i = 0; i < 3 * n && bufs; i++) free(bufs[i]);
  free(names);
  free(bufs);
  free(e);
  free(steps);
  free(plan_s);
  return rc;
}

static const char *meta(const st_sft *f, const char *key) {
  const char *v = st_sft_meta(f, key);
  if (!v) st_err("%s: metadata '%s' is missing", f->path, key);
  return v;
}

/* reads tensor `pre`+name into buf (n floats); 0 absent, 1 read, ST_ERR */
static int read_named(const st_sft *f, const char *pre, const char *name,
                      float *buf, size_t n) {
  char key[160];
  snprintf(key, sizeof key, "%s%s", pre, name);
  const st_sft_tensor *t = st_sft_find(f, key);
  if (!t) return 0;
  return st_sft_read_f32(f, t, buf, n) ? ST_ERR : 1;
}

int sl_ckpt_load(const char *dir, st_trainer **t, st_model *m, int B, int T,
                  sl_run_state *s) {
  char path[ST_PATH_MAX];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
  st_sft *f = NULL;
  st_plan plan = {0};
  float *w = NULL, *mm = NULL, *vv = NULL;
  int rc = ST_ERR;
  if (st_sft_open(&f, path)) return ST_ERR;
  const char *step = meta(f, "step"), *ep = meta(f, "epoch"),
             *ix = meta(f, "index"), *ws = meta(f, "wall_s"),
             *zl = meta(f, "zero_shot_loss"), *za = meta(f, "zero_shot_accuracy"),
             *ps = meta(f, "plan");
  if (!step || !ep || !ix || !ws || !zl || !za || !ps) goto done;
  s->step = atoi(step);
  s->epoch = atol(ep);
  s->index = atol(ix);
  s->wall_s = strtod(ws, NULL);
  s->zs_loss = strtod(zl, NULL);
  s->zs_acc = strtod(za, NULL);
  /* absent in a checkpoint from an older strata: no best yet */
  const char *bv = st_sft_meta(f, "best"), *bs = st_sft_meta(f, "best_step"),
             *sc = st_sft_meta(f, "stale"), *so = st_sft_meta(f, "stopped");
  s->best = bv ? strtod(bv, NULL) : NAN;
  s->best_step = bs ? atoi(bs) : 0;
  s->stale = sc ? atoi(sc) : 0;
  snprintf(s->stopped, sizeof s->stopped, "%s", so ? so : "");
  json_error_t je;
  json_t *pj = json_loads(ps, 0, &je);
  int prc = pj ? sl_plan_from_json(pj, m, &plan)
               : st_err("%s: plan metadata: %s", path, je.text);
  json_decref(pj);
  if (prc) goto done;
  plan.recompute = s->recompute;
  if (st_trainer_new(t, m, &plan, B, T)) goto done;
  for (int i = 0; i < m->n_tab; i++) {
    const st_param *q = &m->tab[i];
    size_t n = pnum(q);
    free(w), free(mm), free(vv);
    mm = vv = NULL;
    if (!(w = st_malloc(n * sizeof *w)) || !(mm = st_malloc(n * sizeof *mm)) ||
        !(vv = st_malloc(n * sizeof *vv)))
      goto done;
    int got = read_named(f, "weight/", q->name, w, n);
    if (got < 0) goto done;
    s->touched[i] = (unsigned char)got;
    if (got && st_model_set(m, q, w, n)) goto done;
    if (!st_plan_param_trainable(&plan, m, q)) continue;
    char key[160];
    snprintf(key, sizeof key, "adam_t/%s", q->name);
    const st_sft_tensor *ts = st_sft_find(f, key);
    int32_t at = 0;
    if (!got || !ts || read_named(f, "adam_m/", q->name, mm, n) != 1 ||
        read_named(f, "adam_v/", q->name, vv, n) != 1 ||
        st_sft_read_i32(f, ts, &at, 1)) {
      st_err("%s: trainable tensor %s lacks its weights or AdamW state", path,
             q->name);
      goto done;
    }
    if (st_trainer_set_state(*t, q, mm, vv, n, at)) goto done;
  }
  const char *lora = st_sft_meta(f, "lora");
  if (lora && lora[0]) {
    char lp[ST_PATH_MAX];
    snprintf(lp, sizeof lp, "%s/%s", dir, lora);
    if (st_trainer_load_lora(*t, lp)) goto done;
  }
  rc = ST_OK;
done:
  if (rc && *t) {
    st_trainer_free(*t);
    *t = NULL;
  }
  free(w), free(mm), free(vv);
  st_plan_free(&plan);
  st_sft_close(f);
  return rc;
}

int sl_metrics_truncate(const char *path, int step) {
  FILE *in = fopen(path, "r");
  if (!in) return ST_OK; /* nothing logged yet */
  st_atomic a;
  FILE *out = st_atomic_open(&a, path);
  if (!out) {
    fclose(in);
    return ST_ERR;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, in) > 0) {
    json_t *j = json_loads(line, 0, NULL);
    json_t *st = j ? json_object_get(j, "step") : NULL;
    if (st && json_integer_value(st) <= step) fputs(line, out);
    json_decref(j);
  }
  free(line);
  fclose(in);
  return st_atomic_commit(&a);
}
