"""The life of a run, simulated or measured, written once.

A run is queued within its caller's quotas, handed to a worker (or failed at once when it cannot
be), started, and then completed, its samples, summaries and the rollups that count it committed
with the completed status in one transaction under the run's row lock, or failed. Completed and
failed are final: a message that arrives late or twice changes nothing. A completed run makes every cached answer stale.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from src.application.domain.errors import NotFound
from src.application.domain.model import Caller, Metric, MetricSummary, Run, RunSource, RunStatus
from src.application.ports.cache import AbstractCache
from src.application.ports.clock import Clock
from src.application.ports.telemetry import AbstractTelemetry
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.plans import series_of
from src.application.services.statistics import summarize
from src.application.use_cases.quotas import Quotas, Work, enforce_quotas

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    """The work succeeded: `store` writes the run's samples (inside the completing transaction,
    with the run's row locked) and returns their summaries, which the lifecycle stores and rolls up."""

    store: Callable[[Run], Sequence[MetricSummary]]
    details: dict[str, Any] | None = None
    invalid: str | None = None  # why its measurements cannot be trusted: kept, but never ranked unasked


@dataclass(frozen=True)
class Failed:
    """The work ended without a result worth storing, for this reason."""

    error: str
    details: dict[str, Any] | None = None


class RunLifecycle:
    """Made by each kind of run's use cases with their own ports: `store` runs in their unit of work."""

    def __init__(
        self,
        uow: AbstractUnitOfWork,
        cache: AbstractCache,
        clock: Clock,
        telemetry: AbstractTelemetry,
        quotas: Quotas,
    ):
        self.uow = uow
        self.cache = cache
        self.clock = clock
        self.telemetry = telemetry
        self.quotas = quotas

    def add(self, run: Run, caller: Caller, asked: Work) -> Run:
        """Records a queued run, within the caller's quotas."""
        with self.uow:
            enforce_quotas(self.uow, caller, self.quotas, run.created_at, asked)
            self.uow.runs.add(run)
            self.uow.commit()
        return run

    def hand_over(self, run: Run, enqueue: Callable[[int], None]) -> None:
        """Gives the run to a worker; a run that cannot be handed over is failed, not left queued."""
        assert run.id is not None
        try:
            enqueue(run.id)
        except Exception as error:
            self._fail(run.id, Failed(described(error)), time.perf_counter())
            raise

    def execute(
        self, run_id: int, source: RunSource, work: Callable[[Run], Completed | Failed], serial: bool = False
    ) -> Run:
        """Starts the run, does its `work`, then completes or fails it; a finished run is returned
        as it is. `serial`: completions of this kind wait for one another (simulations: one
        writes at a time)."""
        run = self.start(run_id, source)
        if run.is_finished:
            return run
        began = time.perf_counter()
        try:
            outcome = work(run)
            if isinstance(outcome, Failed):
                return self._fail(run_id, outcome, began) or run
            return self._complete(run_id, outcome, serial, began)
        except Exception as error:  # a store or client fault: fail the run now, not when the reaper looks
            self._fail(run_id, Failed(described(error)), began)
            raise

    def start(self, run_id: int, source: RunSource) -> Run:
        """Marks a queued run running (a run already running, by another shard of it, stays as it is)."""
        with self.uow:
            run = self.uow.runs.get(run_id)
            if run is None or run.source is not source:
                raise NotFound(f"{'measured ' if source is RunSource.MEASURED else ''}run {run_id} does not exist")
            if run.status is RunStatus.QUEUED:
                run.start(self.clock.now())
                self.uow.commit()
            return run

    def _complete(self, run_id: int, outcome: Completed, serial: bool, began: float) -> Run:
        with self.uow:
            if serial:
                self.uow.runs.lock_simulations()
            run = self.uow.runs.get_for_update(run_id)
            assert run is not None
            if run.is_finished:  # another worker, or the reaper, got here first
                return run
            summaries = outcome.store(run)
            self.uow.summaries.add_all(summaries)
            if outcome.details is not None:
                run.details = outcome.details
            run.complete(self.clock.now(), sum(s.n for s in summaries), outcome.invalid)
            if run.invalid is None:  # windows count valid runs only
                self.uow.rollups.include(series_of(run), run, summaries)
            self.uow.commit()
        self.cache.data_changed()
        self.telemetry.run_finished(RunStatus.COMPLETED, run.sample_count, time.perf_counter() - began)
        return run

    def _fail(self, run_id: int, outcome: Failed, began: float) -> Run | None:
        try:
            with self.uow:
                run = self.uow.runs.get(run_id)
                assert run is not None
                run.fail(self.clock.now(), outcome.error)
                if outcome.details:
                    run.details = {**(run.details or {}), **outcome.details}
                self.uow.commit()
        except Exception:  # the store itself may be what failed; the run stays for the reaper
            log.exception("could not mark run %s failed", run_id)
            return None
        self.cache.data_changed()
        self.telemetry.run_finished(RunStatus.FAILED, 0, time.perf_counter() - began)
        log.warning("run %s failed: %s", run_id, outcome.error)
        return run


def store_pair(
    uow: AbstractUnitOfWork, run_id: int, llm_id: int, metric: Metric, values: np.ndarray, day: date, chunk: int
) -> MetricSummary:
    """Write one pair's values in chunks of `chunk` and return their summary (not yet added)."""
    assert metric.id is not None  # read from the catalogue
    for index, start in enumerate(range(0, values.size, chunk)):
        uow.samples.add_batch(run_id, llm_id, metric.id, index, values[start : start + chunk], day)
    return summarize(run_id, llm_id, metric, values)


def described(error: BaseException) -> str:
    """Why work failed, in a line: a task group's first error rather than the group's summary."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"
