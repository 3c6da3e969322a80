"""Watching endpoints: each one's latest window of runs, its SLO attainment, and whether it changed.

An endpoint's status reads its valid runs of one plan (its newest scheduled run's, else its newest
run's; runs of other plans measure other things), outside sweeps (whose stages saturate it on
purpose): those that finished in the latest `window` (24 h by default), and as its baseline those of
the `baseline` period before it (72 h). Its statistics treat each run as a cluster (run-level
intervals); the change detector (services/changes.py) compares the latest window with the baseline
on TTFT's and ITL's median and p90. ITL is the per-request inter-token latency
((e2e - TTFT) / (n - 1) = 1 / TPS, services/measures.py), so its quantiles are the reciprocals of
TPS's slow-tail ones.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import NotFound
from src.application.domain.model import (
    LLM,
    SCHEDULE,
    Direction,
    Endpoint,
    Interval,
    Metric,
    MetricSummary,
    Run,
    RunSource,
    RunStatus,
)
from src.application.domain.ranking import PairStatistics, PlanChoice, Statistic
from src.application.ports.clock import Clock
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services import ranking
from src.application.services.changes import Change, Estimated, compare_runs
from src.application.services.intervals import Z_95
from src.application.services.plans import by_plan, choice, plan_key

REPORTED = (Statistic.MEDIAN, Statistic.P90, Statistic.P95, Statistic.P99)
WATCHED = (Statistic.MEDIAN, Statistic.P90)  # per metric, by the change detector
LATENCIES = {"TTFT": "TTFT", "ITL": "TPS"}  # each latency reported, and the metric it is read from


@dataclass(frozen=True)
class NewestRuns:
    """An endpoint's newest finished run and its newest valid run: the same unless its newest run
    failed or was left out of its results."""

    endpoint: Endpoint
    llm: LLM
    finished: Run
    valid: Run | None

    @property
    def failed(self) -> bool:
        """Its newest run failed: no request succeeded, or none could be sent (the run's error says why)."""
        return self.finished.status is RunStatus.FAILED

    @property
    def client_bound(self) -> bool:
        """Its newest run completed but was left out: Jounce's client, not the endpoint, was the bottleneck."""
        return self.finished.invalid is not None

    @property
    def failing(self) -> bool:
        return self.failed or self.client_bound


@dataclass(frozen=True)
class MonitorSettings:
    window: timedelta = timedelta(hours=24)
    baseline: timedelta = timedelta(hours=72)


@dataclass(frozen=True)
class LatencyStatus:
    """TTFT or ITL (seconds) over the latest window: its quantiles and their changes."""

    name: str
    quantiles: dict[Statistic, Estimated]
    changes: dict[Statistic, Change]  # the watched ones, where there is a baseline to compare with


@dataclass(frozen=True)
class SloAttainment:
    """The share of the window's requests that met their plan's SLO, runs as clusters."""

    attainment: float
    interval: Interval
    target: float  # the share the SLO asks for
    requests: int


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: Endpoint
    llm: LLM
    plan: PlanChoice
    runs: int  # in the latest window
    baseline_runs: int
    last_finished_at: datetime
    latencies: tuple[LatencyStatus, ...]  # TTFT, ITL
    output_tokens_per_second: float  # the mean of its runs' output throughput
    requests: int
    error_rates: dict[str, float]  # failed requests by kind, over those sent
    slo: SloAttainment | None

    @property
    def changed(self) -> bool:
        return any(change.changed for latency in self.latencies for change in latency.changes.values())


@dataclass(frozen=True)
class TrendPoint:
    """One valid run of an endpoint: its TTFT and ITL medians with their 95% intervals."""

    run: Run
    plan: str  # its plan's key
    ttft: Estimated
    itl: Estimated
    slo_attainment: float | None


class MonitoringUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork, clock: Clock, settings: MonitorSettings):
        self.uow = uow
        self.clock = clock
        self.settings = settings

    def statuses(self) -> list[EndpointStatus]:
        """Every endpoint with a valid run in the latest window, by name."""
        split = self.clock.now() - self.settings.window
        with self.uow:
            since = split - self.settings.baseline
            watched = _watched(self.uow.runs.recent_of_each_endpoint(since, int(bounds.RUNS_READ.high)), split)
            endpoints = {e.id: e for e in self.uow.endpoints.list()}
            llms = {llm.id: llm for llm in self.uow.catalogue.llms()}
            metrics = {m.name: m for m in self.uow.catalogue.metrics()}
            ids = [run.id for runs in watched.values() for run in runs if run.id is not None]
            metric_ids = [i for source in LATENCIES.values() if (i := metrics[source].id) is not None]
            summaries = self.uow.summaries.for_runs(ids, metric_ids) if ids else []
        by_run: dict[int, list[MetricSummary]] = defaultdict(list)
        for summary in summaries:
            by_run[summary.run_id].append(summary)
        found = [self._status(endpoints[i], llms[endpoints[i].llm_id], runs, split, by_run, metrics)
                 for i, runs in watched.items()]  # fmt: skip
        return sorted(found, key=lambda status: status.endpoint.name)

    def newest_runs(self) -> list[NewestRuns]:
        """Every endpoint that has finished a run: its newest, and its newest valid one, however
        long ago (an endpoint whose runs all fail lately has no window to show)."""
        with self.uow:
            finished = self.uow.runs.newest_finished_of_each_endpoint()
            valid = {run.endpoint_id: run for run in self.uow.runs.newest_of_each_endpoint()}
            endpoints = {endpoint.id: endpoint for endpoint in self.uow.endpoints.list()}
            llms = {llm.id: llm for llm in self.uow.catalogue.llms()}
        return [
            NewestRuns(
                endpoints[run.endpoint_id], llms[endpoints[run.endpoint_id].llm_id], run, valid.get(run.endpoint_id)
            )
            for run in finished
        ]

    def trend(self, endpoint_name: str, days: int = 7) -> list[TrendPoint]:
        """The endpoint's valid runs of the last `days` outside sweeps (a sweep has its own curve),
        oldest first, whatever their plan."""
        since = self.clock.now() - timedelta(days=days)
        with self.uow:
            endpoint = self._endpoint(endpoint_name)
            runs = self.uow.runs.completed_recent(since, int(bounds.RUNS_READ.high), RunSource.MEASURED, endpoint.id)
            runs = [run for run in runs if run.sweep_id is None]
            metrics = {m.name: m for m in self.uow.catalogue.metrics()}
            ids = [run.id for run in runs if run.id is not None]
            summaries = self.uow.summaries.for_runs(ids, [m.id for m in metrics.values() if m.id]) if ids else []
        by_run: dict[tuple[int, int], MetricSummary] = {(s.run_id, s.metric_id): s for s in summaries}
        points = []
        for run in reversed(runs):
            ttft, tps = (by_run.get((run.id or 0, metrics[source].id or 0)) for source in LATENCIES.values())
            if ttft is None or tps is None:
                continue
            median = Statistic.MEDIAN
            statuses = [latency_status(name, metrics[source], [summary], [])
                        for (name, source), summary in zip(LATENCIES.items(), (ttft, tps), strict=True)]  # fmt: skip
            slo = (run.details or {}).get("slo")
            points.append(TrendPoint(run, plan_key(run.plan), statuses[0].quantiles[median],
                                     statuses[1].quantiles[median], slo["attainment"] if slo else None))  # fmt: skip
        return points

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.uow.endpoints.get_by_name(name)
        if endpoint is None:
            raise NotFound(f"no endpoint is named {name[:100]!r}")
        return endpoint

    def _status(
        self, endpoint: Endpoint, llm: LLM, runs: list[Run], split: datetime, by_run: dict[int, list[MetricSummary]],
        metrics: dict[str, Metric],
    ) -> EndpointStatus:  # fmt: skip
        latest = [r for r in runs if r.finished_at and r.finished_at >= split]
        baseline = [r for r in runs if r.finished_at and r.finished_at < split]
        details = [r.details or {} for r in latest]
        requests = sum(d.get("requests_sent", 0) for d in details)
        errors: Counter[str] = Counter()
        for d in details:
            errors.update(d.get("errors", {}))
        latencies = tuple(
            latency_status(name, metrics[source], _summaries(metrics[source], latest, by_run),
                           _summaries(metrics[source], baseline, by_run))
            for name, source in LATENCIES.items()
        )  # fmt: skip
        return EndpointStatus(
            endpoint=endpoint,
            llm=llm,
            plan=choice(runs),
            runs=len(latest),
            baseline_runs=len(baseline),
            last_finished_at=max(r.finished_at for r in latest if r.finished_at),
            latencies=latencies,
            output_tokens_per_second=sum(d.get("output_tokens_per_second", 0.0) for d in details) / len(details),
            requests=requests,
            error_rates={kind: count / requests for kind, count in sorted(errors.items())} if requests else {},
            slo=slo_attainment(runs[0].plan, details),
        )


