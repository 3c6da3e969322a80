"""Metrics for Prometheus, request ids, and JSON logs that carry them."""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import replace
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from src.application.use_cases.benchmarks import BenchmarkSettings, BenchmarkUseCases
from src.application.use_cases.monitoring import MonitorSettings
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from src.infrastructure.logging import JsonFormatter, RequestIdFilter
from tests.support.fake_openai import Behaviour, FakeOpenAI


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/-/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.data.decode())
        for sample in family.samples
    }


def test_requests_cache_lookups_and_runs_are_counted(client, clean_app, api_headers):
    before = scrape(client)
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=50)
    for _ in range(3):
        client.get("/metrics/?metric_name=TTFT", headers=api_headers)
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("jounce_http_requests_total", method="GET", endpoint="/metrics/", status="200") == 3
    assert grew("jounce_http_request_duration_seconds_count", method="GET", endpoint="/metrics/") == 3
    assert (
        grew("jounce_cache_lookups_total", result="miss") >= 1 and grew("jounce_cache_lookups_total", result="hit") == 2
    )
    assert grew("jounce_simulation_runs_total", status="completed") == 1
    assert grew("jounce_simulation_samples_total") == 12 * (3 * 50 + 1)  # RPS: one value a run
    assert grew("jounce_simulation_duration_seconds_count") == 1


def test_the_metrics_path_leaves_the_rankings_api_alone(client, api_headers):
    assert client.get("/metrics/?metric_name=TTFT").status_code == 401  # still the API, still keyed
    assert client.get("/-/metrics").status_code == 200


def test_the_metrics_are_not_public_a_token_opens_them_and_without_one_only_this_host(clean_app, environ):
    remote = {"REMOTE_ADDR": "203.0.113.5"}
    assert clean_app.test_client().get("/-/metrics", environ_base=remote).status_code == 403
    guarded = create_app({**environ, "METRICS_TOKEN": "scrape-secret"}).test_client()
    assert guarded.get("/-/metrics").status_code == 401  # this host too needs it once it is set
    assert guarded.get("/-/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = guarded.get("/-/metrics", headers={"Authorization": "Bearer scrape-secret"}, environ_base=remote)
    assert scraped.status_code == 200 and b"jounce_http_requests_total" in scraped.data


def test_every_response_carries_a_request_id_and_a_valid_incoming_one_is_kept(client):
    generated = client.get("/health/").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/health/", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"
    assert client.get("/health/", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"] != "bad id!"


def test_logs_are_json_lines_with_the_request_id_and_no_query_string(client, api_headers):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("jounce.requests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = client.get(
            "/metrics/?metric_name=TTFT&secret=s3cr3t", headers={**api_headers, "X-Request-ID": "abc-123"}
        )
    finally:
        logger.removeHandler(handler)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "abc-123" == response.headers["X-Request-ID"]
    assert line["status"] == 200 and line["duration_ms"] > 0 and line["level"] == "INFO"
    assert "s3cr3t" not in stream.getvalue() and api_headers["api-key"] not in stream.getvalue()


def test_every_measured_endpoint_says_whether_its_newest_run_failed_and_when_it_last_succeeded(client, clean_app):
    """Beyond the window too: an endpoint whose runs all fail has no window, and its alert must not
    go quiet once its last valid run leaves it. A run left out because Jounce's own client could not
    keep up is told apart: the endpoint did not fail, and its team must not be paged for it."""
    injector = clean_app.extensions["injector"]
    benchmarks = injector.get(BenchmarkUseCases)
    settings = clean_app.extensions["settings"]
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=5)) as server:
        benchmarks.add_endpoint("up", "GPT-4o", server.base_url, "m", None)
        succeeded = benchmarks.run_now("up", benchmarks.plan(2, warmup=0))
        benchmarks.add_endpoint("busy", "GPT-4o", server.base_url, "m", None)
        trusted = benchmarks.run_now("busy", benchmarks.plan(2, warmup=0))
        any_cpu_too_much = replace(settings.benchmark.client_limits, cpu_share=0.0)
        overloaded = replace(settings.benchmark, client_limits=any_cpu_too_much)
        injector.binder.bind(BenchmarkSettings, to=overloaded)
        try:
            busy = injector.get(BenchmarkUseCases)
            left_out = busy.run_now("busy", busy.plan(2, warmup=0))
        finally:
            injector.binder.bind(BenchmarkSettings, to=settings.benchmark)
    assert left_out.invalid.startswith("client-bound: ") and "the client's event loop used" in left_out.invalid
    benchmarks.add_endpoint("down", "GPT-4o", "http://127.0.0.1:9/v1", "m", None)
    assert benchmarks.run_now("down", benchmarks.plan(2, warmup=0)).error  # nothing listens there
    injector.binder.bind(MonitorSettings, to=MonitorSettings(window=timedelta(seconds=1)))
    try:
        time.sleep(1.1)  # every run is out of the window now
        series = scrape(client)
    finally:
        injector.binder.bind(MonitorSettings, to=clean_app.extensions["settings"].monitoring)

    def labelled(name: str) -> tuple:
        return (("endpoint", name), ("llm", "GPT-4o"))

    def newest_run(name: str) -> tuple[float, float]:
        """(failed, client-bound)"""
        return tuple(
            series[(f"jounce_endpoint_newest_run_{what}", labelled(name))] for what in ("failed", "client_bound")
        )

    assert {name: newest_run(name) for name in ("up", "busy", "down")} == {"up": (0, 0), "busy": (0, 1), "down": (1, 0)}
    last_valid = series[("jounce_endpoint_last_run_timestamp_seconds", labelled("busy"))]
    assert last_valid == trusted.finished_at.timestamp()  # the run left out is not its newest valid one
    assert ("jounce_endpoint_last_run_timestamp_seconds", labelled("down")) not in series  # never a valid run
    last = series[("jounce_endpoint_last_run_timestamp_seconds", labelled("up"))]
    assert last == succeeded.finished_at.timestamp()
    assert ("jounce_endpoint_window_runs", labelled("up")) not in series  # no window: the timestamp stays
