"""Ranking logic: direction, intervals, ties, pooled windows, and the overall score."""

import numpy as np
import pytest
from scipy.stats import t as t_dist

from src.application.domain.model import LLM, Direction, Interval, Metric, RunSource
from src.application.domain.ranking import IntervalsWhenRead, MetricRanking, PairStatistics, Statistic, Subject
from src.application.domain.rollup import Rollup
from src.application.domain.sketch import QuantileSketch
from src.application.services import ranking
from src.application.services.intervals import quantile_interval, woodruff_interval
from src.application.services.statistics import summarize

TTFT = Metric("TTFT", "Time to First Token", "seconds", Direction.LOWER_IS_BETTER, 0.01, 60, id=1)
TPS = Metric("TPS", "Tokens Per Second", "tokens/second", Direction.HIGHER_IS_BETTER, 1, 2000, id=2)


def stats(values, metric=TTFT, llm_id=1, run_id=1):
    return ranking.combine(metric, [summarize(run_id, llm_id, metric, np.asarray(values, dtype=float))])


def normal(mean, sd=0.05, n=1000, seed=0):
    return np.abs(np.random.default_rng(seed).normal(mean, sd, n)) + 1e-3


def ranked(metric, means, statistic=Statistic.MEAN, sd=0.05):
    table = {
        name: (Subject(name, LLM(name, "v")), stats(normal(m, sd, seed=i), metric))
        for i, (name, m) in enumerate(means.items())
    }
    return ranking.rank(metric, table, statistic)


def test_lower_is_better_puts_the_fastest_first_where_the_original_put_it_last():
    entries = ranked(TTFT, {"slow": 2.0, "fast": 0.5, "mid": 1.0})
    assert [e.subject.name for e in entries] == ["fast", "mid", "slow"]
    assert [e.rank for e in entries] == [1, 2, 3]


def test_higher_is_better_puts_the_highest_first():
    entries = ranked(TPS, {"a": 50.0, "b": 150.0, "c": 100.0}, sd=5)
    assert [e.subject.name for e in entries] == ["b", "c", "a"]


def test_overlapping_intervals_mark_llms_as_statistically_tied():
    entries = ranked(TTFT, {"a": 1.000, "b": 1.002, "c": 2.0}, sd=0.2)
    by_name = {e.subject.name: e for e in entries}
    assert by_name["a"].tied_with == ("b",) and by_name["b"].tied_with == ("a",)
    assert by_name["c"].tied_with == ()


def test_a_single_run_is_ranked_on_the_statistics_and_intervals_computed_when_it_was_stored():
    values = normal(1.0, 0.1)
    summary = summarize(1, 1, TTFT, values)
    entry = ranking.rank(TTFT, {"a": (Subject("a", LLM("a", "v")), ranking.combine(TTFT, [summary]))}, Statistic.P95)[0]
    assert entry.value == summary.p95 and entry.interval == summary.intervals["p95"]


def test_quantile_intervals_cover_the_true_quantile_about_95_percent_of_the_time():
    true_p90 = np.exp(np.log(0.5) + 1.2815516 * 0.4)
    covered = 0
    for seed in range(200):
        values = np.random.default_rng(seed).lognormal(np.log(0.5), 0.4, 1000)
        interval = quantile_interval(np.sort(values), 0.9)
        covered += interval.low <= true_p90 <= interval.high
    assert 0.93 * 200 <= covered <= 0.985 * 200


def test_tail_statistics_of_a_higher_is_better_metric_read_the_slow_tail():
    values = np.random.default_rng(8).lognormal(np.log(100), 0.3, 1000)
    summary = summarize(1, 1, TPS, values)
    assert [summary.p50, summary.p90, summary.p95, summary.p99] == list(np.percentile(values, [50, 10, 5, 1]))
    ordered = np.sort(values)
    assert summary.intervals["p99"] == Interval(ordered[5 - 1], ordered[18 - 1])  # ranks 5 and 18 of 1000


def test_combining_runs_gives_exact_pooled_moments_and_sketch_percentiles_and_extremes():
    rng = np.random.default_rng(3)
    runs = [rng.lognormal(0, 0.5, n) for n in (500, 800, 1200)]
    combined = ranking.combine(TTFT, [summarize(i + 1, 1, TTFT, v) for i, v in enumerate(runs)])
    everything = np.concatenate(runs)
    assert combined.n == everything.size
    assert combined.mean == pytest.approx(everything.mean(), rel=1e-12)
    assert combined.std == pytest.approx(everything.std(ddof=1), rel=1e-12)
    assert combined.minimum == pytest.approx(everything.min(), rel=0.01)  # rollups cannot subtract extremes
    assert combined.maximum == pytest.approx(everything.max(), rel=0.01)
    assert combined.minimum != everything.min()
    assert combined.p95 == pytest.approx(np.percentile(everything, 95), rel=0.011)


def metric_ranking(metric, means, sd=0.01):
    return MetricRanking(metric, Statistic.MEAN, None, ranked(metric, means, sd=sd), RunSource.SIMULATED)


