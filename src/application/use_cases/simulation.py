"""Simulation runs: queue, execute atomically, schedule, and expire raw samples."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from injector import inject

from src.application.domain import bounds
from src.application.domain.catalogue import load_catalogue
from src.application.domain.errors import Conflict, InvalidParameter, NotFound
from src.application.domain.model import (
    COMMAND_LINE,
    SCHEDULE,
    Caller,
    MetricSummary,
    Role,
    Run,
    RunSource,
    RunStatus,
)
from src.application.domain.rollup import hour_of
from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock
from src.application.ports.repositories import RunFilter
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.ports.telemetry import AbstractTelemetry
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.simulator import draw_llm_samples
from src.application.use_cases.quotas import Quotas, simulation_work
from src.application.use_cases.rankings import LONGEST_WINDOW
from src.application.use_cases.run_lifecycle import Completed, RunLifecycle, store_pair

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (LLMs done, LLMs in all) while a run executes."""


@dataclass(frozen=True)
class SimulationSettings:
    samples_per_pair: int = 1000
    concurrency: int = 16  # the load a run puts on each LLM's deployment unless asked for another
    chunk_size: int = 100_000
    fixed_seed: int | None = None
    retention_days: int = 7
    stale_after: timedelta = timedelta(hours=1)


class SimulationUseCases:
    @inject
    def __init__(
        self,
        uow: AbstractUnitOfWork,
        task_queue: AbstractTaskQueue,
        cache: AbstractCache,
        clock: Clock,
        settings: SimulationSettings,
        telemetry: AbstractTelemetry,
        quotas: Quotas,
    ):
        self.uow = uow
        self.task_queue = task_queue
        self.clock = clock
        self.settings = settings
        self.lifecycle = RunLifecycle(uow, cache, clock, telemetry, quotas)

    def queue(
        self,
        seed: int | None = None,
        samples_per_pair: int | None = None,
        caller: Caller = COMMAND_LINE,
        concurrency: int | None = None,
    ) -> Run:
        """Record a queued run for a worker or `execute` to carry out."""
        run, _ = self._queue(seed, samples_per_pair, None, caller, concurrency)
        return run

    def _queue(
        self,
        seed: int | None,
        samples_per_pair: int | None,
        slot: str | None,
        caller: Caller,
        concurrency: int | None = None,
    ) -> tuple[Run, bool]:
        """The queued run, and whether it is new: a slot names a schedule tick, which makes one run."""
        caller.require(Role.OPERATOR, "starting a simulation")
        samples_per_pair = samples_per_pair or self.settings.samples_per_pair
        bounds.SAMPLES_PER_PAIR.check("samples_per_pair", samples_per_pair)
        concurrency = concurrency or self.settings.concurrency
        bounds.CONCURRENCY.check("concurrency", concurrency)
        if seed is not None:
            bounds.SEED.check("seed", seed)
        run = Run(
            seed=self._choose_seed(seed),
            samples_per_pair=samples_per_pair,
            created_at=self.clock.now(),
            slot=slot,
            requested_by=caller.identity,
            details={"concurrency": concurrency},
        )
        try:
            self.lifecycle.add(run, caller, simulation_work(samples_per_pair))
        except Conflict:
            existing = self._get_by_slot(slot)
            if existing is None:
                raise
            return existing, False
        return run, True

    def request(
        self,
        seed: int | None = None,
        samples_per_pair: int | None = None,
        caller: Caller = COMMAND_LINE,
        concurrency: int | None = None,
    ) -> Run:
        """Queue a run and hand it to the workers; a run that cannot be handed over is failed."""
        run = self.queue(seed, samples_per_pair, caller, concurrency)
        self.lifecycle.hand_over(run, self.task_queue.enqueue_simulation)
        return run

    def tick(self, slot: str) -> Run:
        """What the schedule does at each tick: one queued run per slot, handed to the workers."""
        run, created = self._queue(None, None, slot, SCHEDULE)
        if created:
            self.lifecycle.hand_over(run, self.task_queue.enqueue_simulation)
        return run

    def execute(self, run_id: int, progress: Progress | None = None) -> Run:
        """Run a queued simulation; idempotent: a completed or failed run is returned as it is.

        Samples, summaries and the completed status are committed together, so readers never see
        half a run; a failure rolls all of it back and marks the run failed.
        """
        work = lambda run: Completed(store=lambda locked: self._draw_and_store(locked, progress))  # noqa: E731
        return self.lifecycle.execute(run_id, RunSource.SIMULATED, work, serial=True)

    def run_now(
        self,
        seed: int | None = None,
        samples_per_pair: int | None = None,
        progress: Progress | None = None,
        concurrency: int | None = None,
    ) -> Run:
        run = self.queue(seed, samples_per_pair, concurrency=concurrency)
        assert run.id is not None
        return self.execute(run.id, progress)

    def get(self, run_id: int) -> Run:
        with self.uow:
            return self._get(run_id)

    def list(
        self,
        limit: int,
        offset: int,
        status: RunStatus | None = None,
        endpoint: str | None = None,
        source: RunSource | None = None,
    ) -> tuple[list[Run], int]:
        """A page of runs, newest first, and how many there are (of that status, of that endpoint,
        of that source)."""
        with self.uow:
            endpoint_id = None
            if endpoint is not None:
                named = {e.name: e.id for e in self.uow.endpoints.list()}
                if endpoint not in named:
                    raise InvalidParameter(f"unknown endpoint {endpoint[:100]!r}", choices=sorted(named),
                                           parameter="endpoint")  # fmt: skip
                endpoint_id = named[endpoint]
            only = RunFilter(status, endpoint_id, source)
            return self.uow.runs.list(limit, offset, only), self.uow.runs.count(only)

    def summaries(self, run_id: int) -> dict[str, dict[str, MetricSummary]]:
        """The run's summaries by LLM name, then metric name, in catalogue order."""
        with self.uow:
            self._get(run_id)
            llm_names = {llm.id: llm.name for llm in self.uow.catalogue.llms()}
            metric_names = {metric.id: metric.name for metric in self.uow.catalogue.metrics()}
            table: dict[str, dict[str, MetricSummary]] = {name: {} for name in llm_names.values()}
            for summary in self.uow.summaries.for_runs([run_id]):
                table[llm_names[summary.llm_id]][metric_names[summary.metric_id]] = summary
            return table

    def purge_expired_samples(self) -> int:
        """Drop raw samples and measured requests' timelines older than the retention period
        (summaries stay), and the hourly rollups no window reads any more. Returns the days of
        samples removed."""
        now = self.clock.now()
        cutoff = (now - timedelta(days=self.settings.retention_days)).date()
        with self.uow:
            removed = self.uow.samples.purge_before(cutoff)
            self.uow.timelines.purge_before(cutoff)
            self.uow.rollups.prune_before(hour_of(now - LONGEST_WINDOW))
            self.uow.commit()
        return removed

    def fail_stale_runs(self) -> int:
        """Fail runs queued or running for longer than any run takes: their task was lost."""
        deadline = self.clock.now() - self.settings.stale_after
        with self.uow:
            stale = self.uow.runs.unfinished_before(deadline)
            for run in stale:
                run.fail(self.clock.now(), "abandoned: no worker finished it in time")
            self.uow.commit()
        return len(stale)

    def _draw_and_store(self, run: Run, progress: Progress | None) -> Sequence[MetricSummary]:
        catalogue = load_catalogue()
        llm_ids = {llm.name: llm.id for llm in self.uow.catalogue.llms() if llm.id is not None}
        metrics = {m.name: m for m in self.uow.catalogue.metrics() if m.id is not None}
        missing = [p.llm_name for p in catalogue.profiles if p.llm_name not in llm_ids]
        missing += [m.name for m in catalogue.metrics if m.name not in metrics]
        if missing:
            raise NotFound(f"the catalogue is not seeded (missing {', '.join(missing[:3])}, ...): run `flask seed`")
        assert run.id is not None and run.samples_per_pair is not None  # stored, and simulated
        day = self.clock.now().date()
        n, chunk = run.samples_per_pair, self.settings.chunk_size
        concurrency = (run.details or {}).get("concurrency", 1)  # runs queued before loads had none
        summaries = []
        for position, profile in enumerate(catalogue.profiles):
            llm_id = llm_ids[profile.llm_name]
            drawn = draw_llm_samples(
                profile, catalogue.workload, catalogue.load, catalogue.metrics, run.seed, position, n, concurrency
            )
            for metric_name, values in drawn.by_metric.items():
                summaries.append(store_pair(self.uow, run.id, llm_id, metrics[metric_name], values, day, chunk))
            if progress:
                progress(position + 1, len(catalogue.profiles))
        return summaries

    def _choose_seed(self, seed: int | None) -> int:
        if seed is not None:
            return seed
        if self.settings.fixed_seed is not None:
            return self.settings.fixed_seed
        return bounds.fresh_seed()

    def _get_by_slot(self, slot: str | None) -> Run | None:
        if slot is None:
            return None
        with self.uow:
            return self.uow.runs.get_by_slot(slot)

    def _get(self, run_id: int) -> Run:
        return self.uow.runs.get(run_id) or self._missing(run_id)

    @staticmethod
    def _missing(run_id: int) -> Run:
        raise NotFound(f"run {run_id} does not exist")
