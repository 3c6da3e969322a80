"""Rankings API and pages benchmark: latency at 1, 100 and 1,000 runs of history, uncached and
cached, and requests/s under gunicorn with 16 concurrent clients beside the same server's /health/
rate.

    make benchmark-api          # or: .venv/bin/python -m scripts.benchmark_api
    BENCH_DATABASE_URL (admin URL, a scratch database is made and dropped), BENCH_REDIS_URL

History is made by copying one real run's summaries into N completed runs (rankings read
summaries, never raw samples, so this is what their cost depends on). "Uncached" requests each
follow a data-version bump, so every one misses the cache and computes the answer.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import redis
from sqlalchemy import create_engine, text

from scripts.harness import REDIS_URL, gunicorn, percentile, request, scratch_environment
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app

HISTORY_SIZES = (1, 100, 1000)
ENDPOINTS = ("/metrics/?metric_name=TTFT", "/metrics/all", "/visualize", "/visualize/all")
LATENCY_REQUESTS = 300
LOAD_SECONDS = 5.0
CLIENTS = 16
PROCESSES = 4


def fill_history(environ: dict[str, str], runs: int) -> None:
    """Grow history to `runs` completed runs, copies of run 1 spaced five minutes apart."""
    engine = create_engine(create_app(environ).config["SQLALCHEMY_DATABASE_URI"])
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


def latencies(port: int, path: str, bust_cache: redis.Redis | None, version_key: str) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    request(connection, "GET", path)  # warm the connection and the cache
    for _ in range(LATENCY_REQUESTS):
        if bust_cache is not None:
            bust_cache.incr(version_key)
        started = time.perf_counter()
        assert request(connection, "GET", path) == 200
        samples.append((time.perf_counter() - started) * 1000)
    connection.close()
    return samples


def throughput(port: int, path: str) -> tuple[float, int]:
    """Requests/s of CLIENTS keep-alive clients for LOAD_SECONDS, and how many failed. The clients
    are spread over PROCESSES processes: in one, their shared GIL would cap the rate measured."""
    deadline = time.time() + LOAD_SECONDS
    shares = [CLIENTS // PROCESSES] * PROCESSES
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=PROCESSES) as pool:
        results = list(pool.map(_clients, [port] * PROCESSES, [path] * PROCESSES, shares, [deadline] * PROCESSES))
    elapsed = time.perf_counter() - started
    return sum(done for done, _ in results) / elapsed, sum(errors for _, errors in results)


def _clients(port: int, path: str, count: int, deadline: float) -> tuple[int, int]:
    done, errors = [0] * count, [0] * count

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.time() < deadline:
            try:
                ok = request(connection, "GET", path) == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            done[index] += ok
            errors[index] += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), sum(errors)


def main() -> None:
    cache = redis.Redis.from_url(REDIS_URL)
    with scratch_environment() as environ:
        create_app(environ).extensions["injector"].get(SimulationUseCases).run_now(seed=1)
        with gunicorn(environ) as port:
            print(f"gunicorn: 2 workers x 8 threads on 127.0.0.1:{port}; {LATENCY_REQUESTS} requests a row\n")
            print(f"{'runs':>6}  {'endpoint':<28}{'uncached p50':>13}{'p99 ms':>8}{'cached p50':>12}{'p99 ms':>8}")
            for runs in HISTORY_SIZES:
                fill_history(environ, runs)
                for path in ENDPOINTS:
                    uncached = latencies(port, path, cache, environ["CACHE_KEY_PREFIX"] + "data-version")
                    cached = latencies(port, path, None, "")
                    print(
                        f"{runs:>6}  {path:<28}{percentile(uncached, 50):>13.2f}{percentile(uncached, 99):>8.2f}"
                        f"{percentile(cached, 50):>12.2f}{percentile(cached, 99):>8.2f}"
                    )
            print(
                f"\nthroughput, {CLIENTS} keep-alive clients in {PROCESSES} processes,"
                f" {LOAD_SECONDS:.0f} s each (1000 runs):"
            )
            health_rate, _ = throughput(port, "/health/")
            print(f"  {'/health/':<28}{health_rate:>9,.0f} requests/s")
            for path in ENDPOINTS:
                rate, errors = throughput(port, path)
                print(f"  {path:<28}{rate:>9,.0f} requests/s  {rate / health_rate:>5.0%} of /health/  errors: {errors}")


if __name__ == "__main__":
    main()
