/* stats.h - the statistics a sweep reports: means with t-based confidence
 * intervals, paired differences, Spearman's rank correlation with a
 * bootstrap interval, and the Matthews correlation coefficient.
 *
 * Everything is in double. A quantity that is undefined for its input (a
 * standard deviation of one value, a correlation of a constant) is NaN,
 * never an error: a table shows it as such. tests/unit/test_stats.c checks
 * each function against scipy and scikit-learn
 * (scripts/make_stats_reference.py). */
#ifndef ST_STATS_H
#define ST_STATS_H

#include <stdint.h>

/* mean of x[0..n); NaN for n < 1 */
double st_mean(const double *x, int n);
/* sample standard deviation (divisor n - 1); NaN for n < 2 */
double st_sd(const double *x, int n);

/* Student's t distribution with df > 0 degrees of freedom (df need not be
 * an integer): P(T <= t), and its inverse for 0 < p < 1, through the
 * regularized incomplete beta function (against scipy.stats.t: within
 * 1e-10 relative, measured 1.3e-12). NaN outside the domain. */
double st_t_cdf(double t, double df);
double st_t_quantile(double p, double df);

/* A mean and its two-sided confidence interval at `level` (0.95):
 * mean +- t_{(1+level)/2, n-1} * sd / sqrt(n). lo and hi are NaN for
 * n < 2. */
typedef struct st_ci {
  double mean, lo, hi;
  int n;
} st_ci;
st_ci st_mean_ci(const double *x, int n, double level);
/* the paired difference a[i] - b[i] over i < n: the mean of the
 * differences and its t-based interval (a paired t-test's interval) */
st_ci st_paired_ci(const double *a, const double *b, int n, double level);

/* ranks 1..n of x with ties given the average of the ranks they span
 * (scipy.stats.rankdata's "average"); returns ST_ERR only when out of
 * memory */
int st_rank_avg(const double *x, int n, double *rank);
/* Spearman's rho: Pearson's correlation of the average ranks. NaN when
 * n < 2 or either side is constant. */
double st_spearman(const double *x, const double *y, int n);
/* Percentile bootstrap interval of Spearman's rho at `level`: `reps`
 * resamples of the n pairs with replacement, index = splitmix64(seed) mod
 * n drawn pair by pair (the fixture script draws the same ones); resamples
 * where rho is undefined (a constant side) are left out, and *used (may be
 * NULL) says how many counted. The bounds are the (1-level)/2 and
 * (1+level)/2 quantiles of the rhos, interpolated linearly (numpy's
 * default); NaN when none counted. ST_ERR only when out of memory. */
int st_spearman_boot(const double *x, const double *y, int n, int reps,
                     uint64_t seed, double level, double *lo, double *hi,
                     int *used);

/* Matthews correlation coefficient of integer labels, any number of
 * classes (the multiclass form, as sklearn.metrics.matthews_corrcoef):
 *   (c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2))
 * with s samples, c correct, t_k and p_k how often class k is true and
 * predicted; 0 when the denominator is (as sklearn). ST_ERR only when out
 * of memory. */
int st_mcc(const int *truth, const int *pred, int n, double *mcc);

#endif
