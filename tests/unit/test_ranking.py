"""Ranking logic: direction, intervals, ties, pooled windows, and the overall score."""

import numpy as np
import pytest

from src.application.domain.model import LLM, Direction, Metric
from src.application.domain.ranking import MetricRanking, Statistic
from src.application.services import ranking
from src.application.services.statistics import summarize

TTFT = Metric("TTFT", "Time to First Token", "seconds", Direction.LOWER_IS_BETTER, 0.01, 60, id=1)
TPS = Metric("TPS", "Tokens Per Second", "tokens/second", Direction.HIGHER_IS_BETTER, 1, 2000, id=2)


def stats(values, llm_id=1, metric_id=1, run_id=1):
    return ranking.combine([summarize(run_id, llm_id, metric_id, np.asarray(values, dtype=float))])


def normal(mean, sd=0.05, n=1000, seed=0):
    return np.abs(np.random.default_rng(seed).normal(mean, sd, n)) + 1e-3


def ranked(metric, means, statistic=Statistic.MEAN, sd=0.05):
    table = {name: (LLM(name, "v"), stats(normal(m, sd, seed=i))) for i, (name, m) in enumerate(means.items())}
    return ranking.rank(metric, table, statistic)


def test_lower_is_better_puts_the_fastest_first_where_the_original_put_it_last():
    entries = ranked(TTFT, {"slow": 2.0, "fast": 0.5, "mid": 1.0})
    assert [e.llm.name for e in entries] == ["fast", "mid", "slow"]
    assert [e.rank for e in entries] == [1, 2, 3]


def test_higher_is_better_puts_the_highest_first():
    entries = ranked(TPS, {"a": 50.0, "b": 150.0, "c": 100.0}, sd=5)
    assert [e.llm.name for e in entries] == ["b", "c", "a"]


def test_overlapping_intervals_mark_llms_as_statistically_tied():
    entries = ranked(TTFT, {"a": 1.000, "b": 1.002, "c": 2.0}, sd=0.2)
    by_name = {e.llm.name: e for e in entries}
    assert by_name["a"].tied_with == ("b",) and by_name["b"].tied_with == ("a",)
    assert by_name["c"].tied_with == ()


def test_the_mean_interval_is_the_normal_95_percent_interval():
    values = normal(1.0, 0.1)
    entry = ranking.rank(TTFT, {"a": (LLM("a", "v"), stats(values))}, Statistic.MEAN)[0]
    half = 1.959964 * values.std(ddof=1) / np.sqrt(values.size)
    assert (entry.ci_low, entry.ci_high) == pytest.approx((values.mean() - half, values.mean() + half))


def test_quantile_intervals_cover_the_true_quantile_about_95_percent_of_the_time():
    true_p90 = np.exp(np.log(0.5) + 1.2815516 * 0.4)
    covered = 0
    for seed in range(200):
        values = np.random.default_rng(seed).lognormal(np.log(0.5), 0.4, 1000)
        low, high = stats(values).confidence_interval(Statistic.P90)
        covered += low <= true_p90 <= high
    assert 0.93 * 200 <= covered <= 200


def test_combining_runs_gives_exact_pooled_moments_and_sketch_percentiles():
    rng = np.random.default_rng(3)
    runs = [rng.lognormal(0, 0.5, n) for n in (500, 800, 1200)]
    combined = ranking.combine([summarize(i + 1, 1, 1, v) for i, v in enumerate(runs)])
    everything = np.concatenate(runs)
    assert combined.n == everything.size
    assert combined.mean == pytest.approx(everything.mean(), rel=1e-12)
    assert combined.std == pytest.approx(everything.std(ddof=1), rel=1e-12)
    assert (combined.minimum, combined.maximum) == (everything.min(), everything.max())
    assert combined.p95 == pytest.approx(np.percentile(everything, 95), rel=0.011)


def metric_ranking(metric, means, sd=0.01):
    return MetricRanking(metric, Statistic.MEAN, None, ranked(metric, means, sd=sd))


def test_win_rate_scores_count_wins_and_half_a_tie():
    scores = ranking.metric_scores(metric_ranking(TTFT, {"a": 1.0, "b": 2.0, "c": 3.0}), ranking.WIN_RATE)
    assert scores == {"a": 1.0, "b": 0.5, "c": 0.0}
    tied = ranking.metric_scores(metric_ranking(TTFT, {"a": 1.0, "b": 1.0001, "c": 3.0}, sd=0.3), ranking.WIN_RATE)
    assert tied["a"] == tied["b"] == 0.75


