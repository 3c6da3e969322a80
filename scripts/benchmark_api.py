"""Rankings API and pages benchmark: latency at 1, 100 and 1,000 runs of history, uncached and
cached, and requests/s under gunicorn with 16 concurrent clients beside the same server's /health/
rate.

    make benchmark-api          # or: .venv/bin/python -m scripts.benchmark_api
    BENCH_DATABASE_URL (admin URL, a scratch database is made and dropped), BENCH_REDIS_URL

History is made by copying one real run's summaries into N completed runs (rankings read
summaries, never raw samples, so this is what their cost depends on). "Uncached" requests each
follow a data-version bump, so every one misses the cache and computes the ranking.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from src.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "bench-key"
HISTORY_SIZES = (1, 100, 1000)
ENDPOINTS = ("/metrics/?metric_name=TTFT", "/metrics/all", "/visualize", "/visualize/all")
LATENCY_REQUESTS = 300
LOAD_SECONDS = 5.0
CLIENTS = 16


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fill_history(environ: dict[str, str], runs: int) -> None:
    """Grow history to `runs` completed runs, copies of run 1 spaced five minutes apart."""
    app = create_app(environ)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        have = connection.execute(text("SELECT count(*) FROM simulation_runs")).scalar()
        for _ in range(runs - have):
            new_id = connection.execute(
                text(
                    "INSERT INTO simulation_runs (seed, samples_per_pair, source, status, created_at,"
                    " started_at, finished_at, sample_count)"
                    " SELECT seed, samples_per_pair, source, status, created_at - interval '5 minutes' * :n,"
                    " started_at - interval '5 minutes' * :n, finished_at - interval '5 minutes' * :n,"
                    " sample_count FROM simulation_runs WHERE id = 1 RETURNING id"
                ),
                {"n": have},
            ).scalar()
            connection.execute(
                text(
                    "INSERT INTO metric_summaries SELECT :id, llm_id, metric_id, n, mean, std, minimum, maximum,"
                    " p50, p90, p95, p99, sketch FROM metric_summaries WHERE run_id = 1"
                ),
                {"id": new_id},
            )
            have += 1
    engine.dispose()


def get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path, headers={"api-key": API_KEY})
    response = connection.getresponse()
    response.read()
    return response.status


def latencies(port: int, path: str, bust_cache: redis.Redis | None, version_key: str) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    get(connection, path)  # warm the connection and the cache
    for _ in range(LATENCY_REQUESTS):
        if bust_cache is not None:
            bust_cache.incr(version_key)
        started = time.perf_counter()
        assert get(connection, path) == 200
        samples.append((time.perf_counter() - started) * 1000)
    connection.close()
    return samples


def throughput(port: int, path: str) -> tuple[float, int]:
    """Requests/s of CLIENTS keep-alive clients for LOAD_SECONDS, and how many failed."""
    done, errors = [0] * CLIENTS, [0] * CLIENTS
    deadline = time.perf_counter() + LOAD_SECONDS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < deadline:
            try:
                ok = get(connection, path) == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            done[index] += ok
            errors[index] += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started), sum(errors)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    admin = create_engine(Settings.from_env({"DATABASE_URL": ADMIN_URL}).database_url, isolation_level="AUTOCOMMIT")
    name = f"jounce_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"jounce-bench-{uuid.uuid4().hex[:6]}:"
    environ = {
        "DATABASE_URL": str(admin.url.set(database=name).render_as_string(hide_password=False)),
        "CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix, "API_KEY": API_KEY, "LOG_LEVEL": "warning",
        "RATE_LIMIT": "1000000/minute",  # measure the service, not its limiter's refusals
    }  # fmt: skip
    cache = redis.Redis.from_url(REDIS_URL)
    port = free_port()
    server = None
    try:
        app = create_app(environ)
        runner = app.test_cli_runner()
        for command in (["db", "upgrade"], ["seed"]):
            assert runner.invoke(args=command).exit_code == 0
        app.extensions["injector"].get(SimulationUseCases).run_now(seed=1)
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--worker-class", "gthread",
             "--threads", "8", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
            cwd=ROOT, env={**os.environ, **environ},
        )  # fmt: skip
        wait_until_up(port)
        print(f"gunicorn: 2 workers x 8 threads on 127.0.0.1:{port}; {LATENCY_REQUESTS} requests per latency row\n")
        print(f"{'runs':>6}  {'endpoint':<28}{'uncached p50':>13}{'p99 ms':>8}{'cached p50':>12}{'p99 ms':>8}")
        for runs in HISTORY_SIZES:
            fill_history(environ, runs)
            for path in ENDPOINTS:
                uncached = latencies(port, path, cache, prefix + "data-version")
                cached = latencies(port, path, None, "")
                print(
                    f"{runs:>6}  {path:<28}{percentile(uncached, 50):>13.2f}{percentile(uncached, 99):>8.2f}"
                    f"{percentile(cached, 50):>12.2f}{percentile(cached, 99):>8.2f}"
                )
        print(f"\nthroughput, {CLIENTS} concurrent keep-alive clients for {LOAD_SECONDS:.0f} s each (1000 runs):")
        health_rate, _ = throughput(port, "/health/")
        print(f"  {'/health/':<28}{health_rate:>9,.0f} requests/s")
        for path in ENDPOINTS:
            rate, errors = throughput(port, path)
            print(f"  {path:<28}{rate:>9,.0f} requests/s  {rate / health_rate:>5.0%} of /health/  errors: {errors}")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=20)
        keys = list(cache.scan_iter(match=prefix + "*"))
        if keys:
            cache.delete(*keys)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            if get(connection, "/health/") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


if __name__ == "__main__":
    main()
