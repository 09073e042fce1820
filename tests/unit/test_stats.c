/* test_stats.c - core/util/stats against scipy and scikit-learn: the
 * fixture tests/fixtures/stats/stats_ref.json comes from
 * scripts/make_stats_reference.py (t quantiles and CDF, t intervals of a
 * mean and of paired differences, average ranks, Spearman with ties, the
 * seeded bootstrap interval of Spearman, Matthews correlation), plus the
 * undefined cases and a negative control for each kind of check. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "stats.h"
#include "test.h"

#define FIXTURE "tests/fixtures/stats/stats_ref.json"

/* a JSON number list as doubles / ints (caller frees) */
static double *dlist(json_t *a, int *n) {
  *n = (int)json_array_size(a);
  double *x = malloc((size_t)(*n ? *n : 1) * sizeof *x);
  for (int i = 0; i < *n; i++) x[i] = json_number_value(json_array_get(a, i));
  return x;
}

static int *ilist(json_t *a, int *n) {
  *n = (int)json_array_size(a);
  int *x = malloc((size_t)(*n ? *n : 1) * sizeof *x);
  for (int i = 0; i < *n; i++) x[i] = (int)json_integer_value(json_array_get(a, i));
  return x;
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

/* relative closeness with an absolute floor for values near 0 */
static int close_to(double a, double b, double rel) {
  return fabs(a - b) <= rel * (fabs(b) > 1 ? fabs(b) : 1);
}

static void t_dist(json_t *ref) {
  json_t *c;
  size_t i;
  double worst = 0;
  json_array_foreach(json_object_get(ref, "t_quantile"), i, c) {
    double q = st_t_quantile(num(c, "p"), num(c, "df")), r = num(c, "q");
    double e = fabs(q - r) / (fabs(r) > 1 ? fabs(r) : 1);
    if (e > worst) worst = e;
    CHECK_MSG(close_to(q, r, 1e-10), "t quantile p=%g df=%g: %.15g vs scipy %.15g", num(c, "p"),
              num(c, "df"), q, r);
  }
  printf("t quantiles: %zu against scipy, worst relative error %.2g\n",
         json_array_size(json_object_get(ref, "t_quantile")), worst);
  json_array_foreach(json_object_get(ref, "t_cdf"), i, c) {
    double p = st_t_cdf(num(c, "t"), num(c, "df")), r = num(c, "p");
    CHECK_MSG(fabs(p - r) <= 1e-12 + 1e-10 * r, "t cdf t=%g df=%g: %.15g vs scipy %.15g",
              num(c, "t"), num(c, "df"), p, r);
  }
  /* the normal limit and the undefined cases */
  CHECK_NEAR(st_t_quantile(0.975, 1e9), 1.959963984540054, 1e-8);
  CHECK(isnan(st_t_quantile(0, 3)) && isnan(st_t_quantile(1, 3)) && isnan(st_t_quantile(0.9, 0)));
  /* control: the normal quantile in place of t with 2 df is far off */
  CHECK(!close_to(1.959963984540054, st_t_quantile(0.975, 2), 1e-3));
}

static void intervals(json_t *ref) {
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(ref, "mean_ci"), i, c) {
    int n;
    double *x = dlist(json_object_get(c, "x"), &n);
    st_ci ci = st_mean_ci(x, n, 0.95);
    CHECK(ci.n == n);
    CHECK_MSG(close_to(ci.mean, num(c, "mean"), 1e-12), "mean n=%d", n);
    CHECK_MSG(close_to(st_sd(x, n), num(c, "sd"), 1e-12), "sd n=%d", n);
    CHECK_MSG(close_to(ci.lo, num(c, "lo"), 1e-10) && close_to(ci.hi, num(c, "hi"), 1e-10),
              "CI n=%d: [%.12g, %.12g] vs scipy [%.12g, %.12g]", n, ci.lo, ci.hi, num(c, "lo"),
              num(c, "hi"));
    free(x);
  }
  json_array_foreach(json_object_get(ref, "paired"), i, c) {
    int n, nb;
    double *a = dlist(json_object_get(c, "a"), &n), *b = dlist(json_object_get(c, "b"), &nb);
    CHECK(n == nb);
    st_ci d = st_paired_ci(a, b, n, 0.95);
    CHECK_MSG(close_to(d.mean, num(c, "mean"), 1e-12) && close_to(d.lo, num(c, "lo"), 1e-10) &&
                  close_to(d.hi, num(c, "hi"), 1e-10),
              "paired n=%d: %.12g [%.12g, %.12g] vs scipy %.12g [%.12g, %.12g]", n, d.mean, d.lo,
              d.hi, num(c, "mean"), num(c, "lo"), num(c, "hi"));
    /* control: the unpaired interval of a alone is not the paired one */
    st_ci u = st_mean_ci(a, n, 0.95);
    CHECK(!close_to(u.hi - u.lo, d.hi - d.lo, 1e-6));
    free(a);
    free(b);
  }
  double one = 0.5;
  st_ci ci = st_mean_ci(&one, 1, 0.95);
  CHECK(ci.mean == 0.5 && isnan(ci.lo) && isnan(ci.hi) && isnan(st_sd(&one, 1)));
  CHECK(isnan(st_mean(&one, 0)));
}

