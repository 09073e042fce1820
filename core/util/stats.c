/* stats.c - means, t intervals, Spearman and MCC (see stats.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "stats.h"

double st_mean(const double *x, int n) {
  if (n < 1) return NAN;
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  return s / n;
}

double st_sd(const double *x, int n) {
  if (n < 2) return NAN;
  double m = st_mean(x, n), ss = 0;
  for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
  return sqrt(ss / (n - 1));
}

/* --- Student's t ---------------------------------------------------------- */

/* the continued fraction of the incomplete beta function (modified Lentz,
 * as in Numerical Recipes' betacf); converges for x < (a+1)/(a+b+2) */
static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  /* about sqrt(max(a, b)) terms: large df needs many */
  for (int m = 1; m <= 100000; m++) {
    double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1) < eps) break;
  }
  return h;
}

/* Stirling's series of ln Gamma(x) without its leading terms */
static double stirling_tail(double x) {
  double x2 = x * x;
  return 1 / (12 * x) - 1 / (360 * x * x2) + 1 / (1260 * x * x2 * x2);
}

/* ln Gamma(a + b) - ln Gamma(a): for large a (many degrees of freedom) the
 * two lgamma values agree in most of their digits, so the difference is
 * taken inside Stirling's formula instead */
static double lgamma_diff(double a, double b) {
  if (a < 1e3) return lgamma(a + b) - lgamma(a);
  return (a - 0.5) * log1p(b / a) + b * log(a + b) - b + stirling_tail(a + b) - stirling_tail(a);
}

/* I_x(a, b), the regularized incomplete beta function */
static double beta_inc(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double lbt = lgamma_diff(a, b) - lgamma(b) + a * log(x) + b * log1p(-x);
  double bt = exp(lbt);
  if (x < (a + 1) / (a + b + 2)) return bt * beta_cf(a, b, x) / a;
  return 1 - bt * beta_cf(b, a, 1 - x) / b;
}

/* P(T > t) for t >= 0: I_{df/(df+t^2)}(df/2, 1/2) / 2, computed from the
 * upper tail so that it keeps its relative precision far out */
static double t_upper(double t, double df) {
  double x = df / (df + t * t);
  return 0.5 * beta_inc(df / 2, 0.5, x);
}

double st_t_cdf(double t, double df) {
  if (!(df > 0) || isnan(t)) return NAN;
  if (isinf(t)) return t > 0 ? 1 : 0;
  double u = t_upper(fabs(t), df);
  return t >= 0 ? 1 - u : u;
}

double st_t_quantile(double p, double df) {
  if (!(df > 0) || !(p > 0 && p < 1)) return NAN;
  if (p == 0.5) return 0;
  double tail = p < 0.5 ? p : 1 - p; /* P(T > t) for the |t| we want */
  /* bracket: t_upper falls from 1/2 at t = 0 towards 0 */
  double lo = 0, hi = 1;
  while (t_upper(hi, df) > tail) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return p < 0.5 ? -INFINITY : INFINITY;
  }
  /* bisection to the last bit: t_upper is monotone, so this cannot fail */
  for (int i = 0; i < 2000 && hi - lo > 1e-15 * hi; i++) {
    double mid = 0.5 * (lo + hi);
    if (t_upper(mid, df) > tail) lo = mid;
    else hi = mid;
  }
  double t = 0.5 * (lo + hi);
  return p < 0.5 ? -t : t;
}

st_ci st_mean_ci(const double *x, int n, double level) {
  st_ci c = {st_mean(x, n), NAN, NAN, n};
  if (n < 2) return c;
  double half = st_t_quantile(0.5 + level / 2, n - 1) * st_sd(x, n) / sqrt(n);
  c.lo = c.mean - half;
  c.hi = c.mean + half;
  return c;
}

st_ci st_paired_ci(const double *a, const double *b, int n, double level) {
  st_ci c = {NAN, NAN, NAN, n};
  if (n < 1) return c;
  double *d = malloc((size_t)n * sizeof *d);
  if (!d) return c; /* NaN: shown as undefined, as for any missing value */
  for (int i = 0; i < n; i++) d[i] = a[i] - b[i];
  c = st_mean_ci(d, n, level);
  free(d);
  return c;
}

/* --- Spearman ------------------------------------------------------------- */

typedef struct keyed {
  double v;
  int i;
} keyed;

static int by_value(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  if (a->v != b->v) return a->v < b->v ? -1 : 1;
  return a->i - b->i;
}

