"""95% intervals of one run's statistics: exact order statistics for quantiles, bootstrap-t for means."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import beta, binom
from scipy.stats import t as t_dist

from src.application.domain.model import Interval, MetricSummary
from src.application.domain.rollup import Moments, Rollup
from src.application.domain.sketch import QuantileSketch
from src.application.services import intervals
from src.application.services.intervals import (
    cluster_mean_interval,
    mean_interval,
    order_statistic_ranks,
    quantile_interval,
    woodruff_interval,
)


def runs_of(samples, medians=False):
    """The rollup of runs with these values (only what rollups read is filled in); their medians
    alike unless asked for, so that a quantile's interval is Woodruff's alone."""
    return Rollup.merge([
        MetricSummary(i, 1, 1, v.size, v.mean(), v.std(ddof=1), 0, 0, float(np.median(v)) if medians else 1.0,
                      0, 0, 0, QuantileSketch.of(v), {})
        for i, v in enumerate(samples)
    ])  # fmt: skip


def misses(n, q, low, high):
    """P(x_(low) > the q-quantile) and P(x_(high) < it), from K ~ Binomial(n, q)."""
    return binom.cdf(low - 1, n, q), 1 - binom.cdf(high - 1, n, q)


@pytest.mark.parametrize(
    "n, q, ranks",
    [(6, 0.5, (1, 6)), (20, 0.5, (6, 15)), (1000, 0.5, (469, 531)), (29, 0.9, (21, 29)), (1000, 0.9, (883, 921)),
     (59, 0.95, (50, 59)), (100, 0.95, (90, 99)), (1000, 0.95, (937, 964)), (299, 0.99, (289, 299)),
     (1000, 0.99, (983, 996)), (1000, 0.01, (5, 18))],
)  # fmt: skip
def test_quantile_intervals_are_the_order_statistics_that_cover_95_percent_as_tightly_as_the_binomial_allows(
    n, q, ranks
):
    assert order_statistic_ranks(n, q) == ranks
    below, above = misses(n, q, *ranks)
    assert below + above <= 0.05  # covers at least 95%
    assert below + above > 0.05 - max(binom.pmf(ranks[0], n, q), binom.pmf(ranks[1] - 1, n, q))  # none tighter


def test_tails_are_kept_under_3_75_percent_each_where_the_binomial_allows_it():
    for n, q in ((20, 0.5), (100, 0.95), (1000, 0.9), (1000, 0.99), (5000, 0.95)):
        assert max(misses(n, q, *order_statistic_ranks(n, q))) <= 0.0375


@pytest.mark.parametrize("q, smallest", [(0.5, 6), (0.9, 29), (0.95, 59), (0.99, 299)])
def test_a_two_sided_interval_needs_6_29_59_or_299_samples_and_below_that_the_top_is_open(q, smallest):
    assert None not in order_statistic_ranks(smallest, q)
    low, high = order_statistic_ranks(smallest - 1, q)
    assert high is None
    if q > 0.5:  # the lower side still has a bound missing at most 2.5% on its own
        assert low is not None and misses(smallest - 1, q, low, smallest - 1)[0] <= 0.025


def test_a_low_quantile_mirrors_the_high_one():
    assert order_statistic_ranks(1000, 0.01) == (1001 - 996, 1001 - 983)
    assert order_statistic_ranks(20, 0.01) == (None, 2)


def test_the_interval_reads_the_values_at_those_ranks():
    values = np.arange(1.0, 21.0)
    assert quantile_interval(values, 0.5) == Interval(6.0, 15.0)
    assert quantile_interval(values, 0.99) == Interval(19.0, None)  # P(K < 19) = 1.7%
    assert not quantile_interval(values, 0.99).sufficient and quantile_interval(values, 0.5).sufficient


def test_huge_runs_get_their_ranks_at_once():
    low, high = order_statistic_ranks(2_000_000, 0.99)
    assert 1_979_000 < low < 1_980_000 < high < 1_981_000
    below, above = misses(2_000_000, 0.99, low, high)
    assert 0.049 < below + above <= 0.05


def test_the_mean_interval_of_a_symmetric_sample_is_close_to_1_96_standard_errors():
    values = np.random.default_rng(1).normal(10.0, 2.0, 1000)
    error = values.std(ddof=1) / np.sqrt(values.size)
    interval = mean_interval(values, np.random.default_rng(2))
    assert interval.low == pytest.approx(
        values.mean() - 1.96 * error, abs=0.2 * error
    )  # the 2.5% quantile of 999 resamples varies by ~0.09
    assert interval.high == pytest.approx(
        values.mean() + 1.96 * error, abs=0.2 * error
    )  # the 2.5% quantile of 999 resamples varies by ~0.09


def test_the_mean_interval_of_a_right_skewed_sample_reaches_further_up_than_down():
    values = np.random.default_rng(3).lognormal(0.0, 1.2, 200)
    interval = mean_interval(values, np.random.default_rng(4))
    up, down = interval.high - values.mean(), values.mean() - interval.low
    assert up > 1.3 * down


def test_the_mean_interval_is_the_mean_less_the_studentized_resamples_quantiles_times_its_error_or_1_96_if_wider():
    values = np.random.default_rng(5).exponential(1.0, 50)
    mean, error = values.mean(), values.std(ddof=1) / np.sqrt(50)
    resamples = values[np.random.default_rng(6).integers(0, 50, size=(999, 50), dtype=np.int32)]
    t = (resamples.mean(axis=1) - mean) / (resamples.std(axis=1, ddof=1) / np.sqrt(50))
    t_low, t_high = np.quantile(t, [0.025, 0.975], method="inverted_cdf")  # the 25th and 975th of 999
    assert t_low < -1.96 and t_high < 1.96  # right-skewed: the lower bound is the normal interval's
    assert mean_interval(values, np.random.default_rng(6)) == Interval(
        pytest.approx(mean - 1.959963984540054 * error, rel=1e-9), pytest.approx(mean - t_low * error, rel=1e-9)
    )
    assert intervals._studentized_resamples(values, np.random.default_rng(6)) == pytest.approx(t, rel=1e-9)


def test_a_left_skewed_samples_mean_interval_reaches_further_down_and_up_as_far_as_the_normal_one():
    values = 10.0 - np.random.default_rng(5).exponential(1.0, 50)
    mean, half = values.mean(), 1.959963984540054 * values.std(ddof=1) / np.sqrt(50)
    interval = mean_interval(values, np.random.default_rng(6))
    assert interval.high == pytest.approx(mean + half, rel=1e-9)
    assert mean - interval.low > 1.1 * half


def test_big_samples_are_resampled_in_batches_that_draw_the_same_stream(monkeypatch):
    values = np.random.default_rng(8).exponential(1.0, 400)
    whole = intervals._studentized_resamples(values, np.random.default_rng(1))
    monkeypatch.setattr(intervals, "_DRAWS_PER_BATCH", 400 * 7)  # 143 batches of 7 resamples
    assert intervals._studentized_resamples(values, np.random.default_rng(1)) == pytest.approx(whole, rel=1e-12)


def test_up_to_the_cap_the_mean_is_bootstrapped(monkeypatch):
    monkeypatch.setattr(intervals, "BOOTSTRAP_MAX_N", 100)
    values = np.random.default_rng(7).exponential(1.0, 100)
    half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(100)
    interval = mean_interval(values, np.random.default_rng(0))
    assert interval.high - values.mean() > 1.1 * half  # skewed, not normal
    assert values.mean() - interval.low == pytest.approx(half, rel=1e-9)  # the hull's lower side: the normal's


def test_above_the_bootstrap_cap_the_mean_interval_is_1_96_standard_errors(monkeypatch):
    monkeypatch.setattr(intervals, "BOOTSTRAP_MAX_N", 100)
    values = np.random.default_rng(7).exponential(1.0, 101)
    half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(101)
    assert mean_interval(values, np.random.default_rng(0)) == Interval(
        pytest.approx(values.mean() - half, rel=1e-12), pytest.approx(values.mean() + half, rel=1e-12)
    )


def test_a_constant_sample_has_a_zero_wide_mean_interval_and_one_sample_has_none():
    assert mean_interval(np.full(10, 2.5), np.random.default_rng(0)) == Interval(2.5, 2.5)
    assert mean_interval(np.array([2.5]), np.random.default_rng(0)) == Interval(None, None)


def test_open_sides_overlap_everything_on_their_side():
    assert Interval(1.0, None).overlaps(Interval(5.0, 6.0)) and not Interval(7.0, None).overlaps(Interval(5.0, 6.0))
    assert Interval(None, 2.0).overlaps(Interval(0.0, 0.5)) and not Interval(None, 2.0).overlaps(Interval(3.0, 4.0))
    assert Interval(1.0, 2.0).overlaps(Interval(2.0, 3.0)) and not Interval(1.0, 2.0).overlaps(Interval(2.1, 3.0))
    assert Interval(2.0, 3.0).overlaps(Interval(1.0, 2.0)) and not Interval(2.1, 3.0).overlaps(Interval(1.0, 2.0))


def test_a_windows_mean_interval_is_cluster_robust_with_t_on_k_minus_1_degrees_of_freedom():
    sizes, means = np.array([100.0, 200.0, 300.0]), np.array([1.0, 1.2, 0.9])
    pooled = (100 * 1.0 + 200 * 1.2 + 300 * 0.9) / 600
    error = np.sqrt(3 / 2 * (((sizes * (means - pooled)) ** 2).sum())) / 600
    half = t_dist.ppf(0.975, 2) * error
    three = cluster_mean_interval(runs_of([np.full(int(n), m) for n, m in zip(sizes, means, strict=True)]))
    assert three == Interval(pytest.approx(pooled - half), pytest.approx(pooled + half))
    two = cluster_mean_interval(runs_of([np.full(2, 2.0), np.full(2, 4.0)]))
    assert two == Interval(pytest.approx(3 - 12.706204736), pytest.approx(3 + 12.706204736))  # error 1, t(1)


def korn_graubard_levels(q, samples, merged):
    """The levels of Korn and Graubard's interval of the share below the pooled q-quantile:
    Clopper-Pearson at the effective size total / design effect, times (t(n-1) / t(k-1))^2. The
    design effect (the runs' cluster variance of the share over the binomial's) is taken at the two
    edges of the quantile's sketch bucket and interpolated at q."""
    k, sizes = len(samples), np.array([values.size for values in samples])
    total, gamma = sizes.sum(), 1.01 / 0.99
    top = merged.quantile(q) * (1 + gamma) / 2  # the sketch gives (g^(i-1), g^i] 2 g^i / (1 + g)
    shares, effects = [], []
    for edge in (top / gamma, top):
        counts = np.array([(values <= edge * (1 - 1e-12)).sum() for values in samples])
        share = counts.sum() / total
        if 0 < share < 1:  # else every value lies on one side of the edge: it tells nothing of the spread
            variance = k / (k - 1) * ((counts - share * sizes) ** 2).sum() / total**2
            shares.append(share)
            effects.append(variance / (share * (1 - share) / total))
    effect = np.interp(q, shares, effects) if effects else 1.0
    return clopper_pearson_levels(q, total / max(effect, 1), total, k)


