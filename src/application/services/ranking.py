"""Ranking logic: combine runs' summaries, rank one metric by its direction, score across metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from src.application.domain.model import Direction, Interval, Metric, MetricSummary
from src.application.domain.ranking import (
    IntervalsWhenRead,
    MetricRanking,
    MetricStanding,
    OverallEntry,
    PairStatistics,
    RankingEntry,
    Statistic,
    Subject,
)
from src.application.domain.rollup import Moments, Rollup
from src.application.domain.sketch import QuantileSketch
from src.application.services.comparisons import Estimate, compare
from src.application.services.intervals import Z_95, cluster_mean_interval, order_statistic_ranks, woodruff_interval
from src.application.services.scores import mean_win_rates
from src.application.services.statistics import TAILS

WIN_RATE = "winrate"
METHODS = (WIN_RATE,)  # min-max was dropped: see services/scores.py


def combine(metric: Metric, summaries: Sequence[MetricSummary]) -> PairStatistics:
    """One pair's statistics over several runs (in the order they finished); a single run keeps
    its exact statistics and intervals."""
    return exact(summaries[0]) if len(summaries) == 1 else pooled(metric, Rollup.merge(list(summaries)))


def exact(s: MetricSummary) -> PairStatistics:
    """One run's statistics and intervals, as computed from its raw values."""
    return PairStatistics(s.n, s.mean, s.std, s.minimum, s.maximum, s.p50, s.p90, s.p95, s.p99, s.sketch, s.intervals)


def pooled(metric: Metric, runs: Rollup) -> PairStatistics:
    """Several runs (k >= 2) from their rollup: their intervals take each run as a cluster, each
    computed when read; the minimum and maximum are read from the merged sketch, as rollups
    cannot subtract extremes."""
    quantiles = {field: metric.raw_quantile(tail) for field, tail in TAILS.items()}
    sketch = runs.sketch
    points = _points(sketch, quantiles)

    def interval(field: str) -> Interval:
        if field == "mean":
            return cluster_mean_interval(runs)
        return woodruff_interval(runs, quantiles[field]).holding(points[field])

    lowest, highest = sketch.values_at_ranks([0, sketch.count - 1])
    intervals = IntervalsWhenRead((*quantiles, "mean"), interval)
    return _sketched(runs.values, (lowest, highest), sketch, points, intervals)


def from_sketch(metric: Metric, summary: MetricSummary) -> PairStatistics:
    """One summary's tail statistics and intervals read from its sketch alone, as for summaries
    written before intervals were kept (migration 0004): order statistics, a normal mean interval."""
    quantiles = {field: metric.raw_quantile(tail) for field, tail in TAILS.items()}
    sketch = summary.sketch
    points = _points(sketch, quantiles)
    intervals = {field: _sketch_interval(sketch, q).holding(points[field]) for field, q in quantiles.items()}
    half = Z_95 * summary.std / np.sqrt(summary.n)
    intervals["mean"] = Interval(summary.mean - half, summary.mean + half) if summary.n > 1 else Interval(None, None)
    values = Rollup.of(summary).values
    return _sketched(values, (summary.minimum, summary.maximum), sketch, points, intervals)


def _points(sketch: QuantileSketch, quantiles: dict[str, float]) -> dict[str, float]:
    """The tail statistics read from a sketch, each at its bucket's middle. Interval bounds are
    read within their buckets, so in one bucket the two can part by up to the sketch's resolution:
    callers widen each interval to hold its point (`Interval.holding`)."""
    return dict(zip(quantiles, sketch.quantiles(list(quantiles.values())), strict=True))


def _sketched(
    values: Moments,
    extremes: tuple[float, float],
    sketch: QuantileSketch,
    points: dict[str, float],
    intervals: Mapping[str, Interval],
) -> PairStatistics:
    """The statistics of values whose tails were read from their sketch; n, mean and std exact."""
    total = values.weight
    return PairStatistics(
        n=int(total),
        mean=values.mean,
        std=float(np.sqrt(values.m2 / (total - 1))) if total > 1 else 0.0,
        minimum=extremes[0],
        maximum=extremes[1],
        sketch=sketch,
        intervals=intervals,
        sketched=True,
        **points,
    )


def _sketch_interval(sketch: QuantileSketch, q: float) -> Interval:
    low, high = order_statistic_ranks(sketch.count, q)
    return Interval(
        sketch.value_at_rank(low - 1) if low is not None else None,
        sketch.value_at_rank(high - 1) if high is not None else None,
    )


def rank(
    metric: Metric, statistics: dict[str, tuple[Subject, PairStatistics]], statistic: Statistic
) -> tuple[RankingEntry, ...]:
    """Best first for the metric's direction, with ties and rank intervals from pairwise tests."""
    values = {name: stats.value(statistic) for name, (_, stats) in statistics.items()}
    sign = 1.0 if metric.direction is Direction.LOWER_IS_BETTER else -1.0
    order = sorted(values, key=lambda name: (sign * values[name], name))
    estimates = {name: _estimate(stats, statistic) for name, (_, stats) in statistics.items()}
    comparison = compare(estimates, order)
    return tuple(
        RankingEntry(
            rank=1 + sum(metric.is_better(values[other], values[name]) for other in values),
            subject=statistics[name][0],
            value=values[name],
            interval=estimates[name].interval,
            statistics=statistics[name][1],
            tied_with=comparison.tied_with[name],
            rank_interval=comparison.rank_intervals[name],
        )
        for name in order
    )


def _estimate(stats: PairStatistics, statistic: Statistic) -> Estimate:
    error = stats.std / math.sqrt(stats.n) if statistic is Statistic.MEAN and stats.n > 1 else None
    return Estimate(stats.value(statistic), stats.confidence_interval(statistic), error)


def overall(rankings: Sequence[MetricRanking], weights: dict[str, float]) -> tuple[OverallEntry, ...]:
    """Best score first: the weighted mean win rate (services/scores.py)."""
    scores = mean_win_rates(rankings, weights)
    standings: dict[str, dict[str, MetricStanding]] = {}
    subjects: dict[str, Subject] = {}
    for ranking in rankings:
        for entry in ranking.entries:
            name = entry.subject.name
            subjects[name] = entry.subject
            standings.setdefault(name, {})[ranking.metric.name] = MetricStanding(
                value=entry.value, rank=entry.rank, score=scores.win_rates[name][ranking.metric.name]
            )
    score = scores.score
    order = sorted(score, key=lambda name: (-score[name], name))
    return tuple(
        OverallEntry(
            rank=1 + sum(score[other] > score[name] for other in score),
            subject=subjects[name],
            score=score[name],
            by_metric=standings[name],
            score_interval=scores.score_interval[name],
            rank_interval=scores.rank_interval[name],
        )
        for name in order
    )