def test_the_overall_score_is_the_weighted_mean_win_rate():
    rankings = [
        metric_ranking(TTFT, {"quick": 0.5, "fluent": 1.5}),
        metric_ranking(TPS, {"quick": 50.0, "fluent": 150.0}),
    ]
    even = {e.subject.name: e.score for e in ranking.overall(rankings, {"TTFT": 1, "TPS": 1})}
    assert even == {"quick": 0.5, "fluent": 0.5}
    entries = ranking.overall(rankings, {"TTFT": 3, "TPS": 1})
    assert [(e.subject.name, e.score, e.rank) for e in entries] == [("quick", 0.75, 1), ("fluent", 0.25, 2)]
    assert entries[0].by_metric["TTFT"].rank == 1 and entries[0].by_metric["TPS"].rank == 2
    assert entries[0].by_metric["TTFT"].score == 1.0 and entries[0].by_metric["TPS"].score == 0.0
    assert entries[0].rank_interval == (1, 1) and entries[0].score_interval == (0.75, 0.75)  # sd 0.01: sure


def test_one_summary_read_from_its_sketch_gets_its_intervals_from_its_sketch_at_the_exact_ranks():
    values = 1.03 ** np.arange(1000)  # 3% apart: every value has a sketch bucket of its own
    summary = summarize(1, 1, TTFT, values)
    alone = ranking.from_sketch(TTFT, summary)  # summaries written before intervals were kept
    for statistic, ranks in ((Statistic.MEDIAN, (469, 531)), (Statistic.P90, (883, 921)), (Statistic.P99, (983, 996))):
        low, high = alone.confidence_interval(statistic).low, alone.confidence_interval(statistic).high
        assert low == pytest.approx(values[ranks[0] - 1], rel=0.01) and high == pytest.approx(
            values[ranks[1] - 1], rel=0.01
        )
    half = 1.959963984540054 * summary.std / np.sqrt(1000)
    assert alone.confidence_interval(Statistic.MEAN) == Interval(
        pytest.approx(values.mean() - half), pytest.approx(values.mean() + half)
    )


def test_one_sample_read_from_its_sketch_has_no_spread_and_no_mean_interval_and_two_have_both():
    one = ranking.from_sketch(TTFT, summarize(1, 1, TTFT, np.array([0.5])))
    assert one.std == 0.0 and one.confidence_interval(Statistic.MEAN) == Interval(None, None)
    two = ranking.from_sketch(TTFT, summarize(1, 1, TTFT, np.array([0.5, 1.5])))
    assert two.std == pytest.approx(np.sqrt(0.5)) and two.confidence_interval(Statistic.MEAN).sufficient


def test_a_mean_is_compared_with_its_standard_error_not_its_interval():
    def made(mean, std, n):  # a mean interval far wider than s / sqrt(n)
        sketch = QuantileSketch.of(np.array([mean]))
        wide = {field: Interval(0.0, 100.0) for field in ("mean", "p50", "p90", "p95", "p99")}
        return PairStatistics(n, mean, std, mean, mean, mean, mean, mean, mean, sketch, wide)

    for n in (2, 1000):
        table = {
            "a": (Subject("a", LLM("a", "v")), made(1.0, 0.01, n)),
            "b": (Subject("b", LLM("b", "v")), made(2.0, 0.01, n)),
        }
        assert all(e.tied_with == () for e in ranking.rank(TTFT, table, Statistic.MEAN)), n
        assert all(e.tied_with for e in ranking.rank(TTFT, table, Statistic.MEDIAN)), n  # a quantile: its interval
    lone = {
        "a": (Subject("a", LLM("a", "v")), made(1.0, 0.0, 1)),
        "b": (Subject("b", LLM("b", "v")), made(2.0, 0.0, 1)),
    }
    assert all(e.tied_with for e in ranking.rank(TTFT, lone, Statistic.MEAN))  # one sample each: no error known


def test_a_window_takes_its_runs_as_clusters_and_reports_the_sketch_resolution():
    rng = np.random.default_rng(4)
    runs = [summarize(i + 1, 1, TTFT, rng.lognormal(np.log(m), 0.3, 400)) for i, m in enumerate((0.5, 0.6, 0.55))]
    for k in (2, 3):
        means = np.array([r.mean for r in runs[:k]])
        half = t_dist.ppf(0.975, k - 1) * np.sqrt(k / (k - 1) * ((400 * (means - means.mean())) ** 2).sum()) / (400 * k)
        interval = ranking.combine(TTFT, runs[:k]).confidence_interval(Statistic.MEAN)
        assert interval == Interval(pytest.approx(means.mean() - half), pytest.approx(means.mean() + half))
    window = ranking.combine(TTFT, runs)
    assert window.confidence_interval(Statistic.P95) == woodruff_interval(Rollup.merge(runs), 0.95)
    assert window.resolution(Statistic.P95) == 0.01 and window.resolution(Statistic.MEAN) == 0.0
    assert stats(np.arange(1.0, 10.0)).resolution(Statistic.P99) == 0.0  # one run: from its raw values


