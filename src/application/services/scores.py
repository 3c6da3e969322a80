"""The overall ranking: HELM's mean win rate, with 95% intervals of each score and rank.

On each metric an LLM wins against every other LLM whose value it beats, and half against one with
exactly the same value; its win rate is the share of its wins, and its score the weighted mean of
its win rates (a metric it has no value on counts 0). Scores depend on the order of the values
only: on a min-max scale (dropped) one outlier squeezed every other LLM's scores on its metric,
so the overall order followed whichever metric had the mildest outlier.

The intervals come from a parametric bootstrap: each resample redraws every value from its own
sampling distribution (a normal on each side of the value, with the standard error that side of
its 95% interval implies; an open side gets the spread of the metric's values), and recomputes the
scores and ranks. The 2.5% and 97.5% quantiles of the resamples bound each LLM's score and rank.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from src.application.domain.model import Direction
from src.application.domain.ranking import MetricRanking, RankingEntry
from src.application.services.intervals import ALPHA, Z_95

RESAMPLES = 1000


def win_rates(values: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """For values of shape (..., k): each of the k LLMs' share of the others it beats, ties half."""
    k = values.shape[-1]
    if k < 2:
        return np.ones_like(values)
    order = np.argsort(values, axis=-1)
    ordered = np.take_along_axis(values, order, axis=-1)
    if not (ordered[..., 1:] == ordered[..., :-1]).any():
        # No two values equal (as redrawn values almost never are): an LLM beats those it
        # outranks, counted by sorting rather than by comparing every pair (a third of the time).
        below = np.argsort(order, axis=-1)  # how many values lie below each
        ranked: np.ndarray = (k - 1 - below if lower_is_better else below) / (k - 1)
        return ranked
    difference = values[..., :, None] - values[..., None, :]
    wins = (difference < 0 if lower_is_better else difference > 0).sum(axis=-1)
    ties = (difference == 0).sum(axis=-1) - 1  # itself left out
    rates: np.ndarray = (wins + 0.5 * ties) / (k - 1)
    return rates


@dataclass(frozen=True)
class Scores:
    """By LLM name: its score, the 95% interval of its score, and of its rank."""

    score: dict[str, float]
    win_rates: dict[str, dict[str, float]]  # by LLM, by metric
    score_interval: dict[str, tuple[float, float]]
    rank_interval: dict[str, tuple[int, int]]


def mean_win_rates(rankings: Sequence[MetricRanking], weights: dict[str, float]) -> Scores:
    names = sorted({entry.subject.name for ranking in rankings for entry in ranking.entries})
    total_weight = sum(weights[r.metric.name] for r in rankings)
    point = np.zeros(len(names))
    resampled = np.zeros((RESAMPLES, len(names)))
    rates: dict[str, dict[str, float]] = {name: {} for name in names}
    rng = _seeded_by(rankings)
    for ranking in rankings:
        entries = ranking.entries
        columns = [names.index(entry.subject.name) for entry in entries]
        lower = ranking.metric.direction is Direction.LOWER_IS_BETTER
        values = np.array([entry.value for entry in entries])
        share = weights[ranking.metric.name] / total_weight
        rate = win_rates(values, lower)
        point[columns] += share * rate
        resampled[:, columns] += share * win_rates(_redrawn(entries, rng), lower)
        for entry, entry_rate in zip(entries, rate, strict=True):
            rates[entry.subject.name][ranking.metric.name] = float(entry_rate)
    # Rounded: equal scores summed in another order are not told apart by float noise.
    point, resampled = point.round(12), resampled.round(12)
    ranks = 1 + (resampled[:, None, :] > resampled[:, :, None]).sum(axis=-1)  # (resample, LLM)
    bounds = [ALPHA / 2, 1 - ALPHA / 2]
    score_bounds = np.quantile(resampled, bounds, axis=0, method="inverted_cdf")
    rank_bounds = np.quantile(ranks, bounds, axis=0, method="inverted_cdf")
    return Scores(
        score={name: float(point[i]) for i, name in enumerate(names)},
        win_rates=rates,
        score_interval={name: (float(score_bounds[0, i]), float(score_bounds[1, i])) for i, name in enumerate(names)},
        rank_interval={name: (int(rank_bounds[0, i]), int(rank_bounds[1, i])) for i, name in enumerate(names)},
    )


def _redrawn(entries: Sequence[RankingEntry], rng: np.random.Generator) -> np.ndarray:
    """RESAMPLES draws of each entry's value from its sampling distribution: shape (RESAMPLES, k)."""
    values = np.array([entry.value for entry in entries])
    spread = float(values.max() - values.min())

    def error(entry: RankingEntry, side: float | None) -> float:
        return spread if side is None else abs(side - entry.value) / Z_95

    below = np.array([error(entry, entry.interval.low) for entry in entries])
    above = np.array([error(entry, entry.interval.high) for entry in entries])
    z = rng.standard_normal((RESAMPLES, len(entries)))
    return values + z * np.where(z < 0, below, above)


def _seeded_by(rankings: Sequence[MetricRanking]) -> np.random.Generator:
    """Resamples drawn from the values: the same data always gives the same intervals."""
    text = repr([(e.subject.name, e.value, e.interval) for r in rankings for e in r.entries]).encode()
    return np.random.default_rng(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest()))
