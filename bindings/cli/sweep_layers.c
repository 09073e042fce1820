/* sweep_layers.c - does the trace predict what matters? The per-layer mode
 * trains each layer alone (plus the final norm) with the same budget and
 * seeds; here each layer's measured quality gain over zero-shot is set
 * against each trace measure's predicted gain for that layer, ranked by
 * Spearman's rho with a bootstrap interval over the layers.
 *
 * Predicted gain of layer l (space l -> l+1), from each run's trace.json,
 * averaged over the layer's runs (every run of a seed traces the same
 * batch of the same model, so the layers share their seeds' traces):
 *   delta_norm, delta_rel   the deviation the layer causes (space l+1)
 *   cos_prev                1 - cos(h_{l+1}, h_l)
 *   lens_loss, basis_dev    the drop D_l - D_{l+1} (not clipped at 0, so
 *                           every layer keeps its rank)
 *   grad_norm, grad_ratio   the layer's own value (trace.gradients) */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "svg.h"
#include "sweep.h"

enum { NMEAS = 7 };
static const char *const meas[NMEAS] = {"delta_norm", "delta_rel", "cos_prev", "lens_loss",
                                        "basis_dev",  "grad_norm", "grad_ratio"};

static double mean_of(json_t *space, const char *m) {
  json_t *v = json_object_get(json_object_get(space, m), "mean");
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* the predicted gain of layer l under measure k, from one trace */
static double predicted(json_t *tr, int l, int k) {
  json_t *sp = json_object_get(tr, "spaces");
  json_t *lo = json_array_get(sp, l), *hi = json_array_get(sp, l + 1);
  const char *m = meas[k];
  if (!strcmp(m, "cos_prev")) return 1 - mean_of(hi, m);
  if (!strcmp(m, "lens_loss") || !strcmp(m, "basis_dev")) return mean_of(lo, m) - mean_of(hi, m);
  return mean_of(hi, m);
}

/* one layer's numbers */
typedef struct layer_row {
  int vi;          /* its variant */
  st_ci gain;      /* over zero-shot, higher = better, over the seeds */
  double bwd_pct;
  double pred[NMEAS]; /* NaN: the traces lack the measure */
} layer_row;

static int read_layer(const sweep *s, const sw_row *r, int vi, layer_row *o) {
  const sw_variant *v = &s->v[vi];
  double g[SW_MAXSEED];
  int sign = sw_higher_better(s->metric) ? 1 : -1, nt[NMEAS] = {0};
  o->vi = vi;
  o->bwd_pct = r->bwd_pct;
  for (int k = 0; k < NMEAS; k++) o->pred[k] = 0;
  for (int q = 0; q < r->n; q++) {
    char dir[ST_PATH_MAX], p[ST_PATH_MAX];
    if (sw_run_dir(s, v, r->chosen, r->run[q].seed, dir, sizeof dir)) return ST_ERR;
    if (!isfinite(r->run[q].zero_shot))
      return st_err("per_layer: %s/summary.json has no zero-shot %s to measure the gain from "
                    "(zero-shot has loss and accuracy; use metric accuracy, loss or perplexity)",
                    dir, s->metric);
    g[q] = sign * (r->run[q].test - r->run[q].zero_shot);
    if (st_pathf(p, sizeof p, "%s/trace.json", dir)) return ST_ERR;
    json_t *tr = json_load_file(p, 0, NULL);
    if (!tr) return st_err("per_layer: %s cannot be read", p);
    for (int k = 0; k < NMEAS; k++) {
      double x = predicted(tr, v->layer, k);
      if (isfinite(x)) o->pred[k] += x, nt[k]++;
    }
    json_decref(tr);
  }
  for (int k = 0; k < NMEAS; k++) o->pred[k] = nt[k] == r->n && r->n ? o->pred[k] / r->n : NAN;
  o->gain = st_mean_ci(g, r->n, SW_LEVEL);
  return ST_OK;
}

static int write_csv(const sweep *s, const layer_row *lr, int n, int have[NMEAS]) {
  char p[ST_PATH_MAX];
  st_atomic a;
  if (st_pathf(p, sizeof p, "%s/per_layer.csv", s->out)) return ST_ERR;
  FILE *c = st_atomic_open(&a, p);
  if (!c) return ST_ERR;
  fprintf(c, "layer,backprop_flops_pct,gain_mean,gain_ci_lo,gain_ci_hi,n");
  for (int k = 0; k < NMEAS; k++)
    if (have[k]) fprintf(c, ",%s", meas[k]);
  fputc('\n', c);
  for (int i = 0; i < n; i++) {
    fprintf(c, "%d,%.2f,%.6f,%.6f,%.6f,%d", s->v[lr[i].vi].layer, lr[i].bwd_pct, lr[i].gain.mean,
            lr[i].gain.lo, lr[i].gain.hi, lr[i].gain.n);
    for (int k = 0; k < NMEAS; k++)
      if (have[k]) fprintf(c, ",%.8g", lr[i].pred[k]);
    fputc('\n', c);
  }
  return st_atomic_commit(&a);
}

static void fmt_gain(char *out, size_t n, st_ci c) {
  if (c.n < 2) snprintf(out, n, "%+.4f (n=%d, no interval)", c.mean, c.n);
  else snprintf(out, n, "%+.4f [%+.4f, %+.4f] (n=%d)", c.mean, c.lo, c.hi, c.n);
}

int sw_write_layers(const sweep *s, const sw_row *rows) {
  layer_row lr[SW_MAXV];
  int n = 0, have[NMEAS];
  for (int i = 0; i < s->nv; i++)
    if (s->v[i].layer >= 0 && rows[i].n && read_layer(s, &rows[i], i, &lr[n++])) return ST_ERR;
  for (int k = 0; k < NMEAS; k++) {
    have[k] = n > 0;
    for (int i = 0; i < n; i++) have[k] &= isfinite(lr[i].pred[k]);
  }
  if (write_csv(s, lr, n, have)) return ST_ERR;
  double gain[SW_MAXV], x[SW_MAXV];
  for (int i = 0; i < n; i++) gain[i] = lr[i].gain.mean;

  char p[ST_PATH_MAX];
  st_atomic a;
  if (st_pathf(p, sizeof p, "%s/per_layer.md", s->out)) return ST_ERR;
  FILE *m = st_atomic_open(&a, p);
  if (!m) return ST_ERR;
  fprintf(m, "| layer | backprop FLOPs vs full | %s gain over zero-shot: mean [95%% CI] (n) |",
          s->metric);
  for (int k = 0; k < NMEAS; k++)
    if (have[k]) fprintf(m, " %s |", meas[k]);
  fprintf(m, "\n|---|---|---|");
  for (int k = 0; k < NMEAS; k++)
    if (have[k]) fprintf(m, "---|");
  fputc('\n', m);
  for (int i = 0; i < n; i++) {
    char g[128];
    fmt_gain(g, sizeof g, lr[i].gain);
    fprintf(m, "| %d | %.1f%% | %s |", s->v[lr[i].vi].layer, lr[i].bwd_pct, g);
    for (int k = 0; k < NMEAS; k++)
      if (have[k]) fprintf(m, " %.4g |", lr[i].pred[k]);
    fputc('\n', m);
  }
  fprintf(m, "\n| trace measure | Spearman's rho with the measured gain | 95%% bootstrap CI | "
             "layers |\n|---|---|---|---|\n");
  int rc = ST_OK;
  for (int k = 0; k < NMEAS && rc == ST_OK; k++) {
    if (!have[k]) continue;
    for (int i = 0; i < n; i++) x[i] = lr[i].pred[k];
    double rho = st_spearman(x, gain, n), lo, hi;
    int used;
    if (st_spearman_boot(x, gain, n, SW_BOOT, 1, SW_LEVEL, &lo, &hi, &used)) {
      rc = ST_ERR;
      break;
    }
    fprintf(m, "| %s | %+.3f | [%+.3f, %+.3f] (%d of %d resamples) | %d |\n", meas[k], rho, lo, hi,
            used, SW_BOOT, n);
    /* the figure: one point per layer, its interval as the error bar */
    st_series ser[SW_MAXV];
    double y[SW_MAXV], e[SW_MAXV];
    char names[SW_MAXV][32], title[256], xl[128], yl[128];
    for (int i = 0; i < n; i++) {
      snprintf(names[i], sizeof names[i], "layer %d", s->v[lr[i].vi].layer);
      y[i] = lr[i].gain.mean;
      e[i] = lr[i].gain.n > 1 ? lr[i].gain.hi - lr[i].gain.mean : 0;
      ser[i] = (st_series){names[i], 1, &x[i], &y[i], &e[i], i + 1, 0};
    }
    snprintf(title, sizeof title, "measured gain against %s's prediction: rho %+.2f [%+.2f, %+.2f]",
             meas[k], rho, lo, hi);
    snprintf(xl, sizeof xl, "predicted gain (%s)", meas[k]);
    snprintf(yl, sizeof yl, "%s gain over zero-shot (95%% CI)", s->metric);
    if (st_pathf(p, sizeof p, "%s/per_layer_%s.svg", s->out, meas[k]) ||
        st_svg_points(p, title, xl, yl, n, ser))
      rc = ST_ERR;
  }
  if (rc) {
    st_atomic_abort(&a);
    return ST_ERR;
  }
  fprintf(m, "\nEach layer trained alone (plus the final norm) with the same steps and seeds; "
             "gain: the test %s after training minus zero-shot, %s, with its 95%% t interval "
             "over the seeds. Predicted gain of layer l from the trace before training: "
             "delta_norm and delta_rel of space l+1, 1 - cos_prev, the drop of lens_loss and "
             "basis_dev from space l to l+1 (not clipped at 0), grad_norm and grad_ratio of the "
             "layer. rho: Spearman over the layers (ties ranked by their average); its interval: "
             "the 2.5 and 97.5 percentiles of rho over %d resamples of the layers with "
             "replacement (seed 1), leaving out resamples where either side is constant.\n",
          s->metric, sw_higher_better(s->metric) ? "higher is better" : "sign flipped so higher is better",
          SW_BOOT);
  return st_atomic_commit(&a);
}