def test_minmax_scores_place_values_between_worst_and_best_in_the_right_direction():
    scores = ranking.metric_scores(metric_ranking(TPS, {"a": 100.0, "b": 200.0, "c": 150.0}), ranking.MIN_MAX)
    assert scores["b"] == 1.0 and scores["a"] == 0.0 and scores["c"] == pytest.approx(0.5, abs=0.01)


def test_the_overall_score_is_the_weighted_mean_of_metric_scores():
    rankings = [
        metric_ranking(TTFT, {"quick": 0.5, "fluent": 1.5}),
        metric_ranking(TPS, {"quick": 50.0, "fluent": 150.0}),
    ]
    even = {e.llm.name: e.score for e in ranking.overall(rankings, {"TTFT": 1, "TPS": 1}, ranking.WIN_RATE)}
    assert even == {"quick": 0.5, "fluent": 0.5}
    entries = ranking.overall(rankings, {"TTFT": 3, "TPS": 1}, ranking.WIN_RATE)
    assert [(e.llm.name, e.score, e.rank) for e in entries] == [("quick", 0.75, 1), ("fluent", 0.25, 2)]
    assert entries[0].by_metric["TTFT"].rank == 1 and entries[0].by_metric["TPS"].rank == 2


def test_a_quantile_interval_reads_the_order_statistics_z_sqrt_nq1q_ranks_away_widened_by_the_sketch():
    from src.application.domain.ranking import PairStatistics
    from src.application.domain.sketch import QuantileSketch

    values = np.arange(1.0, 1001.0)
    sketch = QuantileSketch.of(values)
    stats = PairStatistics(1000, 500.5, 288.8, 1.0, 1000.0, 500.5, 900.1, 950.05, 990.01, sketch)
    for statistic, q in ((Statistic.MEDIAN, 0.5), (Statistic.P90, 0.9), (Statistic.P99, 0.99)):
        rank, half = q * 999, 1.959963984540054 * (1000 * q * (1 - q)) ** 0.5
        expected = (sketch.value_at_rank(rank - half) * 0.99, sketch.value_at_rank(min(999.0, rank + half)) * 1.01)
        assert stats.confidence_interval(statistic) == pytest.approx(expected, rel=1e-12)
    low, high = stats.confidence_interval(Statistic.MEDIAN)
    assert 0.97 * 469 <= low <= 469 and 531 <= high <= 1.03 * 531  # ranks 468 and 530, 0-based


def test_the_mean_interval_is_1_96_standard_errors_and_a_single_sample_has_none():
    from src.application.domain.ranking import PairStatistics
    from src.application.domain.sketch import QuantileSketch

    sketch = QuantileSketch.of(np.array([1.0, 2.0]))
    assert PairStatistics(100, 5.0, 10.0, 0, 9, 5, 8, 8, 9, sketch).confidence_interval(Statistic.MEAN) == (
        pytest.approx(5.0 - 1.959963984540054), pytest.approx(5.0 + 1.959963984540054),
    )  # fmt: skip
    assert PairStatistics(1, 5.0, 0.0, 5, 5, 5, 5, 5, 5, sketch).confidence_interval(Statistic.MEAN) == (5.0, 5.0)


def test_each_statistic_reads_its_summary_field_and_quantile():
    from src.application.domain.ranking import Window

    assert [s.field for s in Statistic] == ["mean", "p50", "p90", "p95", "p99"]
    assert [s.quantile for s in Statistic] == [None, 0.5, 0.9, 0.95, 0.99]
    assert [s.value for s in Statistic] == ["mean", "median", "p90", "p95", "p99"]
    assert [w.value for w in Window] == ["latest", "24h", "7d", "30d", "all"]


@pytest.mark.parametrize(
    "n, statistic, ranks",
    [(6, Statistic.MEDIAN, (0, 4)), (10, Statistic.MEDIAN, (1, 7)), (10, Statistic.P90, (6, 9)),
     (20, Statistic.P95, (16, 19))],
)  # fmt: skip
def test_small_samples_read_the_order_statistics_at_their_ranks(n, statistic, ranks):
    # Values 2^k sit in buckets of their own, so the sketch gives each rank's value within 1%.
    values = 2.0 ** np.arange(n)
    low, high = stats(values).confidence_interval(statistic)
    assert low == pytest.approx(values[ranks[0]], rel=0.03) and high == pytest.approx(values[ranks[1]], rel=0.03)


def test_the_mean_interval_of_two_samples_is_not_zero_wide():
    low, high = stats([1.0, 3.0]).confidence_interval(Statistic.MEAN)
    assert (low, high) == (pytest.approx(2 - 1.959963984540054), pytest.approx(2 + 1.959963984540054))