def test_a_windows_interval_holds_its_own_point_when_both_fall_in_one_bucket_of_the_sketch():
    rng = np.random.default_rng(5)
    runs = [summarize(i + 1, 1, TTFT, rng.lognormal(0, 0.3, 20_000)) for i in range(10)]
    window = ranking.combine(TTFT, runs)
    read_within_buckets = {field: woodruff_interval(Rollup.merge(runs), q) for field, q in (("p50", 0.5), ("p90", 0.9))}
    outside = [s for s, i in read_within_buckets.items() if not i.low <= getattr(window, s) <= i.high]
    assert outside  # 200,000 values: the bounds part from the bucket's middle
    for statistic in (Statistic.MEDIAN, Statistic.P90, Statistic.P95, Statistic.P99):
        interval, point = window.confidence_interval(statistic), window.value(statistic)
        assert interval.low <= point <= interval.high
        assert interval.high - interval.low <= 0.02 * point  # widened to the point, not beyond


def test_each_statistic_reads_its_summary_field_and_tail():
    from src.application.domain.ranking import Window

    assert [s.field for s in Statistic] == ["mean", "p50", "p90", "p95", "p99"]
    assert [s.tail for s in Statistic] == [None, 0.5, 0.9, 0.95, 0.99]
    assert [s.value for s in Statistic] == ["mean", "median", "p90", "p95", "p99"]
    assert [w.value for w in Window] == ["latest", "24h", "72h", "7d", "30d", "all"]
    assert (TTFT.raw_quantile(0.99), TPS.raw_quantile(0.99)) == (0.99, pytest.approx(0.01))


@pytest.mark.parametrize(
    "n, statistic, ranks",
    [(6, Statistic.MEDIAN, (1, 6)), (10, Statistic.MEDIAN, (2, 9)), (10, Statistic.P90, (7, None)),
     (20, Statistic.P95, (17, None)), (20, Statistic.P99, (19, None))],
)  # fmt: skip
def test_small_samples_read_the_order_statistics_at_their_ranks_and_leave_the_top_open(n, statistic, ranks):
    values = 2.0 ** np.arange(n)
    interval = stats(values).confidence_interval(statistic)
    assert interval.low == values[ranks[0] - 1]
    assert interval.high == (None if ranks[1] is None else values[ranks[1] - 1])


def test_the_mean_of_two_samples_cannot_be_bounded():
    assert stats([1.0, 3.0]).confidence_interval(Statistic.MEAN) == Interval(None, None)


def test_an_llm_with_an_open_interval_is_tied_with_those_its_open_side_reaches():
    short = {
        "few": (Subject("few", LLM("few", "v")), stats([0.2, 0.3, 0.25, 0.22, 0.28, 0.31, 0.27, 0.24, 0.26, 0.29]))
    }
    many = {
        name: (Subject(name, LLM(name, "v")), stats(normal(m, 0.01, seed=i)))
        for i, (name, m) in enumerate({"a": 0.1, "z": 5.0}.items())
    }
    entries = {e.subject.name: e for e in ranking.rank(TTFT, {**short, **many}, Statistic.P99)}
    assert not entries["few"].interval.sufficient
    assert entries["few"].tied_with == ("z",)  # its open top reaches 5 s; a (0.1 s) lies below its bottom


def test_a_windows_interval_is_computed_the_first_time_it_is_read_and_kept():
    asked: list[str] = []

    def compute(field: str) -> Interval:
        asked.append(field)
        return Interval(1.0, 2.0)

    intervals = IntervalsWhenRead(("p50", "mean"), compute)
    assert (list(intervals), len(intervals), asked) == (["p50", "mean"], 2, [])
    assert intervals["p50"] == intervals["p50"] == Interval(1.0, 2.0)
    assert asked == ["p50"]  # once: a ranking reads one statistic's interval, and pays for that one
    with pytest.raises(KeyError):
        intervals["p99"]
    assert dict(intervals) == {"p50": Interval(1.0, 2.0), "mean": Interval(1.0, 2.0)} and asked == ["p50", "mean"]


def test_a_box_keeps_its_quantiles_in_order_around_an_exact_median_when_values_crowd_one_bucket():
    crowded = stats(np.linspace(0.2006, 0.2010, 91))  # one run: its median exact, 0.2008
    sketch_p25, sketch_p75 = crowded.sketch.quantiles([0.25, 0.75])
    assert sketch_p75 < crowded.p50 == pytest.approx(0.2008)  # the bucket's middle, below every value
    assert crowded.box() == (sketch_p25, sketch_p25, crowded.p50, crowded.p50, crowded.p50)
    spread = stats(normal(1.0, 0.2, n=2000))  # the sketch's own quantiles, already in order
    assert spread.box() == (*spread.sketch.quantiles([0.01, 0.25]), spread.p50, *spread.sketch.quantiles([0.75, 0.99]))
