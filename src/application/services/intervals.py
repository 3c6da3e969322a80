"""95% confidence intervals of a run's statistics, computed once from its raw values when it is stored.

Quantiles: distribution-free intervals between two order statistics. If K of n samples fall below the
true q-quantile, K ~ Binomial(n, q), and [x_(l), x_(u)] misses it below with probability P(K < l) and
above with P(K >= u). The pair chosen covers at least 95%, as closely as the binomial allows, with
neither tail above 3.75% where such a pair exists. With too few samples no pair covers 95% (a two-sided
interval needs q^n + (1-q)^n <= 5%: n >= 6 for the median, 29 for p90, 59 for p95, 299 for p99); the
side that cannot be bounded is then left open (None) and the interval is insufficient.

Means: a bootstrap-t (percentile-t) interval, which follows the skew of a heavy tail better than the
normal interval or BCa, in its hull with the normal interval (`make benchmark-statistics` prints
the coverage of the interval and of the normal one).

Windows of several runs treat each run as a cluster: runs of one endpoint differ from each other
(hour to hour, deployment to deployment) more than their requests alone say, so the window's
variance comes from how the runs' own statistics spread (the cluster-robust variance of survey
sampling), with Student's t on k - 1 degrees of freedom for k runs. A quantile's interval is
Woodruff's: an interval of the share of values below the pooled quantile, read back through the
pooled (merged) distribution. The share's interval is Korn and Graubard's (Clopper-Pearson at the
clusters' effective sample size), not the share -/+ t errors: a tail's share lies near 0 or 1 and
its errors are skewed, which left the symmetric one covering p95 and p99 in 89-92% of windows.
That interval is floored at how far the runs' medians stand apart (`_floored`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import bdtr, betaincinv, stdtrit  # scipy.special, not scipy.stats: 30 MB less in every process

from src.application.domain.model import Interval
from src.application.domain.rollup import Rollup
from src.application.domain.sketch import bucket_of

ALPHA = 0.05  # every interval here is at 95%
MAX_TAIL = 0.75 * ALPHA  # the largest miss on one side, where the binomial allows it
Z_95 = 1.959963984540054  # the normal's 97.5% quantile
BOOTSTRAP_RESAMPLES = 999  # Davison and Hinkley's count for 95% percentile-t intervals
BOOTSTRAP_MAX_N = 10_000  # above it the mean's sampling distribution is normal enough for a t interval
_DRAWS_PER_BATCH = 2_000_000  # bootstrap draws held in memory at once


def order_statistic_ranks(n: int, q: float) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the order statistics that bound the q-quantile with >= 95%
    confidence; a side is None when no order statistic bounds it with this many samples."""
    # Ranks more than 10 standard deviations from nq miss with probability ~1e-23: left out.
    reach = 10 * np.sqrt(n * q * (1 - q)) + 10
    ranks = np.arange(max(1, int(n * q - reach)), min(n, int(n * q + reach) + 1) + 1)
    below = bdtr(ranks - 1, n, q)  # P(K < j) = P(K <= j - 1): x_(j) misses the quantile low
    above = 1.0 - below  # P(K >= j): x_(j) misses it high; falls as j grows
    for cap in (MAX_TAIL, ALPHA):
        lows = np.nonzero(below <= cap)[0]
        budgets = np.minimum(cap, ALPHA - below[lows])
        highs = np.searchsorted(-above, -budgets)  # the tightest upper rank of each (above its low)
        fits = highs < ranks.size
        if fits.any():
            lows, highs = lows[fits], highs[fits]
            # The most miss within 5% (the tightest interval), then the lower pair; rounded, so that
            # mirror-image pairs are not told apart by float noise.
            miss = np.round(below[lows] + above[highs], 12)
            best = np.lexsort((lows, -miss))[0]
            return int(ranks[lows[best]]), int(ranks[highs[best]])
    lows, highs = np.nonzero(below <= ALPHA / 2)[0], np.nonzero(above <= ALPHA / 2)[0]
    return (int(ranks[lows[-1]]) if lows.size else None), (int(ranks[highs[0]]) if highs.size else None)


def quantile_interval(ordered: np.ndarray, q: float) -> Interval:
    """The interval of the q-quantile of sorted values."""
    low, high = order_statistic_ranks(ordered.size, q)
    return Interval(
        low=float(ordered[low - 1]) if low is not None else None,
        high=float(ordered[high - 1]) if high is not None else None,
    )


def mean_interval(values: np.ndarray, rng: np.random.Generator) -> Interval:
    """Bootstrap-t: the studentized means of resamples stand for the studentized sample mean, each
    side at least as far out as the normal interval's (the hull of the two intervals)."""
    n = values.size
    if n < 2:
        return Interval(None, None)
    mean, error = float(values.mean()), float(values.std(ddof=1)) / np.sqrt(n)
    if error == 0:
        return Interval(mean, mean)
    t_low, t_high = -Z_95, Z_95
    if n <= BOOTSTRAP_MAX_N:
        resampled = np.quantile(_studentized_resamples(values, rng), [ALPHA / 2, 1 - ALPHA / 2], method="inverted_cdf")
        # The hull: on a heavy right tail the resamples rarely hold more slow values than the
        # sample, so their upper quantile falls short of 1.96 and the lower bound rose too high. The
        # TTFT mean lies above either interval in 5-6% of runs (no method we tried mends that); the
        # bootstrap-t's lower bound missed it in another 1.8-2.3%, the hull's in 0.4-0.8%.
        t_low, t_high = min(float(resampled[0]), t_low), max(float(resampled[1]), t_high)
    low, high = mean - t_high * error, mean - t_low * error
    # Tiny samples resample to constants often enough to make t infinite: that side is open.
    return Interval(low if np.isfinite(low) else None, high if np.isfinite(high) else None)


