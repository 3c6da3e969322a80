"""Simulations through a real Celery worker on the Redis broker and real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from src.infrastructure.app import create_app
from tests.support.network import free_port
from tests.support.polling import eventually, wait_for_status, wait_until_finished

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broker_environ(environ, redis_client):
    queues = {"CELERY_QUEUE": f"jounce-test-{uuid.uuid4().hex[:8]}",
              "CELERY_BENCHMARK_QUEUE": f"jounce-test-benchmarks-{uuid.uuid4().hex[:8]}"}  # fmt: skip
    yield {
        **environ,
        **queues,
        "CELERY_BROKER_URL": environ["CACHE_REDIS_URL"],
        # Short, so a message whose worker was killed comes back within the test.
        "CELERY_VISIBILITY_TIMEOUT": "3",
    }
    for queue in queues.values():  # the broker's keys of these queues: bindings, messages (names are unique)
        keys = list(redis_client.scan_iter(match=f"*{queue}*"))
        if keys:
            redis_client.delete(*keys)


@pytest.fixture
def start_worker(broker_environ, tmp_path):
    workers: list[subprocess.Popen] = []

    def start(queue: str = "CELERY_QUEUE", **extra_environ: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(workers)}.log", "w")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            [CELERY, "-A", "src.celery", "worker", "--pool=solo", "--loglevel=INFO", "-Q", broker_environ[queue],
             "--without-gossip", "--without-mingle", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env={**os.environ, **broker_environ, **extra_environ}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=20)


@pytest.fixture
def web(clean_app, broker_environ):
    return create_app(broker_environ).test_client()


def test_a_run_posted_to_the_api_is_completed_by_a_worker(web, start_worker, api_headers, broker_environ):
    metrics_port = free_port()
    start_worker(WORKER_METRICS_PORT=str(metrics_port))
    response = web.post("/runs", json={"samples_per_pair": 1000, "seed": 3}, headers=api_headers)
    assert response.status_code == 202
    run = wait_until_finished(web, api_headers, f"/runs/{response.json['run']['id']}", timeout=60)
    assert run["status"] == "completed"
    assert run["sample_count"] == 12 * (3 * 1000 + 1)  # RPS: one value a run

    def scraped() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    # A task's outcome is counted once it returns, a moment after the run it completed was stored.
    assert eventually(lambda: 'jounce_celery_tasks_total{outcome="success",task="jounce.simulate"} 1.0' in scraped())
    assert 'jounce_simulation_runs_total{status="completed"} 1.0' in scraped()


def test_a_worker_killed_mid_run_leaves_no_partial_run_and_the_run_is_redelivered(
    web, start_worker, api_headers, clean_app
):
    from tests.integration.test_simulation_postgres import scalar

    victim = start_worker()
    response = web.post("/runs", json={"samples_per_pair": 1_000_000, "seed": 4}, headers=api_headers)
    run_id = response.json["run"]["id"]
    wait_for_status(web, api_headers, f"/runs/{run_id}", {"running"}, timeout=60)
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    time.sleep(0.5)  # PostgreSQL notices the dead connection and aborts its transaction
    assert scalar(clean_app, f"SELECT count(*) FROM samples WHERE run_id = {run_id}") == 0
    assert scalar(clean_app, f"SELECT count(*) FROM metric_summaries WHERE run_id = {run_id}") == 0

    start_worker()
    run = wait_until_finished(web, api_headers, f"/runs/{run_id}", timeout=120)
    assert run["status"] == "completed"
    assert scalar(clean_app, f"SELECT sum(n) FROM samples WHERE run_id = {run_id}") == 12 * (3 * 1_000_000 + 1)
    assert scalar(clean_app, f"SELECT count(*) FROM metric_summaries WHERE run_id = {run_id}") == 48


def test_with_the_broker_down_posting_a_run_is_a_503_and_leaves_no_queued_run(clean_app, broker_environ, api_headers):
    client = create_app({**broker_environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}).test_client()
    started = time.monotonic()
    response = client.post("/runs", json={"samples_per_pair": 10}, headers=api_headers)
    assert response.status_code == 503 and time.monotonic() - started < 3  # no retrying (it took 6 s)
    assert "broker" in response.json["error"]["message"]
    runs = client.get("/runs", headers=api_headers).json["runs"]
    assert [run["status"] for run in runs] == ["failed"]


def test_a_long_measured_run_never_holds_up_simulations(web, start_worker, api_headers, clean_app):
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from tests.support.fake_openai import Behaviour, FakeOpenAI

    start_worker()  # simulations
    with FakeOpenAI(Behaviour(first_token_delay=4.0, token_delay=0.001, tokens=5)) as server:
        clean_app.extensions["injector"].get(BenchmarkUseCases).add_endpoint(
            "slow", "GPT-4o", server.base_url, "gpt-4o", None
        )
        body = {"endpoint": "slow", "requests": 2, "warmup": 0}
        measured = web.post("/benchmarks", json=body, headers=api_headers).json["run"]["id"]
        time.sleep(1)
        assert web.get(f"/runs/{measured}", headers=api_headers).json["run"]["status"] == "queued"  # not theirs
        start_worker("CELERY_BENCHMARK_QUEUE")  # measured runs have workers of their own
        wait_for_status(web, api_headers, f"/runs/{measured}", {"running"}, timeout=60)
        simulated = web.post("/runs", json={"samples_per_pair": 100}, headers=api_headers).json["run"]["id"]
        wait_for_status(web, api_headers, f"/runs/{simulated}", {"completed"}, timeout=6)  # else it raises
        assert web.get(f"/runs/{measured}", headers=api_headers).json["run"]["status"] == "running"
        assert wait_until_finished(web, api_headers, f"/runs/{measured}", timeout=60)["status"] == "completed"


def test_a_run_past_one_workers_streams_is_split_across_two_workers_and_merged_into_one(
    start_worker, api_headers, clean_app, broker_environ
):
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from tests.support.fake_openai import Behaviour, FakeOpenAI

    first_token, gap = 200.0, 10.0  # ms
    with FakeOpenAI(Behaviour(first_token_delay=first_token / 1000, token_delay=gap / 1000, tokens=40)) as server:
        clean_app.extensions["injector"].get(BenchmarkUseCases).add_endpoint(
            "split", "GPT-4o", server.base_url, "gpt-4o", None
        )
        for _ in range(2):  # each holds 4 streams: a run of 8 needs both
            start_worker("CELERY_BENCHMARK_QUEUE", BENCHMARK_STREAMS_PER_WORKER="4")
        sharding = create_app({**broker_environ, "BENCHMARK_STREAMS_PER_WORKER": "4"}).test_client()
        body = {"endpoint": "split", "requests": 32, "concurrency": 8, "warmup": 2}
        split = sharding.post("/benchmarks", json=body, headers=api_headers).json["run"]["id"]
        run = wait_until_finished(sharding, api_headers, f"/runs/{split}", timeout=90)
        # The same load on one worker (400 streams a worker, the default), for comparison.
        whole = create_app(broker_environ).test_client()
        one_id = whole.post("/benchmarks", json=body, headers=api_headers).json["run"]["id"]
        one = wait_until_finished(whole, api_headers, f"/runs/{one_id}", timeout=90)

    assert run["status"] == "completed" and run["invalid"] is None, run
    details = run["details"]
    shards = details["shards"]
    assert len(shards) == 2 and len({shard["worker"] for shard in shards}) == 2  # a worker each
    assert [shard["requests_sent"] for shard in shards] == [16, 16]
    assert details["requests_sent"] == details["completed"] == 32  # the sum of the shards'
    assert abs(shards[0]["started_s"] - shards[1]["started_s"]) < 1.0  # together
    lines = sharding.get(f"/runs/{split}/requests", headers=api_headers).data.decode().splitlines()
    assert len(lines) == 32
    # As accurate as one worker: TTFT and ITL within 5% of the server's, as the single-worker tests ask.
    for measured in (details, one["details"]):
        assert measured["ttft_ms"]["p50"] == pytest.approx(first_token, rel=0.05)
        assert measured["inter_token_latency_ms"]["p50"] == pytest.approx(gap, rel=0.05)
    assert "shards" not in one["details"]
    ratio = details["output_tokens_per_second"] / one["details"]["output_tokens_per_second"]
    assert ratio == pytest.approx(1.0, rel=0.15)  # the same load, whoever sends it
