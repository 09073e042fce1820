#!/usr/bin/env python3
"""make_stats_reference.py - scipy / scikit-learn values for tests/unit/test_stats.c.

Writes tests/fixtures/stats/stats_ref.json with
  t_quantile  [{p, df, q}]       scipy.stats.t.ppf
  t_cdf       [{t, df, p}]       scipy.stats.t.cdf
  mean_ci     [{x, mean, sd, lo, hi}]   95%: scipy.stats.t.interval(0.95, n-1,
                                         loc=mean, scale=sem), sd with ddof=1
  paired      [{a, b, mean, lo, hi}]    95% interval of mean(a - b) from
                                         scipy.stats.ttest_rel(a, b)
  ranks       [{x, r}]           scipy.stats.rankdata(method="average")
  spearman    [{x, y, rho}]      scipy.stats.spearmanr (with ties; null: NaN)
  bootstrap   [{x, y, reps, seed, level, lo, hi, used}]
                                 the percentile bootstrap of stats.h:
                                 pair indices splitmix64(seed) mod n, drawn
                                 pair by pair, scipy.stats.spearmanr per
                                 resample, constant resamples left out,
                                 numpy.percentile (linear) of the rest
  mcc         [{y_true, y_pred, mcc}]   sklearn.metrics.matthews_corrcoef

usage: python3 scripts/make_stats_reference.py
needs: pip install scipy scikit-learn numpy
"""
import json
import math
import os
import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import matthews_corrcoef

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "stats", "stats_ref.json")
MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def spearman(x, y):
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic)


def bootstrap(x, y, reps, seed, level):
    n, s, rhos = len(x), seed, []
    for _ in range(reps):
        idx = []
        for _ in range(n):
            s, z = splitmix64(s)
            idx.append(z % n)
        rho = spearman([x[j] for j in idx], [y[j] for j in idx])
        if rho is not None:
            rhos.append(rho)
    lo, hi = np.percentile(rhos, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi), len(rhos)


def main():
    rng = np.random.default_rng(18)
    ref = {}
    ref["t_quantile"] = [
        {"p": p, "df": df, "q": float(stats.t.ppf(p, df))}
        for df in [1, 2, 3, 4, 5, 9, 29, 2.5, 100, 1e4]
        for p in [0.975, 0.995, 0.9, 0.6, 0.5, 0.025, 1e-6]
    ]
    ref["t_cdf"] = [
        {"t": t, "df": df, "p": float(stats.t.cdf(t, df))}
        for df in [1, 3, 7.5, 50]
        for t in [-30.0, -2.0, -0.3, 0.0, 0.7, 2.5, 12.0]
    ]
    ref["mean_ci"] = []
    for n in [2, 3, 5, 10, 30]:
        x = rng.normal(0.6, 0.05, n).round(6)
        m, sem = x.mean(), stats.sem(x)
        lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=sem)
        ref["mean_ci"].append({"x": x.tolist(), "mean": float(m), "sd": float(x.std(ddof=1)),
                               "lo": float(lo), "hi": float(hi)})
    ref["paired"] = []
    for n, shift in [(3, 0.02), (5, 0.0), (10, -0.01), (12, 0.05)]:
        a = rng.normal(0.6, 0.03, n).round(6)
        b = (a - shift + rng.normal(0, 0.02, n)).round(6)
        ci = stats.ttest_rel(a, b).confidence_interval(0.95)
        ref["paired"].append({"a": a.tolist(), "b": b.tolist(), "mean": float((a - b).mean()),
                              "lo": float(ci.low), "hi": float(ci.high)})
    tied = [
        ([3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]),
        ([1, 2, 2, 2, 3], [5, 4, 4, 3, 1]),
        ([0.5, 0.5, 0.5, 0.2], [1, 2, 3, 4]),
        ([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]),
        ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]),
        ([1, 1, 1], [1, 2, 3]),
    ]
    ref["ranks"] = [{"x": x, "r": stats.rankdata(x, method="average").tolist()} for x, _ in tied]
    ref["spearman"] = [{"x": x, "y": y, "rho": spearman(x, y)} for x, y in tied]
    ref["bootstrap"] = []
    for (x, y), reps, seed in [(tied[0], 500, 1), (tied[1], 300, 7),
                               (([0.1, 0.4, 0.2, 0.3, 0.5], [1.0, 3.0, 2.5, 2.0, 4.0]), 1000, 18)]:
        lo, hi, used = bootstrap(list(map(float, x)), list(map(float, y)), reps, seed, 0.95)
        ref["bootstrap"].append({"x": x, "y": y, "reps": reps, "seed": seed, "level": 0.95,
                                 "lo": lo, "hi": hi, "used": used})
    ref["mcc"] = []
    cases = [
        ([0, 1, 1, 0, 1, 1, 0, 0], [0, 1, 0, 0, 1, 1, 1, 0]),
        ([1, 1, 1, 1], [1, 1, 1, 1]),
        ([0, 1, 0, 1], [1, 1, 1, 1]),
        ([0, 1, 2, 0, 1, 2, 0, 1, 2, 2], [0, 2, 1, 0, 1, 2, 0, 0, 2, 1]),
        ([4, 7, 7, 4, 9], [7, 7, 4, 4, 9]),
    ]
    yt = rng.integers(0, 2, 200)
    cases.append((yt.tolist(), np.where(rng.random(200) < 0.8, yt, 1 - yt).tolist()))
    yt = rng.integers(0, 4, 300)
    cases.append((yt.tolist(), np.where(rng.random(300) < 0.6, yt, rng.integers(0, 4, 300)).tolist()))
    for t, p in cases:
        ref["mcc"].append({"y_true": t, "y_pred": p, "mcc": float(matthews_corrcoef(t, p))})
    assert all(math.isfinite(c["q"]) for c in ref["t_quantile"])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
