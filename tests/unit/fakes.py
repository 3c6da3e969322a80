"""In-memory stand-ins for the ports, for unit tests of the core only."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from src.application.domain.errors import Conflict
from src.application.domain.model import (
    LLM,
    ApiKey,
    Campaign,
    Endpoint,
    Metric,
    MetricSummary,
    Run,
    RunSource,
    RunStatus,
    Sweep,
    User,
)
from src.application.domain.ranking import Statistic
from src.application.domain.rollup import Rollup, Series, counting, hour_of
from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock
from src.application.ports.repositories import (
    EVERY_RUN,
    AbstractApiKeyRepository,
    AbstractCampaignRepository,
    AbstractCatalogueRepository,
    AbstractEndpointRepository,
    AbstractPromptSetRepository,
    AbstractRollupRepository,
    AbstractRunRepository,
    AbstractSampleRepository,
    AbstractSummaryRepository,
    AbstractSweepRepository,
    AbstractTimelineRepository,
    AbstractUserRepository,
    RunFilter,
    RunsSince,
)
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.use_cases.catalogue import CatalogueUseCases


class FixedClock(Clock):
    def __init__(self, moment: datetime = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@dataclass
class Store:
    """What the fake database holds; a unit of work works on a copy until it commits."""

    llms: list[LLM] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    runs: dict[int, Run] = field(default_factory=dict)
    summaries: list[MetricSummary] = field(default_factory=list)
    samples: list[tuple[int, int, int, int, date, np.ndarray]] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    rollups: dict[tuple[Series, int, int], dict[datetime, Rollup]] = field(default_factory=dict)
    run_counts: list[tuple[Series, datetime, int]] = field(default_factory=list)  # a completion each: its run id
    timelines: dict[int, tuple[date, list[dict[str, Any]]]] = field(default_factory=dict)
    prompt_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sweeps: dict[int, Sweep] = field(default_factory=dict)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    simulation_locks: int = 0  # completions that waited for the other simulations'

    def copy(self) -> Store:
        return Store(
            llms=list(self.llms),
            metrics=list(self.metrics),
            runs={k: replace(v) for k, v in self.runs.items()},
            summaries=list(self.summaries),
            samples=list(self.samples),
            users=list(self.users),
            api_keys=list(self.api_keys),
            endpoints=list(self.endpoints),
            rollups={pair: dict(rows) for pair, rows in self.rollups.items()},
            run_counts=list(self.run_counts),
            timelines=dict(self.timelines),
            prompt_sets=dict(self.prompt_sets),
            sweeps={k: replace(v) for k, v in self.sweeps.items()},
            campaigns=dict(self.campaigns),
            simulation_locks=self.simulation_locks,
        )


def new_id(row: Any, ids: itertools.count) -> int:
    """The next id, for a row that has none yet: as the database, which refuses a row that comes
    with one (a primary key it did not make)."""
    if row.id is not None:
        raise ValueError(f"a new {type(row).__name__} already has the id {row.id!r}")
    return next(ids)


class FakeCatalogueRepository(AbstractCatalogueRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def llms(self) -> list[LLM]:
        return list(self.store.llms)

    def metrics(self) -> list[Metric]:
        return list(self.store.metrics)

    def add(self, item: LLM | Metric) -> None:
        item.id = new_id(item, self.ids)
        (self.store.llms if isinstance(item, LLM) else self.store.metrics).append(item)


class FakeRunRepository(AbstractRunRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, run: Run) -> None:
        if run.slot is not None and any(r.slot == run.slot for r in self.store.runs.values()):
            raise Conflict(f"slot {run.slot} is taken")
        run.id = new_id(run, self.ids)
        self.store.runs[run.id] = run

    def get(self, run_id: int) -> Run | None:
        return self.store.runs.get(run_id)

    def get_many(self, run_ids: Collection[int]) -> list[Run]:
        return [self.store.runs[run_id] for run_id in run_ids if run_id in self.store.runs]

    def get_for_update(self, run_id: int) -> Run | None:
        return self.get(run_id)

    def of_sweep(self, sweep_id: int) -> list[Run]:
        return sorted((r for r in self.store.runs.values() if r.sweep_id == sweep_id), key=lambda r: r.id or 0)

    def of_campaign(self, campaign_id: int) -> list[Run]:
        return sorted((r for r in self.store.runs.values() if r.campaign_id == campaign_id), key=lambda r: r.id or 0)

    def lock_simulations(self) -> None:
        self.store.simulation_locks += 1

    def get_by_slot(self, slot: str) -> Run | None:
        return next((r for r in self.store.runs.values() if r.slot == slot), None)

    def unfinished_count(self, requested_by: Collection[str]) -> int:
        return sum(1 for r in self.store.runs.values() if r.requested_by in requested_by and not r.is_finished)

    def requested_since(self, requested_by: Collection[str], since: datetime) -> list[Run]:
        return [r for r in self.store.runs.values() if r.requested_by in requested_by and r.created_at >= since]

    def latest(self, status: RunStatus, source: RunSource | None = None) -> Run | None:
        matching = [
            r for r in self.store.runs.values() if r.status is status and source in (None, r.source) and not r.invalid
        ]
        return max(matching, key=lambda r: (r.finished_at or r.created_at, r.id or 0), default=None)

    def list(self, limit: int, offset: int, only: RunFilter = EVERY_RUN) -> list[Run]:
        runs = sorted(self._filtered(only), key=lambda r: -(r.id or 0))
        return runs[offset : offset + limit]

    def count(self, only: RunFilter = EVERY_RUN) -> int:
        return len(self._filtered(only))

    def _filtered(self, only: RunFilter) -> list[Run]:
        return [r for r in self.store.runs.values()
                if only.status in (None, r.status) and only.endpoint_id in (None, r.endpoint_id)
                and only.source in (None, r.source)]  # fmt: skip

    def data_version(self) -> str:
        finished = [r for r in self.store.runs.values() if r.is_finished]
        last = max((r.finished_at for r in finished if r.finished_at), default=None)
        return f"{len(finished)}.{last}.{len(self.store.llms)}"

    @staticmethod
    def _outside_sweeps(runs: Iterable[Run]) -> list[Run]:
        return [run for run in runs if run.sweep_id is None]

    def _completed(self, since: datetime | None, source: RunSource | None = None) -> list[Run]:
        runs = [
            r
            for r in self.store.runs.values()
            if r.status is RunStatus.COMPLETED
            and not r.invalid
            and (since is None or (r.finished_at and r.finished_at >= since))
            and source in (None, r.source)
        ]
        return sorted(runs, key=lambda r: (r.finished_at, r.id or 0), reverse=True)

    def completed_recent(
        self, since: datetime | None, limit: int, source: RunSource | None = None, endpoint_id: int | None = None
    ) -> list[Run]:
        runs = self._completed(since, source)
        return [r for r in runs if endpoint_id is None or r.endpoint_id == endpoint_id][:limit]

    def recent_of_each_endpoint(self, since: datetime, limit: int) -> list[Run]:
        seen: Counter[int | None] = Counter()
        recent = []
        for run in self._outside_sweeps(self._completed(since, RunSource.MEASURED)):  # newest first
            seen[run.endpoint_id] += 1
            if seen[run.endpoint_id] <= limit:
                recent.append(run)
        return recent

    def newest_of_each_endpoint(self) -> list[Run]:
        runs = self._outside_sweeps(self._completed(None, RunSource.MEASURED))  # newest first
        newest = {r.endpoint_id: r for r in reversed(runs)}
        return [r for r in runs if newest[r.endpoint_id] is r]

    def newest_finished_of_each_endpoint(self) -> list[Run]:
        finished = [r for r in self._outside_sweeps(self.store.runs.values()) if r.endpoint_id and r.finished_at]
        finished.sort(key=lambda r: (r.finished_at, r.id or 0), reverse=True)  # newest first
        newest = {r.endpoint_id: r for r in reversed(finished)}
        return [r for r in finished if newest[r.endpoint_id] is r]

    def unfinished_before(self, deadline: datetime) -> list[Run]:
        return [
            r
            for r in self.store.runs.values()
            if r.status in (RunStatus.QUEUED, RunStatus.RUNNING) and r.created_at < deadline
        ]


class FakeSummaryRepository(AbstractSummaryRepository):
    def __init__(self, store: Store):
        self.store = store

    def add_all(self, summaries: Sequence[MetricSummary]) -> None:
        self.store.summaries.extend(summaries)

    def for_runs(self, run_ids: Collection[int], metric_ids: Collection[int] | None = None) -> list[MetricSummary]:
        return [
            s for s in self.store.summaries if s.run_id in run_ids and (metric_ids is None or s.metric_id in metric_ids)
        ]

    def statistic_by_run(
        self, run_ids: Sequence[int], metric_id: int, statistic: Statistic
    ) -> list[tuple[int, int, float]]:
        return [
            (s.run_id, s.llm_id, float(getattr(s, statistic.field)))
            for s in self.store.summaries
            if s.run_id in run_ids and s.metric_id == metric_id
        ]


class FakeRollupRepository(AbstractRollupRepository):
    def __init__(self, store: Store):
        self.store = store

    def include(self, series: Series, run: Run, summaries: Sequence[MetricSummary]) -> None:
        assert run.finished_at is not None and run.id is not None
        hour = hour_of(run.finished_at)
        later = sorted({hour_of(at) for of, at, _ in self.store.run_counts if of == series and hour_of(at) > hour})
        before = {}
        for (of, llm_id, metric_id), rows in self.store.rollups.items():
            earlier = [at for at in rows if at < hour]
            if of == series and earlier:
                before[(llm_id, metric_id)] = rows[max(earlier)]
        counted = {(summary.llm_id, summary.metric_id): Rollup.of(summary) for summary in summaries}
        for pair in counted.keys() | before.keys():
            rows = self.store.rollups.setdefault((series, *pair), {})
            since = {at: row for at, row in rows.items() if at >= hour}
            rows.update(counting(counted.get(pair), [hour, *later], before.get(pair), since))
        self.store.run_counts.append((series, run.finished_at, run.id))

    def runs(self, source: RunSource, since: datetime | None = None) -> dict[Series, RunsSince]:
        found: dict[Series, RunsSince] = {}
        start: dict[Series, datetime] = {}  # each series' last run hour before the window
        for series, finished, run_id in sorted(self.store.run_counts, key=lambda count: count[1]):
            if series.source is not source:
                continue
            if since is not None and finished < since:
                start[series] = hour_of(finished)
            else:
                number, first = found[series][:2] if series in found else (0, finished)
                found[series] = RunsSince(number + 1, first, finished, run_id, hour_of(finished), None)
        return {series: runs._replace(start_hour=start.get(series)) for series, runs in found.items()}

    def prune_before(self, hour: datetime) -> int:
        pruned = 0
        for rows in self.store.rollups.values():
            earlier = sorted(at for at in rows if at < hour)
            for at in earlier[:-1]:
                del rows[at]
                pruned += 1
        return pruned  # run counts are kept as completions here: nothing to prune

    def totals(
        self, series: Mapping[Series, RunsSince], metric_ids: Collection[int] | None = None
    ) -> dict[tuple[Series, int, int], tuple[Rollup, Rollup | None]]:
        found = {}
        for (one, llm_id, metric_id), rows in self.store.rollups.items():
            runs = series.get(one)
            if runs and runs.newest_hour in rows and (metric_ids is None or metric_id in metric_ids):
                before = rows.get(runs.start_hour) if runs.start_hour else None
                found[(one, llm_id, metric_id)] = (rows[runs.newest_hour], before)
        return found


class FakeSampleRepository(AbstractSampleRepository):
    def __init__(self, store: Store, fail_after: int | None = None):
        self.store = store
        self.fail_after = fail_after

    def add_batch(
        self, run_id: int, llm_id: int, metric_id: int, chunk: int, values: np.ndarray, recorded_on: date
    ) -> None:
        if self.fail_after is not None and len(self.store.samples) >= self.fail_after:
            raise OSError("disk full")
        self.store.samples.append((run_id, llm_id, metric_id, chunk, recorded_on, values.copy()))

    def count(self, run_id: int | None = None) -> int:
        return sum(s[5].size for s in self.store.samples if run_id is None or s[0] == run_id)

    def values(self, run_id: int, llm_id: int, metric_id: int) -> np.ndarray:
        chunks = sorted((s[3], s[5]) for s in self.store.samples if s[:3] == (run_id, llm_id, metric_id))
        return np.concatenate([c[1] for c in chunks]) if chunks else np.empty(0)

    def purge_before(self, day: date) -> int:
        expired = {s[4] for s in self.store.samples if s[4] < day}
        self.store.samples[:] = [s for s in self.store.samples if s[4] >= day]
        return len(expired)


class FakeTimelineRepository(AbstractTimelineRepository):
    def __init__(self, store: Store):
        self.store = store

    def add(self, run_id: int, records: list[dict[str, Any]], recorded_on: date) -> None:
        self.store.timelines[run_id] = (recorded_on, records)

    def get(self, run_id: int) -> list[dict[str, Any]] | None:
        return self.store.timelines[run_id][1] if run_id in self.store.timelines else None

    def purge_before(self, day: date) -> int:
        expired = [run_id for run_id, (recorded_on, _) in self.store.timelines.items() if recorded_on < day]
        for run_id in expired:
            del self.store.timelines[run_id]
        return len(expired)


class FakePromptSetRepository(AbstractPromptSetRepository):
    def __init__(self, store: Store):
        self.store = store

    def add(self, digest: str, prompts: tuple[str, ...]) -> None:
        self.store.prompt_sets.setdefault(digest, prompts)

    def get(self, digest: str) -> tuple[str, ...] | None:
        return self.store.prompt_sets.get(digest)


class FakeEndpointRepository(AbstractEndpointRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, endpoint: Endpoint) -> None:
        if self.get_by_name(endpoint.name):
            raise Conflict(f"{endpoint.name} is taken")
        endpoint.id = new_id(endpoint, self.ids)
        self.store.endpoints.append(endpoint)

    def get(self, endpoint_id: int) -> Endpoint | None:
        return next((e for e in self.store.endpoints if e.id == endpoint_id), None)

    def get_by_name(self, name: str) -> Endpoint | None:
        return next((e for e in self.store.endpoints if e.name == name), None)

    def list(self) -> list[Endpoint]:
        return sorted(self.store.endpoints, key=lambda e: e.name)

    def remove(self, endpoint: Endpoint) -> None:
        referring = [r for r in self.store.runs.values() if r.endpoint_id == endpoint.id]
        if referring or any(s.endpoint_id == endpoint.id for s in self.store.sweeps.values()):
            raise Conflict(f"runs refer to endpoint {endpoint.id}")  # as the database's foreign keys
        self.store.endpoints.remove(endpoint)


class FakeUserRepository(AbstractUserRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, user: User) -> None:
        if self.get_by_email(user.email):
            raise Conflict(f"{user.email} is taken")
        user.id = new_id(user, self.ids)
        self.store.users.append(user)

    def get(self, user_id: int) -> User | None:
        return next((u for u in self.store.users if u.id == user_id), None)

    def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.store.users if u.email == email), None)

    def list(self) -> list[User]:
        return list(self.store.users)


class FakeApiKeyRepository(AbstractApiKeyRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, key: ApiKey) -> None:
        key.id = new_id(key, self.ids)
        self.store.api_keys.append(key)

    def get(self, key_id: int) -> ApiKey | None:
        return next((k for k in self.store.api_keys if k.id == key_id), None)

    def for_user(self, user_id: int) -> list[ApiKey]:
        return sorted((k for k in self.store.api_keys if k.user_id == user_id), key=lambda k: -(k.id or 0))

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self.store.api_keys if k.key_hash == key_hash), None)

    def list(self) -> list[ApiKey]:
        return sorted(self.store.api_keys, key=lambda k: -(k.id or 0))


class FakeSweepRepository(AbstractSweepRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, sweep: Sweep) -> None:
        sweep.id = new_id(sweep, self.ids)
        self.store.sweeps[sweep.id] = sweep

    def get(self, sweep_id: int) -> Sweep | None:
        return self.store.sweeps.get(sweep_id)

    def of_endpoint(self, endpoint_id: int, limit: int) -> list[Sweep]:
        mine = [s for s in self.store.sweeps.values() if s.endpoint_id == endpoint_id]
        return sorted(mine, key=lambda s: -(s.id or 0))[:limit]


class FakeCampaignRepository(AbstractCampaignRepository):
    def __init__(self, store: Store, ids: itertools.count):
        self.store, self.ids = store, ids

    def add(self, campaign: Campaign) -> None:
        campaign.id = new_id(campaign, self.ids)
        self.store.campaigns[campaign.id] = campaign

    def get(self, campaign_id: int) -> Campaign | None:
        return self.store.campaigns.get(campaign_id)


class FakeUnitOfWork(AbstractUnitOfWork):
    """Works on a copy of the store; commit() publishes it, anything else discards it."""

    def __init__(self, fail_samples_after: int | None = None):
        self.store = Store()
        self.ids = itertools.count(1)
        self.commits = 0
        self.fail_samples_after = fail_samples_after

    @property
    def committed(self) -> bool:
        return self.commits > 0

    def __enter__(self) -> FakeUnitOfWork:
        self.pending = self.store.copy()
        self.catalogue = FakeCatalogueRepository(self.pending, self.ids)
        self.endpoints = FakeEndpointRepository(self.pending, self.ids)
        self.runs = FakeRunRepository(self.pending, self.ids)
        self.sweeps = FakeSweepRepository(self.pending, self.ids)
        self.campaigns = FakeCampaignRepository(self.pending, self.ids)
        self.summaries = FakeSummaryRepository(self.pending)
        self.rollups = FakeRollupRepository(self.pending)
        self.samples = FakeSampleRepository(self.pending, self.fail_samples_after)
        self.timelines = FakeTimelineRepository(self.pending)
        self.prompt_sets = FakePromptSetRepository(self.pending)
        self.users = FakeUserRepository(self.pending, self.ids)
        self.api_keys = FakeApiKeyRepository(self.pending, self.ids)
        return self

    def commit(self) -> None:
        self.store = self.pending
        self.commits += 1
        self.pending = self.store.copy()
        self._rebind()

    def _rebind(self) -> None:
        for repository in (
            self.catalogue,
            self.endpoints,
            self.runs,
            self.sweeps,
            self.campaigns,
            self.summaries,
            self.rollups,
            self.samples,
            self.timelines,
            self.users,
            self.api_keys,
        ):
            repository.store = self.pending

    def rollback(self) -> None:
        self.pending = self.store.copy()
        self._rebind()

    def ping(self) -> None:
        pass


class FakeCache(AbstractCache):
    def __init__(self) -> None:
        self.changes = 0

    def data_changed(self) -> None:
        self.changes += 1

    def ping(self) -> None:
        pass


class FakeTaskQueue(AbstractTaskQueue):
    def __init__(self, fail: Exception | None = None) -> None:
        self.enqueued: list[int] = []
        self.shards: list[tuple[int, int, float]] = []  # (run, shards, start) of runs split across workers
        self.fail = fail

    def enqueue_simulation(self, run_id: int) -> None:
        if self.fail:
            raise self.fail
        self.enqueued.append(run_id)

    def enqueue_benchmark(self, run_id: int) -> None:
        self.enqueue_simulation(run_id)

    def enqueue_benchmark_shards(self, run_id: int, shards: int, start_at: float) -> None:
        self.enqueue_simulation(run_id)
        self.shards.append((run_id, shards, start_at))

    def enqueue_sweep(self, sweep_id: int) -> None:
        self.enqueue_simulation(sweep_id)

    def enqueue_campaign(self, campaign_id: int) -> None:
        self.enqueue_simulation(campaign_id)


def seeded_uow(**kwargs: Any) -> FakeUnitOfWork:
    """A fake unit of work holding the catalogue, as `flask seed` leaves a database."""
    uow = FakeUnitOfWork(**kwargs)
    CatalogueUseCases(uow, FakeCache()).seed()
    return uow
