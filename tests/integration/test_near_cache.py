"""Near copies: a process serves the cached answers it holds without asking Redis, and never one
that a completed run (in any process) or a lost connection to Redis made doubtful."""

from __future__ import annotations

import time

import pytest
import redis

from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from tests.integration.test_faults import eventually
from tests.support.tcp_proxy import TcpProxy

PATH = "/metrics/?metric_name=TTFT"


@pytest.fixture
def simulated(clean_app):
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=100)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Counts the Redis commands this process sends (the server's own count would include every
    other client of a shared server)."""
    sent = [0]
    for method in ("send_command", "send_packed_command"):
        original = getattr(redis.connection.AbstractConnection, method)

        def counted(self, *args, _original=original, **kwargs):
            sent[0] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, method, counted)
    return sent


def hits_without_redis(client, api_headers, sent, requests: int = 20) -> bool:
    before = sent[0]
    hits = [client.get(PATH, headers=api_headers).headers["X-Cache"] for _ in range(requests)]
    return hits == ["hit"] * requests and sent[0] == before


def test_a_cached_answer_held_by_the_process_takes_no_redis_command(environ, simulated, api_headers, sent):
    client = create_app({**environ, "RATE_LIMIT": "100000/minute"}).test_client()  # leases of 100
    before = sent[0]
    assert client.get(PATH, headers=api_headers).status_code == 200
    assert sent[0] > before  # the first answer did go to Redis: the count sees this process's commands
    assert eventually(lambda: hits_without_redis(client, api_headers, sent), timeout=5)


def test_a_run_completed_in_another_process_shows_at_once(environ, simulated, api_headers, sent):
    """Two web processes hold copies: one asks at once (the bump still on its way, or just in),
    one a little later (the bump read by then)."""
    at_once, later = (create_app({**environ, "RATE_LIMIT": "100000/minute"}).test_client() for _ in range(2))
    first = at_once.get(PATH, headers=api_headers).json["run"]["id"]
    for client in (at_once, later):
        assert eventually(lambda client=client: hits_without_redis(client, api_headers, sent), timeout=5)

    worker = create_app(environ)  # another process's app, as the Celery worker's
    second = worker.extensions["injector"].get(SimulationUseCases).run_now(seed=2, samples_per_pair=100)
    fresh = [at_once.get(PATH, headers=api_headers)]
    time.sleep(0.2)
    fresh.append(later.get(PATH, headers=api_headers))
    assert [response.json["run"]["id"] for response in fresh] == [second.id] * 2 and second.id != first


def test_with_redis_cut_no_copy_is_served_and_copies_return_with_it(environ, simulated, api_headers, sent):
    proxy = TcpProxy(environ["CACHE_REDIS_URL"])
    url = proxy.url
    client = create_app({**environ, "CACHE_REDIS_URL": url, "RATE_LIMIT": "100000/minute"}).test_client()
    client.get(PATH, headers=api_headers)
    assert eventually(lambda: hits_without_redis(client, api_headers, sent), timeout=5)

    proxy.cut()
    response = client.get(PATH, headers=api_headers)
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"

    proxy.restore()
    assert eventually(lambda: client.get(PATH, headers=api_headers).headers.get("X-Cache") == "hit")
