"""Rollups: running totals of a pair's runs from which a window's statistics follow exactly.

A window's statistics treat each run as a cluster (services/intervals.py). Everything they need of
the runs is a sum over runs: the values' moments, the run means' moments weighted by size squared,
the moments of the runs' log medians (how far runs stand apart, whatever their sizes), the merged
sketch, and per sketch bucket b the sums of A_i(b)^2 and n_i * A_i(b), where A_i(b) is how many of
run i's n_i values fall in bucket b or below (Woodruff's interval reads them at the edges of the
pooled quantile's bucket). Sums subtract as well as add, so the runs of a window are the
totals at its end minus the totals before its start: two rows, whatever the history. Counts are
integers and subtract exactly; moments subtract by the inverse of Chan's formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np

from src.application.domain.model import MetricSummary, RunSource
from src.application.domain.sketch import QuantileSketch


@dataclass(frozen=True, order=True)
class Series:
    """Runs whose totals are kept together: every simulated run, or one endpoint's measured runs
    of one plan (runs of different plans measure different things; a window of an LLM's endpoints
    adds theirs up)."""

    source: RunSource
    endpoint_id: int = 0
    plan_key: str = ""


SIMULATED = Series(RunSource.SIMULATED)


def hour_of(moment: datetime) -> datetime:
    """The start of the hour a moment falls in: rollups are kept per hour, windows start on one."""
    return moment.replace(minute=0, second=0, microsecond=0)


def counting(
    run: Rollup | None, hours: Sequence[datetime], before: Rollup | None, since: dict[datetime, Rollup]
) -> dict[datetime, Rollup]:
    """The rows of a pair to write when a run that finished in hours[0] is counted: its rows at
    that hour and at every later hour a run of its series finished in (`hours`, in order), given its
    rows there (`since`) and its last row before (`before`). A pair has a row at every run hour of
    its series from its first run on, so that a window reads each pair's totals at two known hours
    (the series' newest run hour and its last before the window): a pair the run left out
    (`run` None) gets its totals carried to a new hour. Later hours exist only when runs complete
    out of order; their rows count the run too, and keep their newer last run."""
    rows = {}
    total = before  # the pair's totals as they stood at the hour in hand, without the run
    for at in hours:
        total = since.get(at, total)
        if run is not None:
            rows[at] = run if total is None else total + run if at == hours[0] else run + total
        elif at not in since and total is not None:
            rows[at] = total
    return rows


@dataclass(frozen=True)
class Moments:
    """Weighted mean and sum of squared deviations (m2) of some values."""

    weight: float
    mean: float
    m2: float

    def __add__(self, other: Moments) -> Moments:
        weight = self.weight + other.weight
        if weight == 0:
            return other
        delta = other.mean - self.mean
        share = other.weight / weight
        return Moments(weight, self.mean + delta * share, self.m2 + other.m2 + delta**2 * self.weight * share)

    def __sub__(self, part: Moments) -> Moments:
        """The moments of the rest, when `part` is part of these values."""
        weight = self.weight - part.weight
        if weight <= 0:
            return NO_MOMENTS
        mean = (self.weight * self.mean - part.weight * part.mean) / weight
        m2 = self.m2 - part.m2 - (mean - part.mean) ** 2 * part.weight * weight / self.weight
        return Moments(weight, mean, max(m2, 0.0))  # rounding may leave a hair below 0

    def spread_about(self, centre: float) -> float:
        """The weighted sum of squared deviations from `centre`."""
        return self.m2 + self.weight * (self.mean - centre) ** 2


NO_MOMENTS = Moments(0.0, 0.0, 0.0)


@dataclass(frozen=True, eq=False)
class Rollup:
    """Totals over some runs of one pair. The bucket arrays cover sketch buckets offset,
    offset + 1, ...; before them every A_i is 0, after them every A_i is n_i."""

    runs: int
    last_run_id: int  # the newest run counted
    values: Moments
    run_means: Moments  # each run's mean, weighted by its size squared
    run_log_medians: Moments  # the log of each run's median, one weight a run
    size_squares: int  # the sum of n_i^2
    offset: int
    # int64, one row each: the merged sketch's counts; per bucket, the sum of A_i(b)^2; per
    # bucket, the sum of n_i * A_i(b). One array, so each step is one numpy operation.
    buckets: np.ndarray

    @classmethod
    def of(cls, summary: MetricSummary) -> Rollup:
        n, sketch = summary.n, summary.sketch
        at_most = np.cumsum(sketch.counts)
        return cls(
            runs=1,
            last_run_id=summary.run_id,
            values=Moments(n, summary.mean, (n - 1) * summary.std**2),
            run_means=Moments(n * n, summary.mean, 0.0),
            # Medians are positive (every metric's lower bound is); the floor keeps a zero finite.
            run_log_medians=Moments(1, math.log(max(summary.p50, 1e-9)), 0.0),
            size_squares=n * n,
            offset=sketch.offset,
            buckets=np.stack([sketch.counts, at_most**2, n * at_most]).astype(np.int64),
        )

    @classmethod
    def merge(cls, summaries: list[MetricSummary]) -> Rollup:
        """The totals of several runs (in the order they finished)."""
        total = cls.of(summaries[0])
        for summary in summaries[1:]:
            total = total + cls.of(summary)
        return total

    @property
    def counts(self) -> np.ndarray:
        counts: np.ndarray = self.buckets[0]
        return counts

    @property
    def squares(self) -> np.ndarray:
        squares: np.ndarray = self.buckets[1]
        return squares

    @property
    def crosses(self) -> np.ndarray:
        crosses: np.ndarray = self.buckets[2]
        return crosses

    @cached_property
    def sketch(self) -> QuantileSketch:
        return QuantileSketch(self.offset, self.counts)

    @property
    def n(self) -> int:
        return self.sketch.count

    def at_bucket(self, index: int) -> tuple[int, int, int]:
        """At sketch bucket `index`: how many values fall in it or below, the sum of A_i^2, the
        sum of n_i * A_i."""
        position = index - self.offset
        if position < 0:
            return 0, 0, 0
        if position >= self.buckets.shape[1]:
            return self.n, self.size_squares, self.size_squares
        return int(self.sketch.at_most[position]), int(self.squares[position]), int(self.crosses[position])

    def __add__(self, later: Rollup) -> Rollup:
        return self._combined(later, 1, later.last_run_id)

    def __sub__(self, earlier: Rollup) -> Rollup:
        """The runs counted here but not in `earlier` (which counts a first part of them)."""
        return self._combined(earlier, -1, self.last_run_id)._trimmed()

    def _combined(self, other: Rollup, sign: int, last_run_id: int) -> Rollup:
        offset = min(self.offset, other.offset)
        size = max(self.offset + self.buckets.shape[1], other.offset + other.buckets.shape[1]) - offset
        return Rollup(
            runs=self.runs + sign * other.runs,
            last_run_id=last_run_id,
            values=_signed(self.values, other.values, sign),
            run_means=_signed(self.run_means, other.run_means, sign),
            run_log_medians=_signed(self.run_log_medians, other.run_log_medians, sign),
            size_squares=self.size_squares + sign * other.size_squares,
            offset=offset,
            buckets=self._aligned(offset, size) + sign * other._aligned(offset, size),
        )

    def _aligned(self, offset: int, size: int) -> np.ndarray:
        start, end = self.offset - offset, self.offset - offset + self.buckets.shape[1]
        if (start, end) == (0, size):
            return self.buckets
        aligned = np.zeros((3, size), dtype=np.int64)
        aligned[1:, end:] = self.size_squares
        aligned[:, start:end] = self.buckets
        return aligned

    def _trimmed(self) -> Rollup:
        """Without empty buckets at either end (what they would say follows from the rest)."""
        filled = np.flatnonzero(self.counts)
        if filled.size == 0:
            return self
        first, last = int(filled[0]), int(filled[-1]) + 1
        return Rollup(
            self.runs,
            self.last_run_id,
            self.values,
            self.run_means,
            self.run_log_medians,
            self.size_squares,
            self.offset + first,
            self.buckets[:, first:last],
        )


def _signed(these: Moments, other: Moments, sign: int) -> Moments:
    return these + other if sign > 0 else these - other