static void ranks(json_t *ref) {
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(ref, "ranks"), i, c) {
    int n, nr;
    double *x = dlist(json_object_get(c, "x"), &n), *r = dlist(json_object_get(c, "r"), &nr);
    double *got = malloc((size_t)n * sizeof *got);
    OK(st_rank_avg(x, n, got));
    for (int k = 0; k < n; k++) CHECK_MSG(got[k] == r[k], "case %zu rank %d: %g vs %g", i, k, got[k], r[k]);
    free(x), free(r), free(got);
  }
  json_array_foreach(json_object_get(ref, "spearman"), i, c) {
    int n, ny;
    double *x = dlist(json_object_get(c, "x"), &n), *y = dlist(json_object_get(c, "y"), &ny);
    double rho = st_spearman(x, y, n);
    json_t *r = json_object_get(c, "rho");
    if (json_is_null(r)) CHECK_MSG(isnan(rho), "case %zu: constant side gives %g", i, rho);
    else CHECK_MSG(close_to(rho, json_number_value(r), 1e-12), "spearman case %zu: %.15g vs scipy %.15g",
                   i, rho, json_number_value(r));
    free(x), free(y);
  }
  /* control: ranking ties by position (no averaging) changes the tied case */
  double x[] = {1, 2, 2, 2, 3}, y[] = {5, 4, 4, 3, 1}, ordinal[] = {1, 2, 3, 4, 5};
  CHECK(!close_to(st_spearman(ordinal, y, 5), st_spearman(x, y, 5), 1e-3));
  json_array_foreach(json_object_get(ref, "bootstrap"), i, c) {
    int n, ny, used;
    double *bx = dlist(json_object_get(c, "x"), &n), *by = dlist(json_object_get(c, "y"), &ny);
    double lo, hi;
    int reps = (int)json_integer_value(json_object_get(c, "reps"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(c, "seed"));
    OK(st_spearman_boot(bx, by, n, reps, seed, num(c, "level"), &lo, &hi, &used));
    CHECK_MSG(used == (int)json_integer_value(json_object_get(c, "used")), "bootstrap %zu: %d used", i, used);
    CHECK_MSG(close_to(lo, num(c, "lo"), 1e-12) && close_to(hi, num(c, "hi"), 1e-12),
              "bootstrap %zu: [%.15g, %.15g] vs [%.15g, %.15g]", i, lo, hi, num(c, "lo"), num(c, "hi"));
    /* control: another seed draws other resamples */
    double lo2, hi2;
    OK(st_spearman_boot(bx, by, n, reps, seed + 1, num(c, "level"), &lo2, &hi2, NULL));
    if (i == 0) CHECK(lo2 != lo || hi2 != hi);
    free(bx), free(by);
  }
}

static void matthews(json_t *ref) {
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(ref, "mcc"), i, c) {
    int n, np;
    int *t = ilist(json_object_get(c, "y_true"), &n), *p = ilist(json_object_get(c, "y_pred"), &np);
    CHECK(n == np);
    double v;
    OK(st_mcc(t, p, n, &v));
    CHECK_MSG(close_to(v, num(c, "mcc"), 1e-12), "mcc case %zu (n=%d): %.15g vs sklearn %.15g", i,
              n, v, num(c, "mcc"));
    free(t), free(p);
  }
  /* control: accuracy is not MCC on an imbalanced case */
  int t[] = {0, 0, 0, 0, 0, 0, 0, 1}, p[] = {0, 0, 0, 0, 0, 0, 0, 0};
  double v;
  OK(st_mcc(t, p, 8, &v));
  CHECK(v == 0);
}

int main(void) {
  json_error_t e;
  json_t *ref = json_load_file(FIXTURE, 0, &e);
  if (!ref) {
    fprintf(stderr, "%s: %s (run scripts/make_stats_reference.py)\n", FIXTURE, e.text);
    return 1;
  }
  t_dist(ref);
  intervals(ref);
  ranks(ref);
  matthews(ref);
  json_decref(ref);
  TEST_DONE();
}
