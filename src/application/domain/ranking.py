"""What rankings are made of: statistics of an LLM on a metric, and the rankings themselves."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime

from src.application.domain.model import LLM, Metric, Run, RunSource
from src.application.domain.sketch import RELATIVE_ACCURACY, QuantileSketch

Z_95 = 1.959963984540054


class Statistic(enum.StrEnum):
    MEAN = "mean"
    MEDIAN = "median"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"

    @property
    def field(self) -> str:
        """The summary field that keeps this statistic (of one run, or pooled)."""
        return "p50" if self is Statistic.MEDIAN else self.value

    @property
    def quantile(self) -> float | None:
        return {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}.get(self.value)


class Window(enum.StrEnum):
    LATEST = "latest"
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"


@dataclass(frozen=True)
class PairStatistics:
    """One LLM on one metric over the chosen data: exact moments, percentiles, and a sketch."""

    n: int
    mean: float
    std: float
    minimum: float
    maximum: float
    p50: float
    p90: float
    p95: float
    p99: float
    sketch: QuantileSketch

    def value(self, statistic: Statistic) -> float:
        return float(getattr(self, statistic.field))

    def confidence_interval(self, statistic: Statistic) -> tuple[float, float]:
        """95% interval: normal for the mean; order statistics (distribution-free) for a quantile,
        read from the sketch and widened by its relative accuracy."""
        if statistic is Statistic.MEAN:
            half = Z_95 * self.std / math.sqrt(self.n) if self.n > 1 else 0.0
            return self.mean - half, self.mean + half
        q = statistic.quantile or 0.5
        rank = q * (self.n - 1)
        half = Z_95 * math.sqrt(self.n * q * (1 - q))
        low = self.sketch.value_at_rank(max(0.0, rank - half))
        high = self.sketch.value_at_rank(min(self.n - 1.0, rank + half))
        return low * (1 - RELATIVE_ACCURACY), high * (1 + RELATIVE_ACCURACY)


@dataclass(frozen=True)
class Scope:
    """The data a ranking is asked for: one run by id, or the latest run or a window of runs of
    one source (simulated by default; measured runs each cover one endpoint's LLM)."""

    run_id: int | None = None
    window: Window = Window.LATEST
    source: RunSource = RunSource.SIMULATED


@dataclass(frozen=True)
class DataSelection:
    """Which completed runs a ranking covers."""

    window: Window | None  # None: the one run asked for by its id
    runs: int
    first_finished_at: datetime | None
    last_finished_at: datetime | None
    run: Run | None = None  # set when exactly one run was asked for or is the latest


@dataclass(frozen=True)
class RankingEntry:
    rank: int
    llm: LLM
    value: float
    ci_low: float
    ci_high: float
    statistics: PairStatistics
    tied_with: tuple[str, ...]


@dataclass(frozen=True)
class MetricRanking:
    metric: Metric
    statistic: Statistic
    selection: DataSelection | None  # None: no completed run yet
    entries: tuple[RankingEntry, ...]


@dataclass(frozen=True)
class MetricStanding:
    value: float
    rank: int
    score: float


@dataclass(frozen=True)
class OverallEntry:
    rank: int
    llm: LLM
    score: float
    by_metric: dict[str, MetricStanding]


@dataclass(frozen=True)
class OverallRanking:
    method: str
    statistic: Statistic
    weights: dict[str, float]
    selection: DataSelection | None
    entries: tuple[OverallEntry, ...]


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    finished_at: datetime
    value: float


@dataclass(frozen=True)
class MetricHistory:
    metric: Metric
    statistic: Statistic
    window: Window
    series: dict[str, tuple[HistoryPoint, ...]]  # by LLM name, oldest first