def _studentized_resamples(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = values.size
    centred = values - values.mean()  # deviations: their sums of squares lose no precision to the mean
    batch = _DRAWS_PER_BATCH // n  # at least 200: only samples up to BOOTSTRAP_MAX_N are resampled
    studentized = []
    for start in range(0, BOOTSTRAP_RESAMPLES, batch):
        size = min(batch, BOOTSTRAP_RESAMPLES - start)
        resamples = centred[rng.integers(0, n, size=(size, n), dtype=np.int32)]
        means = resamples.mean(axis=1)
        variances = (np.einsum("ij,ij->i", resamples, resamples) - n * means**2) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):  # a constant resample: an infinite t
            studentized.append(means / np.sqrt(np.maximum(variances, 0) / n))
    t = np.concatenate(studentized)
    kept: np.ndarray = t[~np.isnan(t)]
    return kept


def cluster_mean_interval(runs: Rollup) -> Interval:
    """The pooled mean of k >= 2 runs, each a cluster: its error is sqrt(k / (k - 1) * sum over runs
    of n_i^2 * (m_i - pooled)^2) / n."""
    k, total, pooled = runs.runs, runs.values.weight, runs.values.mean
    error = float(np.sqrt(k / (k - 1) * runs.run_means.spread_about(pooled)) / total)
    half = _t_95(k) * error
    return Interval(pooled - half, pooled + half)


def woodruff_interval(runs: Rollup, q: float) -> Interval:
    """The interval of the q-quantile of k >= 2 runs pooled, the runs taken as clusters: from how
    the runs' counts at or below the pooled quantile spread (its share's design effect)."""
    total, merged = runs.n, runs.sketch
    effective = total / max(_design_effect(runs, q, bucket_of(merged.quantile(q))), 1.0)  # never above the total
    levels = _share_interval(q, effective, total, runs.runs)
    # A level with no value beyond it would bound the quantile by a value never seen: that side is open.
    seen = [level * total >= 1 and (1 - level) * total >= 1 for level in levels]
    bounds = iter(merged.interpolated_at_levels([level for level, ok in zip(levels, seen, strict=True) if ok]))
    low, high = (next(bounds) if ok else None for ok in seen)
    return _floored(Interval(low, high), runs)


def _floored(interval: Interval, runs: Rollup) -> Interval:
    """At least as wide on the log scale as the runs stand apart: 1.96 standard errors of the mean
    of their log medians each side, about the interval's middle. In a window whose runs drew no
    slow one, the share beyond a tail quantile and its spread between runs are both small, and
    Woodruff's interval alone fell short above (10-run windows' p95 covered 92.9%); every value of
    a run moves its median, so the medians show how far the runs stand apart. 1.96, not t(k-1):
    Woodruff's interval already pays for estimating from few runs (Korn and Graubard's shrinking),
    and paying again in its floor left 5-run windows' p99 covering 97.4%."""
    if interval.low is None or interval.high is None or interval.low <= 0:
        return interval
    k = runs.runs
    floor = Z_95 * float(np.sqrt(runs.run_log_medians.m2 / (k - 1) / k))
    low, high = np.log(interval.low), np.log(interval.high)
    if (high - low) / 2 >= floor:
        return interval
    middle = (low + high) / 2
    return Interval(float(np.exp(middle - floor)), float(np.exp(middle + floor)))


def _design_effect(runs: Rollup, q: float, bucket: int) -> float:
    """How many times its binomial variance the share of values at or below the q-quantile has, the
    runs taken as clusters. The rollup counts each run's values at bucket edges only: the effect is
    estimated at the two edges of the quantile's bucket and interpolated at q. (The variance at the
    upper edge alone is that of a share nearer 0 or 1 than q, and smaller: with it the upper bounds
    of p90, p95 and p99 came out 0.7-3% too low, and they covered 0.5-1.4 points less.)"""
    (low_share, low), (high_share, high) = (_edge_effect(runs, edge) for edge in (bucket - 1, bucket))
    if low is None or high is None:
        return low or high or 1.0  # a share of 0 or 1 at an edge: all values on one side of it
    between = min(max((q - low_share) / (high_share - low_share), 0.0), 1.0)
    return low + between * (high - low)


def _edge_effect(runs: Rollup, edge: int) -> tuple[float, float | None]:
    """The pooled share at or below a bucket's upper edge and its design effect: the variance of the
    ratio estimator over clusters, sum of e_i^2 with e_i = A_i - share * n_i (expanded into the
    rollup's totals) times k / (k - 1) / n^2, over the binomial's share * (1 - share) / n."""
    k, total = runs.runs, runs.n
    at_most, squares, crosses = runs.at_bucket(edge)
    share = at_most / total
    if not 0 < share < 1:
        return share, None
    residuals = squares - 2 * share * crosses + share * share * runs.size_squares
    return share, k / (k - 1) * max(residuals, 0.0) / (total * share * (1 - share))


def _share_interval(q: float, effective: float, total: int, k: int) -> list[float]:
    """Korn and Graubard's interval of a share q estimated from k clusters with `effective` sample
    size: Clopper-Pearson's at that size, shrunk for the k - 1 degrees of freedom. Unlike
    q -/+ t * error it follows the skew of a share near 0 or 1, as a tail quantile's is."""
    effective *= (_t_95(total) / _t_95(k)) ** 2
    below = q * effective  # 0 < below < effective: q lies strictly between 0 and 1
    low = float(betaincinv(below, effective - below + 1, ALPHA / 2))
    high = float(betaincinv(below + 1, effective - below, 1 - ALPHA / 2))
    return [low, high]


def _t_95(k: int) -> float:
    return float(stdtrit(k - 1, 1 - ALPHA / 2))
