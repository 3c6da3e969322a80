"""Rankings: per metric and overall, over the latest run, one run or a window.

They read one run's summaries, or for a window two hourly rollups per pair (domain/rollup.py),
never raw samples, so their cost does not grow with history; the web adapter caches whole
responses per data version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import Conflict, InvalidParameter, NotFound
from src.application.domain.model import LLM, Endpoint, Metric, MetricSummary, Run, RunSource, RunStatus
from src.application.domain.ranking import (
    DataSelection,
    GroupBy,
    HistoryPoint,
    MetricHistory,
    MetricRanking,
    OverallRanking,
    PairStatistics,
    PlanChoice,
    RankingEntry,
    Scope,
    Statistic,
    Subject,
    Window,
)
from src.application.domain.rollup import SIMULATED, Rollup, Series, hour_of
from src.application.ports.clock import Clock
from src.application.ports.repositories import RunsSince
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services import ranking
from src.application.services.plans import by_plan, choice, describe

LATEST_SIMULATED = Scope()


@dataclass(frozen=True)
class SubjectRuns:
    """A measured subject's runs of one plan on one metric, oldest first."""

    subject: Subject
    metric_id: int
    summaries: tuple[MetricSummary, ...]


@dataclass(frozen=True)
class SubjectWindow:
    """A subject's runs on one metric in a window (two or more), as the sum of its series' rollup
    differences: an LLM's simulated runs, or an endpoint's or an LLM's measured runs of one plan."""

    subject: Subject
    metric_id: int
    runs: Rollup


Piece = MetricSummary | SubjectRuns | SubjectWindow  # a pair's data: one run's, or several runs'

WINDOW_SPANS: dict[Window, timedelta | None] = {
    Window.DAY: timedelta(hours=24),
    Window.THREE_DAYS: timedelta(hours=72),
    Window.WEEK: timedelta(days=7),
    Window.MONTH: timedelta(days=30),
    Window.ALL: None,
}
LONGEST_WINDOW = max(span for span in WINDOW_SPANS.values() if span)  # older rollups: only as a start


class RankingUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork, clock: Clock):
        self.uow = uow
        self.clock = clock

    def rank_metric(
        self, metric_name: str, statistic: Statistic = Statistic.MEAN, scope: Scope = LATEST_SIMULATED
    ) -> MetricRanking:
        with self.uow:
            metric = self._metric(metric_name)
            llms = self._llms()
            assert metric.id is not None  # read from the catalogue
            selection, pieces = self._select(scope, [metric.id], llms)
        source = _source(scope, selection)
        return MetricRanking(metric, statistic, selection, _rank(metric, llms, pieces, statistic), source)

    def rank_overall(
        self,
        method: str = ranking.WIN_RATE,
        weights: dict[str, float] | None = None,
        statistic: Statistic = Statistic.MEAN,
        scope: Scope = LATEST_SIMULATED,
    ) -> OverallRanking:
        if method not in ranking.METHODS:
            raise InvalidParameter(f"unknown method {method!r}", choices=list(ranking.METHODS))
        with self.uow:
            catalogue = self.uow.catalogue.metrics()
            full_weights = metric_weights(weights or {}, [m.name for m in catalogue])
            metrics = [m for m in catalogue if full_weights[m.name] > 0]
            llms = self._llms()
            selection, pieces = self._select(scope, [m.id for m in metrics if m.id is not None], llms)
        by_metric: dict[int | None, list[Piece]] = defaultdict(list)
        for piece in pieces:
            by_metric[piece.metric_id].append(piece)
        source = _source(scope, selection)
        rankings = [
            MetricRanking(m, statistic, selection, _rank(m, llms, by_metric[m.id], statistic), source) for m in metrics
        ]
        entries = ranking.overall(rankings, full_weights) if pieces else ()
        return OverallRanking(method, statistic, full_weights, selection, entries, source)

    def history(
        self,
        metric_name: str,
        statistic: Statistic = Statistic.MEAN,
        window: Window = Window.DAY,
        limit: int = 100,
        source: RunSource = RunSource.SIMULATED,
        plan: str | None = None,
    ) -> MetricHistory:
        """Measured runs of one plan only: the one asked for (none in the period: no points), or
        the only one there is; a line through runs of different plans would move with the plan."""
        if window is Window.LATEST:
            raise InvalidParameter("history needs a period", choices=[w.value for w in WINDOW_SPANS])
        measured = source is RunSource.MEASURED
        with self.uow:
            metric = self._metric(metric_name)
            llms = self._llms()
            if measured:  # the plan's newest runs: runs of other plans in between take none of the limit
                recent = self.uow.runs.completed_recent(self._since(window), int(bounds.HISTORY_RUNS.high), source)
                followed = _of_plan_or_none(plan, recent)[:limit]
            else:
                followed = self.uow.runs.completed_recent(self._since(window), limit, source)
            runs = {run.id: run for run in followed}
            assert metric.id is not None  # read from the catalogue
            values = self.uow.summaries.statistic_by_run([i for i in runs if i is not None], metric.id, statistic)
            if measured:  # a series an endpoint: another's runs alternating with its own would zigzag
                subjects = {e.id: _subject(e, llms, GroupBy.ENDPOINT) for e in self.uow.endpoints.list()}
            else:
                subjects = {llm_id: _llm(llm) for llm_id, llm in llms.items()}
        series: dict[Subject, list[HistoryPoint]] = {subject: [] for subject in subjects.values()}
        for run_id, llm_id, value in sorted(values):
            run = runs[run_id]
            assert run.finished_at is not None
            subject = subjects[run.endpoint_id if measured else llm_id]
            series[subject].append(HistoryPoint(run_id, run.finished_at, value))
        points = {subject: tuple(found) for subject, found in series.items()}
        return MetricHistory(metric, statistic, window, points, choice(followed) if measured and followed else None)

    def metrics(self) -> list[Metric]:
        """The metric catalogue, in its order."""
        with self.uow:
            return self.uow.catalogue.metrics()

    def data_version(self) -> str:
        """What cached answers are kept under: it changes when a run finishes or an LLM is added."""
        with self.uow:
            return self.uow.runs.data_version()

    def recent_runs(self, limit: int, source: RunSource = RunSource.SIMULATED) -> list[tuple[Run, str | None]]:
        """The newest completed runs of a source, for choosing one to rank, each with the name of
        the endpoint it measured (None: simulated)."""
        with self.uow:
            measured = source is RunSource.MEASURED  # simulated runs measure no endpoint
            names = {endpoint.id: endpoint.name for endpoint in self.uow.endpoints.list()} if measured else {}
            return [(run, names.get(run.endpoint_id)) for run in self.uow.runs.completed_recent(None, limit, source)]

    def _select(
        self, scope: Scope, metric_ids: list[int], llms: dict[int | None, LLM]
    ) -> tuple[DataSelection | None, list[Piece]]:
        """The completed runs a ranking covers, and each subject's data (of these metrics at least):
        a run's summary, the rollup of a window's runs, or a measured subject's runs."""
        run = self._asked_run(scope.run_id)
        if RunSource.MEASURED in (scope.source, run and run.source) or scope.campaign_id is not None:
            return self._measured(scope, metric_ids, run, llms)
        if scope.group_by is GroupBy.ENDPOINT:
            raise InvalidParameter("simulated runs have no endpoints: group_by=endpoint ranks measured runs "
                                   "(source=measured)", choices=[GroupBy.LLM.value], parameter="group_by")  # fmt: skip
        if run is not None:
            assert run.id is not None
            return _one_run(run, None), list(self.uow.summaries.for_runs([run.id], metric_ids))
        if scope.window is Window.LATEST:
            latest = self.uow.runs.latest(RunStatus.COMPLETED, scope.source)
            if latest is None or latest.id is None:
                return None, []
            return _one_run(latest, Window.LATEST), list(self.uow.summaries.for_runs([latest.id], metric_ids))
        runs = self.uow.rollups.runs(RunSource.SIMULATED, self._since(scope.window)).get(SIMULATED)
        if runs is None:
            return None, []
        pieces = self._window({SIMULATED: runs}, metric_ids, lambda _, llm_id: _llm(llms[llm_id]))
        return DataSelection(scope.window, runs.number, runs.first, runs.last), pieces

    def _asked_run(self, run_id: int | None) -> Run | None:
        if run_id is None:
            return None
        run = self.uow.runs.get(run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        if run.status is not RunStatus.COMPLETED:
            raise Conflict(f"run {run_id} is {run.status}: rankings use completed runs only")
        return run

    def _measured(
        self, scope: Scope, metric_ids: list[int], run: Run | None, llms: dict[int | None, LLM]
    ) -> tuple[DataSelection | None, list[Piece]]:
        """Measured runs of one plan, each subject's pooled: the run asked for, a campaign's runs,
        each subject's newest run (latest), or a window's runs."""
        if scope.window is not Window.LATEST and run is None and scope.campaign_id is None:
            return self._measured_window(scope, metric_ids, llms)
        runs = self._measured_runs(scope, run)
        if not runs:
            return None, []
        runs = _of_plan(scope.plan, runs)
        endpoints = {e.id: e for e in self.uow.endpoints.list()}
        subjects = {r.id: _subject(endpoints[r.endpoint_id], llms, scope.group_by) for r in runs}
        run_ids = [r.id for r in runs if r.id is not None]
        summaries = self.uow.summaries.for_runs(run_ids, metric_ids)
        finished = [r.finished_at for r in runs if r.finished_at is not None]
        selection = DataSelection(
            None if scope.run_id else scope.window, len(runs), min(finished), max(finished),
            runs[0] if len(runs) == 1 else None, choice(runs), scope.campaign_id,
        )  # fmt: skip
        return selection, _subject_runs(summaries, subjects, run_ids)

    def _measured_runs(self, scope: Scope, run: Run | None) -> list[Run]:
        """The candidates, newest first (valid completed runs only, but for one asked for by id); for
        the latest, one run of each endpoint (an LLM's endpoints are then pooled)."""
        if run is not None:
            return [run]
        if scope.campaign_id is not None:
            if self.uow.campaigns.get(scope.campaign_id) is None:
                raise NotFound(f"campaign {scope.campaign_id} does not exist")
            runs = self.uow.runs.of_campaign(scope.campaign_id)
            return [r for r in reversed(runs) if r.trusted]
        newest = self.uow.runs.newest_of_each_endpoint()  # however many runs of others came since
        if scope.plan is None:
            return newest
        # Each endpoint's newest run of the plan asked for, however long ago: its series' newest.
        series = self.uow.rollups.runs(RunSource.MEASURED).items()
        of_plan = self.uow.runs.get_many([found.run_id for one, found in series if one.plan_key == scope.plan])
        runs = sorted(of_plan, key=lambda r: (r.finished_at, r.id), reverse=True)
        return runs or newest  # none: the plan's refusal lists the plans of each endpoint's newest run

    def _measured_window(
        self, scope: Scope, metric_ids: list[int], llms: dict[int | None, LLM]
    ) -> tuple[DataSelection | None, list[Piece]]:
        """A window's measured runs of one plan, from each endpoint's rollups of that plan: each
        subject's are its endpoints' totals at the end less those before the window, summed."""
        series = self.uow.rollups.runs(RunSource.MEASURED, self._since(scope.window))
        if not series:
            return None, []
        of_plan: dict[str, list[RunsSince]] = defaultdict(list)
        for one, counted in sorted(series.items(), key=lambda item: item[1].last, reverse=True):
            of_plan[one.plan_key].append(counted)
        # Each plan described by its newest run, all read at once.
        described = {r.id: r for r in self.uow.runs.get_many([runs[0].run_id for runs in of_plan.values()])}
        choices = {
            key: PlanChoice(key, describe(described[runs[0].run_id].plan), sum(r.number for r in runs))
            for key, runs in of_plan.items()
        }
        key = _chosen(scope.plan, choices)
        runs = of_plan[key]
        number = sum(r.number for r in runs)
        newest = runs[0]  # each plan's series come newest first
        selection = DataSelection(
            scope.window, number, min(r.first for r in runs), newest.last,
            described[newest.run_id] if number == 1 else None, choices[key],
        )  # fmt: skip
        endpoints = {e.id: e for e in self.uow.endpoints.list()}
        subject_of = lambda series, _: _subject(endpoints[series.endpoint_id], llms, scope.group_by)  # noqa: E731
        of_key = {one: counted for one, counted in series.items() if one.plan_key == key}
        return selection, self._window(of_key, metric_ids, subject_of)

    def _window(
        self, series: Mapping[Series, RunsSince], metric_ids: list[int], subject_of: Callable[[Series, int], Subject]
    ) -> list[Piece]:
        """Each subject's runs in the window on each metric: its series' newest totals less those
        before the window (two rows a pair, whatever the history), summed. A subject with one run
        keeps that run's exact summary."""
        windows: dict[tuple[str, int], tuple[Subject, int, Rollup]] = {}  # each subject is of one LLM
        for (one, llm_id, metric_id), (total, before) in self.uow.rollups.totals(series, metric_ids).items():
            runs = total - before if before is not None else total
            if runs.runs:
                subject = subject_of(one, llm_id)
                held = windows.get((subject.name, metric_id))
                windows[(subject.name, metric_id)] = (subject, llm_id, held[2] + runs if held else runs)
        pieces: list[Piece] = []
        singles: dict[int, list[tuple[Subject, int, int]]] = defaultdict(list)
        for (_, metric_id), (subject, llm_id, runs) in windows.items():
            if runs.runs > 1:
                pieces.append(SubjectWindow(subject, metric_id, runs))
            else:
                singles[runs.last_run_id].append((subject, llm_id, metric_id))
        for run_id, pairs in singles.items():
            summaries = self.uow.summaries.for_runs([run_id], {metric_id for *_, metric_id in pairs})
            found = {(s.llm_id, s.metric_id): s for s in summaries}
            pieces += [
                SubjectRuns(subject, metric_id, (found[llm_id, metric_id],)) for subject, llm_id, metric_id in pairs
            ]
        return pieces

    def _since(self, window: Window) -> datetime | None:
        """Where a window starts: on the hour, so that it is read from hourly rollups."""
        span = WINDOW_SPANS.get(window)
        return hour_of(self.clock.now() - span) if span else None

    def _metric(self, name: str) -> Metric:
        """The catalogue's metric of that name (the catalogue is the database's, seeded from catalogue.json)."""
        metrics = {m.name: m for m in self.uow.catalogue.metrics()}
        if not metrics:
            raise NotFound("the catalogue is empty: run `flask seed`")
        if not name:
            raise InvalidParameter("metric_name is required", choices=list(metrics))
        if name not in metrics:
            raise InvalidParameter(f"unknown metric_name {name[:50]!r}", choices=list(metrics))
        return metrics[name]

    def _llms(self) -> dict[int | None, LLM]:
        return {llm.id: llm for llm in self.uow.catalogue.llms()}


# e2e latency is TTFT plus output tokens over TPS, and a run's RPS is its concurrency over its mean
# e2e latency (the same load for every LLM): weighing them as well would count speed three times.
DEFAULT_WEIGHTS = {"e2e_latency": 0.0, "RPS": 0.0}


def metric_weights(given: dict[str, float], names: list[str]) -> dict[str, float]:
    """Every metric's weight: as given, else DEFAULT_WEIGHTS, else 1; 0 leaves a metric out."""
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InvalidParameter(f"unknown metric in weights: {', '.join(unknown)}", choices=names)
    if any(weight < 0 or weight != weight or weight == float("inf") for weight in given.values()):
        raise InvalidParameter("weights must be finite numbers of 0 or more")
    weights = {name: float(given.get(name, DEFAULT_WEIGHTS.get(name, 1.0))) for name in names}
    if not any(weights.values()):
        raise InvalidParameter("at least one weight must be above 0")
    return weights


def _source(scope: Scope, selection: DataSelection | None) -> RunSource:
    if selection and selection.plan:  # a plan is chosen for measured runs only
        return RunSource.MEASURED
    return selection.run.source if selection and selection.run else scope.source


def _one_run(run: Run, window: Window | None) -> DataSelection:
    return DataSelection(window, 1, run.finished_at, run.finished_at, run)


def _of_plan(asked: str | None, runs: list[Run]) -> list[Run]:
    """The runs of the plan to rank under (`_chosen`)."""
    grouped = by_plan(runs)
    return grouped[_chosen(asked, {key: choice(found) for key, found in grouped.items()})]


def _of_plan_or_none(asked: str | None, runs: list[Run]) -> list[Run]:
    """The runs of the plan asked for, of which there may be none, or of the only plan there is."""
    if asked is None:
        return _of_plan(None, runs) if runs else []
    return by_plan(runs).get(asked, [])


def _chosen(asked: str | None, choices: dict[str, PlanChoice]) -> str:
    """The key of the plan to rank under: the one asked for, or the only one there is; runs of
    several plans measure different things, so they are never pooled."""
    listed = [f"{c.key} ({c.description}; {c.runs} run{'' if c.runs == 1 else 's'})" for c in choices.values()]
    if asked is None and len(choices) > 1:
        raise InvalidParameter(f"these runs have {len(choices)} plans, which are never pooled: choose one with plan",
                               choices=listed, parameter="plan")  # fmt: skip
    key = asked or next(iter(choices))
    if key not in choices:
        raise InvalidParameter(f"no run here has plan {key[:20]!r}", choices=listed, parameter="plan")
    return key


def _subject_runs(
    summaries: list[MetricSummary], subjects: dict[int | None, Subject], run_ids: list[int]
) -> list[Piece]:
    """Each subject's summaries of each metric, in the order their runs finished (run_ids: newest first)."""
    order = {run_id: position for position, run_id in enumerate(reversed(run_ids))}
    by_pair: dict[tuple[str, int], list[MetricSummary]] = defaultdict(list)
    for summary in sorted(summaries, key=lambda s: order[s.run_id]):
        by_pair[(subjects[summary.run_id].name, summary.metric_id)].append(summary)
    return [
        SubjectRuns(subjects[found[0].run_id], metric_id, tuple(found)) for (_, metric_id), found in by_pair.items()
    ]


def _subject(endpoint: Endpoint, llms: dict[int | None, LLM], group_by: GroupBy) -> Subject:
    llm = llms[endpoint.llm_id]
    return Subject(endpoint.name, llm, endpoint.name) if group_by is GroupBy.ENDPOINT else _llm(llm)


def _llm(llm: LLM) -> Subject:
    return Subject(llm.name, llm)


def _rank(
    metric: Metric, llms: dict[int | None, LLM], pieces: Sequence[Piece], statistic: Statistic
) -> tuple[RankingEntry, ...]:
    statistics: dict[str, tuple[Subject, PairStatistics]] = {}
    for piece in pieces:
        subject = _llm(llms[piece.llm_id]) if isinstance(piece, MetricSummary) else piece.subject
        statistics[subject.name] = (subject, _statistics(metric, piece))
    return ranking.rank(metric, statistics, statistic) if statistics else ()


def _statistics(metric: Metric, piece: Piece) -> PairStatistics:
    if isinstance(piece, MetricSummary):
        return ranking.exact(piece)
    if isinstance(piece, SubjectRuns):
        return ranking.combine(metric, piece.summaries)
    return ranking.pooled(metric, piece.runs)  # a window's runs