int st_rank_avg(const double *x, int n, double *rank) {
  keyed *k = st_malloc((size_t)(n > 0 ? n : 1) * sizeof *k);
  if (!k) return ST_ERR;
  for (int i = 0; i < n; i++) k[i] = (keyed){x[i], i};
  qsort(k, (size_t)n, sizeof *k, by_value);
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && k[j + 1].v == k[i].v) j++;
    double r = 0.5 * (i + j) + 1; /* the mean of ranks i+1 .. j+1 */
    for (int q = i; q <= j; q++) rank[k[q].i] = r;
    i = j + 1;
  }
  free(k);
  return ST_OK;
}

static double pearson(const double *x, const double *y, int n) {
  double mx = st_mean(x, n), my = st_mean(y, n), sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (!(sxx > 0 && syy > 0)) return NAN;
  double r = sxy / sqrt(sxx * syy);
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* rho of n pairs; rx, ry: scratch [n] */
static double spearman_into(const double *x, const double *y, int n, double *rx, double *ry) {
  if (n < 2 || st_rank_avg(x, n, rx) || st_rank_avg(y, n, ry)) return NAN;
  return pearson(rx, ry, n);
}

double st_spearman(const double *x, const double *y, int n) {
  if (n < 2) return NAN;
  double *r = malloc(2 * (size_t)n * sizeof *r);
  if (!r) return NAN;
  double rho = spearman_into(x, y, n, r, r + n);
  free(r);
  return rho;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int by_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}

/* the q-quantile of sorted v[0..m), linear between order statistics */
static double quantile(const double *v, int m, double q) {
  double h = (m - 1) * q;
  int i = (int)floor(h);
  if (i >= m - 1) return v[m - 1];
  return v[i] + (h - i) * (v[i + 1] - v[i]);
}

int st_spearman_boot(const double *x, const double *y, int n, int reps,
                     uint64_t seed, double level, double *lo, double *hi,
                     int *used) {
  *lo = *hi = NAN;
  if (used) *used = 0;
  if (n < 2 || reps < 1) return ST_OK;
  double *buf = st_malloc((4 * (size_t)n + (size_t)reps) * sizeof *buf);
  if (!buf) return ST_ERR;
  double *bx = buf, *by = bx + n, *rx = by + n, *ry = rx + n, *rho = ry + n;
  uint64_t s = seed;
  int m = 0;
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < n; i++) {
      int j = (int)(splitmix64(&s) % (uint64_t)n);
      bx[i] = x[j];
      by[i] = y[j];
    }
    double v = spearman_into(bx, by, n, rx, ry);
    if (!isnan(v)) rho[m++] = v;
  }
  if (m) {
    qsort(rho, (size_t)m, sizeof *rho, by_double);
    *lo = quantile(rho, m, (1 - level) / 2);
    *hi = quantile(rho, m, (1 + level) / 2);
  }
  if (used) *used = m;
  free(buf);
  return ST_OK;
}

/* --- Matthews ------------------------------------------------------------- */

static int by_int(const void *pa, const void *pb) {
  int a = *(const int *)pa, b = *(const int *)pb;
  return (a > b) - (a < b);
}

/* index of v in the sorted distinct labels u[0..k) */
static int label_index(const int *u, int k, int v) {
  const int *p = bsearch(&v, u, (size_t)k, sizeof *u, by_int);
  return (int)(p - u);
}

int st_mcc(const int *truth, const int *pred, int n, double *mcc) {
  *mcc = 0;
  if (n < 1) return ST_OK;
  /* the classes: every label seen on either side */
  int *u = st_malloc(2 * (size_t)n * sizeof *u);
  if (!u) return ST_ERR;
  memcpy(u, truth, (size_t)n * sizeof *u);
  memcpy(u + n, pred, (size_t)n * sizeof *u);
  qsort(u, 2 * (size_t)n, sizeof *u, by_int);
  int k = 0;
  for (int i = 0; i < 2 * n; i++)
    if (!k || u[i] != u[k - 1]) u[k++] = u[i];
  double *cnt = st_calloc(2 * (size_t)k, sizeof *cnt), *t = cnt, *p = cnt + k;
  if (!cnt) {
    free(u);
    return ST_ERR;
  }
  double c = 0, s = n;
  for (int i = 0; i < n; i++) {
    t[label_index(u, k, truth[i])]++;
    p[label_index(u, k, pred[i])]++;
    c += truth[i] == pred[i];
  }
  double tp = 0, pp = 0, tt = 0;
  for (int j = 0; j < k; j++) tp += t[j] * p[j], pp += p[j] * p[j], tt += t[j] * t[j];
  double den = (s * s - pp) * (s * s - tt);
  *mcc = den > 0 ? (c * s - tp) / sqrt(den) : 0;
  free(u);
  free(cnt);
  return ST_OK;
}
