"""The Celery app: configured from the Flask app's settings, every task in a Flask app context."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task, signals
from flask import Flask

from src.adapters.telemetry.prometheus import start_metrics_server
from src.infrastructure.schedule import parse_schedule
from src.infrastructure.settings import Settings


def create_celery(flask_app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.celery_broker_url,
        result_backend=settings.celery_result_backend,
        timezone="UTC",
        enable_utc=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_default_queue=settings.celery_queue,
        # Measured runs wait on remote endpoints for up to BENCHMARK_MAX_DURATION_SECONDS: they
        # have workers of their own, so a long one never holds up the schedule's simulations.
        task_routes={
            name: {"queue": settings.celery_benchmark_queue}
            for name in (
                "jounce.benchmark",
                "jounce.benchmark_shard",
                "jounce.benchmark_merge",
                "jounce.sweep",
                "jounce.campaign",
            )
        },
        # A message a worker took but never acknowledged (the worker died) goes back to the queue
        # after this long; keep it above the task time limit, or long runs are delivered twice.
        broker_transport_options={
            "socket_connect_timeout": 3,
            "socket_timeout": 5,
            "visibility_timeout": settings.celery_visibility_timeout,
            # Look for such messages at every poll, not every tenth: a dead worker's run resumes
            # about a visibility timeout after it died.
            "unacked_restore_throttle": 1,
        },
        result_expires=3600,
        worker_hijack_root_logger=False,  # keep the JSON logs configured by create_app
        beat_schedule={
            "simulate": {
                "task": "jounce.scheduled_simulation",
                "schedule": parse_schedule(settings.simulation_schedule),
            },
            "maintenance": {"task": "jounce.maintenance", "schedule": 3600.0},
        },
    )
    for scheduled in settings.measurement_schedules:
        celery.conf.beat_schedule[f"measure:{scheduled.name}"] = {
            "task": "jounce.scheduled_measurement",
            "schedule": parse_schedule(scheduled.schedule),
            "args": (scheduled.name,),
        }
    celery.set_default()
    _serve_worker_metrics(settings.worker_metrics_port)
    flask_app.extensions["celery"] = celery
    import src.adapters.tasks.celery_tasks  # noqa: F401  (registers the tasks)

    return celery


def _serve_worker_metrics(port: int | None) -> None:
    """Workers answer HTTP nowhere else: with WORKER_METRICS_PORT they serve /metrics there."""
    if port is None:
        return

    @signals.worker_ready.connect(weak=False)
    def _start(**_: Any) -> None:
        start_metrics_server(port)
