/* runner_plots.c - a run's figures: its per-layer trace with the layers
 * the plan chose, and its loss curves (also drawn for a sweep's runs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "runner.h"
#include "svg.h"
#include "trace.h"

/* Layer l (0-based) moves h_l to h_{l+1}: its bar is the measure at latent
 * space l+1 (the deviation it causes, or the distance left after it). */
int sl_plot_trace(json_t *trace, json_t *plan, const char *dir, const char *title) {
  json_t *spaces = json_object_get(trace, "spaces");
  int L = (int)json_array_size(spaces) - 1;
  if (L < 1) return st_err("%s: trace has no layers to plot", dir);
  const char *measure = plan ? json_string_value(json_object_get(plan, "measure")) : NULL;
  if (!measure || st_measure_index(measure) < 0) measure = "delta_norm";
  json_t *gains = plan ? json_object_get(plan, "gains") : NULL;
  json_t *layers = plan ? json_object_get(plan, "layers") : NULL;
  double *mv = calloc(L, sizeof *mv), *gv = calloc(L, sizeof *gv);
  int *marked = calloc(L, sizeof *marked);
  char (*lab)[16] = calloc(L, sizeof *lab);
  const char **labels = calloc(L, sizeof *labels);
  if (!mv || !gv || !marked || !lab || !labels) {
    free(mv); free(gv); free(marked); free(lab); free(labels);
    return st_err("out of memory");
  }
  for (int l = 0; l < L; l++) {
    json_t *sp = json_array_get(spaces, l + 1);
    mv[l] = json_number_value(json_object_get(json_object_get(sp, measure), "mean"));
    gv[l] = json_is_array(gains) && json_is_number(json_array_get(gains, l))
                ? json_number_value(json_array_get(gains, l)) : NAN;
    const char *mode = json_string_value(json_object_get(json_array_get(layers, l), "mode"));
    marked[l] = mode && strcmp(mode, "frozen");
    snprintf(lab[l], sizeof lab[l], "%d", l);
    labels[l] = lab[l];
  }
  /* with gains the two series differ by orders of magnitude: each is drawn
   * as a share of its own maximum, which the legend gives */
  int ng = json_is_array(gains) ? 2 : 1;
  char n0[96], n1[96];
  snprintf(n0, sizeof n0, "%s", measure);
  snprintf(n1, sizeof n1, "gain");
  if (ng == 2) {
    double m0 = 0, m1 = 0;
    for (int l = 0; l < L; l++) {
      if (fabs(mv[l]) > m0) m0 = fabs(mv[l]);
      if (isfinite(gv[l]) && fabs(gv[l]) > m1) m1 = fabs(gv[l]);
    }
    for (int l = 0; l < L; l++) {
      if (m0 > 0) mv[l] /= m0;
      if (m1 > 0) gv[l] /= m1;
    }
    snprintf(n0, sizeof n0, "%s / %.4g", measure, m0);
    snprintf(n1, sizeof n1, "gain / %.4g", m1);
  }
  const double *vals[2] = {mv, gv};
  const char *names[2] = {n0, n1};
  char path[ST_PATH_MAX], t[256];
  snprintf(path, sizeof path, "%s/trace.svg", dir);
  snprintf(t, sizeof t, "per-layer %s%s (%s)", measure, ng == 2 ? " and gain" : "", title);
  int rc = st_svg_bars(path, t, ng == 2 ? "share of the series' maximum" : measure, L, labels,
                       ng, names, vals, layers ? marked : NULL);
  free(mv); free(gv); free(marked); free(lab); free(labels);
  return rc;
}

/* Training and eval loss curves of runs (their metrics.jsonl) in one
 * figure; run i's two series share colour i + 1, eval dashed. */
int sl_plot_losses(const char *svg, int n, const char *const *names,
                    const char *const *metrics) {
  st_series *ser = calloc(2 * (size_t)(n > 0 ? n : 1), sizeof *ser);
  char (*label)[96] = calloc(2 * (size_t)(n > 0 ? n : 1), sizeof *label);
  if (!ser || !label) {
    free(ser);
    free(label);
    return st_err("out of memory");
  }
  int ns = 0;
  for (int i = 0; i < n; i++) {
    FILE *f = fopen(metrics[i], "r");
    if (!f) continue;
    int cap = 256, nt = 0, ne = 0;
    double *xy = malloc(4 * cap * sizeof *xy); /* train x, y, eval x, y */
    char line[4096];
    while (xy && fgets(line, sizeof line, f)) {
      json_t *j = json_loads(line, 0, NULL);
      if (!j) continue;
      if (nt == cap || ne == cap) {
        double *g = realloc(xy, 8 * cap * sizeof *xy);
        if (!g) break;
        /* spread the four columns over the doubled buffer */
        memmove(g + 6 * cap, g + 3 * cap, cap * sizeof *g);
        memmove(g + 4 * cap, g + 2 * cap, cap * sizeof *g);
        memmove(g + 2 * cap, g + cap, cap * sizeof *g);
        xy = g;
        cap *= 2;
      }
      double st = json_number_value(json_object_get(j, "step"));
      json_t *l = json_object_get(j, "loss"), *el = json_object_get(j, "eval_loss");
      if (json_is_number(l)) xy[nt] = st, xy[cap + nt++] = json_number_value(l);
      if (json_is_number(el)) xy[2 * cap + ne] = st, xy[3 * cap + ne++] = json_number_value(el);
      json_decref(j);
    }
    fclose(f);
    if (!xy) continue;
    snprintf(label[ns], sizeof label[ns], "%s (train)", names[i]);
    ser[ns] = (st_series){label[ns], nt, xy, xy + cap, NULL, i + 1, 0};
    ns++;
    snprintf(label[ns], sizeof label[ns], "%s (eval)", names[i]);
    ser[ns] = (st_series){label[ns], ne, xy + 2 * cap, xy + 3 * cap, NULL, i + 1, 1};
    ns++;
  }
  int rc = st_svg_lines(svg, "training and eval loss", "step", "loss", ns, ser);
  for (int k = 0; k < ns; k += 2) free((void *)ser[k].x); /* one buffer per run */
  free(ser);
  free(label);
  return rc;
}