def clopper_pearson_levels(q, effective, total, k):
    """Clopper-Pearson's 95% levels of a share q at an effective size, shrunk by (t(n-1) / t(k-1))^2."""
    effective *= (t_dist.ppf(0.975, total - 1) / t_dist.ppf(0.975, k - 1)) ** 2
    below = q * effective
    return beta.ppf(0.025, below, effective - below + 1), beta.ppf(0.975, below + 1, effective - below)


def test_woodruff_reads_the_pooled_distribution_at_korn_graubards_levels_of_the_share():
    rng = np.random.default_rng(9)
    sizes = (500, 300, 700, 500)
    samples = [rng.lognormal(np.log(m), 0.4, n) for m, n in zip((1.0, 1.1, 0.95, 1.05), sizes, strict=True)]
    merged = QuantileSketch.merge(QuantileSketch.of(values) for values in samples)
    expected = []
    for q in (0.5, 0.9, 0.99):
        low, high = korn_graubard_levels(q, samples, merged)
        assert 1 / 2000 < low < q < high < 1 - 1 / 2000  # a value seen beyond each
        expected.append(Interval(*merged.interpolated_at_levels([low, high])))
        if q == 0.99:  # skewed as the share is near 1, unlike q -/+ t * error
            assert q - low > 1.2 * (high - q)
    found = [woodruff_interval(runs_of(samples), q) for q in (0.5, 0.9, 0.99)]
    assert found == [Interval(pytest.approx(e.low, rel=1e-9), pytest.approx(e.high, rel=1e-9)) for e in expected]


