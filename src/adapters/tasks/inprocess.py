"""The embedded default's task queue and scheduler: threads in the web process, no broker."""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from celery.schedules import BaseSchedule

from src.application.ports.task_queue import AbstractTaskQueue
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.schedules import MeasurementSchedule, ScheduledMeasurements
from src.application.use_cases.simulation import SimulationUseCases
from src.application.use_cases.sweeps import SweepUseCases

log = logging.getLogger(__name__)


def schedule_slot(now: datetime) -> str:
    """The schedule tick a moment belongs to: ticks are at least a minute apart."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


class InProcessTaskQueue(AbstractTaskQueue):
    """Runs simulations and measurements one at a time on a background thread of this process."""

    def __init__(
        self,
        simulations: Callable[[], SimulationUseCases],
        benchmarks: Callable[[], BenchmarkUseCases],
        sweeps: Callable[[], SweepUseCases],
        campaigns: Callable[[], CampaignUseCases],
    ):
        self.simulations = simulations
        self.benchmarks = benchmarks
        self.sweeps = sweeps
        self.campaigns = campaigns
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulate")
        self.pending: list[Future[None]] = []

    def enqueue_simulation(self, run_id: int) -> None:
        self._submit(lambda: self.simulations().execute(run_id), run_id)

    def enqueue_benchmark(self, run_id: int) -> None:
        self._submit(lambda: self.benchmarks().execute(run_id), run_id)

    def enqueue_benchmark_shards(self, run_id: int, shards: int, start_at: float) -> None:
        # One process is one worker: its shards would share one interpreter, so the run goes whole.
        self.enqueue_benchmark(run_id)

    def enqueue_sweep(self, sweep_id: int) -> None:
        self._submit(lambda: self.sweeps().execute(sweep_id), sweep_id)

    def enqueue_campaign(self, campaign_id: int) -> None:
        self._submit(lambda: self.campaigns().execute(campaign_id), campaign_id)

    def _submit(self, work: Callable[[], object], work_id: int) -> None:
        self.pending = [f for f in self.pending if not f.done()]
        self.pending.append(self.executor.submit(self._execute, work, work_id))

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait for the runs handed over so far (tests, and a clean shutdown)."""
        wait(self.pending, timeout=timeout)

    @staticmethod
    def _execute(work: Callable[[], object], work_id: int) -> None:
        try:
            work()
        except Exception:
            log.exception("run, sweep or campaign %s failed", work_id)


@dataclass
class Job:
    """What the in-process scheduler fires, and when it last did."""

    name: str
    schedule: BaseSchedule
    fire: Callable[[datetime], None]
    last_run_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class InProcessScheduler(threading.Thread):
    """Fires the schedules inside the web process, like Celery beat would: the simulations', and
    each measurement schedule's (after its jitter, on a timer of its own)."""

    def __init__(
        self,
        schedule: BaseSchedule,
        simulations: Callable[[], SimulationUseCases],
        measurements: Sequence[tuple[MeasurementSchedule, BaseSchedule]] = (),
        scheduled: Callable[[], ScheduledMeasurements] | None = None,
    ):
        super().__init__(name="scheduler", daemon=True)
        self.simulations = simulations
        self.scheduled = scheduled
        self.jobs = [Job("simulation", schedule, self._simulate)]
        self.jobs += [Job(m.name, due, functools.partial(self._measure, m)) for m, due in measurements]
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            waits = []
            for job in self.jobs:
                due, next_in = job.schedule.is_due(job.last_run_at)
                if due:
                    job.last_run_at = datetime.now(UTC)
                    job.fire(job.last_run_at)
                waits.append(next_in)
            self.stopped.wait(max(1.0, min(*waits, 60.0)))

    def _simulate(self, now: datetime) -> None:
        try:
            use_cases = self.simulations()
            use_cases.tick(schedule_slot(now))
            use_cases.purge_expired_samples()
            use_cases.fail_stale_runs()
        except Exception:
            log.exception("scheduled simulation failed")

    def _measure(self, schedule: MeasurementSchedule, _: datetime) -> None:
        def fire() -> None:
            try:
                assert self.scheduled is not None  # given with the measurement schedules
                self.scheduled().fire(schedule)
            except Exception:
                log.exception("scheduled measurement %s failed", schedule.name)

        timer = threading.Timer(schedule.delay(random.Random()), fire)  # nosec B311: a delay, not a secret
        timer.daemon = True
        timer.start()
