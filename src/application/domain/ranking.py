"""What rankings are made of: statistics of an LLM on a metric, and the rankings themselves."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from src.application.domain.model import LLM, Interval, Metric, Run, RunSource
from src.application.domain.sketch import RELATIVE_ACCURACY, QuantileSketch


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
    def tail(self) -> float | None:
        """The tail a quantile statistic reads (the raw quantile depends on the metric's direction)."""
        return {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}.get(self.value)


class Window(enum.StrEnum):
    LATEST = "latest"
    DAY = "24h"
    THREE_DAYS = "72h"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"


class IntervalsWhenRead(Mapping[str, Interval]):
    """Intervals by statistic field, each computed the first time it is read. A ranking reads one
    statistic's of five, and a window's percentile interval is the costly part of pooling its runs."""

    def __init__(self, fields: tuple[str, ...], compute: Callable[[str], Interval]):
        self._fields, self._compute = fields, compute
        self._computed: dict[str, Interval] = {}

    def __getitem__(self, field: str) -> Interval:
        if field not in self._fields:
            raise KeyError(field)
        if field not in self._computed:
            self._computed[field] = self._compute(field)
        return self._computed[field]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass(frozen=True)
class PairStatistics:
    """One LLM on one metric over the chosen data: exact moments, tail statistics (read at the
    metric's raw quantiles), their 95% intervals, and a sketch."""

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
    intervals: Mapping[str, Interval]  # by statistic field
    sketched: bool = False  # the tail statistics and their intervals were read from the sketch

    def value(self, statistic: Statistic) -> float:
        return float(getattr(self, statistic.field))

    def confidence_interval(self, statistic: Statistic) -> Interval:
        return self.intervals[statistic.field]

    def box(self) -> tuple[float, float, float, float, float]:
        """The raw values' p1, p25, median, p75 and p99, whatever the metric's direction (unlike
        its tail statistics): the median as computed, the others read from the sketch. A sketch's
        quantile is within its resolution of the true one, so with values crowded in a bucket it can
        fall on the wrong side of an exact median; the true ones cannot, so they are held on their
        side of it (never further from the truth)."""
        p1, p25, p75, p99 = self.sketch.quantiles([0.01, 0.25, 0.75, 0.99])
        median = self.p50
        return min(p1, median), min(p25, median), median, max(p75, median), max(p99, median)

    def resolution(self, statistic: Statistic) -> float:
        """The relative accuracy of the value and its interval's bounds, apart from sampling
        uncertainty: 0 where computed from the raw values, the sketch's where read from it."""
        return RELATIVE_ACCURACY if self.sketched and statistic is not Statistic.MEAN else 0.0


class GroupBy(enum.StrEnum):
    """What measured rankings rank: LLMs (an LLM's endpoints pooled), or endpoints (provider x model)."""

    LLM = "llm"
    ENDPOINT = "endpoint"


@dataclass(frozen=True)
class Scope:
    """The data a ranking is asked for: one run by id, or the latest run or a window of runs of
    one source (simulated by default). Measured rankings cover the runs of one plan (`plan`, a
    plan key: services/plans.py) and rank them by LLM or by endpoint; their latest data is each
    endpoint's newest run (an LLM's endpoints pooled), or one campaign's runs."""

    run_id: int | None = None
    window: Window = Window.LATEST
    source: RunSource = RunSource.SIMULATED
    group_by: GroupBy = GroupBy.LLM
    plan: str | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Subject:
    """What a ranking entry ranks: an LLM, or one endpoint serving an LLM (then named as the endpoint)."""

    name: str
    llm: LLM
    endpoint: str | None = None


@dataclass(frozen=True)
class PlanChoice:
    """The plan measured rankings compare runs under: its key, what it sends, how many runs had it."""

    key: str
    description: str
    runs: int


@dataclass(frozen=True)
class DataSelection:
    """Which completed runs a ranking covers."""

    window: Window | None  # None: the one run asked for by its id
    runs: int
    first_finished_at: datetime | None
    last_finished_at: datetime | None
    run: Run | None = None  # set when exactly one run was asked for or is the latest
    plan: PlanChoice | None = None  # measured rankings: the plan of every run covered
    campaign_id: int | None = None  # measured rankings of one campaign's runs


@dataclass(frozen=True)
class RankingEntry:
    rank: int
    subject: Subject
    value: float
    interval: Interval
    statistics: PairStatistics
    tied_with: tuple[str, ...]  # not told apart at 5% (Holm over every pair)
    rank_interval: tuple[int, int]  # the 95% interval of its rank, best rank first


@dataclass(frozen=True)
class MetricRanking:
    metric: Metric
    statistic: Statistic
    selection: DataSelection | None  # None: no completed run yet
    entries: tuple[RankingEntry, ...]
    source: RunSource  # simulated rankings rank the catalogue's assumptions


@dataclass(frozen=True)
class MetricStanding:
    value: float
    rank: int
    score: float  # its win rate on the metric


@dataclass(frozen=True)
class OverallEntry:
    rank: int
    subject: Subject
    score: float  # the weighted mean of its win rates
    by_metric: dict[str, MetricStanding]
    score_interval: tuple[float, float]  # 95%
    rank_interval: tuple[int, int]  # 95%, best rank first


@dataclass(frozen=True)
class OverallRanking:
    method: str
    statistic: Statistic
    weights: dict[str, float]
    selection: DataSelection | None
    entries: tuple[OverallEntry, ...]
    source: RunSource


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
    # Oldest first, by what a run measures: an LLM's simulated profile, or one endpoint (measured
    # runs: an LLM's endpoints are other servers, and their runs alternating in one line would zigzag).
    series: dict[Subject, tuple[HistoryPoint, ...]]
    plan: PlanChoice | None = None  # measured: the one plan of every run in it (plans are never mixed)