@pytest.mark.parametrize(
    "q, where",
    [(0.1, "the lowest bucket: no value below it"), (0.95, "the highest bucket: no value above it"),
     (0.5, "the only bucket")],
)  # fmt: skip
def test_a_quantile_in_an_end_bucket_takes_the_design_effect_of_its_bucket_edge_inside_the_values(q, where):
    rng = np.random.default_rng(5)
    if where == "the only bucket":  # every value within 1% of the others: one bucket of the sketch
        samples = [rng.uniform(1.000, 1.005, n) * m for n, m in ((300, 1.0), (500, 1.002), (400, 1.004))]
    else:  # a third of each run at its minimum, about a tenth at its maximum
        parts = ((300, 10), (500, 8), (400, 12))  # run sizes, and 1 / the share at the maximum
        samples = [
            np.concatenate([np.full(n // 3, 1.0), rng.uniform(1.2, 3.0, n - n // 3 - n // top), np.full(n // top, 4.0)])
            for n, top in parts
        ]
    merged = QuantileSketch.merge(QuantileSketch.of(values) for values in samples)
    expected = Interval(*merged.interpolated_at_levels(korn_graubard_levels(q, samples, merged)))
    found = woodruff_interval(runs_of(samples), q)
    assert found == Interval(pytest.approx(expected.low, rel=1e-9), pytest.approx(expected.high, rel=1e-9))


def test_runs_that_agree_exactly_bound_a_windows_quantile_at_clopper_pearsons_levels_for_all_their_values():
    same = [np.arange(1.0, 201.0)] * 5
    merged = QuantileSketch.merge(QuantileSketch.of(values) for values in same)
    levels = clopper_pearson_levels(0.9, 1000, 1000, 5)  # no spread between runs: every value counts
    expected = Interval(*merged.interpolated_at_levels(levels))
    assert [woodruff_interval(runs_of(same), 0.9)] == [
        Interval(pytest.approx(expected.low, rel=1e-9), pytest.approx(expected.high, rel=1e-9))
    ]


@pytest.mark.parametrize("q, values_beyond", [(0.002, 0), (0.006, 1), (0.994, 1), (0.998, 0)])
def test_a_windows_bound_is_read_while_one_value_lies_beyond_its_level_and_open_past_it(q, values_beyond):
    same = [np.arange(1.0, 201.0)] * 5  # 1,000 values, no spread between runs
    levels = clopper_pearson_levels(q, 1000, 1000, 5)
    beyond = [levels[0] * 1000, (1 - levels[1]) * 1000]  # values seen beyond each level
    assert int(min(beyond)) == values_beyond  # the case asked for: one value beyond a level, or none
    merged = QuantileSketch.merge(QuantileSketch.of(values) for values in same)
    read = merged.interpolated_at_levels(levels)
    found = woodruff_interval(runs_of(same), q)
    assert [found.low, found.high] == [
        pytest.approx(value, rel=1e-9) if count >= 1 else None for value, count in zip(read, beyond, strict=True)
    ]


def test_runs_that_disagree_leave_a_windows_quantile_unbounded():
    disagreeing = runs_of([np.arange(1.0, 101.0), np.arange(101.0, 201.0)])
    assert woodruff_interval(disagreeing, 0.5) == Interval(None, None)


def test_a_windows_quantile_with_no_value_seen_beyond_its_upper_level_is_open_above():
    rng = np.random.default_rng(3)
    samples = [rng.lognormal(np.log(m), 0.3, n) for m, n in ((1.0, 100), (1.5, 60), (1.0, 140))]
    merged = QuantileSketch.merge(QuantileSketch.of(values) for values in samples)
    low, high = korn_graubard_levels(0.99, samples, merged)
    assert (1 - high) * 300 < 1 <= low * 300
    interval = woodruff_interval(runs_of(samples), 0.99)
    assert interval.high is None and interval.low == pytest.approx(merged.interpolated_at_levels([low])[0])


def test_a_windows_quantile_interval_is_at_least_as_wide_as_its_runs_medians_stand_apart():
    """Floored on the log scale at 1.96 standard errors of the mean log median each side, about
    the middle of Woodruff's interval; where Woodruff's is wider, it stands."""
    rng = np.random.default_rng(9)
    bodies = [rng.lognormal(np.log(m), 0.2, 450) for m in (1.0, 1.3, 0.8, 1.15)]
    samples = [np.concatenate([body, rng.uniform(3.0, 4.0, 50)]) for body in bodies]  # tails alike
    log_medians = np.log([np.median(values) for values in samples])
    floor = 1.959963984540054 * log_medians.std(ddof=1) / np.sqrt(4)
    for q in (0.5, 0.95):
        woodruff = woodruff_interval(runs_of(samples), q)  # runs_of: every median alike, no floor
        middle, half = np.log(woodruff.high * woodruff.low) / 2, np.log(woodruff.high / woodruff.low) / 2
        expected = woodruff if half >= floor else Interval(np.exp(middle - floor), np.exp(middle + floor))
        found = woodruff_interval(runs_of(samples, medians=True), q)
        assert (found.low, found.high) == pytest.approx((expected.low, expected.high), rel=1e-9)
        assert (half >= floor) == (q == 0.5)  # the median's spread already held; the tail's too narrow


def test_a_windows_quantile_interval_narrower_each_side_than_its_floor_is_widened_to_it_about_its_middle():
    """The floor (1.96 standard errors of the runs' mean log median) set to 0.1 on the log scale:
    an interval 1.2 times as wide each side stands, one 0.3 times as wide is widened, values below
    1 (negative logs) alike."""
    floor, k = 0.1, 4
    spread = Moments(k, 0.0, (floor / 1.959963984540054) ** 2 * k * (k - 1))  # m2 of the runs' log medians
    runs = replace(runs_of([np.ones(10)] * k), run_log_medians=spread)

    def about(value, half):
        return Interval(value * np.exp(-half), value * np.exp(half))

    wide_enough = about(0.5, 1.2 * floor)
    assert intervals._floored(wide_enough, runs) == wide_enough
    widened = intervals._floored(about(0.5, 0.3 * floor), runs)
    assert (widened.low, widened.high) == pytest.approx((0.5 * np.exp(-floor), 0.5 * np.exp(floor)), rel=1e-12)


def test_above_10000_samples_the_mean_interval_is_the_normal_one():
    values = np.random.default_rng(2).exponential(1.0, 10_001)
    half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(10_001)
    assert mean_interval(values, np.random.default_rng(0)) == Interval(
        pytest.approx(values.mean() - half, rel=1e-12), pytest.approx(values.mean() + half, rel=1e-12)
    )
