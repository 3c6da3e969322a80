"""Each process keeps copies of the answers it served, keyed by the data version: a copy costs no
cache round trip, and a run completed in any process shows within the version's bound."""

from __future__ import annotations

import time

import pytest

from src.adapters.web.response_cache import VERSION_SECONDS
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app

PATH = "/metrics/?metric_name=TTFT"


@pytest.fixture
def simulated(clean_app):
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=100)


def test_a_copy_the_process_holds_costs_no_redis_command(environ, simulated, api_headers, sent):
    client = create_app(environ).test_client()
    assert client.get(PATH, headers=api_headers).headers["X-Cache"] == "miss"
    assert (b"GET" in sent and b"SETEX" in sent) or b"SET" in sent  # the answer went to Redis for others
    sent.clear()
    hits = [client.get(PATH, headers=api_headers).headers["X-Cache"] for _ in range(20)]
    assert hits == ["hit"] * 20
    assert sent == []  # nor any other: cached answers are not counted against the rate limit


def test_a_run_completed_in_another_process_shows_within_the_versions_bound(environ, simulated, api_headers):
    web = create_app(environ).test_client()
    first = web.get(PATH, headers=api_headers).json["run"]["id"]
    worker = create_app(environ)  # another process's app, as the Celery worker's
    second = worker.extensions["injector"].get(SimulationUseCases).run_now(seed=2, samples_per_pair=100)
    assert worker.test_client().get(PATH, headers=api_headers).json["run"]["id"] == second.id  # its own: at once
    time.sleep(VERSION_SECONDS)
    assert web.get(PATH, headers=api_headers).json["run"]["id"] == second.id != first
