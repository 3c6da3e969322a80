"""Ranking logic: combine runs' summaries, rank one metric by its direction, score across metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from src.application.domain.model import LLM, Direction, Interval, Metric, MetricSummary
from src.application.domain.ranking import (
    MetricRanking,
    MetricStanding,
    OverallEntry,
    PairStatistics,
    RankingEntry,
    Statistic,
)
from src.application.domain.sketch import RELATIVE_ACCURACY, QuantileSketch
from src.application.services.intervals import Z_95, order_statistic_ranks
from src.application.services.statistics import TAILS

WIN_RATE = "winrate"
MIN_MAX = "minmax"
METHODS = (WIN_RATE, MIN_MAX)


def combine(metric: Metric, summaries: Sequence[MetricSummary]) -> PairStatistics:
    """One pair's statistics over several runs; a single run keeps its exact statistics and intervals."""
    if len(summaries) == 1:
        s = summaries[0]
        return PairStatistics(
            s.n, s.mean, s.std, s.minimum, s.maximum, s.p50, s.p90, s.p95, s.p99, s.sketch, s.intervals
        )
    return pooled(metric, summaries)


def pooled(metric: Metric, summaries: Sequence[MetricSummary]) -> PairStatistics:
    """n, mean, std, min and max exactly; tail statistics from the merged sketches.

    The intervals treat every request as independent of the others (a normal interval of the
    mean, order statistics of the merged sketch widened by its accuracy): too narrow when runs
    differ from each other."""
    n = np.array([s.n for s in summaries], dtype=np.float64)
    means = np.array([s.mean for s in summaries])
    stds = np.array([s.std for s in summaries])
    total = n.sum()
    mean = float((n * means).sum() / total)
    squares = ((n - 1) * stds**2).sum() + (n * (means - mean) ** 2).sum()
    std = float(np.sqrt(squares / (total - 1))) if total > 1 else 0.0
    sketch = QuantileSketch.merge(s.sketch for s in summaries)
    quantiles = {field: metric.raw_quantile(tail) for field, tail in TAILS.items()}
    half = Z_95 * std / np.sqrt(total)
    intervals = {field: _sketch_interval(sketch, q) for field, q in quantiles.items()}
    intervals["mean"] = Interval(mean - half, mean + half) if total > 1 else Interval(None, None)
    return PairStatistics(
        n=int(total),
        mean=mean,
        std=std,
        minimum=min(s.minimum for s in summaries),
        maximum=max(s.maximum for s in summaries),
        sketch=sketch,
        intervals=intervals,
        **{field: sketch.quantile(q) for field, q in quantiles.items()},
    )


def _sketch_interval(sketch: QuantileSketch, q: float) -> Interval:
    low, high = order_statistic_ranks(sketch.count, q)
    return Interval(
        sketch.value_at_rank(low - 1) * (1 - RELATIVE_ACCURACY) if low is not None else None,
        sketch.value_at_rank(high - 1) * (1 + RELATIVE_ACCURACY) if high is not None else None,
    )


def rank(
    metric: Metric, statistics: dict[str, tuple[LLM, PairStatistics]], statistic: Statistic
) -> tuple[RankingEntry, ...]:
    """Best first for the metric's direction; LLMs whose 95% intervals overlap are tied (an open
    bound overlaps everything on its side)."""
    values = {name: stats.value(statistic) for name, (_, stats) in statistics.items()}
    intervals = {name: stats.confidence_interval(statistic) for name, (_, stats) in statistics.items()}
    sign = 1.0 if metric.direction is Direction.LOWER_IS_BETTER else -1.0
    order = sorted(values, key=lambda name: (sign * values[name], name))
    return tuple(
        RankingEntry(
            rank=1 + sum(metric.is_better(values[other], values[name]) for other in values),
            llm=statistics[name][0],
            value=values[name],
            interval=intervals[name],
            statistics=statistics[name][1],
            tied_with=tuple(o for o in order if o != name and intervals[o].overlaps(intervals[name])),
        )
        for name in order
    )


def metric_scores(ranking: MetricRanking, method: str) -> dict[str, float]:
    """Each LLM's score on one metric, 0 (worst) to 1 (best).

    winrate: the share of the other LLMs it beats, a statistical tie counting half.
    minmax: its value's position between the worst and the best value.
    """
    entries = ranking.entries
    if len(entries) < 2:
        return {e.llm.name: 1.0 for e in entries}
    if method == WIN_RATE:
        scores = {}
        for entry in entries:
            points = 0.0
            for other in entries:
                if other is entry:
                    continue
                if other.llm.name in entry.tied_with or other.value == entry.value:
                    points += 0.5
                elif ranking.metric.is_better(entry.value, other.value):
                    points += 1.0
            scores[entry.llm.name] = points / (len(entries) - 1)
        return scores
    best, worst = entries[0].value, entries[-1].value
    span = best - worst
    return {e.llm.name: 1.0 if span == 0 else (e.value - worst) / span for e in entries}


def overall(rankings: Sequence[MetricRanking], weights: dict[str, float], method: str) -> tuple[OverallEntry, ...]:
    """The weighted mean of each LLM's per-metric scores; higher is better."""
    per_metric = {r.metric.name: metric_scores(r, method) for r in rankings}
    standings: dict[str, dict[str, MetricStanding]] = {}
    llms: dict[str, LLM] = {}
    for ranking in rankings:
        for entry in ranking.entries:
            llms[entry.llm.name] = entry.llm
            standings.setdefault(entry.llm.name, {})[ranking.metric.name] = MetricStanding(
                value=entry.value, rank=entry.rank, score=per_metric[ranking.metric.name][entry.llm.name]
            )
    total_weight = sum(weights[r.metric.name] for r in rankings)
    # Rounded, so that equal scores summed in another order are not told apart by float noise.
    scores = {
        name: round(sum(weights[m] * standing.score for m, standing in by_metric.items()) / total_weight, 12)
        for name, by_metric in standings.items()
    }
    order = sorted(scores, key=lambda name: (-scores[name], name))
    return tuple(
        OverallEntry(
            rank=1 + sum(scores[other] > scores[name] for other in scores),
            llm=llms[name],
            score=scores[name],
            by_metric=standings[name],
        )
        for name in order
    )
