"""Celery tasks: thin wrappers that take ids, find a use case in the injector and call it."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from celery import Celery, Task, chord, group, shared_task
from flask import current_app
from kombu import Producer
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import DBAPIError

from src.adapters.tasks.inprocess import schedule_slot
from src.application.domain.errors import ServiceUnavailable
from src.application.domain.model import Run
from src.application.ports.task_queue import AbstractTaskQueue
from src.application.services.shards import Shard, ShardResult
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.schedules import MeasurementSchedule, ScheduledMeasurements
from src.application.use_cases.simulation import SimulationUseCases
from src.application.use_cases.sweeps import SweepUseCases

T = TypeVar("T")


def _get(cls: type[T]) -> T:
    return current_app.extensions["injector"].get(cls)


# What both kinds of run need: a worker that dies mid-run leaves the message for another
# (acks late), database errors are retried with backoff, and a run has soft and hard time limits.
RUN_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (DBAPIError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


@shared_task(name="jounce.simulate", soft_time_limit=600, time_limit=660, **RUN_TASK)
def simulate(run_id: int) -> dict[str, object]:
    return _outcome(_get(SimulationUseCases).execute(run_id))


@shared_task(name="jounce.benchmark", soft_time_limit=3600, time_limit=3660, **RUN_TASK)
def benchmark(run_id: int) -> dict[str, object]:
    return _outcome(_get(BenchmarkUseCases).execute(run_id))


# A run split across workers: its shards as one group, each measuring its share on a worker of its
# own, and a chord callback merging what they measured into the run.
@shared_task(name="jounce.benchmark_shard", bind=True, soft_time_limit=3600, time_limit=3660, **RUN_TASK)
def benchmark_shard(task: Task, run_id: int, index: int, count: int, start_at: float) -> dict[str, Any]:
    worker = f"{task.request.hostname or 'worker'}/{os.getpid()}"  # a worker's processes each take shards
    return _get(BenchmarkUseCases).measure_shard(run_id, Shard(index, count, start_at), worker).as_message()


@shared_task(name="jounce.benchmark_merge", soft_time_limit=600, time_limit=660, **RUN_TASK)
def benchmark_merge(results: list[dict[str, Any]], run_id: int) -> dict[str, object]:
    return _outcome(_get(BenchmarkUseCases).merge_shards(run_id, [ShardResult.of_message(r) for r in results]))


# A sweep runs its stages one after another: at most SWEEP_STAGES runs of a run's time limit.
@shared_task(name="jounce.sweep", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 60, **RUN_TASK)
def sweep(sweep_id: int) -> dict[str, object]:
    report = _get(SweepUseCases).execute(sweep_id)
    return {"sweep_id": sweep_id, "status": str(report.sweep.status), "stages": len(report.stages)}


# A campaign's endpoints are measured side by side: as long as one run.
@shared_task(name="jounce.campaign", soft_time_limit=3600, time_limit=3660, **RUN_TASK)
def campaign(campaign_id: int) -> dict[str, object]:
    report = _get(CampaignUseCases).execute(campaign_id)
    return {"campaign_id": campaign_id, "status": str(report.status), "runs": [run.id for run in report.runs]}


def _outcome(run: Run) -> dict[str, object]:
    return {"run_id": run.id, "status": str(run.status), "sample_count": run.sample_count}


@shared_task(name="jounce.scheduled_measurement", ignore_result=True)
def scheduled_measurement(name: str) -> None:
    """Beat's: a measurement schedule fires; its measurement is queued after the schedule's jitter
    (a countdown: the broker holds it, no worker waits)."""
    schedule = _measurement_schedule(name)
    delay = schedule.delay(random.Random())  # nosec B311: a delay, not a secret
    if delay:
        measure_on_schedule.apply_async((name,), countdown=delay)
    else:
        measure_on_schedule.run(name)


@shared_task(name="jounce.measure_on_schedule", ignore_result=True)
def measure_on_schedule(name: str) -> None:
    _get(ScheduledMeasurements).fire(_measurement_schedule(name))


def _measurement_schedule(name: str) -> MeasurementSchedule:
    """The schedule of that name, as this process's settings hold it (MEASUREMENT_SCHEDULES)."""
    schedules = {s.name: s for s in current_app.extensions["settings"].measurement_schedules}
    return schedules[name]


@shared_task(name="jounce.scheduled_simulation", ignore_result=True)
def scheduled_simulation() -> None:
    _get(SimulationUseCases).tick(schedule_slot(datetime.now(UTC)))


@shared_task(name="jounce.maintenance", ignore_result=True)
def maintenance() -> None:
    simulations = _get(SimulationUseCases)
    simulations.purge_expired_samples()
    simulations.fail_stale_runs()


class CeleryTaskQueue(AbstractTaskQueue):
    def __init__(self, celery: Celery):
        self.celery = celery

    def enqueue_simulation(self, run_id: int) -> None:
        self._send(simulate.name, run_id)

    def enqueue_benchmark(self, run_id: int) -> None:
        self._send(benchmark.name, run_id)

    def enqueue_sweep(self, sweep_id: int) -> None:
        self._send(sweep.name, sweep_id)

    def enqueue_campaign(self, campaign_id: int) -> None:
        self._send(campaign.name, campaign_id)

    def enqueue_benchmark_shards(self, run_id: int, shards: int, start_at: float) -> None:
        with self._producer() as producer:
            parts = group(benchmark_shard.s(run_id, index, shards, start_at) for index in range(shards))
            chord(parts)(benchmark_merge.s(run_id), producer=producer)

    def _send(self, task: str, run_id: int) -> None:
        with self._producer() as producer:
            self.celery.send_task(task, args=(run_id,), producer=producer, retry=False)

    @contextmanager
    def _producer(self) -> Iterator[Producer]:
        # With the broker down, answer now (503) instead of blocking the request: one attempt to
        # connect (kombu would retry for twice the connect timeout), and no retry to publish.
        try:
            with self.celery.producer_pool.acquire(block=True) as producer:
                producer.connection.ensure_connection(max_retries=0)
                yield producer
        except BrokerError as error:
            raise ServiceUnavailable("the task broker cannot be reached") from error
