"""Redis and PostgreSQL going away and coming back, through a TCP proxy: the service degrades,
answers clearly, and recovers by itself."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from src.adapters.web.auth import REMEMBER_SECONDS
from src.adapters.web.response_cache import VERSION_SECONDS
from src.application.use_cases.accounts import AccountUseCases
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from tests.support.polling import eventually
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def simulated(clean_app):
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=100)


def test_with_redis_down_everything_answers_from_process_copies_or_computed_and_redis_resumes(
    environ, simulated, api_headers, redis_client
):
    proxy = TcpProxy(environ["CACHE_REDIS_URL"])
    client = create_app({**environ, "CACHE_REDIS_URL": proxy.url}).test_client()
    client.get("/metrics/?metric_name=TTFT", headers=api_headers)

    proxy.cut()
    for path in ("/metrics/?metric_name=TTFT", "/metrics/all", "/visualize", "/visualize/all", "/llms"):
        response = client.get(path, headers=api_headers)
        assert response.status_code == 200, path  # the rate limiter fell back to memory too
        assert response.headers["X-Cache"] == ("hit" if "TTFT" in path else "miss"), path  # the copy it held
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json["failing"] == ["cache"]

    proxy.restore()
    assert eventually(lambda: client.get("/ready").status_code == 200)

    answers = iter(range(1, 100))  # a new answer each time: the ones held as copies stay copies

    def kept_in_redis() -> bool:
        limit = next(answers)
        client.get(f"/metrics/history?metric_name=TPS&limit={limit}", headers=api_headers)
        return any(redis_client.scan_iter(match=f"{environ['CACHE_KEY_PREFIX']}response:*limit={limit}&*"))

    assert eventually(kept_in_redis)  # once the adapter tries Redis again (5 s after the failure)


def test_a_run_completed_while_redis_is_down_shows_at_once(environ, simulated, api_headers):
    """The data version comes from the database, so Redis has nothing to catch up on."""
    proxy = TcpProxy(environ["CACHE_REDIS_URL"])
    through_proxy = {**environ, "CACHE_REDIS_URL": proxy.url}
    web, worker = create_app(through_proxy).test_client(), create_app(through_proxy)
    first = web.get("/metrics/?metric_name=TTFT", headers=api_headers).json["run"]["id"]
    assert web.get("/metrics/?metric_name=TTFT", headers=api_headers).headers["X-Cache"] == "hit"

    proxy.cut()
    second = worker.extensions["injector"].get(SimulationUseCases).run_now(seed=2, samples_per_pair=100)
    time.sleep(VERSION_SECONDS)
    assert web.get("/metrics/?metric_name=TTFT", headers=api_headers).json["run"]["id"] == second.id != first
    proxy.restore()


def test_with_redis_down_rate_limits_still_hold_counted_in_each_process(clean_app, environ, api_headers):
    proxy = TcpProxy(environ["CACHE_REDIS_URL"])
    url = proxy.url
    client = create_app({**environ, "CACHE_REDIS_URL": url, "RATE_LIMIT": "3/minute"}).test_client()
    proxy.cut()
    statuses = [client.get("/runs", headers=api_headers).status_code for _ in range(4)]  # not cached
    proxy.restore()
    assert statuses == [200, 200, 200, 429]


def test_with_postgresql_down_the_api_answers_503_json_and_recovers_on_the_first_request_back(
    environ, simulated, api_headers
):
    proxy = TcpProxy(environ["DATABASE_URL"])
    client = create_app({**environ, "DATABASE_URL": proxy.url}).test_client()
    assert client.get("/metrics/?metric_name=TTFT&statistic=p90", headers=api_headers).status_code == 200

    proxy.cut()
    for path in ("/metrics/?metric_name=RPS", "/runs", "/metrics/all?weights=RPS:1"):
        response = client.get(path, headers=api_headers)
        assert response.status_code == 503, path
        assert response.json["error"]["message"] == "the database is unavailable; try again shortly"
        assert "Traceback" not in response.data.decode() and response.headers["Retry-After"]
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json["failing"] == ["database"]

    proxy.restore()
    first = client.get("/metrics/?metric_name=e2e_latency", headers=api_headers)
    assert first.status_code == 200 and len(first.json["results"]) == 12
    assert client.get("/ready").status_code == 200


def test_with_postgresql_hanging_health_answers_at_once_and_the_api_503s_within_seconds_then_recovers(
    environ, simulated, api_headers
):
    proxy = TcpProxy(environ["DATABASE_URL"])
    app = create_app({**environ, "DATABASE_URL": proxy.url, "DATABASE_REQUEST_TIMEOUT_SECONDS": "2"})
    client = app.test_client()
    assert client.get("/runs", headers=api_headers).status_code == 200  # a pooled connection, verified key

    proxy.freeze()
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:  # as many requests at once as the pool has connections in use
        hung = list(pool.map(lambda _: client.get("/runs", headers={"api-key": "another"}), range(4)))
    assert [r.status_code for r in hung] == [503] * 4 and time.monotonic() - started < 10
    health = time.monotonic()
    assert client.get("/health/").status_code == 200 and time.monotonic() - health < 0.5

    proxy.restore()
    assert eventually(lambda: client.get("/runs", headers=api_headers).status_code == 200)


def test_while_the_database_is_down_recently_verified_keys_still_get_cached_answers(environ, simulated, clean_app):
    issued = clean_app.extensions["injector"].get(AccountUseCases).issue_api_key("reader").secret
    api_headers = {"api-key": issued}  # checked against the database (the bootstrap key is not)
    proxy = TcpProxy(environ["DATABASE_URL"])
    client = create_app({**environ, "DATABASE_URL": proxy.url}).test_client()
    assert client.get("/metrics/?metric_name=TTFT", headers=api_headers).status_code == 200  # cached, key verified
    time.sleep(REMEMBER_SECONDS)  # past the key's memory: it must be checked again
    proxy.cut()
    cached = client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    assert cached.status_code == 200 and cached.headers["X-Cache"] == "hit"
    assert client.get("/metrics/?metric_name=TTFT", headers={"api-key": "never-seen"}).status_code == 503
    proxy.restore()