def _watched(runs: list[Run], split: datetime) -> dict[int | None, list[Run]]:
    """By endpoint, for each whose newest run finished at `split` or later: its runs (newest first)
    of its watched plan."""
    by_endpoint: dict[int | None, list[Run]] = defaultdict(list)
    for run in runs:  # newest first
        by_endpoint[run.endpoint_id].append(run)
    return {endpoint_id: _of_watched_plan(mine, split) for endpoint_id, mine in by_endpoint.items()
            if mine[0].finished_at is not None and mine[0].finished_at >= split}  # fmt: skip


def _of_watched_plan(runs: list[Run], split: datetime) -> list[Run]:
    """An endpoint's runs (newest first) of the plan of its newest scheduled run in the window:
    schedules say how an endpoint is watched, so a run by hand with another plan (a benchmark or a
    campaign to compare) leaves its status, its alerts and its baseline alone. Without one, the
    plan of its newest run."""
    in_window = (run for run in runs if run.finished_at is not None and run.finished_at >= split)
    watched = next((run for run in in_window if run.requested_by == SCHEDULE.identity), runs[0])
    return by_plan(runs)[plan_key(watched.plan)]


def _summaries(metric: Metric, runs: list[Run], by_run: dict[int, list[MetricSummary]]) -> list[MetricSummary]:
    """The runs' summaries of the metric, oldest first."""
    return [s for run in reversed(runs) for s in by_run.get(run.id or 0, []) if s.metric_id == metric.id]


