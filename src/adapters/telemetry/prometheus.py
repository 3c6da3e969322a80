"""Prometheus metrics: HTTP requests, cache lookups, simulation runs and Celery task outcomes.

Under gunicorn (several processes) set PROMETHEUS_MULTIPROC_DIR to an empty folder: every process
writes its samples there and any of them can answer a scrape with the sum.
"""

from __future__ import annotations

import os
from typing import Any

from celery import signals
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from src.application.domain.model import RunStatus
from src.application.ports.telemetry import AbstractTelemetry

HTTP_REQUESTS = Counter("jounce_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram(
    "jounce_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_LOOKUPS = Counter("jounce_cache_lookups_total", "Response cache lookups", ["result"])
SIMULATION_RUNS = Counter("jounce_simulation_runs_total", "Simulation runs that ended", ["status"])
SIMULATION_SAMPLES = Counter("jounce_simulation_samples_total", "Samples stored by completed runs")
SIMULATION_DURATION = Histogram(
    "jounce_simulation_duration_seconds",
    "Execution time of simulation runs",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
CELERY_TASKS = Counter("jounce_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])


class PrometheusTelemetry(AbstractTelemetry):
    def run_finished(self, status: RunStatus, sample_count: int, seconds: float) -> None:
        SIMULATION_RUNS.labels(status=str(status)).inc()
        SIMULATION_DURATION.observe(seconds)
        if status is RunStatus.COMPLETED:
            SIMULATION_SAMPLES.inc(sample_count)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, summed over processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def start_metrics_server(port: int) -> None:
    registry = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry or REGISTRY)


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", sender))


@signals.task_success.connect
def _on_success(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(task=_task_name(sender), outcome="success").inc()


@signals.task_failure.connect
def _on_failure(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(task=_task_name(sender), outcome="failure").inc()


@signals.task_retry.connect
def _on_retry(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(task=_task_name(sender), outcome="retry").inc()
