/* sweep_results.c - a sweep's results: every finished run read back, each
 * variant's grid point chosen on validation, means with 95% t intervals,
 * paired differences to the reference with a verdict, the cost of the whole
 * grid; results.csv, runs.csv, results.md and the figures. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "runner.h"
#include "svg.h"
#include "sweep.h"

/* obj[metric]; perplexity from the loss where only that is there (the
 * zero-shot metrics); NaN when absent */
static double metric_in(json_t *obj, const char *metric) {
  json_t *v = json_object_get(obj, metric);
  if (json_is_number(v)) return json_number_value(v);
  json_t *l = json_object_get(obj, "loss");
  if (!strcmp(metric, "perplexity") && json_is_number(l)) return exp(json_number_value(l));
  return NAN;
}

static double num(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* the gradient probe's backward FLOPs (trace.json, trace.gradients) as a
 * share of the run's full backprop: full per token x steps x batch x T */
static double probe_pct(const char *dir, json_t *sum) {
  char p[ST_PATH_MAX];
  if (st_pathf(p, sizeof p, "%s/trace.json", dir)) return 0;
  json_t *tr = json_load_file(p, 0, NULL);
  double bwd = num(json_object_get(tr, "gradients"), "bwd_flops");
  json_decref(tr);
  double run = num(sum, "full_backprop_flops_per_token") * num(sum, "steps") *
               num(sum, "batch_size") * num(sum, "seq_len");
  return isfinite(bwd) && run > 0 ? 100 * bwd / run : 0;
}

/* 1: a finished run with the metric; 0: none; -1: finished, but its
 * summary has no such metric */
static int read_run(const sweep *s, const sw_variant *v, int p, int seed, sw_run *r) {
  char dir[ST_PATH_MAX], path[ST_PATH_MAX];
  if (sw_run_dir(s, v, p, seed, dir, sizeof dir) ||
      st_pathf(path, sizeof path, "%s/summary.json", dir))
    return 0;
  json_t *sum = json_load_file(path, 0, NULL);
  json_t *c = json_object_get(sum, "complete");
  int done = sum && (c ? json_is_true(c) : json_object_get(sum, "final") != NULL);
  if (done) {
    r->seed = seed;
    r->test = metric_in(json_object_get(sum, "final"), s->metric);
    r->val = metric_in(json_object_get(sum, "validation"), s->metric);
    r->zero_shot = metric_in(json_object_get(sum, "zero_shot"), s->metric);
    r->bwd_pct = 100 * num(sum, "backprop_ratio");
    r->probe_pct = probe_pct(dir, sum);
    r->wall = num(sum, "train_wall_s");
    r->wall_all = num(sum, "wall_s");
    r->rss = num(sum, "peak_rss_mb");
  }
  json_decref(sum);
  return !done ? 0 : isfinite(r->test) ? 1 : -1;
}

/* trained layers of a summary's plan: "2,3,4+head", LoRA rank apart */
static void describe_plan(json_t *plan, char *layers, size_t nl, char *lora, size_t nlo) {
  json_t *e;
  size_t i, o = 0;
  int first = 1;
  snprintf(lora, nlo, "no");
  layers[0] = 0;
  json_array_foreach(json_object_get(plan, "layers"), i, e) {
    const char *mode = json_string_value(json_object_get(e, "mode"));
    if (!mode || !strcmp(mode, "frozen")) continue;
    int w = snprintf(layers + o, nl - o, "%s%zu", first ? "" : ",", i);
    if (w > 0 && (size_t)w < nl - o) o += w;
    first = 0;
    if (!strcmp(mode, "lora"))
      snprintf(lora, nlo, "r=%lld", (long long)json_integer_value(json_object_get(e, "rank")));
  }
  if (first) snprintf(layers, nl, "none");
  o = strlen(layers);
  snprintf(layers + o, nl - o, "%s%s", json_is_true(json_object_get(plan, "embed")) ? "+emb" : "",
           json_is_true(json_object_get(plan, "head")) ? "+head" : "");
}

/* policy and trained layers of the chosen point's runs; a policy may choose
 * differently per seed (its trace samples differ): "a / b" */
static void describe(const sweep *s, const sw_variant *v, sw_row *r) {
  snprintf(r->policy, sizeof r->policy, "?");
  r->layers[0] = 0;
  for (int k = 0; k < r->n; k++) {
    char dir[ST_PATH_MAX], p[ST_PATH_MAX], layers[256], lora[64];
    if (sw_run_dir(s, v, r->chosen, r->run[k].seed, dir, sizeof dir) ||
        st_pathf(p, sizeof p, "%s/summary.json", dir))
      continue;
    json_t *sum = json_load_file(p, 0, NULL);
    describe_plan(json_object_get(sum, "plan"), layers, sizeof layers, lora, sizeof lora);
    json_decref(sum);
    if (!r->layers[0]) {
      snprintf(r->layers, sizeof r->layers, "%s", layers);
      snprintf(r->lora, sizeof r->lora, "%s", lora);
    } else if (strcmp(layers, r->layers) && !strstr(r->layers, " / ")) {
      size_t len = strlen(r->layers);
      snprintf(r->layers + len, sizeof r->layers - len, " / %s", layers);
    }
    if (st_pathf(p, sizeof p, "%s/plan.json", dir)) continue;
    json_t *pl = json_load_file(p, 0, NULL);
    const char *pol = json_string_value(json_object_get(pl, "policy"));
    if (pol) {
      const char *b = strrchr(pol, '/');
      snprintf(r->policy, sizeof r->policy, "%s", b ? b + 1 : pol);
    }
    json_decref(pl);
  }
}

/* the chosen values: "lr=0.003" for a grid, "n=3 (41.1% vs 40.9%)" for a
 * matched parameter */
static void chosen_text(const sw_variant *v, const sw_row *r, char *out, size_t n) {
  char label[1024];
  size_t o = 0;
  out[0] = 0;
  if (v->match[0])
    o += snprintf(out, n, "%s=%s (%.1f%% vs %s %.1f%%)", v->param.tag, v->param.label[v->chosen],
                  v->budget[v->chosen], v->match, v->target);
  if (v->npoints < 2 || o >= n) return;
  sw_variant g = *v;
  g.match[0] = 0; /* the grid's part of the label only */
  sw_label(&g, r->chosen, label, sizeof label);
  for (char *c = label; *c; c++)
    if (*c == '@') *c = c == label ? ' ' : ',';
  snprintf(out + o, n - o, "%s%.200s", o ? "," : "", label + 1);
}

static int better(const sweep *s, double a, double b) {
  return sw_higher_better(s->metric) ? a > b : a < b;
}

static int collect_variant(const sweep *s, const sw_variant *v, sw_row *r) {
  sw_run *pr = calloc((size_t)v->npoints * SW_MAXSEED, sizeof *pr);
  int *np = calloc((size_t)v->npoints, sizeof *np);
  if (!pr || !np) {
    free(pr);
    free(np);
    return st_err("out of memory");
  }
  r->chosen = -1;
  for (int p = 0; p < v->npoints; p++) {
    double vsum = 0, cost = 0, wall = 0;
    for (int q = 0; q < v->nseeds; q++) {
      sw_run *x = &pr[p * SW_MAXSEED + np[p]];
      int got = read_run(s, v, p, v->seeds[q], x);
      if (got < 0)
        snprintf(r->err, sizeof r->err, "seed %d finished, but its summary has no final %s",
                 v->seeds[q], s->metric);
      if (got <= 0) continue;
      np[p]++;
      vsum += x->val;
      cost += x->bwd_pct + x->probe_pct;
      wall += x->wall;
      if (v->npoints > 1 && !isfinite(x->val)) {
        char dir[ST_PATH_MAX];
        sw_run_dir(s, v, p, x->seed, dir, sizeof dir);
        free(pr);
        free(np);
        return st_err("variant %s has a grid, chosen on validation, but %s/summary.json has no "
                      "validation %s: give the recipe data.validation (e.g. set: "
                      "{data.validation: 0.1} in the sweep)", v->name, dir, s->metric);
      }
    }
    r->npoint_runs[p] = np[p];
    r->val_mean[p] = np[p] ? vsum / np[p] : NAN;
    if (!np[p]) continue;
    r->grid_pct += cost / np[p];
    r->grid_wall += wall / np[p];
    r->grid_runs++;
    /* the best mean validation metric; ties: the first point */
    if (r->chosen < 0 || (v->npoints > 1 && better(s, r->val_mean[p], r->val_mean[r->chosen])))
      r->chosen = p;
  }
  if (r->chosen >= 0) {
    r->n = np[r->chosen];
    memcpy(r->run, pr + r->chosen * SW_MAXSEED, (size_t)r->n * sizeof *r->run);
  }
  free(pr);
  free(np);
  double t[SW_MAXSEED];
  r->bwd_pct = r->probe_pct = 0;
  for (int k = 0; k < r->n; k++) {
    t[k] = r->run[k].test;
    r->bwd_pct += r->run[k].bwd_pct / r->n;
    r->probe_pct += r->run[k].probe_pct / r->n;
    if (r->run[k].rss > r->rss) r->rss = r->run[k].rss;
  }
  r->ci = st_mean_ci(t, r->n, SW_LEVEL);
  r->sd = st_sd(t, r->n);
  if (r->n) {
    describe(s, v, r);
    chosen_text(v, r, r->chosen_text, sizeof r->chosen_text);
  }
  return ST_OK;
}

/* the paired difference a - b over the seeds both finished, and what it
 * says */
static st_ci paired(const sweep *s, const sw_row *ra, const sw_row *rb, char *verdict, size_t n) {
  double a[SW_MAXSEED] = {0}, b[SW_MAXSEED] = {0};
  int m = 0;
  for (int i = 0; i < ra->n; i++)
    for (int j = 0; j < rb->n; j++)
      if (ra->run[i].seed == rb->run[j].seed) a[m] = ra->run[i].test, b[m++] = rb->run[j].test;
  st_ci d = st_paired_ci(a, b, m, SW_LEVEL);
  if (m < 1) snprintf(verdict, n, "no runs to pair");
  else if (m < 2) snprintf(verdict, n, "n < 2: no interval");
  else if (d.lo > 0 || d.hi < 0)
    snprintf(verdict, n, "%s", (d.lo > 0) == (sw_higher_better(s->metric) != 0) ? "better" : "worse");
  else snprintf(verdict, n, "not distinguishable");
  return d;
}

static int find(const sweep *s, const char *name) {
  for (int i = 0; i < s->nv; i++)
    if (!strcmp(s->v[i].name, name)) return i;
  return -1;
}

int sw_collect(const sweep *s, sw_row *rows) {
  for (int i = 0; i < s->nv; i++) {
    char err[256];
    memcpy(err, rows[i].err, sizeof err);
    memset(&rows[i], 0, sizeof rows[i]);
    memcpy(rows[i].err, err, sizeof err);
    if (collect_variant(s, &s->v[i], &rows[i])) return ST_ERR;
    if (!rows[i].err[0]) snprintf(rows[i].err, sizeof rows[i].err, "no finished run");
  }
  int ref = s->reference[0] ? find(s, s->reference) : -1;
  for (int i = 0; i < s->nv; i++) {
    rows[i].diff = (st_ci){NAN, NAN, NAN, 0};
    if (ref < 0 || !rows[i].n) continue;
    if (i == ref) snprintf(rows[i].verdict, sizeof rows[i].verdict, "reference");
    else rows[i].diff = paired(s, &rows[i], &rows[ref], rows[i].verdict, sizeof rows[i].verdict);
  }
  return ST_OK;
}

/* --- tables -------------------------------------------------------------- */

/* "0.5850 [0.5527, 0.6173] (n=3)"; a signed form for differences */
static void fmt_ci(char *out, size_t n, st_ci c, int sign) {
  const char *f = sign ? "%+.4f" : "%.4f";
  char m[32], lo[32], hi[32];
  if (c.n < 1) {
    snprintf(out, n, "-");
    return;
  }
  snprintf(m, sizeof m, f, c.mean);
  if (c.n < 2) {
    snprintf(out, n, "%s (n=%d, no interval)", m, c.n);
    return;
  }
  snprintf(lo, sizeof lo, f, c.lo);
  snprintf(hi, sizeof hi, f, c.hi);
  snprintf(out, n, "%s [%s, %s] (n=%d)", m, lo, hi, c.n);
}

/* the variant wall times are compared with: the reference, else "full",
 * else the one with the most backprop */
static int wall_base(const sweep *s, const sw_row *rows) {
  int b = s->reference[0] ? find(s, s->reference) : -1;
  if (b >= 0 && rows[b].n) return b;
  b = find(s, "full");
  if (b >= 0 && rows[b].n) return b;
  b = -1;
  for (int i = 0; i < s->nv; i++)
    if (rows[i].n && (b < 0 || rows[i].bwd_pct > rows[b].bwd_pct)) b = i;
  return b;
}

static int write_csv(const sweep *s, const sw_row *rows, int base) {
  char p[ST_PATH_MAX];
  st_atomic a;
  const char *m = s->metric;
  if (st_pathf(p, sizeof p, "%s/results.csv", s->out)) return ST_ERR;
  FILE *c = st_atomic_open(&a, p);
  if (!c) return ST_ERR;
  fprintf(c, "variant,policy,trained_layers,lora,backprop_flops_pct,probe_flops_pct,chosen,"
             "grid_points,grid_backprop_pct,grid_train_wall_s,wall_ratio_vs_%s,peak_rss_mb,"
             "val_%s_mean,%s_mean,%s_ci_lo,%s_ci_hi,%s_std,diff_vs_%s,diff_ci_lo,diff_ci_hi,"
             "diff_n,verdict,seeds_ok,seeds\n",
          base >= 0 ? s->v[base].name : "full", m, m, m, m, m,
          s->reference[0] ? s->reference : "reference");
  for (int i = 0; i < s->nv; i++) {
    const sw_row *r = &rows[i];
    double ratio = base >= 0 && r->n ? r->grid_wall / rows[base].grid_wall : NAN;
    fprintf(c, "%s,%s,\"%s\",%s,%.2f,%.2f,\"%s\",%d,%.2f,%.3f,%.3f,%.1f,%.6f,%.6f,%.6f,%.6f,%.6f,"
               "%.6f,%.6f,%.6f,%d,%s,%d,%d\n",
            s->v[i].name, r->policy, r->layers, r->lora, r->n ? r->bwd_pct : NAN, r->probe_pct,
            r->chosen_text, r->grid_runs, r->grid_pct, r->grid_wall, ratio, r->rss,
            r->n ? r->val_mean[r->chosen] : NAN, r->ci.mean, r->ci.lo, r->ci.hi, r->sd,
            r->diff.mean, r->diff.lo, r->diff.hi, r->diff.n, r->verdict, r->n, s->v[i].nseeds);
  }
  if (st_atomic_commit(&a)) return ST_ERR;

  /* every finished run, every grid point */
  if (st_pathf(p, sizeof p, "%s/runs.csv", s->out)) return ST_ERR;
  if (!(c = st_atomic_open(&a, p))) return ST_ERR;
  fprintf(c, "variant,point,seed,chosen,val_%s,%s,zero_shot_%s,backprop_flops_pct,"
             "probe_flops_pct,train_wall_s,wall_s\n", m, m, m);
  for (int i = 0; i < s->nv; i++) {
    const sw_variant *v = &s->v[i];
    for (int pt = 0; pt < v->npoints; pt++)
      for (int q = 0; q < v->nseeds; q++) {
        sw_run x;
        char label[1024];
        if (read_run(s, v, pt, v->seeds[q], &x) <= 0) continue;
        sw_label(v, pt, label, sizeof label);
        fprintf(c, "%s,\"%s\",%d,%d,%.6f,%.6f,%.6f,%.2f,%.2f,%.3f,%.3f\n", v->name, label, x.seed,
                pt == rows[i].chosen, x.val, x.test, x.zero_shot, x.bwd_pct, x.probe_pct, x.wall,
                x.wall_all);
      }
  }
  if (st_atomic_commit(&a)) return ST_ERR;
  if (!s->ncmp) return ST_OK;

  /* compare: each pair a - b; make_results gathers these into its claims */
  if (st_pathf(p, sizeof p, "%s/comparisons.csv", s->out)) return ST_ERR;
  if (!(c = st_atomic_open(&a, p))) return ST_ERR;
  fprintf(c, "claim,a,b,metric,diff_mean,diff_ci_lo,diff_ci_hi,n,verdict\n");
  for (int k = 0; k < s->ncmp; k++) {
    char v[32], claim[300];
    st_ci d = paired(s, &rows[find(s, s->cmp[k].a)], &rows[find(s, s->cmp[k].b)], v, sizeof v);
    size_t o = 0; /* CSV quoting: quotes doubled */
    claim[o++] = '"';
    for (const char *q = s->cmp[k].claim; *q && o + 3 < sizeof claim; q++) {
      if (*q == '"') claim[o++] = '"';
      claim[o++] = *q;
    }
    claim[o++] = '"';
    claim[o] = 0;
    fprintf(c, "%s,%s,%s,%s,%.6f,%.6f,%.6f,%d,%s\n", claim, s->cmp[k].a, s->cmp[k].b, s->metric,
            d.mean, d.lo, d.hi, d.n, v);
  }
  return st_atomic_commit(&a);
}

static int write_md(const sweep *s, const sw_row *rows, int base) {
  char p[ST_PATH_MAX];
  st_atomic a;
  int ref = s->reference[0] ? find(s, s->reference) : -1;
  if (st_pathf(p, sizeof p, "%s/results.md", s->out)) return ST_ERR;
  FILE *m = st_atomic_open(&a, p);
  if (!m) return ST_ERR;
  const char *bn = base >= 0 ? s->v[base].name : "-";
  fprintf(m, "| variant | policy | trained layers | chosen | backprop FLOPs vs full, per run | "
             "whole grid: runs, backprop | train wall, whole grid (vs %s) | %s: mean [95%% CI] (n)",
          bn, s->metric);
  if (ref >= 0) fprintf(m, " | Δ vs %s [95%% CI] (n) | verdict", s->reference);
  fprintf(m, " |\n|---|---|---|---|---|---|---|---|%s\n", ref >= 0 ? "---|---|" : "");
  for (int i = 0; i < s->nv; i++) {
    const sw_row *r = &rows[i];
    if (!r->n) {
      fprintf(m, "| %s | failed: %s | | | | | | |%s\n", s->v[i].name, r->err, ref >= 0 ? " | |" : "");
      continue;
    }
    char ci[128], pct[64], layers[320];
    fmt_ci(ci, sizeof ci, r->ci, 0);
    if (r->probe_pct > 0) snprintf(pct, sizeof pct, "%.1f%% (probe %.2f%%)", r->bwd_pct + r->probe_pct, r->probe_pct);
    else snprintf(pct, sizeof pct, "%.1f%%", r->bwd_pct);
    if (strcmp(r->lora, "no")) snprintf(layers, sizeof layers, "%s (LoRA %s)", r->layers, r->lora);
    else snprintf(layers, sizeof layers, "%s", r->layers);
    fprintf(m, "| %s | %s | %s | %s | %s | %d, %.0f%% | %.1f s (%.2fx) | %s", s->v[i].name,
            r->policy, layers, r->chosen_text[0] ? r->chosen_text : "-", pct, r->grid_runs,
            r->grid_pct, r->grid_wall, base >= 0 ? r->grid_wall / rows[base].grid_wall : NAN, ci);
    if (ref >= 0) {
      char d[128] = "-";
      if (i != ref) fmt_ci(d, sizeof d, r->diff, 1);
      fprintf(m, " | %s | %s", d, r->verdict);
    }
    fprintf(m, " |\n");
  }
  if (s->ncmp) {
    fprintf(m, "\n| comparison | claim | Δ = a − b, %s [95%% CI] (n) | verdict for a |\n"
               "|---|---|---|---|\n", s->metric);
    for (int k = 0; k < s->ncmp; k++) {
      int a = find(s, s->cmp[k].a), b = find(s, s->cmp[k].b);
      char v[32], d[128];
      fmt_ci(d, sizeof d, paired(s, &rows[a], &rows[b], v, sizeof v), 1);
      fprintf(m, "| %s − %s | %s | %s | %s |\n", s->cmp[k].a, s->cmp[k].b,
              s->cmp[k].claim[0] ? s->cmp[k].claim : "-", d, v);
    }
  }
  int nrun = 0;
  double all = 0;
  for (int i = 0; i < s->nv; i++)
    for (int pt = 0; pt < s->v[i].npoints; pt++)
      for (int q = 0; q < s->v[i].nseeds; q++) {
        sw_run x;
        if (read_run(s, &s->v[i], pt, s->v[i].seeds[q], &x) > 0 && isfinite(x.wall_all))
          nrun++, all += x.wall_all;
      }
  fprintf(m, "\nCompute: %d runs, %.1f %s of run time in all (each run's wall time, summed; runs "
             "that went in parallel overlap).\n", nrun, all < 7200 ? all / 60 : all / 3600,
          all < 7200 ? "min" : "h");
  fprintf(m, "\nIntervals: 95%%, Student-t over the seeds of the reported point. ");
  if (ref >= 0)
    fprintf(m, "Δ: the paired difference to %s over the seeds both ran (%s); the verdict is "
               "better or worse when its interval excludes 0, else not distinguishable. ",
            s->reference, sw_higher_better(s->metric) ? "higher is better" : "lower is better");
  else if (s->ncmp)
    fprintf(m, "Δ: a paired difference over the seeds both ran (%s); the verdict is better or "
               "worse when its interval excludes 0, else not distinguishable. ",
            sw_higher_better(s->metric) ? "higher is better" : "lower is better");
  fprintf(m, "A variant with a grid runs every point on every seed and reports the point with "
             "the best mean validation %s; its cost columns count the whole grid (backprop: the "
             "sum over points of one run's share of full fine-tuning's, 100%% = one full run). "
             "Backprop counts the trace's gradient probe where a policy needs it.\n", s->metric);
  return st_atomic_commit(&a);
}

/* --- figures ------------------------------------------------------------- */

/* each variant's chosen point, first finished seed */
static int plot_losses(const sweep *s, const sw_row *rows) {
  const char *names[SW_MAXV], *mp[SW_MAXV];
  char (*paths)[ST_PATH_MAX] = calloc(SW_MAXV, sizeof *paths);
  if (!paths) return st_err("out of memory");
  int n = 0;
  for (int i = 0; i < s->nv; i++) {
    if (!rows[i].n) continue;
    char dir[ST_PATH_MAX];
    if (sw_run_dir(s, &s->v[i], rows[i].chosen, rows[i].run[0].seed, dir, sizeof dir) ||
        st_pathf(paths[n], sizeof paths[n], "%s/metrics.jsonl", dir))
      continue;
    names[n] = s->v[i].name;
    mp[n] = paths[n];
    n++;
  }
  char p[ST_PATH_MAX];
  int rc = st_pathf(p, sizeof p, "%s/loss_curves.svg", s->out) || sl_plot_losses(p, n, names, mp);
  free(paths);
  return rc ? ST_ERR : ST_OK;
}

/* quality against cost: error bars are the 95% interval's half-width */
static int plot_cost(const sweep *s, const sw_row *rows) {
  st_series ser[SW_MAXV];
  double x[SW_MAXV], y[SW_MAXV], e[SW_MAXV];
  int ns = 0;
  for (int i = 0; i < s->nv; i++) {
    const sw_row *r = &rows[i];
    if (!r->n) continue;
    x[ns] = r->bwd_pct + r->probe_pct, y[ns] = r->ci.mean;
    e[ns] = r->n > 1 ? r->ci.hi - r->ci.mean : 0;
    ser[ns] = (st_series){s->v[i].name, 1, &x[ns], &y[ns], &e[ns], i + 1, 0};
    ns++;
  }
  char p[ST_PATH_MAX], yl[64];
  snprintf(yl, sizeof yl, "test %s (95%% CI)", s->metric);
  if (st_pathf(p, sizeof p, "%s/cost_quality.svg", s->out)) return ST_ERR;
  return st_svg_points(p, "quality against backprop cost", "backprop FLOPs per run, % of full", yl,
                       ns, ser);
}

/* the trace of the first variant with the semantic policy (else the first
 * that ran): its measure per latent space, the policy's gains, the layers
 * it selected */
static int plot_trace(const sweep *s, const sw_row *rows) {
  int first = 0;
  for (int i = s->nv - 1; i >= 0; i--)
    if (rows[i].n && strstr(rows[i].policy, "semantic")) first = i;
  for (int j = 0; j < s->nv; j++) {
    int i = (first + j) % s->nv;
    const sw_row *r = &rows[i];
    if (!r->n) continue;
    char dir[ST_PATH_MAX], p[ST_PATH_MAX];
    json_t *tr = NULL, *pl = NULL;
    for (int k = 0; k < r->n && !tr; k++) {
      if (sw_run_dir(s, &s->v[i], r->chosen, r->run[k].seed, dir, sizeof dir) ||
          st_pathf(p, sizeof p, "%s/trace.json", dir))
        continue;
      tr = json_load_file(p, 0, NULL);
      if (tr && st_pathf(p, sizeof p, "%s/plan.json", dir) == ST_OK) pl = json_load_file(p, 0, NULL);
    }
    if (!tr) continue;
    int rc = sl_plot_trace(tr, pl, s->out, s->v[i].name);
    json_decref(tr);
    json_decref(pl);
    return rc;
  }
  return ST_OK;
}

int sw_write_results(const sweep *s, sw_row *rows) {
  int base = wall_base(s, rows);
  return write_csv(s, rows, base) || write_md(s, rows, base) || plot_losses(s, rows) ||
                 plot_cost(s, rows) || plot_trace(s, rows)
             ? ST_ERR
             : ST_OK;
}
