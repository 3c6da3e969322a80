"""The embedded default's task queue and scheduler: threads in the web process, no broker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from celery.schedules import BaseSchedule

from src.application.ports.task_queue import AbstractTaskQueue
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
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


class InProcessScheduler(threading.Thread):
    """Fires the simulation schedule inside the web process, like Celery beat would."""

    def __init__(self, schedule: BaseSchedule, simulations: Callable[[], SimulationUseCases]):
        super().__init__(name="scheduler", daemon=True)
        self.schedule = schedule
        self.simulations = simulations
        self.stopped = threading.Event()

    def run(self) -> None:
        last_run_at = datetime.now(UTC)
        while not self.stopped.is_set():
            due, next_in = self.schedule.is_due(last_run_at)
            if due:
                last_run_at = datetime.now(UTC)
                self._tick(last_run_at)
            self.stopped.wait(max(1.0, min(next_in, 60.0)))

    def _tick(self, now: datetime) -> None:
        try:
            use_cases = self.simulations()
            use_cases.tick(schedule_slot(now))
            use_cases.purge_expired_samples()
            use_cases.fail_stale_runs()
        except Exception:
            log.exception("scheduled simulation failed")
