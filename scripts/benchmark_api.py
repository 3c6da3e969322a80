"""Rankings API and pages benchmark: latency at 1, 100 and 1,000 runs of history, uncached and
cached, and requests/s under gunicorn with 16 concurrent clients beside the same server's /health/
rate.

    make benchmark-api          # or: .venv/bin/python -m scripts.benchmark_api
    BENCH_DATABASE_URL (admin URL, a scratch database is made and dropped), BENCH_REDIS_URL

History is made by copying one real run's summaries into N completed runs (rankings read
summaries, never raw samples, so this is what their cost depends on). "Uncached" requests each
ask for another run of the history (`run_id=<id>`, which every view reads), so every one misses
the cache and computes its answer (the data version is derived from the runs, so no request can
make it change on demand).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import create_engine, text

from scripts.harness import Client, gunicorn, issue_api_key, percentile, scratch_environment
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app

HISTORY_SIZES = (300, 1000)  # uncached requests need a run each: LATENCY_REQUESTS at least
ENDPOINTS = ("/metrics/?metric_name=TTFT", "/metrics/all", "/visualize", "/visualize/all")
LATENCY_REQUESTS = 300
CLIENTS = 16
PROCESSES = 2
ROUNDS = 7
BURST_SECONDS = 2.0


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


def latencies(port: int, api_key: str, path: str, uncached: bool = False) -> list[float]:
    """`uncached`: each request for another run (run ids 1 to LATENCY_REQUESTS), so each misses."""
    client = Client(port, api_key)
    samples = []
    client.request("GET", path)  # warm the connection and the cache
    for run_id in range(1, LATENCY_REQUESTS + 1):
        asked = f"{path}{'&' if '?' in path else '?'}run_id={run_id}" if uncached else path
        started = time.perf_counter()
        assert client.request("GET", asked) == 200
        samples.append((time.perf_counter() - started) * 1000)
    client.close()
    return samples


def throughput(port: int, api_key: str, paths: list[str]) -> dict[str, tuple[list[float], int]]:
    """Requests/s of each path in every round, and its failures: CLIENTS keep-alive clients in
    PROCESSES processes (in one, their shared GIL would cap the rate) take the paths in turn, a
    BURST_SECONDS burst each, ROUNDS times. Interleaving puts every path under the same noise."""
    bursts = [path for _ in range(ROUNDS) for path in paths]
    start = time.time() + 1.0  # every process ready before the first burst
    with ProcessPoolExecutor(max_workers=PROCESSES) as pool:
        shares = [pool.submit(_clients, port, api_key, bursts, start, CLIENTS // PROCESSES) for _ in range(PROCESSES)]
        counts = [share.result() for share in shares]
    results: dict[str, tuple[list[float], int]] = {path: ([], 0) for path in paths}
    for index, path in enumerate(bursts):
        rates, errors = results[path]
        done = sum(share[index][0] for share in counts)
        results[path] = ([*rates, done / BURST_SECONDS], errors + sum(share[index][1] for share in counts))
    return results


def _clients(port: int, api_key: str, bursts: list[str], start: float, count: int) -> list[tuple[int, int]]:
    """(answered, failed) per burst, for `count` client threads."""
    tallies = [[0, 0] for _ in bursts]
    lock = threading.Lock()

    def client() -> None:
        connection = Client(port, api_key)
        for index, path in enumerate(bursts):
            done = failed = 0
            deadline = start + (index + 1) * BURST_SECONDS
            time.sleep(max(0.0, start + index * BURST_SECONDS - time.time()))
            while time.time() < deadline:
                try:
                    ok = connection.request("GET", path) == 200
                except OSError:
                    ok = False
                done += ok
                failed += not ok
            with lock:
                tallies[index][0] += done
                tallies[index][1] += failed
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [(done, failed) for done, failed in tallies]


def main() -> None:
    with scratch_environment() as environ:
        app = create_app(environ)
        app.extensions["injector"].get(SimulationUseCases).run_now(seed=1)
        api_key = issue_api_key(environ)
        with gunicorn(environ) as port:
            print(f"gunicorn: 2 workers x 4 threads on 127.0.0.1:{port}; {LATENCY_REQUESTS} requests a row\n")
            print(f"{'runs':>6}  {'endpoint':<28}{'uncached p50':>13}{'p99 ms':>8}{'cached p50':>12}{'p99 ms':>8}")
            for runs in HISTORY_SIZES:
                fill_history(environ, runs)
                floor = latencies(port, api_key, "/health/")  # the host's noise, measured alongside
                print(f"{runs:>6}  {'/health/ (for reference)':<28}{'':>21}{percentile(floor, 50):>12.2f}"
                      f"{percentile(floor, 99):>8.2f}")  # fmt: skip
                for path in ENDPOINTS:
                    uncached = latencies(port, api_key, path, uncached=True)
                    cached = latencies(port, api_key, path)
                    print(
                        f"{runs:>6}  {path:<28}{percentile(uncached, 50):>13.2f}{percentile(uncached, 99):>8.2f}"
                        f"{percentile(cached, 50):>12.2f}{percentile(cached, 99):>8.2f}"
                    )
            print(
                f"\nthroughput (1000 runs), {CLIENTS} keep-alive clients in {PROCESSES} processes; the paths take"
                f" turns, {BURST_SECONDS:.0f} s each, {ROUNDS} rounds; medians over the rounds:"
            )
            results = throughput(port, api_key, ["/health/", *ENDPOINTS])
            health_rates, _ = results.pop("/health/")
            print(f"  {'/health/':<28}{statistics.median(health_rates):>9,.0f} requests/s")
            for path, (rates, errors) in results.items():
                ratio = statistics.median(rate / health for rate, health in zip(rates, health_rates, strict=True))
                print(
                    f"  {path:<28}{statistics.median(rates):>9,.0f} requests/s  {ratio:>5.0%} of /health/"
                    f"  errors: {errors}"
                )


if __name__ == "__main__":
    main()