def latency_status(
    name: str, metric: Metric, latest: list[MetricSummary], baseline: list[MetricSummary]
) -> LatencyStatus:
    """The latest runs' quantiles (pooled, each run a cluster) and, with a baseline, the watched
    ones' changes (services/changes.py). TTFT as it is; ITL from TPS, whose slow tail is ITL's
    upper one: 1 / TPS's statistic, per run and pooled."""
    inverted = metric.direction is Direction.HIGHER_IS_BETTER

    def estimated(stats: PairStatistics, statistic: Statistic) -> Estimated:
        value, interval = stats.value(statistic), stats.confidence_interval(statistic)
        if not inverted:
            return Estimated(value, interval)
        return Estimated(1 / value, Interval(_reciprocal(interval.high), _reciprocal(interval.low)))

    def per_run(summaries: list[MetricSummary], statistic: Statistic) -> list[float]:
        values = [float(getattr(summary, statistic.field)) for summary in summaries]
        return [1 / value for value in values] if inverted else values

    pooled = ranking.combine(metric, latest)
    quantiles = {statistic: estimated(pooled, statistic) for statistic in REPORTED}
    changes = {}
    if baseline:
        before = ranking.combine(metric, baseline)
        tests = len(WATCHED) * len(LATENCIES)  # every latency's watched statistics
        changes = {s: compare_runs(per_run(latest, s), per_run(baseline, s), estimated(before, s), tests)
                   for s in WATCHED}  # fmt: skip
    return LatencyStatus(name, quantiles, changes)


def _reciprocal(value: float | None) -> float | None:
    return None if value is None or value <= 0 else 1 / value


def slo_attainment(plan: dict[str, object], details: list[dict[str, object]]) -> SloAttainment | None:
    """Pooled over the window's runs (good requests over those sent), with a cluster-robust 95%
    interval of that ratio (runs as clusters, normal approximation; open with fewer than 2 runs)."""
    slo = plan.get("slo")
    reports = [(d["slo"], d.get("requests_sent", 0)) for d in details if isinstance(d.get("slo"), dict)]
    if not isinstance(slo, dict) or not reports:
        return None
    good = [float(report["good_requests"]) for report, _ in reports]  # type: ignore[index]
    sent = [float(count) for _, count in reports]  # type: ignore[arg-type]
    total = sum(sent)
    share = sum(good) / total if total else 0.0
    k = len(reports)
    if k < 2 or not total:
        return SloAttainment(share, Interval(None, None), float(slo.get("attainment", 0.95)), int(total))
    spread = sum((g - share * n) ** 2 for g, n in zip(good, sent, strict=True)) * k / (k - 1)
    half = Z_95 * math.sqrt(spread) / total
    return SloAttainment(share, Interval(max(0.0, share - half), min(1.0, share + half)),
                         float(slo.get("attainment", 0.95)), int(total))  # fmt: skip
